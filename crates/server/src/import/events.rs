//! The outgoing side of an import: events in order, the counters progress reports read, and the
//! job's cancellation flag.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use dataport_proto::v1::{self, import_event::Event};
use tokio::sync::mpsc;
use tonic::Status;

/// Events buffered between the pipeline and the client: room for every row error event of the
/// default cap (1 000), so a client that reads nothing until it has sent its file still gets
/// them all; beyond the queue they are counted (`row_errors_not_sent`) and persisted.
pub const EVENT_QUEUE: usize = 1_100;
/// Room in the queue kept for the few events that must arrive (Accepted, HeaderMapped, Preview,
/// a job-level RowError, Completed: at most five), so sending them never waits for a client
/// that is not reading yet.
const RESERVED: usize = 8;
/// How often a running import reports progress at the least.
pub const PROGRESS_EVERY: Duration = Duration::from_millis(250);

pub type EventSender = mpsc::Sender<Result<v1::ImportEvent, Status>>;

/// Why a job is being stopped. The first reason wins. Anyone may stop a job (the upload feed,
/// CancelImport, the lease keeper, shutdown); the pipeline checks at every batch boundary, and
/// the feed wakes up at once (see [`Cancel::stopped`]) to unblock a reader waiting for data.
#[derive(Debug, Default)]
pub struct Cancel {
    flag: AtomicBool,
    stop: Mutex<Option<Stop>>,
    wake: tokio::sync::Notify,
}

/// Why a job stopped before the end of its input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Stop {
    /// The client disappeared (stream broken, events no longer received): resumable.
    Interrupted(String),
    /// The client broke the protocol (a second spec, the wrong kind of message: INVALID_ARGUMENT;
    /// a message over the size limit: FILE_TOO_LARGE). The call ends with that error.
    Protocol(dataport_core::ErrorCode, String),
    /// Cancelled on purpose (CancelImport): CANCELLED.
    Cancelled(String),
}

impl Cancel {
    /// Stops the job short of its input's end (client gone, idle, server stopping): the job
    /// becomes INTERRUPTED, resumable. The first reason wins.
    pub fn interrupt(&self, reason: impl Into<String>) {
        self.stop_with(Stop::Interrupted(reason.into()));
    }

    /// Cancels the job on purpose (CancelImport); the first reason wins.
    pub fn cancel(&self, reason: impl Into<String>) {
        self.stop_with(Stop::Cancelled(reason.into()));
    }

    /// Stops the job because the client broke the protocol; the first reason wins.
    pub fn refuse(&self, code: dataport_core::ErrorCode, reason: impl Into<String>) {
        self.stop_with(Stop::Protocol(code, reason.into()));
    }

    fn stop_with(&self, stop: Stop) {
        let mut slot = self.stop.lock().unwrap_or_else(PoisonError::into_inner);
        if slot.is_none() {
            *slot = Some(stop);
        }
        self.flag.store(true, Ordering::SeqCst);
        drop(slot);
        self.wake.notify_waiters();
    }

    /// Resolves once the job is stopped, for whatever reason.
    pub async fn stopped(&self) {
        loop {
            let notified = self.wake.notified();
            tokio::pin!(notified);
            // Register before checking, so a stop in between still wakes us.
            notified.as_mut().enable();
            if self.is_cancelled() {
                return;
            }
            notified.await;
        }
    }

    pub fn is_cancelled(&self) -> bool {
        self.flag.load(Ordering::SeqCst)
    }

    pub fn stop(&self) -> Option<Stop> {
        self.stop.lock().unwrap_or_else(PoisonError::into_inner).clone()
    }
}

#[derive(Debug, Default)]
pub struct Counters {
    pub rows_read: AtomicU64,
    pub rows_ok: AtomicU64,
    pub rows_failed: AtomicU64,
    /// The data rows the file holds, when its reader knows them before reading (0: unknown).
    pub rows_total: AtomicU64,
}

impl Counters {
    /// A resumed job's progress continues from what it committed before.
    pub fn start_at(&self, committed: &dataport_store::JobCounts) {
        self.rows_read.store(committed.rows_read, Ordering::Relaxed);
        self.rows_ok.store(
            committed.created + committed.updated + committed.skipped,
            Ordering::Relaxed,
        );
        self.rows_failed.store(committed.failed, Ordering::Relaxed);
    }
}

/// Sends a job's events. Cheap to clone; every clone sends into the same stream.
#[derive(Clone)]
pub struct Events {
    tx: EventSender,
    cancel: Arc<Cancel>,
    counters: Arc<Counters>,
    bytes: Arc<AtomicU64>,
    started: Instant,
    /// Set once `Completed` is on its way: the ticker sends nothing after it.
    closed: Arc<Mutex<bool>>,
    /// Wakes the ticker when `Completed` has been sent, so that it drops its sender at once and
    /// the response stream ends then, not at the next tick (a fixed stall on every import).
    done: Arc<tokio::sync::Notify>,
    /// A Progress is queued and not yet taken by the client: the next one waits, so the queue
    /// holds at most one, and the client always gets the latest counts.
    progress_queued: Arc<AtomicBool>,
}

