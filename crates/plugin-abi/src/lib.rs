//! The stable C ABI between the dataport host and its format plugins.
//!
//! This crate holds only `#[repr(C)]` type definitions and constants; it contains no code that
//! runs and no `unsafe`. Rust plugins never use it directly (they use `dataport-plugin-sdk` and its
//! `export_plugin!` macro); C plugins use the mirror of these definitions in
//! `include/dataport_plugin.h` (in this crate's directory), which a test keeps in sync (it compiles a C program that prints `sizeof`/`offsetof` of every field
//! and the value of every constant, and compares them with this crate).
//!
//! Every Rust name maps to a C name with a `Dp` prefix (`Batch` ↔ `DpBatch`), every constant to
//! `DP_` + its name (`Status::END_OF_DATA` ↔ `DP_STATUS_END_OF_DATA`, [`CAP_READ`] ↔ `DP_CAP_READ`).
//!
//! # Handshake
//!
//! A plugin is a shared library exporting one symbol, [`ENTRY_SYMBOL`] (`dataport_plugin_init`, of
//! type [`InitFn`]). The host zero-fills a [`PluginVTable`], sets its `size` to
//! `size_of::<PluginVTable>()` as the host knows it, and calls
//! `dataport_plugin_init(ABI_VERSION, &vtable, &err)`:
//!
//! * If the requested version is one it implements, the plugin writes that version into
//!   `vtable.abi_version`, writes at most `vtable.size` bytes of its vtable, sets `vtable.size` to
//!   the number of bytes it wrote, returns [`Status::OK`], and follows that version's rules.
//! * Otherwise it writes its own newest version into `vtable.abi_version` (so that the host can
//!   name both), returns [`Status::ABI_MISMATCH`] with a message naming both versions, and writes
//!   nothing else.
//! * The host asks for [`ABI_VERSION`] first. A plugin that refuses and names an older version the
//!   host still speaks (down to [`OLDEST_ABI_VERSION`]) is asked again for that one: v1 plugins
//!   load unchanged.
//! * The host refuses the plugin if the status is not `OK`, if `abi_version` differs from the
//!   version asked for (a plugin that ignored the request), or if `size` is smaller than the v1
//!   vtable ([`PluginVTable::V1_SIZE`]).
//!
//! The first two fields of [`PluginVTable`] (`size`, `abi_version`) are frozen forever, so any
//! host and any plugin can at least tell each other which version they speak (the same idea as
//! PostgreSQL's `PG_MODULE_MAGIC` block).
//!
//! # Versioning rules
//!
//! * [`ABI_VERSION`] changes only for a breaking change: changing, reordering or removing any
//!   existing field, constant or function signature, or changing the meaning of one.
//! * Structs that carry a leading `size` field ([`PluginVTable`], [`PluginDescriptor`],
//!   [`SourceCallbacks`], [`SinkCallbacks`]) are append-only: new optional fields may be added at
//!   the end without a version change. The consumer reads a field only if `size` covers it and
//!   treats a field beyond `size`, or a null function pointer, as "not provided".
//! * The other structs ([`StrRef`], [`Cell`], [`Row`], [`RowError`], [`Batch`], [`Header`],
//!   [`KeyValue`], [`PluginError`]) are fixed for a given `ABI_VERSION`.
//! * New [`Status`] codes and cell tags may be added without a version change; a consumer treats an
//!   unknown status as an internal error and an unknown cell tag as a broken batch.
//!
//! # Ownership and release rules
//!
//! No Rust `Box`/`String`/`Vec` ever crosses the boundary; only pointers to these C structs and to
//! byte buffers, each owned by exactly one side and released by that side.
//!
//! * **Strings** ([`StrRef`]) are UTF-8, not NUL-terminated, and borrowed: they point into memory
//!   owned by whoever produced the enclosing struct. `ptr` may be null only when `len == 0`.
//! * **The descriptor** returned by `describe` is owned by the plugin and must stay valid for the
//!   life of the library (the host never unloads plugins). The host copies it right away.
//! * **Batches and headers** produced by a reader are owned by the plugin. The host copies what it
//!   needs and then calls the struct's own `release` callback exactly once (with a pointer to the
//!   struct); `release` frees everything the struct points to and sets `release` to null. A batch
//!   must stay valid until released, even across later calls on the reader and after the reader
//!   itself is released.
//! * **Batches and header names given to a writer** are owned by the host and only borrowed for
//!   the duration of the call: the plugin must copy what it wants to keep and must not call
//!   `release` (the host passes it as null).
//! * **Error messages** use a host-provided buffer ([`PluginError`]): the host sets `message` and
//!   `capacity` (and `len = 0`); the plugin copies at most `capacity` bytes of UTF-8 into it
//!   (truncated at a character boundary) and sets `len`. No plugin memory is referenced after the
//!   call returns, so error messages have no lifetime rules at all.
//! * **Options** ([`KeyValue`] arrays), the `format` string and the callback structs passed to
//!   `open_reader`/`open_writer` are borrowed for that call only; the plugin copies the callback
//!   struct by value. The callbacks' `ctx` stays valid until the instance is released.
//! * **Instances** (`ReaderHandle`, `WriterHandle`) are created by `open_*`, owned by the host
//!   and destroyed by `reader_release` / `writer_release`, which the host calls exactly once, also
//!   after an error or a panic.
//!
//! # Threading
//!
//! One instance serves one job. The host calls an instance's functions sequentially, never
//! concurrently, but possibly from different threads (tokio blocking threads), so an instance and
//! the data it holds must not be tied to a thread. `init` and `describe` may be called from any
//! thread. Host callbacks are called only from inside a call into the plugin on the same instance.
//!
//! # I/O
//!
//! Plugins never open files. Bytes come in through [`SourceCallbacks::read`] (and
//! [`SourceCallbacks::seek`], which the host provides only to plugins that declare
//! [`CAP_NEEDS_SEEK`]) and go out through [`SinkCallbacks::write`], so size limits and
//! decompression budgets stay in the host. When a callback fails it returns [`Status::IO`]; the
//! plugin should stop and return `IO` itself (the host remembers its own error and reports it).
//!
//! # Checkpoints (optional)
//!
//! A reader may provide [`PluginVTable::reader_checkpoint`] and [`PluginVTable::reader_resume`]
//! so that an interrupted import continues from a byte offset instead of the client sending the
//! whole file again. After each batch the host asks where the rows not yet handed out begin
//! ([`Checkpoint`]: the offset, the next row's number and the plugin's own opaque state) and
//! stores it with the committed batch. A later attempt opens a reader over the input from that
//! offset and calls `reader_resume` first; from then on the reader must behave exactly as the
//! original one would have, header included. A reader that cannot say (transcoded input, a zip
//! archive) returns [`Status::UNSUPPORTED`], or leaves both functions null.
//!
//! # Errors and panics
//!
//! Functions return a [`Status`]. A plugin must never unwind into the host: the SDK wraps every
//! exported function in `catch_unwind`, turns a panic into [`Status::PANIC`] with the panic
//! message and poisons the instance (every later call on it returns `PANIC`; `release` still frees
//! it). The host also stops calling an instance that returned `PANIC` or `INTERNAL`.

