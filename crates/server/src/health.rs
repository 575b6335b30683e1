//! Health that means it: a probe pings the database every [`PROBE_INTERVAL`] and reports
//! `grpc.health.v1.Health` NOT_SERVING (for `dataport.v1.DataPort` and the whole server, `""`)
//! while it cannot be reached, SERVING again once it can. Each ping must answer within
//! [`PROBE_TIMEOUT`] (a connection checkout, validated on PostgreSQL, plus a trivial query; on
//! SQLite the database file must still be at its path). Only changes are logged.
//!
//! The probe stops at shutdown (the drain aborts it), so it never turns a draining server
//! back to SERVING.

use std::time::Duration;

use dataport_proto::v1::data_port_server::DataPortServer;
use dataport_store::Store;
use tonic_health::ServingStatus;
use tonic_health::server::HealthReporter;

use crate::service::DataPortService;

/// How often the database is pinged.
pub const PROBE_INTERVAL: Duration = Duration::from_secs(1);
/// How long a ping may take before the database counts as away.
pub const PROBE_TIMEOUT: Duration = Duration::from_secs(2);

/// Starts the probe; abort the handle to stop it.
pub fn spawn(store: Store, reporter: HealthReporter, timeout: Duration) -> tokio::task::JoinHandle<()> {
    let timeout = timeout.min(PROBE_TIMEOUT).max(Duration::from_millis(100));
    tokio::spawn(async move {
        let mut serving = true;
        let mut ticker = tokio::time::interval(PROBE_INTERVAL);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticker.tick().await;
            let problem = ping(&store, timeout).await;
            match (serving, problem) {
                (true, Some(problem)) => {
                    tracing::error!(%problem, "the database cannot be reached: health is NOT_SERVING");
                    set(&reporter, ServingStatus::NotServing).await;
                    serving = false;
                }
                (false, None) => {
                    tracing::info!("the database is reachable again: health is SERVING");
                    set(&reporter, ServingStatus::Serving).await;
                    serving = true;
                }
                _ => {}
            }
        }
    })
}

/// Why the database did not answer, or `None` when it did.
async fn ping(store: &Store, timeout: Duration) -> Option<String> {
    let store = store.clone();
    let mut task = tokio::task::spawn_blocking(move || store.ping(timeout));
    // The ping bounds its own checkout; a query stuck on a dead connection is bounded here,
    // and the next ping waits for this one, so stuck pings never pile up.
    let limit = timeout + Duration::from_millis(500);
    let outcome = match tokio::time::timeout(limit, &mut task).await {
        Ok(outcome) => outcome,
        Err(_) => {
            let _ = task.await;
            return Some(format!("no answer within {limit:?}"));
        }
    };
    match outcome {
        Ok(Ok(())) => None,
        Ok(Err(e)) => Some(e.to_string()),
        Err(e) => Some(format!("the ping task failed: {e}")),
    }
}

async fn set(reporter: &HealthReporter, status: ServingStatus) {
    reporter
        .set_service_status(
            <DataPortServer<DataPortService> as tonic::server::NamedService>::NAME,
            status,
        )
        .await;
    reporter.set_service_status("", status).await;
}
