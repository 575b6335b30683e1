//! The `csv` format of dataport: reads and writes comma-, semicolon- or tab-separated
//! files (extensions `csv`, `tsv`, `txt`), streaming, in constant memory.
//!
//! This crate is the implementation; `plugins/csv` exports it as `libdataport_plugin_csv.so`
//! with one `export_plugin!` line. Keeping the two apart lets other plugins (the vendor
//! layouts) build on [`CsvPlugin`] without linking a second plugin entry point into their
//! library. [`CsvPlugin`] is an ordinary [`Plugin`] that can be used natively.
//!
//! # Reading
//!
//! Options (all optional):
//!
//! | option | default | meaning |
//! |---|---|---|
//! | `encoding` | `auto` | `auto`, or any WHATWG label: `utf-8`, `utf-16le`, `utf-16be`, `gb18030`, `gbk`, … |
//! | `delimiter` | sniffed | one ASCII character (`,` `;` `\|`; `\t` or `tab` for a tab) |
//! | `max_field_bytes` | 1 MiB | the longest field accepted (bytes after unquoting) |
//! | `max_record_bytes` | 8 MiB | the longest record accepted (its fields' bytes added up) |
//! | `max_fields` | 16384 | the most fields a record may have |
//!
//! Lengths are counted in the file's bytes, or in UTF-8 bytes for a transcoded (UTF-16) file.
//!
//! The layers, bottom up:
//!
//! 1. **Bytes** (`input`): one fixed 64 KiB buffer over the [`ByteSource`]; the source is read
//!    sequentially, never sought (the descriptor does not ask for `needs_seek`).
//! 2. **Encoding.** The first 64 KiB decide: a BOM (UTF-8, UTF-16LE, UTF-16BE) wins; otherwise
//!    (`detect`) UTF-16 without a BOM is recognised by its NUL high bytes and line breaks; the
//!    sample is UTF-8 if it is valid UTF-8 (an incomplete sequence at the 64 KiB cut is fine) or
//!    valid but for a few damaged sequences; NUL bytes in anything else are a binary file,
//!    refused; else chardetng (Firefox's detector) guesses a legacy encoding, which is taken only
//!    when the sample decodes in it and there is evidence enough (32 non-ASCII bytes, or no
//!    other common encoding, GB18030/Big5/Shift_JIS/EUC-KR/windows-1252, decoding the sample
//!    too). GBK, what Excel on Chinese Windows saves as "CSV", is read as GB18030, its superset.
//!    When the guess is not sure the file is refused with [`ErrorKind::Encoding`], naming the
//!    likely encodings and the fix (`-O encoding=gbk`), rather than risk garbled text. An
//!    explicit `encoding` overrides the guess; a BOM of that same encoding is still skipped. A
//!    header cell holding NUL characters (UTF-16/UTF-32 read as something else) is refused too.
//!    File-level messages are in Chinese and English (`中文 / English`): the host passes them
//!    through and does not tell plugins the job's locale. Nothing is ever decoded with
//!    replacement characters:
//!    * ASCII-compatible encodings (UTF-8, GB18030/GBK, single-byte ones) are parsed on their raw
//!      bytes, because `"`, CR, LF, `,`, `;` and TAB never occur inside their multi-byte
//!      characters, and each field is decoded on its own. A field with bytes invalid in the
//!      encoding makes its row a [`RowError`](dataport_plugin_sdk::RowError) of kind
//!      [`ErrorKind::Encoding`] (`column 2: bytes 0xFF are not valid GB18030`); the row is left
//!      out and reading goes on.
//!    * UTF-16 (and ISO-2022-JP) are transcoded to UTF-8 by a streaming decoder before parsing.
//!      The decoder cannot resynchronise on a row, so an invalid sequence fails the file with an
//!      [`ErrorKind::Encoding`] error naming the row being read and the byte offset. The same
//!      path is taken for a legacy multi-byte encoding (GBK, Big5, Shift_JIS…) with an explicit
//!      delimiter that can be a trail byte of those encodings (`|` is 0x7C).
//! 3. **CSV** (`reader`): `csv-core` (RFC 4180 quoting, `""` for a quote, CR, LF or CRLF line
//!    ends) driven directly, so that the buffers are ours: fields are unquoted into one buffer
//!    that grows on demand up to `max_record_bytes`, with an array of field ends that grows up to
//!    `max_fields`. A record beyond a cap fails the file with [`ErrorKind::MalformedFile`] naming
//!    the row, the limit and the option that raises it. Memory is therefore bounded by the caps
//!    plus the rows of one batch, whatever the file size.
//! 4. **Rows.** The header is the first record. Row numbers are the ones Excel shows: the header
//!    is row 1 and the first data record row 2; a record whose quoted fields span several lines
//!    is one row; a blank line is a row too (Excel shows it empty). csv-core silently skips blank
//!    lines, so the reader consumes them itself between records, counting them, and emits
//!    nothing for them (a blank line has no bytes at all; a line of spaces or of delimiters is a
//!    record). Non-empty fields become [`Cell::Text`] exactly as in the file, empty ones
//!    [`Cell::Null`]. A record with a different number of fields than the header is a
//!    `MalformedFile` row error (`7 fields, the header has 12`).
//! 5. **Batches.** [`Reader::next_batch`] stops after `max_rows` source rows (rows plus row
//!    errors; blank lines are not rows of the batch). When the file fails in the middle of a
//!    batch, the rows read before are returned first and the error comes with the next call;
//!    every call after a failure repeats it.
//!
//! Without a `delimiter` option it is sniffed from the header line: the most frequent of `,`, `;`
//! and TAB outside quotes, `,` when there is none (only the first 64 KiB of the line are looked
//! at).
//!
//! # Writing
//!
//! Options: `bom` (default `true`: a UTF-8 BOM so that Excel reads the file as UTF-8) and
//! `delimiter` (default `,`). Output is UTF-8 with CRLF line ends (RFC 4180); a field is quoted
//! only if it contains the delimiter, a quote, CR or LF. Cells: text and formulas as they are
//! (the host has already neutralised leading `=+-@`), null empty, integers in decimal, floats
//! with two decimals in a [`ColumnKind::Decimal2`](dataport_plugin_sdk::ColumnKind::Decimal2)
//! column and as Rust's shortest round-trip form otherwise, dates `YYYY-MM-DD`, date-times
//! `YYYY-MM-DD HH:MM:SS` (UTC), booleans `true`/`false`. A record of one empty field is written
//! as `""` so that it does not read back as a blank line.
//!
//! ```
//! use dataport_plugin_sdk::{Cell, Options, Plugin, ReadOnly, read_all};
//! use dataport_format_csv::CsvPlugin;
//!
//! let mut reader = CsvPlugin
//!     .open_reader("csv", &Options::new(), Box::new(ReadOnly(&b"code;name\nC1;\"A; B\"\n"[..])))
//!     .unwrap();
//! let (header, rows) = read_all(&mut *reader, 100).unwrap();
//! assert_eq!(header, ["code", "name"]);
//! assert_eq!(rows.rows[0].number, 2);
//! assert_eq!(rows.rows[0].cells, [Cell::text("C1"), Cell::text("A; B")]);
//! ```

