//! [`HostWriter`]: a writer instance inside a loaded plugin, behind the SDK's [`Writer`] trait.

use dataport_plugin_abi as abi;
use dataport_plugin_abi::Status;
use dataport_plugin_sdk::ffi::{BatchView, ColumnsView};
use dataport_plugin_sdk::{ByteSink, Column, PluginError, RowBatch, Writer};

use crate::call::{ErrorBuffer, check};
use crate::callbacks::CallbackCtx;
use crate::poison::Poison;

/// A writer instance inside a loaded plugin.
///
/// Field order matters: `Drop` releases `handle`, then `ctx` is freed, so the plugin never holds
/// a dangling `ctx`.
pub(crate) struct HostWriter {
    vtable: abi::PluginVTable,
    label: String,
    sheets: bool,
    handle: *mut abi::WriterHandle,
    ctx: CallbackCtx<dyn ByteSink>,
    poison: Poison,
}

// SAFETY: as for `HostReader`.
unsafe impl Send for HostWriter {}

impl HostWriter {
    /// Takes ownership of `handle`, opened with callbacks around `ctx`. `sheets`: whether the
    /// plugin declared it writes several sheets.
    pub(crate) fn new(
        vtable: abi::PluginVTable,
        label: String,
        sheets: bool,
        handle: *mut abi::WriterHandle,
        ctx: CallbackCtx<dyn ByteSink>,
    ) -> HostWriter {
        HostWriter {
            vtable,
            label,
            sheets,
            handle,
            ctx,
            poison: Poison::default(),
        }
    }

    fn missing(&self, function: &str) -> PluginError {
        PluginError::internal(format!("{} has no {function}", self.label))
    }

    /// Runs one call and maps its status.
    fn run(&mut self, call: impl FnOnce(*mut abi::PluginError) -> Status) -> Result<(), PluginError> {
        self.poison.ensure_usable(&self.label)?;
        let mut err = ErrorBuffer::new();
        let status = call(err.as_abi());
        let result = check(status, &mut err, self.ctx.take_error(), &self.label);
        self.poison.on_fatal(result)
    }
}

impl Writer for HostWriter {
    fn write_header(&mut self, columns: &[Column]) -> Result<(), PluginError> {
        let f = self
            .vtable
            .writer_write_header
            .ok_or_else(|| self.missing("writer_write_header"))?;
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
            .ok_or_else(|| self.missing("writer_write_rows"))?;
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
            .ok_or_else(|| self.missing("writer_finish"))?;
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