#![forbid(unsafe_code)]

use std::ffi::c_void;

/// The C header, `dataport_plugin.h`, as text: `dataport plugin-sdk-path` installs it where a C
/// compiler can find it.
pub const C_HEADER: &str = include_str!("../include/dataport_plugin.h");
/// The C header's file name.
pub const C_HEADER_NAME: &str = "dataport_plugin.h";

/// The ABI version this crate describes. See the crate docs for when it changes.
///
/// v2 (this version) adds [`PluginError::row`] and [`PluginError::flags`] and the `locale`
/// option; everything else is v1. A host speaking v2 also loads v1 plugins, and a v2 plugin also
/// accepts a v1 host (then it writes neither field and gets no `locale`).
pub const ABI_VERSION: u32 = 2;

/// The oldest ABI version this crate's host still loads.
pub const OLDEST_ABI_VERSION: u32 = 1;

/// [`PluginError::flags`] bit (v2): the error concerns only the row [`PluginError::row`]; the
/// host reports that row as failed and goes on calling `reader_next_batch`. Without it, the
/// file cannot be read further and `row` says where reading stopped.
pub const ERROR_ROW_ONLY: u32 = 1;

/// The name of the single symbol a plugin exports (NUL-terminated for `dlsym`).
pub const ENTRY_SYMBOL: &[u8] = b"dataport_plugin_init\0";

/// The entry-point name without the NUL terminator, for messages.
pub const ENTRY_SYMBOL_NAME: &str = "dataport_plugin_init";

