//! The owned data model shared by plugins and the host: cells, rows, row errors, batches.

use crate::error::ErrorKind;

/// One typed cell value.
///
/// Readers produce the most specific type the format knows (an xlsx date cell is a
/// [`Cell::Date`], a CSV field is always [`Cell::Text`]); the host's core decides what a value
/// means for a field. Writers receive what the export wants written and format it for the file.
#[derive(Debug, Clone, PartialEq)]
pub enum Cell {
    /// An empty cell.
    Null,
    /// Text, exactly as in the file (no trimming).
    Text(String),
    /// A whole number.
    Int(i64),
    /// A floating-point number.
    Float(f64),
    /// A boolean.
    Bool(bool),
    /// A calendar date: days since 1970-01-01 (negative before). See [`days_from_ymd`].
    Date(i32),
    /// An instant: microseconds since 1970-01-01T00:00:00Z.
    DateTime(i64),
    /// A formula, with its text as written in the file (e.g. `=SUM(A1:A3)`). Imports refuse
    /// formulas, so readers must report them as formulas rather than as their cached value.
    Formula(String),
}

impl Cell {
    /// A text cell.
    pub fn text(s: impl Into<String>) -> Cell {
        Cell::Text(s.into())
    }

    /// A date cell, or `None` if the date does not exist.
    pub fn date(year: i32, month: u32, day: u32) -> Option<Cell> {
        days_from_ymd(year, month, day).map(Cell::Date)
    }

    /// Whether this is [`Cell::Null`].
    pub fn is_null(&self) -> bool {
        matches!(self, Cell::Null)
    }

    /// The text of a [`Cell::Text`], `None` for every other variant (formulas included).
    pub fn as_text(&self) -> Option<&str> {
        match self {
            Cell::Text(s) => Some(s),
            _ => None,
        }
    }
}

impl From<&str> for Cell {
    fn from(s: &str) -> Cell {
        Cell::Text(s.to_owned())
    }
}

impl From<String> for Cell {
    fn from(s: String) -> Cell {
        Cell::Text(s)
    }
}

impl From<i64> for Cell {
    fn from(v: i64) -> Cell {
        Cell::Int(v)
    }
}

impl From<f64> for Cell {
    fn from(v: f64) -> Cell {
        Cell::Float(v)
    }
}

impl From<bool> for Cell {
    fn from(v: bool) -> Cell {
        Cell::Bool(v)
    }
}

/// One data row with its 1-based row number in the source file (for a file with a header line,
/// the first data row is row 2). Writers ignore `number`.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Row {
    pub number: u64,
    pub cells: Vec<Cell>,
}

/// A problem with one source row that does not fail the whole file, e.g. a ragged CSV row
/// ([`ErrorKind::MalformedFile`]) or an undecodable line ([`ErrorKind::Encoding`]).
#[derive(Debug, Clone, PartialEq)]
pub struct RowError {
    /// 1-based row number in the source file.
    pub row: u64,
    pub kind: ErrorKind,
    /// Human-readable, in English; the host adds the row number and translates the kind itself,
    /// so say what is wrong (`"3 fields, the header has 4"`), not where.
    pub message: String,
}

/// A batch of rows and the row errors met while reading them.
///
/// A reader returns rows in file order. A row with an error may be left out of `rows` (the usual
/// choice) or included as well as reported; the host reports every entry of `errors` either way.
/// A batch may hold only errors. Writers get `errors` empty and ignore it.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct RowBatch {
    pub rows: Vec<Row>,
    pub errors: Vec<RowError>,
}

impl RowBatch {
    /// An empty batch.
    pub fn new() -> RowBatch {
        RowBatch::default()
    }

    /// Appends a row.
    pub fn push_row(&mut self, number: u64, cells: Vec<Cell>) {
        self.rows.push(Row { number, cells });
    }

    /// Appends a row error.
    pub fn push_error(&mut self, row: u64, kind: ErrorKind, message: impl Into<String>) {
        self.errors.push(RowError {
            row,
            kind,
            message: message.into(),
        });
    }

    /// Whether the batch holds neither rows nor errors.
    pub fn is_empty(&self) -> bool {
        self.rows.is_empty() && self.errors.is_empty()
    }

    /// Number of source rows the batch covers (rows plus errors about rows not included).
    pub fn source_rows(&self) -> usize {
        if self.errors.is_empty() {
            return self.rows.len();
        }
        // A set, not a scan per error: a batch of a badly broken file can hold thousands of each.
        let included: std::collections::HashSet<u64> = self.rows.iter().map(|r| r.number).collect();
        let excluded: std::collections::HashSet<u64> = self
            .errors
            .iter()
            .map(|e| e.row)
            .filter(|row| !included.contains(row))
            .collect();
        self.rows.len() + excluded.len()
    }

