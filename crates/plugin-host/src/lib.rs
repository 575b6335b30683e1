//! dataport-plugin-host: finds, loads and calls dataport format plugins.
//!
//! This is the only crate that calls `libloading` (in [`load_plugin`]) and the only host-side
//! user of the C ABI. Everything above it sees a loaded plugin through the SDK's safe
//! [`Plugin`]/[`Reader`]/[`Writer`] traits, exactly as it would see a plugin linked natively, so
//! the same code (and the same tests) run on both paths.
//!
//! **Loading** ([`load_plugin`]): `dlopen`, look up `dataport_plugin_init`, run the version
//! handshake of `dataport-plugin-abi`, check the vtable and copy the descriptor. Every failure is
//! a [`HostError`] that names the file: not a plugin (no entry symbol), ABI version mismatch
//! (both versions), init failure, a broken descriptor. Libraries are never unloaded (as in
//! ADBC's driver manager and PostgreSQL): unloading Rust code with thread-locals is unsound, and a
//! loaded plugin lives as long as the server anyway.
//!
//! **Discovery** ([`PluginRegistry::discover`]): files named `libdataport_plugin_<name>.so` in
//! the configured directories, then in the defaults ([`default_plugin_dirs`]: the executable's
//! own directory and the cargo target directory this crate was built in), so a fresh clone's
//! `cargo run -- serve` finds the bundled csv and xlsx plugins. Two different plugins claiming
//! one format are a start-up error naming both files.
//!
//! **Calling**: one reader or writer instance per job, called sequentially. Bytes cross through
//! host callbacks over a [`ByteSource`]/[`ByteSink`]; an I/O error of the host is remembered and
//! reported as such, not as the plugin's fault. A plugin that panics (the SDK turns the panic
//! into a status) or reports an internal error fails that call with [`ErrorKind::Panic`] /
//! [`ErrorKind::Internal`], and the instance is never called again; the process carries on.

use std::collections::{HashMap, HashSet};
use std::ffi::c_void;
use std::fmt;
use std::io::{Read, Seek, SeekFrom, Write};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};
use std::ptr;
use std::sync::Arc;

use dataport_plugin_abi as abi;
use dataport_plugin_abi::Status;
use dataport_plugin_sdk::ffi::{BatchView, ColumnsView, batch_from_abi, header_from_abi, str_from_abi};
use dataport_plugin_sdk::{
    ByteSink, ByteSource, Capabilities, Column, Descriptor, ErrorKind, Options, Plugin, PluginError, Reader,
    RowBatch, Writer,
};

/// Largest error message a plugin can return (the SDK truncates at 4 KiB too).
const ERROR_CAPACITY: usize = 4096;

/// File name prefix of plugin libraries; `libdataport_plugin_csv.so` serves the csv plugin.
#[cfg(not(windows))]
const LIB_PREFIX: &str = "libdataport_plugin_";
#[cfg(windows)]
const LIB_PREFIX: &str = "dataport_plugin_";

/// Why a plugin could not be loaded or a directory not scanned. Every variant names the file.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum HostError {
    /// The library could not be opened at all (not a shared library, missing dependencies...).
    #[error("cannot load plugin {}: {reason}", path.display())]
    Open { path: PathBuf, reason: String },
    /// The library does not export the entry point.
    #[error(
        "{} is not a dataport plugin: it does not export `{}` (build it with the dataport plugin SDK's export_plugin!, or remove it from the plugin directory)",
        path.display(), abi::ENTRY_SYMBOL_NAME
    )]
    NotAPlugin { path: PathBuf },
    /// The plugin was built for another ABI version.
    #[error(
        "plugin {} was built for dataport plugin ABI v{found}, but this dataport speaks ABI v{expected}; rebuild the plugin against dataport-plugin-sdk for ABI v{expected}{}",
        path.display(), detail.as_deref().map(|d| format!(" (the plugin says: {d})")).unwrap_or_default()
    )]
    AbiMismatch {
        path: PathBuf,
        expected: u32,
        found: u32,
        detail: Option<String>,
    },
    /// `dataport_plugin_init` failed.
    #[error("plugin {} failed to initialise ({status}): {message}", path.display())]
    InitFailed {
        path: PathBuf,
        status: Status,
        message: String,
    },
    /// The vtable or descriptor is unusable.
    #[error("plugin {} is broken: {reason}", path.display())]
    Broken { path: PathBuf, reason: String },
    /// Two plugins claim the same format. `first` and `second` describe each plugin and its file.
    #[error(
        "two plugins claim the format `{format}`: {first} and {second}; remove one of them from the plugin directories"
    )]
    DuplicateFormat {
        format: String,
        first: String,
        second: String,
    },
    /// A configured plugin directory cannot be read.
    #[error("cannot read plugin directory {}: {source}", path.display())]
    Dir { path: PathBuf, source: std::io::Error },
}

