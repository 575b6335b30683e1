//! The C side of the SDK: conversions between the owned types and the ABI structs, the adapters
//! over the host callbacks, and the functions [`export_plugin!`](crate::export_plugin) exports.
//!
//! Plugin authors never need this module. The host uses its conversions
//! ([`batch_from_abi`], [`header_from_abi`], [`BatchView`], [`str_from_abi`]) so that both sides
//! of the boundary read and write the ABI structs with the same code.
//!
//! Every `extern "C"` function here runs its body inside `catch_unwind`: a panic must never
//! unwind into the host (that would abort the process, or worse across a C frame).

use std::any::Any;
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::marker::PhantomData;
use std::mem::{offset_of, size_of};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::ptr;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU32, Ordering};

use dataport_plugin_abi as abi;
use dataport_plugin_abi::Status;

use crate::cell::{Cell, Row, RowBatch, RowError};
use crate::column::{Column, ColumnKind};
use crate::error::{ErrorKind, PluginError};
use crate::io::ByteSource;
use crate::options::Options;
use crate::plugin::{Descriptor, Plugin, Reader, Writer};

// ---------------------------------------------------------------------------------------------
// Reading ABI structs (used by the plugin for writer input and by the host for reader output)
// ---------------------------------------------------------------------------------------------

/// A slice from a pointer and a length, or `None` if they cannot describe one (null or misaligned
/// pointer with a non-zero length, or a byte size beyond `isize::MAX`). A zero length needs no
/// valid pointer.
///
/// # Safety
/// If `len > 0` and the pointer passes the checks, it must point to `len` initialised `T`s that
/// stay valid and unmodified for `'a`.
unsafe fn slice<'a, T>(ptr: *const T, len: usize) -> Option<&'a [T]> {
    if len == 0 {
        return Some(&[]);
    }
    let too_big = len
        .checked_mul(size_of::<T>())
        .is_none_or(|bytes| bytes > isize::MAX as usize);
    if ptr.is_null() || !ptr.is_aligned() || too_big {
        return None;
    }
    // SAFETY: non-null, aligned, size in range (checked above); validity is the caller's promise.
    Some(unsafe { std::slice::from_raw_parts(ptr, len) })
}

/// The UTF-8 text of a [`abi::StrRef`].
///
/// # Safety
/// `s` must follow the ABI rules: `len` readable bytes at `ptr` (or null/any with `len == 0`),
/// valid for `'a`.
pub unsafe fn str_from_abi<'a>(s: abi::StrRef) -> Result<&'a str, String> {
    // SAFETY: forwarded caller contract.
    let bytes = unsafe { slice(s.ptr, s.len) }.ok_or_else(|| "string with a null pointer".to_owned())?;
    std::str::from_utf8(bytes).map_err(|e| format!("string is not valid UTF-8: {e}"))
}

/// A list of strings (`names`/`len` of a header, or the names given to a writer).
///
/// # Safety
/// `ptr` must point to `len` [`abi::StrRef`]s that follow the ABI rules, valid during the call.
pub unsafe fn strings_from_abi(ptr: *const abi::StrRef, len: usize) -> Result<Vec<String>, String> {
    // SAFETY: forwarded caller contract.
    let refs = unsafe { slice(ptr, len) }.ok_or_else(|| "string list with a null pointer".to_owned())?;
    refs.iter()
        .enumerate()
        // SAFETY: each element follows the ABI rules (caller contract).
        .map(|(i, s)| {
            unsafe { str_from_abi(*s) }
                .map(str::to_owned)
                .map_err(|e| format!("name {}: {e}", i + 1))
        })
        .collect()
}

/// Copies a header into owned strings. Does not release it.
///
/// # Safety
/// `h` must be a header filled in by a successful `reader_header` and not yet released.
pub unsafe fn header_from_abi(h: &abi::Header) -> Result<Vec<String>, String> {
    // SAFETY: forwarded caller contract.
    unsafe { strings_from_abi(h.names, h.len) }.map_err(|e| format!("header: {e}"))
}

/// Copies a cell into an owned [`Cell`].
///
/// # Safety
/// For text and formula cells, `c.value.text` must follow the ABI string rules.
unsafe fn cell_from_abi(c: &abi::Cell) -> Result<Cell, String> {
    // SAFETY (all union reads below): every member is plain data valid for any bit pattern, and the
    // tag says which one the producer wrote; the text pointer's validity is the caller's promise.
    unsafe {
        Ok(match c.tag {
            abi::CELL_NULL => Cell::Null,
            abi::CELL_TEXT => Cell::Text(str_from_abi(c.value.text)?.to_owned()),
            abi::CELL_INT => Cell::Int(c.value.int_value),
            abi::CELL_FLOAT => Cell::Float(c.value.float_value),
            abi::CELL_BOOL => Cell::Bool(c.value.bool_value != 0),
            abi::CELL_DATE => Cell::Date(c.value.date_days),
            abi::CELL_DATETIME => Cell::DateTime(c.value.datetime_micros),
            abi::CELL_FORMULA => Cell::Formula(str_from_abi(c.value.text)?.to_owned()),
            other => return Err(format!("unknown cell tag {other}")),
        })
    }
}

/// Copies a batch into an owned [`RowBatch`]. Does not release it. Errors describe the first
/// broken part (null pointers, bad UTF-8, unknown cell tags) with its row number.
///
/// # Safety
/// `b` must be a batch that follows the ABI rules (filled in by `reader_next_batch` and not yet
/// released, or lent by the host to `writer_write_rows`).
pub unsafe fn batch_from_abi(b: &abi::Batch) -> Result<RowBatch, String> {
    // SAFETY: forwarded caller contract.
    let rows = unsafe { slice(b.rows, b.num_rows) }.ok_or("batch rows: null pointer")?;
    // SAFETY: forwarded caller contract.
    let errors = unsafe { slice(b.errors, b.num_errors) }.ok_or("batch errors: null pointer")?;
    let mut out = RowBatch {
        rows: Vec::with_capacity(rows.len()),
        errors: Vec::with_capacity(errors.len()),
    };
    for row in rows {
        // SAFETY: forwarded caller contract (each row's cells follow the ABI rules).
        let cells = unsafe { slice(row.cells, row.num_cells) }
            .ok_or_else(|| format!("row {}: cells pointer is null", row.number))?;
        let cells = cells
            .iter()
            .enumerate()
            // SAFETY: forwarded caller contract.
            .map(|(i, c)| {
                unsafe { cell_from_abi(c) }.map_err(|e| format!("row {} cell {}: {e}", row.number, i + 1))
            })
            .collect::<Result<Vec<_>, _>>()?;
        out.rows.push(Row {
            number: row.number,
            cells,
        });
    }
    for e in errors {
        // SAFETY: forwarded caller contract.
        let message =
            unsafe { str_from_abi(e.message) }.map_err(|err| format!("row error {}: {err}", e.row))?;
        out.errors.push(RowError {
            row: e.row,
            kind: ErrorKind::from_status(e.kind),
            message: message.to_owned(),
        });
    }
    Ok(out)
}

