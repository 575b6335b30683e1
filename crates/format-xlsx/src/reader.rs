//! The reader: calamine's streaming cell reader on a worker thread, driven in lock-step, with
//! the sheet's checks on a third thread ahead of it ([`crate::gate`]).
//!
//! calamine's `XlsxCellReader<'a>` borrows the `Xlsx` it streams from, and a [`Reader`] must
//! keep both between calls; safe Rust cannot put the two in one struct. So the workbook and its
//! cell reader live on the stack of a worker thread, and [`XlsxReader`] sends it one request per
//! call and waits for the answer. The worker touches the [`ByteSource`] only while a call is in
//! progress (the ABI allows host callbacks only inside a call), the calls stay sequential, and
//! dropping the reader stops and joins the worker before the source's owner lets go of it.
//! A panic in calamine on a hostile file stays on that thread and becomes an error.
//!
//! The small parts are checked before calamine opens the workbook; the sheet is checked as
//! calamine reads it, calamine never getting past what the checks have passed. Its row count
//! ([`Reader::rows_total`]) is known once the checker is through, usually long before calamine.
//!
//! # Formulas
//!
//! calamine's `XlsxCellReader::next_cell_with_formula_metadata` returns every `<c>` with its
//! cached value *and* its `<f>` element, if any: a normal formula with its text, a shared
//! formula's anchor (text and range) or a cell deriving from a shared formula (only its index).
//! Every cell with an `<f>` becomes [`Cell::Formula`], never its cached value; derived cells get
//! the anchor's formula moved to their position (`expand_shared_formula`). The other cells of a
//! multi-cell array formula have no `<f>` at all, only cached values; the sheet's checker finds
//! their ranges (always before calamine reaches them), and they are reported as their anchor's formula too.

use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap, HashMap};
use std::sync::{Arc, mpsc};
use std::thread;

use calamine::{Reader as _, Xlsx, XlsxCellReader, XlsxError, XlsxFormulaMetadata};
use dataport_plugin_sdk::{ByteSource, Cell, ErrorKind, PluginError, Reader, RowBatch};

use crate::archive::{self, Inspection};
use crate::cellref::{Area, Pos};
use crate::gate::{Gate, Handle, Role};
use crate::messages;
use crate::options::ReadOptions;
use crate::rows::{CellSource, RawCell, Rows};
use crate::values;

/// Opens `source`: the small parts' checks ([`archive::inspect`]), the sheet's checker on its
/// thread, then calamine on the worker thread, which
/// also reads the sheet up to its cells so that every problem opening it is reported here.
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
    // open_reader is a call into the reader: the checker may read the source while it runs.
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
    let Some((inspection, mut check)) =
        archive::inspect(gate.handle(Role::Checker), &options.limits, wanted)?
    else {
        return Ok(Box::new(NoSheet));
    };
    // Before either thread starts: calamine must find the sheet's bytes held from the first read.
    let (start, end) = check.data_range()?;
    gate.sheet_starts(start, end);
    let mut reader = XlsxReader {
        gate: Arc::clone(gate),
        requests: None,
        replies: None,
        worker: None,
        checker: None,
    };
    let checker_gate = Arc::clone(gate);
    reader.checker = Some(
        thread::Builder::new()
            .name("dataport-xlsx-check".to_owned())
            .spawn(move || {
                let verdict =
                    std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| check.run(&checker_gate)))
                        .unwrap_or_else(|panic| {
                            Err(PluginError::internal(format!(
                                "the xlsx checks failed: {}",
                                dataport_plugin_sdk::ffi::panic_message(&*panic)
                            )))
                        });
                checker_gate.verdict(verdict);
            })
            .map_err(|e| PluginError::internal(format!("cannot start the xlsx check thread: {e}")))?,
    );
    let (requests, worker_requests) = mpsc::channel();
    let (worker_replies, replies) = mpsc::channel();
    let (source, worker_gate) = (gate.handle(Role::Calamine), Arc::clone(gate));
    reader.requests = Some(requests);
    reader.replies = Some(replies);
    reader.worker = Some(
        thread::Builder::new()
            .name("dataport-xlsx-reader".to_owned())
            .spawn(move || work(source, inspection, &worker_gate, worker_requests, worker_replies))
            .map_err(|e| PluginError::internal(format!("cannot start the xlsx reader thread: {e}")))?,
    );
    match reader.receive()? {
        Reply::Opened => Ok(Box::new(reader)),
        _ => Err(PluginError::internal(
            "the xlsx reader thread answered out of turn",
        )),
    }
}

