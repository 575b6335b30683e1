//! CSV exports from PostgreSQL at `COPY` speed: the rows come from one
//! `COPY (SELECT …) TO STDOUT (FORMAT csv)` ([`dataport_store::Snapshot::copy_csv`]) and are
//! rewritten here, as they stream, into exactly the bytes the bundled csv plugin writes for the
//! same records on the page path: CRLF line ends, quotes only where needed (the plugin's own
//! csv-core writer settings), the formula escape on text, amounts with two decimals, 是/否,
//! and dates as the plugin formats them. The BOM and the header still come from the plugin.
//!
//! Only the bundled csv plugin of this build, with no option but `bom`, writes through this
//! path ([`serves`]); any other writer, or SQLite, takes the pages. The end-to-end tests
//! compare this path's file with the page path's, byte for byte, filtered and not.

use std::io::{self, BufRead, Write};

use csv_core::{QuoteStyle, ReadRecordResult, Terminator, WriteResult};
use dataport_core::text::needs_export_escape;
use dataport_core::{FieldKind, FieldValue};
use dataport_plugin_sdk::Plugin;
use dataport_proto::v1;

use super::Layout;
use crate::formats::Chosen;

/// Records between two progress events.
const PROGRESS_ROWS: u64 = 5_000;
/// Bytes gathered before they go to the sink.
const OUT_BYTES: usize = 64 * 1024;

/// Whether an export in `chosen` with `options` may take the copy path: the bundled csv
/// plugin (the one built with this server, whose output this module reproduces), its `csv`
/// format and no option but `bom` (which only changes what the plugin writes itself).
pub(super) fn serves(chosen: &Chosen, options: &[v1::FormatOption]) -> bool {
    let descriptor = chosen.plugin.descriptor();
    descriptor.name == "csv"
        && descriptor.version == env!("CARGO_PKG_VERSION")
        && chosen.format == "csv"
        && !chosen.is_layout()
        && options.iter().all(|o| o.key.trim().eq_ignore_ascii_case("bom"))
}

/// How a column's PostgreSQL text becomes the plugin's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Text,
    Cents,
    Date,
    Bool,
}

impl Kind {
    fn of(kind: FieldKind) -> Kind {
        match kind {
            FieldKind::Decimal => Kind::Cents,
            FieldKind::Date => Kind::Date,
            FieldKind::Bool => Kind::Bool,
            _ => Kind::Text,
        }
    }
}

/// Why a copy stopped.
#[derive(Debug)]
pub(super) enum CopyError {
    /// Writing to the client failed (it went away, as the sink reports).
    Write(io::Error),
    /// Reading from PostgreSQL failed.
    Read(io::Error),
    /// A value is not what its column holds (a record number counts from 1).
    Corrupt(String),
    /// The progress callback said stop.
    Stopped,
}

/// Rewrites the `COPY` output `rows` of `layout`'s columns (preceded by an unasked-for `code`
/// when `leading_code`) into `out`. Calls `progress` with the count every few thousand
/// records and at the end; it returns `false` to stop. Returns the number of records.
pub(super) fn transcode(
    rows: &mut dyn BufRead,
    layout: &Layout,
    leading_code: bool,
    out: &mut dyn Write,
    mut progress: impl FnMut(u64) -> bool,
) -> Result<u64, CopyError> {
    let kinds: Vec<Kind> = layout.fields.iter().map(|f| Kind::of(f.kind)).collect();
    let skip = usize::from(leading_code);
    let width = kinds.len() + skip;
    let mut reader = csv_core::Reader::new();
    let mut fields = vec![0u8; 16 * 1024];
    let mut ends = vec![0usize; width + 1];
    let (mut filled, mut ended) = (0, 0);
    let mut writer = Output::new(out);
    let mut count = 0u64;
    loop {
        let input = rows.fill_buf().map_err(CopyError::Read)?;
        let (result, read, written, ends_written) =
            reader.read_record(input, &mut fields[filled..], &mut ends[ended..]);
        rows.consume(read);
        filled += written;
        ended += ends_written;
        match result {
            ReadRecordResult::InputEmpty => {}
            ReadRecordResult::OutputFull => fields.resize(fields.len() * 2, 0),
            ReadRecordResult::OutputEndsFull => ends.resize(ends.len() * 2, 0),
            ReadRecordResult::Record => {
                count += 1;
                if ended != width {
                    return Err(CopyError::Corrupt(format!(
                        "record {count} of the copy has {ended} columns, the export asked for {width}"
                    )));
                }
                let mut start = 0;
                for (i, &end) in ends[..ended].iter().enumerate() {
                    let value = &fields[start..end];
                    start = end;
                    if i >= skip {
                        let last = i + 1 == width;
                        writer.value(kinds[i - skip], value, count)?;
                        writer.end_field(last).map_err(CopyError::Write)?;
                    }
                }
                (filled, ended) = (0, 0);
                if count.is_multiple_of(PROGRESS_ROWS) && !progress(count) {
                    return Err(CopyError::Stopped);
                }
            }
            ReadRecordResult::End => break,
        }
    }
    writer.flush().map_err(CopyError::Write)?;
    if !count.is_multiple_of(PROGRESS_ROWS) && !progress(count) {
        return Err(CopyError::Stopped);
    }
    Ok(count)
}

