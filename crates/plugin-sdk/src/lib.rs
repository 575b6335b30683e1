//! Write dataport format plugins in safe Rust.
//!
//! A plugin is a crate with `crate-type = ["cdylib", "rlib"]` and a `[lib] name` of the form
//! `dataport_plugin_<name>`, so that its shared library is called `libdataport_plugin_<name>.so`
//! (the host only loads files named like that). It implements [`Plugin`] (a [`Descriptor`] plus
//! constructors for a [`Reader`] and/or a [`Writer`]) and exports it with one line:
//!
//! ```
//! use std::io::{BufRead, BufReader};
//! use dataport_plugin_sdk::{
//!     export_plugin, ByteSource, Cell, Descriptor, ErrorKind, Options, Plugin, PluginError, Reader,
//!     RowBatch,
//! };
//!
//! /// Reads `|`-separated text; the first line is the header.
//! struct Pipe;
//!
//! impl Plugin for Pipe {
//!     fn descriptor(&self) -> Descriptor {
//!         Descriptor::new("pipe", env!("CARGO_PKG_VERSION")).format("pipe").extensions(["psv"]).reads()
//!     }
//!
//!     fn open_reader(
//!         &self,
//!         _format: &str,
//!         options: &Options,
//!         source: Box<dyn ByteSource>,
//!     ) -> Result<Box<dyn Reader>, PluginError> {
//!         options.ensure_known(&[])?;
//!         Ok(Box::new(PipeReader { lines: BufReader::new(source), line_no: 0, width: 0 }))
//!     }
//! }
//!
//! struct PipeReader {
//!     lines: BufReader<Box<dyn ByteSource>>,
//!     line_no: u64,
//!     width: usize,
//! }
//!
//! impl PipeReader {
//!     /// The next line without its terminator; `Ok(None)` at the end. An undecodable line is
//!     /// returned as `Err(message)` so that it becomes a row error, not a failed file.
//!     fn line(&mut self) -> Result<Option<Result<String, String>>, PluginError> {
//!         let mut buf = Vec::new();
//!         if self.lines.read_until(b'\n', &mut buf)? == 0 {
//!             return Ok(None);
//!         }
//!         self.line_no += 1;
//!         let text = buf.strip_suffix(b"\n").unwrap_or(&buf);
//!         let text = text.strip_suffix(b"\r").unwrap_or(text);
//!         Ok(Some(String::from_utf8(text.to_vec()).map_err(|e| e.to_string())))
//!     }
//! }
//!
//! impl Reader for PipeReader {
//!     fn header(&mut self) -> Result<Vec<String>, PluginError> {
//!         match self.line()? {
//!             None => Ok(Vec::new()),
//!             Some(Err(e)) => Err(PluginError::encoding(format!("header: {e}"))),
//!             Some(Ok(line)) => {
//!                 let names: Vec<String> = line.split('|').map(str::to_owned).collect();
//!                 self.width = names.len();
//!                 Ok(names)
//!             }
//!         }
//!     }
//!
//!     fn next_batch(&mut self, max_rows: usize) -> Result<Option<RowBatch>, PluginError> {
//!         let mut batch = RowBatch::new();
//!         while batch.source_rows() < max_rows {
//!             let Some(line) = self.line()? else { break };
//!             match line {
//!                 Err(e) => batch.push_error(self.line_no, ErrorKind::Encoding, e),
//!                 Ok(line) => {
//!                     let cells: Vec<Cell> = line.split('|').map(Cell::from).collect();
//!                     if cells.len() != self.width {
//!                         let msg = format!("{} fields, the header has {}", cells.len(), self.width);
//!                         batch.push_error(self.line_no, ErrorKind::MalformedFile, msg);
//!                     } else {
//!                         batch.push_row(self.line_no, cells);
//!                     }
//!                 }
//!             }
//!         }
//!         Ok(if batch.is_empty() { None } else { Some(batch) })
//!     }
//! }
//!
//! export_plugin!(Pipe);
//!
//! // The same type works natively, without the shared library:
//! let mut reader = Pipe.open_reader("pipe", &Options::new(), Box::new(std::io::Cursor::new(b"a|b\n1|2\n3\n"))).unwrap();
//! let (header, rows) = dataport_plugin_sdk::read_all(&mut *reader, 100).unwrap();
//! assert_eq!(header, ["a", "b"]);
//! assert_eq!(rows.rows[0].cells, [Cell::text("1"), Cell::text("2")]);
//! assert_eq!((rows.errors[0].row, rows.errors[0].kind), (3, ErrorKind::MalformedFile));
//! ```
//!
//! # The contract, in short
//!
//! * **Data model.** [`Cell`] is a typed value; [`RowBatch`] holds [`Row`]s (cells plus the
//!   1-based row number in the source file, the header being row 1 in most formats) and
//!   [`RowError`]s. The host and the plugins share these exact types.
//! * **Reading.** The host calls [`Reader::header`] once, then [`Reader::next_batch`] until
//!   `Ok(None)`. Report a problem confined to one row (ragged row, bad encoding on one line) as a
//!   [`RowError`] and keep going; return `Err` only when the file cannot be read further. Refuse
//!   formulas by reporting them as [`Cell::Formula`], never as their cached value; report dates
//!   as [`Cell::Date`] only when the file says they are dates (xlsx date cells), otherwise as text.
//! * **Writing.** [`Writer::write_header`] once with the [`Column`]s (label, [`ColumnKind`] and,
//!   for import templates, drop-down choices and a note), [`Writer::write_rows`] per batch,
//!   [`Writer::finish`] once (flush there). A writer that declares [`Capabilities::sheets`] can
//!   be asked for further sheets with [`Writer::start_sheet`], each with its own header.
//! * **Layout plugins.** A plugin whose descriptor lists [`Descriptor::modules`] translates a
//!   vendor's layout (Salesforce, HubSpot) to dataport's own fields. The host then passes the
//!   option `module` (`customers`, `contacts` or `opportunities`) to `open_reader` and
//!   `open_writer`. Its reader returns a header of the module's field keys (`code`, `name`, …)
//!   in template order, every field present (a field the vendor file lacks is a column of
//!   `Null`s), with values already translated; a vendor value with no mapping is a
//!   [`RowError`] of kind [`ErrorKind::InvalidValue`] whose message names the value and the
//!   vendor column. Its writer receives columns named by field key and unescaped values, and
//!   writes the vendor's headers and values. Generic formats (csv, xlsx) list no modules and
//!   pass the file's header through.
//! * **Options.** Declare them in the descriptor ([`Descriptor::option`], [`OptionSpec`]: name,
//!   type, direction, default, choices, help) and check them in `open_*` with
//!   [`Options::check_declared`]; the server runs the same check before a job starts and
//!   `dataport formats` lists them. Bad values are [`ErrorKind::InvalidOption`].
//!   ([`Options::ensure_known`] checks names only, for plugins that declare nothing.)
//!   Conventional keys: csv `encoding`, `delimiter`, `bom`; xlsx `sheet`; vendor plugins
//!   `module`, `key_field`.
//! * **I/O.** Read only from the [`ByteSource`] and write only to the [`ByteSink`] you are given;
//!   never open files or sockets (the host enforces size limits on these streams). Seeking works
//!   only if you declare [`Capabilities::needs_seek`].
//! * **Threads.** One reader/writer per job, called sequentially, possibly from different threads:
//!   they must be `Send`. The [`Plugin`] value is shared by all jobs: `Send + Sync`.
//! * **Panics.** Don't, but if you do: every exported function runs inside `catch_unwind`, the
//!   host receives an error carrying the panic message, and that reader/writer is *poisoned*: every
//!   later call on it fails without reaching your code, and releasing it still frees it. Other jobs
//!   and the host are unaffected. Plugins must be built with `panic = "unwind"` (the default).
//! * **Errors** carry an [`ErrorKind`] and a message (English, or the language of the host's
//!   `locale` option, [`Options::locale`]); the message crosses the boundary truncated to 4 KiB.
//!   Under ABI v2 (the SDK speaks v1 and v2) an error also says which source row it is about
//!   ([`PluginError::at_row`]) and whether only that row is bad ([`PluginError::only_this_row`]):
//!   the host then reports the row and reads on. Before failing the file, return the rows you
//!   read as a batch and fail on the next call, so none is lost.
//! * **Allocators.** Keep the default global allocator. A plugin is loaded with `dlopen` into a
//!   process whose threads already exist; allocators that keep their per-thread state in
//!   initial-exec thread-locals (mimalloc, for one) crash there. The host may use any allocator:
//!   memory never changes hands across the boundary.
//!
//! # What `export_plugin!` generates
//!
//! The `extern "C"` entry point `dataport_plugin_init` and the vtable of `dataport-plugin-abi`;
//! all `unsafe` on the plugin side lives in this crate's `ffi` module. No `Box`, `String` or
//! `Vec` crosses the boundary: batches and headers go out as C structs owned by the plugin and
//! freed through their own `release` callback, and errors are copied into a host buffer.
//!
//! Use `export_plugin!` once per crate. A plugin crate linked natively (as an rlib) also carries
//! its `dataport_plugin_init` symbol, so link at most one plugin crate natively into one binary
//! if that binary actually uses them (unused dependencies are not linked).

