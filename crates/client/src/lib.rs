//! dataport-client: a typed gRPC client for dataport.
//!
//! [`Client::connect`] opens a channel and attaches `authorization: Bearer <token>` to every
//! call; [`resolve_token`] implements the CLI's token lookup order (`--token`, then
//! `DATAPORT_TOKEN`, then the token file the server writes on first start). The generated
//! stubs and messages are re-exported as [`v1`], so embedding backends need only this crate.

use std::path::{Path, PathBuf};

use tonic::{
    Request, Status,
    metadata::{Ascii, MetadataValue},
    service::{Interceptor, interceptor::InterceptedService},
    transport::{Channel, Endpoint},
};

pub use dataport_proto::{convert, v1};

/// Default server address of client commands.
pub const DEFAULT_SERVER: &str = "http://127.0.0.1:50051";
/// Largest message the client sends or accepts; matches the server's default.
pub const MAX_MESSAGE_BYTES: usize = 4 * 1024 * 1024;

/// Why a client could not be set up.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
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
    fn bearer_rejects_tokens_that_are_not_metadata() {
        assert!(BearerAuth::new("dp_ok").is_ok());
        assert!(matches!(
            BearerAuth::new("dp\nbad"),
            Err(ClientError::InvalidToken)
        ));
    }
}
