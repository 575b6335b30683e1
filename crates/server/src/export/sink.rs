//! The byte sink a plugin writer writes into: bytes are hashed, counted and cut into chunks of
//! about 256 KiB that go straight to the client, so a file of any size needs only one chunk of
//! memory. A client that went away turns the next write into an error, which stops the writer
//! and the query feeding it.

use std::io::{self, Write};
use std::sync::{Arc, Mutex, PoisonError};

use sha2::{Digest, Sha256};

/// Size of the chunks sent to the client.
pub const CHUNK_BYTES: usize = 256 * 1024;

/// Sends one chunk; `false` when the client is gone.
pub type SendChunk = Box<dyn FnMut(Vec<u8>) -> bool + Send>;

struct State {
    buf: Vec<u8>,
    hasher: Sha256,
    bytes: u64,
    send: SendChunk,
    client_gone: bool,
}

/// The writer's end. Give a clone to the plugin; keep one to [`ChunkSink::finish`].
#[derive(Clone)]
pub struct ChunkSink {
    state: Arc<Mutex<State>>,
}

impl ChunkSink {
    pub fn new(send: SendChunk) -> ChunkSink {
        ChunkSink {
            state: Arc::new(Mutex::new(State {
                buf: Vec::with_capacity(CHUNK_BYTES),
                hasher: Sha256::new(),
                bytes: 0,
                send,
                client_gone: false,
            })),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Whether a send failed because the client went away.
    pub fn client_gone(&self) -> bool {
        self.lock().client_gone
    }

    /// Sends what is left and returns the total size and the hex sha256 of every byte.
    pub fn finish(&self) -> io::Result<(u64, String)> {
        let mut state = self.lock();
        if !state.buf.is_empty() {
            let rest = std::mem::take(&mut state.buf);
            if !(state.send)(rest) {
                state.client_gone = true;
                return Err(gone());
            }
        }
        Ok((state.bytes, hex::encode(state.hasher.clone().finalize())))
    }
}

fn gone() -> io::Error {
    io::Error::new(io::ErrorKind::BrokenPipe, "the client closed the download")
}

impl Write for ChunkSink {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        let mut state = self.lock();
        if state.client_gone {
            return Err(gone());
        }
        state.hasher.update(data);
        state.bytes += data.len() as u64;
        state.buf.extend_from_slice(data);
        while state.buf.len() >= CHUNK_BYTES {
            let rest = state.buf.split_off(CHUNK_BYTES);
            let chunk = std::mem::replace(&mut state.buf, rest);
            if !(state.send)(chunk) {
                state.client_gone = true;
                return Err(gone());
            }
        }
        Ok(data.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        // Chunks go out when full or at `finish`: a flush from a buffered writer must not
        // turn into many tiny messages.
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunks_are_full_sized_and_the_checksum_covers_everything() {
        let sent = Arc::new(Mutex::new(Vec::<usize>::new()));
        let record = sent.clone();
        let mut sink = ChunkSink::new(Box::new(move |chunk| {
            record.lock().unwrap().push(chunk.len());
            true
        }));
        let data = vec![7u8; CHUNK_BYTES * 2 + 10];
        for part in data.chunks(1000) {
            sink.write_all(part).unwrap();
        }
        let (bytes, sha) = sink.finish().unwrap();
        assert_eq!(bytes, data.len() as u64);
        assert_eq!(sha, hex::encode(Sha256::digest(&data)));
        assert_eq!(*sent.lock().unwrap(), [CHUNK_BYTES, CHUNK_BYTES, 10]);
    }

    #[test]
    fn a_gone_client_fails_the_next_write() {
        let mut sink = ChunkSink::new(Box::new(|_| false));
        let err = sink.write_all(&vec![0u8; CHUNK_BYTES]).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::BrokenPipe);
        assert!(sink.client_gone());
        assert!(sink.write(b"x").is_err());
    }
}
