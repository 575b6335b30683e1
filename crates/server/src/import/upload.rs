//! The upload as a byte stream: chunks arrive from the gRPC stream on the async side and are read
//! by the plugin on a blocking thread, through a bounded channel (backpressure reaches the client
//! through HTTP/2 flow control). The reader side counts and hashes every byte and enforces the
//! upload limit.

use std::io::{self, Read, Seek, SeekFrom, Write};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use dataport_plugin_sdk::ByteSource;
use sha2::{Digest, Sha256};
use tokio::sync::mpsc;

/// Chunks in flight between the gRPC stream and the reader (each at most ~1 MiB): enough to
/// keep the reader fed, few enough that imports waiting for the writer hold little (HTTP/2 flow
/// control keeps the client sending meanwhile).
pub const CHUNK_QUEUE: usize = 2;

/// What the async side sends to the reader.
#[derive(Debug)]
pub enum UploadMsg {
    Chunk(Vec<u8>),
    /// The upload broke off (client cancelled, protocol error); the reader fails with this.
    Failed(String),
}

/// How an upload went, once it is over.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UploadSummary {
    /// Bytes of the file up to where the upload ended (counting from the file's first byte,
    /// also when the upload started at a resume offset).
    pub bytes: u64,
    /// Of the bytes received; for an upload that started at a resume offset, the sha256 the
    /// spec declared for the whole file (or empty), which cannot be checked.
    pub sha256: String,
    /// The upload was complete (the client closed its side normally).
    pub complete: bool,
}

/// What the client declared about its file in the ImportSpec, checked when the upload ends.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Declared {
    pub size: Option<u64>,
    /// Lowercase hex SHA-256.
    pub sha256: Option<String>,
    /// Where in the file the upload starts: 0, or the resume offset of a resumed job (the
    /// client sends the rest only). Sizes and limits count from the file's first byte.
    pub start: u64,
}

/// Why reading the upload stopped early.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UploadFailure {
    /// More bytes than the limit.
    TooLarge { limit: u64 },
    /// What arrived is not what the spec declared (size or sha256): truncated or corrupted.
    Mismatch(String),
    /// Fewer bytes arrived than the spec declared: the upload was cut short, as when a
    /// connection breaks off; the job is resumable.
    Short(String),
    /// The client went away or sent something broken.
    Broken(String),
}

struct Inner {
    rx: mpsc::Receiver<UploadMsg>,
    current: Vec<u8>,
    pos: usize,
    hasher: Sha256,
    limit: u64,
    declared: Declared,
    ended: bool,
    failure: Option<UploadFailure>,
}

/// The reading end of an upload. Clones share one stream: the plugin reads through one clone,
/// the pipeline keeps another to drain and summarise the upload afterwards.
#[derive(Clone)]
pub struct Upload {
    inner: Arc<Mutex<Inner>>,
    bytes: Arc<AtomicU64>,
}

impl Upload {
    /// A new upload and the sender its chunks go into.
    pub fn new(limit: u64, declared: Declared) -> (Upload, mpsc::Sender<UploadMsg>) {
        let (tx, rx) = mpsc::channel(CHUNK_QUEUE);
        let start = declared.start;
        let upload = Upload {
            inner: Arc::new(Mutex::new(Inner {
                rx,
                current: Vec::new(),
                pos: 0,
                hasher: Sha256::new(),
                limit,
                declared,
                ended: false,
                failure: None,
            })),
            bytes: Arc::new(AtomicU64::new(start)),
        };
        (upload, tx)
    }

    /// Bytes received so far (for progress, from any thread).
    pub fn bytes_counter(&self) -> Arc<AtomicU64> {
        self.bytes.clone()
    }