/// Copies the columns a host lends to `writer_write_header`.
///
/// # Safety
/// `ptr` must point to `len` [`abi::Column`]s following the ABI string rules (or be null with
/// `len == 0`).
pub unsafe fn columns_from_abi(ptr: *const abi::Column, len: usize) -> Result<Vec<Column>, String> {
    // SAFETY: forwarded caller contract.
    let columns = unsafe { slice(ptr, len) }.ok_or("columns pointer is null")?;
    columns
        .iter()
        .enumerate()
        .map(|(i, c)| {
            let field = |what: &str, s: abi::StrRef| {
                // SAFETY: forwarded caller contract.
                unsafe { str_from_abi(s) }.map_err(|e| format!("column {}: {what}: {e}", i + 1))
            };
            let choices = field("choices", c.choices)?;
            Ok(Column {
                name: field("name", c.name)?.to_owned(),
                kind: ColumnKind::from_abi(c.kind),
                required: c.flags & abi::COLUMN_REQUIRED != 0,
                choices: if choices.is_empty() {
                    Vec::new()
                } else {
                    choices.split('\n').map(str::to_owned).collect()
                },
                comment: field("comment", c.comment)?.to_owned(),
            })
        })
        .collect()
}

/// A borrowed ABI view of [`Column`]s, for lending them to a writer for one call (the host's
/// `writer_write_header`).
pub struct ColumnsView<'a> {
    columns: Vec<abi::Column>,
    // Never read directly: the joined choices the `columns` point into.
    _choices: Vec<String>,
    _source: PhantomData<&'a [Column]>,
}

impl<'a> ColumnsView<'a> {
    pub fn new(columns: &'a [Column]) -> ColumnsView<'a> {
        let choices: Vec<String> = columns.iter().map(|c| c.choices.join("\n")).collect();
        let abi_columns = columns
            .iter()
            .zip(&choices)
            .map(|(c, joined)| abi::Column {
                name: abi::StrRef::new(&c.name),
                kind: c.kind.to_abi(),
                flags: if c.required { abi::COLUMN_REQUIRED } else { 0 },
                choices: abi::StrRef::new(joined),
                comment: abi::StrRef::new(&c.comment),
            })
            .collect();
        ColumnsView {
            columns: abi_columns,
            _choices: choices,
            _source: PhantomData,
        }
    }

    /// Pointer and length of the ABI array; valid while `self` is.
    pub fn as_abi(&self) -> (*const abi::Column, usize) {
        let ptr = if self.columns.is_empty() {
            ptr::null()
        } else {
            self.columns.as_ptr()
        };
        (ptr, self.columns.len())
    }
}

// ---------------------------------------------------------------------------------------------
// Writing ABI structs
// ---------------------------------------------------------------------------------------------

fn cell_to_abi(c: &Cell) -> abi::Cell {
    let (tag, value) = match c {
        Cell::Null => return abi::Cell::NULL,
        Cell::Text(s) => (
            abi::CELL_TEXT,
            abi::CellValue {
                text: abi::StrRef::new(s),
            },
        ),
        Cell::Int(v) => (abi::CELL_INT, abi::CellValue { int_value: *v }),
        Cell::Float(v) => (abi::CELL_FLOAT, abi::CellValue { float_value: *v }),
        // Zero the whole union first so no uninitialised padding bytes cross the boundary.
        Cell::Bool(v) => {
            let mut value = abi::CellValue { int_value: 0 };
            value.bool_value = u8::from(*v);
            (abi::CELL_BOOL, value)
        }
        Cell::Date(d) => {
            let mut value = abi::CellValue { int_value: 0 };
            value.date_days = *d;
            (abi::CELL_DATE, value)
        }
        Cell::DateTime(v) => (abi::CELL_DATETIME, abi::CellValue { datetime_micros: *v }),
        Cell::Formula(s) => (
            abi::CELL_FORMULA,
            abi::CellValue {
                text: abi::StrRef::new(s),
            },
        ),
    };
    abi::Cell { tag, value }
}

/// The ABI arrays describing a batch. The raw pointers inside point into the strings of the
/// batch they were built from and into `cells`, whose heap buffers do not move when this struct
/// moves.
struct BatchArrays {
    // Never read directly: `rows` point into it.
    _cells: Vec<abi::Cell>,
    rows: Vec<abi::Row>,
    errors: Vec<abi::RowError>,
}

impl BatchArrays {
    fn new(batch: &RowBatch) -> BatchArrays {
        let cells: Vec<abi::Cell> = batch
            .rows
            .iter()
            .flat_map(|r| r.cells.iter().map(cell_to_abi))
            .collect();
        let mut rows = Vec::with_capacity(batch.rows.len());
        let mut start = 0;
        for row in &batch.rows {
            let n = row.cells.len();
            // `cells` is complete, so these pointers stay valid as long as `cells` is not touched.
            let ptr = if n == 0 {
                ptr::null()
            } else {
                cells[start..].as_ptr()
            };
            rows.push(abi::Row {
                number: row.number,
                cells: ptr,
                num_cells: n,
            });
            start += n;
        }
        let errors = batch
            .errors
            .iter()
            .map(|e| abi::RowError {
                row: e.row,
                kind: e.kind.status(),
                message: abi::StrRef::new(&e.message),
            })
            .collect();
        BatchArrays {
            _cells: cells,
            rows,
            errors,
        }
    }

    fn as_abi(
        &self,
        release: Option<abi::ReleaseBatchFn>,
        private_data: *mut std::ffi::c_void,
    ) -> abi::Batch {
        abi::Batch {
            rows: if self.rows.is_empty() {
                ptr::null()
            } else {
                self.rows.as_ptr()
            },
            num_rows: self.rows.len(),
            errors: if self.errors.is_empty() {
                ptr::null()
            } else {
                self.errors.as_ptr()
            },
            num_errors: self.errors.len(),
            release,
            private_data,
        }
    }
}

/// A borrowed ABI view of a [`RowBatch`], for lending a batch across the boundary for the
/// duration of one call (the host's `writer_write_rows`). Its `release` is null.
pub struct BatchView<'a> {
    arrays: BatchArrays,
    _batch: PhantomData<&'a RowBatch>,
}

