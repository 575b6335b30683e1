//! Server configuration: built-in defaults, overridden by an optional TOML file, overridden by
//! `DATAPORT_*` environment variables and command-line flags (the binary resolves those).

use std::{
    net::SocketAddr,
    path::{Path, PathBuf},
    time::Duration,
};

use serde::Deserialize;

/// Default `--listen`: loopback only, so a fresh start exposes nothing to the network.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:50051";
/// Default `--database-url`: an embedded SQLite file in the working directory.
pub const DEFAULT_DATABASE_URL: &str = "./dataport.db";
/// Default `--token-file`: where the first start writes the admin token and clients read it.
pub const DEFAULT_TOKEN_FILE: &str = "./dataport.token";
/// Default `--max-message-bytes`: file chunks are ≤ 1 MiB, so 4 MiB leaves room for framing
/// and typed record batches while still bounding what one message can allocate.
pub const DEFAULT_MAX_MESSAGE_BYTES: usize = 4 * 1024 * 1024;
/// Default `--shutdown-grace`: how long in-flight calls may run after SIGTERM.
pub const DEFAULT_SHUTDOWN_GRACE: Duration = Duration::from_secs(30);
/// Default `--db-timeout-secs`: how long a call waits for a database connection before it
/// fails with UNAVAILABLE (the issue's "fail fast": at most 5 s by default).
pub const DEFAULT_DB_TIMEOUT: Duration = dataport_store::DEFAULT_CHECKOUT_TIMEOUT;
/// Default `--audit-retention-days`: a year of audit entries.
pub const DEFAULT_AUDIT_RETENTION_DAYS: u64 = 365;
/// Default `--config` file, read when present and no other file is named.
pub const DEFAULT_CONFIG_FILE: &str = "dataport.toml";

/// Limits of one import. The vendor guide's 10 MB / 5 000 rows protect a server that loads whole
/// files into memory; dataport streams, so its defaults are far larger, and every one is
/// configurable.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ImportLimits {
    /// Largest upload in bytes (FILE_TOO_LARGE beyond it).
    pub max_upload_bytes: u64,
    /// Most data rows in one file (FILE_TOO_LARGE beyond it).
    pub max_rows: u64,
    /// Row errors sent as events on the stream; later ones are only counted (and persisted).
    pub max_row_error_events: u64,
    /// Row errors persisted with the job (for GetImportJob and the error file).
    pub max_persisted_row_errors: u64,
    /// Rows per batch: one validation batch, one write transaction.
    pub batch_rows: usize,
    /// An import whose client sends nothing for this long is interrupted, freeing its thread.
    pub idle_timeout: std::time::Duration,
    /// Imports running at once; beyond it Import is refused before a job exists.
    pub max_concurrent: usize,
    /// How long an `ImportSpec.request_id` names its job.
    pub request_id_retention: std::time::Duration,
}

/// Default `--max-upload-bytes`: 4 GiB.
pub const DEFAULT_MAX_UPLOAD_BYTES: u64 = 4 << 30;
/// Default `--max-import-rows`.
pub const DEFAULT_MAX_IMPORT_ROWS: u64 = 20_000_000;
/// Default `--max-row-error-events`.
pub const DEFAULT_MAX_ROW_ERROR_EVENTS: u64 = 1_000;
/// Default `--max-persisted-row-errors`.
pub const DEFAULT_MAX_PERSISTED_ROW_ERRORS: u64 = 100_000;
/// Default `--import-batch-rows`.
pub const DEFAULT_IMPORT_BATCH_ROWS: usize = 5_000;
/// Default `--import-idle-timeout-secs`.
pub const DEFAULT_IMPORT_IDLE_TIMEOUT_SECS: u64 = 60;
/// Default `--max-concurrent-imports`.
pub const DEFAULT_MAX_CONCURRENT_IMPORTS: usize = 16;
/// Default `--request-id-retention-days`.
pub const DEFAULT_REQUEST_ID_RETENTION_DAYS: u64 = 7;