/// Capability bit: the plugin can read (import) files.
pub const CAP_READ: u32 = 1;
/// Capability bit: the plugin can write (export) files.
pub const CAP_WRITE: u32 = 1 << 1;
/// Capability bit: the plugin's readers need [`SourceCallbacks::seek`]; the host then spools
/// uploads to a temporary file before opening a reader.
pub const CAP_NEEDS_SEEK: u32 = 1 << 2;
/// Capability bit: the plugin's writers can start further sheets
/// ([`PluginVTable::writer_start_sheet`]), e.g. an instructions sheet in an xlsx template.
pub const CAP_SHEETS: u32 = 1 << 3;
/// Capability bit: [`PluginDescriptor::options`] lists every option the plugin takes, so the host
/// may refuse any other option before a job starts. Without it the list (possibly empty) is
/// informational and the plugin alone validates its options.
pub const CAP_DECLARES_OPTIONS: u32 = 1 << 4;

/// Option type ([`OptionSpec::kind`]): any text.
pub const OPTION_TEXT: u32 = 0;
/// Option type: `true`/`false`, `yes`/`no`, `on`/`off`, `1`/`0`, any case.
pub const OPTION_BOOL: u32 = 1;
/// Option type: a whole number (decimal digits, optionally signed).
pub const OPTION_INTEGER: u32 = 2;
/// Option type: one character; `\t` and `tab` also mean a tab.
pub const OPTION_CHAR: u32 = 3;

/// Option use bit ([`OptionSpec::uses`]): the option applies to readers (`open_reader`).
pub const OPTION_READ: u32 = 1;
/// Option use bit: the option applies to writers (`open_writer`).
pub const OPTION_WRITE: u32 = 1 << 1;

/// Column kind: no particular type; write cells as they come.
pub const COLUMN_GENERAL: u32 = 0;
/// Column kind: text that must stay text (codes, phone numbers): spreadsheets format the whole
/// column as text, so leading zeros and long digit strings survive editing.
pub const COLUMN_TEXT: u32 = 1;
/// Column kind: whole numbers.
pub const COLUMN_INTEGER: u32 = 2;
/// Column kind: money, written with exactly two decimal places.
pub const COLUMN_DECIMAL2: u32 = 3;
/// Column kind: calendar dates (`YYYY-MM-DD`, date cells in spreadsheets).
pub const COLUMN_DATE: u32 = 4;
/// Column kind: date and time.
pub const COLUMN_DATETIME: u32 = 5;
/// Column kind: booleans.
pub const COLUMN_BOOL: u32 = 6;

/// [`Column::flags`] bit: the column must be filled in (templates mark it).
pub const COLUMN_REQUIRED: u32 = 1;

/// `whence` for [`SeekFn`]: offset from the start of the input.
pub const SEEK_SET: u32 = 0;
/// `whence` for [`SeekFn`]: offset from the current position.
pub const SEEK_CUR: u32 = 1;
/// `whence` for [`SeekFn`]: offset from the end of the input.
pub const SEEK_END: u32 = 2;

/// Cell tag: empty cell. The value is unused.
pub const CELL_NULL: u32 = 0;
/// Cell tag: text, in [`CellValue::text`].
pub const CELL_TEXT: u32 = 1;
/// Cell tag: 64-bit signed integer, in [`CellValue::int_value`].
pub const CELL_INT: u32 = 2;
/// Cell tag: 64-bit float, in [`CellValue::float_value`].
pub const CELL_FLOAT: u32 = 3;
/// Cell tag: boolean, in [`CellValue::bool_value`] (0 = false, 1 = true).
pub const CELL_BOOL: u32 = 4;
/// Cell tag: calendar date as days since 1970-01-01, in [`CellValue::date_days`].
pub const CELL_DATE: u32 = 5;
/// Cell tag: instant as microseconds since 1970-01-01T00:00:00Z, in [`CellValue::datetime_micros`].
pub const CELL_DATETIME: u32 = 6;
/// Cell tag: a formula (refused by imports); the formula text, e.g. `=SUM(A1:A3)`, is in
/// [`CellValue::text`].
pub const CELL_FORMULA: u32 = 7;

/// Result code of every ABI function. An `i32` newtype rather than a Rust enum, because a C
/// plugin may return a value this version does not know, and that must not be undefined behaviour.
#[repr(transparent)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Status(pub i32);