impl<'a> BatchView<'a> {
    pub fn new(batch: &'a RowBatch) -> BatchView<'a> {
        BatchView {
            arrays: BatchArrays::new(batch),
            _batch: PhantomData,
        }
    }

    /// The ABI struct; valid while `self` (and so the batch) is.
    pub fn as_abi(&self) -> abi::Batch {
        self.arrays.as_abi(None, ptr::null_mut())
    }
}

/// A batch handed to the host: owns the data its ABI arrays point into.
struct ExportedBatch {
    arrays: BatchArrays,
    // Never read: kept so that the text the arrays point into lives as long as they do.
    _batch: RowBatch,
}

fn export_batch(batch: RowBatch) -> abi::Batch {
    let arrays = BatchArrays::new(&batch);
    // Moving `batch` into the box moves only its Vec headers, not the string bytes `arrays`
    // points into.
    let owned = Box::new(ExportedBatch {
        arrays,
        _batch: batch,
    });
    let view = owned.arrays.as_abi(Some(release_batch), ptr::null_mut());
    abi::Batch {
        private_data: Box::into_raw(owned).cast(),
        ..view
    }
}

unsafe extern "C" fn release_batch(batch: *mut abi::Batch) {
    let _ = catch_unwind(AssertUnwindSafe(|| {
        // SAFETY: the host passes a batch this SDK filled in (ABI release rule), or null.
        let Some(b) = (unsafe { batch.as_mut() }) else {
            return;
        };
        let owned = std::mem::replace(&mut b.private_data, ptr::null_mut());
        if !owned.is_null() {
            // SAFETY: `private_data` was made by `Box::into_raw` in `export_batch`, and was nulled
            // above, so a second release cannot free it twice.
            drop(unsafe { Box::from_raw(owned.cast::<ExportedBatch>()) });
        }
        *b = abi::Batch::EMPTY;
    }));
}

struct ExportedHeader {
    refs: Vec<abi::StrRef>,
    _names: Vec<String>,
}

fn export_header(names: Vec<String>) -> abi::Header {
    let refs: Vec<abi::StrRef> = names.iter().map(|n| abi::StrRef::new(n)).collect();
    let owned = Box::new(ExportedHeader { refs, _names: names });
    let (ptr, len) = (
        if owned.refs.is_empty() {
            ptr::null()
        } else {
            owned.refs.as_ptr()
        },
        owned.refs.len(),
    );
    abi::Header {
        names: ptr,
        len,
        release: Some(release_header),
        private_data: Box::into_raw(owned).cast(),
    }
}

unsafe extern "C" fn release_header(header: *mut abi::Header) {
    let _ = catch_unwind(AssertUnwindSafe(|| {
        // SAFETY: the host passes a header this SDK filled in (ABI release rule), or null.
        let Some(h) = (unsafe { header.as_mut() }) else {
            return;
        };
        let owned = std::mem::replace(&mut h.private_data, ptr::null_mut());
        if !owned.is_null() {
            // SAFETY: made by `Box::into_raw` in `export_header`; nulled above against double frees.
            drop(unsafe { Box::from_raw(owned.cast::<ExportedHeader>()) });
        }
        *h = abi::Header::EMPTY;
    }));
}

/// Copies `message` into the host's error buffer, truncated at a character boundary.
///
/// # Safety
/// `err` must be null or point to a [`abi::PluginError`] whose `message` has `capacity` writable
/// bytes (or is null with capacity 0).
pub unsafe fn write_error(err: *mut abi::PluginError, message: &str) {
    if err.is_null() {
        return;
    }
    // Field by field through the raw pointer: a v1 host's struct ends at `len`, so no reference
    // to a whole (v2-sized) `PluginError` may be formed.
    // SAFETY: caller contract; `message`, `capacity` and `len` exist in every version.
    let (buf, capacity) = unsafe {
        (
            (&raw const (*err).message).read(),
            (&raw const (*err).capacity).read(),
        )
    };
    let n = if buf.is_null() {
        0
    } else {
        let mut n = message.len().min(capacity);
        while !message.is_char_boundary(n) {
            n -= 1;
        }
        // SAFETY: `n <= capacity` bytes fit the host's buffer (caller contract); the regions
        // cannot overlap because the message is this side's memory.
        unsafe { ptr::copy_nonoverlapping(message.as_ptr(), buf, n) };
        n
    };
    // SAFETY: as above.
    unsafe { (&raw mut (*err).len).write(n) };
}

/// Writes `e` into the host's error buffer: the message, and where the host speaks v2, the row
/// and the row-only flag.
///
/// # Safety
/// As for [`write_error`].
pub unsafe fn write_plugin_error(err: *mut abi::PluginError, e: &PluginError) {
    // SAFETY: caller contract.
    unsafe { write_error(err, &e.message) };
    if err.is_null() || HOST_ABI.load(Ordering::Relaxed) < 2 {
        return; // a v1 host's struct ends at `len`
    }
    // SAFETY: caller contract; a v2 host's struct has `row` and `flags`.
    unsafe {
        (&raw mut (*err).row).write(e.row.unwrap_or(0));
        (&raw mut (*err).flags).write(if e.row_only { abi::ERROR_ROW_ONLY } else { 0 });
    }
}

/// The ABI version the host asked for in the handshake (1 until one happens): it says whether
/// the host's error buffers have `row` and `flags`. One value per library (each plugin library
/// carries its own copy of the SDK), and every host in a process speaks the same version.
static HOST_ABI: AtomicU32 = AtomicU32::new(1);

/// The host's error buffer, checked once when an exported function is entered.
struct ErrorOut(*mut abi::PluginError);

impl ErrorOut {
    /// # Safety
    /// `err` must be null or follow the ABI error buffer rule (see [`write_error`]) for as long as
    /// the returned value is used.
    unsafe fn new(err: *mut abi::PluginError) -> ErrorOut {
        ErrorOut(err)
    }

    fn set(&self, message: &str) {
        // SAFETY: promised when this value was made.
        unsafe { write_error(self.0, message) }
    }

    fn set_error(&self, e: &PluginError) {
        // SAFETY: promised when this value was made.
        unsafe { write_plugin_error(self.0, e) }
    }
}

/// The message of a panic payload (`panic!` gives `&str` or `String`).
pub fn panic_message(payload: &(dyn Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_owned()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "panic with a non-string payload".to_owned()
    }
}

/// Turns a caught panic into its message. Non-string payloads are leaked rather than dropped,
/// because their destructor could panic again outside any `catch_unwind`.
fn take_panic(payload: Box<dyn Any + Send>) -> String {
    let msg = panic_message(&*payload);
    if payload.is::<&str>() || payload.is::<String>() {
        drop(payload);
    } else {
        std::mem::forget(payload);
    }
    msg
}

/// Runs `f`, converting errors and panics into a status plus a message in `err`.
fn guard(err: ErrorOut, f: impl FnOnce() -> Result<Status, PluginError>) -> Status {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(Ok(status)) => status,
        Ok(Err(e)) => {
            err.set_error(&e);
            e.kind.status()
        }
        Err(payload) => {
            err.set(&format!("plugin panicked: {}", take_panic(payload)));
            Status::PANIC
        }
    }
}

