//! Drives the code `export_plugin!` generates through its C entry point, in-process, the way the
//! host does after `dlopen`: handshake, reader, writer, errors, panics and poisoning.

use std::ffi::c_void;
use std::io::{Cursor, Read, Write};
use std::ptr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use dataport_plugin_sdk::abi::{self, Status};
use dataport_plugin_sdk::ffi::{BatchView, ColumnsView, batch_from_abi, header_from_abi, str_from_abi};
use dataport_plugin_sdk::{
    ByteSink, ByteSource, Cell, Column, ColumnKind, Descriptor, ErrorKind, Options, Plugin, PluginError,
    Reader, RowBatch, Writer, export_plugin,
};

static READERS_DROPPED: AtomicUsize = AtomicUsize::new(0);

/// Reads comma-separated lines; integers become `Cell::Int`. Option `panic_on_batch=N` panics
/// when asked for batch N.
struct Lines;

struct LinesReader {
    lines: std::vec::IntoIter<String>,
    row: u64,
    batches: usize,
    panic_on_batch: Option<usize>,
}

impl Drop for LinesReader {
    fn drop(&mut self) {
        READERS_DROPPED.fetch_add(1, Ordering::SeqCst);
    }
}

fn cell(s: &str) -> Cell {
    s.parse::<i64>().map(Cell::Int).unwrap_or_else(|_| Cell::text(s))
}

impl Reader for LinesReader {
    fn header(&mut self) -> Result<Vec<String>, PluginError> {
        self.row += 1;
        Ok(self
            .lines
            .next()
            .unwrap_or_default()
            .split(',')
            .map(str::to_owned)
            .collect())
    }

    fn next_batch(&mut self, max_rows: usize) -> Result<Option<RowBatch>, PluginError> {
        self.batches += 1;
        if self.panic_on_batch == Some(self.batches) {
            panic!("lines reader exploded on batch {}", self.batches);
        }
        let mut batch = RowBatch::new();
        for line in self.lines.by_ref().take(max_rows) {
            self.row += 1;
            if line == "BAD" {
                batch.push_error(self.row, ErrorKind::MalformedFile, "a bad line");
            } else {
                batch.push_row(self.row, line.split(',').map(cell).collect());
            }
        }
        Ok((!batch.is_empty()).then_some(batch))
    }
}

struct LinesWriter {
    sink: Box<dyn ByteSink>,
}

impl Writer for LinesWriter {
    /// Plain names; a column with presentation details is written as `name{kind|required|choices|comment}`.
    fn write_header(&mut self, columns: &[Column]) -> Result<(), PluginError> {
        let names: Vec<String> = columns
            .iter()
            .map(|c| {
                if c == &Column::new(c.name.clone()) {
                    c.name.clone()
                } else {
                    format!(
                        "{}{{{:?}|{}|{}|{}}}",
                        c.name,
                        c.kind,
                        c.required,
                        c.choices.join("/"),
                        c.comment
                    )
                }
            })
            .collect();
        writeln!(self.sink, "{}", names.join(","))?;
        Ok(())
    }

    fn start_sheet(&mut self, name: &str) -> Result<(), PluginError> {
        writeln!(self.sink, "--- {name}")?;
        Ok(())
    }

    fn write_rows(&mut self, rows: &RowBatch) -> Result<(), PluginError> {
        for row in &rows.rows {
            if row.cells.first() == Some(&Cell::text("panic")) {
                panic!("writer asked to panic");
            }
            let cells: Vec<String> = row.cells.iter().map(|c| format!("{c:?}")).collect();
            writeln!(self.sink, "{}", cells.join(","))?;
        }
        Ok(())
    }

    fn finish(&mut self) -> Result<(), PluginError> {
        writeln!(self.sink, "END")?;
        self.sink.flush()?;
        Ok(())
    }
}

impl Plugin for Lines {
    fn descriptor(&self) -> Descriptor {
        Descriptor::new("lines", "1.2.3")
            .format("lines")
            .format("lines2")
            .extensions(["lines", "ln"])
            .modules(["customers", "contacts"])
            .reads()
            .writes()
            .sheets()
    }