mod detect;
mod input;
mod messages;
mod options;
mod reader;
mod writer;

use dataport_plugin_sdk::{ByteSink, ByteSource, Descriptor, Options, Plugin, PluginError, Reader, Writer};

#[cfg(doc)]
use dataport_plugin_sdk::{Cell, ErrorKind};

use crate::reader::{CsvReader, ReaderConfig};
use crate::writer::{CsvWriter, WriterConfig};

pub use crate::options::{
    DEFAULT_MAX_FIELD_BYTES, DEFAULT_MAX_FIELDS, DEFAULT_MAX_RECORD_BYTES, declared_options,
};

/// The csv plugin. See the crate documentation for formats and options.
#[derive(Debug, Clone, Copy, Default)]
pub struct CsvPlugin;

/// The one format this plugin serves.
const FORMAT: &str = "csv";

fn check_format(format: &str) -> Result<(), PluginError> {
    if format.eq_ignore_ascii_case(FORMAT) {
        Ok(())
    } else {
        Err(PluginError::unsupported(format!(
            "format `{format}` is not served by the csv plugin (it serves `csv`)"
        )))
    }
}

impl Plugin for CsvPlugin {
    fn descriptor(&self) -> Descriptor {
        Descriptor::new("csv", env!("CARGO_PKG_VERSION"))
            .format(FORMAT)
            .extensions(["csv", "tsv", "txt"])
            .reads()
            .writes()
            .options(declared_options())
    }

    fn open_reader(
        &self,
        format: &str,
        options: &Options,
        source: Box<dyn ByteSource>,
    ) -> Result<Box<dyn Reader>, PluginError> {
        check_format(format)?;
        let config = ReaderConfig::from_options(options)?;
        Ok(Box::new(CsvReader::new(config, source)))
    }

    fn open_writer(
        &self,
        format: &str,
        options: &Options,
        sink: Box<dyn ByteSink>,
    ) -> Result<Box<dyn Writer>, PluginError> {
        check_format(format)?;
        let config = WriterConfig::from_options(options)?;
        Ok(Box::new(CsvWriter::new(config, sink)))
    }
}
