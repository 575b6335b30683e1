//! Counts the DataPort calls in progress, so that shutdown waits for real work and not for idle
//! client connections.

use std::sync::{
    Arc,
    atomic::{AtomicUsize, Ordering},
};

use tokio::sync::Notify;

/// Shared counter of calls in progress. Clone it freely.
#[derive(Debug, Clone, Default)]
pub struct InFlight {
    inner: Arc<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    calls: AtomicUsize,
    idle: Notify,
}

/// Held for as long as a call runs; for streaming calls it moves into the response stream.
#[derive(Debug)]
pub struct CallGuard {
    inner: Arc<Inner>,
}

impl InFlight {
    /// Registers a call; it ends when the guard is dropped.
    pub fn enter(&self) -> CallGuard {
        self.inner.calls.fetch_add(1, Ordering::SeqCst);
        CallGuard {
            inner: self.inner.clone(),
        }
    }

    /// Calls in progress now.
    pub fn count(&self) -> usize {
        self.inner.calls.load(Ordering::SeqCst)
    }

    /// Resolves once no call is in progress.
    pub async fn idle(&self) {
        loop {
            let notified = self.inner.idle.notified();
            tokio::pin!(notified);
            // Register interest before checking, so a guard dropped in between still wakes us.
            notified.as_mut().enable();
            if self.count() == 0 {
                return;
            }
            notified.await;
        }
    }
}

impl Drop for CallGuard {
    fn drop(&mut self) {
        if self.inner.calls.fetch_sub(1, Ordering::SeqCst) == 1 {
            self.inner.idle.notify_waiters();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn idle_waits_for_every_guard() {
        let inflight = InFlight::default();
        inflight.idle().await;
        let a = inflight.enter();
        let b = inflight.enter();
        assert_eq!(inflight.count(), 2);
        let waiter = tokio::spawn({
            let inflight = inflight.clone();
            async move { inflight.idle().await }
        });
        drop(a);
        tokio::task::yield_now().await;
        assert!(!waiter.is_finished());
        drop(b);
        tokio::time::timeout(std::time::Duration::from_secs(5), waiter)
            .await
            .unwrap()
            .unwrap();
    }
}