/// A plugin library loaded into this process. Implements the SDK's [`Plugin`] by calling
/// through the C ABI, so callers cannot tell it from a natively linked plugin.
pub struct LoadedPlugin {
    path: PathBuf,
    descriptor: Descriptor,
    vtable: abi::PluginVTable,
}

impl fmt::Debug for LoadedPlugin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LoadedPlugin")
            .field("path", &self.path)
            .field("descriptor", &self.descriptor)
            .finish_non_exhaustive()
    }
}

impl LoadedPlugin {
    /// The library file it was loaded from.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// `name version (file)`, for messages.
    fn label(&self) -> String {
        format!(
            "plugin `{}` {} ({})",
            self.descriptor.name,
            self.descriptor.version,
            self.path.display()
        )
    }
}

/// Loads one plugin library and runs the handshake. The library is never unloaded.
pub fn load_plugin(path: &Path) -> Result<LoadedPlugin, HostError> {
    let path = path.to_path_buf();
    // SAFETY: loading a library runs its initialisers. Plugins come only from directories the
    // operator configured (or the build's own output), which is the trust boundary of any
    // plugin system; the ABI handshake below checks what it can.
    let library = unsafe { libloading::Library::new(&path) }.map_err(|e| HostError::Open {
        path: path.clone(),
        reason: e.to_string(),
    })?;
    // SAFETY: the symbol is looked up with the exact type the ABI defines for it.
    let init: abi::InitFn = match unsafe { library.get::<abi::InitFn>(abi::ENTRY_SYMBOL) } {
        Ok(symbol) => *symbol,
        Err(_) => return Err(HostError::NotAPlugin { path }),
    };
    // Never unloaded: the function pointers taken from it stay valid for the process's life.
    std::mem::forget(library);

    let mut vtable = abi::PluginVTable::empty();
    let mut err = ErrorBuffer::new();
    // SAFETY: `vtable` is a zero-filled v1 table with its `size` set; `err` is a valid buffer.
    let status = unsafe { init(abi::ABI_VERSION, &mut vtable, err.as_abi()) };
    let message = err.take();
    if status == Status::ABI_MISMATCH || (status == Status::OK && vtable.abi_version != abi::ABI_VERSION) {
        return Err(HostError::AbiMismatch {
            path,
            expected: abi::ABI_VERSION,
            found: vtable.abi_version,
            detail: (!message.is_empty()).then_some(message),
        });
    }
    if status != Status::OK {
        return Err(HostError::InitFailed {
            path,
            status,
            message,
        });
    }
    let broken = |reason: String| HostError::Broken {
        path: path.clone(),
        reason,
    };
    if vtable.size < abi::PluginVTable::V1_SIZE {
        return Err(broken(format!(
            "its vtable has {} bytes, an ABI v1 vtable needs {}",
            vtable.size,
            abi::PluginVTable::V1_SIZE
        )));
    }
    let describe = vtable
        .describe
        .ok_or_else(|| broken("it has no `describe` function".into()))?;
    // SAFETY: `describe` comes from a plugin that passed the handshake.
    let raw = unsafe { describe() };
    // SAFETY: a non-null descriptor is valid for the library's life (ABI ownership rule).
    let raw = unsafe { raw.as_ref() }.ok_or_else(|| broken("`describe` returned null".into()))?;
    // SAFETY: as above.
    let descriptor = unsafe { descriptor_from_abi(raw) }.map_err(&broken)?;
    let caps = descriptor.capabilities;
    let missing: Vec<&str> = [
        (caps.read, vtable.open_reader.is_none(), "open_reader"),
        (caps.read, vtable.reader_header.is_none(), "reader_header"),
        (caps.read, vtable.reader_next_batch.is_none(), "reader_next_batch"),
        (caps.read, vtable.reader_release.is_none(), "reader_release"),
        (caps.write, vtable.open_writer.is_none(), "open_writer"),
        (
            caps.write,
            vtable.writer_write_header.is_none(),
            "writer_write_header",
        ),
        (
            caps.write,
            vtable.writer_write_rows.is_none(),
            "writer_write_rows",
        ),
        (caps.write, vtable.writer_finish.is_none(), "writer_finish"),
        (caps.write, vtable.writer_release.is_none(), "writer_release"),
        (
            caps.sheets,
            vtable.writer_start_sheet.is_none(),
            "writer_start_sheet",
        ),
    ]
    .into_iter()
    .filter_map(|(needed, absent, name)| (needed && absent).then_some(name))
    .collect();
    if !missing.is_empty() {
        return Err(broken(format!(
            "it declares capabilities whose functions are missing: {}",
            missing.join(", ")
        )));
    }
    tracing::debug!(plugin = %descriptor.name, version = %descriptor.version, path = %path.display(), "plugin loaded");
    Ok(LoadedPlugin {
        path,
        descriptor,
        vtable,
    })
}