/// The file's bytes: csv-core set up as the plugin sets it up, into a buffer that goes to the
/// sink when full.
struct Output<'a> {
    sink: &'a mut dyn Write,
    csv: csv_core::Writer,
    buf: Box<[u8]>,
    len: usize,
    /// A value being rewritten (an escaped text, an amount, a date).
    scratch: Vec<u8>,
    yes: String,
    no: String,
}

impl<'a> Output<'a> {
    fn new(sink: &'a mut dyn Write) -> Output<'a> {
        Output {
            sink,
            csv: csv_core::WriterBuilder::new()
                .delimiter(b',')
                .terminator(Terminator::CRLF)
                .quote_style(QuoteStyle::Necessary)
                .build(),
            buf: vec![0; OUT_BYTES].into_boxed_slice(),
            len: 0,
            scratch: Vec::with_capacity(64),
            yes: FieldValue::Bool(true).display(),
            no: FieldValue::Bool(false).display(),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        self.sink.write_all(&self.buf[..self.len])?;
        self.len = 0;
        Ok(())
    }

    /// Writes one value of PostgreSQL's text as the plugin writes the cell of a record.
    fn value(&mut self, kind: Kind, value: &[u8], record: u64) -> Result<(), CopyError> {
        let mut scratch = std::mem::take(&mut self.scratch);
        scratch.clear();
        let field: &[u8] = match kind {
            _ if value.is_empty() => value,
            Kind::Text if needs_export_escape(value) => {
                scratch.push(b'\'');
                scratch.extend_from_slice(value);
                &scratch
            }
            Kind::Text => value,
            Kind::Cents => {
                let cents = parse_int(value).ok_or_else(|| corrupt(record, "an amount", value))?;
                amount(cents, &mut scratch);
                &scratch
            }
            Kind::Date => match date(value, &mut scratch) {
                Some(true) => value,
                Some(false) => &scratch,
                None => return Err(corrupt(record, "a date", value)),
            },
            Kind::Bool => match value {
                b"t" => self.yes.as_bytes(),
                b"f" => self.no.as_bytes(),
                _ => return Err(corrupt(record, "a yes/no value", value)),
            },
        };
        let written = write_field(
            &mut self.csv,
            field,
            &mut self.buf,
            &mut self.len,
            &mut *self.sink,
        );
        self.scratch = scratch;
        written.map_err(CopyError::Write)
    }

    /// The delimiter after a field, or the record's line end after its last.
    fn end_field(&mut self, last: bool) -> io::Result<()> {
        // A delimiter or line end with its closing quote is at most 4 bytes.
        if self.buf.len() - self.len < 8 {
            self.flush()?;
        }
        let out = &mut self.buf[self.len..];
        let (result, n) = if last {
            self.csv.terminator(out)
        } else {
            self.csv.delimiter(out)
        };
        self.len += n;
        debug_assert_eq!(result, WriteResult::InputEmpty);
        Ok(())
    }
}

/// One field into `buf`, sending full buffers to `sink` (split from [`Output`] so the field
/// may borrow the output's own strings).
fn write_field(
    csv: &mut csv_core::Writer,
    mut field: &[u8],
    buf: &mut [u8],
    len: &mut usize,
    sink: &mut dyn Write,
) -> io::Result<()> {
    loop {
        let (result, read, written) = csv.field(field, &mut buf[*len..]);
        *len += written;
        field = &field[read..];
        if result == WriteResult::InputEmpty {
            return Ok(());
        }
        sink.write_all(&buf[..*len])?;
        *len = 0;
    }
}

fn corrupt(record: u64, what: &str, value: &[u8]) -> CopyError {
    CopyError::Corrupt(format!(
        "record {record} of the copy has `{}` where {what} belongs",
        String::from_utf8_lossy(value)
    ))
}

fn parse_int(value: &[u8]) -> Option<i64> {
    std::str::from_utf8(value).ok()?.parse().ok()
}

/// An amount in cents as the plugin writes the number `cents / 100` in a two-decimal column
/// (`{:.2}` of the float): digit by digit where that is exact, as the float beyond.
fn amount(cents: i64, out: &mut Vec<u8>) {
    // Below 10^15 cents the float is within 0.001 of the amount, so two decimals are exact.
    if cents.unsigned_abs() < 1_000_000_000_000_000 {
        if cents < 0 {
            out.push(b'-');
        }
        let abs = cents.unsigned_abs();
        let _ = write!(out, "{}.{:02}", abs / 100, abs % 100);
    } else {
        let _ = write!(out, "{:.2}", cents as f64 / 100.0);
    }
}

/// A PostgreSQL ISO date (`2023-10-01`, `0044-03-15 BC`) as the plugin writes the date cell of
/// the same day: `Some(true)` when that is the value itself, `Some(false)` when it is now in
/// `out` (a year the plugin pads differently, or a day it cannot place, which it leaves
/// empty), `None` when the value is not a date.
fn date(value: &[u8], out: &mut Vec<u8>) -> Option<bool> {
    use dataport_plugin_sdk::{days_from_ymd, ymd_from_days};
    let text = std::str::from_utf8(value).ok()?;
    let (ymd, bc) = match text.strip_suffix(" BC") {
        Some(ymd) => (ymd, true),
        None => (text, false),
    };
    let mut parts = ymd.splitn(3, '-');
    let year: i32 = parts.next()?.parse().ok()?;
    let month: u32 = parts.next()?.parse().ok()?;
    let day: u32 = parts.next()?.parse().ok()?;
    // 1 BC is year 0, as chrono (which the page path decodes into) counts.
    let year = if bc { 1 - year } else { year };
    let Some(days) = days_from_ymd(year, month, day) else {
        return Some(false);
    };
    let (y, m, d) = ymd_from_days(days);
    let _ = write!(out, "{y:04}-{m:02}-{d:02}");
    Some(out.as_slice() == value)
}

#[cfg(test)]
mod tests {
    use super::*;
    use dataport_core::{Locale, Module};

    fn run(layout: &Layout, leading_code: bool, copy: &str) -> Result<String, CopyError> {
        let mut out = Vec::new();
        transcode(&mut copy.as_bytes(), layout, leading_code, &mut out, |_| true)?;
        Ok(String::from_utf8(out).unwrap())
    }

    #[test]
    fn values_become_what_the_plugin_writes() {
        let keys = ["code", "name", "contract_amount", "created_at", "remarks"].map(String::from);
        let layout = Layout::for_export(Module::Customers, &keys, Locale::ZhCn).unwrap();
        let copy = "C1,=SUM(A1),5,2023-10-01,\"\"\n\
                    C2,\"a,\"\"b\"\"\nc\",-5,0044-03-15 BC,''+1\n\
                    C3,x,,,\"\r\"\n\
                    C4,y,123456789012345,10000-01-01,@me\n";
        assert_eq!(
            run(&layout, false, copy).unwrap(),
            "C1,'=SUM(A1),0.05,2023-10-01,\r\n\
             C2,\"a,\"\"b\"\"\nc\",-0.05,-043-03-15,'''+1\r\n\
             C3,x,,,\"'\r\"\r\n\
             C4,y,1234567890123.45,10000-01-01,'@me\r\n"
        );
    }

    #[test]
    fn a_lone_empty_column_is_quoted_and_a_leading_code_is_dropped() {
        let layout = Layout::for_export(Module::Contacts, &["is_primary".into()], Locale::ZhCn).unwrap();
        assert_eq!(
            run(&layout, true, "K1,t\nK2,\nK3,f\n").unwrap(),
            "是\r\n\"\"\r\n否\r\n"
        );
    }

    #[test]
    fn bad_values_name_their_record() {
        let layout = Layout::for_export(Module::Contacts, &["is_primary".into()], Locale::ZhCn).unwrap();
        let Err(CopyError::Corrupt(message)) = run(&layout, true, "K1,t\nK2,maybe\n") else {
            panic!("a bad boolean must fail");
        };
        assert!(
            message.contains("record 2") && message.contains("maybe"),
            "{message}"
        );
        assert!(matches!(
            run(&layout, true, "K1,t,x\n"),
            Err(CopyError::Corrupt(_))
        ));
    }

    #[test]
    fn amounts_match_the_float_formatting_of_the_plugin() {
        for cents in [
            0,
            1,
            -1,
            99,
            -100,
            12_345,
            999_999_999_999_999,
            -999_999_999_999_999,
            i64::MAX,
            i64::MIN,
        ] {
            let mut digits = Vec::new();
            amount(cents, &mut digits);
            assert_eq!(
                String::from_utf8(digits).unwrap(),
                format!("{:.2}", cents as f64 / 100.0),
                "{cents}"
            );
        }
    }
}