enum Request {
    Header,
    Batch(usize),
}

enum Reply {
    Opened,
    Header(Vec<String>),
    Batch(Option<RowBatch>),
}

/// The [`Reader`] of the plugin: a handle on the worker thread (and the checker's).
pub(crate) struct XlsxReader {
    gate: Arc<Gate>,
    /// `None` once the worker is gone.
    requests: Option<mpsc::Sender<Request>>,
    replies: Option<mpsc::Receiver<Result<Reply, PluginError>>>,
    worker: Option<thread::JoinHandle<()>>,
    checker: Option<thread::JoinHandle<()>>,
}

impl XlsxReader {
    /// One call of the host into the reader: the checker may read the source meanwhile.
    fn call(&mut self, request: Request) -> Result<Reply, PluginError> {
        self.gate.enter_call();
        let sent = self.requests.as_ref().is_some_and(|r| r.send(request).is_ok());
        let reply = if sent { self.receive() } else { Err(self.stopped()) };
        self.gate.leave_call();
        reply
    }

    fn receive(&mut self) -> Result<Reply, PluginError> {
        match self.replies.as_ref().map(mpsc::Receiver::recv) {
            Some(Ok(reply)) => reply,
            _ => Err(self.stopped()),
        }
    }

    /// Why the worker is gone: the sheet's checks refused it, calamine panicked, or it stopped
    /// after reporting an error.
    fn stopped(&mut self) -> PluginError {
        self.requests = None;
        let joined = self.worker.take().map(thread::JoinHandle::join);
        if let Some(Err(refused)) = self.gate.outcome() {
            return refused;
        }
        match joined {
            Some(Err(panic)) => PluginError::malformed(format!(
                "the xlsx parser failed on this file: {}",
                dataport_plugin_sdk::ffi::panic_message(&*panic)
            )),
            _ => PluginError::new(
                ErrorKind::InvalidArgument,
                "the xlsx reader stopped after an earlier error",
            ),
        }
    }
}

impl Drop for XlsxReader {
    fn drop(&mut self) {
        // Closing the gate fails every read still waiting, and closing the request channel ends
        // the worker's loop; wait for both threads so that the source is dropped before this
        // reader is.
        self.gate.close();
        self.requests = None;
        for thread in [self.worker.take(), self.checker.take()].into_iter().flatten() {
            let _ = thread.join();
        }
    }
}

impl Reader for XlsxReader {
    fn header(&mut self) -> Result<Vec<String>, PluginError> {
        match self.call(Request::Header)? {
            Reply::Header(names) => Ok(names),
            _ => Err(PluginError::internal(
                "the xlsx reader thread answered out of turn",
            )),
        }
    }

    /// Known once the sheet's checker is through (ask again after a batch).
    fn rows_total(&mut self) -> Option<u64> {
        self.gate.outcome().and_then(Result::ok)
    }

    fn next_batch(&mut self, max_rows: usize) -> Result<Option<RowBatch>, PluginError> {
        match self.call(Request::Batch(max_rows))? {
            Reply::Batch(batch) => Ok(batch),
            _ => Err(PluginError::internal(
                "the xlsx reader thread answered out of turn",
            )),
        }
    }
}

/// The worker: opens the workbook and the sheet, then answers requests until the reader is
/// dropped or an error has been reported.
fn work(
    source: Handle,
    inspection: Inspection,
    gate: &Gate,
    requests: mpsc::Receiver<Request>,
    replies: mpsc::Sender<Result<Reply, PluginError>>,
) {
    // What calamine says, unless the sheet's checks refused the file: then theirs.
    let checked = |e: PluginError| match gate.outcome() {
        Some(Err(refused)) => refused,
        _ => e,
    };
    let mut xlsx = match Xlsx::new(source) {
        Ok(xlsx) => xlsx,
        Err(e) => {
            let _ = replies.send(Err(checked(calamine_error("cannot open the workbook", e))));
            return;
        }
    };
    let is_1904 = xlsx.has_1904_epoch();
    let Inspection {
        sheet,
        sheet_number,
        sheet_names,
    } = inspection;
    if !xlsx.sheet_names().contains(&sheet) {
        let _ = replies.send(Err(messages::malformed(
            format!("工作表「{sheet}」列在工作簿中，但 xlsx 解析器（calamine）找不到它"),
            format!("sheet `{sheet}` is listed in the workbook but calamine cannot find it"),
        )));
        return;
    }
    let cells = match xlsx.worksheet_cells_reader(&sheet) {
        Ok(cells) => cells,
        Err(e) => {
            let _ = replies.send(Err(checked(calamine_error(
                &format!("cannot read sheet `{sheet}`"),
                e,
            ))));
            return;
        }
    };
    if replies.send(Ok(Reply::Opened)).is_err() {
        return;
    }
    let mut rows = Rows::new(SheetCells {
        cells,
        sheet: &sheet,
        is_1904,
        done: false,
        shared: HashMap::new(),
        arrays: ArrayFormulas::new(Vec::new()),
        gate,
    });
    while let Ok(request) = requests.recv() {
        let reply = match request {
            Request::Header => rows.header().and_then(|header| {
                if rows.is_empty_sheet() {
                    Err(messages::empty_sheet(sheet_number, &sheet, &sheet_names))
                } else {
                    Ok(Reply::Header(header))
                }
            }),
            Request::Batch(max_rows) => rows.next_batch(max_rows).map(Reply::Batch),
        };
        let reply = reply.map_err(checked);
        let failed = reply.is_err();
        if replies.send(reply).is_err() || failed {
            return;
        }
    }
}