mod cell;
mod column;
mod error;
pub mod ffi;
mod io;
mod option_spec;
mod options;
mod plugin;

pub use dataport_plugin_abi as abi;

pub use cell::{Cell, Row, RowBatch, RowError, days_from_ymd, ymd_from_days};
pub use column::{Column, ColumnKind};
pub use error::{ErrorKind, PluginError};
pub use io::{ByteSink, ByteSource, ReadOnly};
pub use option_spec::{Direction, OptionKind, OptionSpec};
pub use options::{HOST_OPTIONS, Options};
pub use plugin::{Capabilities, Checkpoint, Descriptor, Plugin, Reader, Writer, read_all};

/// Exports a [`Plugin`] value as this library's dataport plugin: generates the `extern "C"`
/// entry point `dataport_plugin_init` and its vtable, with every function wrapped in
/// `catch_unwind`.
///
/// The argument is an expression creating the plugin (a unit struct name or a constructor call);
/// it runs once, the first time the host initialises the library.
///
/// ```
/// # use dataport_plugin_sdk::{Descriptor, Plugin};
/// struct VendorPlugin {
///     vendor: &'static str,
/// }
///
/// impl Plugin for VendorPlugin {
///     fn descriptor(&self) -> Descriptor {
///         Descriptor::new(self.vendor, env!("CARGO_PKG_VERSION")).format(self.vendor).reads()
///     }
/// }
///
/// dataport_plugin_sdk::export_plugin!(VendorPlugin { vendor: "salesforce" });
/// ```
#[macro_export]
macro_rules! export_plugin {
    ($plugin:expr $(,)?) => {
        #[doc(hidden)]
        pub struct __DataportPluginExport;

        impl $crate::ffi::Export for __DataportPluginExport {
            fn state() -> &'static $crate::ffi::ExportState {
                static STATE: $crate::ffi::ExportState = $crate::ffi::ExportState::new();
                &STATE
            }

            fn make() -> ::std::boxed::Box<dyn $crate::Plugin> {
                ::std::boxed::Box::new($plugin)
            }
        }

        /// The dataport plugin entry point, generated by `export_plugin!`.
        ///
        /// # Safety
        ///
        /// Called by the dataport host with the arguments the `dataport-plugin-abi` handshake
        /// describes.
        #[unsafe(no_mangle)]
        pub unsafe extern "C" fn dataport_plugin_init(
            abi_version: u32,
            out: *mut $crate::abi::PluginVTable,
            err: *mut $crate::abi::PluginError,
        ) -> $crate::abi::Status {
            // SAFETY: the host's arguments are passed on unchanged; `init` checks them for null.
            unsafe { $crate::ffi::init::<__DataportPluginExport>(abi_version, out, err) }
        }
    };
}
