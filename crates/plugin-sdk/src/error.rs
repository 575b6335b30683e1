//! Errors a plugin reports to the host.

use std::fmt;

use dataport_plugin_abi::Status;

/// What kind of failure; maps one-to-one to an ABI [`Status`].
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorKind {
    /// An option key is unknown or its value is invalid (`INVALID_OPTION`).
    InvalidOption,
    /// The input is not a valid file of this format (`MALFORMED_FILE`). For a single bad row,
    /// prefer a [`RowError`](crate::RowError).
    MalformedFile,
    /// The input cannot be decoded in the expected encoding (`ENCODING`).
    Encoding,
    /// Reading or writing the bytes failed (`IO`).
    Io,
    /// The format, a feature or a value is not supported (`UNSUPPORTED`).
    Unsupported,
    /// A null pointer, a call out of order (`INVALID_ARGUMENT`).
    InvalidArgument,
    /// A bug (`INTERNAL`).
    Internal,
    /// The plugin panicked (`PANIC`). Set by the SDK; plugins do not return it themselves.
    Panic,
    /// The plugin does not implement the host's ABI version (`ABI_MISMATCH`).
    AbiMismatch,
    /// A value the plugin cannot translate (a vendor picklist value without a mapping). As a
    /// row error of a reader, the host reports INVALID_ENUM for that row; from a writer, it
    /// fails the export. Name the value and the column.
    InvalidValue,
}

impl ErrorKind {
    /// The ABI status for this kind.
    pub fn status(self) -> Status {
        match self {
            ErrorKind::InvalidOption => Status::INVALID_OPTION,
            ErrorKind::MalformedFile => Status::MALFORMED_FILE,
            ErrorKind::Encoding => Status::ENCODING,
            ErrorKind::Io => Status::IO,
            ErrorKind::Unsupported => Status::UNSUPPORTED,
            ErrorKind::InvalidArgument => Status::INVALID_ARGUMENT,
            ErrorKind::Internal => Status::INTERNAL,
            ErrorKind::Panic => Status::PANIC,
            ErrorKind::AbiMismatch => Status::ABI_MISMATCH,
            ErrorKind::InvalidValue => Status::INVALID_VALUE,
        }
    }

    /// The kind for an error status; `OK`, `END_OF_DATA` and unknown codes become
    /// [`ErrorKind::Internal`] (they are not errors, so a plugin returning them as one is a bug).
    pub fn from_status(status: Status) -> ErrorKind {
        match status {
            Status::INVALID_OPTION => ErrorKind::InvalidOption,
            Status::MALFORMED_FILE => ErrorKind::MalformedFile,
            Status::ENCODING => ErrorKind::Encoding,
            Status::IO => ErrorKind::Io,
            Status::UNSUPPORTED => ErrorKind::Unsupported,
            Status::INVALID_ARGUMENT => ErrorKind::InvalidArgument,
            Status::PANIC => ErrorKind::Panic,
            Status::ABI_MISMATCH => ErrorKind::AbiMismatch,
            Status::INVALID_VALUE => ErrorKind::InvalidValue,
            _ => ErrorKind::Internal,
        }
    }

    /// Stable upper-case code, e.g. `MALFORMED_FILE` (the ABI status name).
    pub fn code(self) -> &'static str {
        self.status().name()
    }
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ErrorKind::InvalidOption => "invalid option",
            ErrorKind::MalformedFile => "malformed file",
            ErrorKind::Encoding => "encoding error",
            ErrorKind::Io => "I/O error",
            ErrorKind::Unsupported => "unsupported",
            ErrorKind::InvalidArgument => "invalid argument",
            ErrorKind::Internal => "internal error",
            ErrorKind::Panic => "panic",
            ErrorKind::AbiMismatch => "ABI version mismatch",
            ErrorKind::InvalidValue => "value without a mapping",
        })
    }
}