/// What calamine reports. The checks have passed the archive and the XML of every part
/// calamine reads, so what is left is rare: its own wording stays, after an explanation.
fn calamine_error(context: &str, e: XlsxError) -> PluginError {
    match e {
        XlsxError::Io(e) => PluginError::io(format!("{context}: {e}")),
        XlsxError::CellError(value) => messages::malformed(
            format!("{context}：某个单元格含有 xlsx 解析器（calamine）不认识的错误值 `{value}`"),
            format!(
                "{context}: a cell holds the error value `{value}`, which the xlsx parser (calamine) does not know"
            ),
        ),
        e => messages::malformed(
            format!(
                "{context}：xlsx 解析器（calamine）无法读取此文件（{e}）；请在 Excel 或 WPS 中打开并重新另存为 .xlsx"
            ),
            format!(
                "{context}: the xlsx parser (calamine) cannot read this file ({e}); open it in Excel or WPS and save it again as .xlsx"
            ),
        ),
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

/// The sheet's cells from calamine, formulas resolved.
struct SheetCells<'a> {
    cells: XlsxCellReader<'a, Handle>,
    sheet: &'a str,
    is_1904: bool,
    /// The end was reached.
    done: bool,
    /// Shared formula anchors by index: their text and top-left cell.
    shared: HashMap<usize, (String, Pos)>,
    arrays: ArrayFormulas,
    /// Where the checker reports the array formulas it finds (always before calamine reaches
    /// them) and its verdict.
    gate: &'a Gate,
}

impl CellSource for SheetCells<'_> {
    fn next_cell(&mut self) -> Result<Option<RawCell>, PluginError> {
        if self.done {
            return Ok(None);
        }
        let record = self
            .cells
            .next_cell_with_formula_metadata()
            .map_err(|e| calamine_error(&format!("cannot read sheet `{}`", self.sheet), e))?;
        let Some(record) = record else {
            // calamine would read on past `</sheetData>`. The end counts only once the checks
            // have passed the whole part.
            self.done = true;
            self.gate.wait_for_verdict()?;
            return Ok(None);
        };
        let pos = record.pos;
        let found = self.gate.arrays_found();
        if found > self.arrays.seen {
            self.arrays.extend(self.gate.arrays_after(self.arrays.seen));
        }
        let cell = match record.formula {
            Some(formula) => Cell::Formula(self.formula(pos, formula)),
            None => match self.arrays.at(pos) {
                Some(array) => Cell::Formula(array),
                None => values::from_calamine(record.value, self.is_1904),
            },
        };
        Ok(Some(RawCell {
            row: pos.0,
            col: pos.1,
            cell,
        }))
    }
}

impl SheetCells<'_> {
    /// A formula's text with its `=`.
    fn formula(&mut self, pos: Pos, formula: XlsxFormulaMetadata) -> String {
        let text = match formula {
            XlsxFormulaMetadata::Normal { formula } => {
                self.arrays.anchor(pos, &formula);
                formula
            }
            XlsxFormulaMetadata::Shared {
                shared_index,
                range,
                formula,
            } => {
                let start = range.map_or(pos, |r| r.start);
                self.shared.insert(shared_index, (formula.clone(), start));
                formula
            }
            XlsxFormulaMetadata::SharedDerived { shared_index } => match self.shared.get(&shared_index) {
                Some((template, start)) => calamine::expand_shared_formula(template, *start, pos)
                    .unwrap_or_else(|_| template.clone()),
                None => format!("<shared formula {shared_index}>"),
            },
            // A kind of formula this version does not know: still a formula.
            _ => String::new(),
        };
        format!("={text}")
    }
}

