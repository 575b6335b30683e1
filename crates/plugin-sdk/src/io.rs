//! Byte sources and sinks: what a reader reads from and a writer writes to.
//!
//! Loaded through the host, these are thin adapters over the host's `read`/`seek`/`write`
//! callbacks; used natively, they are any `Read`/`Write` you pass in.

use std::fs::File;
use std::io::{self, BufReader, Cursor, Read, Seek, SeekFrom};

/// The input of a [`Reader`](crate::Reader): `Read + Seek + Send`, where seeking may be refused.
///
/// Only plugins that declare `needs_seek` in their [`Descriptor`](crate::Descriptor) are
/// guaranteed a source with `can_seek() == true` (the host spools uploads to a temporary file for
/// them); for every other plugin `seek` fails with [`io::ErrorKind::Unsupported`], so read
/// sequentially. `Box<dyn ByteSource>` itself is `Read + Seek`, so it can be handed straight to
/// crates such as `csv` or `calamine`.
pub trait ByteSource: Read + Seek + Send {
    /// Whether [`Seek`] works on this source.
    fn can_seek(&self) -> bool;
}

impl ByteSource for File {
    fn can_seek(&self) -> bool {
        true
    }
}

impl<T: AsRef<[u8]> + Send> ByteSource for Cursor<T> {
    fn can_seek(&self) -> bool {
        true
    }
}

impl<R: ByteSource> ByteSource for BufReader<R> {
    fn can_seek(&self) -> bool {
        self.get_ref().can_seek()
    }
}

impl<S: ByteSource + ?Sized> ByteSource for Box<S> {
    fn can_seek(&self) -> bool {
        (**self).can_seek()
    }
}

/// Wraps any `Read + Send` (a pipe, a channel reader, a decompressor) as a [`ByteSource`] that
/// cannot seek.
#[derive(Debug)]
pub struct ReadOnly<R>(pub R);

impl<R: Read> Read for ReadOnly<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.0.read(buf)
    }
}

impl<R> Seek for ReadOnly<R> {
    fn seek(&mut self, _pos: SeekFrom) -> io::Result<u64> {
        Err(io::Error::new(
            io::ErrorKind::Unsupported,
            "this byte source cannot seek",
        ))
    }
}

impl<R: Read + Send> ByteSource for ReadOnly<R> {
    fn can_seek(&self) -> bool {
        false
    }
}

/// The output of a [`Writer`](crate::Writer): any `Write + Send`. Write in large chunks (wrap it
/// in a `BufWriter`), and flush in [`Writer::finish`](crate::Writer::finish).
pub trait ByteSink: io::Write + Send {}

impl<W: io::Write + Send + ?Sized> ByteSink for W {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn read_only_refuses_seek() {
        let mut s: Box<dyn ByteSource> = Box::new(ReadOnly(&b"abc"[..]));
        assert!(!s.can_seek());
        assert_eq!(
            s.seek(SeekFrom::Start(0)).unwrap_err().kind(),
            io::ErrorKind::Unsupported
        );
        let mut out = String::new();
        s.read_to_string(&mut out).unwrap();
        assert_eq!(out, "abc");
    }

    #[test]
    fn cursor_seeks() {
        let mut s: Box<dyn ByteSource> = Box::new(BufReader::new(Cursor::new(b"abcdef".to_vec())));
        assert!(s.can_seek());
        s.seek(SeekFrom::End(-2)).unwrap();
        let mut out = String::new();
        s.read_to_string(&mut out).unwrap();
        assert_eq!(out, "ef");
    }
}