    /// Why reading stopped early, if it did.
    pub fn failure(&self) -> Option<UploadFailure> {
        self.lock().failure.clone()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Summarises the upload. With `drain`, first reads and hashes whatever the plugin left
    /// unread, so the size and checksum cover the whole upload (stopping at the limit or a
    /// broken stream); a failed job does not drain: its call ends at once.
    pub fn finish(&self, drain: bool) -> UploadSummary {
        let mut sink = [0u8; 64 * 1024];
        let mut reader = self.clone();
        while drain && matches!(reader.read(&mut sink), Ok(n) if n > 0) {}
        let inner = self.lock();
        let sha256 = if inner.declared.start == 0 {
            hex::encode(inner.hasher.clone().finalize())
        } else {
            inner.declared.sha256.clone().unwrap_or_default()
        };
        UploadSummary {
            bytes: self.bytes.load(Ordering::Relaxed),
            sha256,
            complete: inner.ended && inner.failure.is_none(),
        }
    }

    /// Copies the whole upload into a temporary file and returns it rewound, for plugins that
    /// need to seek (xlsx is a zip archive, whose directory is at the end).
    pub fn spool(&self) -> io::Result<std::fs::File> {
        let mut file = private_temp_file()?;
        let mut reader = self.clone();
        io::copy(&mut reader, &mut file)?;
        file.flush()?;
        file.seek(SeekFrom::Start(0))?;
        Ok(file)
    }
}

impl Inner {
    /// How the complete upload differs from what the spec declared, if it does.
    fn mismatch(&self, received: u64) -> Option<UploadFailure> {
        if let Some(size) = self.declared.size {
            if received < size {
                return Some(UploadFailure::Short(format!(
                    "the ImportSpec declared {size} bytes but only {received} arrived: the upload was cut short; send the file again (the same request_id resumes the job)"
                )));
            }
            if received > size {
                return Some(UploadFailure::Mismatch(format!(
                    "the ImportSpec declared {size} bytes but {received} arrived: declare the file's exact size"
                )));
            }
        }
        // A hash of part of the file says nothing about the whole.
        if self.declared.start > 0 {
            return None;
        }
        let sha256 = self.declared.sha256.as_deref()?;
        let actual = hex::encode(self.hasher.clone().finalize());
        (sha256 != actual).then(|| {
            UploadFailure::Mismatch(format!(
                "the ImportSpec declared sha256 {sha256} but the bytes that arrived hash to {actual}: the upload was corrupted; send the file again"
            ))
        })
    }
}

impl Read for Upload {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let bytes = self.bytes.clone();
        let mut inner = self.lock();
        loop {
            if let Some(failure) = &inner.failure {
                return Err(io::Error::other(match failure {
                    UploadFailure::TooLarge { limit } => {
                        format!("the upload is larger than the {limit}-byte limit")
                    }
                    UploadFailure::Broken(why) | UploadFailure::Mismatch(why) | UploadFailure::Short(why) => {
                        why.clone()
                    }
                }));
            }
            if inner.pos < inner.current.len() {
                let n = buf.len().min(inner.current.len() - inner.pos);
                buf[..n].copy_from_slice(&inner.current[inner.pos..inner.pos + n]);
                inner.pos += n;
                return Ok(n);
            }
            if inner.ended {
                return Ok(0);
            }
            match inner.rx.blocking_recv() {
                Some(UploadMsg::Chunk(chunk)) => {
                    let total = bytes.fetch_add(chunk.len() as u64, Ordering::Relaxed) + chunk.len() as u64;
                    if total > inner.limit {
                        let limit = inner.limit;
                        inner.failure = Some(UploadFailure::TooLarge { limit });
                        continue;
                    }
                    inner.hasher.update(&chunk);
                    inner.current = chunk;
                    inner.pos = 0;
                }
                Some(UploadMsg::Failed(why)) => inner.failure = Some(UploadFailure::Broken(why)),
                None => {
                    inner.ended = true;
                    let received = bytes.load(Ordering::Relaxed);
                    inner.failure = inner.mismatch(received);
                }
            }
        }
    }
}

impl Seek for Upload {
    fn seek(&mut self, _: SeekFrom) -> io::Result<u64> {
        Err(io::Error::new(
            io::ErrorKind::Unsupported,
            "an upload stream cannot seek",
        ))
    }
}

impl ByteSource for Upload {
    fn can_seek(&self) -> bool {
        false
    }
}