fn invalid(message: impl Into<String>) -> PluginError {
    PluginError::new(ErrorKind::InvalidArgument, message)
}

// ---------------------------------------------------------------------------------------------
// Byte source and sink over the host callbacks
// ---------------------------------------------------------------------------------------------

/// Reads `T` from a host struct that starts with a `size` field, requiring that the host's struct
/// is at least as large as ours (this is ABI v1, the first version, so nothing is optional yet).
///
/// # Safety
/// `p` must be null or point to a host struct of at least `size` readable bytes, whose first field
/// is that `size`.
unsafe fn read_sized<T: Copy>(p: *const T, what: &str) -> Result<T, PluginError> {
    if p.is_null() {
        return Err(invalid(format!("{what} is null")));
    }
    // SAFETY: non-null; every sized ABI struct starts with a `usize` size (caller contract).
    let size = unsafe { p.cast::<usize>().read_unaligned() };
    if size < size_of::<T>() {
        return Err(invalid(format!(
            "{what} is {size} bytes, ABI v{} needs {}",
            abi::ABI_VERSION,
            size_of::<T>()
        )));
    }
    // SAFETY: the host's struct holds at least `size_of::<T>()` bytes, laid out as `T` (ABI).
    Ok(unsafe { p.read_unaligned() })
}

/// The reader's input: the host's `read`/`seek` callbacks.
struct HostSource {
    ctx: *mut std::ffi::c_void,
    read: abi::ReadFn,
    seek: Option<abi::SeekFn>,
}

// SAFETY: the ABI lets the host call one instance from different threads, never concurrently, and
// requires `ctx` to be usable from whichever thread calls the instance.
unsafe impl Send for HostSource {}

impl Read for HostSource {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let mut n = 0usize;
        // SAFETY: `buf` is valid for `buf.len()` bytes; `ctx` is valid until the reader is released
        // (ABI), which is after this call.
        let status = unsafe { (self.read)(self.ctx, buf.as_mut_ptr(), buf.len(), &mut n) };
        match status {
            Status::OK if n <= buf.len() => Ok(n),
            Status::OK => Err(io::Error::other(
                "host read callback reported more bytes than requested",
            )),
            s => Err(io::Error::other(format!("host read callback failed ({s})"))),
        }
    }
}

impl Seek for HostSource {
    fn seek(&mut self, pos: SeekFrom) -> io::Result<u64> {
        let Some(seek) = self.seek else {
            return Err(io::Error::new(
                io::ErrorKind::Unsupported,
                "the host gives seekable input only to plugins that declare needs_seek",
            ));
        };
        let (offset, whence) = match pos {
            SeekFrom::Start(p) => (
                i64::try_from(p)
                    .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "seek offset too large"))?,
                abi::SEEK_SET,
            ),
            SeekFrom::Current(o) => (o, abi::SEEK_CUR),
            SeekFrom::End(o) => (o, abi::SEEK_END),
        };
        let mut pos = 0u64;
        // SAFETY: `ctx` is valid until the reader is released (ABI); `pos` is a valid out slot.
        match unsafe { seek(self.ctx, offset, whence, &mut pos) } {
            Status::OK => Ok(pos),
            s => Err(io::Error::other(format!("host seek callback failed ({s})"))),
        }
    }
}

impl ByteSource for HostSource {
    fn can_seek(&self) -> bool {
        self.seek.is_some()
    }
}

/// The writer's output: the host's `write`/`flush` callbacks.
struct HostSink {
    ctx: *mut std::ffi::c_void,
    write: abi::WriteFn,
    flush: Option<abi::FlushFn>,
}

// SAFETY: as for `HostSource`.
unsafe impl Send for HostSink {}

impl Write for HostSink {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        // SAFETY: `buf` is valid for `buf.len()` bytes; `ctx` is valid until the writer is released.
        match unsafe { (self.write)(self.ctx, buf.as_ptr(), buf.len()) } {
            Status::OK => Ok(buf.len()),
            s => Err(io::Error::other(format!("host write callback failed ({s})"))),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        let Some(flush) = self.flush else { return Ok(()) };
        // SAFETY: as for `write`.
        match unsafe { flush(self.ctx) } {
            Status::OK => Ok(()),
            s => Err(io::Error::other(format!("host flush callback failed ({s})"))),
        }
    }
}

/// # Safety
/// `options` must point to `len` [`abi::KeyValue`]s following the ABI string rules.
unsafe fn options_from_abi(options: *const abi::KeyValue, len: usize) -> Result<Options, PluginError> {
    // SAFETY: forwarded caller contract.
    let pairs = unsafe { slice(options, len) }.ok_or_else(|| invalid("options pointer is null"))?;
    pairs
        .iter()
        .map(|kv| {
            // SAFETY: forwarded caller contract.
            let key = unsafe { str_from_abi(kv.key) }.map_err(|e| invalid(format!("option key: {e}")))?;
            // SAFETY: forwarded caller contract.
            let value =
                unsafe { str_from_abi(kv.value) }.map_err(|e| invalid(format!("option `{key}`: {e}")))?;
            Ok((key.to_owned(), value.to_owned()))
        })
        .collect()
}

// ---------------------------------------------------------------------------------------------
// Instances
// ---------------------------------------------------------------------------------------------

/// What a reader/writer handle points to. `poisoned` holds the message of the panic that broke
/// it: after a panic the object may be half-updated, so it is never called again.
struct Instance<T> {
    inner: T,
    poisoned: Option<String>,
}

type ReaderInstance = Instance<Box<dyn Reader>>;
type WriterInstance = Instance<Box<dyn Writer>>;

/// Calls `f` on an instance (`None` for a null handle), honouring and setting the poison flag.
fn call<T>(
    inst: Option<&mut Instance<T>>,
    what: &str,
    err: ErrorOut,
    f: impl FnOnce(&mut T) -> Result<Status, PluginError>,
) -> Status {
    let Some(inst) = inst else {
        err.set(&format!("{what} handle is null"));
        return Status::INVALID_ARGUMENT;
    };
    if let Some(msg) = &inst.poisoned {
        err.set(&format!("this {what} is poisoned by an earlier panic: {msg}"));
        return Status::PANIC;
    }
    match catch_unwind(AssertUnwindSafe(|| f(&mut inst.inner))) {
        Ok(Ok(status)) => status,
        Ok(Err(e)) => {
            err.set_error(&e);
            e.kind.status()
        }
        Err(payload) => {
            let msg = take_panic(payload);
            err.set(&format!("plugin panicked: {msg}"));
            inst.poisoned = Some(msg);
            Status::PANIC
        }
    }
}

