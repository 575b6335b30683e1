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
    transport::{Certificate, Channel, ClientTlsConfig, Endpoint, Identity},
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
    #[error("cannot connect to {url}: {reason}; {hint}")]
    Connect {
        url: String,
        reason: String,
        hint: String,
    },
    #[error("{0}")]
    Tls(String),
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

/// TLS settings of a connection. The address decides whether TLS is used: `https://` always
/// means TLS (verified against `ca`, or the system's root certificates without it), `http://`
/// never does, and TLS files with an `http://` address are refused rather than ignored.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TlsOptions {
    /// PEM file of the CA certificate(s) that signed the server's certificate.
    pub ca: Option<PathBuf>,
    /// PEM client certificate, for servers that require one (mTLS); needs `key`.
    pub cert: Option<PathBuf>,
    /// PEM private key of `cert`.
    pub key: Option<PathBuf>,
}

impl TlsOptions {
    fn is_empty(&self) -> bool {
        self.ca.is_none() && self.cert.is_none() && self.key.is_none()
    }

    /// The rustls client configuration for `domain`.
    fn client_config(&self, domain: &str) -> Result<ClientTlsConfig, ClientError> {
        let mut config = ClientTlsConfig::new().domain_name(domain);
        config = match &self.ca {
            Some(ca) => config.ca_certificate(Certificate::from_pem(read_pem(ca, "--tls-ca")?)),
            None => config.with_native_roots(),
        };
        match (&self.cert, &self.key) {
            (Some(cert), Some(key)) => Ok(config.identity(Identity::from_pem(
                read_pem(cert, "--tls-cert")?,
                read_pem(key, "--tls-key")?,
            ))),
            (None, None) => Ok(config),
            (Some(_), None) => Err(ClientError::Tls(
                "--tls-cert needs --tls-key, the client certificate's private key".into(),
            )),
            (None, Some(_)) => Err(ClientError::Tls(
                "--tls-key needs --tls-cert, the client certificate it belongs to".into(),
            )),
        }
    }
}

fn read_pem(path: &Path, flag: &str) -> Result<Vec<u8>, ClientError> {
    std::fs::read(path).map_err(|e| ClientError::Tls(format!("cannot read {flag} {}: {e}", path.display())))
}

/// Connects to `server` and authenticates every call with `token`.
pub async fn connect(server: &str, token: &str) -> Result<AuthedClient, ClientError> {
    connect_with(server, token, &TlsOptions::default()).await
}

/// [`connect`] with TLS settings (see [`TlsOptions`]).
pub async fn connect_with(server: &str, token: &str, tls: &TlsOptions) -> Result<AuthedClient, ClientError> {
    let channel = channel_with(server, tls).await?;
    Ok(
        v1::data_port_client::DataPortClient::with_interceptor(channel, BearerAuth::new(token)?)
            .max_decoding_message_size(MAX_MESSAGE_BYTES)
            .max_encoding_message_size(MAX_MESSAGE_BYTES),
    )
}

/// Opens a channel to `server` (for health checks or other services on the same port).
pub async fn channel(server: &str) -> Result<Channel, ClientError> {
    channel_with(server, &TlsOptions::default()).await
}

