//! The CSV writer: UTF-8 (with a BOM by default), CRLF, quoting only where needed (csv-core).

use std::fmt::Write as _;
use std::io::{BufWriter, Write};

use csv_core::{QuoteStyle, Terminator, WriteResult};
use dataport_plugin_sdk::{
    ByteSink, Cell, Column, ColumnKind, Direction, ErrorKind, Options, PluginError, RowBatch, Writer,
    ymd_from_days,
};

use crate::options::declared_options;
use crate::reader::delimiter_option;

const UTF8_BOM: &[u8] = b"\xEF\xBB\xBF";

/// Validated writer options.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct WriterConfig {
    pub(crate) bom: bool,
    pub(crate) delimiter: u8,
}

impl WriterConfig {
    pub(crate) fn from_options(options: &Options) -> Result<WriterConfig, PluginError> {
        options.check_declared(&declared_options(), Direction::Write)?;
        Ok(WriterConfig {
            bom: options.get_bool("bom")?.unwrap_or(true),
            delimiter: delimiter_option(options)?.unwrap_or(b','),
        })
    }
}

/// Writes one CSV file.
pub(crate) struct CsvWriter {
    out: BufWriter<Box<dyn ByteSink>>,
    csv: csv_core::Writer,
    /// csv-core writes into this, we copy it to `out`.
    scratch: Box<[u8]>,
    /// The text of the cell being formatted.
    text: String,
    bom: bool,
    started: bool,
    /// The column kinds, once the header is written.
    kinds: Option<Vec<ColumnKind>>,
    finished: bool,
}

impl CsvWriter {
    pub(crate) fn new(config: WriterConfig, sink: Box<dyn ByteSink>) -> CsvWriter {
        let csv = csv_core::WriterBuilder::new()
            .delimiter(config.delimiter)
            .terminator(Terminator::CRLF)
            .quote_style(QuoteStyle::Necessary)
            .build();
        CsvWriter {
            out: BufWriter::with_capacity(64 * 1024, sink),
            csv,
            scratch: vec![0; 4096].into_boxed_slice(),
            text: String::new(),
            bom: config.bom,
            started: false,
            kinds: None,
            finished: false,
        }
    }

    /// Writes the BOM before the first byte of output.
    fn start(&mut self) -> Result<(), PluginError> {
        if self.finished {
            return Err(PluginError::new(
                ErrorKind::InvalidArgument,
                "the csv writer is already finished",
            ));
        }
        if !self.started {
            self.started = true;
            if self.bom {
                self.out.write_all(UTF8_BOM)?;
            }
        }
        Ok(())
    }

    /// Writes one field (quoted if it needs to be); the delimiter between fields comes from
    /// [`CsvWriter::end_field`].
    fn write_field(&mut self, mut field: &[u8]) -> Result<(), PluginError> {
        loop {
            let (result, nin, nout) = self.csv.field(field, &mut self.scratch);
            self.out.write_all(&self.scratch[..nout])?;
            field = &field[nin..];
            if result == WriteResult::InputEmpty {
                return Ok(());
            }
        }
    }

    /// Writes the delimiter (`last == false`) or the record terminator.
    fn end_field(&mut self, last: bool) -> Result<(), PluginError> {
        let (result, nout) = if last {
            self.csv.terminator(&mut self.scratch)
        } else {
            self.csv.delimiter(&mut self.scratch)
        };
        self.out.write_all(&self.scratch[..nout])?;
        // The scratch buffer is empty at each call and a delimiter or terminator with its
        // closing quote takes at most 4 bytes.
        if result == WriteResult::InputEmpty {
            Ok(())
        } else {
            Err(PluginError::internal("csv-core could not end a field"))
        }
    }

    fn write_record<'a>(
        &mut self,
        fields: impl ExactSizeIterator<Item = Field<'a>>,
    ) -> Result<(), PluginError> {
        // A record without fields (no columns at all) is not written: a line would read back
        // as a blank line or, as csv-core writes it, as `""`, one empty field.
        let n = fields.len();
        for (i, field) in fields.enumerate() {
            match field {
                Field::Name(name) => self.write_field(name.as_bytes())?,
                Field::Cell(cell, kind) => {
                    let mut text = std::mem::take(&mut self.text);
                    text.clear();
                    format_cell(cell, kind, &mut text);
                    let written = self.write_field(text.as_bytes());
                    self.text = text;
                    written?;
                }
            }
            self.end_field(i + 1 == n)?;
        }
        Ok(())
    }
}

