//! The reader: the sheet read in one pass ([`crate::sheet`]) on a thread of its own, its cells
//! handed over in chunks of whole rows and laid out as rows here ([`crate::rows`]).
//!
//! The sheet's parse keeps its state (the decompressor, the XML parser, the formulas seen) on
//! its thread's stack between the host's calls, and reads the host's source only while a call
//! is in progress ([`crate::gate`]), a bounded channel ahead of the rows. Dropping the reader
//! closes the gate and joins the thread before the source's owner lets go of it. A panic on a
//! hostile file stays on that thread and becomes an error.
//!
//! The small parts (shared strings, styles, the workbook) are read and checked before the sheet
//! ([`crate::archive`]). The sheet's row count ([`Reader::rows_total`]) comes from a third
//! thread's tag scan of the sheet ([`crate::count`]), a fraction of the parse's time, and is
//! replaced by the parse's own count at the end.

use std::sync::{Arc, OnceLock, mpsc};
use std::thread;

use dataport_plugin_sdk::{ByteSource, ErrorKind, PluginError, Reader, RowBatch};

use crate::archive::{self, Inspection};
use crate::gate::Gate;
use crate::messages;
use crate::options::ReadOptions;
use crate::rows::{CellSource, RawCell, Rows};

/// Chunks of cells the sheet's thread may parse ahead of the rows.
const CHUNKS_AHEAD: usize = 4;

/// Opens `source`: the small parts' checks ([`archive::inspect`]), then the sheet's thread.
pub(crate) fn open(
    source: Box<dyn ByteSource>,
    options: &ReadOptions,
) -> Result<Box<dyn Reader>, PluginError> {
    if !source.can_seek() {
        return Err(PluginError::new(
            ErrorKind::InvalidArgument,
            "the xlsx reader needs a seekable source (its descriptor declares needs_seek)",
        ));
    }
    let gate = Gate::new(source);
    // open_reader is a call into the reader: the source may be read while it runs.
    gate.enter_call();
    let opened = open_gated(&gate, options);
    gate.leave_call();
    opened
}

fn open_gated(gate: &Arc<Gate>, options: &ReadOptions) -> Result<Box<dyn Reader>, PluginError> {
    let wanted = if options.sheet_any.is_empty() {
        archive::Wanted::Sheet(options.sheet.as_deref())
    } else {
        archive::Wanted::AnyOf(&options.sheet_any)
    };
    let Some((inspection, sheet)) = archive::inspect(gate.handle(), &options.limits, wanted)? else {
        return Ok(Box::new(NoSheet));
    };
    let counted = Arc::new(OnceLock::new());
    let counter = match sheet.row_counter() {
        Some(counter) => {
            let counted = Arc::clone(&counted);
            // Progress only: a scan that fails or cannot start leaves no count.
            thread::Builder::new()
                .name("dataport-xlsx-count".to_owned())
                .spawn(move || {
                    let scan = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| counter.run()));
                    if let Ok(Some(rows)) = scan {
                        let _ = counted.set(rows);
                    }
                })
                .ok()
        }
        None => None,
    };
    let (chunks, received) = mpsc::sync_channel::<Vec<RawCell>>(CHUNKS_AHEAD);
    let sheet_gate = Arc::clone(gate);
    let thread = thread::Builder::new()
        .name("dataport-xlsx-sheet".to_owned())
        .spawn(move || {
            let mut emit = move |chunk: Vec<RawCell>| {
                chunks
                    .send(chunk)
                    .map_err(|_| PluginError::internal("the xlsx reader was dropped"))
            };
            let verdict = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| sheet.run(&mut emit)))
                .unwrap_or_else(|panic| {
                    Err(PluginError::malformed(format!(
                        "the xlsx parser failed on this file: {}",
                        dataport_plugin_sdk::ffi::panic_message(&*panic)
                    )))
                });
            // The verdict first, then the end of the channel: the rows see both in that order.
            sheet_gate.verdict(verdict);
            drop(emit);
        })
        .map_err(|e| PluginError::internal(format!("cannot start the xlsx sheet thread: {e}")))?;
    Ok(Box::new(XlsxReader {
        gate: Arc::clone(gate),
        rows: Rows::new(Received {
            chunk: Vec::new().into_iter(),
            chunks: Some(received),
            gate: Arc::clone(gate),
        }),
        inspection,
        threads: [Some(thread), counter],
        counted,
        failed: false,
    }))
}

