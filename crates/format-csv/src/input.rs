//! The byte layer under the CSV parser: a fixed-size buffer over the [`ByteSource`], encoding
//! detection, and (for encodings that are not ASCII-compatible) streaming transcoding to UTF-8.
//!
//! The parser above only ever sees bytes in which `"`, CR, LF and the delimiter mean what they
//! say: either the file's own bytes (UTF-8, GB18030/GBK, single-byte encodings), or UTF-8 produced
//! here from UTF-16 and the other encodings whose bytes cannot be split safely on ASCII.

use std::fmt::Write as _;
use std::io::{self, Read};

use dataport_plugin_sdk::{ByteSource, PluginError};
use encoding_rs::{Decoder, DecoderResult, Encoding, GB18030, REPLACEMENT, UTF_8};

use crate::detect::{self, Guess};
use crate::messages;

/// Size of the input buffer, and of the sample the `auto` encoding looks at.
pub(crate) const INPUT_BUFFER: usize = 64 * 1024;

/// The `encoding` option.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum EncodingChoice {
    /// A BOM decides; otherwise the first [`INPUT_BUFFER`] bytes (see [`crate::detect`]).
    Auto,
    /// This encoding; a BOM of the same encoding is stripped.
    Explicit(&'static Encoding),
}

impl EncodingChoice {
    /// Parses the option value: `auto` or any WHATWG label `encoding_rs` accepts.
    pub(crate) fn parse(value: &str) -> Result<EncodingChoice, PluginError> {
        let value = value.trim();
        if value.eq_ignore_ascii_case("auto") {
            return Ok(EncodingChoice::Auto);
        }
        match Encoding::for_label(value.as_bytes()) {
            Some(enc) if enc != REPLACEMENT => Ok(EncodingChoice::Explicit(enc)),
            _ => Err(PluginError::invalid_option(format!(
                "option `encoding`: unknown encoding `{value}`; use auto, utf-8, utf-16le, \
                 utf-16be, gb18030, gbk or another WHATWG encoding label"
            ))),
        }
    }
}

/// The name used in messages (`GB18030` rather than encoding_rs' lower-case `gb18030`).
pub(crate) fn display_name(enc: &'static Encoding) -> &'static str {
    if enc == GB18030 { "GB18030" } else { enc.name() }
}

/// Decides the encoding of a file from its first bytes: returns the encoding and the length of
/// the BOM to skip, or the `ENCODING` error refusing the file when `auto` cannot tell. `at_eof`
/// tells whether `sample` is the whole file (then an incomplete sequence at its end is an error,
/// not a cut).
pub(crate) fn detect(
    choice: EncodingChoice,
    sample: &[u8],
    at_eof: bool,
) -> Result<(&'static Encoding, usize), PluginError> {
    let bom = Encoding::for_bom(sample);
    match choice {
        EncodingChoice::Explicit(enc) => Ok(match bom {
            Some((bom_enc, len)) if bom_enc == enc => (enc, len),
            _ => (enc, 0),
        }),
        EncodingChoice::Auto => match bom {
            Some((enc, len)) => Ok((enc, len)),
            None => match detect::guess(sample, at_eof) {
                Guess::Sure(enc) => Ok((enc, 0)),
                Guess::Binary => Err(PluginError::encoding(messages::binary())),
                Guess::Unsure { likely, non_ascii } => {
                    Err(PluginError::encoding(messages::unsure(&likely, non_ascii)))
                }
            },
        },
    }
}

/// Whether a CSV in `enc` can be split on its raw bytes with `special` (delimiter) as a
/// separator: true for UTF-8 and single-byte encodings; for the legacy multi-byte encodings
/// (GB18030, GBK, Big5, Shift_JIS, EUC-*), only bytes below `0`, or `:`..`?`, never occur inside a
/// multi-byte character (their trail bytes are 0x30..0x39 in GB18030's four-byte form and 0x40 and
/// above otherwise). `"`, CR and LF are always below 0x30.
pub(crate) fn raw_split_is_safe(enc: &'static Encoding, delimiter: u8) -> bool {
    enc.is_ascii_compatible()
        && (enc == UTF_8 || enc.is_single_byte() || delimiter < b'0' || (b':'..=b'?').contains(&delimiter))
}

/// `0xB1 0x41`: bytes for a message.
pub(crate) fn hex_bytes(bytes: &[u8]) -> String {
    let mut s = String::new();
    for (i, b) in bytes.iter().enumerate() {
        if i > 0 {
            s.push(' ');
        }
        let _ = write!(s, "0x{b:02X}");
    }
    s
}

/// Bytes that are not valid in an encoding.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct DecodeError {
    /// `0xB1 0x41`.
    pub(crate) bytes: String,
    /// The encoding's name (`GB18030`, `UTF-16LE`).
    pub(crate) encoding: &'static str,
    /// Where the bytes start in the file, when known.
    pub(crate) offset: Option<u64>,
}

