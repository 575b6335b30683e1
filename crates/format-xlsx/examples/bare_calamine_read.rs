//! Benchmark floor for xlsx imports: calamine's streaming cell reader over the first sheet and
//! nothing else (no pre-scan, no conversion, no database), counting cells and rows.
//!
//! ```sh
//! cargo run --release -p dataport-format-xlsx --example bare_calamine_read -- customers.xlsx
//! ```
//!
//! Prints `… in N.NN s`: the time from opening the file to the last cell.

use std::time::Instant;

use calamine::{Reader, Xlsx, open_workbook};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let path = std::env::args()
        .nth(1)
        .ok_or("usage: bare_calamine_read FILE.xlsx")?;
    let started = Instant::now();
    let mut workbook: Xlsx<_> = open_workbook(&path)?;
    let sheet = workbook
        .sheet_names()
        .first()
        .cloned()
        .ok_or("the workbook has no sheet")?;
    let mut cells = workbook.worksheet_cells_reader(&sheet)?;
    let (mut count, mut last_row) = (0u64, 0u32);
    while let Some(cell) = cells.next_cell()? {
        count += 1;
        last_row = last_row.max(cell.get_position().0);
    }
    println!(
        "read {count} cells in {} rows of sheet `{sheet}` in {:.2} s",
        u64::from(last_row) + 1,
        started.elapsed().as_secs_f64()
    );
    Ok(())
}