/// What a record is made of: header names or cells of a known column kind.
enum Field<'a> {
    Name(&'a str),
    Cell(&'a Cell, ColumnKind),
}

/// Formats a cell for a CSV file into `out` (which is empty).
pub(crate) fn format_cell(cell: &Cell, kind: ColumnKind, out: &mut String) {
    // Writing to a String cannot fail.
    let _ = match cell {
        Cell::Null => Ok(()),
        Cell::Text(s) | Cell::Formula(s) => {
            out.push_str(s);
            Ok(())
        }
        Cell::Int(v) => write!(out, "{v}"),
        Cell::Float(v) if kind == ColumnKind::Decimal2 => write!(out, "{v:.2}"),
        Cell::Float(v) => write!(out, "{v}"),
        Cell::Bool(v) => write!(out, "{v}"),
        Cell::Date(days) => {
            let (y, m, d) = ymd_from_days(*days);
            write!(out, "{y:04}-{m:02}-{d:02}")
        }
        Cell::DateTime(micros) => {
            let secs = micros.div_euclid(1_000_000);
            let days = secs.div_euclid(86_400);
            let of_day = secs.rem_euclid(86_400);
            // |micros| < 2^63 keeps |days| below 107 million, well inside i32.
            let (y, m, d) = ymd_from_days(i32::try_from(days).unwrap_or(i32::MAX));
            write!(
                out,
                "{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02}",
                of_day / 3600,
                of_day / 60 % 60,
                of_day % 60
            )
        }
    };
}

impl Writer for CsvWriter {
    fn write_header(&mut self, columns: &[Column]) -> Result<(), PluginError> {
        if self.kinds.is_some() {
            return Err(PluginError::new(
                ErrorKind::InvalidArgument,
                "the csv header was already written (csv files have one sheet)",
            ));
        }
        self.start()?;
        self.write_record(columns.iter().map(|c| Field::Name(&c.name)))?;
        self.kinds = Some(columns.iter().map(|c| c.kind).collect());
        Ok(())
    }

    fn write_rows(&mut self, rows: &RowBatch) -> Result<(), PluginError> {
        if self.kinds.is_none() {
            return Err(PluginError::new(
                ErrorKind::InvalidArgument,
                "write_header must be called before write_rows",
            ));
        }
        self.start()?;
        let kinds = self.kinds.take().unwrap_or_default();
        let result = rows.rows.iter().try_for_each(|row| {
            if row.cells.len() != kinds.len() {
                return Err(PluginError::new(
                    ErrorKind::InvalidArgument,
                    format!(
                        "a row has {} cells, the header has {} columns",
                        row.cells.len(),
                        kinds.len()
                    ),
                ));
            }
            self.write_record(
                row.cells
                    .iter()
                    .zip(kinds.iter())
                    .map(|(c, k)| Field::Cell(c, *k)),
            )
        });
        self.kinds = Some(kinds);
        result
    }

    fn finish(&mut self) -> Result<(), PluginError> {
        self.start()?;
        self.finished = true;
        self.out.flush()?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use dataport_plugin_sdk::days_from_ymd;

    fn fmt(cell: Cell, kind: ColumnKind) -> String {
        let mut s = String::new();
        format_cell(&cell, kind, &mut s);
        s
    }

    #[test]
    fn cell_formats() {
        assert_eq!(fmt(Cell::Null, ColumnKind::General), "");
        assert_eq!(fmt(Cell::text(" a "), ColumnKind::General), " a ");
        assert_eq!(fmt(Cell::Formula("=1+1".into()), ColumnKind::General), "=1+1");
        assert_eq!(fmt(Cell::Int(-42), ColumnKind::Decimal2), "-42");
        assert_eq!(fmt(Cell::Float(1234.5), ColumnKind::Decimal2), "1234.50");
        assert_eq!(fmt(Cell::Float(0.125), ColumnKind::Decimal2), "0.12");
        assert_eq!(fmt(Cell::Float(1234.5), ColumnKind::General), "1234.5");
        assert_eq!(
            fmt(Cell::Float(0.1 + 0.2), ColumnKind::General),
            "0.30000000000000004"
        );
        assert_eq!(
            fmt(Cell::Float(1e21), ColumnKind::General),
            "1000000000000000000000"
        );
        assert_eq!(fmt(Cell::Bool(true), ColumnKind::General), "true");
        assert_eq!(fmt(Cell::Bool(false), ColumnKind::Bool), "false");
        let day = days_from_ymd(2023, 10, 1).unwrap();
        assert_eq!(fmt(Cell::Date(day), ColumnKind::Date), "2023-10-01");
        let micros = i64::from(day) * 86_400_000_000 + ((13 * 60 + 5) * 60 + 9) * 1_000_000 + 999_999;
        assert_eq!(
            fmt(Cell::DateTime(micros), ColumnKind::DateTime),
            "2023-10-01 13:05:09"
        );
        assert_eq!(
            fmt(Cell::DateTime(-1), ColumnKind::DateTime),
            "1969-12-31 23:59:59"
        );
        // The extremes do not panic.
        assert!(fmt(Cell::DateTime(i64::MIN), ColumnKind::DateTime).starts_with("-290308-"));
        assert!(fmt(Cell::DateTime(i64::MAX), ColumnKind::DateTime).starts_with("294247-"));
    }

    #[test]
    fn bom_option() {
        assert!(WriterConfig::from_options(&Options::new()).unwrap().bom);
        let o = Options::new().with("bom", "false");
        assert!(!WriterConfig::from_options(&o).unwrap().bom);
        let o = Options::new().with("encoding", "gbk");
        assert_eq!(
            WriterConfig::from_options(&o).unwrap_err().kind,
            ErrorKind::InvalidOption
        );
    }
}