impl Status {
    /// Success.
    pub const OK: Status = Status(0);
    /// `reader_next_batch`: there are no more rows; nothing was written to the output batch.
    pub const END_OF_DATA: Status = Status(1);
    /// An option key is unknown or its value is invalid.
    pub const INVALID_OPTION: Status = Status(2);
    /// The input is not a valid file of this format (as a whole; bad rows are row errors).
    pub const MALFORMED_FILE: Status = Status(3);
    /// The input cannot be decoded in the expected text encoding.
    pub const ENCODING: Status = Status(4);
    /// A host I/O callback failed.
    pub const IO: Status = Status(5);
    /// The format, a feature or a value is not supported by this plugin.
    pub const UNSUPPORTED: Status = Status(6);
    /// A null pointer, an unknown handle or a call out of order.
    pub const INVALID_ARGUMENT: Status = Status(7);
    /// A bug in the plugin; the instance must not be used again.
    pub const INTERNAL: Status = Status(8);
    /// The plugin panicked; the instance is poisoned.
    pub const PANIC: Status = Status(9);
    /// `dataport_plugin_init`: the plugin does not implement the requested ABI version.
    pub const ABI_MISMATCH: Status = Status(10);
    /// A row error: a value the plugin cannot translate (a vendor picklist value with no
    /// mapping). The host reports it as INVALID_ENUM for that row.
    pub const INVALID_VALUE: Status = Status(11);

    /// The upper-case name used in logs and in the C header (`DP_STATUS_<name>`).
    pub fn name(self) -> &'static str {
        match self {
            Status::OK => "OK",
            Status::END_OF_DATA => "END_OF_DATA",
            Status::INVALID_OPTION => "INVALID_OPTION",
            Status::MALFORMED_FILE => "MALFORMED_FILE",
            Status::ENCODING => "ENCODING",
            Status::IO => "IO",
            Status::UNSUPPORTED => "UNSUPPORTED",
            Status::INVALID_ARGUMENT => "INVALID_ARGUMENT",
            Status::INTERNAL => "INTERNAL",
            Status::PANIC => "PANIC",
            Status::ABI_MISMATCH => "ABI_MISMATCH",
            Status::INVALID_VALUE => "INVALID_VALUE",
            _ => "UNKNOWN",
        }
    }
}

impl std::fmt::Display for Status {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ({})", self.name(), self.0)
    }
}

/// A borrowed UTF-8 string: `len` bytes at `ptr`, not NUL-terminated. `ptr` may be null when
/// `len == 0`. Who owns the bytes is said by the struct that contains it.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct StrRef {
    pub ptr: *const u8,
    pub len: usize,
}

impl StrRef {
    /// The empty string (null pointer, zero length).
    pub const EMPTY: StrRef = StrRef {
        ptr: std::ptr::null(),
        len: 0,
    };

    /// A view of `s`; valid only as long as `s` is.
    pub fn new(s: &str) -> StrRef {
        StrRef {
            ptr: s.as_ptr(),
            len: s.len(),
        }
    }
}

/// One `key=value` option passed to `open_reader`/`open_writer` (e.g. `delimiter` = `;`).
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct KeyValue {
    pub key: StrRef,
    pub value: StrRef,
}

/// An error message buffer, provided by the host with every call that can fail.
///
/// The host sets `message`/`capacity` and `len = 0`. On failure the plugin copies at most
/// `capacity` bytes of UTF-8 into `message` (truncating at a character boundary) and sets `len` to
/// the number of bytes written. `message` may be null with `capacity == 0` (then the plugin writes
/// nothing). The buffer belongs to the host; the plugin never keeps a pointer to it.
#[repr(C)]
#[derive(Debug)]
pub struct PluginError {
    pub message: *mut u8,
    pub capacity: usize,
    pub len: usize,
    /// v2: the 1-based source row or line the error is about; 0 when none. Written by the
    /// plugin only when the handshake agreed on v2 (a v1 host's struct ends at `len`).
    pub row: u64,
    /// v2: [`ERROR_ROW_ONLY`] or 0.
    pub flags: u32,
}

/// What a plugin is. Owned by the plugin, valid for the life of the library. Append-only.
///
/// The list fields are comma-separated (`"csv,txt"`); spaces around items are ignored.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct PluginDescriptor {
    /// `size_of::<PluginDescriptor>()` as the plugin knows it.
    pub size: usize,
    /// Short plugin name, e.g. `csv`.
    pub name: StrRef,
    /// The plugin's own version, e.g. `0.1.0`.
    pub version: StrRef,
    /// Format names it serves, e.g. `csv`; each format may be claimed by one plugin only.
    pub formats: StrRef,
    /// File extensions without the dot, e.g. `csv,txt`.
    pub extensions: StrRef,
    /// Modules it supports, e.g. `customers,contacts,opportunities`; empty means any module.
    pub modules: StrRef,
    /// Bit set of the `CAP_*` constants.
    pub capabilities: u32,
    /// Added after the first release (read only when `size` covers it): the options the plugin
    /// takes, `num_options` of them; null when there are none. Owned by the plugin, valid for the
    /// life of the library.
    pub options: *const OptionSpec,
    pub num_options: usize,
}

