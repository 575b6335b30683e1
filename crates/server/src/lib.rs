//! dataport-server: the gRPC server of dataport.
//!
//! [`Server::bind`] opens the database (applying migrations), creates the first admin token if
//! the database has none, marks a SQLite database's leftover RUNNING jobs INTERRUPTED, and binds
//! the listener; [`Server::serve`] then serves
//! `dataport.v1.DataPort`, `grpc.health.v1.Health` and server reflection (v1 and v1alpha) until
//! the shutdown future resolves: new imports are refused, running ones get the grace, then are
//! interrupted at a batch boundary and deliver their Completed. Configuration is resolved by the
//! binary (flags, `DATAPORT_*` environment, TOML file) into a [`ServerConfig`].
//!
//! Modules: [`config`] (defaults and the TOML file), [`auth`] (bearer tokens and permissions),
//! [`bootstrap`] (first-start admin token), [`health`] (the database probe behind
//! `grpc.health.v1`), [`error`] (the one mapping to
//! `tonic::Code` and the `google.rpc.Status` details), [`service`] (the table of RPC handlers),
//! [`import`] (the Import RPC, its pipeline, idempotency keys and the registry of running
//! jobs), [`export`] (exports, templates, error files), `jobs` (job reports, CancelImport,
//! WatchImport), [`leases`] (renewing and sweeping job leases on PostgreSQL), [`report`] (jobs
//! and row errors as proto messages), `stream` (the streaming response type), `threads`
//! (threads of their own for long blocking work), [`tls`] (TLS and mTLS settings), [`metrics`]
//! (Prometheus metrics and their `/metrics` endpoint).

pub mod audit;
pub mod auth;
pub mod bootstrap;
mod budget;
pub mod config;
pub mod error;
pub mod export;
pub mod formats;
pub mod health;
pub mod import;
pub mod inflight;
mod jobs;
pub mod leases;
pub mod metrics;
pub mod report;
mod revert;
pub mod service;
mod stream;
mod threads;
pub mod tls;

use std::{future::Future, net::SocketAddr, path::PathBuf};

use dataport_proto::v1::data_port_server::DataPortServer;
use dataport_store::{Store, StoreError};
use tokio::net::TcpListener;
use tokio_stream::wrappers::TcpListenerStream;

pub use config::{FileConfig, ServerConfig};
pub use service::DataPortService;