/// Copies a plugin's descriptor.
///
/// # Safety
/// `raw` must follow the ABI descriptor rules (valid strings for the library's life).
unsafe fn descriptor_from_abi(raw: &abi::PluginDescriptor) -> Result<Descriptor, String> {
    if raw.size < size_of::<abi::PluginDescriptor>() {
        return Err(format!(
            "its descriptor has {} bytes, ABI v1 needs {}",
            raw.size,
            size_of::<abi::PluginDescriptor>()
        ));
    }
    let text = |what: &str, s: abi::StrRef| -> Result<String, String> {
        // SAFETY: forwarded caller contract.
        unsafe { str_from_abi(s) }
            .map(str::to_owned)
            .map_err(|e| format!("descriptor {what}: {e}"))
    };
    let list = |what: &str, s: abi::StrRef| -> Result<Vec<String>, String> {
        Ok(text(what, s)?
            .split(',')
            .map(|item| item.trim().to_ascii_lowercase())
            .filter(|item| !item.is_empty())
            .collect())
    };
    let descriptor = Descriptor {
        name: text("name", raw.name)?,
        version: text("version", raw.version)?,
        formats: list("formats", raw.formats)?,
        extensions: list("extensions", raw.extensions)?,
        modules: list("modules", raw.modules)?,
        capabilities: Capabilities {
            read: raw.capabilities & abi::CAP_READ != 0,
            write: raw.capabilities & abi::CAP_WRITE != 0,
            needs_seek: raw.capabilities & abi::CAP_NEEDS_SEEK != 0,
            sheets: raw.capabilities & abi::CAP_SHEETS != 0,
        },
    };
    if descriptor.name.trim().is_empty() {
        return Err("its descriptor has an empty name".into());
    }
    if descriptor.formats.is_empty() {
        return Err("its descriptor names no format".into());
    }
    Ok(descriptor)
}

impl Plugin for LoadedPlugin {
    fn descriptor(&self) -> Descriptor {
        self.descriptor.clone()
    }

    fn open_reader(
        &self,
        format: &str,
        options: &Options,
        source: Box<dyn ByteSource>,
    ) -> Result<Box<dyn Reader>, PluginError> {
        let Some(open) = self
            .vtable
            .open_reader
            .filter(|_| self.descriptor.capabilities.read)
        else {
            return Err(PluginError::unsupported(format!(
                "{} cannot read files",
                self.label()
            )));
        };
        let mut ctx = Box::new(SourceCtx {
            io: source,
            error: None,
        });
        let needs_seek = self.descriptor.capabilities.needs_seek;
        let handle = self.open_handle(open, "reader", format, options, &mut ctx, |ctx| {
            abi::SourceCallbacks {
                size: size_of::<abi::SourceCallbacks>(),
                ctx,
                read: Some(source_read),
                seek: needs_seek.then_some(source_seek as abi::SeekFn),
            }
        })?;
        Ok(Box::new(HostReader {
            vtable: self.vtable,
            label: self.label(),
            handle,
            ctx,
            broken: None,
        }))
    }

    fn open_writer(
        &self,
        format: &str,
        options: &Options,
        sink: Box<dyn ByteSink>,
    ) -> Result<Box<dyn Writer>, PluginError> {
        let Some(open) = self
            .vtable
            .open_writer
            .filter(|_| self.descriptor.capabilities.write)
        else {
            return Err(PluginError::unsupported(format!(
                "{} cannot write files",
                self.label()
            )));
        };
        let mut ctx = Box::new(SinkCtx {
            io: sink,
            error: None,
        });
        let handle = self.open_handle(open, "writer", format, options, &mut ctx, |ctx| {
            abi::SinkCallbacks {
                size: size_of::<abi::SinkCallbacks>(),
                ctx,
                write: Some(sink_write),
                flush: Some(sink_flush),
            }
        })?;
        Ok(Box::new(HostWriter {
            vtable: self.vtable,
            label: self.label(),
            sheets: self.descriptor.capabilities.sheets,
            handle,
            ctx,
            broken: None,
        }))
    }
}

/// The ABI's open function of either direction: readers and writers differ only in the
/// callbacks they are given and the handle they return.
type OpenFn<C, H> = unsafe extern "C" fn(
    abi::StrRef,
    *const abi::KeyValue,
    usize,
    *const C,
    *mut *mut H,
    *mut abi::PluginError,
) -> Status;

