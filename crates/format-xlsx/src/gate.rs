//! One host source, two readers: the sheet's checker ([`crate::archive`]) and calamine, on
//! threads of their own, with calamine held behind the checker.
//!
//! The sheet is the one large part of a workbook. Its checks (budgets, well-formedness, every
//! reference within the grid) used to run over the whole part before calamine started, on one
//! core, with the other idle. Now the checker streams the sheet on its own thread while calamine
//! reads it on another, and calamine may read only the part's compressed bytes the checker has
//! released: bytes whose whole decompressed output the checker has seen and passed, up to the end
//! of a row. So calamine never parses a byte the checks have not passed, as before, but the two
//! passes overlap. A refusal stops calamine at the next read with the checker's own error.
//!
//! The host's source may be called only from inside a call the host made into the reader (the
//! ABI's threads rule). The checker reads only while [`Gate::enter_call`] is in effect, and every
//! read holds the lock, so a call never ends with a read in progress. Each [`Handle`] keeps its
//! own position; the source is sought to it as needed.

use std::io::{self, Read, Seek, SeekFrom};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};

use dataport_plugin_sdk::{ByteSource, PluginError};

use crate::cellref::Area;

/// The source and what the two readers know of each other.
pub(crate) struct Gate {
    state: Mutex<State>,
    changed: Condvar,
    /// How many array formula ranges the checker has found: read per cell without the lock.
    arrays_found: AtomicUsize,
}

struct State {
    source: Box<dyn ByteSource>,
    /// Where `source` is positioned, when known.
    at: Option<u64>,
    /// A host call into the reader is running.
    in_call: bool,
    /// The reader is being dropped: every read fails.
    closing: bool,
    /// The sheet's compressed bytes in the file, set before calamine or the checker starts.
    sheet: Option<SheetBytes>,
    /// The checker's end: the rows it counted, or why it refused the sheet.
    verdict: Option<Result<u64, PluginError>>,
    /// Multi-cell array formula ranges found so far, in sheet order.
    arrays: Vec<Area>,
}

#[derive(Debug, Clone, Copy)]
struct SheetBytes {
    /// File offsets of the part's compressed data: `[start, end)`.
    start: u64,
    end: u64,
    /// Calamine may read below this offset.
    released: u64,
}

/// Who reads through a [`Handle`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Role {
    /// Reads only inside host calls.
    Checker,
    /// Reads the sheet's compressed bytes only as far as they are released.
    Calamine,
}