    /// Moves the rows and errors of `other` to the end of `self`.
    pub fn append(&mut self, other: &mut RowBatch) {
        self.rows.append(&mut other.rows);
        self.errors.append(&mut other.errors);
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date, or `None` if the date does not exist.
pub fn days_from_ymd(year: i32, month: u32, day: u32) -> Option<i32> {
    if !(1..=12).contains(&month) || day == 0 || day > days_in_month(year, month) {
        return None;
    }
    // Howard Hinnant's days_from_civil: counts in 400-year eras starting on March 1st, so the
    // leap day is the last day of the shifted year.
    let y = i64::from(year) - i64::from(month <= 2);
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let mp = i64::from((month + 9) % 12);
    let doy = (153 * mp + 2) / 5 + i64::from(day) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    i32::try_from(era * 146_097 + doe - 719_468).ok()
}

/// The `(year, month, day)` of a day count since 1970-01-01 (inverse of [`days_from_ymd`]).
pub fn ymd_from_days(days: i32) -> (i32, u32, u32) {
    let z = i64::from(days) + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    // Lossless for every i32 day count: |year| stays below 6 million (see the extremes test),
    // month is 1..=12 and day 1..=31.
    (year as i32, month as u32, day as u32)
}

fn days_in_month(year: i32, month: u32) -> u32 {
    match month {
        2 if year % 4 == 0 && (year % 100 != 0 || year % 400 == 0) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_dates() {
        assert_eq!(days_from_ymd(1970, 1, 1), Some(0));
        assert_eq!(days_from_ymd(1969, 12, 31), Some(-1));
        assert_eq!(days_from_ymd(2000, 2, 29), Some(11_016));
        assert_eq!(days_from_ymd(2023, 10, 1), Some(19_631));
        assert_eq!(days_from_ymd(1900, 1, 1), Some(-25_567));
        assert_eq!(ymd_from_days(19_631), (2023, 10, 1));
        assert_eq!(ymd_from_days(-25_567), (1900, 1, 1));
    }

    #[test]
    fn invalid_dates_are_refused() {
        assert_eq!(days_from_ymd(2023, 2, 29), None);
        assert_eq!(days_from_ymd(1900, 2, 29), None);
        assert_eq!(days_from_ymd(2023, 13, 1), None);
        assert_eq!(days_from_ymd(2023, 4, 31), None);
        assert_eq!(days_from_ymd(2023, 4, 0), None);
        assert!(Cell::date(2024, 2, 29).is_some());
    }

    #[test]
    fn round_trip_over_centuries() {
        for days in (-800_000..800_000).step_by(997) {
            let (y, m, d) = ymd_from_days(days);
            assert_eq!(days_from_ymd(y, m, d), Some(days), "{y}-{m}-{d}");
        }
    }

    #[test]
    fn extreme_day_counts_convert_without_overflow() {
        // Plugins may send any i32 as a date; the conversions must neither overflow nor lose it.
        for days in [i32::MIN, i32::MIN + 1, -1, 0, i32::MAX - 1, i32::MAX] {
            let (y, m, d) = ymd_from_days(days);
            assert_eq!(days_from_ymd(y, m, d), Some(days), "{y}-{m}-{d}");
        }
        assert_eq!(ymd_from_days(i32::MAX).0, 5_881_580);
        assert_eq!(ymd_from_days(i32::MIN).0, -5_877_641);
        // Years whose day count does not fit an i32 are no date rather than a wrapped one.
        assert_eq!(days_from_ymd(i32::MAX, 12, 31), None);
        assert_eq!(days_from_ymd(i32::MIN, 1, 1), None);
        assert_eq!(Cell::date(i32::MAX, 1, 1), None);
    }

    #[test]
    fn batch_helpers() {
        let mut b = RowBatch::new();
        assert!(b.is_empty());
        b.push_row(2, vec!["a".into(), 1i64.into()]);
        b.push_error(3, ErrorKind::MalformedFile, "ragged");
        b.push_error(2, ErrorKind::Encoding, "also reported");
        assert_eq!(b.source_rows(), 2);
        let mut other = RowBatch::new();
        other.push_row(4, vec![Cell::Null]);
        b.append(&mut other);
        assert!(other.is_empty());
        assert_eq!(b.rows.len(), 2);
        assert_eq!(b.rows[0].cells[0].as_text(), Some("a"));
        assert_eq!(Cell::Formula("=1".into()).as_text(), None);
    }
}