impl LoadedPlugin {
    /// Calls `open` with the callbacks `make_callbacks` builds around a pointer to `ctx`, and
    /// returns the new handle (`kind` names it in errors). `ctx` must be boxed, and the box
    /// owned by the reader or writer that gets the handle: the plugin keeps the pointer.
    fn open_handle<T: ?Sized, C, H>(
        &self,
        open: OpenFn<C, H>,
        kind: &str,
        format: &str,
        options: &Options,
        ctx: &mut IoCtx<T>,
        make_callbacks: impl FnOnce(*mut c_void) -> C,
    ) -> Result<*mut H, PluginError> {
        let callbacks = make_callbacks((ctx as *mut IoCtx<T>).cast());
        let pairs = OptionPairs::new(options);
        let mut handle = ptr::null_mut();
        let mut err = ErrorBuffer::new();
        // SAFETY: every pointer is valid for the call; `ctx` is boxed, so its address stays valid
        // until the reader or writer that owns the box is released.
        let status = unsafe {
            open(
                abi::StrRef::new(format),
                pairs.as_ptr(),
                pairs.len(),
                &callbacks,
                &mut handle,
                err.as_abi(),
            )
        };
        check(status, &mut err, ctx.error.take(), &self.label())?;
        if handle.is_null() {
            return Err(PluginError::internal(format!(
                "{} returned no {kind}",
                self.label()
            )));
        }
        Ok(handle)
    }
}

/// Turns a status into a result. `host_error` is the host's own I/O error, if a callback failed:
/// it is what really went wrong when the plugin answers `IO`.
fn check(
    status: Status,
    err: &mut ErrorBuffer,
    host_error: Option<String>,
    label: &str,
) -> Result<(), PluginError> {
    if status == Status::OK {
        return Ok(());
    }
    let message = err.take();
    let kind = ErrorKind::from_status(status);
    Err(match kind {
        ErrorKind::Io => PluginError::io(host_error.unwrap_or(message)),
        ErrorKind::Panic => PluginError::new(kind, format!("{label} panicked: {message}")),
        ErrorKind::Internal => PluginError::new(kind, format!("{label} failed ({status}): {message}")),
        _ => PluginError::new(kind, message),
    })
}

/// The host-owned error buffer handed to every call.
struct ErrorBuffer {
    bytes: Vec<u8>,
    raw: abi::PluginError,
}

impl ErrorBuffer {
    fn new() -> ErrorBuffer {
        ErrorBuffer {
            bytes: vec![0; ERROR_CAPACITY],
            raw: abi::PluginError {
                message: ptr::null_mut(),
                capacity: 0,
                len: 0,
            },
        }
    }

    /// The ABI struct, reset for one call; valid until the next call on `self`.
    fn as_abi(&mut self) -> *mut abi::PluginError {
        self.raw = abi::PluginError {
            message: self.bytes.as_mut_ptr(),
            capacity: self.bytes.len(),
            len: 0,
        };
        &mut self.raw
    }

    /// The message the plugin wrote (lossy on invalid UTF-8: it is only ever shown to people).
    fn take(&mut self) -> String {
        let len = self.raw.len.min(self.bytes.len());
        self.raw.len = 0;
        String::from_utf8_lossy(&self.bytes[..len]).into_owned()
    }
}

/// Options as ABI key/value pairs; the strings are borrowed from the [`Options`].
struct OptionPairs<'a> {
    pairs: Vec<abi::KeyValue>,
    _options: std::marker::PhantomData<&'a Options>,
}

