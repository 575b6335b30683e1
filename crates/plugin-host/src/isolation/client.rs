//! The server side: one worker process per reader or writer (so each job gets a fresh one), the
//! byte callbacks served from the job's source or sink, and a worker that dies or hangs turned
//! into an error that names the plugin, the signal and the row.

use std::io::{self, BufReader, BufWriter, Read, Seek, SeekFrom, Write};
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, ChildStdout, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use dataport_plugin_sdk::{
    ByteSink, ByteSource, Column, Descriptor, ErrorKind, Options, PluginError, Reader, RowBatch, Writer,
};

use dataport_plugin_abi as abi;

use super::wire::{Frame, tag};

/// How `--plugin-dir` plugins run outside the server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Isolation {
    /// The executable whose `plugin-worker LIB` subcommand serves a plugin: the dataport binary.
    pub worker: PathBuf,
    /// How long one plugin call may run without a sign of life (a callback or a reply) before
    /// its worker is killed as hung.
    pub timeout: Duration,
    /// Whether a plugin runs in workers unless `per_plugin` says otherwise.
    pub by_default: bool,
    /// Exceptions by plugin name (the `NAME` of `libdataport_plugin_NAME.so`): `true` isolated.
    pub per_plugin: Vec<(String, bool)>,
}

impl Isolation {
    /// Whether the plugin library called `libdataport_plugin_<name>.so` runs in workers.
    pub fn isolates(&self, name: &str) -> bool {
        self.per_plugin
            .iter()
            .rev()
            .find(|(n, _)| n == name)
            .map_or(self.by_default, |(_, isolated)| *isolated)
    }
}

/// A running worker process and its pipes.
struct Worker {
    child: Arc<Mutex<Child>>,
    /// `None` once dropped: closing it ends the worker.
    stdin: Option<BufWriter<ChildStdin>>,
    stdout: BufReader<ChildStdout>,
    watch: Arc<Watch>,
    /// The job's bytes, which the worker's callbacks reach.
    io: Io,
    /// `plugin `name` version`, for messages.
    label: String,
    timeout: Duration,
}

/// The watchdog's view of a worker.
#[derive(Default)]
struct Watch {
    /// When the call in flight is overdue; `None` while the server itself is busy (serving a
    /// callback from a slow upload is not the plugin hanging).
    deadline: Mutex<Option<Instant>>,
    hung: AtomicBool,
    closed: AtomicBool,
}

/// The job's bytes, which the worker's callbacks reach.
enum Io {
    None,
    Source(Box<dyn ByteSource>),
    Sink(Box<dyn ByteSink>),
}

/// Most bytes one read callback gets at once.
const MAX_READ: usize = 1 << 20;

impl Worker {
    fn spawn(isolation: &Isolation, library: &Path, label: String, io: Io) -> Result<Worker, PluginError> {
        let mut child = Command::new(&isolation.worker)
            .arg("plugin-worker")
            .arg(library)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .map_err(|e| {
                PluginError::internal(format!(
                    "{label}: cannot start its worker process {}: {e}",
                    isolation.worker.display()
                ))
            })?;
        let stdin = BufWriter::with_capacity(1 << 16, child.stdin.take().expect("piped stdin"));
        let stdout = BufReader::with_capacity(1 << 16, child.stdout.take().expect("piped stdout"));
        let child = Arc::new(Mutex::new(child));
        let watch = Arc::new(Watch::default());
        let (dog_child, dog_watch) = (child.clone(), watch.clone());
        std::thread::Builder::new()
            .name("plugin-watchdog".into())
            .spawn(move || watchdog(&dog_child, &dog_watch))
            .map_err(|e| PluginError::internal(format!("{label}: cannot start its watchdog: {e}")))?;
        Ok(Worker {
            child,
            stdin: Some(stdin),
            stdout,
            watch,
            io,
            label,
            timeout: isolation.timeout,
        })
    }

    fn arm(&self, on: bool) {
        if let Ok(mut deadline) = self.watch.deadline.lock() {
            *deadline = on.then(|| Instant::now() + self.timeout);
        }
    }