impl PluginDescriptor {
    /// The size of the descriptor as first released (up to `capabilities`, padded): the least a
    /// host accepts.
    pub const V1_SIZE: usize = std::mem::offset_of!(PluginDescriptor, options);
}

/// One option a plugin declares: shown by `dataport formats` and ListFormats, and checked by the
/// host before a job starts when the plugin sets [`CAP_DECLARES_OPTIONS`].
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct OptionSpec {
    /// The key, lower case (`delimiter`); keys match ASCII-case-insensitively.
    pub name: StrRef,
    /// One of the `OPTION_*` types ([`OPTION_TEXT`] …); an unknown type is treated as text.
    pub kind: u32,
    /// Bit set of [`OPTION_READ`] and [`OPTION_WRITE`]: where the option applies.
    pub uses: u32,
    /// The value used when the option is not given, as text; empty when there is none or it
    /// depends on the input (say so in `help`).
    pub default_value: StrRef,
    /// The allowed values separated by `\n`; empty means any value of `kind`.
    pub choices: StrRef,
    /// One line of English help.
    pub help: StrRef,
}

/// The value of a [`Cell`]; which member is valid is said by [`Cell::tag`].
#[repr(C)]
#[derive(Clone, Copy)]
pub union CellValue {
    pub int_value: i64,
    pub float_value: f64,
    /// 0 = false, 1 = true.
    pub bool_value: u8,
    /// Days since 1970-01-01 (negative before).
    pub date_days: i32,
    /// Microseconds since 1970-01-01T00:00:00Z.
    pub datetime_micros: i64,
    /// For [`CELL_TEXT`] and [`CELL_FORMULA`].
    pub text: StrRef,
}

/// One typed cell: a `CELL_*` tag and its value.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct Cell {
    pub tag: u32,
    pub value: CellValue,
}

impl Cell {
    /// An empty cell.
    pub const NULL: Cell = Cell {
        tag: CELL_NULL,
        value: CellValue { int_value: 0 },
    };
}

impl std::fmt::Debug for Cell {
    // The union cannot be read without `unsafe`, which this crate forbids; the tag is enough here.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cell")
            .field("tag", &self.tag)
            .finish_non_exhaustive()
    }
}

/// One data row: its 1-based row number in the source file (the header is usually row 1) and its
/// cells. Rows may have different lengths; `cells` may be null when `num_cells == 0`.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct Row {
    pub number: u64,
    pub cells: *const Cell,
    pub num_cells: usize,
}

/// A problem with one source row that does not fail the file (a ragged CSV row, an undecodable
/// line). The row may or may not also appear in the batch's rows; the host reports the error
/// either way.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct RowError {
    /// 1-based row number in the source file.
    pub row: u64,
    /// Usually [`Status::MALFORMED_FILE`], [`Status::ENCODING`] or [`Status::INVALID_VALUE`].
    pub kind: Status,
    pub message: StrRef,
}

/// One column a writer is asked to write: its header label and how to present its values.
/// Borrowed for the `writer_write_header` call. Writers that know no presentation (plain CSV)
/// use only `name`; spreadsheet writers use the rest for cell formats, drop-down lists and
/// header notes (import templates).
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct Column {
    /// The header label.
    pub name: StrRef,
    /// One of the `COLUMN_*` kinds; an unknown kind is treated as [`COLUMN_GENERAL`].
    pub kind: u32,
    /// Bit set of `COLUMN_*` flags ([`COLUMN_REQUIRED`]).
    pub flags: u32,
    /// Allowed values separated by `\n` (a drop-down list); empty for free input.
    pub choices: StrRef,
    /// A note for the header cell (the fill-in rule); empty for none.
    pub comment: StrRef,
}

/// Callback that frees a [`Batch`] and everything it points to, then sets its `release` to null.
pub type ReleaseBatchFn = unsafe extern "C" fn(batch: *mut Batch);
/// Callback that frees a [`Header`] and everything it points to, then sets its `release` to null.
pub type ReleaseHeaderFn = unsafe extern "C" fn(header: *mut Header);

/// A batch of rows and row errors. Owned by its producer; see the crate docs for the release rules.
#[repr(C)]
#[derive(Debug)]
pub struct Batch {
    pub rows: *const Row,
    pub num_rows: usize,
    pub errors: *const RowError,
    pub num_errors: usize,
    /// Frees the batch; null once released and in batches the host lends to a writer.
    pub release: Option<ReleaseBatchFn>,
    /// Producer's bookkeeping; the consumer never touches it.
    pub private_data: *mut c_void,
}

