//! Opening reader and writer instances: [`LoadedPlugin`]'s implementation of the SDK's
//! [`Plugin`] trait.

use std::ptr;

use dataport_plugin_abi as abi;
use dataport_plugin_abi::Status;
use dataport_plugin_sdk::{ByteSink, ByteSource, Descriptor, Options, Plugin, PluginError, Reader, Writer};

use crate::call::{ErrorBuffer, OptionPairs, check};
use crate::callbacks::{CallbackCtx, sink_callbacks, source_callbacks};
use crate::isolation;
use crate::loading::LoadedPlugin;
use crate::reader::HostReader;
use crate::writer::HostWriter;

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
        if let Some(isolation) = &self.isolation {
            let reader = isolation::open_reader(
                isolation,
                self.path(),
                self.short_label(),
                format,
                options,
                source,
            )?;
            return Ok(Box::new(reader));
        }
        Ok(Box::new(self.open_host_reader(format, options, source)?))
    }

    fn open_writer(
        &self,
        format: &str,
        options: &Options,
        sink: Box<dyn ByteSink>,
    ) -> Result<Box<dyn Writer>, PluginError> {
        if let Some(isolation) = &self.isolation {
            let writer =
                isolation::open_writer(isolation, self.path(), self.short_label(), format, options, sink)?;
            return Ok(Box::new(writer));
        }
        Ok(Box::new(self.open_host_writer(format, options, sink)?))
    }
}

impl LoadedPlugin {
    /// [`Plugin::open_reader`], as the concrete reader (the checker also makes raw calls on it).
    pub(crate) fn open_host_reader(
        &self,
        format: &str,
        options: &Options,
        source: Box<dyn ByteSource>,
    ) -> Result<HostReader, PluginError> {
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
        let mut ctx = CallbackCtx::new(source);
        let callbacks = source_callbacks(&ctx, self.descriptor.capabilities.needs_seek);
        let handle = self.open_handle(open, "reader", format, options, &callbacks, &mut ctx)?;
        Ok(HostReader::new(self.vtable, self.label(), handle, ctx))
    }

    /// [`Plugin::open_writer`], as the concrete writer.
    pub(crate) fn open_host_writer(
        &self,
        format: &str,
        options: &Options,
        sink: Box<dyn ByteSink>,
    ) -> Result<HostWriter, PluginError> {
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
        let mut ctx = CallbackCtx::new(sink);
        let callbacks = sink_callbacks(&ctx);
        let handle = self.open_handle(open, "writer", format, options, &callbacks, &mut ctx)?;
        let sheets = self.descriptor.capabilities.sheets;
        Ok(HostWriter::new(self.vtable, self.label(), sheets, handle, ctx))
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
    /// Calls `open` with `callbacks` (built around `ctx`) and returns the new handle (`kind`
    /// names it in errors). The caller hands `ctx` to the instance that owns the handle, since
    /// the plugin keeps the pointer; on an error the plugin has no handle, so `ctx` may go.
    fn open_handle<T: ?Sized, C, H>(
        &self,
        open: OpenFn<C, H>,
        kind: &str,
        format: &str,
        options: &Options,
        callbacks: &C,
        ctx: &mut CallbackCtx<T>,
    ) -> Result<*mut H, PluginError> {
        let pairs = OptionPairs::new(options);
        let mut handle: *mut H = ptr::null_mut();
        let mut err = ErrorBuffer::new();
        // SAFETY: every pointer is valid for the call; the `ctx` inside `callbacks` stays valid
        // until the `CallbackCtx` is dropped, which its owner does only after releasing the handle.
        let status = unsafe {
            open(
                abi::StrRef::new(format),
                pairs.as_ptr(),
                pairs.len(),
                callbacks,
                &mut handle,
                err.as_abi(),
            )
        };
        check(status, &mut err, ctx.take_error(), &self.label())?;
        if handle.is_null() {
            return Err(PluginError::internal(format!(
                "{} returned no {kind}",
                self.label()
            )));
        }
        Ok(handle)
    }
}

#[cfg(test)]
mod tests {
    //! A Rust plugin driven in-process through the C ABI (the SDK's exported functions), so the
    //! host side is exercised without building a library.