impl<'a> OptionPairs<'a> {
    fn new(options: &'a Options) -> OptionPairs<'a> {
        OptionPairs {
            pairs: options
                .iter()
                .map(|(k, v)| abi::KeyValue {
                    key: abi::StrRef::new(k),
                    value: abi::StrRef::new(v),
                })
                .collect(),
            _options: std::marker::PhantomData,
        }
    }

    fn as_ptr(&self) -> *const abi::KeyValue {
        if self.pairs.is_empty() {
            ptr::null()
        } else {
            self.pairs.as_ptr()
        }
    }

    fn len(&self) -> usize {
        self.pairs.len()
    }
}

// ---------------------------------------------------------------------------------------------
// Host callbacks
// ---------------------------------------------------------------------------------------------

/// What the host's byte callbacks point at: the byte stream and its last I/O error.
struct IoCtx<T: ?Sized> {
    io: Box<T>,
    /// The last I/O error, reported instead of the plugin's generic `IO` status.
    error: Option<String>,
}

type SourceCtx = IoCtx<dyn ByteSource>;
type SinkCtx = IoCtx<dyn ByteSink>;

/// Runs a callback body; a panic in host code must not unwind into the plugin's frames.
fn callback(f: impl FnOnce() -> Status) -> Status {
    catch_unwind(AssertUnwindSafe(f)).unwrap_or(Status::INTERNAL)
}

unsafe extern "C" fn source_read(ctx: *mut c_void, buf: *mut u8, len: usize, out_read: *mut usize) -> Status {
    callback(|| {
        // SAFETY: `ctx` is the `SourceCtx` this host boxed for the reader, alive until release;
        // the plugin calls back only from inside a call on that reader (ABI threading rule).
        let Some(ctx) = (unsafe { ctx.cast::<SourceCtx>().as_mut() }) else {
            return Status::INVALID_ARGUMENT;
        };
        if out_read.is_null() || (buf.is_null() && len > 0) {
            return Status::INVALID_ARGUMENT;
        }
        let slice = if len == 0 {
            &mut [][..]
        } else {
            // SAFETY: the plugin lends `len` writable bytes at `buf` for this call.
            unsafe { std::slice::from_raw_parts_mut(buf, len) }
        };
        match ctx.io.read(slice) {
            Ok(n) => {
                // SAFETY: checked non-null above.
                unsafe { out_read.write(n) };
                Status::OK
            }
            Err(e) => {
                ctx.error = Some(e.to_string());
                Status::IO
            }
        }
    })
}

unsafe extern "C" fn source_seek(ctx: *mut c_void, offset: i64, whence: u32, out_pos: *mut u64) -> Status {
    callback(|| {
        // SAFETY: as in `source_read`.
        let Some(ctx) = (unsafe { ctx.cast::<SourceCtx>().as_mut() }) else {
            return Status::INVALID_ARGUMENT;
        };
        let pos = match whence {
            abi::SEEK_SET => match u64::try_from(offset) {
                Ok(o) => SeekFrom::Start(o),
                Err(_) => return Status::INVALID_ARGUMENT,
            },
            abi::SEEK_CUR => SeekFrom::Current(offset),
            abi::SEEK_END => SeekFrom::End(offset),
            _ => return Status::INVALID_ARGUMENT,
        };
        match ctx.io.seek(pos) {
            Ok(p) => {
                if !out_pos.is_null() {
                    // SAFETY: checked non-null; the plugin lends the slot for this call.
                    unsafe { out_pos.write(p) };
                }
                Status::OK
            }
            Err(e) => {
                ctx.error = Some(e.to_string());
                Status::IO
            }
        }
    })
}

unsafe extern "C" fn sink_write(ctx: *mut c_void, buf: *const u8, len: usize) -> Status {
    callback(|| {
        // SAFETY: `ctx` is the `SinkCtx` this host boxed for the writer (see `source_read`).
        let Some(ctx) = (unsafe { ctx.cast::<SinkCtx>().as_mut() }) else {
            return Status::INVALID_ARGUMENT;
        };
        if buf.is_null() && len > 0 {
            return Status::INVALID_ARGUMENT;
        }
        let bytes = if len == 0 {
            &[][..]
        } else {
            // SAFETY: the plugin lends `len` readable bytes at `buf` for this call.
            unsafe { std::slice::from_raw_parts(buf, len) }
        };
        match ctx.io.write_all(bytes) {
            Ok(()) => Status::OK,
            Err(e) => {
                ctx.error = Some(e.to_string());
                Status::IO
            }
        }
    })
}

unsafe extern "C" fn sink_flush(ctx: *mut c_void) -> Status {
    callback(|| {
        // SAFETY: as in `sink_write`.
        let Some(ctx) = (unsafe { ctx.cast::<SinkCtx>().as_mut() }) else {
            return Status::INVALID_ARGUMENT;
        };
        match ctx.io.flush() {
            Ok(()) => Status::OK,
            Err(e) => {
                ctx.error = Some(e.to_string());
                Status::IO
            }
        }
    })
}

// ---------------------------------------------------------------------------------------------
// Instances
// ---------------------------------------------------------------------------------------------

/// A reader instance inside a loaded plugin.
struct HostReader {
    vtable: abi::PluginVTable,
    label: String,
    handle: *mut abi::ReaderHandle,
    /// Boxed so the address handed to the plugin as `ctx` never moves.
    ctx: Box<SourceCtx>,
    /// Set after a panic or internal error: the instance is not called again.
    broken: Option<PluginError>,
}

// SAFETY: the ABI requires instances not to be tied to a thread (calls are sequential, possibly
// from different threads), and `&mut self` on every call keeps them sequential here.
unsafe impl Send for HostReader {}

/// Remembers a panic or internal error so that the instance is never called again.
fn poison_on_fatal(
    broken: &mut Option<PluginError>,
    result: Result<(), PluginError>,
) -> Result<(), PluginError> {
    if let Err(e) = &result
        && matches!(e.kind, ErrorKind::Panic | ErrorKind::Internal)
    {
        *broken = Some(e.clone());
    }
    result
}

impl HostReader {
    fn ensure_usable(&self) -> Result<(), PluginError> {
        match &self.broken {
            Some(e) => Err(PluginError::new(
                e.kind,
                format!(
                    "{} is unusable after an earlier failure: {}",
                    self.label, e.message
                ),
            )),
            None => Ok(()),
        }
    }
}

impl Reader for HostReader {
    fn header(&mut self) -> Result<Vec<String>, PluginError> {
        self.ensure_usable()?;
        let Some(f) = self.vtable.reader_header else {
            return Err(PluginError::internal(format!(
                "{} has no reader_header",
                self.label
            )));
        };
        let mut out = abi::Header::EMPTY;
        let mut err = ErrorBuffer::new();
        // SAFETY: a live handle, a writable slot and an error buffer, all valid for the call.
        let status = unsafe { f(self.handle, &mut out, err.as_abi()) };
        let result = check(status, &mut err, self.ctx.error.take(), &self.label);
        poison_on_fatal(&mut self.broken, result)?;
        // SAFETY: on OK the plugin filled `out` per the ABI (valid until released).
        let names = unsafe { header_from_abi(&out) };
        if let Some(release) = out.release {
            // SAFETY: releasing a header the plugin produced, exactly once.
            unsafe { release(&mut out) };
        }
        names.map_err(|e| {
            let error = PluginError::internal(format!("{} sent a broken header: {e}", self.label));
            self.broken = Some(error.clone());
            error
        })
    }

