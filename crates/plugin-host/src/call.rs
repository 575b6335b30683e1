//! What every call into a plugin needs: the error buffer it may write to, the options as ABI
//! pairs, and the mapping of its status to a [`PluginError`].

use std::marker::PhantomData;
use std::ptr;

use dataport_plugin_abi as abi;
use dataport_plugin_abi::Status;
use dataport_plugin_sdk::{ErrorKind, Options, PluginError};

/// Largest error message a plugin can return (the SDK truncates at 4 KiB too).
const ERROR_CAPACITY: usize = 4096;

/// Turns a status into a result. `host_error` is the host's own I/O error, if a callback failed:
/// it is what really went wrong when the plugin answers `IO`.
pub(crate) fn check(
    status: Status,
    err: &mut ErrorBuffer,
    host_error: Option<String>,
    label: &str,
) -> Result<(), PluginError> {
    if status == Status::OK {
        return Ok(());
    }
    let (row, row_only) = err.location();
    let message = err.take();
    let kind = ErrorKind::from_status(status);
    let mut e = match kind {
        ErrorKind::Io => PluginError::io(host_error.unwrap_or(message)),
        ErrorKind::Panic => PluginError::new(kind, format!("{label} panicked: {message}")),
        ErrorKind::Internal => PluginError::new(kind, format!("{label} failed ({status}): {message}")),
        // `ErrorKind` is the SDK's public, non-exhaustive enum: the other kinds pass through.
        _ => PluginError::new(kind, message),
    };
    e.row = row;
    // Only a file-level kind can spare the rest of the file.
    e.row_only = row_only
        && row.is_some()
        && matches!(
            kind,
            ErrorKind::MalformedFile | ErrorKind::Encoding | ErrorKind::InvalidValue
        );
    Err(e)
}

/// The host-owned error buffer handed to every call.
pub(crate) struct ErrorBuffer {
    bytes: Vec<u8>,
    raw: abi::PluginError,
}

impl ErrorBuffer {
    pub(crate) fn new() -> ErrorBuffer {
        ErrorBuffer {
            bytes: vec![0; ERROR_CAPACITY],
            raw: abi::PluginError {
                message: ptr::null_mut(),
                capacity: 0,
                len: 0,
                row: 0,
                flags: 0,
            },
        }
    }

    /// The ABI struct, reset for one call; valid until the next call on `self`.
    pub(crate) fn as_abi(&mut self) -> *mut abi::PluginError {
        self.raw = abi::PluginError {
            message: self.bytes.as_mut_ptr(),
            capacity: self.bytes.len(),
            len: 0,
            row: 0,
            flags: 0,
        };
        &mut self.raw
    }

    /// The row the plugin named (v2; 0 means none, which a v1 plugin always leaves) and whether
    /// the error concerns that row only.
    pub(crate) fn location(&self) -> (Option<u64>, bool) {
        let row = (self.raw.row > 0).then_some(self.raw.row);
        (row, self.raw.flags & abi::ERROR_ROW_ONLY != 0)
    }

    /// The message the plugin wrote (lossy on invalid UTF-8: it is only ever shown to people).
    pub(crate) fn take(&mut self) -> String {
        let len = self.raw.len.min(self.bytes.len());
        self.raw.len = 0;
        String::from_utf8_lossy(&self.bytes[..len]).into_owned()
    }
}

/// Options as ABI key/value pairs; the strings are borrowed from the [`Options`].
pub(crate) struct OptionPairs<'a> {
    pairs: Vec<abi::KeyValue>,
    _options: PhantomData<&'a Options>,
}

impl<'a> OptionPairs<'a> {
    pub(crate) fn new(options: &'a Options) -> OptionPairs<'a> {
        OptionPairs {
            pairs: options
                .iter()
                .map(|(k, v)| abi::KeyValue {
                    key: abi::StrRef::new(k),
                    value: abi::StrRef::new(v),
                })
                .collect(),
            _options: PhantomData,
        }
    }

    pub(crate) fn as_ptr(&self) -> *const abi::KeyValue {
        if self.pairs.is_empty() {
            ptr::null()
        } else {
            self.pairs.as_ptr()
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.pairs.len()
    }
}