/// Why the server could not start or stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    #[error("cannot open the database: {0}")]
    Store(#[from] StoreError),
    #[error(transparent)]
    Bootstrap(#[from] bootstrap::BootstrapError),
    #[error("cannot listen on {addr}: {source}; is another server running there? pick another --listen")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("gRPC transport failed: {0}")]
    Transport(#[from] tonic::transport::Error),
    #[error("cannot build server reflection: {0}")]
    Reflection(String),
    #[error("start-up task failed: {0}")]
    Startup(String),
    #[error("cannot load the format plugins: {0}")]
    Plugins(#[from] dataport_plugin_host::HostError),
    #[error("TLS: {0}")]
    Tls(String),
}

/// A server whose database is open and whose listener is bound, ready to serve.
pub struct Server {
    config: ServerConfig,
    store: Store,
    formats: formats::Formats,
    listener: TcpListener,
    local_addr: SocketAddr,
    created_token_file: Option<PathBuf>,
    tls: Option<tonic::transport::ServerTlsConfig>,
    metrics_listener: Option<TcpListener>,
}

impl Server {
    /// Binds the listen addresses, opens the database and bootstraps the admin token.
    pub async fn bind(config: ServerConfig) -> Result<Server, ServerError> {
        // Certificates first: a wrong file should stop start-up before anything is written.
        let tls = config
            .tls
            .as_ref()
            .map(tls::TlsFiles::load)
            .transpose()
            .map_err(ServerError::Tls)?;
        // The ports next, before the database: a port in use (a second server started by
        // mistake) then stops start-up before any pool thread runs. A process that exits while
        // such a thread is in libpq's connect can crash in OpenSSL's exit-time cleanup.
        let listener = TcpListener::bind(config.listen)
            .await
            .map_err(|source| ServerError::Bind {
                addr: config.listen,
                source,
            })?;
        let local_addr = listener.local_addr().map_err(|source| ServerError::Bind {
            addr: config.listen,
            source,
        })?;
        let metrics_listener = match config.metrics_listen {
            Some(addr) => Some(
                metrics::bind(addr)
                    .await
                    .map_err(|source| ServerError::Bind { addr, source })?,
            ),
            None => None,
        };
        let url = config.database_url.clone();
        let token_file = config.token_file.clone();
        let plugin_dirs = config.plugin_dirs.clone();
        let plugin_isolation = config.plugin_isolation.clone();
        let store_options = dataport_store::StoreOptions {
            job_lease: config.job_lease,
            checkout_timeout: config.db_timeout,
            max_connections: config.database_pool_size,
            pool_wait: Some(metrics::pool_wait_observer()),
            ..dataport_store::StoreOptions::default()
        };
        let (store, formats, created_token_file) = tokio::task::spawn_blocking(move || {
            // Plugins first: a broken plugin directory should stop start-up before anything
            // is written.
            let formats = formats::Formats::discover(&plugin_dirs, plugin_isolation.as_ref())?;
            let store = Store::open_with(&url, &store_options)?;
            // A SQLite database belongs to this one server: any job still RUNNING was left by
            // a process that died. (PostgreSQL is shared by replicas; their jobs are not ours.)
            if store.backend() == dataport_store::Backend::Sqlite {
                // Name the job's plugin: an in-process plugin that crashed took the server down.
                let interrupted = store.interrupt_running_jobs(|format| {
                    format!(
                        "the server stopped while this job was running{}; what it committed is kept \
                         (see the counts and watermark); run the same import again to continue",
                        formats.plugin_note(format)
                    )
                })?;
                if interrupted > 0 {
                    tracing::warn!(jobs = interrupted, "marked jobs of a previous run INTERRUPTED");
                }
            }
            let created = bootstrap::ensure_admin_token(&store, &token_file)?;
            Ok::<_, ServerError>((store, formats, created))
        })
        .await
        .map_err(|e| ServerError::Startup(e.to_string()))??;
        Ok(Server {
            config,
            store,
            formats,
            listener,
            local_addr,
            created_token_file,
            tls,
            metrics_listener,
        })
    }

    /// Where `/metrics` is served, if it is.
    pub fn metrics_addr(&self) -> Option<SocketAddr> {
        self.metrics_listener.as_ref().and_then(|l| l.local_addr().ok())
    }

    /// `plaintext`, `TLS` or `mTLS`: what a client must speak.
    pub fn transport_security(&self) -> &'static str {
        match &self.config.tls {
            None => "plaintext",
            Some(files) if files.mutual() => "mTLS",
            Some(_) => "TLS",
        }
    }

    /// The bound address (useful with port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// Where the admin token was written, if this start created it.
    pub fn created_token_file(&self) -> Option<&std::path::Path> {
        self.created_token_file.as_deref()
    }

    /// The loaded format plugins.
    pub fn formats(&self) -> &formats::Formats {
        &self.formats
    }

    /// Which database backend is in use.
    pub fn backend(&self) -> &'static str {
        self.store.backend().as_str()
    }

    /// Serves until `shutdown` resolves, then lets in-flight calls finish.
    pub async fn serve(self, shutdown: impl Future<Output = ()> + Send + 'static) -> Result<(), ServerError> {
        let limit = self.config.max_message_bytes;
        let inflight = inflight::InFlight::default();
        let running = import::RunningImports::default();
        leases::spawn(self.store.clone(), running.clone(), self.formats.clone());
        let audit = audit::Audit::start(self.store.clone(), self.config.audit_retention);
        let dataport = DataPortServer::new(DataPortService::new(
            self.store.clone(),
            self.formats.clone(),
            self.config.limits,
            inflight.clone(),
            running.clone(),
            audit.clone(),
        ))
        .max_decoding_message_size(limit)
        .max_encoding_message_size(limit);

        let (health_reporter, health_service) = tonic_health::server::health_reporter();
        health_reporter
            .set_serving::<DataPortServer<DataPortService>>()
            .await;
        // NOT_SERVING while the database cannot be reached; stopped when the drain starts.
        let probe = health::spawn(
            self.store.clone(),
            health_reporter.clone(),
            self.config.db_timeout,
        );

        let reflection_v1 = tonic_reflection::server::Builder::configure()
            .register_encoded_file_descriptor_set(dataport_proto::FILE_DESCRIPTOR_SET)
            .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
            .build_v1()
            .map_err(|e| ServerError::Reflection(e.to_string()))?;
        let reflection_v1alpha = tonic_reflection::server::Builder::configure()
            .register_encoded_file_descriptor_set(dataport_proto::FILE_DESCRIPTOR_SET)
            .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
            .build_v1alpha()
            .map_err(|e| ServerError::Reflection(e.to_string()))?;

        tracing::info!(addr = %self.local_addr, backend = self.store.backend().as_str(), transport = self.transport_security(), "serving dataport.v1.DataPort");
        let grace = self.config.shutdown_grace;
        // The transport keeps serving through the drain, so a client arriving meanwhile gets a
        // clear UNAVAILABLE from Import (and its unary calls answered), and running imports can
        // deliver their Completed. Only then does the transport shut down.
        let (drained_tx, drained_rx) = tokio::sync::oneshot::channel::<()>();
        if let Some(listener) = self.metrics_listener {
            metrics::serve(listener);
        }
        let mut builder = tonic::transport::Server::builder();
        if let Some(tls) = self.tls {
            builder = builder.tls_config(tls)?;
        }
        let serving = builder
            .add_service(health_service)
            .add_service(reflection_v1)
            .add_service(reflection_v1alpha)
            .add_service(dataport)
            .serve_with_incoming_shutdown(nodelay(TcpListenerStream::new(self.listener)), async move {
                let _ = drained_rx.await;
            });
        let drain = async move {
            shutdown.await;
            probe.abort();
            // New imports are refused (UNAVAILABLE) from here on; running ones may finish.
            running.close("the server is shutting down; retry on another replica or after it restarts");
            // Load balancers stop routing here.
            health_reporter
                .set_not_serving::<DataPortServer<DataPortService>>()
                .await;
            tracing::info!(
                grace_secs = grace.as_secs(),
                imports = running.count(),
                "shutting down: finishing in-flight calls"
            );
            if tokio::time::timeout(grace, inflight.idle()).await.is_ok() {
                return;
            }
            // Imports still running now stop at their next batch boundary, INTERRUPTED, and
            // send their Completed before the server stops.
            let interrupted = running.interrupt_all(&format!(
                "the server shut down (its grace of {} s ended before this job did)",
                grace.as_secs()
            ));
            tracing::warn!(
                calls = inflight.count(),
                imports = interrupted,
                grace_secs = grace.as_secs(),
                "calls still running after the shutdown grace period: imports interrupted"
            );
            if tokio::time::timeout(STOP_AT_BATCH_BOUNDARY, inflight.idle())
                .await
                .is_err()
            {
                tracing::warn!(calls = inflight.count(), "calls still running; stopping anyway");
            }
        };
        tokio::pin!(serving);
        tokio::select! {
            served = &mut serving => return Ok(served?),
            () = drain => {}
        }
        // The calls' last audit entries (their import.end, say) reach the database.
        audit.flush(AUDIT_FLUSH).await;
        // Every call has handed its last message to the transport: give the connections a
        // moment to deliver it (and the trailers). hyper's graceful shutdown can wait forever
        // on an idle client connection (hyperium/hyper#4170), hence the bound.
        let _ = drained_tx.send(());
        match tokio::time::timeout(FLUSH_AFTER_CALLS, &mut serving).await {
            Ok(served) => served?,
            Err(_) => tracing::debug!("idle connections left open at shutdown"),
        }
        Ok(())
    }
}

/// How long interrupted imports get to reach a batch boundary and send Completed.
const STOP_AT_BATCH_BOUNDARY: std::time::Duration = std::time::Duration::from_secs(30);
/// How long the audit log's last entries get to be written at shutdown.
const AUDIT_FLUSH: std::time::Duration = std::time::Duration::from_secs(5);
/// How long finished calls' last frames get to reach their clients at shutdown.
const FLUSH_AFTER_CALLS: std::time::Duration = std::time::Duration::from_secs(2);

/// Installs SIGINT (Ctrl-C) and SIGTERM handlers right away and returns a future that resolves
/// on the first of them. Installing before the listen line is printed means a signal sent as
/// soon as a supervisor sees the server up is never lost to the default "terminate" action.
pub fn shutdown_signal() -> std::io::Result<impl Future<Output = ()> + Send + 'static> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut interrupt = signal(SignalKind::interrupt())?;
    let mut terminate = signal(SignalKind::terminate())?;
    Ok(async move {
        tokio::select! {
            _ = interrupt.recv() => {},
            _ = terminate.recv() => {},
        }
    })
}

/// Accepted sockets with TCP_NODELAY: a unary reply is a few small HTTP/2 frames (headers,
/// data, trailers), and with Nagle's algorithm the last of them waits for the client's delayed
/// ACK, about 40 ms on Linux. (tonic's own listener sets it; ours is bound in [`Server::bind`].)
fn nodelay(
    incoming: TcpListenerStream,
) -> impl tokio_stream::Stream<Item = std::io::Result<tokio::net::TcpStream>> {
    use tokio_stream::StreamExt;
    incoming.map(|accepted| {
        if let Ok(stream) = &accepted
            && let Err(e) = stream.set_nodelay(true)
        {
            tracing::debug!(error = %e, "cannot set TCP_NODELAY on an accepted connection");
        }
        accepted
    })
}