/// A temporary file for spooled uploads: unnamed where the OS allows (`O_TMPFILE`, otherwise
/// unlinked at once) and mode 0600 on unix, so no other user can read a spooled upload.
pub(crate) fn private_temp_file() -> io::Result<std::fs::File> {
    let file = tempfile::tempfile()?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        // tempfile already creates it 0600; make that independent of the library's choice.
        file.set_permissions(std::fs::Permissions::from_mode(0o600))?;
    }
    Ok(file)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[cfg(unix)]
    #[test]
    fn spooled_files_are_private() {
        use std::os::unix::fs::PermissionsExt;
        let file = private_temp_file().unwrap();
        assert_eq!(file.metadata().unwrap().permissions().mode() & 0o777, 0o600);
    }

    #[test]
    fn reads_hashes_and_drains() {
        let (upload, tx) = Upload::new(1 << 20, Declared::default());
        let feeder = std::thread::spawn(move || {
            for part in [b"hello ".to_vec(), b"world".to_vec()] {
                tx.blocking_send(UploadMsg::Chunk(part)).unwrap();
            }
        });
        let mut first = [0u8; 3];
        let mut reader = upload.clone();
        reader.read_exact(&mut first).unwrap();
        assert_eq!(&first, b"hel");
        feeder.join().unwrap();
        let summary = upload.finish(true);
        assert_eq!(summary.bytes, 11);
        assert!(summary.complete);
        assert_eq!(summary.sha256, hex::encode(Sha256::digest(b"hello world")));
    }

    #[test]
    fn the_limit_and_a_broken_stream_stop_reading() {
        let (upload, tx) = Upload::new(4, Declared::default());
        tx.blocking_send(UploadMsg::Chunk(b"12345".to_vec())).unwrap();
        drop(tx);
        let mut reader = upload.clone();
        let err = reader.read(&mut [0u8; 8]).unwrap_err();
        assert!(err.to_string().contains("4-byte limit"), "{err}");
        assert_eq!(upload.failure(), Some(UploadFailure::TooLarge { limit: 4 }));
        assert!(!upload.finish(true).complete);

        let (upload, tx) = Upload::new(100, Declared::default());
        tx.blocking_send(UploadMsg::Failed("client went away".into()))
            .unwrap();
        let err = upload.clone().read(&mut [0u8; 8]).unwrap_err();
        assert_eq!(err.to_string(), "client went away");
    }

    #[test]
    fn an_upload_from_a_resume_offset_counts_from_the_first_byte_of_the_file() {
        let whole = hex::encode(Sha256::digest(b"header\nhello"));
        let declared = Declared {
            size: Some(12),
            sha256: Some(whole.clone()),
            start: 7,
        };
        let (upload, tx) = Upload::new(100, declared.clone());
        assert_eq!(upload.bytes_counter().load(Ordering::Relaxed), 7);
        tx.blocking_send(UploadMsg::Chunk(b"hello".to_vec())).unwrap();
        drop(tx);
        let mut rest = Vec::new();
        upload.clone().read_to_end(&mut rest).unwrap();
        assert_eq!(rest, b"hello");
        let summary = upload.finish(true);
        assert_eq!(
            (summary.bytes, summary.sha256, summary.complete),
            (12, whole, true)
        );

        // Short of the declared size is still a cut.
        let (upload, tx) = Upload::new(100, declared);
        tx.blocking_send(UploadMsg::Chunk(b"hel".to_vec())).unwrap();
        drop(tx);
        assert!(upload.clone().read_to_end(&mut Vec::new()).is_err());
        assert!(
            matches!(upload.failure(), Some(UploadFailure::Short(m)) if m.contains("declared 12 bytes but only 10"))
        );
    }

    #[test]
    fn a_declared_size_or_sha256_that_does_not_match_fails_at_the_end() {
        let declared = |size, sha256: Option<&str>| Declared {
            size,
            sha256: sha256.map(str::to_owned),
            start: 0,
        };
        let good = hex::encode(Sha256::digest(b"hello"));
        for (declared, ok) in [
            (declared(Some(5), Some(&good)), true),
            (declared(None, None), true),
            (declared(Some(6), None), false),
            (declared(None, Some("00")), false),
        ] {
            let (upload, tx) = Upload::new(100, declared.clone());
            tx.blocking_send(UploadMsg::Chunk(b"hello".to_vec())).unwrap();
            drop(tx);
            let mut all = Vec::new();
            let read = upload.clone().read_to_end(&mut all);
            assert_eq!(read.is_ok(), ok, "{declared:?}: {read:?}");
            if !ok {
                assert!(
                    matches!(upload.failure(), Some(UploadFailure::Mismatch(m) | UploadFailure::Short(m)) if m.contains("declared"))
                );
            }
        }
    }
}