/// Frees an instance; a panicking destructor is contained (the rest is leaked).
///
/// # Safety
/// `handle` must be null or a live handle created by this SDK for an `Instance<T>`, released once.
unsafe fn release_instance<T>(handle: *mut Instance<T>) {
    if handle.is_null() {
        return;
    }
    let _ = catch_unwind(AssertUnwindSafe(|| {
        // SAFETY: made by `Box::into_raw` in `open_*`; the host releases each handle once (ABI).
        drop(unsafe { Box::from_raw(handle) });
    }));
}

/// Turns a handle into its instance and the error pointer into an [`ErrorOut`].
///
/// # Safety
/// `handle` must be null or a live handle this SDK made for an `Instance<T>`, not used
/// concurrently (the host calls an instance sequentially); `err` must follow the ABI error buffer
/// rule.
unsafe fn enter<'a, T, H>(
    handle: *mut H,
    err: *mut abi::PluginError,
) -> (Option<&'a mut Instance<T>>, ErrorOut) {
    // SAFETY: caller contract.
    unsafe { (handle.cast::<Instance<T>>().as_mut(), ErrorOut::new(err)) }
}

unsafe extern "C" fn reader_header(
    reader: *mut abi::ReaderHandle,
    out: *mut abi::Header,
    err: *mut abi::PluginError,
) -> Status {
    // SAFETY: host contract: a live handle from `open_reader`, used sequentially; ABI error buffer.
    let (inst, err) = unsafe { enter::<Box<dyn Reader>, _>(reader, err) };
    call(inst, "reader", err, |r| {
        if out.is_null() {
            return Err(invalid("header output is null"));
        }
        let names = r.header()?;
        // SAFETY: checked non-null; the host provides a writable `Header` slot.
        unsafe { out.write(export_header(names)) };
        Ok(Status::OK)
    })
}

unsafe extern "C" fn reader_next_batch(
    reader: *mut abi::ReaderHandle,
    max_rows: usize,
    out: *mut abi::Batch,
    err: *mut abi::PluginError,
) -> Status {
    // SAFETY: host contract: a live handle from `open_reader`, used sequentially; ABI error buffer.
    let (inst, err) = unsafe { enter::<Box<dyn Reader>, _>(reader, err) };
    call(inst, "reader", err, |r| {
        if out.is_null() {
            return Err(invalid("batch output is null"));
        }
        match r.next_batch(max_rows.max(1))? {
            None => Ok(Status::END_OF_DATA),
            Some(batch) => {
                // SAFETY: checked non-null; the host provides a writable `Batch` slot.
                unsafe { out.write(export_batch(batch)) };
                Ok(Status::OK)
            }
        }
    })
}

unsafe extern "C" fn reader_checkpoint(
    reader: *mut abi::ReaderHandle,
    out: *mut abi::Checkpoint,
    err: *mut abi::PluginError,
) -> Status {
    // SAFETY: host contract: a live handle from `open_reader`, used sequentially; ABI error buffer.
    let (inst, err) = unsafe { enter::<Box<dyn Reader>, _>(reader, err) };
    call(inst, "reader", err, |r| {
        // SAFETY: the host provides a writable checkpoint whose `state` buffer holds
        // `state_capacity` bytes (ABI), or null.
        let out = unsafe { out.as_mut() }.ok_or_else(|| invalid("checkpoint output is null"))?;
        let Some(at) = r.checkpoint()? else {
            return Ok(Status::UNSUPPORTED);
        };
        if at.state.len() > out.state_capacity || (out.state.is_null() && !at.state.is_empty()) {
            return Ok(Status::UNSUPPORTED);
        }
        if !at.state.is_empty() {
            // SAFETY: checked: the buffer is non-null and holds at least `at.state.len()` bytes.
            unsafe { ptr::copy_nonoverlapping(at.state.as_ptr(), out.state, at.state.len()) };
        }
        out.offset = at.offset;
        out.next_row = at.next_row;
        out.state_len = at.state.len();
        Ok(Status::OK)
    })
}

unsafe extern "C" fn reader_rows_total(
    reader: *mut abi::ReaderHandle,
    out_rows: *mut u64,
    err: *mut abi::PluginError,
) -> Status {
    // SAFETY: host contract: a live handle from `open_reader`, used sequentially; ABI error buffer.
    let (inst, err) = unsafe { enter::<Box<dyn Reader>, _>(reader, err) };
    call(inst, "reader", err, |r| {
        if out_rows.is_null() {
            return Err(invalid("row count output is null"));
        }
        match r.rows_total() {
            Some(rows) => {
                // SAFETY: checked non-null; the host provides a writable u64.
                unsafe { out_rows.write(rows) };
                Ok(Status::OK)
            }
            None => Ok(Status::UNSUPPORTED),
        }
    })
}

unsafe extern "C" fn reader_resume(
    reader: *mut abi::ReaderHandle,
    checkpoint: *const abi::Checkpoint,
    err: *mut abi::PluginError,
) -> Status {
    // SAFETY: host contract: a live handle from `open_reader`, used sequentially; ABI error buffer.
    let (inst, err) = unsafe { enter::<Box<dyn Reader>, _>(reader, err) };
    call(inst, "reader", err, |r| {
        // SAFETY: the host lends a valid checkpoint for the call, or null.
        let cp = unsafe { checkpoint.as_ref() }.ok_or_else(|| invalid("checkpoint is null"))?;
        // SAFETY: as above: `state` holds `state_len` bytes.
        let state = unsafe { slice(cp.state.cast_const(), cp.state_len) }
            .ok_or_else(|| invalid("checkpoint state is null"))?;
        r.resume(&crate::Checkpoint {
            offset: cp.offset,
            next_row: cp.next_row,
            state: state.to_vec(),
        })?;
        Ok(Status::OK)
    })
}

unsafe extern "C" fn reader_release(reader: *mut abi::ReaderHandle) {
    // SAFETY: host contract: a handle from `open_reader`, released exactly once.
    unsafe { release_instance(reader.cast::<ReaderInstance>()) }
}

