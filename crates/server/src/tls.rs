//! TLS for `dataport serve`: rustls through tonic (no OpenSSL). With a client CA, every client
//! must present a certificate signed by it (mTLS); the bearer token is still required on top.

use std::path::{Path, PathBuf};

use tonic::transport::{Certificate, Identity, ServerTlsConfig};

/// The PEM files of `--tls-cert`, `--tls-key` and `--tls-client-ca`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsFiles {
    /// The server's certificate chain, leaf first.
    pub cert: PathBuf,
    /// The private key of `cert`.
    pub key: PathBuf,
    /// CA certificate(s) that client certificates must chain to; `None`: no client certificates.
    pub client_ca: Option<PathBuf>,
}

impl TlsFiles {
    /// Whether clients must present a certificate.
    pub fn mutual(&self) -> bool {
        self.client_ca.is_some()
    }

    /// Reads the files into tonic's server configuration, checking now (at start-up) that they
    /// are usable, so a wrong file stops `serve` with a message naming it.
    pub fn load(&self) -> Result<ServerTlsConfig, String> {
        let cert = read(&self.cert, "--tls-cert")?;
        let key = read(&self.key, "--tls-key")?;
        for (bytes, flag, path, marker) in [
            (&cert, "--tls-cert", &self.cert, "CERTIFICATE"),
            (&key, "--tls-key", &self.key, "PRIVATE KEY"),
        ] {
            if !String::from_utf8_lossy(bytes).contains(marker) {
                return Err(format!(
                    "{flag} {} is not a PEM file with a {marker} block",
                    path.display()
                ));
            }
        }
        let mut config = ServerTlsConfig::new().identity(Identity::from_pem(cert, key));
        if let Some(ca) = &self.client_ca {
            let pem = read(ca, "--tls-client-ca")?;
            if !String::from_utf8_lossy(&pem).contains("CERTIFICATE") {
                return Err(format!(
                    "--tls-client-ca {} is not a PEM file with a CERTIFICATE block",
                    ca.display()
                ));
            }
            config = config.client_ca_root(Certificate::from_pem(pem));
        }
        // Building the acceptor parses the key and certificates: fail here, not per connection.
        tonic::transport::Server::builder()
            .tls_config(config.clone())
            .map_err(|e| format!("the TLS certificate or key cannot be used: {}", chain(&e)))?;
        Ok(config)
    }
}

fn read(path: &Path, flag: &str) -> Result<Vec<u8>, String> {
    std::fs::read(path).map_err(|e| format!("cannot read {flag} {}: {e}", path.display()))
}

fn chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}