    /// Sends `request`, serves the worker's callbacks from the job's bytes until its reply, and
    /// checks that the reply is `expect` (or, for readers, END_OF_DATA). `doing` says what the
    /// plugin was doing, for a worker that dies meanwhile.
    fn ask(&mut self, request: Frame, expect: u8, doing: &str) -> Result<Frame, PluginError> {
        let reply = self.call(request, doing)?;
        if reply.tag == expect || reply.tag == tag::END_OF_DATA && expect == tag::BATCH_IS {
            Ok(reply)
        } else {
            Err(self.broken(&format!("reply {} where {expect} was due", reply.tag)))
        }
    }

    fn call(&mut self, request: Frame, doing: &str) -> Result<Frame, PluginError> {
        // The host's own error in a callback of this call: what an IO failure really was.
        let mut host_error = None;
        self.arm(true);
        if !self.send(&request) {
            return Err(self.died(doing));
        }
        loop {
            let frame = match Frame::read_from(&mut self.stdout) {
                Ok(Some(frame)) => frame,
                Ok(None) => return Err(self.died(doing)),
                // Alive but talking nonsense (e.g. a frame over the limit): stop it now.
                Err(e) => {
                    self.arm(false);
                    if let Ok(mut child) = self.child.lock() {
                        let _ = child.kill();
                    }
                    let _ = reap(&self.child);
                    return Err(self.broken(&format!("{e} while {doing}")));
                }
            };
            match frame.tag {
                tag::READ | tag::SEEK | tag::WRITE | tag::FLUSH => {
                    self.arm(false);
                    let reply = serve_callback(&frame, &mut self.io, &mut host_error);
                    self.arm(true);
                    if !self.send(&reply) {
                        return Err(self.died(doing));
                    }
                }
                tag::FAILED => {
                    self.arm(false);
                    let e = frame.parse().error().map_err(|e| self.broken(&e))?;
                    // As in-process: an IO failure is the host's own error, reported as such.
                    return Err(match (e.kind, host_error.take()) {
                        (ErrorKind::Io, Some(ours)) => PluginError { message: ours, ..e },
                        _ => e,
                    });
                }
                _ => {
                    self.arm(false);
                    return Ok(frame);
                }
            }
        }
    }

    fn send(&mut self, frame: &Frame) -> bool {
        self.stdin
            .as_mut()
            .is_some_and(|stdin| frame.write_to(stdin).is_ok())
    }

    fn broken(&self, why: &str) -> PluginError {
        PluginError::internal(format!("{}'s worker sent a malformed frame: {why}", self.label))
    }

    /// The error for a worker whose pipes broke: it crashed, exited or was killed as hung.
    fn died(&mut self, doing: &str) -> PluginError {
        self.arm(false);
        let status = reap(&self.child);
        let how = if self.watch.hung.load(Ordering::SeqCst) {
            format!("hung (no answer for {} s, worker killed)", self.timeout.as_secs())
        } else {
            match status {
                Some(status) => describe_exit(status),
                None => "stopped answering".to_owned(),
            }
        };
        tracing::error!(plugin = %self.label, what = %how, doing, "plugin worker died");
        PluginError::internal(format!("{} {how} while {doing}", self.label))
    }
}

impl Drop for Worker {
    fn drop(&mut self) {
        self.watch.closed.store(true, Ordering::SeqCst);
        // Closing stdin ends the worker's request loop; reap it so no zombie is left.
        drop(self.stdin.take());
        let _ = reap(&self.child);
    }
}

/// Waits for the worker to end (two seconds), then kills it; its exit status if known.
fn reap(child: &Mutex<Child>) -> Option<ExitStatus> {
    let mut child = child.lock().ok()?;
    let until = Instant::now() + Duration::from_secs(2);
    while Instant::now() < until {
        match child.try_wait() {
            Ok(Some(status)) => return Some(status),
            Ok(None) => std::thread::sleep(Duration::from_millis(10)),
            Err(_) => return None,
        }
    }
    let _ = child.kill();
    child.wait().ok()
}

fn watchdog(child: &Mutex<Child>, watch: &Watch) {
    while !watch.closed.load(Ordering::SeqCst) {
        std::thread::sleep(Duration::from_millis(50));
        let overdue = watch
            .deadline
            .lock()
            .ok()
            .and_then(|d| *d)
            .is_some_and(|d| Instant::now() > d);
        if overdue {
            watch.hung.store(true, Ordering::SeqCst);
            if let Ok(mut child) = child.lock() {
                let _ = child.kill();
            }
            return;
        }
    }
}

