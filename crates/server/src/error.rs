//! The one place where failures become gRPC statuses.
//!
//! Every handler returns [`ServiceError`]; `From<ServiceError> for Status` picks the
//! `tonic::Code` and, where a dataport [`ErrorCode`] applies, puts an encoded
//! `dataport.v1.ErrorDetail` into the status details so clients can branch on it.

use dataport_core::{ErrorCode, Permission};
use dataport_proto::{convert, v1};
use dataport_store::StoreError;
use prost::Message;
use tonic::{Code, Status};

/// A failed RPC, before it is mapped to a status.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
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
    /// A request field is missing or malformed.
    #[error("{0}")]
    InvalidArgument(String),
    /// A referenced object (job, ...) does not exist.
    #[error("{0}")]
    NotFound(String),
    /// The RPC is part of the contract but its capability is not built yet.
    #[error("{0} is not implemented yet in this server")]
    Unimplemented(&'static str),
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
    fn code(&self) -> Code {
        match self {
            ServiceError::Unauthenticated(_) => Code::Unauthenticated,
            ServiceError::PermissionDenied(_) => Code::PermissionDenied,
            ServiceError::InvalidArgument(_) => Code::InvalidArgument,
            ServiceError::NotFound(_) => Code::NotFound,
            ServiceError::Unimplemented(_) => Code::Unimplemented,
            ServiceError::Domain { code, .. } => match code {
                ErrorCode::FileTooLarge => Code::ResourceExhausted,
                ErrorCode::Internal => Code::Internal,
                ErrorCode::PluginError => Code::Internal,
                ErrorCode::NotFound => Code::NotFound,
                _ => Code::InvalidArgument,
            },
            ServiceError::Store(e) => match e {
                StoreError::UniqueViolation { .. } => Code::AlreadyExists,
                StoreError::ForeignKeyViolation { .. } => Code::FailedPrecondition,
                StoreError::Connection(_) | StoreError::Busy(_) => Code::Unavailable,
                _ => Code::Internal,
            },
            ServiceError::Internal(_) => Code::Internal,
            ServiceError::Cancelled(_) => Code::Cancelled,
        }
    }

    fn error_code(&self) -> Option<ErrorCode> {
        match self {
            ServiceError::Domain { code, .. } => Some(*code),
            ServiceError::Store(_) | ServiceError::Internal(_) => Some(ErrorCode::Internal),
            _ => None,
        }
    }
}

impl From<ServiceError> for Status {
    fn from(error: ServiceError) -> Status {
        let code = error.code();
        let message = error.to_string();
        if code == Code::Internal || code == Code::Unavailable {
            tracing::error!(%message, "request failed");
        }
        match error.error_code() {
            Some(error_code) => {
                let detail = v1::ErrorDetail {
                    code: convert::error_code_to_proto(error_code) as i32,
                    message: message.clone(),
                };
                Status::with_details(code, message, detail.encode_to_vec().into())
            }
            None => Status::new(code, message),
        }
    }
}

impl From<convert::InvalidField> for ServiceError {
    fn from(error: convert::InvalidField) -> Self {
        ServiceError::InvalidArgument(error.0)
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
    use super::*;

    #[test]
    fn permission_denied_names_the_permission() {
        let status = Status::from(ServiceError::PermissionDenied(vec![Permission::Import]));
        assert_eq!(status.code(), Code::PermissionDenied);
        assert!(
            status.message().contains("'import' permission"),
            "{}",
            status.message()
        );
    }

    #[test]
    fn domain_errors_carry_the_error_code_in_details() {
        let status = Status::from(ServiceError::Domain {
            code: ErrorCode::FileTooLarge,
            message: "file is larger than the 10 MB limit".into(),
        });
        assert_eq!(status.code(), Code::ResourceExhausted);
        let detail = v1::ErrorDetail::decode(status.details()).unwrap();
        assert_eq!(detail.code(), v1::ErrorCode::FileTooLarge);
        assert_eq!(detail.message, "file is larger than the 10 MB limit");
    }

    #[test]
    fn unimplemented_names_the_capability() {
        let status = Status::from(ServiceError::Unimplemented("Export (file export)"));
        assert_eq!(status.code(), Code::Unimplemented);
        assert_eq!(
            status.message(),
            "Export (file export) is not implemented yet in this server"
        );
    }
}