impl Events {
    pub fn new(tx: EventSender, cancel: Arc<Cancel>, bytes: Arc<AtomicU64>, started: Instant) -> Events {
        Events {
            tx,
            cancel,
            counters: Arc::new(Counters::default()),
            bytes,
            started,
            closed: Arc::new(Mutex::new(false)),
            done: Arc::new(tokio::sync::Notify::new()),
            progress_queued: Arc::new(AtomicBool::new(false)),
        }
    }

    /// Marks a Progress as taken by the client; the response stream calls it for each event.
    pub fn taken(progress_queued: &AtomicBool, event: &Result<v1::ImportEvent, Status>) {
        if let Ok(v1::ImportEvent {
            event: Some(Event::Progress(_)),
        }) = event
        {
            progress_queued.store(false, Ordering::Release);
        }
    }

    /// The flag [`Events::taken`] clears, for the response stream.
    pub fn progress_flag(&self) -> Arc<AtomicBool> {
        self.progress_queued.clone()
    }

    /// The raw sender, for the first event, sent from the runtime.
    pub fn clone_sender(&self) -> EventSender {
        self.tx.clone()
    }

    pub fn counters(&self) -> &Counters {
        &self.counters
    }

    pub fn cancel(&self) -> &Arc<Cancel> {
        &self.cancel
    }

    /// Sends an event that may be left out (Progress, a row's RowError) if the client is not
    /// taking events now: a client that sends its whole file before it reads never stalls the
    /// job. `false` if it was not sent (the caller counts it; a later Progress replaces it).
    pub fn offer(&self, event: Event) -> bool {
        if self.tx.capacity() <= RESERVED {
            return false;
        }
        let progress = matches!(event, Event::Progress(_));
        if progress && self.progress_queued.swap(true, Ordering::AcqRel) {
            // The client has not taken the last one yet: it will read fresher counts later.
            return false;
        }
        match self.tx.try_send(Ok(v1::ImportEvent { event: Some(event) })) {
            Ok(()) => true,
            Err(mpsc::error::TrySendError::Full(_)) => {
                if progress {
                    self.progress_queued.store(false, Ordering::Release);
                }
                false
            }
            Err(mpsc::error::TrySendError::Closed(_)) => {
                self.cancel.interrupt("the client closed the import stream");
                false
            }
        }
    }

    /// Sends one of the few events that must arrive (see [`RESERVED`]), from a blocking
    /// thread. `false` (and the job interrupted) if the client is gone.
    pub fn send(&self, event: Event) -> bool {
        let ok = self
            .tx
            .blocking_send(Ok(v1::ImportEvent { event: Some(event) }))
            .is_ok();
        if !ok {
            self.cancel.interrupt("the client closed the import stream");
        }
        ok
    }

    /// The current counters as a Progress event.
    pub fn progress(&self) -> Event {
        Event::Progress(v1::Progress {
            bytes_read: self.bytes.load(Ordering::Relaxed),
            rows_read: self.counters.rows_read.load(Ordering::Relaxed),
            rows_ok: self.counters.rows_ok.load(Ordering::Relaxed),
            rows_failed: self.counters.rows_failed.load(Ordering::Relaxed),
            rows_total: self.counters.rows_total.load(Ordering::Relaxed),
            elapsed_ms: u64::try_from(self.started.elapsed().as_millis()).unwrap_or(u64::MAX),
        })
    }

    /// Sends the final event; nothing is sent after it but, for a job ended by the client's
    /// mistake, the call's error status (`call_error`), so the call itself fails.
    pub fn complete(&self, completed: v1::Completed, call_error: Option<Status>) {
        *self.closed.lock().unwrap_or_else(PoisonError::into_inner) = true;
        // A client that is gone can no longer see it; the job is persisted either way.
        let _ = self.tx.blocking_send(Ok(v1::ImportEvent {
            event: Some(Event::Completed(completed)),
        }));
        if let Some(status) = call_error {
            let _ = self.tx.blocking_send(Err(status));
        }
        // A stored permit: the ticker sees it even if it is not waiting right now.
        self.done.notify_one();
    }

    /// Sends Progress every [`PROGRESS_EVERY`] until [`Events::complete`], from the runtime.
    /// Whether `Completed` was sent (or attempted): the stream is over.
    pub fn is_complete(&self) -> bool {
        *self.closed.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub fn spawn_ticker(&self) {
        let events = self.clone();
        tokio::spawn(async move {
            let mut interval = tokio::time::interval(PROGRESS_EVERY);
            interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tokio::select! {
                    _ = interval.tick() => {}
                    () = events.done.notified() => break,
                }
                let closed = events.closed.lock().unwrap_or_else(PoisonError::into_inner);
                if *closed || events.tx.is_closed() {
                    break;
                }
                // Never wait while holding the lock: a full queue just skips this tick.
                let _ = events.offer(events.progress());
            }
        });
    }
}