/// The multi-cell array formulas of a sheet, looked up as the cells stream by in row order.
///
/// Array ranges never overlap, so the ones covering the current row are keyed by first column.
struct ArrayFormulas {
    /// Not reached yet, the first to start last.
    pending: Vec<Area>,
    /// How many ranges were added so far.
    seen: usize,
    /// Covering the current row: first column → range and formula (once its anchor is seen).
    active: BTreeMap<u32, (Area, Option<String>)>,
    /// When each active range ends: (last row, first column).
    expiry: BinaryHeap<Reverse<(u32, u32)>>,
}

impl ArrayFormulas {
    fn new(mut areas: Vec<Area>) -> ArrayFormulas {
        areas.sort_unstable_by_key(|a| Reverse(a.start));
        ArrayFormulas {
            seen: areas.len(),
            pending: areas,
            active: BTreeMap::new(),
            expiry: BinaryHeap::new(),
        }
    }

    /// More ranges, found further down the sheet.
    fn extend(&mut self, areas: Vec<Area>) {
        self.seen += areas.len();
        self.pending.extend(areas);
        self.pending.sort_unstable_by_key(|a| Reverse(a.start));
    }

    fn advance(&mut self, row: u32) {
        while let Some(area) = self.pending.last().copied()
            && area.start.0 <= row
        {
            self.pending.pop();
            if area.end.0 >= row {
                self.active.insert(area.start.1, (area, None));
                self.expiry.push(Reverse((area.end.0, area.start.1)));
            }
        }
        while let Some(&Reverse((end, col))) = self.expiry.peek()
            && end < row
        {
            self.expiry.pop();
            if self.active.get(&col).is_some_and(|(a, _)| a.end.0 == end) {
                self.active.remove(&col);
            }
        }
    }

    fn covering(&mut self, pos: Pos) -> Option<&mut (Area, Option<String>)> {
        if self.pending.is_empty() && self.active.is_empty() {
            return None;
        }
        self.advance(pos.0);
        let (_, entry) = self.active.range_mut(..=pos.1).next_back()?;
        let a = entry.0;
        (a.start.0 <= pos.0 && pos.0 <= a.end.0 && pos.1 <= a.end.1).then_some(entry)
    }

    /// Records the formula of the array anchored at `pos`, if there is one.
    fn anchor(&mut self, pos: Pos, formula: &str) {
        if let Some((area, text)) = self.covering(pos)
            && area.start == pos
        {
            *text = Some(format!("={formula}"));
        }
    }

    /// The formula of the array covering `pos`, if any.
    fn at(&mut self, pos: Pos) -> Option<String> {
        let (_, text) = self.covering(pos)?;
        Some(text.clone().unwrap_or_else(|| "=<array formula>".to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cellref::parse_area;

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
        // Counted by the sheet's checker, which is through by the end.
        assert_eq!(reader.rows_total(), Some(4));
    }

    #[test]
    fn array_ranges_are_found_as_rows_advance() {
        let areas = ["B2:C3", "A5:A6", "D2:D2", "B10:E12"]
            .iter()
            .map(|s| parse_area(s).unwrap())
            .collect();
        let mut arrays = ArrayFormulas::new(areas);
        assert_eq!(arrays.at((0, 1)), None);
        arrays.anchor((1, 1), "TRIM(X1:X4)");
        assert_eq!(arrays.at((1, 2)).as_deref(), Some("=TRIM(X1:X4)"));
        assert_eq!(arrays.at((1, 3)).as_deref(), Some("=<array formula>"));
        assert_eq!(arrays.at((1, 4)), None);
        assert_eq!(arrays.at((2, 1)).as_deref(), Some("=TRIM(X1:X4)"));
        assert_eq!(arrays.at((2, 0)), None);
        assert_eq!(arrays.at((4, 0)).as_deref(), Some("=<array formula>"));
        assert_eq!(arrays.at((4, 1)), None);
        assert_eq!(arrays.at((7, 0)), None);
        assert_eq!(arrays.at((10, 4)).as_deref(), Some("=<array formula>"));
        assert_eq!(arrays.at((12, 4)), None);
    }
}
