//! The CSV reader: csv-core over [`Input`], Excel row numbers, caps, per-row errors.

use dataport_plugin_sdk::{
    ByteSource, Cell, Checkpoint, Direction, ErrorKind, Options, PluginError, Reader, RowBatch,
};
use encoding_rs::Encoding;

use crate::input::{DecodeError, EncodingChoice, Input, InputError, decode_field};
use crate::messages;
use crate::options::{
    DEFAULT_MAX_FIELD_BYTES, DEFAULT_MAX_FIELDS, DEFAULT_MAX_RECORD_BYTES, declared_options,
};

/// Initial size of the field buffer (it grows up to `max_record_bytes`).
const INITIAL_FIELD_BUFFER: usize = 64 * 1024;
/// Initial number of field slots (grows up to `max_fields`).
const INITIAL_FIELDS: usize = 64;

/// Validated reader options.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ReaderConfig {
    pub(crate) encoding: EncodingChoice,
    /// `None`: sniff from the header line.
    pub(crate) delimiter: Option<u8>,
    pub(crate) max_field_bytes: usize,
    pub(crate) max_record_bytes: usize,
    pub(crate) max_fields: usize,
}

impl ReaderConfig {
    pub(crate) fn from_options(options: &Options) -> Result<ReaderConfig, PluginError> {
        options.check_declared(&declared_options(), Direction::Read)?;
        let encoding = match options.get("encoding") {
            None => EncodingChoice::Auto,
            Some(v) => EncodingChoice::parse(v)?,
        };
        let delimiter = delimiter_option(options)?;
        Ok(ReaderConfig {
            encoding,
            delimiter,
            max_field_bytes: limit_option(options, "max_field_bytes", DEFAULT_MAX_FIELD_BYTES)?,
            max_record_bytes: limit_option(options, "max_record_bytes", DEFAULT_MAX_RECORD_BYTES)?,
            max_fields: limit_option(options, "max_fields", DEFAULT_MAX_FIELDS)?,
        })
    }
}

/// The `delimiter` option: one ASCII character other than `"`, CR and LF (`\t` and `tab` are a
/// tab).
pub(crate) fn delimiter_option(options: &Options) -> Result<Option<u8>, PluginError> {
    let Some(c) = options.get_char("delimiter")? else {
        return Ok(None);
    };
    match u8::try_from(c) {
        Ok(b) if b.is_ascii() && !matches!(b, b'"' | b'\r' | b'\n') => Ok(Some(b)),
        _ => Err(PluginError::invalid_option(format!(
            "option `delimiter` must be one ASCII character other than a quote or a line break, \
             not {c:?}"
        ))),
    }
}

fn limit_option(options: &Options, key: &str, default: usize) -> Result<usize, PluginError> {
    match options.get_parsed::<usize>(key)? {
        None => Ok(default),
        Some(0) => Err(PluginError::invalid_option(format!(
            "option `{key}` must be at least 1"
        ))),
        Some(n) => Ok(n),
    }
}

/// The delimiter of a file whose start is `sample`: the most frequent of `,` `;` TAB outside
/// quotes on the first non-blank line (`,` on a tie or when there is none).
pub(crate) fn sniff_delimiter(sample: &[u8]) -> u8 {
    const CANDIDATES: [u8; 3] = [b',', b';', b'\t'];
    let mut counts = [0usize; 3];
    let mut in_quotes = false;
    let mut started = false;
    for &b in sample {
        match b {
            b'\r' | b'\n' if !in_quotes => {
                if started {
                    break;
                }
            }
            b'"' => {
                in_quotes = !in_quotes;
                started = true;
            }
            _ => {
                started = true;
                if !in_quotes && let Some(i) = CANDIDATES.iter().position(|&c| c == b) {
                    counts[i] += 1;
                }
            }
        }
    }
    let mut best = 0;
    for i in 1..CANDIDATES.len() {
        if counts[i] > counts[best] {
            best = i;
        }
    }
    CANDIDATES[best]
}

/// csv-core plus the buffers of one record and the row bookkeeping.
struct Parser {
    input: Input,
    csv: csv_core::Reader,
    /// The unquoted bytes of the current record's fields, back to back.
    fields: Vec<u8>,
    /// End offset in `fields` of each field of the current record.
    ends: Vec<usize>,
    /// Number of fields of the current record.
    nfields: usize,
    /// Encoding of the bytes in `fields`.
    encoding: &'static Encoding,
    delimiter: u8,
    /// The Excel row number the next record gets.
    row: u64,
    /// The last record or blank line ended with CR, so an LF right after belongs to it.
    pending_cr: bool,
    config: ReaderConfig,
}

