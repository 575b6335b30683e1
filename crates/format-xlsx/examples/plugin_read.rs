//! The xlsx plugin's reader on its own: every check and cell conversion, no host, no database.
//! Beside `bare_calamine_read`, it shows what the plugin costs over the floor.
//!
//! ```sh
//! cargo run --release -p dataport-format-xlsx --example plugin_read -- customers.xlsx
//! ```
//!
//! Prints `… in N.NN s`: the time from opening the file to the last row; and on stderr when the
//! row count (progress's total) was first known.

use std::fs::File;
use std::io::BufReader;
use std::time::Instant;

use dataport_format_xlsx::XlsxPlugin;
use dataport_plugin_sdk::{ByteSource, Options, Plugin};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let path = std::env::args().nth(1).ok_or("usage: plugin_read FILE.xlsx")?;
    let started = Instant::now();
    let source: Box<dyn ByteSource> = Box::new(BufReader::new(File::open(&path)?));
    let mut reader = XlsxPlugin.open_reader("xlsx", &Options::new(), source)?;
    let header = reader.header()?;
    let (mut rows, mut cells, mut total_known) = (0u64, 0u64, None);
    while let Some(batch) = reader.next_batch(5000)? {
        rows += batch.rows.len() as u64;
        if total_known.is_none()
            && let Some(total) = reader.rows_total()
        {
            total_known = Some((total, rows, started.elapsed().as_secs_f64()));
        }
        cells += batch
            .rows
            .iter()
            .map(|r| r.cells.iter().filter(|c| !c.is_null()).count() as u64)
            .sum::<u64>();
    }
    if let Some((total, at_row, at)) = total_known {
        eprintln!("row count {total} known after {at_row} rows, {at:.2} s");
    }
    println!(
        "read {cells} cells in {rows} rows under {} columns in {:.2} s",
        header.len(),
        started.elapsed().as_secs_f64()
    );
    Ok(())
}
