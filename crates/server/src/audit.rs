//! The audit log's writer: handlers hand entries to [`Audit::record`], which never blocks and
//! never fails the call; one task appends them to the store in order, a batch at a time, and
//! another prunes entries older than the retention.
//!
//! What is recorded (see `dataport_store::AuditEvent`): import starts and ends, exports with
//! their exact filter and row count, template and error-file downloads, failed-authentication
//! bursts (one entry per line [`crate::auth::FailureLog`] writes). Token creation and revocation
//! are recorded by the store itself, in the transaction that changes the token.

use std::time::Duration;

use dataport_proto::v1;
use dataport_store::{AuditEntry, AuditEvent, AuditQuery, NewAuditEntry, Store};
use tokio::sync::{mpsc, oneshot};

use crate::auth::Caller;
use crate::error::{ServiceError, blocking};

/// Entries waiting to be written. Beyond this (the database is away for long), new entries
/// are dropped and each drop is logged at ERROR with the entry, so nothing vanishes silently.
const QUEUE: usize = 10_000;
/// Most entries written in one transaction.
const BATCH: usize = 500;
/// How often old entries are pruned.
const PRUNE_EVERY: Duration = Duration::from_secs(6 * 60 * 60);

enum Message {
    Entry(Box<NewAuditEntry>),
    /// Answered once every entry sent before it has been written (or given up on).
    Flush(oneshot::Sender<()>),
}

/// A handle on the audit log. Cheap to clone.
#[derive(Clone)]
pub struct Audit {
    tx: mpsc::Sender<Message>,
}

impl Audit {
    /// Starts the writer on the current tokio runtime, and, with a `retention`, the pruner:
    /// entries older than it are deleted at start and every few hours.
    pub fn start(store: Store, retention: Option<Duration>) -> Audit {
        let (tx, rx) = mpsc::channel(QUEUE);
        tokio::spawn(write_entries(store.clone(), rx));
        if let Some(retention) = retention {
            tokio::spawn(prune(store, retention));
        }
        Audit { tx }
    }

    /// An entry for `event` by `caller` through `rpc`, its token and peer filled in.
    pub fn entry(caller: &Caller, event: AuditEvent, rpc: &str) -> NewAuditEntry {
        let mut entry = NewAuditEntry::new(event, rpc, "");
        entry.token_name = Some(caller.token_name.clone());
        entry.peer = caller.peer.map(|ip| ip.to_string());
        entry
    }

    /// Queues `entry` for writing; never waits.
    pub fn record(&self, entry: NewAuditEntry) {
        if let Err(e) = self.tx.try_send(Message::Entry(Box::new(entry))) {
            let entry = match e.into_inner() {
                Message::Entry(entry) => entry,
                Message::Flush(_) => return,
            };
            tracing::error!(
                ?entry,
                "audit entry dropped: the audit log's queue is full (is the database reachable?)"
            );
        }
    }

    /// Waits (at most `timeout`, a full queue included) until every entry recorded so far is
    /// written.
    pub async fn flush(&self, timeout: Duration) {
        let (done, wait) = oneshot::channel();
        let flushed = async {
            if self.tx.send(Message::Flush(done)).await.is_ok() {
                let _ = wait.await;
            }
        };
        if tokio::time::timeout(timeout, flushed).await.is_err() {
            tracing::warn!(
                timeout_secs = timeout.as_secs(),
                "audit entries still queued at shutdown were not all written"
            );
        }
    }
}

/// An entry begun when a call starts and recorded when it ends, with its outcome.
pub struct Pending {
    audit: Audit,
    pub entry: NewAuditEntry,
}

impl Pending {
    pub fn new(audit: &Audit, caller: &Caller, event: AuditEvent, rpc: &str) -> Pending {
        Pending {
            audit: audit.clone(),
            entry: Audit::entry(caller, event, rpc),
        }
    }