impl Gate {
    pub(crate) fn new(source: Box<dyn ByteSource>) -> Arc<Gate> {
        Arc::new(Gate {
            state: Mutex::new(State {
                source,
                at: None,
                in_call: false,
                closing: false,
                sheet: None,
                verdict: None,
                arrays: Vec::new(),
            }),
            changed: Condvar::new(),
            arrays_found: AtomicUsize::new(0),
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

    pub(crate) fn handle(self: &Arc<Gate>, role: Role) -> Handle {
        Handle {
            gate: Arc::clone(self),
            role,
            pos: 0,
        }
    }

    /// A host call starts; [`Gate::leave_call`] when it ends.
    pub(crate) fn enter_call(&self) {
        self.update(|s| s.in_call = true);
    }

    /// Waits for a read in progress, if any: after this the checker touches the source no more
    /// until the next call.
    pub(crate) fn leave_call(&self) {
        self.lock().in_call = false;
    }

    /// The reader is going away: reads fail from now on.
    pub(crate) fn close(&self) {
        self.update(|s| s.closing = true);
    }

    /// The sheet's compressed bytes lie at `[start, end)` in the file: calamine reads them only
    /// as far as they are released.
    pub(crate) fn sheet_starts(&self, start: u64, end: u64) {
        self.update(|s| {
            s.sheet = Some(SheetBytes {
                start,
                end,
                released: start,
            })
        });
    }

    /// The checker has passed everything the sheet's compressed bytes up to `offset` (from the
    /// part's start) decompress to.
    pub(crate) fn release(&self, offset: u64) {
        self.update(|s| {
            if let Some(sheet) = &mut s.sheet {
                sheet.released = sheet
                    .released
                    .max(sheet.start.saturating_add(offset).min(sheet.end));
            }
        });
    }

    pub(crate) fn found_array(&self, area: Area) {
        self.lock().arrays.push(area);
        self.arrays_found.fetch_add(1, Ordering::Release);
    }

    pub(crate) fn arrays_found(&self) -> usize {
        self.arrays_found.load(Ordering::Acquire)
    }

    /// The checker is done: `Ok(data rows)` releases the whole sheet, an error stops calamine.
    pub(crate) fn verdict(&self, verdict: Result<u64, PluginError>) {
        self.update(|s| {
            if let (Ok(_), Some(sheet)) = (&verdict, &mut s.sheet) {
                sheet.released = sheet.end;
            }
            s.verdict = Some(verdict);
        });
    }

    /// The checker's verdict, if it has one.
    pub(crate) fn outcome(&self) -> Option<Result<u64, PluginError>> {
        self.lock().verdict.clone()
    }

    /// Waits (inside a call) for the checker's verdict.
    pub(crate) fn wait_for_verdict(&self) -> Result<u64, PluginError> {
        let (state, verdict) = self.wait(|state| match &state.verdict {
            Some(verdict) => Ok(Some(verdict.clone())),
            None if state.closing => Err(PluginError::internal("the xlsx reader is closing")),
            None => Ok(None),
        })?;
        drop(state);
        verdict
    }

    /// Array ranges found since the first `seen`.
    pub(crate) fn arrays_after(&self, seen: usize) -> Vec<Area> {
        self.lock()
            .arrays
            .get(seen..)
            .map(<[Area]>::to_vec)
            .unwrap_or_default()
    }
}

/// A reader of the source with its own position.
pub(crate) struct Handle {
    gate: Arc<Gate>,
    role: Role,
    pos: u64,
}

impl Handle {
    /// Whether this handle may touch the source now: the checker only inside a call.
    fn may_touch(&self, state: &State) -> io::Result<bool> {
        if state.closing {
            return Err(io::Error::other("the xlsx reader is closing"));
        }
        Ok(self.role == Role::Calamine || state.in_call)
    }

    /// How many bytes at `pos` this handle may read now: `None` to wait.
    fn allowed(&self, state: &State, wanted: usize) -> io::Result<Option<usize>> {
        if !self.may_touch(state)? {
            return Ok(None);
        }
        match self.role {
            Role::Checker => Ok(Some(wanted)),
            Role::Calamine => match state.sheet {
                Some(sheet) if (sheet.start..sheet.end).contains(&self.pos) => {
                    if sheet.released > self.pos {
                        let room = usize::try_from(sheet.released - self.pos).unwrap_or(usize::MAX);
                        Ok(Some(wanted.min(room)))
                    } else if let Some(Err(_)) = state.verdict {
                        Err(io::Error::other("the sheet was refused by the xlsx checks"))
                    } else {
                        Ok(None)
                    }
                }
                _ => Ok(Some(wanted)),
            },
        }
    }
}

impl Read for Handle {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let pos = self.pos;
        let (mut state, n) = self.gate.wait(|state| self.allowed(state, buf.len()))?;
        if state.at != Some(pos) {
            state.source.seek(SeekFrom::Start(pos))?;
        }
        state.at = None;
        let read = state.source.read(&mut buf[..n])?;
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
                // Touches the source but reads nothing: only the checker waits (for a call).
                let (mut state, ()) = self
                    .gate
                    .wait(|state| Ok::<_, io::Error>(self.may_touch(state)?.then_some(())))?;
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
    fn calamine_reads_the_sheet_only_as_far_as_released() {
        let gate = gate();
        gate.sheet_starts(10, 50);
        let mut calamine = gate.handle(Role::Calamine);
        let mut buf = [0u8; 30];
        assert_eq!(
            calamine.read(&mut buf[..10]).unwrap(),
            10,
            "before the sheet: free"
        );
        let releasing = Arc::clone(&gate);
        let releaser = thread::spawn(move || {
            thread::sleep(Duration::from_millis(50));
            releasing.release(5);
        });
        // Waits for the release, then gets no more than it.
        assert_eq!(calamine.read(&mut buf).unwrap(), 5);
        assert_eq!(buf[..5], [10, 11, 12, 13, 14]);
        releaser.join().unwrap();
        gate.verdict(Err(PluginError::malformed("refused")));
        assert!(
            calamine.read(&mut buf).is_err(),
            "a refusal stops it inside the sheet"
        );
        calamine.seek(SeekFrom::Start(60)).unwrap();
        assert_eq!(calamine.read(&mut buf[..5]).unwrap(), 5, "after the sheet: free");
        assert_eq!(buf[0], 60);
    }

    #[test]
    fn a_passed_sheet_is_released_whole() {
        let gate = gate();
        gate.sheet_starts(10, 50);
        gate.verdict(Ok(3));
        let mut calamine = gate.handle(Role::Calamine);
        calamine.seek(SeekFrom::Start(10)).unwrap();
        let mut buf = [0u8; 40];
        calamine.read_exact(&mut buf).unwrap();
        assert_eq!(buf[39], 49);
        assert_eq!(gate.outcome(), Some(Ok(3)));
    }

    #[test]
    fn the_checker_reads_only_inside_calls_and_nothing_after_close() {
        let gate = gate();
        let mut checker = gate.handle(Role::Checker);
        let reading = thread::spawn(move || {
            let mut b = [0u8; 4];
            checker.read(&mut b).map(|n| (n, b[3]))
        });
        thread::sleep(Duration::from_millis(50));
        assert!(!reading.is_finished(), "no host call runs: the checker waits");
        gate.enter_call();
        assert_eq!(reading.join().unwrap().unwrap(), (4, 3));
        gate.leave_call();
        gate.close();
        assert!(gate.handle(Role::Calamine).read(&mut [0u8; 1]).is_err());
    }
}