impl Default for ImportLimits {
    fn default() -> Self {
        ImportLimits {
            max_upload_bytes: DEFAULT_MAX_UPLOAD_BYTES,
            max_rows: DEFAULT_MAX_IMPORT_ROWS,
            max_row_error_events: DEFAULT_MAX_ROW_ERROR_EVENTS,
            max_persisted_row_errors: DEFAULT_MAX_PERSISTED_ROW_ERRORS,
            batch_rows: DEFAULT_IMPORT_BATCH_ROWS,
            idle_timeout: std::time::Duration::from_secs(DEFAULT_IMPORT_IDLE_TIMEOUT_SECS),
            max_concurrent: DEFAULT_MAX_CONCURRENT_IMPORTS,
            request_id_retention: std::time::Duration::from_secs(DEFAULT_REQUEST_ID_RETENTION_DAYS * 86_400),
        }
    }
}

/// The resolved configuration of `dataport serve`.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// Address to listen on (`127.0.0.1:0` picks a free port).
    pub listen: SocketAddr,
    /// SQLite path or `postgres://` URL.
    pub database_url: String,
    /// Where the first start writes the bootstrap admin token.
    pub token_file: PathBuf,
    /// Largest gRPC message accepted or sent, in bytes.
    pub max_message_bytes: usize,
    /// How long in-flight calls may run after a shutdown signal before the server stops anyway.
    pub shutdown_grace: Duration,
    /// How long a running job's lease holds without renewal (replicas on PostgreSQL).
    pub job_lease: Duration,
    /// Extra plugin directories, searched before the defaults (the binary's directory and the
    /// cargo target directory).
    pub plugin_dirs: Vec<PathBuf>,
    /// How the plugins of `plugin_dirs` run: `Some` in a worker process per reader or writer
    /// (`--plugin-isolation process`), `None` in this process. Bundled plugins run in-process.
    pub plugin_isolation: Option<dataport_plugin_host::Isolation>,
    /// TLS (and mTLS with a client CA); `None` serves plaintext.
    pub tls: Option<crate::tls::TlsFiles>,
    /// Where to serve Prometheus `/metrics` (plain HTTP); `None`: nowhere.
    pub metrics_listen: Option<SocketAddr>,
    /// Import limits.
    pub limits: ImportLimits,
    /// How long a call waits for a database connection before failing with UNAVAILABLE
    /// (`--db-timeout-secs`); also bounds the health probe's view of the database.
    pub db_timeout: Duration,
    /// Audit entries older than this are pruned (`--audit-retention-days`); `None`: kept forever.
    pub audit_retention: Option<Duration>,
    /// Database connections per replica (`--database-pool-size`): SQLite's readers, or every
    /// PostgreSQL connection but the export snapshots'.
    pub database_pool_size: u32,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            listen: DEFAULT_LISTEN
                .parse()
                .unwrap_or_else(|_| SocketAddr::from(([127, 0, 0, 1], 50051))),
            database_url: DEFAULT_DATABASE_URL.to_owned(),
            token_file: PathBuf::from(DEFAULT_TOKEN_FILE),
            max_message_bytes: DEFAULT_MAX_MESSAGE_BYTES,
            shutdown_grace: DEFAULT_SHUTDOWN_GRACE,
            job_lease: dataport_store::DEFAULT_JOB_LEASE,
            plugin_dirs: Vec::new(),
            plugin_isolation: None,
            tls: None,
            metrics_listen: None,
            limits: ImportLimits::default(),
            db_timeout: DEFAULT_DB_TIMEOUT,
            audit_retention: Some(Duration::from_secs(DEFAULT_AUDIT_RETENTION_DAYS * 86_400)),
            database_pool_size: dataport_store::StoreOptions::default().max_connections,
        }
    }
}

