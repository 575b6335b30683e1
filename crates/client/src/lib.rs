//! dataport-client: a typed gRPC client for dataport.
//!
//! [`Client::connect`] opens a channel and attaches `authorization: Bearer <token>` to every
//! call; [`resolve_token`] implements the CLI's token lookup order (`--token`, then
//! `DATAPORT_TOKEN`, then the token file the server writes on first start). The generated
//! stubs and messages are re-exported as [`v1`], so embedding backends need only this crate.
//!
//! A failed call carries the `google.rpc` rich error model (see `dataport.proto`):
//! [`error_code`], [`error_detail`] and [`error_reason`] decode it with tonic-types, and
//! [`error_label`] gives the code a person or a script should see.

use std::path::{Path, PathBuf};

use prost::Message;
use tonic::{
    Code, Request, Status,
    metadata::{Ascii, MetadataValue},
    service::{Interceptor, interceptor::InterceptedService},
    transport::{Channel, Endpoint},
};

pub use dataport_core::ErrorCode;
pub use dataport_proto::{ERROR_DETAIL_TYPE_URL, ERROR_DOMAIN, convert, v1};
use tonic_types::StatusExt;

/// Default server address of client commands.
pub const DEFAULT_SERVER: &str = "http://127.0.0.1:50051";
/// Largest message the client sends or accepts; matches the server's default.
pub const MAX_MESSAGE_BYTES: usize = 4 * 1024 * 1024;

/// Why a client could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("'{url}' is not a valid server address ({reason}); use e.g. http://127.0.0.1:50051")]
    InvalidServer { url: String, reason: String },
    #[error("cannot connect to {url}: {reason}; is `dataport serve` running there?")]
    Connect { url: String, reason: String },
    #[error(
        "no API token: pass --token, set DATAPORT_TOKEN, or start the server once so it writes {}",
        path.display()
    )]
    NoToken { path: PathBuf },
    #[error("cannot read the token file {}: {source}", path.display())]
    TokenFile { path: PathBuf, source: std::io::Error },
    #[error("the API token contains characters that cannot be sent as metadata")]
    InvalidToken,
}

/// Adds the bearer token to every request.
#[derive(Clone)]
pub struct BearerAuth(MetadataValue<Ascii>);

impl BearerAuth {
    pub fn new(token: &str) -> Result<Self, ClientError> {
        format!("Bearer {}", token.trim())
            .parse()
            .map(BearerAuth)
            .map_err(|_| ClientError::InvalidToken)
    }
}

impl Interceptor for BearerAuth {
    fn call(&mut self, mut request: Request<()>) -> Result<Request<()>, Status> {
        request.metadata_mut().insert("authorization", self.0.clone());
        Ok(request)
    }
}

/// The generated client with authentication attached.
pub type AuthedClient = v1::data_port_client::DataPortClient<InterceptedService<Channel, BearerAuth>>;

/// Connects to `server` and authenticates every call with `token`.
pub async fn connect(server: &str, token: &str) -> Result<AuthedClient, ClientError> {
    let channel = channel(server).await?;
    Ok(
        v1::data_port_client::DataPortClient::with_interceptor(channel, BearerAuth::new(token)?)
            .max_decoding_message_size(MAX_MESSAGE_BYTES)
            .max_encoding_message_size(MAX_MESSAGE_BYTES),
    )
}

/// Opens a channel to `server` (for health checks or other services on the same port).
pub async fn channel(server: &str) -> Result<Channel, ClientError> {
    let endpoint = Endpoint::from_shared(server.to_owned()).map_err(|e| ClientError::InvalidServer {
        url: server.to_owned(),
        reason: e.to_string(),
    })?;
    endpoint.connect().await.map_err(|e| ClientError::Connect {
        url: server.to_owned(),
        reason: error_chain(&e),
    })
}