/// [`channel`] with TLS settings.
pub async fn channel_with(server: &str, tls: &TlsOptions) -> Result<Channel, ClientError> {
    let invalid = |reason: String| ClientError::InvalidServer {
        url: server.to_owned(),
        reason,
    };
    let uri: tonic::codegen::http::Uri = server.parse().map_err(|e| invalid(format!("{e}")))?;
    let secure = match uri.scheme_str() {
        Some("https") => true,
        Some("http") => false,
        _ => return Err(invalid("it must start with http:// or https://".into())),
    };
    // TCP_NODELAY said out loud (tonic's default today): small requests must not wait for the
    // server's delayed ACK.
    let mut endpoint = Endpoint::from_shared(server.to_owned())
        .map_err(|e| invalid(e.to_string()))?
        .tcp_nodelay(true);
    if secure {
        let host = uri
            .host()
            .unwrap_or_default()
            .trim_start_matches('[')
            .trim_end_matches(']');
        endpoint = endpoint
            .tls_config(tls.client_config(host)?)
            .map_err(|e| ClientError::Tls(format!("invalid TLS settings: {}", error_chain(&e))))?;
    } else if !tls.is_empty() {
        return Err(invalid(
            "TLS files were given but the address is http://, which is never encrypted; use https://".into(),
        ));
    }
    endpoint.connect().await.map_err(|e| {
        let reason = error_chain(&e);
        ClientError::Connect {
            url: server.to_owned(),
            hint: transport_hint(&reason, secure)
                .unwrap_or("is `dataport serve` running there?")
                .to_owned(),
            reason,
        }
    })
}

/// What to do about a transport failure, judged from its error chain: TLS problems name the
/// flag that fixes them.
pub fn transport_hint(reason: &str, secure: bool) -> Option<&'static str> {
    let lower = reason.to_ascii_lowercase();
    if let Some(hint) = certificate_hint(&lower) {
        return Some(hint);
    }
    if secure
        && (lower.contains("corrupt message")
            || lower.contains("invalidcontenttype")
            || lower.contains("invalid content type"))
    {
        return Some("the server does not speak TLS there: use an http:// address, or check the port");
    }
    if !secure
        && (lower.contains("connection reset")
            || lower.contains("broken pipe")
            || lower.contains("h2 protocol error")
            || lower.contains("frame with invalid size")
            || lower.contains("connection closed"))
    {
        return Some("the server may require TLS: use an https:// address (and --tls-ca)");
    }
    None
}

/// The certificate problem a lower-cased rustls error chain names, and the flag that fixes it.
fn certificate_hint(lower: &str) -> Option<&'static str> {
    if lower.contains("certificaterequired") || lower.contains("certificate required") {
        return Some("the server requires a client certificate (mTLS): pass --tls-cert and --tls-key");
    }
    if lower.contains("unknownissuer")
        || lower.contains("invalid peer certificate")
        || lower.contains("badsignature")
    {
        return Some(
            "the server's certificate is not signed by a CA this client trusts: pass the CA that signed it with --tls-ca",
        );
    }
    if lower.contains("notvalidforname") || lower.contains("not valid for name") {
        return Some("the server's certificate is not issued for this host name: connect by a name it lists");
    }
    if lower.contains("unknownca") || lower.contains("decrypterror") || lower.contains("bad certificate") {
        return Some(
            "the server refused this client certificate: it must be signed by the CA the server trusts (--tls-client-ca)",
        );
    }
    None
}

/// [`transport_hint`] for a failed call to a server reached over TLS (`secure`) or not: the
/// connection is set up lazily, and under TLS 1.3 a server that refuses the client's
/// certificate (or its absence) says so only at the first call.
///
/// `client_cert` says whether the client presented a certificate: the server's refusal of a
/// connection without one often reaches the call only as "operation was canceled", so that
/// case gets the mTLS hint too.
pub fn status_hint(status: &Status, secure: bool, client_cert: bool) -> Option<&'static str> {
    if !matches!(
        status.code(),
        Code::Unavailable | Code::Unknown | Code::Internal | Code::Cancelled
    ) {
        return None;
    }
    let fallback = match (secure, client_cert) {
        (true, false) => {
            Some("if the server requires client certificates (mTLS), pass --tls-cert and --tls-key")
        }
        // TLS 1.3 finishes the client's side of the handshake before the server checks the
        // certificate; its refusal can arrive as a bare close rather than the alert.
        (true, true) => Some(
            "the server closed the connection after the TLS handshake: if it refused this client certificate, it must be signed by the CA the server trusts (--tls-client-ca)",
        ),
        (false, _) => None,
    };
    transport_hint(&format!("{}: {}", status.message(), error_chain(status)), secure).or(fallback)
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
