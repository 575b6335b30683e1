//! Prometheus metrics (prometheus-client), served as text at `/metrics` on `--metrics-listen`.
//!
//! One process-wide set ([`get`]): the pipelines record into it where the numbers become final
//! (a job's end, an export's end), so a scrape never sees rows that were rolled back.

use std::net::SocketAddr;
use std::sync::OnceLock;
use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

/// Rows by module and what became of them.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RowLabels {
    pub module: String,
    /// created, updated, skipped or failed (imports); exported (exports).
    pub outcome: String,
}

/// Ended import jobs by status.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct StatusLabels {
    pub status: String,
}

/// Traffic by direction: `in` (uploads), `out` (exports, templates, error files).
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct DirectionLabels {
    pub direction: String,
}

/// Database connection pools: `reader`/`writer` (SQLite), `main` (PostgreSQL), `export`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct PoolLabels {
    pub pool: String,
}

/// 0.1 ms to about 26 s.
fn pool_wait_histogram() -> Histogram {
    Histogram::new(exponential_buckets(0.0001, 4.0, 10))
}

/// Every metric dataport exports.
pub struct Metrics {
    registry: Registry,
    pub rows_imported: Family<RowLabels, Counter>,
    pub rows_exported: Family<RowLabels, Counter>,
    pub import_jobs: Family<StatusLabels, Counter>,
    pub import_duration: Histogram,
    pub imports_in_flight: Gauge,
    pub exports_in_flight: Gauge,
    pub bytes: Family<DirectionLabels, Counter>,
    pub auth_failures: Counter,
    pub db_pool_wait: Family<PoolLabels, Histogram, fn() -> Histogram>,
    pub db_pool_timeouts: Family<PoolLabels, Counter>,
}

impl Metrics {
    fn new() -> Metrics {
        let mut registry = Registry::with_prefix("dataport");
        let rows_imported = Family::<RowLabels, Counter>::default();
        registry.register(
            "rows_imported",
            "Rows of import jobs that ended, by module and outcome (created, updated, skipped, failed)",
            rows_imported.clone(),
        );
        let rows_exported = Family::<RowLabels, Counter>::default();
        registry.register(
            "rows_exported",
            "Rows written by exports that completed, by module",
            rows_exported.clone(),
        );
        let import_jobs = Family::<StatusLabels, Counter>::default();
        registry.register(
            "import_jobs",
            "Import jobs (attempts) that ended, by status",
            import_jobs.clone(),
        );
        // 10 ms to about 3 hours.
        let import_duration = Histogram::new(exponential_buckets(0.01, 4.0, 10));
        registry.register(
            "import_job_duration_seconds",
            "Duration of import attempts, from the spec to the job's end",
            import_duration.clone(),
        );
        let imports_in_flight = Gauge::default();
        registry.register(
            "imports_in_flight",
            "Import jobs running now",
            imports_in_flight.clone(),
        );
        let exports_in_flight = Gauge::default();
        registry.register(
            "exports_in_flight",
            "Exports, templates and error-file downloads running now",
            exports_in_flight.clone(),
        );
        let bytes = Family::<DirectionLabels, Counter>::default();
        registry.register(
            "bytes",
            "Bytes of files received (in: uploads) and sent (out: exports, templates, error files)",
            bytes.clone(),
        );
        let auth_failures = Counter::default();
        registry.register(
            "auth_failures",
            "Calls refused as UNAUTHENTICATED (missing, unknown, revoked or expired tokens)",
            auth_failures.clone(),
        );
        let db_pool_wait =
            Family::<PoolLabels, Histogram, fn() -> Histogram>::new_with_constructor(pool_wait_histogram);
        registry.register(
            "db_pool_wait_seconds",
            "How long calls waited for a database connection, by pool",
            db_pool_wait.clone(),
        );
        let db_pool_timeouts = Family::<PoolLabels, Counter>::default();
        registry.register(
            "db_pool_timeouts",
            "Checkouts that gave up waiting for a database connection (--db-timeout-secs), by pool",
            db_pool_timeouts.clone(),
        );
        Metrics {
            registry,
            db_pool_wait,
            db_pool_timeouts,
            rows_imported,
            rows_exported,
            import_jobs,
            import_duration,
            imports_in_flight,
            exports_in_flight,
            bytes,
            auth_failures,
        }
    }

    /// The text exposition of every metric (OpenMetrics, which Prometheus reads), ending `# EOF`.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        // Writing into a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.registry);
        out
    }

    /// Adds an ended import attempt: its rows (what this attempt added), status and duration.
    pub fn import_ended(&self, module: &str, status: &str, rows: [(&str, u64); 4], took: Duration) {
        for (outcome, n) in rows {
            if n > 0 {
                self.rows_imported
                    .get_or_create(&RowLabels {
                        module: module.to_owned(),
                        outcome: outcome.to_owned(),
                    })
                    .inc_by(n);
            }
        }
        self.import_jobs
            .get_or_create(&StatusLabels {
                status: status.to_owned(),
            })
            .inc();
        self.import_duration.observe(took.as_secs_f64());
    }

    /// Adds a completed export's rows.
    pub fn exported(&self, module: &str, rows: u64) {
        self.rows_exported
            .get_or_create(&RowLabels {
                module: module.to_owned(),
                outcome: "exported".to_owned(),
            })
            .inc_by(rows);
    }

    /// Adds bytes received (`in`) or sent (`out`).
    pub fn bytes(&self, direction: &'static str, n: u64) {
        self.bytes
            .get_or_create(&DirectionLabels {
                direction: direction.to_owned(),
            })
            .inc_by(n);
    }
}

/// Feeds the store's pool checkouts into `dataport_db_pool_wait_seconds` and
/// `dataport_db_pool_timeouts_total`.
pub fn pool_wait_observer() -> dataport_store::PoolWaitObserver {
    dataport_store::PoolWaitObserver(std::sync::Arc::new(|wait: dataport_store::PoolWait| {
        let labels = PoolLabels {
            pool: wait.pool.to_owned(),
        };
        if wait.timed_out {
            get().db_pool_timeouts.get_or_create(&labels).inc();
        } else {
            get()
                .db_pool_wait
                .get_or_create(&labels)
                .observe(wait.waited.as_secs_f64());
        }
    }))
}

/// The process's metrics.
pub fn get() -> &'static Metrics {
    static METRICS: OnceLock<Metrics> = OnceLock::new();
    METRICS.get_or_init(Metrics::new)
}

/// Counts one running import or export for as long as it lives.
pub struct InFlight(&'static Gauge);

impl InFlight {
    pub fn import() -> InFlight {
        let gauge = &get().imports_in_flight;
        gauge.inc();
        InFlight(gauge)
    }

    pub fn export() -> InFlight {
        let gauge = &get().exports_in_flight;
        gauge.inc();
        InFlight(gauge)
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.dec();
    }
}

/// Serves `GET /metrics` on `listener` until the process ends.
pub fn serve(listener: tokio::net::TcpListener) {
    async fn metrics() -> impl axum::response::IntoResponse {
        (
            [(
                axum::http::header::CONTENT_TYPE,
                "application/openmetrics-text; version=1.0.0; charset=utf-8",
            )],
            get().encode(),
        )
    }
    let app = axum::Router::new().route("/metrics", axum::routing::get(metrics));
    tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, app).await {
            tracing::error!(error = %e, "the metrics endpoint stopped");
        }
    });
}

/// Binds `--metrics-listen`.
pub async fn bind(addr: SocketAddr) -> std::io::Result<tokio::net::TcpListener> {
    tokio::net::TcpListener::bind(addr).await
}