/// The [`Reader`] of the plugin: rows from the sheet's thread.
pub(crate) struct XlsxReader {
    gate: Arc<Gate>,
    rows: Rows<Received>,
    inspection: Inspection,
    /// The sheet's thread and the row count's.
    threads: [Option<thread::JoinHandle<()>>; 2],
    /// The row count's scan, once through.
    counted: Arc<OnceLock<u64>>,
    /// An error was reported: every later call fails.
    failed: bool,
}

impl XlsxReader {
    /// One call of the host into the reader: the sheet's thread may read the source meanwhile.
    fn call<T>(&mut self, f: impl FnOnce(&mut Self) -> Result<T, PluginError>) -> Result<T, PluginError> {
        if self.failed {
            return Err(PluginError::new(
                ErrorKind::InvalidArgument,
                "the xlsx reader stopped after an earlier error",
            ));
        }
        self.gate.enter_call();
        let result = f(self);
        self.gate.leave_call();
        self.failed = result.is_err();
        result
    }
}

impl Drop for XlsxReader {
    fn drop(&mut self) {
        // Closing the gate fails every read still waiting, and dropping the channel's receiving
        // end every send: the threads end, and are joined so that the source is dropped before
        // this reader is.
        self.gate.close();
        self.rows.source_mut().chunks = None;
        for thread in self.threads.iter_mut().filter_map(Option::take) {
            let _ = thread.join();
        }
    }
}

impl Reader for XlsxReader {
    fn header(&mut self) -> Result<Vec<String>, PluginError> {
        self.call(|reader| {
            let header = reader.rows.header()?;
            if reader.rows.is_empty_sheet() {
                let Inspection {
                    sheet,
                    sheet_number,
                    sheet_names,
                } = &reader.inspection;
                return Err(messages::empty_sheet(*sheet_number, sheet, sheet_names));
            }
            Ok(header)
        })
    }

    /// The parse's count once it is through, the scan's before.
    fn rows_total(&mut self) -> Option<u64> {
        match self.gate.outcome() {
            Some(Ok(rows)) => Some(rows),
            Some(Err(_)) => None,
            None => self.counted.get().copied(),
        }
    }

    fn next_batch(&mut self, max_rows: usize) -> Result<Option<RowBatch>, PluginError> {
        self.call(|reader| reader.rows.next_batch(max_rows))
    }
}

/// The cells as the sheet's thread hands them over.
struct Received {
    chunk: std::vec::IntoIter<RawCell>,
    /// `None` once the end was reached (or the reader is closing).
    chunks: Option<mpsc::Receiver<Vec<RawCell>>>,
    gate: Arc<Gate>,
}

impl CellSource for Received {
    fn next_cell(&mut self) -> Result<Option<RawCell>, PluginError> {
        loop {
            if let Some(cell) = self.chunk.next() {
                return Ok(Some(cell));
            }
            let Some(chunks) = &self.chunks else {
                return Ok(None);
            };
            match chunks.recv() {
                Ok(chunk) => self.chunk = chunk.into_iter(),
                Err(mpsc::RecvError) => {
                    // The thread has ended: its verdict says whether the sheet was read whole.
                    self.chunks = None;
                    return match self.gate.outcome() {
                        Some(Ok(_)) => Ok(None),
                        Some(Err(refused)) => Err(refused),
                        None => Err(PluginError::internal(
                            "the xlsx sheet thread ended without a verdict",
                        )),
                    };
                }
            }
        }
    }
}

/// A workbook without any of the sheets `sheet_any` names: an empty table.
struct NoSheet;

impl Reader for NoSheet {
    fn header(&mut self) -> Result<Vec<String>, PluginError> {
        Ok(Vec::new())
    }

    fn next_batch(&mut self, _max_rows: usize) -> Result<Option<RowBatch>, PluginError> {
        Ok(None)
    }