impl Batch {
    /// An empty batch with no release callback (what the host passes as the output slot).
    pub const EMPTY: Batch = Batch {
        rows: std::ptr::null(),
        num_rows: 0,
        errors: std::ptr::null(),
        num_errors: 0,
        release: None,
        private_data: std::ptr::null_mut(),
    };
}

/// The column names of the file, in order. Owned by the plugin, released like a [`Batch`].
#[repr(C)]
#[derive(Debug)]
pub struct Header {
    pub names: *const StrRef,
    pub len: usize,
    pub release: Option<ReleaseHeaderFn>,
    pub private_data: *mut c_void,
}

impl Header {
    /// An empty header with no release callback (what the host passes as the output slot).
    pub const EMPTY: Header = Header {
        names: std::ptr::null(),
        len: 0,
        release: None,
        private_data: std::ptr::null_mut(),
    };
}

/// Host callback: read up to `len` bytes into `buf`, store the count in `*out_read`. `OK` with
/// `*out_read == 0` means end of input. Short reads are allowed.
pub type ReadFn =
    unsafe extern "C" fn(ctx: *mut c_void, buf: *mut u8, len: usize, out_read: *mut usize) -> Status;
/// Host callback: move to `offset` relative to `whence` ([`SEEK_SET`], [`SEEK_CUR`], [`SEEK_END`])
/// and store the new absolute position in `*out_pos`.
pub type SeekFn =
    unsafe extern "C" fn(ctx: *mut c_void, offset: i64, whence: u32, out_pos: *mut u64) -> Status;
/// Host callback: write all `len` bytes of `buf`.
pub type WriteFn = unsafe extern "C" fn(ctx: *mut c_void, buf: *const u8, len: usize) -> Status;
/// Host callback: flush buffered output.
pub type FlushFn = unsafe extern "C" fn(ctx: *mut c_void) -> Status;

/// The input of a reader, provided by the host. Append-only.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct SourceCallbacks {
    /// `size_of::<SourceCallbacks>()` as the host knows it.
    pub size: usize,
    /// Passed back to every callback; valid until the reader is released.
    pub ctx: *mut c_void,
    pub read: Option<ReadFn>,
    /// Null unless the plugin declared [`CAP_NEEDS_SEEK`].
    pub seek: Option<SeekFn>,
}

/// The output of a writer, provided by the host. Append-only.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct SinkCallbacks {
    /// `size_of::<SinkCallbacks>()` as the host knows it.
    pub size: usize,
    /// Passed back to every callback; valid until the writer is released.
    pub ctx: *mut c_void,
    pub write: Option<WriteFn>,
    pub flush: Option<FlushFn>,
}

/// Opaque reader instance, created by `open_reader`, destroyed by `reader_release`.
#[repr(C)]
pub struct ReaderHandle {
    _private: [u8; 0],
}

/// Opaque writer instance, created by `open_writer`, destroyed by `writer_release`.
#[repr(C)]
pub struct WriterHandle {
    _private: [u8; 0],
}

/// The entry point `dataport_plugin_init`; see the crate docs for the handshake.
pub type InitFn =
    unsafe extern "C" fn(abi_version: u32, out: *mut PluginVTable, err: *mut PluginError) -> Status;

/// Returns the plugin's descriptor (never null; valid for the life of the library).
pub type DescribeFn = unsafe extern "C" fn() -> *const PluginDescriptor;

/// Opens a reader for `format` over `source`; on `OK` stores the instance in `*out`.
pub type OpenReaderFn = unsafe extern "C" fn(
    format: StrRef,
    options: *const KeyValue,
    num_options: usize,
    source: *const SourceCallbacks,
    out: *mut *mut ReaderHandle,
    err: *mut PluginError,
) -> Status;
/// Fills `*out` with the column names. Called once, before the first `reader_next_batch`.
pub type ReaderHeaderFn =
    unsafe extern "C" fn(reader: *mut ReaderHandle, out: *mut Header, err: *mut PluginError) -> Status;
/// Fills `*out` with the next batch covering at most `max_rows` source rows and returns `OK`, or
/// returns `END_OF_DATA` and leaves `*out` untouched. A batch may hold only row errors.
pub type ReaderNextBatchFn = unsafe extern "C" fn(
    reader: *mut ReaderHandle,
    max_rows: usize,
    out: *mut Batch,
    err: *mut PluginError,
) -> Status;
/// Destroys a reader (always called exactly once, also after errors and panics).
pub type ReaderReleaseFn = unsafe extern "C" fn(reader: *mut ReaderHandle);