    fn open_reader(
        &self,
        format: &str,
        options: &Options,
        mut source: Box<dyn ByteSource>,
    ) -> Result<Box<dyn Reader>, PluginError> {
        options.ensure_known(&["panic_on_batch", "panic_on_open"])?;
        if options.get_bool("panic_on_open")? == Some(true) {
            panic!("open_reader panicked for {format}");
        }
        let mut text = String::new();
        source
            .read_to_string(&mut text)
            .map_err(|e| PluginError::encoding(e.to_string()))?;
        let lines: Vec<String> = text.lines().map(str::to_owned).collect();
        Ok(Box::new(LinesReader {
            lines: lines.into_iter(),
            row: 0,
            batches: 0,
            panic_on_batch: options.get_parsed("panic_on_batch")?,
        }))
    }

    fn open_writer(
        &self,
        _format: &str,
        options: &Options,
        sink: Box<dyn ByteSink>,
    ) -> Result<Box<dyn Writer>, PluginError> {
        options.ensure_known(&[])?;
        Ok(Box::new(LinesWriter { sink }))
    }
}

export_plugin!(Lines);

// ------------------------------------------------------------------ a minimal in-process "host"

struct ErrBuf {
    buf: Vec<u8>,
    err: abi::PluginError,
}

impl ErrBuf {
    fn new(capacity: usize) -> Box<ErrBuf> {
        let mut b = Box::new(ErrBuf {
            buf: vec![0; capacity],
            err: abi::PluginError {
                message: ptr::null_mut(),
                capacity,
                len: 0,
                row: 0,
                flags: 0,
            },
        });
        b.err.message = b.buf.as_mut_ptr();
        b
    }
    fn ptr(&mut self) -> *mut abi::PluginError {
        self.err.len = 0;
        &mut self.err
    }
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.buf[..self.err.len]).into_owned()
    }
}

fn init(version: u32) -> (Status, abi::PluginVTable, String) {
    let mut vt = abi::PluginVTable::empty();
    let mut err = ErrBuf::new(4096);
    // SAFETY: a full-size vtable and a valid error buffer.
    let status = unsafe { dataport_plugin_init(version, &mut vt, err.ptr()) };
    (status, vt, err.text())
}

fn vtable() -> abi::PluginVTable {
    let (status, vt, msg) = init(abi::ABI_VERSION);
    assert_eq!(status, Status::OK, "{msg}");
    vt
}

unsafe extern "C" fn cursor_read(ctx: *mut c_void, buf: *mut u8, len: usize, out: *mut usize) -> Status {
    // SAFETY: ctx is the test's Cursor; buf/out come from the SDK's adapter.
    unsafe {
        let cursor = &mut *ctx.cast::<Cursor<Vec<u8>>>();
        let slice = std::slice::from_raw_parts_mut(buf, len);
        *out = cursor.read(slice).unwrap();
    }
    Status::OK
}

unsafe extern "C" fn vec_write(ctx: *mut c_void, buf: *const u8, len: usize) -> Status {
    // SAFETY: ctx is the test's Vec; buf comes from the SDK's adapter.
    unsafe { (*ctx.cast::<Vec<u8>>()).extend_from_slice(std::slice::from_raw_parts(buf, len)) };
    Status::OK
}

fn kv(pairs: &[(&'static str, &'static str)]) -> Vec<abi::KeyValue> {
    pairs
        .iter()
        .map(|(k, v)| abi::KeyValue {
            key: abi::StrRef::new(k),
            value: abi::StrRef::new(v),
        })
        .collect()
}

/// A reader handle, or the status and message of a failed open.
type Opened = Result<*mut abi::ReaderHandle, (Status, String)>;

