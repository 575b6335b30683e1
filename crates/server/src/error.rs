//! The one place where failures become gRPC statuses.
//!
//! Every handler returns [`ServiceError`]; `From<ServiceError> for Status` picks the dataport
//! [`ErrorCode`] ([`ServiceError::error_code`]) and from it the `tonic::Code` ([`grpc_code`]),
//! both exhaustive matches. The status carries the standard rich error model: a
//! `google.rpc.Status` (built with tonic-types) in the `grpc-status-details-bin` trailer, with
//! the same code and message, whose details are an `Any`-packed `dataport.v1.ErrorDetail`, a
//! `google.rpc.ErrorInfo` (reason = the code's proto name, domain `dataport`) and, for
//! INVALID_ARGUMENT, a `google.rpc.BadRequest` naming the offending request field.

use std::collections::HashMap;

use dataport_core::{ErrorCode, Permission};
use dataport_proto::{ERROR_DETAIL_TYPE_URL, ERROR_DOMAIN, convert, v1};
use dataport_store::StoreError;
use prost::Message;
use prost_types::Any;
use tonic::{Code, Status};
use tonic_types::{BadRequest, ErrorInfo, pb};

/// The BadRequest field of a domain failure about the uploaded file's content (e.g. a
/// malformed file): the ImportRequest field that carries the bytes.
const FILE_FIELD: &str = "chunk";

/// A failed RPC, before it is mapped to a status.
#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    /// No usable `authorization: Bearer <token>` metadata.
    #[error("{0}")]
    Unauthenticated(String),
    /// The token is valid but lacks a permission.
    #[error(
        "this token lacks the {} permission; ask an admin for a token created with --permissions {}",
        quoted_alternatives(.0), .0.first().map(|p| p.as_str()).unwrap_or("admin")
    )]
    PermissionDenied(Vec<Permission>),
    /// A request field is missing or malformed. `field` is its dotted path in the request
    /// (`spec.module`, `filter.customers.created_at.from`, `page_token`); it becomes the
    /// `google.rpc.BadRequest` field violation.
    #[error("{message}")]
    InvalidArgument { field: String, message: String },
    /// A referenced object (job, ...) does not exist.
    #[error("{0}")]
    NotFound(String),
    /// A domain failure with a dataport error code.
    #[error("{message}")]
    Domain { code: ErrorCode, message: String },
    /// The storage layer failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A bug or an unexpected runtime failure (e.g. a panicked blocking task).
    #[error("internal error: {0}")]
    Internal(String),
    /// The client went away or cancelled; nothing is left to answer.
    #[error("cancelled: {0}")]
    Cancelled(String),
}

impl ServiceError {
    /// An [`ServiceError::InvalidArgument`] for the request field `field` (a dotted path).
    pub fn invalid(field: impl Into<String>, message: impl Into<String>) -> Self {
        ServiceError::InvalidArgument {
            field: field.into(),
            message: message.into(),
        }
    }

    /// The dataport code of this failure: every failed call has one.
    pub fn error_code(&self) -> ErrorCode {
        match self {
            ServiceError::Unauthenticated(_) => ErrorCode::Unauthenticated,
            ServiceError::PermissionDenied(_) => ErrorCode::PermissionDenied,
            ServiceError::InvalidArgument { .. } => ErrorCode::InvalidArgument,
            ServiceError::NotFound(_) => ErrorCode::NotFound,
            ServiceError::Domain { code, .. } => *code,
            ServiceError::Store(e) => store_error_code(e),
            ServiceError::Internal(_) => ErrorCode::Internal,
            ServiceError::Cancelled(_) => ErrorCode::Cancelled,
        }
    }

    /// The request field a BadRequest names, for failures whose code is INVALID_ARGUMENT.
    fn bad_request_field(&self) -> &str {
        match self {
            ServiceError::InvalidArgument { field, .. } => field,
            _ => FILE_FIELD,
        }
    }
}

/// The dataport code of a storage failure.
fn store_error_code(error: &StoreError) -> ErrorCode {
    match error {
        StoreError::UniqueViolation { .. } => ErrorCode::DuplicateKey,
        StoreError::ForeignKeyViolation { .. } => ErrorCode::UnknownReference,
        // A job interrupted meanwhile: retrying resumes it.
        StoreError::Connection(_)
        | StoreError::Busy(_)
        | StoreError::JobNotRunning { .. }
        | StoreError::BatchesLost { .. } => ErrorCode::Unavailable,
        // Handlers look objects up (and answer NOT_FOUND) before they change them, so a store
        // NotFound is a bug, as are the others.
        StoreError::NotFound { .. }
        | StoreError::InvalidUrl { .. }
        | StoreError::Migration(_)
        | StoreError::Database(_)
        | StoreError::Corrupt(_) => ErrorCode::Internal,
    }
}