impl Parser {
    fn new(source: Box<dyn ByteSource>, config: ReaderConfig) -> Result<Parser, PluginError> {
        let mut input = Input::open(source, config.encoding, config.delimiter)?;
        let delimiter = match config.delimiter {
            Some(d) => d,
            None => sniff_delimiter(input.peek_full()?),
        };
        Ok(Parser::over(input, delimiter, 1, config))
    }

    /// A parser over `input` at the start of a record numbered `row`.
    fn over(input: Input, delimiter: u8, row: u64, config: ReaderConfig) -> Parser {
        let csv = csv_core::ReaderBuilder::new().delimiter(delimiter).build();
        let encoding = input.parse_encoding();
        Parser {
            input,
            csv,
            fields: vec![0; INITIAL_FIELD_BUFFER.min(config.max_record_bytes.saturating_add(1))],
            ends: vec![0; INITIAL_FIELDS.min(config.max_fields.saturating_add(1))],
            nfields: 0,
            encoding,
            delimiter,
            row,
            pending_cr: false,
            config,
        }
    }

    fn input_error(&self, row: u64, e: InputError) -> PluginError {
        match e {
            InputError::Io(e) => PluginError::from(e),
            InputError::Decode(e) => PluginError::encoding(messages::stream_undecodable(
                row,
                &e.bytes,
                e.offset.unwrap_or_default(),
                e.encoding,
            )),
        }
    }

    /// Skips blank lines (counting them as rows, as Excel shows them) up to the start of the next
    /// record. Returns false at the end of the input.
    fn skip_blank_lines(&mut self) -> Result<bool, PluginError> {
        loop {
            let row = self.row;
            let data = match self.input.data() {
                Ok(data) => data,
                Err(e) => return Err(self.input_error(row, e)),
            };
            if data.is_empty() {
                return Ok(false);
            }
            let mut skipped = 0;
            for &b in data {
                match b {
                    b'\n' if self.pending_cr => self.pending_cr = false,
                    b'\r' => {
                        self.row += 1;
                        self.pending_cr = true;
                    }
                    b'\n' => self.row += 1,
                    _ => break,
                }
                skipped += 1;
            }
            let found = skipped < data.len();
            self.input.consume(skipped);
            if found {
                self.pending_cr = false;
                return Ok(true);
            }
        }
    }

    /// Parses the next record into `fields`/`ends`; returns its row number, or `None` at the end.
    fn next_record(&mut self) -> Result<Option<u64>, PluginError> {
        if !self.skip_blank_lines()? {
            return Ok(None);
        }
        let row = self.row;
        let (mut nout, mut nend) = (0usize, 0usize);
        loop {
            let data = match self.input.data() {
                Ok(data) => data,
                Err(e) => return Err(self.input_error(row, e)),
            };
            let (result, nin, out, ends) =
                self.csv
                    .read_record(data, &mut self.fields[nout..], &mut self.ends[nend..]);
            let ended_with_cr = nin > 0 && data.get(nin - 1) == Some(&b'\r');
            self.input.consume(nin);
            let first_new = nend;
            nout += out;
            nend += ends;
            self.check_limits(row, first_new, nend, nout)?;
            match result {
                csv_core::ReadRecordResult::InputEmpty => {}
                csv_core::ReadRecordResult::OutputFull => {
                    let cap = self.config.max_record_bytes.saturating_add(1);
                    let len = self.fields.len();
                    self.fields
                        .resize(len.saturating_mul(2).clamp(len + 1, cap.max(len + 1)), 0);
                }
                csv_core::ReadRecordResult::OutputEndsFull => {
                    let cap = self.config.max_fields.saturating_add(1);
                    let len = self.ends.len();
                    self.ends
                        .resize(len.saturating_mul(2).clamp(len + 1, cap.max(len + 1)), 0);
                }
                csv_core::ReadRecordResult::Record => {
                    self.pending_cr = ended_with_cr;
                    self.nfields = nend;
                    self.row = row + 1;
                    return Ok(Some(row));
                }
                csv_core::ReadRecordResult::End => return Ok(None),
            }
        }
    }