unsafe extern "C" fn writer_write_header(
    writer: *mut abi::WriterHandle,
    columns: *const abi::Column,
    num_columns: usize,
    err: *mut abi::PluginError,
) -> Status {
    // SAFETY: host contract: a live handle from `open_writer`, used sequentially; ABI error buffer.
    let (inst, err) = unsafe { enter::<Box<dyn Writer>, _>(writer, err) };
    call(inst, "writer", err, |w| {
        // SAFETY: the host lends `num_columns` valid columns for this call.
        let columns = unsafe { columns_from_abi(columns, num_columns) }.map_err(invalid)?;
        w.write_header(&columns)?;
        Ok(Status::OK)
    })
}

unsafe extern "C" fn writer_start_sheet(
    writer: *mut abi::WriterHandle,
    name: abi::StrRef,
    err: *mut abi::PluginError,
) -> Status {
    // SAFETY: host contract: a live handle from `open_writer`, used sequentially; ABI error buffer.
    let (inst, err) = unsafe { enter::<Box<dyn Writer>, _>(writer, err) };
    call(inst, "writer", err, |w| {
        // SAFETY: the host lends the name for this call.
        let name = unsafe { str_from_abi(name) }.map_err(|e| invalid(format!("sheet name: {e}")))?;
        w.start_sheet(name)?;
        Ok(Status::OK)
    })
}

unsafe extern "C" fn writer_write_rows(
    writer: *mut abi::WriterHandle,
    batch: *const abi::Batch,
    err: *mut abi::PluginError,
) -> Status {
    // SAFETY: host contract: a live handle from `open_writer`, used sequentially; ABI error buffer.
    let (inst, err) = unsafe { enter::<Box<dyn Writer>, _>(writer, err) };
    call(inst, "writer", err, |w| {
        // SAFETY: the host lends a valid batch for this call, or null.
        let batch = unsafe { batch.as_ref() }.ok_or_else(|| invalid("batch is null"))?;
        // SAFETY: as above.
        let rows = unsafe { batch_from_abi(batch) }.map_err(invalid)?;
        w.write_rows(&rows)?;
        Ok(Status::OK)
    })
}

unsafe extern "C" fn writer_finish(writer: *mut abi::WriterHandle, err: *mut abi::PluginError) -> Status {
    // SAFETY: host contract: a live handle from `open_writer`, used sequentially; ABI error buffer.
    let (inst, err) = unsafe { enter::<Box<dyn Writer>, _>(writer, err) };
    call(inst, "writer", err, |w| {
        w.finish()?;
        Ok(Status::OK)
    })
}

unsafe extern "C" fn writer_release(writer: *mut abi::WriterHandle) {
    // SAFETY: host contract: a handle from `open_writer`, released exactly once.
    unsafe { release_instance(writer.cast::<WriterInstance>()) }
}

// ---------------------------------------------------------------------------------------------
// Plugin-level entry points, generic over the type `export_plugin!` generates
// ---------------------------------------------------------------------------------------------

/// Implemented by the hidden type [`export_plugin!`](crate::export_plugin) generates; gives the
/// exported functions the plugin value and its per-library state. Not for direct use.
#[doc(hidden)]
pub trait Export: 'static {
    /// The library's state, a `static` in the plugin crate (not in the SDK, so two plugins linked
    /// natively into one binary do not share it).
    fn state() -> &'static ExportState;
    /// Creates the plugin value (once).
    fn make() -> Box<dyn Plugin>;
}

/// Per-library state: the plugin value and its descriptor in ABI form.
#[doc(hidden)]
pub struct ExportState {
    plugin: OnceLock<Box<dyn Plugin>>,
    descriptor: OnceLock<Result<DescriptorStore, String>>,
}

impl ExportState {
    #[allow(clippy::new_without_default)] // used in a `static`, which needs a const fn
    pub const fn new() -> ExportState {
        ExportState {
            plugin: OnceLock::new(),
            descriptor: OnceLock::new(),
        }
    }
}

/// The descriptor as ABI strings, kept for the life of the library.
struct DescriptorStore {
    abi: abi::PluginDescriptor,
    // Never read: the strings and option specs `abi` points into.
    _strings: Vec<String>,
    _options: Vec<abi::OptionSpec>,
}

// SAFETY: the raw pointers in `abi` and `_options` point into `_strings` and `_options`, which
// are never mutated after construction, so sharing and sending the store is sharing immutable
// data.
unsafe impl Send for DescriptorStore {}
// SAFETY: as above.
unsafe impl Sync for DescriptorStore {}

fn join_list(what: &str, items: &[String]) -> Result<String, String> {
    for item in items {
        if item.contains(',') || item.trim().is_empty() {
            return Err(format!("descriptor {what} `{item}` is empty or contains a comma"));
        }
    }
    Ok(items.iter().map(|s| s.trim()).collect::<Vec<_>>().join(","))
}

impl DescriptorStore {
    fn new(d: &Descriptor) -> Result<DescriptorStore, String> {
        if d.name.trim().is_empty() {
            return Err("descriptor name is empty".into());
        }
        if d.formats.is_empty() {
            return Err(format!("plugin `{}` declares no format", d.name));
        }
        let mut strings = vec![
            d.name.clone(),
            d.version.clone(),
            join_list("format", &d.formats)?,
            join_list("extension", &d.extensions)?,
            join_list("module", &d.modules)?,
        ];
        for o in &d.options {
            if o.name.trim().is_empty() || o.choices.iter().any(|c| c.contains('\n')) {
                return Err(format!(
                    "option `{}` has an empty name or a choice with a line break",
                    o.name
                ));
            }
            strings.extend([
                o.name.clone(),
                o.default.clone(),
                o.choices.join("\n"),
                o.help.clone(),
            ]);
        }
        // A String's bytes stay put when the String itself moves, so these refs outlive the Vec's
        // growth and the move into the store.
        let s = |i: usize| abi::StrRef::new(&strings[i]);
        let options: Vec<abi::OptionSpec> = d
            .options
            .iter()
            .enumerate()
            .map(|(n, o)| abi::OptionSpec {
                name: s(5 + 4 * n),
                kind: o.kind.to_abi(),
                uses: o.uses_to_abi(),
                default_value: s(6 + 4 * n),
                choices: s(7 + 4 * n),
                help: s(8 + 4 * n),
            })
            .collect();
        let capabilities = d.capabilities.to_abi();
        let abi = abi::PluginDescriptor {
            size: size_of::<abi::PluginDescriptor>(),
            name: s(0),
            version: s(1),
            formats: s(2),
            extensions: s(3),
            modules: s(4),
            capabilities,
            options: if options.is_empty() {
                ptr::null()
            } else {
                options.as_ptr()
            },
            num_options: options.len(),
        };
        // Moving the Vecs moves their headers only; the bytes `abi` points to stay put.
        Ok(DescriptorStore {
            abi,
            _strings: strings,
            _options: options,
        })
    }
}

