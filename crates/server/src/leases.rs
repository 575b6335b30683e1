//! The lease keeper of a PostgreSQL replica (river/oban style): it renews the leases of the
//! jobs this process runs, forwards cancels requested through other replicas, and sweeps
//! expired leases of any replica (`FOR UPDATE SKIP LOCKED`, so replicas never sweep the same
//! job twice). A SQLite database has one server, which sweeps its leftovers at start-up only.

use std::time::Duration;

use dataport_store::{Backend, Store};

use crate::formats::Formats;
use crate::import::RunningImports;

/// The reason stored on a job whose owner stopped renewing its lease; `plugin_note` names the
/// plugin that read it (see [`Formats::plugin_note`]).
pub fn lease_expired(plugin_note: &str) -> String {
    format!(
        "the server running this job stopped renewing its lease (killed, or cut off from the \
         database){plugin_note}; what it committed is kept (see the counts and watermark); run the \
         same import again to continue"
    )
}

/// How often leases are renewed and swept: a third of the lease, so a live owner renews at
/// least twice before its lease could expire, and a dead one is swept within lease + a third.
pub fn interval(lease: Duration) -> Duration {
    (lease / 3).max(Duration::from_millis(200))
}

/// Starts the keeper (PostgreSQL only); it runs until the runtime stops.
pub fn spawn(store: Store, running: RunningImports, formats: Formats) {
    if store.backend() != Backend::Postgres {
        return;
    }
    let every = interval(store.lease().duration);
    tokio::spawn(async move {
        let mut ticks = tokio::time::interval(every);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticks.tick().await;
            let store = store.clone();
            let formats = formats.clone();
            let ids = running.ids();
            let keep = tokio::task::spawn_blocking(move || {
                let cancels = store.renew_leases(&ids)?;
                let swept =
                    store.sweep_expired_leases(|format| lease_expired(&formats.plugin_note(format)))?;
                Ok::<_, dataport_store::StoreError>((cancels, swept))
            })
            .await;
            match keep {
                Ok(Ok((cancels, swept))) => {
                    for id in cancels {
                        if running.cancel(id, "cancelled with CancelImport") {
                            tracing::info!(job = id, "cancel requested through another replica");
                        }
                    }
                    for id in swept {
                        tracing::warn!(job = id, "job's lease expired: marked INTERRUPTED");
                    }
                }
                // The database may be restarting: the next tick tries again.
                Ok(Err(e)) => tracing::warn!(error = %e, "cannot renew or sweep job leases"),
                Err(e) => tracing::warn!(error = %e, "the lease keeper's task failed"),
            }
        }
    });
}
