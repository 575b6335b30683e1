//! The host's source, read by the sheet's thread only inside host calls.
//!
//! The sheet is read on a thread of its own ([`crate::reader`]): its parse keeps its state on
//! that thread's stack between the host's calls. But the host's source may be called only from
//! inside a call the host made into the reader (the ABI's threads rule). So every read goes
//! through the [`Gate`]: it waits while no call is in progress ([`Gate::enter_call`]), and holds
//! the lock, so a call never ends with a read in progress. Each [`Handle`] keeps its own
//! position; the source is sought to it as needed.

use std::io::{self, Read, Seek, SeekFrom};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};

use dataport_plugin_sdk::{ByteSource, PluginError};

/// The source and what the sheet's thread has concluded.
pub(crate) struct Gate {
    state: Mutex<State>,
    changed: Condvar,
}

struct State {
    source: Box<dyn ByteSource>,
    /// Where `source` is positioned, when known.
    at: Option<u64>,
    /// A host call into the reader is running.
    in_call: bool,
    /// The reader is being dropped: every read fails.
    closing: bool,
    /// The sheet's end: the rows it counted, or why it was refused.
    verdict: Option<Result<u64, PluginError>>,
}

impl Gate {
    pub(crate) fn new(source: Box<dyn ByteSource>) -> Arc<Gate> {
        Arc::new(Gate {
            state: Mutex::new(State {
                source,
                at: None,
                in_call: false,
                closing: false,
                verdict: None,
            }),
            changed: Condvar::new(),
        })
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Waits until `ready` has an answer (`None`: not yet), the lock held on return.
    fn wait<T, E>(
        &self,
        mut ready: impl FnMut(&State) -> Result<Option<T>, E>,
    ) -> Result<(MutexGuard<'_, State>, T), E> {
        let mut state = self.lock();
        loop {
            if let Some(answer) = ready(&state)? {
                return Ok((state, answer));
            }
            state = self.changed.wait(state).unwrap_or_else(PoisonError::into_inner);
        }
    }

    fn update(&self, f: impl FnOnce(&mut State)) {
        f(&mut self.lock());
        self.changed.notify_all();
    }

    pub(crate) fn handle(self: &Arc<Gate>) -> Handle {
        Handle {
            gate: Arc::clone(self),
            pos: 0,
        }
    }

    /// A host call starts; [`Gate::leave_call`] when it ends.
    pub(crate) fn enter_call(&self) {
        self.update(|s| s.in_call = true);
    }

    /// Waits for a read in progress, if any: after this the source is not touched until the
    /// next call.
    pub(crate) fn leave_call(&self) {
        self.lock().in_call = false;
    }

    /// The reader is going away: reads fail from now on.
    pub(crate) fn close(&self) {
        self.update(|s| s.closing = true);
    }

    /// The sheet's thread is done: `Ok(data rows)` or why the sheet was refused.
    pub(crate) fn verdict(&self, verdict: Result<u64, PluginError>) {
        self.update(|s| s.verdict = Some(verdict));
    }

    /// The sheet's verdict, if it has one.
    pub(crate) fn outcome(&self) -> Option<Result<u64, PluginError>> {
        self.lock().verdict.clone()
    }
}

/// A reader of the source with its own position (a clone starts where this one is).
#[derive(Clone)]
pub(crate) struct Handle {
    gate: Arc<Gate>,
    pos: u64,
}

/// Whether the source may be touched now: only inside a call, never once closing.
fn may_touch(state: &State) -> io::Result<Option<()>> {
    if state.closing {
        return Err(io::Error::other("the xlsx reader is closing"));
    }
    Ok(state.in_call.then_some(()))
}

impl Read for Handle {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let pos = self.pos;
        let (mut state, ()) = self.gate.wait(may_touch)?;
        if state.at != Some(pos) {
            state.source.seek(SeekFrom::Start(pos))?;
        }
        state.at = None;
        let read = state.source.read(buf)?;
        state.at = Some(pos + read as u64);
        drop(state);
        self.pos = pos + read as u64;
        Ok(read)
    }
}

impl Seek for Handle {
    fn seek(&mut self, to: SeekFrom) -> io::Result<u64> {
        let target = match to {
            SeekFrom::Start(n) => Some(n),
            SeekFrom::Current(d) => self.pos.checked_add_signed(d),
            SeekFrom::End(d) => {
                // Touches the source but reads nothing: still only inside a call.
                let (mut state, ()) = self.gate.wait(may_touch)?;
                state.at = None;
                let end = state.source.seek(SeekFrom::End(0))?;
                state.at = Some(end);
                end.checked_add_signed(d)
            }
        };
        self.pos =
            target.ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "seek before the start"))?;
        Ok(self.pos)
    }
}

#[cfg(test)]
mod tests {
    use std::io::Cursor;
    use std::thread;
    use std::time::Duration;

    use super::*;

    fn gate() -> Arc<Gate> {
        Gate::new(Box::new(Cursor::new((0u8..100).collect::<Vec<u8>>())))
    }

    #[test]
    fn the_source_is_read_only_inside_calls_and_nothing_after_close() {
        let gate = gate();
        let mut handle = gate.handle();
        let reading = thread::spawn(move || {
            let mut b = [0u8; 4];
            handle.read(&mut b).map(|n| (n, b[3]))
        });
        thread::sleep(Duration::from_millis(50));
        assert!(!reading.is_finished(), "no host call runs: the read waits");
        gate.enter_call();
        assert_eq!(reading.join().unwrap().unwrap(), (4, 3));
        let mut other = gate.handle();
        other.seek(SeekFrom::Start(90)).unwrap();
        let mut b = [0u8; 2];
        other.read_exact(&mut b).unwrap();
        assert_eq!(b, [90, 91], "each handle keeps its own position");
        gate.leave_call();
        gate.close();
        gate.enter_call();
        assert!(gate.handle().read(&mut [0u8; 1]).is_err());
    }

    #[test]
    fn the_verdict_is_kept() {
        let gate = gate();
        assert_eq!(gate.outcome(), None);
        gate.verdict(Ok(3));
        assert_eq!(gate.outcome(), Some(Ok(3)));
    }
}