/// The optional TOML file. Keys are the long flag names with `_` for `-`; every key is optional.
///
/// ```toml
/// listen = "0.0.0.0:50051"
/// database_url = "postgres://dataport:secret@db/dataport"
/// token_file = "/var/lib/dataport/admin.token"
/// max_message_bytes = 4194304
/// plugin_dir = ["/opt/dataport/plugins"]
/// max_upload_bytes = 4294967296
/// max_import_rows = 20000000
/// server = "http://127.0.0.1:50051"   # used by client commands
/// ```
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    pub listen: Option<SocketAddr>,
    pub database_url: Option<String>,
    pub token_file: Option<PathBuf>,
    pub max_message_bytes: Option<usize>,
    /// Seconds.
    pub shutdown_grace_secs: Option<u64>,
    pub plugin_dir: Option<Vec<PathBuf>>,
    /// `process`, `in-process`, and/or `NAME=process|in-process`, ','-separated.
    pub plugin_isolation: Option<String>,
    pub plugin_timeout_secs: Option<u64>,
    pub tls_cert: Option<PathBuf>,
    pub tls_key: Option<PathBuf>,
    pub tls_client_ca: Option<PathBuf>,
    pub metrics_listen: Option<SocketAddr>,
    pub max_upload_bytes: Option<u64>,
    pub max_import_rows: Option<u64>,
    pub max_row_error_events: Option<u64>,
    pub max_persisted_row_errors: Option<u64>,
    pub import_batch_rows: Option<usize>,
    pub import_idle_timeout_secs: Option<u64>,
    pub max_concurrent_imports: Option<usize>,
    /// Seconds.
    pub job_lease_secs: Option<u64>,
    pub request_id_retention_days: Option<u64>,
    pub server: Option<String>,
    /// Seconds.
    pub db_timeout_secs: Option<u64>,
    pub audit_retention_days: Option<u64>,
    pub database_pool_size: Option<u32>,
}

/// A config file that cannot be read or parsed.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {path}: {source}")]
    Read { path: PathBuf, source: std::io::Error },
    #[error("config file {path} is not valid: {message}")]
    Parse { path: PathBuf, message: String },
}

impl FileConfig {
    /// Loads `explicit` if given (it must exist), else `dataport.toml` in the working directory
    /// if present, else an empty config.
    pub fn load(explicit: Option<&Path>) -> Result<FileConfig, ConfigError> {
        let path = match explicit {
            Some(path) => path.to_path_buf(),
            None => {
                let default = PathBuf::from(DEFAULT_CONFIG_FILE);
                if !default.is_file() {
                    return Ok(FileConfig::default());
                }
                default
            }
        };
        let text = std::fs::read_to_string(&path).map_err(|source| ConfigError::Read {
            path: path.clone(),
            source,
        })?;
        toml::from_str(&text).map_err(|e| ConfigError::Parse {
            path,
            message: e.to_string(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_config_reads_every_key_and_rejects_typos() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.toml");
        std::fs::write(
            &path,
            "listen = \"127.0.0.1:6000\"\ndatabase_url = \"x.db\"\ntoken_file = \"t\"\nmax_message_bytes = 10\nserver = \"http://h:1\"\n",
        )
        .unwrap();
        let config = FileConfig::load(Some(&path)).unwrap();
        assert_eq!(config.listen, Some("127.0.0.1:6000".parse().unwrap()));
        assert_eq!(config.database_url.as_deref(), Some("x.db"));
        assert_eq!(config.max_message_bytes, Some(10));
        assert_eq!(config.server.as_deref(), Some("http://h:1"));

        std::fs::write(&path, "listn = \"127.0.0.1:6000\"\n").unwrap();
        let err = FileConfig::load(Some(&path)).unwrap_err().to_string();
        assert!(err.contains("unknown field `listn`"), "{err}");

        let missing = FileConfig::load(Some(&dir.path().join("nope.toml")))
            .unwrap_err()
            .to_string();
        assert!(missing.starts_with("cannot read config file"), "{missing}");
    }
}