/// The gRPC code of a failure with dataport code `code`.
pub fn grpc_code(code: ErrorCode) -> Code {
    match code {
        ErrorCode::HeaderMismatch
        | ErrorCode::RequiredMissing
        | ErrorCode::DuplicateInFile
        | ErrorCode::InvalidDate
        | ErrorCode::InvalidNumber
        | ErrorCode::InvalidEnum
        | ErrorCode::InvalidFormat
        | ErrorCode::ValueTooLong
        | ErrorCode::FormulaNotAllowed
        | ErrorCode::ForbiddenCharacter
        | ErrorCode::Encoding
        | ErrorCode::MalformedFile
        | ErrorCode::InvalidArgument => Code::InvalidArgument,
        ErrorCode::DuplicateKey => Code::AlreadyExists,
        ErrorCode::NotFound => Code::NotFound,
        ErrorCode::UnknownReference | ErrorCode::JobNotRunning | ErrorCode::RequestIdReused => {
            Code::FailedPrecondition
        }
        ErrorCode::JobAlreadyRunning => Code::AlreadyExists,
        ErrorCode::FileTooLarge | ErrorCode::TooManyImports => Code::ResourceExhausted,
        ErrorCode::PluginError | ErrorCode::Internal => Code::Internal,
        ErrorCode::Unauthenticated => Code::Unauthenticated,
        ErrorCode::PermissionDenied => Code::PermissionDenied,
        ErrorCode::Cancelled => Code::Cancelled,
        ErrorCode::Unavailable => Code::Unavailable,
    }
}

fn pack(type_url: &str, message: &impl Message) -> Any {
    Any {
        type_url: type_url.to_owned(),
        value: message.encode_to_vec(),
    }
}

impl From<ServiceError> for Status {
    fn from(error: ServiceError) -> Status {
        let error_code = error.error_code();
        let code = grpc_code(error_code);
        let message = error.to_string();
        if code == Code::Internal || code == Code::Unavailable {
            tracing::error!(%message, "request failed");
        }
        let detail = v1::ErrorDetail {
            code: convert::error_code_to_proto(error_code) as i32,
            message: message.clone(),
        };
        let info = ErrorInfo::new(error_code.as_str(), ERROR_DOMAIN, HashMap::new());
        let mut details = vec![
            pack(ERROR_DETAIL_TYPE_URL, &detail),
            pack(ErrorInfo::TYPE_URL, &pb::ErrorInfo::from(info)),
        ];
        if code == Code::InvalidArgument {
            let bad_request = BadRequest::with_violation(error.bad_request_field(), message.clone());
            details.push(pack(BadRequest::TYPE_URL, &pb::BadRequest::from(bad_request)));
        }
        let rpc_status = pb::Status {
            code: code as i32,
            message: message.clone(),
            details,
        };
        Status::with_details(code, message, rpc_status.encode_to_vec().into())
    }
}

impl From<convert::InvalidField> for ServiceError {
    fn from(error: convert::InvalidField) -> Self {
        ServiceError::InvalidArgument {
            field: error.field,
            message: error.message,
        }
    }
}

impl From<dataport_core::limits::Violation> for ServiceError {
    fn from(error: dataport_core::limits::Violation) -> Self {
        ServiceError::InvalidArgument {
            field: error.field,
            message: error.message,
        }
    }
}

fn quoted_alternatives(permissions: &[Permission]) -> String {
    let quoted: Vec<String> = permissions.iter().map(|p| format!("'{p}'")).collect();
    quoted.join(" or ")
}

/// Runs blocking storage work off the async runtime and flattens a panicked task into
/// [`ServiceError::Internal`].
pub async fn blocking<T, F>(work: F) -> Result<T, ServiceError>
where
    F: FnOnce() -> Result<T, ServiceError> + Send + 'static,
    T: Send + 'static,
{
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|e| ServiceError::Internal(format!("blocking task failed: {e}")))?
}

#[cfg(test)]
mod tests {
    use tonic_types::StatusExt;

    use super::*;

    /// Decodes the `google.rpc.Status` of `status` and checks what every failed call carries:
    /// the same code and message, the ErrorDetail Any and the ErrorInfo. Returns the detail.
    fn standard_details(status: &Status, expected: ErrorCode) -> v1::ErrorDetail {
        let rpc = pb::Status::decode(status.details()).expect("details are a google.rpc.Status");
        assert_eq!(rpc.code, status.code() as i32);
        assert_eq!(rpc.message, status.message());
        let any = rpc
            .details
            .iter()
            .find(|any| any.type_url == ERROR_DETAIL_TYPE_URL)
            .expect("an Any-packed dataport.v1.ErrorDetail");
        let detail = v1::ErrorDetail::decode(any.value.as_slice()).unwrap();
        assert_eq!(detail.code(), convert::error_code_to_proto(expected));
        assert_eq!(detail.message, status.message());
        let info = status.get_details_error_info().expect("a google.rpc.ErrorInfo");
        assert_eq!(info.reason, expected.as_str());
        assert_eq!(info.domain, "dataport");
        detail
    }