    /// Records the entry with what was moved and how it ended.
    pub fn record(mut self, rows: Option<u64>, bytes: Option<u64>, outcome: impl Into<String>) {
        self.entry.rows = rows;
        self.entry.bytes = bytes;
        let outcome = outcome.into();
        self.entry.detail = if self.entry.detail.is_empty() {
            outcome
        } else {
            format!("{outcome}; {}", self.entry.detail)
        };
        self.audit.record(self.entry);
    }
}

async fn write_entries(store: Store, mut rx: mpsc::Receiver<Message>) {
    let mut batch = Vec::new();
    let mut flushes = Vec::new();
    while let Some(first) = rx.recv().await {
        let mut next = Some(first);
        while let Some(message) = next.take() {
            match message {
                Message::Entry(entry) => batch.push(*entry),
                Message::Flush(done) => flushes.push(done),
            }
            if batch.len() < BATCH {
                next = rx.try_recv().ok();
            }
        }
        if !batch.is_empty() {
            let entries = std::mem::take(&mut batch);
            let count = entries.len();
            let store = store.clone();
            let written =
                tokio::task::spawn_blocking(move || store.record_audit(&entries).map_err(|e| (e, entries)))
                    .await;
            match written {
                Ok(Ok(())) => {}
                Ok(Err((error, entries))) => {
                    tracing::error!(%error, count, ?entries, "audit entries not recorded");
                }
                Err(error) => tracing::error!(%error, count, "audit writer task failed"),
            }
        }
        for done in flushes.drain(..) {
            let _ = done.send(());
        }
    }
}

async fn prune(store: Store, retention: Duration) {
    let mut tick = tokio::time::interval(PRUNE_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let Some(before) = chrono::TimeDelta::from_std(retention)
            .ok()
            .and_then(|age| chrono::Utc::now().checked_sub_signed(age))
        else {
            return;
        };
        let store = store.clone();
        match tokio::task::spawn_blocking(move || store.prune_audit(before)).await {
            Ok(Ok(0)) => {}
            Ok(Ok(deleted)) => tracing::info!(deleted, %before, "pruned audit entries past the retention"),
            Ok(Err(error)) => tracing::warn!(%error, "pruning the audit log failed; retrying later"),
            Err(error) => tracing::warn!(%error, "audit pruner task failed"),
        }
    }
}

/// Page size of ListAuditLog when the request gives none, and its maximum.
const DEFAULT_PAGE: u32 = 100;
const MAX_PAGE: u32 = 1000;

/// ListAuditLog: a page of entries, oldest first (the caller is an admin).
pub async fn list(
    store: Store,
    request: v1::ListAuditLogRequest,
) -> Result<v1::ListAuditLogResponse, ServiceError> {
    let (page_size, after_id) =
        crate::jobs::page_request(request.page_size, DEFAULT_PAGE, MAX_PAGE, &request.page_token)?;
    let query = AuditQuery {
        since: crate::jobs::unix_ms_bound("since_unix_ms", request.since_unix_ms)?,
        after_id,
        // One extra row tells whether another page follows.
        limit: page_size + 1,
    };
    let mut entries = blocking(move || Ok(store.list_audit(&query)?)).await?;
    let next_page_token = crate::jobs::next_page_token(&mut entries, page_size, |e| e.id);
    Ok(v1::ListAuditLogResponse {
        entries: entries.into_iter().map(entry_to_proto).collect(),
        next_page_token,
    })
}

fn entry_to_proto(stored: AuditEntry) -> v1::AuditEntry {
    let e = stored.entry;
    v1::AuditEntry {
        id: stored.id,
        at_unix_ms: stored.at.timestamp_millis(),
        event: e.event.as_str().to_owned(),
        rpc: e.rpc,
        token_name: e.token_name.unwrap_or_default(),
        peer: e.peer.unwrap_or_default(),
        module: e.module.unwrap_or_default(),
        filter: e.filter.unwrap_or_default(),
        job_id: e.job_id.unwrap_or_default(),
        rows: e.rows.unwrap_or_default(),
        bytes: e.bytes.unwrap_or_default(),
        detail: e.detail,
    }
}