/// Opens a writer for `format` over `sink`; on `OK` stores the instance in `*out`.
pub type OpenWriterFn = unsafe extern "C" fn(
    format: StrRef,
    options: *const KeyValue,
    num_options: usize,
    sink: *const SinkCallbacks,
    out: *mut *mut WriterHandle,
    err: *mut PluginError,
) -> Status;
/// Writes the header of the current sheet from `columns` (borrowed for the call). Called once
/// per sheet, before that sheet's rows.
pub type WriterWriteHeaderFn = unsafe extern "C" fn(
    writer: *mut WriterHandle,
    columns: *const Column,
    num_columns: usize,
    err: *mut PluginError,
) -> Status;
/// Ends the current sheet and starts a new one called `name`; a `write_header` and rows follow.
/// Only called on plugins that declare [`CAP_SHEETS`].
pub type WriterStartSheetFn =
    unsafe extern "C" fn(writer: *mut WriterHandle, name: StrRef, err: *mut PluginError) -> Status;
/// Writes the rows of `batch` (borrowed for the call; its errors are empty and `release` is null).
pub type WriterWriteRowsFn =
    unsafe extern "C" fn(writer: *mut WriterHandle, batch: *const Batch, err: *mut PluginError) -> Status;
/// Completes the file (trailers, zip directory, flush). Called once, after the last rows.
pub type WriterFinishFn = unsafe extern "C" fn(writer: *mut WriterHandle, err: *mut PluginError) -> Status;
/// Destroys a writer (always called exactly once). Without a prior `finish` the output is
/// incomplete and the host discards it.
pub type WriterReleaseFn = unsafe extern "C" fn(writer: *mut WriterHandle);

/// Largest reader state a [`Checkpoint`] carries: the host's buffer is this big.
pub const CHECKPOINT_STATE_CAPACITY: usize = 64 * 1024;

/// Where a reader stands in its input, so that an interrupted import can continue without the
/// client sending again what was already read (see [`PluginVTable::reader_checkpoint`]).
///
/// `state` is a host-owned buffer of `state_capacity` bytes, as in [`PluginError`]: the plugin
/// copies at most `state_capacity` bytes of its own state into it and sets `state_len`. The host
/// stores the bytes as they are and gives them back to [`PluginVTable::reader_resume`]; it never
/// interprets them, so put a version byte first.
#[repr(C)]
#[derive(Debug)]
pub struct Checkpoint {
    /// Offset in the input (the bytes read through [`SourceCallbacks::read`], counted from the
    /// first) at which the rows not yet handed out begin.
    pub offset: u64,
    /// The number the next row will get.
    pub next_row: u64,
    pub state: *mut u8,
    pub state_capacity: usize,
    pub state_len: usize,
}

/// Optional: fills `out` with where the reader stands, after `reader_header` or after any
/// `reader_next_batch` that returned `OK`. The rows not yet handed out must be exactly those a
/// reader resumed from `out` (see [`ReaderResumeFn`]) would hand out. Returns
/// [`Status::UNSUPPORTED`] when the reader cannot say now (e.g. its input is transcoded, or its
/// state does not fit); the host then asks the client for the whole input again.
pub type ReaderCheckpointFn =
    unsafe extern "C" fn(reader: *mut ReaderHandle, out: *mut Checkpoint, err: *mut PluginError) -> Status;

/// Optional: called once, right after `open_reader` and before any other call on the reader,
/// when the reader's input starts at `checkpoint.offset` of a file a reader of this plugin (with
/// the same format and options) once read up to that checkpoint. The reader then behaves as that
/// reader would have from there: `reader_header` returns the same header and rows continue at
/// `checkpoint.next_row`. `checkpoint` and its state are borrowed for the call. A state the
/// plugin does not recognise (another plugin version) is refused with `UNSUPPORTED`.
pub type ReaderResumeFn = unsafe extern "C" fn(
    reader: *mut ReaderHandle,
    checkpoint: *const Checkpoint,
    err: *mut PluginError,
) -> Status;

/// After `reader_header`: the rows and row errors the reader will hand out, counted from the
/// input before they are read (progress is shown against it); `UNSUPPORTED` when unknown. See
/// the C header.
pub type ReaderRowsTotalFn =
    unsafe extern "C" fn(reader: *mut ReaderHandle, out_rows: *mut u64, err: *mut PluginError) -> Status;