/// "crashed (SIGSEGV)", "exited with status 3".
fn describe_exit(status: ExitStatus) -> String {
    if let Some(signal) = status.signal() {
        let name = match signal {
            4 => "SIGILL".to_owned(),
            6 => "SIGABRT".to_owned(),
            7 => "SIGBUS".to_owned(),
            8 => "SIGFPE".to_owned(),
            9 => "SIGKILL, e.g. the out-of-memory killer".to_owned(),
            11 => "SIGSEGV".to_owned(),
            15 => "SIGTERM".to_owned(),
            n => format!("signal {n}"),
        };
        format!("crashed ({name})")
    } else {
        match status.code() {
            Some(code) => format!("exited with status {code}"),
            None => "exited".to_owned(),
        }
    }
}

fn serve_callback(frame: &Frame, io: &mut Io, host_error: &mut Option<String>) -> Frame {
    let result = (|| -> io::Result<Frame> {
        let mut p = frame.parse();
        let bad = |e: String| io::Error::other(e);
        match (frame.tag, io) {
            (tag::READ, Io::Source(source)) => {
                let len = usize::try_from(p.u64().map_err(bad)?)
                    .unwrap_or(MAX_READ)
                    .min(MAX_READ);
                let mut buf = vec![0u8; len];
                let n = loop {
                    match source.read(&mut buf) {
                        Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                        other => break other?,
                    }
                };
                Ok(Frame::new(tag::READ_DATA).bytes(&buf[..n]))
            }
            (tag::SEEK, Io::Source(source)) => {
                let whence = p.u8().map_err(bad)?;
                let offset = p.i64().map_err(bad)?;
                let pos = match whence {
                    0 => SeekFrom::Start(
                        u64::try_from(offset).map_err(|_| io::Error::other("a negative offset"))?,
                    ),
                    1 => SeekFrom::Current(offset),
                    _ => SeekFrom::End(offset),
                };
                Ok(Frame::new(tag::SEEK_DONE).u64(source.seek(pos)?))
            }
            (tag::WRITE, Io::Sink(sink)) => {
                sink.write_all(&p.bytes().map_err(bad)?)?;
                Ok(Frame::new(tag::WRITE_DONE))
            }
            (tag::FLUSH, Io::Sink(sink)) => {
                sink.flush()?;
                Ok(Frame::new(tag::WRITE_DONE))
            }
            _ => Err(io::Error::other("a callback this instance has no stream for")),
        }
    })();
    result.unwrap_or_else(|e| {
        *host_error = Some(e.to_string());
        Frame::new(tag::CALLBACK_FAILED).str(&e.to_string())
    })
}

/// Reads the descriptor of `library`, and the ABI version its handshake agreed on, through a
/// short-lived worker.
pub(crate) fn describe(isolation: &Isolation, library: &Path) -> Result<(Descriptor, u32), PluginError> {
    let label = format!("plugin {}", library.display());
    let mut worker = Worker::spawn(isolation, library, label, Io::None)?;
    let reply = worker.ask(Frame::new(tag::DESCRIBE), tag::DESCRIBED, "describing itself")?;
    let mut p = reply.parse();
    let descriptor = p.descriptor().map_err(|e| worker.broken(&e))?;
    let version = p.u64().map_err(|e| worker.broken(&e))?;
    Ok((
        descriptor,
        u32::try_from(version).unwrap_or(abi::OLDEST_ABI_VERSION),
    ))
}

/// A reader in a worker process.
pub(crate) struct IsolatedReader {
    worker: Worker,
    /// The last row number handed out (the header is row 1), for "while reading row N".
    last_row: u64,
    /// What the plugin's `rows_total` said, sent with the header.
    rows_total: Option<u64>,
}

pub(crate) fn open_reader(
    isolation: &Isolation,
    library: &Path,
    label: String,
    format: &str,
    options: &Options,
    source: Box<dyn ByteSource>,
) -> Result<IsolatedReader, PluginError> {
    let can_seek = source.can_seek();
    let mut worker = Worker::spawn(isolation, library, label, Io::Source(source))?;
    let request = Frame::new(tag::OPEN_READER)
        .str(format)
        .options(options)
        .u8(u8::from(can_seek));
    worker.ask(request, tag::OK, "opening the file")?;
    Ok(IsolatedReader {
        worker,
        last_row: 0,
        rows_total: None,
    })
}