/// Opens a reader over `input`; the cursor is boxed so its address (the callbacks' ctx) is stable.
fn open_reader(
    vt: &abi::PluginVTable,
    input: &str,
    options: &[(&'static str, &'static str)],
) -> (Opened, Box<Cursor<Vec<u8>>>) {
    let mut cursor = Box::new(Cursor::new(input.as_bytes().to_vec()));
    let source = abi::SourceCallbacks {
        size: size_of::<abi::SourceCallbacks>(),
        ctx: (&mut *cursor as *mut Cursor<Vec<u8>>).cast(),
        read: Some(cursor_read),
        seek: None,
    };
    let opts = kv(options);
    let mut handle = ptr::null_mut();
    let mut err = ErrBuf::new(4096);
    // SAFETY: all pointers are live locals; the cursor outlives the reader (returned with it).
    let status = unsafe {
        vt.open_reader.unwrap()(
            abi::StrRef::new("lines"),
            opts.as_ptr(),
            opts.len(),
            &source,
            &mut handle,
            err.ptr(),
        )
    };
    let result = if status == Status::OK {
        Ok(handle)
    } else {
        Err((status, err.text()))
    };
    (result, cursor)
}

fn next_batch(
    vt: &abi::PluginVTable,
    r: *mut abi::ReaderHandle,
    max: usize,
) -> Result<Option<RowBatch>, (Status, String)> {
    let mut out = abi::Batch::EMPTY;
    let mut err = ErrBuf::new(4096);
    // SAFETY: a live reader handle and output slot.
    let status = unsafe { vt.reader_next_batch.unwrap()(r, max, &mut out, err.ptr()) };
    match status {
        Status::OK => {
            // SAFETY: the plugin filled the batch; released right after copying.
            let batch = unsafe { batch_from_abi(&out) }.unwrap();
            // SAFETY: released exactly once.
            unsafe { out.release.unwrap()(&mut out) };
            Ok(Some(batch))
        }
        Status::END_OF_DATA => Ok(None),
        s => Err((s, err.text())),
    }
}

fn read_header(vt: &abi::PluginVTable, r: *mut abi::ReaderHandle) -> Vec<String> {
    let mut header = abi::Header::EMPTY;
    let mut err = ErrBuf::new(256);
    // SAFETY: live handle and output slot.
    assert_eq!(
        unsafe { vt.reader_header.unwrap()(r, &mut header, err.ptr()) },
        Status::OK
    );
    // SAFETY: filled by the plugin, released right after.
    let names = unsafe { header_from_abi(&header) }.unwrap();
    // SAFETY: released once.
    unsafe { header.release.unwrap()(&mut header) };
    assert!(header.release.is_none());
    names
}

// ------------------------------------------------------------------------------------ tests

#[test]
fn handshake_fills_vtable_and_descriptor() {
    let vt = vtable();
    assert_eq!(vt.size, size_of::<abi::PluginVTable>());
    assert_eq!(vt.abi_version, abi::ABI_VERSION);
    // SAFETY: describe returns the plugin's static descriptor.
    let d = unsafe { &*vt.describe.unwrap()() };
    // SAFETY: descriptor strings live as long as the library.
    let s = |r| unsafe { str_from_abi(r) }.unwrap();
    assert_eq!(
        (
            s(d.name),
            s(d.version),
            s(d.formats),
            s(d.extensions),
            s(d.modules)
        ),
        ("lines", "1.2.3", "lines,lines2", "lines,ln", "customers,contacts")
    );
    assert_eq!(d.capabilities, abi::CAP_READ | abi::CAP_WRITE | abi::CAP_SHEETS);
}

#[test]
fn handshake_refuses_other_versions_naming_both() {
    let (status, vt, msg) = init(abi::ABI_VERSION + 1);
    assert_eq!(status, Status::ABI_MISMATCH);
    assert_eq!(
        vt.abi_version,
        abi::ABI_VERSION,
        "the plugin must report its version even when refusing"
    );
    assert!(vt.open_reader.is_none(), "nothing else may be filled in");
    assert!(
        msg.contains("`lines`") && msg.contains("v1") && msg.contains("v2"),
        "{msg}"
    );
}

