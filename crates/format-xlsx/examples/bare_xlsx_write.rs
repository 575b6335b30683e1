//! Benchmark baseline: a bare rust_xlsxwriter constant-memory write of the rows of a dataport
//! customers CSV export, with the same cell types dataport writes (codes and phones as text,
//! amounts as numbers with two decimals, dates as date cells) and a bold header.
//!
//! ```sh
//! cargo run --release -p dataport-format-xlsx --example bare_xlsx_write -- customers.csv out.xlsx
//! ```
//!
//! Loading the CSV is not timed; the printed time covers building and saving the workbook.

use std::time::Instant;

use dataport_format_csv::CsvPlugin;
use dataport_plugin_sdk::{Options, Plugin, read_all};
use rust_xlsxwriter::{ExcelDateTime, Format, Workbook};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let (input, output) = match (args.next(), args.next()) {
        (Some(i), Some(o)) => (i, o),
        _ => return Err("usage: bare_xlsx_write INPUT.csv OUTPUT.xlsx".into()),
    };
    let file = std::fs::File::open(&input)?;
    let mut reader = CsvPlugin.open_reader("csv", &Options::new(), Box::new(file))?;
    let (header, batch) = read_all(&mut *reader, 10_000)?;
    let rows: Vec<Vec<String>> = batch
        .rows
        .into_iter()
        .map(|r| {
            r.cells
                .into_iter()
                .map(|c| c.as_text().map(str::to_owned).unwrap_or_default())
                .collect()
        })
        .collect();

    let started = Instant::now();
    let mut workbook = Workbook::new();
    let bold = Format::new().set_bold();
    let text = Format::new().set_num_format("@");
    let money = Format::new().set_num_format("0.00");
    let date = Format::new().set_num_format("yyyy-mm-dd");
    let sheet = workbook.add_worksheet_with_constant_memory()?;
    for (c, name) in header.iter().enumerate() {
        sheet.write_string_with_format(0, c as u16, name, &bold)?;
    }
    sheet.set_freeze_panes(1, 0)?;
    for (r, row) in rows.iter().enumerate() {
        let r = r as u32 + 1;
        for (c, value) in row.iter().enumerate() {
            let c = c as u16;
            if value.is_empty() {
                continue;
            }
            match c {
                0 | 3 => {
                    sheet.write_string_with_format(r, c, value, &text)?;
                }
                8 => {
                    sheet.write_number_with_format(r, c, value.parse::<f64>()?, &money)?;
                }
                11 => {
                    let d = ExcelDateTime::parse_from_str(value)?;
                    sheet.write_datetime_with_format(r, c, &d, &date)?;
                }
                _ => {
                    sheet.write_string(r, c, value)?;
                }
            }
        }
    }
    workbook.save(&output)?;
    println!(
        "bare rust_xlsxwriter: {} rows in {:.2} s",
        rows.len(),
        started.elapsed().as_secs_f64()
    );
    Ok(())
}
