//! Where long blocking work tied to a client runs (an import's pipeline, an export or a file
//! download): on a thread of its own, not in tokio's blocking pool. Hundreds of imports waiting
//! for their clients, or downloads waiting for slow readers, then never delay the short
//! database calls of auth and unary RPCs, which do use the pool.

/// Runs `work` on a new named thread; if the system cannot start one, in tokio's blocking pool
/// rather than not at all.
pub fn spawn_long<W: FnOnce() + Send + 'static>(name: String, work: W) {
    // The work is handed over once the thread exists, so a failed spawn still has it.
    let (hand_over, take) = std::sync::mpsc::sync_channel::<W>(1);
    let spawned = std::thread::Builder::new().name(name.clone()).spawn(move || {
        if let Ok(work) = take.recv() {
            work();
        }
    });
    match spawned {
        Ok(_) => {
            let _ = hand_over.send(work);
        }
        Err(e) => {
            tracing::warn!(thread = %name, error = %e, "cannot start a thread; running in the blocking pool");
            tokio::task::spawn_blocking(work);
        }
    }
}

#[cfg(test)]
mod tests {
    #[tokio::test]
    async fn work_runs_on_its_own_named_thread() {
        let (tx, rx) = tokio::sync::oneshot::channel();
        super::spawn_long("dataport-test-thread".into(), move || {
            let _ = tx.send(std::thread::current().name().map(str::to_owned));
        });
        assert_eq!(rx.await.unwrap().as_deref(), Some("dataport-test-thread"));
    }
}