/// The plugin's function table, filled in by `dataport_plugin_init`. Append-only: new functions
/// go at the end, and `size` says how much of it the plugin filled. The reader functions may be
/// null in a plugin without [`CAP_READ`], the writer functions in one without [`CAP_WRITE`].
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct PluginVTable {
    /// In: the host's `size_of::<PluginVTable>()`. Out: the number of bytes the plugin filled.
    /// Frozen forever at offset 0.
    pub size: usize,
    /// Out: the ABI version the plugin implements (also written when it refuses).
    /// Frozen forever right after `size`.
    pub abi_version: u32,
    pub describe: Option<DescribeFn>,
    pub open_reader: Option<OpenReaderFn>,
    pub reader_header: Option<ReaderHeaderFn>,
    pub reader_next_batch: Option<ReaderNextBatchFn>,
    pub reader_release: Option<ReaderReleaseFn>,
    pub open_writer: Option<OpenWriterFn>,
    pub writer_write_header: Option<WriterWriteHeaderFn>,
    pub writer_write_rows: Option<WriterWriteRowsFn>,
    pub writer_finish: Option<WriterFinishFn>,
    pub writer_release: Option<WriterReleaseFn>,
    /// May be null in a plugin without [`CAP_SHEETS`].
    pub writer_start_sheet: Option<WriterStartSheetFn>,
    /// Optional (null: the input is always sent whole on a resume).
    pub reader_checkpoint: Option<ReaderCheckpointFn>,
    /// Optional; provided together with `reader_checkpoint`.
    pub reader_resume: Option<ReaderResumeFn>,
    /// Optional (null: the number of rows is unknown until they are read).
    pub reader_rows_total: Option<ReaderRowsTotalFn>,
}

impl PluginVTable {
    /// The size of the ABI v1 vtable: a plugin that fills less than this is refused.
    pub const V1_SIZE: usize = std::mem::offset_of!(PluginVTable, writer_start_sheet) + size_of::<usize>();

    /// An empty vtable, sized for this version, ready to hand to `dataport_plugin_init`.
    pub const fn empty() -> PluginVTable {
        PluginVTable {
            size: size_of::<PluginVTable>(),
            abi_version: 0,
            describe: None,
            open_reader: None,
            reader_header: None,
            reader_next_batch: None,
            reader_release: None,
            open_writer: None,
            writer_write_header: None,
            writer_write_rows: None,
            writer_finish: None,
            writer_release: None,
            writer_start_sheet: None,
            reader_checkpoint: None,
            reader_resume: None,
            reader_rows_total: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn v1_vtable_ends_at_writer_start_sheet() {
        // Appending a field must not change what a v1 plugin is required to fill.
        assert_eq!(
            PluginVTable::V1_SIZE,
            std::mem::offset_of!(PluginVTable, reader_checkpoint)
        );
        assert!(PluginVTable::V1_SIZE < size_of::<PluginVTable>());
        assert_eq!(std::mem::offset_of!(PluginVTable, size), 0);
        assert_eq!(
            std::mem::offset_of!(PluginVTable, abi_version),
            size_of::<usize>()
        );
    }

    #[test]
    fn v1_descriptor_is_what_first_release_plugins_fill() {
        // Five string refs and the capability bits after `size`, padded to pointer alignment.
        let v1 = size_of::<usize>() + 5 * size_of::<StrRef>() + size_of::<u32>();
        assert_eq!(
            PluginDescriptor::V1_SIZE,
            v1.next_multiple_of(align_of::<usize>())
        );
        assert!(PluginDescriptor::V1_SIZE < size_of::<PluginDescriptor>());
    }

    #[test]
    fn status_names_are_distinct() {
        let all = (0..=11).map(|c| Status(c).name()).collect::<Vec<_>>();
        let mut dedup = all.clone();
        dedup.sort_unstable();
        dedup.dedup();
        assert_eq!(dedup.len(), all.len());
        assert!(!all.contains(&"UNKNOWN"));
        assert_eq!(Status(42).name(), "UNKNOWN");
        assert_eq!(Status::PANIC.to_string(), "PANIC (9)");
    }

    #[test]
    fn entry_symbol_is_nul_terminated_name() {
        assert_eq!(
            &ENTRY_SYMBOL[..ENTRY_SYMBOL.len() - 1],
            ENTRY_SYMBOL_NAME.as_bytes()
        );
        assert_eq!(ENTRY_SYMBOL.last(), Some(&0));
    }
}