fn plugin<E: Export>() -> &'static dyn Plugin {
    &**E::state().plugin.get_or_init(E::make)
}

fn descriptor<E: Export>() -> Result<&'static DescriptorStore, String> {
    E::state()
        .descriptor
        .get_or_init(|| DescriptorStore::new(&plugin::<E>().descriptor()))
        .as_ref()
        .map_err(Clone::clone)
}

unsafe extern "C" fn describe<E: Export>() -> *const abi::PluginDescriptor {
    // `init` already built the descriptor, so this cannot normally fail or panic; if it does,
    // null tells the host the plugin is broken.
    match catch_unwind(descriptor::<E>) {
        Ok(Ok(store)) => &store.abi,
        _ => ptr::null(),
    }
}

unsafe extern "C" fn open_reader<E: Export>(
    format: abi::StrRef,
    options: *const abi::KeyValue,
    num_options: usize,
    source: *const abi::SourceCallbacks,
    out: *mut *mut abi::ReaderHandle,
    err: *mut abi::PluginError,
) -> Status {
    // SAFETY: host contract (ABI error buffer rule).
    let err = unsafe { ErrorOut::new(err) };
    guard(err, || {
        if out.is_null() {
            return Err(invalid("reader output is null"));
        }
        // SAFETY: the host lends these for the call (ABI ownership rules).
        let format = unsafe { str_from_abi(format) }.map_err(|e| invalid(format!("format: {e}")))?;
        // SAFETY: as above.
        let options = unsafe { options_from_abi(options, num_options) }?;
        // SAFETY: as above; the struct is copied, its `ctx` lives until the reader is released.
        let cb = unsafe { read_sized(source, "source callbacks") }?;
        let read = cb.read.ok_or_else(|| invalid("source has no read callback"))?;
        let source = HostSource {
            ctx: cb.ctx,
            read,
            seek: cb.seek,
        };
        let reader = plugin::<E>().open_reader(format, &options, Box::new(source))?;
        let handle = Box::into_raw(Box::new(ReaderInstance {
            inner: reader,
            poisoned: None,
        }));
        // SAFETY: checked non-null; the host provides the slot.
        unsafe { out.write(handle.cast()) };
        Ok(Status::OK)
    })
}

unsafe extern "C" fn open_writer<E: Export>(
    format: abi::StrRef,
    options: *const abi::KeyValue,
    num_options: usize,
    sink: *const abi::SinkCallbacks,
    out: *mut *mut abi::WriterHandle,
    err: *mut abi::PluginError,
) -> Status {
    // SAFETY: host contract (ABI error buffer rule).
    let err = unsafe { ErrorOut::new(err) };
    guard(err, || {
        if out.is_null() {
            return Err(invalid("writer output is null"));
        }
        // SAFETY: the host lends these for the call (ABI ownership rules).
        let format = unsafe { str_from_abi(format) }.map_err(|e| invalid(format!("format: {e}")))?;
        // SAFETY: as above.
        let options = unsafe { options_from_abi(options, num_options) }?;
        // SAFETY: as above; the struct is copied, its `ctx` lives until the writer is released.
        let cb = unsafe { read_sized(sink, "sink callbacks") }?;
        let write = cb.write.ok_or_else(|| invalid("sink has no write callback"))?;
        let sink = HostSink {
            ctx: cb.ctx,
            write,
            flush: cb.flush,
        };
        let writer = plugin::<E>().open_writer(format, &options, Box::new(sink))?;
        let handle = Box::into_raw(Box::new(WriterInstance {
            inner: writer,
            poisoned: None,
        }));
        // SAFETY: checked non-null; the host provides the slot.
        unsafe { out.write(handle.cast()) };
        Ok(Status::OK)
    })
}

fn vtable<E: Export>() -> abi::PluginVTable {
    abi::PluginVTable {
        size: size_of::<abi::PluginVTable>(),
        abi_version: abi::ABI_VERSION,
        describe: Some(describe::<E>),
        open_reader: Some(open_reader::<E>),
        reader_header: Some(reader_header),
        reader_next_batch: Some(reader_next_batch),
        reader_release: Some(reader_release),
        open_writer: Some(open_writer::<E>),
        writer_write_header: Some(writer_write_header),
        writer_write_rows: Some(writer_write_rows),
        writer_finish: Some(writer_finish),
        writer_release: Some(writer_release),
        writer_start_sheet: Some(writer_start_sheet),
        reader_checkpoint: Some(reader_checkpoint),
        reader_rows_total: Some(reader_rows_total),
        reader_resume: Some(reader_resume),
    }
}