impl std::fmt::Display for DecodeError {
    /// `bytes 0xFF are not valid GB18030` (`… at byte offset 12 …` when the offset is known).
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "bytes {}", self.bytes)?;
        if let Some(offset) = self.offset {
            write!(f, " at byte offset {offset}")?;
        }
        write!(f, " are not valid {}", self.encoding)
    }
}

/// Why no more input could be had.
#[derive(Debug)]
pub(crate) enum InputError {
    Io(io::Error),
    /// The transcoder met bytes that are invalid in the file's encoding; the parser adds the
    /// row.
    Decode(DecodeError),
}

impl From<io::Error> for InputError {
    fn from(e: io::Error) -> InputError {
        InputError::Io(e)
    }
}

/// A fixed-size buffer over the source.
struct Source {
    inner: Box<dyn ByteSource>,
    buf: Box<[u8]>,
    start: usize,
    end: usize,
    eof: bool,
    /// Bytes of the file before `buf[start]`.
    consumed: u64,
}

impl Source {
    fn new(inner: Box<dyn ByteSource>) -> Source {
        Source {
            inner,
            buf: vec![0; INPUT_BUFFER].into_boxed_slice(),
            start: 0,
            end: 0,
            eof: false,
            consumed: 0,
        }
    }

    fn bytes(&self) -> &[u8] {
        &self.buf[self.start..self.end]
    }

    fn consume(&mut self, n: usize) {
        let n = n.min(self.end - self.start);
        self.start += n;
        self.consumed += n as u64;
    }