    fn rows_total(&mut self) -> Option<u64> {
        Some(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `sheet_any` reads the first sheet it names that the workbook has, and a workbook with
    /// none of them as an empty table.
    #[test]
    fn sheet_any_finds_a_sheet_by_any_name_or_reads_nothing() {
        let mut workbook = rust_xlsxwriter::Workbook::new();
        workbook
            .add_worksheet()
            .set_name("Notes")
            .unwrap()
            .write_string(0, 0, "x")
            .unwrap();
        let sheet = workbook.add_worksheet().set_name("Contacts").unwrap();
        sheet.write_string(0, 0, "联系人编号").unwrap();
        sheet.write_string(1, 0, "K1").unwrap();
        let bytes = workbook.save_to_buffer().unwrap();
        let open_any = |names: &str| {
            let source: Box<dyn ByteSource> = Box::new(std::io::Cursor::new(bytes.clone()));
            let options = dataport_plugin_sdk::Options::new().with("sheet_any", names);
            open(source, &ReadOptions::parse(&options).unwrap()).unwrap()
        };
        let mut found = open_any("联系人|Contacts|contacts");
        assert_eq!(found.header().unwrap(), ["联系人编号"]);
        assert_eq!(found.next_batch(10).unwrap().unwrap().rows.len(), 1);
        let mut missing = open_any("商机|Opportunities");
        assert!(missing.header().unwrap().is_empty());
        assert!(missing.next_batch(10).unwrap().is_none());
        assert_eq!(missing.rows_total(), Some(0));
    }

    /// The row count comes from the sheet's XML: rows after the header with a value, blank and
    /// merely formatted rows left out; it is what the reader then hands out.
    #[test]
    fn rows_total_counts_the_sheets_rows_with_values() {
        let mut workbook = rust_xlsxwriter::Workbook::new();
        let sheet = workbook.add_worksheet();
        let bold = rust_xlsxwriter::Format::new().set_bold();
        sheet.write_string(0, 0, "客户编号").unwrap();
        sheet.write_string(0, 1, "客户名称").unwrap();
        for row in [1, 2, 4, 5] {
            sheet.write_string(row, 0, format!("C{row}")).unwrap();
            sheet.write_number(row, 1, f64::from(row)).unwrap();
        }
        sheet.write_blank(7, 1, &bold).unwrap(); // formatted, no value
        let bytes = workbook.save_to_buffer().unwrap();
        let source: Box<dyn ByteSource> = Box::new(std::io::Cursor::new(bytes));
        let options = ReadOptions::parse(&dataport_plugin_sdk::Options::new()).unwrap();
        let mut reader = open(source, &options).unwrap();
        assert_eq!(reader.header().unwrap(), ["客户编号", "客户名称"]);
        let mut read = 0;
        while let Some(batch) = reader.next_batch(2).unwrap() {
            read += batch.rows.len();
        }
        assert_eq!(read, 4);
        assert_eq!(reader.rows_total(), Some(4));
    }

    /// The count does not wait for the rows: with a call held open and not one row taken, the
    /// sheet's thread stops a few chunks in (the channel is full), and the scan still counts the
    /// whole sheet.
    #[test]
    fn rows_total_is_known_before_the_rows_are_read() {
        let mut workbook = rust_xlsxwriter::Workbook::new();
        let sheet = workbook.add_worksheet();
        sheet.write_string(0, 0, "客户编号").unwrap();
        let total = 30_000u32;
        for row in 1..=total {
            sheet.write_string(row, 0, format!("C{row}")).unwrap();
        }
        let bytes = workbook.save_to_buffer().unwrap();
        let source: Box<dyn ByteSource> = Box::new(std::io::Cursor::new(bytes));
        let options = ReadOptions::parse(&dataport_plugin_sdk::Options::new()).unwrap();
        let gate = Gate::new(source);
        gate.enter_call();
        let mut reader = open_gated(&gate, &options).unwrap();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
        while reader.rows_total().is_none() && std::time::Instant::now() < deadline {
            thread::sleep(std::time::Duration::from_millis(5));
        }
        assert_eq!(reader.rows_total(), Some(u64::from(total)));
        assert!(
            gate.outcome().is_none(),
            "the parse is not through: the count is the scan's"
        );
        gate.leave_call();
        let mut read = 0;
        while let Some(batch) = reader.next_batch(5000).unwrap() {
            read += batch.rows.len();
        }
        assert_eq!(read, total as usize);
        assert_eq!(reader.rows_total(), Some(u64::from(total)));
    }
}