    #[test]
    fn permission_denied_names_the_permission() {
        let status = Status::from(ServiceError::PermissionDenied(vec![Permission::Import]));
        assert_eq!(status.code(), Code::PermissionDenied);
        assert!(
            status.message().contains("'import' permission"),
            "{}",
            status.message()
        );
        standard_details(&status, ErrorCode::PermissionDenied);
        assert!(status.get_details_bad_request().is_none());
    }

    #[test]
    fn domain_errors_carry_the_error_code_in_details() {
        let status = Status::from(ServiceError::Domain {
            code: ErrorCode::FileTooLarge,
            message: "file is larger than the 10 MB limit".into(),
        });
        assert_eq!(status.code(), Code::ResourceExhausted);
        let detail = standard_details(&status, ErrorCode::FileTooLarge);
        assert_eq!(detail.code(), v1::ErrorCode::FileTooLarge);
        assert_eq!(detail.message, "file is larger than the 10 MB limit");
        assert_eq!(status.get_details_error_info().unwrap().reason, "FILE_TOO_LARGE");
    }

    #[test]
    fn invalid_arguments_name_the_field_in_a_bad_request() {
        let status = Status::from(ServiceError::invalid(
            "page_token",
            "page_token 'x' is not one this server issued",
        ));
        assert_eq!(status.code(), Code::InvalidArgument);
        standard_details(&status, ErrorCode::InvalidArgument);
        let bad = status.get_details_bad_request().expect("a google.rpc.BadRequest");
        assert_eq!(bad.field_violations.len(), 1);
        assert_eq!(bad.field_violations[0].field, "page_token");
        assert_eq!(bad.field_violations[0].description, status.message());

        // Conversion errors keep their field, nested under the request's parent message.
        let wrong = convert::module_from_proto(0).unwrap_err().within("spec");
        let status = Status::from(ServiceError::from(wrong));
        let bad = status.get_details_bad_request().unwrap();
        assert_eq!(bad.field_violations[0].field, "spec.module");

        // A domain failure about the file's content names the file's bytes.
        let status = Status::from(ServiceError::Domain {
            code: ErrorCode::MalformedFile,
            message: "not a zip".into(),
        });
        assert_eq!(status.code(), Code::InvalidArgument);
        standard_details(&status, ErrorCode::MalformedFile);
        assert_eq!(
            status.get_details_bad_request().unwrap().field_violations[0].field,
            "chunk"
        );
    }

    #[test]
    fn every_failure_has_a_code_and_details() {
        let cases = [
            (
                ServiceError::Unauthenticated("no token".into()),
                Code::Unauthenticated,
                ErrorCode::Unauthenticated,
            ),
            (
                ServiceError::NotFound("import job 9 does not exist".into()),
                Code::NotFound,
                ErrorCode::NotFound,
            ),
            (
                ServiceError::Internal("boom".into()),
                Code::Internal,
                ErrorCode::Internal,
            ),
            (
                ServiceError::Cancelled("gone".into()),
                Code::Cancelled,
                ErrorCode::Cancelled,
            ),
            (
                StoreError::Busy("database is locked".into()).into(),
                Code::Unavailable,
                ErrorCode::Unavailable,
            ),
            (
                StoreError::UniqueViolation {
                    what: "exists".into(),
                }
                .into(),
                Code::AlreadyExists,
                ErrorCode::DuplicateKey,
            ),
            (
                StoreError::ForeignKeyViolation {
                    what: "missing".into(),
                }
                .into(),
                Code::FailedPrecondition,
                ErrorCode::UnknownReference,
            ),
            (
                StoreError::Corrupt("?".into()).into(),
                Code::Internal,
                ErrorCode::Internal,
            ),
        ];
        for (error, code, error_code) in cases {
            let status = Status::from(error);
            assert_eq!(status.code(), code, "{status:?}");
            standard_details(&status, error_code);
            assert!(status.get_details_bad_request().is_none());
        }
        // Every dataport code maps to the status code its own failure gets.
        for code in ErrorCode::ALL {
            let status = Status::from(ServiceError::Domain {
                code,
                message: "x".into(),
            });
            assert_eq!(status.code(), grpc_code(code));
            standard_details(&status, code);
        }
    }
}