#[test]
fn handshake_with_a_smaller_host_vtable_fills_only_what_fits() {
    // An older host that knows only the vtable up to `open_reader`.
    let host_size = std::mem::offset_of!(abi::PluginVTable, reader_header);
    let mut vt = abi::PluginVTable::empty();
    vt.size = host_size;
    let mut err = ErrBuf::new(64);
    // SAFETY: the vtable is really larger than the size we claim, so any overrun would be visible.
    let status = unsafe { dataport_plugin_init(abi::ABI_VERSION, &mut vt, err.ptr()) };
    assert_eq!(status, Status::OK);
    assert_eq!(vt.size, host_size);
    assert!(vt.open_reader.is_some());
    assert!(vt.reader_header.is_none() && vt.writer_release.is_none());
}

#[test]
fn reader_through_the_vtable() {
    let vt = vtable();
    let (reader, _cursor) = open_reader(&vt, "code,n\nA,1\nBAD\nC,3\nD,x\n", &[]);
    let reader = reader.unwrap();
    assert_eq!(read_header(&vt, reader), ["code", "n"]);

    let first = next_batch(&vt, reader, 2).unwrap().unwrap();
    assert_eq!(first.rows.len(), 1);
    assert_eq!(first.rows[0].number, 2);
    assert_eq!(first.rows[0].cells, [Cell::text("A"), Cell::Int(1)]);
    assert_eq!(
        (first.errors[0].row, first.errors[0].kind),
        (3, ErrorKind::MalformedFile)
    );
    let second = next_batch(&vt, reader, 2).unwrap().unwrap();
    assert_eq!(second.rows.iter().map(|r| r.number).collect::<Vec<_>>(), [4, 5]);
    assert_eq!(second.rows[1].cells[1], Cell::text("x"));
    assert_eq!(next_batch(&vt, reader, 2), Ok(None));
    // SAFETY: released once.
    unsafe { vt.reader_release.unwrap()(reader) };
}

#[test]
fn plugin_errors_become_statuses_with_messages() {
    let vt = vtable();
    let (result, _) = open_reader(&vt, "", &[("delimiter", ";")]);
    let (status, msg) = result.unwrap_err();
    assert_eq!(status, Status::INVALID_OPTION);
    assert!(msg.contains("unknown option `delimiter`"), "{msg}");
    let (result, _) = open_reader(&vt, "", &[("panic_on_batch", "soon")]);
    assert_eq!(result.unwrap_err().0, Status::INVALID_OPTION);
}

#[test]
fn panic_poisons_the_reader_and_release_still_frees_it() {
    let vt = vtable();
    let dropped_before = READERS_DROPPED.load(Ordering::SeqCst);
    let (reader, _cursor) = open_reader(&vt, "h\n1\n2\n3\n", &[("panic_on_batch", "2")]);
    let reader = reader.unwrap();
    assert_eq!(read_header(&vt, reader), ["h"]);
    assert_eq!(next_batch(&vt, reader, 1).unwrap().unwrap().rows.len(), 1);

    let (status, msg) = next_batch(&vt, reader, 1).unwrap_err();
    assert_eq!(status, Status::PANIC);
    assert!(msg.contains("lines reader exploded on batch 2"), "{msg}");

    // Batch 3 would not panic, but a poisoned reader never reaches plugin code again.
    let (status, msg) = next_batch(&vt, reader, 1).unwrap_err();
    assert_eq!(status, Status::PANIC);
    assert!(
        msg.contains("poisoned") && msg.contains("exploded on batch 2"),
        "{msg}"
    );

    // SAFETY: released once.
    unsafe { vt.reader_release.unwrap()(reader) };
    assert!(READERS_DROPPED.load(Ordering::SeqCst) > dropped_before);

    // The plugin keeps working for new instances.
    let (reader, _cursor) = open_reader(&vt, "h\n1\n", &[]);
    let reader = reader.unwrap();
    assert_eq!(read_header(&vt, reader), ["h"]);
    assert_eq!(
        next_batch(&vt, reader, 10).unwrap().unwrap().rows[0].cells,
        [Cell::Int(1)]
    );
    // SAFETY: released once.
    unsafe { vt.reader_release.unwrap()(reader) };
}

