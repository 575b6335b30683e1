//! How long checkouts wait for a pooled connection, reported to whoever asks (the server's
//! `dataport_db_pool_wait_seconds` metric) through r2d2's event hooks.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use diesel::r2d2::HandleEvent;
use diesel::r2d2::event::{CheckoutEvent, TimeoutEvent};

/// One checkout: which pool, how long it waited, and whether it gave up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PoolWait {
    /// `reader` or `writer` (SQLite), `main` (PostgreSQL), `export` (export snapshots).
    pub pool: &'static str,
    pub waited: Duration,
    /// The checkout timed out (the call failed with UNAVAILABLE or BUSY).
    pub timed_out: bool,
}

/// Called on every checkout of every pool ([`crate::StoreOptions::pool_wait`]). It runs on
/// the checking-out thread: keep it cheap.
#[derive(Clone)]
pub struct PoolWaitObserver(pub Arc<dyn Fn(PoolWait) + Send + Sync>);

impl fmt::Debug for PoolWaitObserver {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("PoolWaitObserver")
    }
}

impl PartialEq for PoolWaitObserver {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }
}

impl Eq for PoolWaitObserver {}

/// The r2d2 hook of one pool.
#[derive(Debug)]
pub(crate) struct PoolEvents {
    pool: &'static str,
    observer: PoolWaitObserver,
}

impl PoolEvents {
    /// The hook for `pool`, or r2d2's default (nothing) without an observer.
    pub(crate) fn boxed(pool: &'static str, observer: Option<&PoolWaitObserver>) -> Box<dyn HandleEvent> {
        match observer {
            Some(observer) => Box::new(PoolEvents {
                pool,
                observer: observer.clone(),
            }),
            None => Box::new(diesel::r2d2::NopEventHandler),
        }
    }
}

impl HandleEvent for PoolEvents {
    fn handle_checkout(&self, event: CheckoutEvent) {
        (self.observer.0)(PoolWait {
            pool: self.pool,
            waited: event.duration(),
            timed_out: false,
        });
    }

    fn handle_timeout(&self, event: TimeoutEvent) {
        (self.observer.0)(PoolWait {
            pool: self.pool,
            waited: event.timeout(),
            timed_out: true,
        });
    }
}