/// The token to use: `explicit` (from `--token` or `DATAPORT_TOKEN`) if non-empty, else the
/// first line of `token_file`.
pub fn resolve_token(explicit: Option<&str>, token_file: &Path) -> Result<String, ClientError> {
    if let Some(token) = explicit.map(str::trim).filter(|t| !t.is_empty()) {
        return Ok(token.to_owned());
    }
    match std::fs::read_to_string(token_file) {
        Ok(text) => text
            .lines()
            .map(str::trim)
            .find(|line| !line.is_empty())
            .map(str::to_owned)
            .ok_or_else(|| ClientError::NoToken {
                path: token_file.to_path_buf(),
            }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Err(ClientError::NoToken {
            path: token_file.to_path_buf(),
        }),
        Err(source) => Err(ClientError::TokenFile {
            path: token_file.to_path_buf(),
            source,
        }),
    }
}

/// The dataport error code of a failed call: from its `dataport.v1.ErrorDetail`, else from its
/// `google.rpc.ErrorInfo` reason (domain `dataport`). `None` for a status without dataport
/// details (a transport failure, another server) or with a code this client does not know.
pub fn error_code(status: &Status) -> Option<ErrorCode> {
    match error_detail(status) {
        Some(detail) => convert::error_code_from_proto(detail.code),
        None => error_reason(status).and_then(|reason| ErrorCode::parse(&reason)),
    }
}

/// The `dataport.v1.ErrorDetail` (code and message) packed in a failed call's
/// `google.rpc.Status` details.
pub fn error_detail(status: &Status) -> Option<v1::ErrorDetail> {
    let rpc = tonic_types::Status::decode(status.details()).ok()?;
    rpc.details
        .iter()
        .find(|any| any.type_url == ERROR_DETAIL_TYPE_URL)
        .and_then(|any| v1::ErrorDetail::decode(any.value.as_slice()).ok())
}

/// The `google.rpc.ErrorInfo` reason of a failed call when its domain is `dataport`: the error
/// code's name (`FILE_TOO_LARGE`), also for codes newer than this client.
pub fn error_reason(status: &Status) -> Option<String> {
    status
        .get_details_error_info()
        .filter(|info| info.domain == ERROR_DOMAIN && !info.reason.is_empty())
        .map(|info| info.reason)
}

/// The request field a failed INVALID_ARGUMENT call names in its `google.rpc.BadRequest`, as a
/// dotted path (`spec.module`, `page_token`).
pub fn bad_request_field(status: &Status) -> Option<String> {
    status
        .get_details_bad_request()
        .and_then(|bad| bad.field_violations.into_iter().next())
        .map(|violation| violation.field)
}

/// The code to show for a failed call: the dataport reason when the server sent one, else the
/// gRPC code's canonical name (`UNAVAILABLE` when no server answered).
pub fn error_label(status: &Status) -> String {
    error_reason(status).unwrap_or_else(|| grpc_code_name(status.code()).to_owned())
}

/// The canonical SCREAMING_SNAKE name of a gRPC status code.
pub fn grpc_code_name(code: Code) -> &'static str {
    match code {
        Code::Ok => "OK",
        Code::Cancelled => "CANCELLED",
        Code::Unknown => "UNKNOWN",
        Code::InvalidArgument => "INVALID_ARGUMENT",
        Code::DeadlineExceeded => "DEADLINE_EXCEEDED",
        Code::NotFound => "NOT_FOUND",
        Code::AlreadyExists => "ALREADY_EXISTS",
        Code::PermissionDenied => "PERMISSION_DENIED",
        Code::ResourceExhausted => "RESOURCE_EXHAUSTED",
        Code::FailedPrecondition => "FAILED_PRECONDITION",
        Code::Aborted => "ABORTED",
        Code::OutOfRange => "OUT_OF_RANGE",
        Code::Unimplemented => "UNIMPLEMENTED",
        Code::Internal => "INTERNAL",
        Code::Unavailable => "UNAVAILABLE",
        Code::DataLoss => "DATA_LOSS",
        Code::Unauthenticated => "UNAUTHENTICATED",
    }
}

/// Joins an error and its sources, so "transport error" shows its real cause.
fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_lookup_order() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("dataport.token");
        assert!(matches!(
            resolve_token(None, &file),
            Err(ClientError::NoToken { .. })
        ));
        std::fs::write(&file, "\n dp_from_file \n").unwrap();
        assert_eq!(resolve_token(None, &file).unwrap(), "dp_from_file");
        assert_eq!(resolve_token(Some(" "), &file).unwrap(), "dp_from_file");
        assert_eq!(resolve_token(Some("dp_flag"), &file).unwrap(), "dp_flag");
    }

    #[test]
    fn error_details_are_decoded() {
        use std::collections::HashMap;
        use tonic_types::{ErrorDetails, ErrorInfo, pb};

        // As the server sends it: the ErrorDetail Any and the ErrorInfo.
        let detail = v1::ErrorDetail {
            code: v1::ErrorCode::FileTooLarge as i32,
            message: "too big".into(),
        };
        let info = pb::ErrorInfo::from(ErrorInfo::new("FILE_TOO_LARGE", ERROR_DOMAIN, HashMap::new()));
        let rpc = tonic_types::Status {
            code: Code::ResourceExhausted as i32,
            message: "too big".into(),
            details: vec![
                prost_types_any(ERROR_DETAIL_TYPE_URL, detail.encode_to_vec()),
                prost_types_any(ErrorInfo::TYPE_URL, info.encode_to_vec()),
            ],
        };
        let status = Status::with_details(Code::ResourceExhausted, "too big", rpc.encode_to_vec().into());
        assert_eq!(error_code(&status), Some(ErrorCode::FileTooLarge));
        assert_eq!(error_detail(&status).unwrap().message, "too big");
        assert_eq!(error_reason(&status).as_deref(), Some("FILE_TOO_LARGE"));
        assert_eq!(error_label(&status), "FILE_TOO_LARGE");
        assert_eq!(bad_request_field(&status), None);

        // Only an ErrorInfo (a newer code this client may not know): the reason still shows.
        let status = Status::with_error_details(
            Code::Unavailable,
            "later",
            ErrorDetails::with_error_info("SOME_NEW_CODE", ERROR_DOMAIN, HashMap::new()),
        );
        assert_eq!(error_code(&status), None);
        assert_eq!(error_label(&status), "SOME_NEW_CODE");

        // No details, or another domain's: the gRPC code's name.
        assert_eq!(error_label(&Status::unavailable("no server")), "UNAVAILABLE");
        let other = Status::with_error_details(
            Code::Internal,
            "x",
            ErrorDetails::with_error_info("FILE_TOO_LARGE", "example.com", HashMap::new()),
        );
        assert_eq!(error_reason(&other), None);
        assert_eq!(error_label(&other), "INTERNAL");
    }

    fn prost_types_any(type_url: &str, value: Vec<u8>) -> prost_types::Any {
        prost_types::Any {
            type_url: type_url.to_owned(),
            value,
        }
    }

    #[test]
    fn bearer_rejects_tokens_that_are_not_metadata() {
        assert!(BearerAuth::new("dp_ok").is_ok());
        assert!(matches!(
            BearerAuth::new("dp\nbad"),
            Err(ClientError::InvalidToken)
        ));
    }
}
