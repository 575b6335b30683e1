//! The worker side: `dataport plugin-worker LIB` loads one plugin library in its own process and
//! serves one reader or writer (or the descriptor) over stdin and stdout. The plugin's byte
//! callbacks become frames to the server, answered before the plugin call goes on.

use std::fs::File;
use std::io::{self, BufReader, BufWriter, Read, Seek, SeekFrom, Write};
use std::os::fd::{AsFd, AsRawFd};
use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard};

use dataport_plugin_sdk::{ByteSource, Plugin, PluginError, Reader, Writer};

use super::wire::{Frame, tag};
use crate::loading::{LoadedPlugin, load_plugin};

/// The worker's two pipes, shared by the request loop and the byte callbacks. Never contended:
/// a callback runs while the request loop waits inside the plugin call.
struct Pipes {
    input: BufReader<File>,
    output: BufWriter<File>,
}

/// Takes the protocol pipes off fds 0 and 1, which the plugin may use (`printf`, `scanf`): fd 1
/// becomes a copy of stderr, fd 0 reads `/dev/null`.
fn take_protocol_pipes() -> io::Result<(File, File)> {
    let input = File::from(io::stdin().as_fd().try_clone_to_owned()?);
    let output = File::from(io::stdout().as_fd().try_clone_to_owned()?);
    let null = File::open("/dev/null")?;
    // SAFETY: dup2 on this process's own descriptors, before the plugin runs; Rust's
    // `Stdin`/`Stdout` are not used for the protocol afterwards.
    let moved = unsafe { libc::dup2(2, 1) >= 0 && libc::dup2(null.as_raw_fd(), 0) >= 0 };
    if !moved {
        return Err(io::Error::last_os_error());
    }
    Ok((input, output))
}

#[derive(Clone)]
struct Shared(Arc<Mutex<Pipes>>);

impl Shared {
    fn lock(&self) -> io::Result<MutexGuard<'_, Pipes>> {
        self.0
            .lock()
            .map_err(|_| io::Error::other("a plugin thread panicked holding the pipes"))
    }
}

impl Pipes {
    fn send(&mut self, frame: Frame) -> io::Result<()> {
        frame.write_to(&mut self.output)
    }

    fn receive(&mut self) -> io::Result<Frame> {
        Frame::read_from(&mut self.input)?
            .ok_or_else(|| io::Error::new(io::ErrorKind::BrokenPipe, "the server is gone"))
    }

    /// Sends a callback and waits for its answer.
    fn callback(&mut self, frame: Frame, expect: u8) -> io::Result<Frame> {
        self.send(frame)?;
        let reply = self.receive()?;
        if reply.tag == tag::CALLBACK_FAILED {
            let message = reply.parse().str().unwrap_or_default();
            return Err(io::Error::other(message));
        }
        if reply.tag != expect {
            return Err(io::Error::other(format!(
                "the server answered a callback with frame {}",
                reply.tag
            )));
        }
        Ok(reply)
    }
}

/// The upload, read through the server.
struct PipeSource {
    pipes: Shared,
    can_seek: bool,
}

impl Read for PipeSource {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let reply = self
            .pipes
            .lock()?
            .callback(Frame::new(tag::READ).u64(buf.len() as u64), tag::READ_DATA)?;
        let data = reply.parse().bytes().map_err(io::Error::other)?;
        if data.len() > buf.len() {
            return Err(io::Error::other("the server sent more bytes than asked for"));
        }
        buf[..data.len()].copy_from_slice(&data);
        Ok(data.len())
    }
}

impl Seek for PipeSource {
    fn seek(&mut self, pos: SeekFrom) -> io::Result<u64> {
        let (whence, offset) = match pos {
            SeekFrom::Start(o) => (0u8, o as i64),
            SeekFrom::Current(o) => (1, o),
            SeekFrom::End(o) => (2, o),
        };
        let frame = Frame::new(tag::SEEK).u8(whence).i64(offset);
        let reply = self.pipes.lock()?.callback(frame, tag::SEEK_DONE)?;
        reply.parse().u64().map_err(io::Error::other)
    }
}

impl ByteSource for PipeSource {
    fn can_seek(&self) -> bool {
        self.can_seek
    }
}

/// The output, written through the server.
struct PipeSink {
    pipes: Shared,
}

/// Most bytes one write callback carries (a short write; the caller sends the rest).
const MAX_WRITE: usize = 1 << 20;