impl Reader for IsolatedReader {
    fn header(&mut self) -> Result<Vec<String>, PluginError> {
        let reply = self
            .worker
            .ask(Frame::new(tag::HEADER), tag::HEADER_IS, "reading the header")?;
        self.last_row = 1;
        let mut parsed = reply.parse();
        let header = parsed.strs().map_err(|e| self.worker.broken(&e))?;
        let rows_total = parsed.u64().map_err(|e| self.worker.broken(&e))?;
        self.rows_total = rows_total.checked_sub(1);
        Ok(header)
    }

    fn rows_total(&mut self) -> Option<u64> {
        self.rows_total
    }

    fn next_batch(&mut self, max_rows: usize) -> Result<Option<RowBatch>, PluginError> {
        let doing = format!("reading row {}", self.last_row + 1);
        let request = Frame::new(tag::NEXT_BATCH).u64(max_rows as u64);
        let reply = self.worker.ask(request, tag::BATCH_IS, &doing)?;
        if reply.tag == tag::END_OF_DATA {
            return Ok(None);
        }
        let batch = reply.parse().batch().map_err(|e| self.worker.broken(&e))?;
        let rows = batch
            .rows
            .iter()
            .map(|r| r.number)
            .chain(batch.errors.iter().map(|e| e.row));
        self.last_row = rows.fold(self.last_row, u64::max);
        Ok(Some(batch))
    }
}

/// A writer in a worker process.
pub(crate) struct IsolatedWriter {
    worker: Worker,
    rows_written: u64,
}

pub(crate) fn open_writer(
    isolation: &Isolation,
    library: &Path,
    label: String,
    format: &str,
    options: &Options,
    sink: Box<dyn ByteSink>,
) -> Result<IsolatedWriter, PluginError> {
    let mut worker = Worker::spawn(isolation, library, label, Io::Sink(sink))?;
    let request = Frame::new(tag::OPEN_WRITER).str(format).options(options);
    worker.ask(request, tag::OK, "opening the output")?;
    Ok(IsolatedWriter {
        worker,
        rows_written: 0,
    })
}

impl IsolatedWriter {
    fn run(&mut self, request: Frame, doing: &str) -> Result<(), PluginError> {
        self.worker.ask(request, tag::OK, doing).map(drop)
    }
}

impl Writer for IsolatedWriter {
    fn write_header(&mut self, columns: &[Column]) -> Result<(), PluginError> {
        self.run(
            Frame::new(tag::WRITE_HEADER).columns(columns),
            "writing the header",
        )
    }

    fn write_rows(&mut self, rows: &RowBatch) -> Result<(), PluginError> {
        let doing = format!("writing row {}", self.rows_written + 1);
        self.run(Frame::new(tag::WRITE_ROWS).batch(rows), &doing)?;
        self.rows_written += rows.rows.len() as u64;
        Ok(())
    }

    fn finish(&mut self) -> Result<(), PluginError> {
        self.run(Frame::new(tag::FINISH), "finishing the file")
    }

    fn start_sheet(&mut self, name: &str) -> Result<(), PluginError> {
        self.run(Frame::new(tag::START_SHEET).str(name), "starting a sheet")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn per_plugin_settings_override_the_default_and_the_last_one_wins() {
        let isolation = |by_default, per_plugin: &[(&str, bool)]| Isolation {
            worker: PathBuf::from("dataport"),
            timeout: Duration::from_secs(1),
            by_default,
            per_plugin: per_plugin.iter().map(|(n, i)| ((*n).to_owned(), *i)).collect(),
        };
        let i = isolation(true, &[("psv", false)]);
        assert!(!i.isolates("psv") && i.isolates("other"));
        let i = isolation(false, &[("psv", true), ("psv", false), ("x", true)]);
        assert!(!i.isolates("psv") && i.isolates("x") && !i.isolates("other"));
        assert_eq!(describe_exit(ExitStatus::from_raw(11)), "crashed (SIGSEGV)");
        assert_eq!(
            describe_exit(ExitStatus::from_raw(3 << 8)),
            "exited with status 3"
        );
    }
}
