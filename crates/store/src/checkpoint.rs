//! SQLite's WAL checkpoints, mostly on a thread of their own.
//!
//! In WAL mode every page is written twice: appended to the `-wal` file at commit, and copied
//! back into the database by a checkpoint. SQLite runs that checkpoint in the committing
//! connection once the log passes `wal_autocheckpoint` pages: on an import, the writer thread,
//! which is the import's bottleneck (a checkpoint every 4 MiB of log was a tenth of its time
//! at a million rows).
//!
//! So a [`Checkpointer`] thread, on its own connection, runs a PASSIVE checkpoint (which never
//! blocks the writer or readers) whenever another connection has committed since its last look
//! (`PRAGMA data_version`), at most every [`INTERVAL`]: the copying happens on the other core,
//! while the writer goes on appending. The writer's own automatic checkpoint stays on, at
//! [`WRITER_AUTOCHECKPOINT_PAGES`]: it finds the log mostly copied already, copies the rest,
//! and lets the next transaction start the log from its beginning again. Without it the log of
//! an import that never pauses could not restart and would grow as large as the import.

use std::sync::mpsc::{self, RecvTimeoutError};
use std::thread::JoinHandle;
use std::time::Duration;

use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use diesel::sql_types::BigInt;

/// How often the thread looks for new commits.
pub(crate) const INTERVAL: Duration = Duration::from_millis(100);

/// The writer connections' `wal_autocheckpoint` (SQLite's default is 1000 pages, 4 MiB): the
/// log's bound, 32 MiB at 4 KiB pages.
pub(crate) const WRITER_AUTOCHECKPOINT_PAGES: u32 = 8192;

/// The checkpoint thread; dropping it stops and joins the thread.
pub(crate) struct Checkpointer {
    stop: Option<mpsc::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

#[derive(QueryableByName)]
struct DataVersion {
    #[diesel(sql_type = BigInt)]
    data_version: i64,
}

impl Checkpointer {
    /// Opens the thread's connection to `path` and starts it.
    pub(crate) fn start(path: &str) -> Result<Checkpointer, String> {
        let mut conn = SqliteConnection::establish(path).map_err(|e| e.to_string())?;
        // A checkpoint that finds the database busy simply does less; it never waits.
        conn.batch_execute("PRAGMA busy_timeout = 0;")
            .map_err(|e| e.to_string())?;
        let (stop, stopped) = mpsc::channel();
        let thread = std::thread::Builder::new()
            .name("sqlite-checkpoint".to_owned())
            .spawn(move || run(conn, &stopped))
            .map_err(|e| e.to_string())?;
        Ok(Checkpointer {
            stop: Some(stop),
            thread: Some(thread),
        })
    }
}

fn run(mut conn: SqliteConnection, stopped: &mpsc::Receiver<()>) {
    let mut seen = None;
    loop {
        match stopped.recv_timeout(INTERVAL) {
            Err(RecvTimeoutError::Timeout) => {}
            Ok(()) | Err(RecvTimeoutError::Disconnected) => return,
        }
        let version = diesel::sql_query("PRAGMA data_version")
            .get_result::<DataVersion>(&mut conn)
            .map(|v| v.data_version);
        match version {
            Ok(version) if seen != Some(version) => {
                seen = Some(version);
                if let Err(e) = conn.batch_execute("PRAGMA wal_checkpoint(PASSIVE);") {
                    tracing::debug!(error = %e, "background checkpoint failed; the writer's own will do");
                }
            }
            Ok(_) => {}
            Err(e) => tracing::debug!(error = %e, "cannot read data_version"),
        }
    }
}

impl Drop for Checkpointer {
    fn drop(&mut self) {
        drop(self.stop.take());
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}