impl Write for PipeSink {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let part = &buf[..buf.len().min(MAX_WRITE)];
        self.pipes
            .lock()?
            .callback(Frame::new(tag::WRITE).bytes(part), tag::WRITE_DONE)?;
        Ok(part.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.pipes
            .lock()?
            .callback(Frame::new(tag::FLUSH), tag::WRITE_DONE)
            .map(drop)
    }
}

/// What the worker serves.
enum Instance {
    None,
    Reader(Box<dyn Reader>),
    Writer(Box<dyn Writer>),
}

/// Runs the worker until the server closes its stdin. Returns an error only when the pipes
/// fail; plugin errors go back to the server as frames.
pub fn run_worker(library: &Path) -> io::Result<()> {
    let (input, output) = take_protocol_pipes()?;
    let pipes = Shared(Arc::new(Mutex::new(Pipes {
        input: BufReader::new(input),
        output: BufWriter::with_capacity(1 << 16, output),
    })));
    // A library that does not load answers every request with why, so the server can say it.
    let plugin = load_plugin(library).map_err(|e| PluginError::internal(e.to_string()));
    let mut instance = Instance::None;
    loop {
        let Some(request) = Frame::read_from(&mut pipes.lock()?.input)? else {
            return Ok(());
        };
        let reply = match &plugin {
            Ok(plugin) => serve(plugin, &pipes, &mut instance, &request),
            Err(e) => Err(e.clone()),
        };
        pipes
            .lock()?
            .send(reply.unwrap_or_else(|e| Frame::new(tag::FAILED).error(&e)))?;
    }
}

fn bad(e: String) -> PluginError {
    PluginError::internal(format!("a malformed request from the server: {e}"))
}

fn serve(
    plugin: &LoadedPlugin,
    pipes: &Shared,
    instance: &mut Instance,
    request: &Frame,
) -> Result<Frame, PluginError> {
    let mut p = request.parse();
    let ok = || Frame::new(tag::OK);
    match (request.tag, instance) {
        (tag::DESCRIBE, _) => Ok(Frame::new(tag::DESCRIBED)
            .descriptor(&plugin.descriptor())
            .u64(u64::from(plugin.abi_version()))),
        (tag::OPEN_READER, instance) => {
            let format = p.str().map_err(bad)?;
            let options = p.options().map_err(bad)?;
            let can_seek = p.u8().map_err(bad)? != 0;
            let source = PipeSource {
                pipes: pipes.clone(),
                can_seek,
            };
            *instance = Instance::Reader(plugin.open_reader(&format, &options, Box::new(source))?);
            Ok(ok())
        }
        (tag::HEADER, Instance::Reader(r)) => {
            let header = r.header()?;
            // The row count travels with the header: 0 = unknown, else count + 1.
            let rows_total = r.rows_total().map_or(0, |n| n.saturating_add(1));
            Ok(Frame::new(tag::HEADER_IS).strs(&header).u64(rows_total))
        }
        (tag::NEXT_BATCH, Instance::Reader(r)) => {
            let max_rows = usize::try_from(p.u64().map_err(bad)?)
                .unwrap_or(usize::MAX)
                .max(1);
            Ok(match r.next_batch(max_rows)? {
                Some(batch) => Frame::new(tag::BATCH_IS).batch(&batch),
                None => Frame::new(tag::END_OF_DATA),
            })
        }
        (tag::OPEN_WRITER, instance) => {
            let format = p.str().map_err(bad)?;
            let options = p.options().map_err(bad)?;
            let sink = PipeSink { pipes: pipes.clone() };
            *instance = Instance::Writer(plugin.open_writer(&format, &options, Box::new(sink))?);
            Ok(ok())
        }
        (tag::WRITE_HEADER, Instance::Writer(w)) => w.write_header(&p.columns().map_err(bad)?).map(|()| ok()),
        (tag::WRITE_ROWS, Instance::Writer(w)) => w.write_rows(&p.batch().map_err(bad)?).map(|()| ok()),
        (tag::START_SHEET, Instance::Writer(w)) => w.start_sheet(&p.str().map_err(bad)?).map(|()| ok()),
        (tag::FINISH, Instance::Writer(w)) => w.finish().map(|()| ok()),
        (other, _) => Err(bad(format!("request {other} does not fit this worker's state"))),
    }
}