#[test]
fn panic_while_opening_is_an_error_not_an_instance() {
    let vt = vtable();
    let (result, _) = open_reader(&vt, "", &[("panic_on_open", "yes")]);
    let (status, msg) = result.unwrap_err();
    assert_eq!(status, Status::PANIC);
    assert!(msg.contains("open_reader panicked for lines"), "{msg}");
}

#[test]
fn writer_through_the_vtable_and_its_poisoning() {
    let vt = vtable();
    let mut out: Box<Vec<u8>> = Box::default();
    let sink = abi::SinkCallbacks {
        size: size_of::<abi::SinkCallbacks>(),
        ctx: (&mut *out as *mut Vec<u8>).cast(),
        write: Some(vec_write),
        flush: None,
    };
    let mut w = ptr::null_mut();
    let mut err = ErrBuf::new(256);
    // SAFETY: live locals; `out` outlives the writer.
    unsafe {
        let status = vt.open_writer.unwrap()(
            abi::StrRef::new("lines"),
            ptr::null(),
            0,
            &sink,
            &mut w,
            err.ptr(),
        );
        assert_eq!(status, Status::OK, "{}", err.text());
        let columns = [
            Column::new("a"),
            Column {
                name: "级别".into(),
                kind: ColumnKind::Text,
                required: true,
                choices: vec!["VIP".into(), "普通".into()],
                comment: "选一个".into(),
            },
        ];
        let view = ColumnsView::new(&columns);
        let (ptr, len) = view.as_abi();
        assert_eq!(
            vt.writer_write_header.unwrap()(w, ptr, len, err.ptr()),
            Status::OK
        );
        let mut rows = RowBatch::new();
        rows.push_row(
            0,
            vec![
                Cell::text("x"),
                Cell::Date(3),
                Cell::Bool(true),
                Cell::Formula("=1".into()),
            ],
        );
        let view = BatchView::new(&rows);
        assert_eq!(
            vt.writer_write_rows.unwrap()(w, &view.as_abi(), err.ptr()),
            Status::OK
        );
        assert_eq!(
            vt.writer_start_sheet.unwrap()(w, abi::StrRef::new("说明"), err.ptr()),
            Status::OK
        );
        assert_eq!(vt.writer_finish.unwrap()(w, err.ptr()), Status::OK);

        let mut boom = RowBatch::new();
        boom.push_row(0, vec![Cell::text("panic")]);
        let view = BatchView::new(&boom);
        assert_eq!(
            vt.writer_write_rows.unwrap()(w, &view.as_abi(), err.ptr()),
            Status::PANIC
        );
        assert!(err.text().contains("writer asked to panic"));
        assert_eq!(vt.writer_finish.unwrap()(w, err.ptr()), Status::PANIC);
        assert!(err.text().contains("poisoned"));
        vt.writer_release.unwrap()(w);
    }
    assert_eq!(
        String::from_utf8(*out).unwrap(),
        "a,级别{Text|true|VIP/普通|选一个}\nText(\"x\"),Date(3),Bool(true),Formula(\"=1\")\n--- 说明\nEND\n"
    );
}

#[test]
fn native_use_needs_no_ffi() {
    let shared = Arc::new(Mutex::new(Vec::new()));
    struct Shared(Arc<Mutex<Vec<u8>>>);
    impl Write for Shared {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().write(buf)
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let mut w = Lines
        .open_writer("lines", &Options::new(), Box::new(Shared(shared.clone())))
        .unwrap();
    w.write_header(&Column::named(["a"])).unwrap();
    w.finish().unwrap();
    assert_eq!(*shared.lock().unwrap(), b"a\nEND\n");

    let mut r = Lines
        .open_reader(
            "lines",
            &Options::new(),
            Box::new(Cursor::new(b"a\n7\n".to_vec())),
        )
        .unwrap();
    let (header, rows) = dataport_plugin_sdk::read_all(&mut *r, 10).unwrap();
    assert_eq!(header, ["a"]);
    assert_eq!(rows.rows[0].cells, [Cell::Int(7)]);
}