    use std::io::Read;
    use std::path::PathBuf;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use dataport_plugin_sdk::ffi::{Export, ExportState, init};
    use dataport_plugin_sdk::{Cell, ErrorKind, RowBatch, read_all};

    use super::*;

    /// Out-of-range values a plugin may hand over; the host must pass them on, not trip on them.
    fn extreme_cells() -> Vec<Cell> {
        vec![
            Cell::Date(i32::MIN),
            Cell::Date(i32::MAX),
            Cell::DateTime(i64::MIN),
            Cell::DateTime(i64::MAX),
            Cell::Float(f64::INFINITY),
            Cell::Float(f64::NEG_INFINITY),
            Cell::Float(f64::MAX),
            Cell::Float(f64::NAN),
        ]
    }

    /// Reads the whole source through the host's callbacks, then returns one row of
    /// [`extreme_cells`] followed by the text it read. Refuses the option `fail`.
    struct ExtremesPlugin;

    struct ExtremesReader {
        source: Box<dyn ByteSource>,
        done: bool,
        /// Fails its first batch for row 7 only, then the file at row 9 (option `rows`).
        row_errors: u32,
    }

    impl Reader for ExtremesReader {
        fn header(&mut self) -> Result<Vec<String>, PluginError> {
            Ok((1..=9).map(|i| format!("c{i}")).collect())
        }

        fn next_batch(&mut self, _max_rows: usize) -> Result<Option<RowBatch>, PluginError> {
            if self.row_errors > 0 {
                self.row_errors -= 1;
                return Err(match self.row_errors {
                    1 => PluginError::malformed("row 7 is bad").only_this_row(7),
                    _ => PluginError::malformed("the file is cut").at_row(9),
                });
            }
            if std::mem::replace(&mut self.done, true) {
                return Ok(None);
            }
            let mut text = String::new();
            self.source
                .read_to_string(&mut text)
                .map_err(|e| PluginError::io(e.to_string()))?;
            let mut cells = extreme_cells();
            cells.push(Cell::Text(text));
            let mut batch = RowBatch::new();
            batch.push_row(2, cells);
            Ok(Some(batch))
        }
    }

    impl Plugin for ExtremesPlugin {
        fn descriptor(&self) -> Descriptor {
            Descriptor::new("extremes", "1.0.0").format("extremes").reads()
        }

        fn open_reader(
            &self,
            _format: &str,
            options: &Options,
            source: Box<dyn ByteSource>,
        ) -> Result<Box<dyn Reader>, PluginError> {
            if options.get("fail").is_some() {
                return Err(PluginError::new(ErrorKind::InvalidOption, "asked to fail"));
            }
            let row_errors = if options.get("rows").is_some() { 2 } else { 0 };
            Ok(Box::new(ExtremesReader {
                source,
                done: false,
                row_errors,
            }))
        }
    }

    struct ExtremesExport;

    impl Export for ExtremesExport {
        fn state() -> &'static ExportState {
            static STATE: ExportState = ExportState::new();
            &STATE
        }

        fn make() -> Box<dyn Plugin> {
            Box::new(ExtremesPlugin)
        }
    }

    unsafe extern "C" fn extremes_init(
        abi_version: u32,
        out: *mut abi::PluginVTable,
        err: *mut abi::PluginError,
    ) -> Status {
        // SAFETY: the host's arguments, passed on unchanged (as `export_plugin!` does).
        unsafe { init::<ExtremesExport>(abi_version, out, err) }
    }