    fn next_batch(&mut self, max_rows: usize) -> Result<Option<RowBatch>, PluginError> {
        self.ensure_usable()?;
        let Some(f) = self.vtable.reader_next_batch else {
            return Err(PluginError::internal(format!(
                "{} has no reader_next_batch",
                self.label
            )));
        };
        let mut out = abi::Batch::EMPTY;
        let mut err = ErrorBuffer::new();
        // SAFETY: as in `header`.
        let status = unsafe { f(self.handle, max_rows.max(1), &mut out, err.as_abi()) };
        if status == Status::END_OF_DATA {
            return Ok(None);
        }
        let result = check(status, &mut err, self.ctx.error.take(), &self.label);
        poison_on_fatal(&mut self.broken, result)?;
        // SAFETY: on OK the plugin filled `out` per the ABI (valid until released).
        let batch = unsafe { batch_from_abi(&out) };
        if let Some(release) = out.release {
            // SAFETY: releasing a batch the plugin produced, exactly once.
            unsafe { release(&mut out) };
        }
        batch.map(Some).map_err(|e| {
            let error = PluginError::internal(format!("{} sent a broken batch: {e}", self.label));
            self.broken = Some(error.clone());
            error
        })
    }
}

impl Drop for HostReader {
    fn drop(&mut self) {
        if let Some(release) = self.vtable.reader_release {
            // SAFETY: the handle came from `open_reader` and is released exactly once, here.
            unsafe { release(self.handle) };
        }
    }
}

/// A writer instance inside a loaded plugin.
struct HostWriter {
    vtable: abi::PluginVTable,
    label: String,
    sheets: bool,
    handle: *mut abi::WriterHandle,
    ctx: Box<SinkCtx>,
    broken: Option<PluginError>,
}

// SAFETY: as for `HostReader`.
unsafe impl Send for HostWriter {}

impl HostWriter {
    fn ensure_usable(&self) -> Result<(), PluginError> {
        match &self.broken {
            Some(e) => Err(PluginError::new(
                e.kind,
                format!(
                    "{} is unusable after an earlier failure: {}",
                    self.label, e.message
                ),
            )),
            None => Ok(()),
        }
    }

    /// Runs one call and maps its status.
    fn run(&mut self, call: impl FnOnce(*mut abi::PluginError) -> Status) -> Result<(), PluginError> {
        self.ensure_usable()?;
        let mut err = ErrorBuffer::new();
        let status = call(err.as_abi());
        let result = check(status, &mut err, self.ctx.error.take(), &self.label);
        poison_on_fatal(&mut self.broken, result)
    }
}

impl Writer for HostWriter {
    fn write_header(&mut self, columns: &[Column]) -> Result<(), PluginError> {
        let f = self
            .vtable
            .writer_write_header
            .ok_or_else(|| PluginError::internal(format!("{} has no writer_write_header", self.label)))?;
        let view = ColumnsView::new(columns);
        let (ptr, len) = view.as_abi();
        let handle = self.handle;
        // SAFETY: a live handle and columns borrowed for the call.
        self.run(|err| unsafe { f(handle, ptr, len, err) })
    }

    fn write_rows(&mut self, rows: &RowBatch) -> Result<(), PluginError> {
        let f = self
            .vtable
            .writer_write_rows
            .ok_or_else(|| PluginError::internal(format!("{} has no writer_write_rows", self.label)))?;
        let mut lent = RowBatch::new();
        let rows = if rows.errors.is_empty() {
            rows
        } else {
            // Writers are promised a batch without errors.
            lent.rows.clone_from(&rows.rows);
            &lent
        };
        let view = BatchView::new(rows);
        let batch = view.as_abi();
        let handle = self.handle;
        // SAFETY: a live handle and a batch borrowed for the call.
        self.run(|err| unsafe { f(handle, &batch, err) })
    }

    fn finish(&mut self) -> Result<(), PluginError> {
        let f = self
            .vtable
            .writer_finish
            .ok_or_else(|| PluginError::internal(format!("{} has no writer_finish", self.label)))?;
        let handle = self.handle;
        // SAFETY: a live handle.
        self.run(|err| unsafe { f(handle, err) })
    }