    /// Fails the file if the record being read exceeds a cap. `first_new..nend` are the fields
    /// completed by the last csv-core call, `nout` the bytes written so far.
    fn check_limits(&self, row: u64, first_new: usize, nend: usize, nout: usize) -> Result<(), PluginError> {
        let c = &self.config;
        let mut start = if first_new == 0 {
            0
        } else {
            self.ends[first_new - 1]
        };
        for i in first_new..nend {
            let end = self.ends[i];
            if end - start > c.max_field_bytes {
                return Err(field_too_long(row, i + 1, c.max_field_bytes));
            }
            start = end;
        }
        if nout.saturating_sub(start) > c.max_field_bytes {
            return Err(field_too_long(row, nend + 1, c.max_field_bytes));
        }
        if nout > c.max_record_bytes {
            return Err(PluginError::malformed(format!(
                "row {row}: the record is longer than {} bytes (max_record_bytes); raise the \
                 option `max_record_bytes` to read it",
                c.max_record_bytes
            )));
        }
        if nend > c.max_fields {
            return Err(PluginError::malformed(format!(
                "row {row}: the record has more than {} fields (max_fields); raise the option \
                 `max_fields` to read it",
                c.max_fields
            )));
        }
        Ok(())
    }

    fn field(&self, i: usize) -> &[u8] {
        let start = if i == 0 { 0 } else { self.ends[i - 1] };
        self.fields.get(start..self.ends[i]).unwrap_or_default()
    }

    /// The current record as cells, or its first undecodable field: the 1-based column and
    /// what is wrong (a row error says `column 2: bytes 0xFF are not valid GB18030`).
    fn cells(&self) -> Result<Vec<Cell>, (usize, DecodeError)> {
        (0..self.nfields)
            .map(|i| {
                let bytes = self.field(i);
                if bytes.is_empty() {
                    return Ok(Cell::Null);
                }
                decode_field(self.encoding, bytes)
                    .map(|text| Cell::Text(text.into_owned()))
                    .map_err(|e| (i + 1, e))
            })
            .collect()
    }
}

fn field_too_long(row: u64, column: usize, limit: usize) -> PluginError {
    PluginError::malformed(format!(
        "row {row}: field {column} is longer than {limit} bytes (max_field_bytes); raise the \
         option `max_field_bytes` to read it"
    ))
}

/// Where a reader is.
enum State {
    /// Nothing read yet.
    Unopened(Box<dyn ByteSource>),
    Reading(Box<Parser>),
    /// The input ended.
    Done,
    /// The file failed; every later call repeats the error.
    Failed(PluginError),
}

/// Reads one CSV file; see the crate documentation.
pub(crate) struct CsvReader {
    config: ReaderConfig,
    state: State,
    header: Option<Vec<String>>,
}

impl CsvReader {
    pub(crate) fn new(config: ReaderConfig, source: Box<dyn ByteSource>) -> CsvReader {
        CsvReader {
            config,
            state: State::Unopened(source),
            header: None,
        }
    }

    fn fail(&mut self, e: PluginError) -> PluginError {
        self.state = State::Failed(e.clone());
        e
    }

    fn read_header(&mut self) -> Result<Vec<String>, PluginError> {
        let source = match std::mem::replace(&mut self.state, State::Done) {
            State::Unopened(source) => source,
            other => {
                self.state = other;
                return Err(PluginError::internal("the header was already read"));
            }
        };
        let mut parser = Parser::new(source, self.config)?;
        let Some(row) = parser.next_record()? else {
            return Ok(Vec::new());
        };
        let cells = parser.cells().map_err(|(column, e)| {
            PluginError::encoding(messages::header_undecodable(row, column, &e.bytes, e.encoding))
        })?;
        let header: Vec<String> = cells
            .into_iter()
            .map(|c| match c {
                Cell::Text(s) => s,
                _ => String::new(),
            })
            .collect();
        // NUL characters are UTF-16 or UTF-32 read byte by byte; they never reach a message.
        if let Some(column) = header.iter().position(|h| h.contains('\0')) {
            return Err(PluginError::encoding(messages::header_nul(row, column + 1)));
        }
        self.state = State::Reading(Box::new(parser));
        Ok(header)
    }

    /// Where the next record starts (blank lines skipped, so an LF after a CR is behind it):
    /// `None` before the header, at the end, after a failure, or over transcoded input.
    fn checkpoint_now(&mut self) -> Option<Checkpoint> {
        let header = self.header.as_ref()?;
        let State::Reading(parser) = &mut self.state else {
            return None;
        };
        if let Err(e) = parser.skip_blank_lines() {
            // Reported by the next batch, as it would have been.
            self.fail(e);
            return None;
        }
        let offset = parser.input.raw_position()?;
        Some(Checkpoint {
            offset,
            next_row: parser.row,
            state: resume_state::encode(parser.input.file_encoding(), parser.delimiter, header),
        })
    }

