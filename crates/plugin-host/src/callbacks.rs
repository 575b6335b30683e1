//! The host callbacks handed to plugins (`read`/`seek` of a source, `write`/`flush` of a sink)
//! and the context they are called with.

use std::ffi::c_void;
use std::io::{Read, Seek, SeekFrom, Write};
use std::panic::{AssertUnwindSafe, catch_unwind};

use dataport_plugin_abi as abi;
use dataport_plugin_abi::Status;
use dataport_plugin_sdk::{ByteSink, ByteSource};

/// What the host's byte callbacks point at: the byte stream and its last I/O error.
pub(crate) struct IoCtx<T: ?Sized> {
    io: Box<T>,
    /// The last I/O error, reported instead of the plugin's generic `IO` status.
    error: Option<String>,
}

type SourceCtx = IoCtx<dyn ByteSource>;
type SinkCtx = IoCtx<dyn ByteSink>;

/// Owns the [`IoCtx`] whose address a plugin keeps as its callbacks' `ctx`.
///
/// Held as the raw pointer of `Box::into_raw`, not as a `Box`: the plugin keeps a copy of the
/// pointer between calls, and a `Box` claims unique access (moving it, as moving the reader or
/// writer does, would invalidate that copy). Freed exactly once, by `Drop`.
pub(crate) struct CallbackCtx<T: ?Sized> {
    raw: *mut IoCtx<T>,
}

impl<T: ?Sized> CallbackCtx<T> {
    pub(crate) fn new(io: Box<T>) -> CallbackCtx<T> {
        CallbackCtx {
            raw: Box::into_raw(Box::new(IoCtx { io, error: None })),
        }
    }

    /// The `ctx` to put in the callbacks struct; valid until `self` is dropped.
    pub(crate) fn as_ptr(&self) -> *mut c_void {
        self.raw.cast()
    }

    /// Takes the host I/O error the last call's callbacks ran into.
    pub(crate) fn take_error(&mut self) -> Option<String> {
        // SAFETY: `raw` came from `Box::into_raw` and is freed only by `drop`. The plugin uses its
        // copy only during a call on the instance, and every call takes `&mut` of the instance,
        // so no callback runs while this reference lives.
        unsafe { (*self.raw).error.take() }
    }
}

impl<T: ?Sized> Drop for CallbackCtx<T> {
    fn drop(&mut self) {
        // SAFETY: `raw` came from `Box::into_raw` in `new` and is freed here, once. The owner
        // drops this only after releasing the plugin handle (or after a failed open, which
        // leaves the plugin no handle), so the plugin can no longer call back with it.
        drop(unsafe { Box::from_raw(self.raw) });
    }
}

/// The callbacks of a reader, around `ctx`. `seek` is given only to plugins that need it.
pub(crate) fn source_callbacks(ctx: &CallbackCtx<dyn ByteSource>, with_seek: bool) -> abi::SourceCallbacks {
    abi::SourceCallbacks {
        size: size_of::<abi::SourceCallbacks>(),
        ctx: ctx.as_ptr(),
        read: Some(source_read),
        seek: with_seek.then_some(source_seek as abi::SeekFn),
    }
}

/// The callbacks of a writer, around `ctx`.
pub(crate) fn sink_callbacks(ctx: &CallbackCtx<dyn ByteSink>) -> abi::SinkCallbacks {
    abi::SinkCallbacks {
        size: size_of::<abi::SinkCallbacks>(),
        ctx: ctx.as_ptr(),
        write: Some(sink_write),
        flush: Some(sink_flush),
    }
}

/// Runs a callback body; a panic in host code must not unwind into the plugin's frames.
fn callback(f: impl FnOnce() -> Status) -> Status {
    catch_unwind(AssertUnwindSafe(f)).unwrap_or(Status::INTERNAL)
}

unsafe extern "C" fn source_read(ctx: *mut c_void, buf: *mut u8, len: usize, out_read: *mut usize) -> Status {
    callback(|| {
        // SAFETY: `ctx` is the `SourceCtx` of a `CallbackCtx`, alive until the reader is released;
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
        // SAFETY: `ctx` is the `SinkCtx` of a `CallbackCtx` owned by the writer (see `source_read`).
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
