//! The imports this server process runs now, by job id: how CancelImport, the lease keeper and
//! shutdown reach a job's pipeline, and where shutdown closes the door to new imports.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use super::events::Cancel;

/// Shared by the service, the lease keeper and shutdown. Cheap to clone.
#[derive(Clone, Default)]
pub struct RunningImports {
    inner: Arc<Mutex<State>>,
}

#[derive(Default)]
struct State {
    jobs: HashMap<i64, Arc<Cancel>>,
    /// Set by shutdown: new imports are refused.
    closed: Option<String>,
}

/// A job's place in the registry; dropping it (when the job has ended) removes the job.
pub struct Registration {
    running: RunningImports,
    id: i64,
}

impl RunningImports {
    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Why new imports are refused, once shutdown has begun.
    pub fn closed(&self) -> Option<String> {
        self.state().closed.clone()
    }

    /// Refuses new imports from now on, with `reason`.
    pub fn close(&self, reason: impl Into<String>) {
        self.state().closed = Some(reason.into());
    }

    /// Registers a job that has just started. A job registered after [`RunningImports::close`]
    /// is interrupted at once (it raced with shutdown).
    pub fn register(&self, id: i64, cancel: Arc<Cancel>) -> Registration {
        let mut state = self.state();
        if let Some(reason) = &state.closed {
            cancel.interrupt(reason.clone());
        }
        state.jobs.insert(id, cancel);
        Registration {
            running: self.clone(),
            id,
        }
    }

    /// Cancels a job this process runs (CANCELLED); `false` if it runs elsewhere or not at all.
    pub fn cancel(&self, id: i64, reason: &str) -> bool {
        match self.state().jobs.get(&id) {
            Some(cancel) => {
                cancel.cancel(reason);
                true
            }
            None => false,
        }
    }

    /// Interrupts every running job (INTERRUPTED, resumable); returns how many.
    pub fn interrupt_all(&self, reason: &str) -> usize {
        let state = self.state();
        for cancel in state.jobs.values() {
            cancel.interrupt(reason);
        }
        state.jobs.len()
    }

    /// The ids of the jobs running now.
    pub fn ids(&self) -> Vec<i64> {
        self.state().jobs.keys().copied().collect()
    }

    /// Jobs running now.
    pub fn count(&self) -> usize {
        self.state().jobs.len()
    }
}

impl Drop for Registration {
    fn drop(&mut self) {
        self.running.state().jobs.remove(&self.id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::import::events::Stop;

    #[test]
    fn cancel_interrupt_and_close_reach_registered_jobs() {
        let running = RunningImports::default();
        let (a, b) = (Arc::new(Cancel::default()), Arc::new(Cancel::default()));
        let reg_a = running.register(1, a.clone());
        let _reg_b = running.register(2, b.clone());
        assert!(running.cancel(1, "asked"));
        assert!(!running.cancel(3, "asked"));
        assert_eq!(a.stop(), Some(Stop::Cancelled("asked".into())));
        drop(reg_a);
        assert_eq!(running.count(), 1);
        assert_eq!(running.interrupt_all("stopping"), 1);
        assert_eq!(b.stop(), Some(Stop::Interrupted("stopping".into())));

        running.close("shutting down");
        assert_eq!(running.closed().as_deref(), Some("shutting down"));
        let late = Arc::new(Cancel::default());
        let _reg = running.register(4, late.clone());
        assert_eq!(late.stop(), Some(Stop::Interrupted("shutting down".into())));
    }
}