    /// The file's encoding, once the header has been read (for tests and diagnostics).
    #[cfg(test)]
    fn encoding(&self) -> Option<&'static Encoding> {
        match &self.state {
            State::Reading(p) => Some(p.input.file_encoding()),
            _ => None,
        }
    }
}

impl Reader for CsvReader {
    fn header(&mut self) -> Result<Vec<String>, PluginError> {
        if let Some(h) = &self.header {
            return Ok(h.clone());
        }
        if let State::Failed(e) = &self.state {
            return Err(e.clone());
        }
        match self.read_header() {
            Ok(h) => {
                self.header = Some(h.clone());
                Ok(h)
            }
            Err(e) => Err(self.fail(e)),
        }
    }

    fn next_batch(&mut self, max_rows: usize) -> Result<Option<RowBatch>, PluginError> {
        if self.header.is_none() {
            self.header()?;
        }
        let width = self.header.as_ref().map_or(0, Vec::len);
        let parser = match &mut self.state {
            State::Reading(p) => p,
            State::Done | State::Unopened(_) => return Ok(None),
            State::Failed(e) => return Err(e.clone()),
        };
        let mut batch = RowBatch::new();
        let mut covered = 0;
        while covered < max_rows.max(1) {
            let row = match parser.next_record() {
                Ok(Some(row)) => row,
                Ok(None) => {
                    self.state = State::Done;
                    break;
                }
                Err(e) => {
                    let e = self.fail(e);
                    // Hand out the rows read before the failure; the error comes next call.
                    return if batch.is_empty() { Err(e) } else { Ok(Some(batch)) };
                }
            };
            covered += 1;
            if parser.nfields != width {
                let message = format!("{} fields, the header has {width}", parser.nfields);
                batch.push_error(row, ErrorKind::MalformedFile, message);
                continue;
            }
            match parser.cells() {
                Ok(cells) => batch.push_row(row, cells),
                Err((column, e)) => {
                    batch.push_error(row, ErrorKind::Encoding, format!("column {column}: {e}"))
                }
            }
        }
        Ok((!batch.is_empty()).then_some(batch))
    }

    fn checkpoint(&mut self) -> Result<Option<Checkpoint>, PluginError> {
        Ok(self.checkpoint_now())
    }

    fn resume(&mut self, at: &Checkpoint) -> Result<(), PluginError> {
        let (encoding, delimiter, header) = resume_state::decode(&at.state)?;
        if !crate::input::raw_split_is_safe(encoding, delimiter) {
            return Err(PluginError::unsupported(
                "this checkpoint is for transcoded input, which cannot resume from a byte offset",
            ));
        }
        let source = match std::mem::replace(&mut self.state, State::Done) {
            State::Unopened(source) => source,
            other => {
                self.state = other;
                return Err(PluginError::internal("resume must come before anything else"));
            }
        };
        let input = Input::resumed(source, encoding, at.offset);
        let parser = Parser::over(input, delimiter, at.next_row, self.config);
        self.state = State::Reading(Box::new(parser));
        self.header = Some(header);
        Ok(())
    }
}

/// The reader state a checkpoint carries: what the start of the file decided (encoding,
/// delimiter, header), so that a resumed reader never sees that start.
mod resume_state {
    use dataport_plugin_sdk::PluginError;
    use encoding_rs::Encoding;

    /// First byte of the state; a state of another version is refused.
    const VERSION: u8 = 1;

    /// `VERSION`, delimiter, encoding name, header names: each string as a u32 LE length and its
    /// bytes.
    pub(super) fn encode(encoding: &'static Encoding, delimiter: u8, header: &[String]) -> Vec<u8> {
        let mut out = vec![VERSION, delimiter];
        let mut put = |s: &str| {
            out.extend_from_slice(&u32::try_from(s.len()).unwrap_or(u32::MAX).to_le_bytes());
            out.extend_from_slice(s.as_bytes());
        };
        put(encoding.name());
        for name in header {
            put(name);
        }
        out
    }