    fn start_sheet(&mut self, name: &str) -> Result<(), PluginError> {
        let f = match self.vtable.writer_start_sheet {
            Some(f) if self.sheets => f,
            _ => {
                return Err(PluginError::unsupported(format!(
                    "{} writes a single sheet; cannot start sheet `{name}`",
                    self.label
                )));
            }
        };
        let handle = self.handle;
        // SAFETY: a live handle and a name borrowed for the call.
        self.run(|err| unsafe { f(handle, abi::StrRef::new(name), err) })
    }
}

impl Drop for HostWriter {
    fn drop(&mut self) {
        if let Some(release) = self.vtable.writer_release {
            // SAFETY: the handle came from `open_writer` and is released exactly once, here.
            unsafe { release(self.handle) };
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Discovery
// ---------------------------------------------------------------------------------------------

/// The loaded plugins, by format.
#[derive(Debug, Default, Clone)]
pub struct PluginRegistry {
    plugins: Vec<Arc<LoadedPlugin>>,
    by_format: HashMap<String, Arc<LoadedPlugin>>,
}

impl PluginRegistry {
    /// Loads every plugin library in `dirs` (in order), then in [`default_plugin_dirs`].
    ///
    /// A configured directory that does not exist is an error; a default one is skipped. The
    /// same library reached twice (a hard link or two paths) loads once, and an identical copy
    /// of a plugin (same name, version and formats) in a later default directory is skipped.
    /// Any other failure stops discovery: a server should not start with a half-loaded set.
    pub fn discover(dirs: &[PathBuf]) -> Result<PluginRegistry, HostError> {
        let configured = dirs.iter().map(|d| (d.clone(), true));
        let defaults = default_plugin_dirs().into_iter().map(|d| (d, false));
        Self::scan(configured.chain(defaults))
    }

    /// Like [`PluginRegistry::discover`], but only `dirs`, without the defaults.
    pub fn load_dirs(dirs: &[PathBuf]) -> Result<PluginRegistry, HostError> {
        Self::scan(dirs.iter().map(|d| (d.clone(), true)))
    }

    fn scan(dirs: impl Iterator<Item = (PathBuf, bool)>) -> Result<PluginRegistry, HostError> {
        let mut registry = PluginRegistry::default();
        let mut seen_files = HashSet::new();
        for (dir, required) in dirs {
            let entries = match std::fs::read_dir(&dir) {
                Ok(entries) => entries,
                Err(source) if required => return Err(HostError::Dir { path: dir, source }),
                Err(_) => continue,
            };
            let mut files: Vec<PathBuf> = entries
                .filter_map(Result::ok)
                .map(|e| e.path())
                .filter(|p| is_plugin_file(p))
                .collect();
            files.sort();
            for file in files {
                if !seen_files.insert(file_identity(&file)) {
                    continue;
                }
                let plugin = load_plugin(&file)?;
                registry.add(Arc::new(plugin), required)?;
            }
        }
        Ok(registry)
    }

    /// Adds a loaded plugin; `explicit` copies are never silently skipped.
    fn add(&mut self, plugin: Arc<LoadedPlugin>, explicit: bool) -> Result<(), HostError> {
        for format in &plugin.descriptor.formats {
            if let Some(existing) = self.by_format.get(format) {
                let d = &existing.descriptor;
                let same = d.name == plugin.descriptor.name
                    && d.version == plugin.descriptor.version
                    && d.formats == plugin.descriptor.formats;
                if same && !explicit {
                    tracing::debug!(skipped = %plugin.path.display(), kept = %existing.path.display(), "identical plugin copy skipped");
                    return Ok(());
                }
                return Err(HostError::DuplicateFormat {
                    format: format.clone(),
                    first: existing.label(),
                    second: plugin.label(),
                });
            }
        }
        for format in &plugin.descriptor.formats {
            self.by_format.insert(format.clone(), plugin.clone());
        }
        self.plugins.push(plugin);
        Ok(())
    }

    /// Every loaded plugin, in load order.
    pub fn plugins(&self) -> &[Arc<LoadedPlugin>] {
        &self.plugins
    }

    /// The plugin serving `format` (case-insensitive).
    pub fn for_format(&self, format: &str) -> Option<&Arc<LoadedPlugin>> {
        self.by_format.get(&format.trim().to_ascii_lowercase())
    }

    /// The format a file name's extension belongs to, among plugins that can read (`reading`)
    /// or write. Vendor layout plugins (those listing modules) are never guessed: a `.csv` is
    /// a csv file unless the caller names the layout.
    pub fn format_for_file_name(&self, file_name: &str, reading: bool) -> Option<String> {
        let ext = Path::new(file_name).extension()?.to_str()?.to_ascii_lowercase();
        self.plugins
            .iter()
            .filter(|p| p.descriptor.modules.is_empty())
            .filter(|p| {
                let caps = p.descriptor.capabilities;
                if reading { caps.read } else { caps.write }
            })
            .find(|p| p.descriptor.extensions.contains(&ext))
            .and_then(|p| p.descriptor.formats.first().cloned())
    }

    /// Every format name, sorted.
    pub fn formats(&self) -> Vec<String> {
        let mut formats: Vec<String> = self.by_format.keys().cloned().collect();
        formats.sort();
        formats
    }
}

/// Whether a file name looks like a plugin library.
fn is_plugin_file(path: &Path) -> bool {
    let Some(name) = path.file_name().and_then(|n| n.to_str()) else {
        return false;
    };
    name.starts_with(LIB_PREFIX) && name.ends_with(std::env::consts::DLL_SUFFIX) && path.is_file()
}

/// Identifies a file across hard links (cargo hard-links `deps/libx.so` to `libx.so`).
fn file_identity(path: &Path) -> (u64, u64, PathBuf) {
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        if let Ok(meta) = std::fs::metadata(path) {
            return (meta.dev(), meta.ino(), PathBuf::new());
        }
    }
    (
        0,
        0,
        std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf()),
    )
}

/// The directories searched after the configured ones: the running executable's directory, then
/// the cargo target directory this crate was built into, so a fresh clone's `cargo run` and
/// `cargo test` find the bundled plugins without configuration.
///
/// In a cargo profile directory, its `deps/` comes first: `cargo test` rebuilds plugins there
/// without refreshing the copies one level up, so those can be stale.
pub fn default_plugin_dirs() -> Vec<PathBuf> {
    let mut dirs: Vec<PathBuf> = Vec::new();
    let mut add = |dir: PathBuf| {
        // A cargo profile dir: target/<profile>/deps holds the freshest build of each plugin.
        let candidates = if dir.file_name().is_some_and(|n| n == "deps") {
            vec![Some(dir.clone()), dir.parent().map(Path::to_path_buf)]
        } else {
            vec![Some(dir.join("deps")).filter(|d| d.is_dir()), Some(dir.clone())]
        };
        for candidate in candidates.into_iter().flatten() {
            if !dirs.contains(&candidate) {
                dirs.push(candidate);
            }
        }
    };
    if let Some(exe_dir) = std::env::current_exe()
        .ok()
        .and_then(|p| p.parent().map(Path::to_path_buf))
    {
        add(exe_dir);
    }
    if let Some(build_dir) = build_profile_dir() {
        add(build_dir);
    }
    dirs
}

/// `target/<profile>` of the build that compiled this crate, from `OUT_DIR`
/// (`target/<profile>/build/<crate>-<hash>/out`).
fn build_profile_dir() -> Option<PathBuf> {
    let out_dir = Path::new(env!("OUT_DIR"));
    out_dir.ancestors().nth(3).map(Path::to_path_buf)
}

/// Where the bundled plugin `name` (`csv`, `xlsx`…) was built: the first of
/// [`default_plugin_dirs`] holding `libdataport_plugin_<name>.so`. For tests and tools.
pub fn built_plugin_path(name: &str) -> Option<PathBuf> {
    let file = format!("{LIB_PREFIX}{name}{}", std::env::consts::DLL_SUFFIX);
    default_plugin_dirs()
        .into_iter()
        .map(|d| d.join(&file))
        .find(|p| p.is_file())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plugin_files_are_recognised_by_name() {
        let dir = tempfile::tempdir().unwrap();
        let good = dir
            .path()
            .join(format!("{LIB_PREFIX}csv{}", std::env::consts::DLL_SUFFIX));
        let other = dir
            .path()
            .join(format!("libsomething{}", std::env::consts::DLL_SUFFIX));
        std::fs::write(&good, b"").unwrap();
        std::fs::write(&other, b"").unwrap();
        assert!(is_plugin_file(&good));
        assert!(!is_plugin_file(&other));
        assert!(!is_plugin_file(dir.path()));
    }

    #[test]
    fn a_file_that_is_not_a_library_is_a_clear_error() {
        let dir = tempfile::tempdir().unwrap();
        let fake = dir
            .path()
            .join(format!("{LIB_PREFIX}fake{}", std::env::consts::DLL_SUFFIX));
        std::fs::write(&fake, b"not an ELF file").unwrap();
        let err = load_plugin(&fake).unwrap_err();
        assert!(matches!(err, HostError::Open { .. }), "{err}");
        assert!(err.to_string().contains(&fake.display().to_string()), "{err}");
    }

    #[test]
    fn a_missing_configured_directory_is_an_error() {
        let err = PluginRegistry::discover(&[PathBuf::from("/nonexistent/plugins")]).unwrap_err();
        assert!(matches!(err, HostError::Dir { .. }), "{err}");
        assert!(err.to_string().contains("/nonexistent/plugins"));
    }
}
