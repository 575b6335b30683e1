//! [`HostReader`]: a reader instance inside a loaded plugin, behind the SDK's [`Reader`] trait.

use dataport_plugin_abi as abi;
use dataport_plugin_abi::Status;
use dataport_plugin_sdk::ffi::{batch_from_abi, header_from_abi};
use dataport_plugin_sdk::{ByteSource, Checkpoint, ErrorKind, PluginError, Reader, RowBatch};

use crate::call::{ErrorBuffer, check};
use crate::callbacks::CallbackCtx;
use crate::poison::Poison;

/// A reader instance inside a loaded plugin.
///
/// Field order matters: `Drop` releases `handle`, then `ctx` is freed, so the plugin never holds
/// a dangling `ctx`.
pub(crate) struct HostReader {
    vtable: abi::PluginVTable,
    label: String,
    handle: *mut abi::ReaderHandle,
    ctx: CallbackCtx<dyn ByteSource>,
    poison: Poison,
}

// SAFETY: the ABI requires instances not to be tied to a thread (calls are sequential, possibly
// from different threads), `&mut self` on every call keeps them sequential here, and the byte
// source behind `ctx` is `Send`.
unsafe impl Send for HostReader {}

impl HostReader {
    /// Takes ownership of `handle`, opened with callbacks around `ctx`.
    pub(crate) fn new(
        vtable: abi::PluginVTable,
        label: String,
        handle: *mut abi::ReaderHandle,
        ctx: CallbackCtx<dyn ByteSource>,
    ) -> HostReader {
        HostReader {
            vtable,
            label,
            handle,
            ctx,
            poison: Poison::default(),
        }
    }

    fn missing(&self, function: &str) -> PluginError {
        PluginError::internal(format!("{} has no {function}", self.label))
    }

    /// Calls `reader_next_batch` into `out` and hands back the status, keeping the batch
    /// unreleased: the conformance checker inspects what the plugin left in `out` and releases
    /// it when it chooses. A failure is returned as the error it maps to.
    pub(crate) fn next_batch_raw(
        &mut self,
        max_rows: usize,
        out: &mut abi::Batch,
    ) -> Result<Status, PluginError> {
        self.poison.ensure_usable(&self.label)?;
        let f = self
            .vtable
            .reader_next_batch
            .ok_or_else(|| self.missing("reader_next_batch"))?;
        let mut err = ErrorBuffer::new();
        // SAFETY: as in `header`; `out` outlives the call.
        let status = unsafe { f(self.handle, max_rows, out, err.as_abi()) };
        if status == Status::END_OF_DATA {
            return Ok(status);
        }
        let result = check(status, &mut err, self.ctx.take_error(), &self.label);
        self.poison.on_fatal(result)?;
        Ok(status)
    }
}

impl Reader for HostReader {
    fn header(&mut self) -> Result<Vec<String>, PluginError> {
        self.poison.ensure_usable(&self.label)?;
        let f = self
            .vtable
            .reader_header
            .ok_or_else(|| self.missing("reader_header"))?;
        let mut out = abi::Header::EMPTY;
        let mut err = ErrorBuffer::new();
        // SAFETY: a live handle, a writable slot and an error buffer, all valid for the call.
        let status = unsafe { f(self.handle, &mut out, err.as_abi()) };
        let result = check(status, &mut err, self.ctx.take_error(), &self.label);
        self.poison.on_fatal(result)?;
        // SAFETY: on OK the plugin filled `out` per the ABI (valid until released).
        let names = unsafe { header_from_abi(&out) };
        if let Some(release) = out.release {
            // SAFETY: releasing a header the plugin produced, exactly once.
            unsafe { release(&mut out) };
        }
        names.map_err(|e| {
            self.poison.set(PluginError::internal(format!(
                "{} sent a broken header: {e}",
                self.label
            )))
        })
    }