    pub(super) fn decode(state: &[u8]) -> Result<(&'static Encoding, u8, Vec<String>), PluginError> {
        let refuse =
            || PluginError::unsupported("the checkpoint was made by another version of the csv reader");
        let [VERSION, delimiter, rest @ ..] = state else {
            return Err(refuse());
        };
        let mut rest = rest;
        let mut strings = Vec::new();
        while !rest.is_empty() {
            let (len, tail) = rest.split_first_chunk::<4>().ok_or_else(refuse)?;
            let len = usize::try_from(u32::from_le_bytes(*len)).map_err(|_| refuse())?;
            let (text, tail) = tail.split_at_checked(len).ok_or_else(refuse)?;
            strings.push(String::from_utf8(text.to_vec()).map_err(|_| refuse())?);
            rest = tail;
        }
        let mut strings = strings.into_iter();
        let encoding = strings
            .next()
            .and_then(|name| Encoding::for_label(name.as_bytes()))
            .ok_or_else(refuse)?;
        Ok((encoding, *delimiter, strings.collect()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::input::display_name;

    /// The encoding a reader ended up using, by name (`UTF-8`, `GB18030`, `UTF-16LE`…).
    fn encoding_name(reader: &CsvReader) -> Option<&'static str> {
        reader.encoding().map(display_name)
    }
    use dataport_plugin_sdk::{ReadOnly, read_all};

    fn reader(bytes: &[u8], options: Options) -> CsvReader {
        let config = ReaderConfig::from_options(&options).unwrap();
        CsvReader::new(config, Box::new(ReadOnly(std::io::Cursor::new(bytes.to_vec()))))
    }

    #[test]
    fn sniffing() {
        assert_eq!(sniff_delimiter(b"a,b,c\r\n"), b',');
        assert_eq!(sniff_delimiter(b"a;b;c\r\n1,5;2,5;3\r\n"), b';');
        assert_eq!(sniff_delimiter(b"a\tb\tc,d\n"), b'\t');
        assert_eq!(sniff_delimiter(b"\"a;b;c\",d\n"), b',');
        assert_eq!(sniff_delimiter(b"\r\n\r\na;b\n"), b';');
        assert_eq!(sniff_delimiter(b"\"x\ny;z;w\";q\n"), b';');
        assert_eq!(sniff_delimiter(b"single\n"), b',');
        assert_eq!(sniff_delimiter(b""), b',');
        assert_eq!(sniff_delimiter(b"a;b,c\n"), b',', "a tie goes to the comma");
    }

    #[test]
    fn csv_core_skips_blank_lines_so_we_count_them() {
        // csv-core alone discards the blank lines, which would shift every later row number.
        let mut r = reader(b"h\r\n\r\n\n\rx\r\n", Options::new());
        let (header, rows) = read_all(&mut r, 10).unwrap();
        assert_eq!(header, ["h"]);
        // Row 2 is "\r\n", row 3 "\n", row 4 "\r", so x is on row 5.
        assert_eq!(rows.rows[0].number, 5);
    }

    #[test]
    fn delimiter_option_values() {
        let d = |v: &str| delimiter_option(&Options::new().with("delimiter", v));
        assert_eq!(d("tab").unwrap(), Some(b'\t'));
        assert_eq!(d("\\t").unwrap(), Some(b'\t'));
        assert_eq!(d("|").unwrap(), Some(b'|'));
        assert_eq!(d("\"").unwrap_err().kind, ErrorKind::InvalidOption);
        assert_eq!(d("，").unwrap_err().kind, ErrorKind::InvalidOption);
        assert_eq!(d(",,").unwrap_err().kind, ErrorKind::InvalidOption);
    }

    #[test]
    fn limit_options() {
        let o = Options::new().with("max_fields", "0");
        assert_eq!(
            ReaderConfig::from_options(&o).unwrap_err().kind,
            ErrorKind::InvalidOption
        );
        let o = Options::new().with("max_field_bytes", "lots");
        assert_eq!(
            ReaderConfig::from_options(&o).unwrap_err().kind,
            ErrorKind::InvalidOption
        );
        let c = ReaderConfig::from_options(&Options::new()).unwrap();
        assert_eq!(
            (c.max_field_bytes, c.max_record_bytes, c.max_fields),
            (1 << 20, 8 << 20, 16384)
        );
    }

    #[test]
    fn encoding_used() {
        let mut r = reader(b"a,b\n", Options::new());
        r.header().unwrap();
        assert_eq!(encoding_name(&r), Some("UTF-8"));
        let gbk = encoding_rs::GBK
            .encode("客户编号,客户名称,负责人\r\nC1,北京科技有限公司,张三\r\n")
            .0;
        let mut r = reader(&gbk, Options::new());
        r.header().unwrap();
        assert_eq!(encoding_name(&r), Some("GB18030"));
        // Two bytes are too few to tell GB18030 from Big5, EUC-KR or windows-1252.
        let mut r = reader(b"a,\xB1\xB1\n", Options::new());
        assert_eq!(r.header().unwrap_err().kind, ErrorKind::Encoding);
    }

    #[test]
    fn a_record_of_exactly_the_limits_is_accepted() {
        let o = Options::new()
            .with("max_field_bytes", "3")
            .with("max_record_bytes", "6")
            .with("max_fields", "2");
        let mut r = reader(b"abc,def\nghi,jkl", o);
        let (header, rows) = read_all(&mut r, 10).unwrap();
        assert_eq!(header, ["abc", "def"]);
        assert_eq!(rows.rows[0].cells, [Cell::text("ghi"), Cell::text("jkl")]);
    }

    /// Reads `bytes` in batches of `batch` rows; after every batch, a reader resumed from its
    /// checkpoint over the rest of the bytes must hand out exactly the remaining rows and errors,
    /// with the same numbers and the same header.
    fn check_resume_everywhere(bytes: &[u8], batch: usize) {
        let mut whole = reader(bytes, Options::new());
        let (header, all) = read_all(&mut whole, batch).unwrap();
        let mut r = reader(bytes, Options::new());
        assert_eq!(r.header().unwrap(), header);
        let mut seen = 0;
        let mut seen_errors = 0;
        loop {
            let Some(at) = r.checkpoint().unwrap() else {
                // Only at the end, once the parser is gone.
                assert_eq!(r.next_batch(batch).unwrap(), None);
                break;
            };
            let rest = &bytes[usize::try_from(at.offset).unwrap()..];
            let mut resumed = reader(rest, Options::new());
            resumed.resume(&at).unwrap();
            let (resumed_header, rows) = read_all(&mut resumed, batch).unwrap();
            assert_eq!(resumed_header, header);
            assert_eq!(rows.rows, all.rows[seen..], "rows after offset {}", at.offset);
            assert_eq!(rows.errors, all.errors[seen_errors..]);
            match r.next_batch(batch).unwrap() {
                Some(b) => {
                    seen += b.rows.len();
                    seen_errors += b.errors.len();
                }
                None => break,
            }
        }
        assert_eq!(seen, all.rows.len());
    }

    #[test]
    fn resumes_from_every_checkpoint() {
        // CRLF and a lone CR, blank lines, a quoted field with a line break, a ragged row.
        check_resume_everywhere(
            b"\xEF\xBB\xBFcode,name\r\n\r\nC1,a\r\nC2,\"two\r\nlines\"\r\rC3,c\nC4\n\nC5,e\r\n",
            1,
        );
        check_resume_everywhere(b"code;name\nC1;a\nC2;b\nC3;c\nC4;d\nC5;e", 2);
        let gbk = encoding_rs::GBK
            .encode("客户编号,客户名称\r\nC1,北京科技有限公司\r\nC2,上海贸易有限公司\r\nC3,深圳\r\n")
            .0;
        check_resume_everywhere(&gbk, 1);
    }

    #[test]
    fn transcoded_input_has_no_checkpoint() {
        let utf16: Vec<u8> = [0xFF, 0xFE]
            .into_iter()
            .chain("a,b\r\n1,2\r\n".encode_utf16().flat_map(u16::to_le_bytes))
            .collect();
        let mut r = reader(&utf16, Options::new());
        assert_eq!(r.header().unwrap(), ["a", "b"]);
        assert_eq!(r.checkpoint().unwrap(), None);
    }

    #[test]
    fn a_foreign_state_is_refused() {
        let mut r = reader(b"x\n", Options::new());
        let at = Checkpoint {
            offset: 0,
            next_row: 2,
            state: vec![9, b','],
        };
        assert_eq!(r.resume(&at).unwrap_err().kind, ErrorKind::Unsupported);
        let mut r = reader(b"x\n", Options::new());
        let truncated = Checkpoint {
            state: vec![1, b',', 200, 0, 0, 0, b'U'],
            ..at
        };
        assert_eq!(r.resume(&truncated).unwrap_err().kind, ErrorKind::Unsupported);
    }

    #[test]
    fn next_batch_before_header_reads_the_header_first() {
        let mut r = reader(b"a\n1\n", Options::new());
        let batch = r.next_batch(10).unwrap().unwrap();
        assert_eq!(batch.rows[0].number, 2);
        assert_eq!(r.header().unwrap(), ["a"]);
        assert_eq!(r.next_batch(10).unwrap(), None);
    }
}