/// The body of the generated `dataport_plugin_init`: the handshake described in
/// `dataport-plugin-abi`.
///
/// # Safety
/// `out` must be null or point to a writable vtable of at least `(*out).size` bytes whose `size`
/// is set; `err` must follow the ABI error buffer rule.
#[doc(hidden)]
pub unsafe fn init<E: Export>(
    abi_version: u32,
    out: *mut abi::PluginVTable,
    err: *mut abi::PluginError,
) -> Status {
    // SAFETY: caller contract (ABI error buffer rule).
    let err = unsafe { ErrorOut::new(err) };
    guard(err, || {
        if out.is_null() {
            return Err(invalid("vtable pointer is null"));
        }
        // Only raw-pointer field accesses: the host's vtable may be smaller than ours (an older
        // host), so no reference to a whole `PluginVTable` may be formed.
        // SAFETY: `size` is at offset 0 of every version's vtable (ABI).
        let host_size = unsafe { (&raw const (*out).size).read_unaligned() };
        if host_size < offset_of!(abi::PluginVTable, abi_version) + size_of::<u32>() {
            return Err(invalid(format!("vtable size {host_size} is too small")));
        }
        // The version agreed on, or ours when refusing, so the host can name both (ABI handshake
        // rule). We speak every version from the oldest the ABI keeps to our own.
        let accepted = (abi::OLDEST_ABI_VERSION..=abi::ABI_VERSION).contains(&abi_version);
        let reported = if accepted { abi_version } else { abi::ABI_VERSION };
        // SAFETY: within `host_size`, checked above.
        unsafe { (&raw mut (*out).abi_version).write_unaligned(reported) };
        let name = descriptor::<E>().map(|d| d.abi).ok();
        if !accepted {
            // SAFETY: our own descriptor strings, alive for the library's life.
            let name = name
                .and_then(|d| unsafe { str_from_abi(d.name) }.ok())
                .unwrap_or("?");
            return Err(PluginError::new(
                ErrorKind::AbiMismatch,
                format!(
                    "plugin `{name}` implements dataport plugin ABI v{}..v{}, but the host requested v{abi_version}",
                    abi::OLDEST_ABI_VERSION,
                    abi::ABI_VERSION
                ),
            ));
        }
        // Fail the handshake now rather than return a null descriptor later.
        descriptor::<E>().map_err(invalid)?;
        let ours = vtable::<E>();
        let n = host_size.min(size_of::<abi::PluginVTable>());
        // SAFETY: copies `n <= host_size` bytes into the host's vtable (it holds `host_size`
        // bytes) from our local one (it holds `size_of` bytes); distinct objects, no overlap.
        unsafe { ptr::copy_nonoverlapping((&raw const ours).cast::<u8>(), out.cast::<u8>(), n) };
        // SAFETY: within `host_size`, checked above.
        unsafe { (&raw mut (*out).size).write_unaligned(n) };
        // The copy carried our newest version: the table says the one agreed on.
        // SAFETY: within `host_size`, checked above.
        unsafe { (&raw mut (*out).abi_version).write_unaligned(abi_version) };
        HOST_ABI.store(abi_version, Ordering::Relaxed);
        Ok(Status::OK)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> RowBatch {
        let mut b = RowBatch::new();
        b.push_row(
            2,
            vec![
                Cell::text("客户A"),
                Cell::Int(-7),
                Cell::Float(1.5),
                Cell::Bool(true),
                Cell::Date(19_631),
                Cell::DateTime(1_700_000_000_123_456),
                Cell::Formula("=SUM(A1:A2)".into()),
                Cell::Null,
                Cell::text(""),
            ],
        );
        b.push_row(3, vec![]);
        b.push_row(5, vec![Cell::Bool(false)]);
        b.push_error(4, ErrorKind::MalformedFile, "3 fields, the header has 9");
        b.push_error(6, ErrorKind::Encoding, "");
        b
    }

    #[test]
    fn batch_round_trips_through_abi() {
        let batch = sample();
        let view = BatchView::new(&batch);
        let abi = view.as_abi();
        assert_eq!((abi.num_rows, abi.num_errors), (3, 2));
        assert!(abi.release.is_none());
        // SAFETY: the view is alive.
        assert_eq!(unsafe { batch_from_abi(&abi) }.unwrap(), batch);
    }

    #[test]
    fn extreme_dates_and_floats_cross_the_abi_unchanged() {
        // Range checks belong to the host's validation; the ABI copies any value, bit for bit.
        let cells = vec![
            Cell::Date(i32::MIN),
            Cell::Date(i32::MAX),
            Cell::DateTime(i64::MIN),
            Cell::DateTime(i64::MAX),
            Cell::Int(i64::MIN),
            Cell::Float(f64::INFINITY),
            Cell::Float(f64::NEG_INFINITY),
            Cell::Float(f64::MAX),
            Cell::Float(f64::NAN),
        ];
        let mut batch = RowBatch::new();
        batch.push_row(2, cells.clone());
        let view = BatchView::new(&batch);
        // SAFETY: the view is alive.
        let lent = unsafe { batch_from_abi(&view.as_abi()) }.unwrap();
        let mut exported = export_batch(batch.clone());
        // SAFETY: freshly exported, not released.
        let copied = unsafe { batch_from_abi(&exported) }.unwrap();
        // SAFETY: released once.
        unsafe { exported.release.unwrap()(&mut exported) };
        for back in [lent, copied] {
            let back = &back.rows[0].cells;
            // NaN equals nothing, so the last cell is compared by its bits.
            assert_eq!(back[..8], cells[..8]);
            assert!(matches!(back[8], Cell::Float(v) if v.to_bits() == f64::NAN.to_bits()));
        }
    }

    #[test]
    fn exported_batch_survives_until_released() {
        let mut abi = export_batch(sample());
        // SAFETY: freshly exported, not released.
        assert_eq!(unsafe { batch_from_abi(&abi) }.unwrap(), sample());
        let release = abi.release.unwrap();
        // SAFETY: released once; the second call sees a nulled batch and must do nothing.
        unsafe {
            release(&mut abi);
            assert!(abi.release.is_none() && abi.private_data.is_null() && abi.num_rows == 0);
            release(&mut abi);
        }
    }

    #[test]
    fn exported_header_round_trips() {
        let names = vec!["客户编号".to_owned(), "name".to_owned(), String::new()];
        let mut h = export_header(names.clone());
        // SAFETY: not yet released.
        assert_eq!(unsafe { header_from_abi(&h) }.unwrap(), names);
        // SAFETY: released once.
        unsafe { h.release.unwrap()(&mut h) };
        assert!(h.release.is_none() && h.names.is_null());
    }

    #[test]
    fn broken_batches_are_reported_not_trusted() {
        let bad_text = abi::Cell {
            tag: abi::CELL_TEXT,
            value: abi::CellValue {
                text: abi::StrRef {
                    ptr: b"\xff".as_ptr(),
                    len: 1,
                },
            },
        };
        let unknown = abi::Cell {
            tag: 99,
            value: abi::CellValue { int_value: 0 },
        };
        for (cell, needle) in [(bad_text, "UTF-8"), (unknown, "unknown cell tag 99")] {
            let row = abi::Row {
                number: 7,
                cells: &cell,
                num_cells: 1,
            };
            let b = abi::Batch {
                rows: &row,
                num_rows: 1,
                ..abi::Batch::EMPTY
            };
            // SAFETY: all pointers refer to live locals.
            let e = unsafe { batch_from_abi(&b) }.unwrap_err();
            assert!(e.contains("row 7 cell 1") && e.contains(needle), "{e}");
        }
        let null_rows = abi::Batch {
            num_rows: 3,
            ..abi::Batch::EMPTY
        };
        // SAFETY: the null pointer is what is being checked.
        assert!(
            unsafe { batch_from_abi(&null_rows) }
                .unwrap_err()
                .contains("null")
        );
    }

    #[test]
    fn error_messages_truncate_at_char_boundaries() {
        let mut buf = [0u8; 5];
        let mut err = abi::PluginError {
            message: buf.as_mut_ptr(),
            capacity: buf.len(),
            len: 0,
            row: 0,
            flags: 0,
        };
        // SAFETY: `err` describes `buf`.
        unsafe { write_error(&mut err, "ab客户") };
        assert_eq!(err.len, 5);
        assert_eq!(std::str::from_utf8(&buf[..err.len]).unwrap(), "ab客");
        let mut none = abi::PluginError {
            message: ptr::null_mut(),
            capacity: 0,
            len: 3,
            row: 0,
            flags: 0,
        };
        // SAFETY: null buffer is allowed.
        unsafe { write_error(&mut none, "x") };
        assert_eq!(none.len, 0);
    }
}