    fn next_batch(&mut self, max_rows: usize) -> Result<Option<RowBatch>, PluginError> {
        self.poison.ensure_usable(&self.label)?;
        let f = self
            .vtable
            .reader_next_batch
            .ok_or_else(|| self.missing("reader_next_batch"))?;
        let mut out = abi::Batch::EMPTY;
        let mut err = ErrorBuffer::new();
        // SAFETY: as in `header`.
        let status = unsafe { f(self.handle, max_rows.max(1), &mut out, err.as_abi()) };
        if status == Status::END_OF_DATA {
            return Ok(None);
        }
        let result = check(status, &mut err, self.ctx.take_error(), &self.label);
        self.poison.on_fatal(result)?;
        // SAFETY: on OK the plugin filled `out` per the ABI (valid until released).
        let batch = unsafe { batch_from_abi(&out) };
        if let Some(release) = out.release {
            // SAFETY: releasing a batch the plugin produced, exactly once.
            unsafe { release(&mut out) };
        }
        batch.map(Some).map_err(|e| {
            self.poison.set(PluginError::internal(format!(
                "{} sent a broken batch: {e}",
                self.label
            )))
        })
    }
    fn checkpoint(&mut self) -> Result<Option<Checkpoint>, PluginError> {
        self.poison.ensure_usable(&self.label)?;
        let Some(f) = self.vtable.reader_checkpoint else {
            return Ok(None);
        };
        let mut state = vec![0u8; abi::CHECKPOINT_STATE_CAPACITY];
        let mut out = abi::Checkpoint {
            offset: 0,
            next_row: 0,
            state: state.as_mut_ptr(),
            state_capacity: state.len(),
            state_len: 0,
        };
        let mut err = ErrorBuffer::new();
        // SAFETY: a live handle, a checkpoint whose buffer holds `state_capacity` bytes, and an
        // error buffer, all valid for the call.
        let status = unsafe { f(self.handle, &mut out, err.as_abi()) };
        if status == Status::UNSUPPORTED {
            return Ok(None);
        }
        let result = check(status, &mut err, self.ctx.take_error(), &self.label);
        self.poison.on_fatal(result)?;
        if out.state_len > state.len() {
            return Err(self.poison.set(PluginError::internal(format!(
                "{} reported a checkpoint state of {} bytes in a buffer of {}",
                self.label,
                out.state_len,
                state.len()
            ))));
        }
        state.truncate(out.state_len);
        Ok(Some(Checkpoint {
            offset: out.offset,
            next_row: out.next_row,
            state,
        }))
    }

    fn rows_total(&mut self) -> Option<u64> {
        self.poison.ensure_usable(&self.label).ok()?;
        let f = self.vtable.reader_rows_total?;
        let mut rows = 0u64;
        let mut err = ErrorBuffer::new();
        // SAFETY: a live handle, a writable u64 and an error buffer, all valid for the call.
        let status = unsafe { f(self.handle, &mut rows, err.as_abi()) };
        // Only a count for progress: a refusal or an error here means "unknown", never a failure.
        let _ = self.ctx.take_error();
        (status == Status::OK).then_some(rows)
    }

    fn resume(&mut self, at: &Checkpoint) -> Result<(), PluginError> {
        self.poison.ensure_usable(&self.label)?;
        let Some(f) = self.vtable.reader_resume else {
            return Err(PluginError::new(
                ErrorKind::Unsupported,
                format!("{} cannot resume from a byte offset", self.label),
            ));
        };
        let mut state = at.state.clone();
        let raw = abi::Checkpoint {
            offset: at.offset,
            next_row: at.next_row,
            state: state.as_mut_ptr(),
            state_capacity: state.len(),
            state_len: state.len(),
        };
        let mut err = ErrorBuffer::new();
        // SAFETY: a live handle and a checkpoint whose state holds `state_len` bytes, both valid
        // for the call; the plugin only reads it (borrowed).
        let status = unsafe { f(self.handle, &raw, err.as_abi()) };
        let result = check(status, &mut err, self.ctx.take_error(), &self.label);
        self.poison.on_fatal(result)
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