/// An error a plugin returns from [`Reader`](crate::Reader), [`Writer`](crate::Writer) or
/// [`Plugin`](crate::Plugin) methods. Crosses the ABI as its status plus its message (truncated
/// to the host's buffer, 4 KiB).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PluginError {
    pub kind: ErrorKind,
    /// Human-readable, in English (or in the `locale` option's language), without a trailing
    /// period.
    pub message: String,
    /// The 1-based source row or line it is about, if any ([`PluginError::at_row`]).
    pub row: Option<u64>,
    /// It concerns only `row`: the host reports that row and keeps reading
    /// ([`PluginError::only_this_row`]). Otherwise reading stops at `row`.
    pub row_only: bool,
}

impl PluginError {
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> PluginError {
        PluginError {
            kind,
            message: message.into(),
            row: None,
            row_only: false,
        }
    }

    /// Says which source row or line the error is about, so the host can report where reading
    /// stopped without the number in the text.
    pub fn at_row(mut self, row: u64) -> PluginError {
        self.row = Some(row);
        self
    }

    /// Marks an error about `row` that leaves the reader usable: the host reports that row as
    /// failed and calls `next_batch` again. (Inside a batch, [`RowBatch::push_error`] does the
    /// same; this is for a reader that finds out only when it fails.)
    ///
    /// [`RowBatch::push_error`]: crate::RowBatch::push_error
    pub fn only_this_row(mut self, row: u64) -> PluginError {
        self.row = Some(row);
        self.row_only = true;
        self
    }

    /// [`ErrorKind::InvalidOption`].
    pub fn invalid_option(message: impl Into<String>) -> PluginError {
        PluginError::new(ErrorKind::InvalidOption, message)
    }

    /// [`ErrorKind::MalformedFile`].
    pub fn malformed(message: impl Into<String>) -> PluginError {
        PluginError::new(ErrorKind::MalformedFile, message)
    }

    /// [`ErrorKind::Encoding`].
    pub fn encoding(message: impl Into<String>) -> PluginError {
        PluginError::new(ErrorKind::Encoding, message)
    }

    /// [`ErrorKind::Io`].
    pub fn io(message: impl Into<String>) -> PluginError {
        PluginError::new(ErrorKind::Io, message)
    }

    /// [`ErrorKind::Unsupported`].
    pub fn unsupported(message: impl Into<String>) -> PluginError {
        PluginError::new(ErrorKind::Unsupported, message)
    }

    /// [`ErrorKind::Internal`].
    pub fn internal(message: impl Into<String>) -> PluginError {
        PluginError::new(ErrorKind::Internal, message)
    }
}

impl fmt::Display for PluginError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.kind, self.message)
    }
}

impl std::error::Error for PluginError {}

/// Every `std::io::Error` becomes [`ErrorKind::Io`] (when the host's own source or sink failed,
/// the host reports its original error instead). Map decoding problems to
/// [`PluginError::encoding`] yourself.
impl From<std::io::Error> for PluginError {
    fn from(e: std::io::Error) -> PluginError {
        PluginError::io(e.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_round_trip_through_status() {
        for kind in [
            ErrorKind::InvalidOption,
            ErrorKind::MalformedFile,
            ErrorKind::Encoding,
            ErrorKind::Io,
            ErrorKind::Unsupported,
            ErrorKind::InvalidArgument,
            ErrorKind::Internal,
            ErrorKind::Panic,
            ErrorKind::AbiMismatch,
            ErrorKind::InvalidValue,
        ] {
            assert_eq!(ErrorKind::from_status(kind.status()), kind);
        }
        assert_eq!(ErrorKind::from_status(Status::OK), ErrorKind::Internal);
        assert_eq!(ErrorKind::from_status(Status(77)), ErrorKind::Internal);
        assert_eq!(ErrorKind::MalformedFile.code(), "MALFORMED_FILE");
        assert_eq!(
            PluginError::encoding("bad byte").to_string(),
            "encoding error: bad byte"
        );
    }
}
