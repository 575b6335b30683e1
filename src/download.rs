//! Saving a file the server streams: written to a temporary file beside the target, checked
//! against the server's size and sha256, then moved into place, so a broken download never
//! leaves a half-written file under the real name.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use dataport_client::v1;
use sha2::{Digest, Sha256};
use tokio_stream::{Stream, StreamExt};

/// A file being received.
pub struct Download {
    target: PathBuf,
    file: tempfile::NamedTempFile,
    hasher: Sha256,
    bytes: u64,
}

impl Download {
    pub fn new(target: &Path) -> Result<Download> {
        let dir = match target.parent() {
            Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
            _ => PathBuf::from("."),
        };
        let file = tempfile::Builder::new()
            .prefix(".dataport-download-")
            .tempfile_in(&dir)
            .with_context(|| format!("cannot create a file in {}", dir.display()))?;
        Ok(Download {
            target: target.to_path_buf(),
            file,
            hasher: Sha256::new(),
            bytes: 0,
        })
    }

    pub fn write(&mut self, chunk: &[u8]) -> Result<()> {
        self.file.write_all(chunk).context("writing the download")?;
        self.hasher.update(chunk);
        self.bytes += chunk.len() as u64;
        Ok(())
    }

    pub fn bytes(&self) -> u64 {
        self.bytes
    }

    /// Checks size and checksum against what the server says it sent, then moves the file into
    /// place.
    pub fn finish(mut self, bytes: u64, sha256: &str) -> Result<u64> {
        let actual = hex::encode(self.hasher.finalize_reset());
        if bytes != self.bytes || !actual.eq_ignore_ascii_case(sha256) {
            bail!(
                "the download is damaged: received {} bytes with sha256 {actual}, the server sent {bytes} bytes with sha256 {sha256}; nothing was saved",
                self.bytes
            );
        }
        self.file.flush()?;
        self.file
            .persist(&self.target)
            .with_context(|| format!("cannot save {}", self.target.display()))?;
        // Temporary files are private; a saved download gets the usual permissions.
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let _ = std::fs::set_permissions(&self.target, std::fs::Permissions::from_mode(0o644));
        }
        Ok(self.bytes)
    }
}

/// Saves a `FileEvent` stream (templates, error files) to `path`; returns its size.
pub async fn save_file_events(
    mut stream: impl Stream<Item = Result<v1::FileEvent, tonic::Status>> + Unpin,
    path: &Path,
) -> Result<u64> {
    let mut download = Download::new(path)?;
    while let Some(event) = stream.next().await {
        match event.map_err(crate::call_failed)?.event {
            Some(v1::file_event::Event::Started(_)) | None => {}
            Some(v1::file_event::Event::Chunk(bytes)) => download.write(&bytes)?,
            Some(v1::file_event::Event::Completed(done)) => return download.finish(done.bytes, &done.sha256),
        }
    }
    bail!("the server ended the download before it was complete; nothing was saved")
}
