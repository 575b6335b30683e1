//! Machine-readable error codes. They mirror `dataport.v1.ErrorCode` in the proto one to one.

use std::fmt;

/// What went wrong with a row, a file, a job or a call. Travels in `RowError` events, persisted
/// row errors and gRPC status details (where it is also the `google.rpc.ErrorInfo` reason).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorCode {
    HeaderMismatch,
    RequiredMissing,
    DuplicateInFile,
    DuplicateKey,
    NotFound,
    UnknownReference,
    InvalidDate,
    InvalidNumber,
    InvalidEnum,
    InvalidFormat,
    ValueTooLong,
    FormulaNotAllowed,
    ForbiddenCharacter,
    Encoding,
    FileTooLarge,
    MalformedFile,
    PluginError,
    Internal,
    // Call-level codes: every failed RPC carries one (see `dataport_server::error`).
    /// No usable bearer token.
    Unauthenticated,
    /// The token lacks a permission.
    PermissionDenied,
    /// A request field is missing or malformed.
    InvalidArgument,
    /// The client cancelled or went away.
    Cancelled,
    /// The database cannot be reached or stayed busy; retrying later may work.
    Unavailable,
    /// The server runs as many imports as it allows (`--max-concurrent-imports`); retry later.
    TooManyImports,
    /// The job is not in a state that allows the call (e.g. cancelling an ended job).
    JobNotRunning,
    /// An import with the same request_id is running.
    JobAlreadyRunning,
    /// A request_id reused with other parameters.
    RequestIdReused,
}

impl ErrorCode {
    /// Every code, in proto order.
    pub const ALL: [ErrorCode; 27] = [
        ErrorCode::HeaderMismatch,
        ErrorCode::RequiredMissing,
        ErrorCode::DuplicateInFile,
        ErrorCode::DuplicateKey,
        ErrorCode::NotFound,
        ErrorCode::UnknownReference,
        ErrorCode::InvalidDate,
        ErrorCode::InvalidNumber,
        ErrorCode::InvalidEnum,
        ErrorCode::InvalidFormat,
        ErrorCode::ValueTooLong,
        ErrorCode::FormulaNotAllowed,
        ErrorCode::ForbiddenCharacter,
        ErrorCode::Encoding,
        ErrorCode::FileTooLarge,
        ErrorCode::MalformedFile,
        ErrorCode::PluginError,
        ErrorCode::Internal,
        ErrorCode::Unauthenticated,
        ErrorCode::PermissionDenied,
        ErrorCode::InvalidArgument,
        ErrorCode::Cancelled,
        ErrorCode::Unavailable,
        ErrorCode::TooManyImports,
        ErrorCode::JobNotRunning,
        ErrorCode::JobAlreadyRunning,
        ErrorCode::RequestIdReused,
    ];

    /// The SCREAMING_SNAKE name used in the proto enum and in persisted rows.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::HeaderMismatch => "HEADER_MISMATCH",
            ErrorCode::RequiredMissing => "REQUIRED_MISSING",
            ErrorCode::DuplicateInFile => "DUPLICATE_IN_FILE",
            ErrorCode::DuplicateKey => "DUPLICATE_KEY",
            ErrorCode::NotFound => "NOT_FOUND",
            ErrorCode::UnknownReference => "UNKNOWN_REFERENCE",
            ErrorCode::InvalidDate => "INVALID_DATE",
            ErrorCode::InvalidNumber => "INVALID_NUMBER",
            ErrorCode::InvalidEnum => "INVALID_ENUM",
            ErrorCode::InvalidFormat => "INVALID_FORMAT",
            ErrorCode::ValueTooLong => "VALUE_TOO_LONG",
            ErrorCode::FormulaNotAllowed => "FORMULA_NOT_ALLOWED",
            ErrorCode::ForbiddenCharacter => "FORBIDDEN_CHARACTER",
            ErrorCode::Encoding => "ENCODING",
            ErrorCode::FileTooLarge => "FILE_TOO_LARGE",
            ErrorCode::MalformedFile => "MALFORMED_FILE",
            ErrorCode::PluginError => "PLUGIN_ERROR",
            ErrorCode::Internal => "INTERNAL",
            ErrorCode::Unauthenticated => "UNAUTHENTICATED",
            ErrorCode::PermissionDenied => "PERMISSION_DENIED",
            ErrorCode::InvalidArgument => "INVALID_ARGUMENT",
            ErrorCode::Cancelled => "CANCELLED",
            ErrorCode::Unavailable => "UNAVAILABLE",
            ErrorCode::TooManyImports => "TOO_MANY_IMPORTS",
            ErrorCode::JobNotRunning => "JOB_NOT_RUNNING",
            ErrorCode::JobAlreadyRunning => "JOB_ALREADY_RUNNING",
            ErrorCode::RequestIdReused => "REQUEST_ID_REUSED",
        }
    }

    /// Parses the name written by [`ErrorCode::as_str`].
    pub fn parse(name: &str) -> Option<ErrorCode> {
        ErrorCode::ALL.into_iter().find(|c| c.as_str() == name)
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for code in ErrorCode::ALL {
            assert_eq!(ErrorCode::parse(code.as_str()), Some(code));
        }
        assert_eq!(ErrorCode::parse("NOPE"), None);
    }
}