    fn extremes_plugin() -> LoadedPlugin {
        // SAFETY: an entry point built by the SDK, linked into this test binary.
        unsafe { LoadedPlugin::from_entry(extremes_init, PathBuf::from("in-process")) }.unwrap()
    }

    /// A source that counts how often it is dropped.
    struct CountedSource {
        bytes: std::io::Cursor<Vec<u8>>,
        drops: Arc<AtomicUsize>,
    }

    impl Read for CountedSource {
        fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
            self.bytes.read(buf)
        }
    }

    impl std::io::Seek for CountedSource {
        fn seek(&mut self, pos: std::io::SeekFrom) -> std::io::Result<u64> {
            self.bytes.seek(pos)
        }
    }

    impl ByteSource for CountedSource {
        fn can_seek(&self) -> bool {
            true
        }
    }

    impl Drop for CountedSource {
        fn drop(&mut self) {
            self.drops.fetch_add(1, Ordering::SeqCst);
        }
    }

    fn counted(text: &str) -> (Box<dyn ByteSource>, Arc<AtomicUsize>) {
        let drops = Arc::new(AtomicUsize::new(0));
        let source = CountedSource {
            bytes: std::io::Cursor::new(text.as_bytes().to_vec()),
            drops: drops.clone(),
        };
        (Box::new(source), drops)
    }

    #[test]
    fn extreme_dates_and_floats_cross_the_abi_unchanged() {
        let plugin = extremes_plugin();
        let (source, _) = counted("客户");
        let mut reader = plugin.open_reader("extremes", &Options::new(), source).unwrap();
        let (header, batch) = read_all(reader.as_mut(), 10).unwrap();
        assert_eq!(header.len(), 9);
        let cells = &batch.rows[0].cells;
        let expected = extreme_cells();
        // The last float is NaN, which equals nothing: compared on its own.
        assert_eq!(cells[..7], expected[..7]);
        assert!(matches!(cells[7], Cell::Float(v) if v.is_nan()), "{:?}", cells[7]);
        assert_eq!(cells[8], Cell::text("客户"), "read through the host callbacks");
    }

    #[test]
    fn the_callback_context_is_freed_once_after_the_reader_is_released() {
        let plugin = extremes_plugin();
        let (source, drops) = counted("abc");
        let mut reader = plugin.open_reader("extremes", &Options::new(), source).unwrap();
        let (_, batch) = read_all(reader.as_mut(), 10).unwrap();
        assert_eq!(batch.rows[0].cells[8], Cell::text("abc"));
        assert_eq!(
            drops.load(Ordering::SeqCst),
            0,
            "alive while the plugin may call back"
        );
        drop(reader);
        assert_eq!(drops.load(Ordering::SeqCst), 1);
    }

    #[test]
    fn v2_errors_carry_their_row_and_whether_reading_may_go_on() {
        let plugin = extremes_plugin();
        assert_eq!(
            plugin.abi_version(),
            abi::ABI_VERSION,
            "the SDK speaks the newest version"
        );
        let (source, _) = counted("");
        let options = Options::new().with("rows", "1");
        let mut reader = plugin.open_reader("extremes", &options, source).unwrap();
        let e = reader.next_batch(10).unwrap_err();
        assert_eq!(
            (e.kind, e.row, e.row_only),
            (ErrorKind::MalformedFile, Some(7), true),
            "{e}"
        );
        let e = reader.next_batch(10).unwrap_err();
        assert_eq!(
            (e.row, e.row_only, e.message.as_str()),
            (Some(9), false, "the file is cut")
        );
    }

    #[test]
    fn a_failed_open_frees_the_callback_context() {
        let plugin = extremes_plugin();
        let (source, drops) = counted("abc");
        let options = Options::new().with("fail", "yes");
        let err = plugin.open_reader("extremes", &options, source).err().unwrap();
        assert_eq!(err.kind, ErrorKind::InvalidOption, "{err}");
        assert_eq!(drops.load(Ordering::SeqCst), 1);
    }
}