    /// Moves the unread bytes to the front and reads once into the free space. Returns the
    /// number of bytes read: 0 at the end of the input or when the buffer is full.
    fn read_more(&mut self) -> io::Result<usize> {
        if self.eof {
            return Ok(0);
        }
        if self.start > 0 {
            self.buf.copy_within(self.start..self.end, 0);
            self.end -= self.start;
            self.start = 0;
        }
        if self.end == self.buf.len() {
            return Ok(0);
        }
        loop {
            match self.inner.read(&mut self.buf[self.end..]) {
                Ok(0) => {
                    self.eof = true;
                    return Ok(0);
                }
                Ok(n) => {
                    self.end += n.min(self.buf.len() - self.end);
                    return Ok(n);
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
    }

    /// Reads until the buffer is full or the input ends.
    fn fill_buffer(&mut self) -> io::Result<()> {
        while !self.eof && self.end - self.start < self.buf.len() {
            self.read_more()?;
        }
        Ok(())
    }
}

/// Streaming decoder to UTF-8 without replacement: stops at the first invalid sequence, after
/// handing out everything decoded before it.
struct Transcoder {
    decoder: Decoder,
    encoding: &'static Encoding,
    out: Box<[u8]>,
    start: usize,
    end: usize,
    finished: bool,
    error: Option<DecodeError>,
}

impl Transcoder {
    /// Decodes into the free space of `out` until it is full, the input ends, or an invalid
    /// sequence is met.
    fn decode_more(&mut self, src: &mut Source) -> io::Result<()> {
        if self.start > 0 {
            self.out.copy_within(self.start..self.end, 0);
            self.end -= self.start;
            self.start = 0;
        }
        while !self.finished && self.error.is_none() && self.end < self.out.len() {
            if src.bytes().is_empty() && !src.eof {
                src.read_more()?;
                continue;
            }
            let last = src.eof;
            let input = src.bytes();
            let (result, read, written) =
                self.decoder
                    .decode_to_utf8_without_replacement(input, &mut self.out[self.end..], last);
            self.end += written;
            match result {
                DecoderResult::InputEmpty => {
                    src.consume(read);
                    if last {
                        self.finished = true;
                    }
                }
                DecoderResult::OutputFull => {
                    src.consume(read);
                    break;
                }
                DecoderResult::Malformed(bad, after) => {
                    let bad_end = read.saturating_sub(usize::from(after));
                    let bad_start = bad_end.saturating_sub(usize::from(bad));
                    let offset = src.consumed + bad_start as u64;
                    let shown = input.get(bad_start..bad_end).unwrap_or_default();
                    self.error = Some(DecodeError {
                        bytes: hex_bytes(shown),
                        encoding: display_name(self.encoding),
                        offset: Some(offset),
                    });
                    src.consume(read);
                }
            }
        }
        Ok(())
    }
}

/// What the parser reads from: bytes in which the ASCII delimiter, quote and line breaks can be
/// found by byte comparison.
pub(crate) struct Input {
    src: Source,
    transcoder: Option<Transcoder>,
    /// The encoding of the file.
    encoding: &'static Encoding,
}

impl Input {
    /// Reads the first [`INPUT_BUFFER`] bytes of `source`, decides the encoding (see [`detect`]),
    /// skips the BOM, and sets up transcoding unless the file can be split on its raw bytes
    /// with `delimiter` (`None`: it will be sniffed, always one of `,` `;` TAB).
    pub(crate) fn open(
        source: Box<dyn ByteSource>,
        choice: EncodingChoice,
        delimiter: Option<u8>,
    ) -> Result<Input, PluginError> {
        let mut src = Source::new(source);
        src.fill_buffer()?;
        let (encoding, bom) = detect(choice, src.bytes(), src.eof)?;
        src.consume(bom);
        let transcoder = (!raw_split_is_safe(encoding, delimiter.unwrap_or(b','))).then(|| Transcoder {
            decoder: encoding.new_decoder_without_bom_handling(),
            encoding,
            out: vec![0; INPUT_BUFFER].into_boxed_slice(),
            start: 0,
            end: 0,
            finished: false,
            error: None,
        });
        Ok(Input {
            src,
            transcoder,
            encoding,
        })
    }

    /// An input that continues a file mid-way, at a record boundary: no detection, no BOM,
    /// in `encoding` (one whose raw bytes split safely on `delimiter`, see [`Input::raw_position`]).
    /// `offset` is where the source starts in the file.
    pub(crate) fn resumed(source: Box<dyn ByteSource>, encoding: &'static Encoding, offset: u64) -> Input {
        let mut src = Source::new(source);
        src.consumed = offset;
        Input {
            src,
            transcoder: None,
            encoding,
        }
    }

    /// Offset in the file of the next unread byte, or `None` when the parser reads transcoded
    /// bytes (whose offsets are not the file's).
    pub(crate) fn raw_position(&self) -> Option<u64> {
        self.transcoder.is_none().then_some(self.src.consumed)
    }

    /// The encoding the file was read in.
    pub(crate) fn file_encoding(&self) -> &'static Encoding {
        self.encoding
    }

    /// The encoding of the bytes the parser gets: the file's, or UTF-8 when transcoding.
    pub(crate) fn parse_encoding(&self) -> &'static Encoding {
        if self.transcoder.is_some() {
            UTF_8
        } else {
            self.encoding
        }
    }

    /// Unread bytes, reading more first if there are none; empty only at the end of the input.
    pub(crate) fn data(&mut self) -> Result<&[u8], InputError> {
        match &mut self.transcoder {
            None => {
                if self.src.start == self.src.end {
                    self.src.read_more()?;
                }
                Ok(self.src.bytes())
            }
            Some(t) => {
                if t.start == t.end {
                    t.decode_more(&mut self.src)?;
                    if t.start == t.end
                        && let Some(e) = &t.error
                    {
                        return Err(InputError::Decode(e.clone()));
                    }
                }
                Ok(&t.out[t.start..t.end])
            }
        }
    }

    /// As many unread bytes as the buffer holds (for sniffing); never fails on invalid input,
    /// that is reported by [`Input::data`] when the parser gets there.
    pub(crate) fn peek_full(&mut self) -> io::Result<&[u8]> {
        match &mut self.transcoder {
            None => {
                self.src.fill_buffer()?;
                Ok(self.src.bytes())
            }
            Some(t) => {
                t.decode_more(&mut self.src)?;
                Ok(&t.out[t.start..t.end])
            }
        }
    }

    /// Marks `n` bytes of the last [`Input::data`] as read.
    pub(crate) fn consume(&mut self, n: usize) {
        match &mut self.transcoder {
            None => self.src.consume(n),
            Some(t) => t.start = (t.start + n).min(t.end),
        }
    }
}

/// Decodes one field without replacement. On failure names the invalid bytes
/// (`bytes 0xB1 0x41 are not valid GB18030`).
pub(crate) fn decode_field<'a>(
    enc: &'static Encoding,
    bytes: &'a [u8],
) -> Result<std::borrow::Cow<'a, str>, DecodeError> {
    if let Some(text) = enc.decode_without_bom_handling_and_without_replacement(bytes) {
        return Ok(text);
    }
    // Find the first invalid sequence to name it.
    let mut decoder = enc.new_decoder_without_bom_handling();
    let mut scratch = [0u8; 1024];
    let mut pos = 0;
    let shown = loop {
        let rest = bytes.get(pos..).unwrap_or_default();
        let (result, read, _) = decoder.decode_to_utf8_without_replacement(rest, &mut scratch, true);
        match result {
            DecoderResult::Malformed(bad, after) => {
                let end = pos + read.saturating_sub(usize::from(after));
                let start = end.saturating_sub(usize::from(bad));
                break bytes.get(start..end).unwrap_or_default();
            }
            DecoderResult::OutputFull if read > 0 => pos += read,
            // Cannot happen: the whole-field decode above failed.
            DecoderResult::OutputFull | DecoderResult::InputEmpty => break &[][..],
        }
    };
    Err(DecodeError {
        bytes: hex_bytes(shown),
        encoding: display_name(enc),
        offset: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use encoding_rs::{GBK, SHIFT_JIS, UTF_16BE, UTF_16LE, WINDOWS_1252};

    fn auto(sample: &[u8], at_eof: bool) -> Result<(&'static Encoding, usize), PluginError> {
        detect(EncodingChoice::Auto, sample, at_eof)
    }

    #[test]
    fn auto_detection() {
        let gbk = GBK
            .encode("客户编号,客户名称,负责人\r\nC1,北京科技有限公司,张三\r\nC2,上海贸易有限公司,\r\n")
            .0;
        assert_eq!(auto(b"a,b\r\n", true).unwrap(), (UTF_8, 0));
        assert_eq!(auto(b"\xEF\xBB\xBFa", true).unwrap(), (UTF_8, 3));
        assert_eq!(auto(b"\xFF\xFEa\0", true).unwrap(), (UTF_16LE, 2));
        assert_eq!(auto(b"\xFE\xFF\0a", true).unwrap(), (UTF_16BE, 2));
        assert_eq!(auto(&gbk, true).unwrap(), (GB18030, 0));
        assert_eq!(auto(b"", true).unwrap(), (UTF_8, 0));
        // UTF-16 without a BOM.
        assert_eq!(auto(b"a\0,\0b\0\r\0\n\0", true).unwrap(), (UTF_16LE, 0));
        // Too little text to tell GBK from its look-alikes: refused, naming them and the fix.
        let e = auto(&GBK.encode("客户编号,客户名称").0, true).unwrap_err();
        assert_eq!(e.kind, dataport_plugin_sdk::ErrorKind::Encoding);
        assert!(
            e.message.contains("GBK/GB18030")
                && e.message.contains("-O encoding=")
                && e.message.contains(" / "),
            "{e}"
        );
        // A binary file.
        let e = auto(b"PK\x03\x04\x14\x00\x08\x00\xA4\xC2", true).unwrap_err();
        assert!(e.message.contains("holds NUL bytes"), "{e}");
    }

    #[test]
    fn a_utf8_sequence_cut_by_the_sample_is_still_utf8() {
        let text = "名称".as_bytes();
        let cut = &text[..4]; // one whole character and the first byte of the next
        assert_eq!(auto(cut, false).unwrap(), (UTF_8, 0));
        // At the end of the file it is not a cut but an invalid file: too little to tell.
        assert!(auto(cut, true).is_err());
        // An invalid byte before the cut is not excused.
        assert_ne!(auto(b"a\xFFb\xE5", false).unwrap().0, UTF_8);
    }

    #[test]
    fn explicit_encoding_overrides_and_strips_only_its_own_bom() {
        let gbk = EncodingChoice::parse("GBK").unwrap();
        assert_eq!(detect(gbk, "名称".as_bytes(), true).unwrap(), (GBK, 0));
        let utf8 = EncodingChoice::parse("utf-8").unwrap();
        assert_eq!(detect(utf8, b"\xEF\xBB\xBFa", true).unwrap(), (UTF_8, 3));
        assert_eq!(detect(utf8, b"\xFF\xFEa\0", true).unwrap(), (UTF_8, 0));
        let le = EncodingChoice::parse("utf-16le").unwrap();
        assert_eq!(detect(le, b"\xFF\xFEa\0", true).unwrap(), (UTF_16LE, 2));
    }

    #[test]
    fn option_values() {
        assert_eq!(EncodingChoice::parse(" AUTO ").unwrap(), EncodingChoice::Auto);
        assert_eq!(
            EncodingChoice::parse("gb18030").unwrap(),
            EncodingChoice::Explicit(GB18030)
        );
        assert_eq!(
            EncodingChoice::parse("utf-16be").unwrap(),
            EncodingChoice::Explicit(UTF_16BE)
        );
        let e = EncodingChoice::parse("klingon").unwrap_err();
        assert!(e.message.contains("`klingon`"), "{e}");
        // A label of the "replacement" encoding is refused rather than decoding nothing.
        assert!(EncodingChoice::parse("iso-2022-kr").is_err());
    }

    #[test]
    fn raw_splitting() {
        assert!(raw_split_is_safe(UTF_8, b'|'));
        assert!(raw_split_is_safe(WINDOWS_1252, b'|'));
        assert!(raw_split_is_safe(GB18030, b','));
        assert!(raw_split_is_safe(GB18030, b'\t'));
        assert!(raw_split_is_safe(GB18030, b';'));
        // 0x7C is a valid GBK/Shift_JIS trail byte.
        assert!(!raw_split_is_safe(GB18030, b'|'));
        assert!(!raw_split_is_safe(SHIFT_JIS, b'|'));
        assert!(!raw_split_is_safe(UTF_16LE, b','));
    }

    #[test]
    fn field_decoding_names_the_bad_bytes() {
        assert_eq!(decode_field(UTF_8, "北京".as_bytes()).unwrap(), "北京");
        assert_eq!(
            decode_field(UTF_8, b"ab\xFFc").unwrap_err().to_string(),
            "bytes 0xFF are not valid UTF-8"
        );
        let gbk = GBK.encode("北京").0;
        assert_eq!(decode_field(GB18030, &gbk).unwrap(), "北京");
        assert_eq!(
            decode_field(GB18030, b"x\xFFy").unwrap_err().to_string(),
            "bytes 0xFF are not valid GB18030"
        );
        assert_eq!(hex_bytes(&[0xB1, 0x41]), "0xB1 0x41");
    }
}
