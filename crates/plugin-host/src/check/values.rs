//! The round trip's data: one column of every kind, typed rows the host would send, and whether
//! a value read back means what was written.

use dataport_plugin_sdk::{Cell, Column, ColumnKind, days_from_ymd};

/// One column of each kind, in the order of `rows`' cells.
pub(super) fn columns() -> Vec<Column> {
    [
        ("general", ColumnKind::General),
        ("text", ColumnKind::Text),
        ("integer", ColumnKind::Integer),
        ("decimal2", ColumnKind::Decimal2),
        ("date", ColumnKind::Date),
        ("datetime", ColumnKind::DateTime),
        ("bool", ColumnKind::Bool),
    ]
    .into_iter()
    .map(|(name, kind)| Column::new(name).kind(kind))
    .collect()
}

fn date(y: i32, m: u32, d: u32) -> i32 {
    days_from_ymd(y, m, d).expect("a valid date")
}

/// Rows as the host sends them: typed cells per column kind, awkward text, empty cells.
pub(super) fn rows() -> Vec<Vec<Cell>> {
    const DAY: i64 = 86_400_000_000;
    vec![
        vec![
            Cell::text("北京星云科技有限公司"),
            Cell::text("007"),
            Cell::Int(42),
            Cell::Float(1234.5),
            Cell::Date(date(2023, 10, 1)),
            Cell::DateTime(i64::from(date(2023, 10, 1)) * DAY + 30_600_000_000),
            Cell::Bool(true),
        ],
        vec![
            Cell::text("a|b,c;\"q\"\t\\ '=1+1'"),
            Cell::text("+8613812345678"),
            Cell::Int(-1_234_567),
            Cell::Float(0.1),
            Cell::Date(-1),
            Cell::DateTime(0),
            Cell::Bool(false),
        ],
        vec![
            Cell::text("空值行"),
            Cell::Null,
            Cell::Null,
            Cell::Null,
            Cell::Null,
            Cell::Null,
            Cell::Null,
        ],
        vec![
            Cell::text("line\nbreak\r\nand more"),
            Cell::text("0"),
            Cell::Int(0),
            Cell::Float(-99_999_999.99),
            Cell::Date(date(2099, 12, 31)),
            Cell::DateTime(i64::from(date(2099, 12, 31)) * DAY + 86_399_000_000),
            Cell::Bool(true),
        ],
    ]
}

/// How a cell reads in a message.
pub(super) fn show(cell: &Cell) -> String {
    match cell {
        Cell::Null => "empty".to_owned(),
        Cell::Text(t) => format!("text {t:?}"),
        other => format!("{other:?}"),
    }
}

/// Whether `read` means `written` in a column of `kind`: typed cells compare as values, and a
/// text-only format may return any usual spelling of the value (`12.50`, `2023-10-01`,
/// `2023-10-01 08:30:00`, `true`/`是`).
pub(super) fn same(written: &Cell, read: &Cell) -> bool {
    let text = read.as_text().map(str::trim);
    match (written, read) {
        (Cell::Null, Cell::Null) => true,
        (Cell::Null, Cell::Text(t)) => t.is_empty(),
        (Cell::Text(w), Cell::Text(r)) => w == r,
        (Cell::Int(w), _) => number(read).is_some_and(|r| r == *w as f64),
        (Cell::Float(w), _) => number(read).is_some_and(|r| (r - w).abs() < 0.005),
        (Cell::Date(w), Cell::Date(r)) => w == r,
        (Cell::Date(w), Cell::DateTime(r)) => *r == i64::from(*w) * 86_400_000_000,
        (Cell::Date(w), _) => text.and_then(parse_date) == Some(*w),
        (Cell::DateTime(w), Cell::DateTime(r)) => (w - r).abs() < 1000,
        // A reader may report a midnight instant as its date: the same value.
        (Cell::DateTime(w), Cell::Date(r)) => *w == i64::from(*r) * 86_400_000_000,
        (Cell::DateTime(w), Cell::Float(r)) => ((excel_micros(*r)) - w).abs() < 1000,
        (Cell::DateTime(w), _) => text
            .and_then(parse_datetime)
            .is_some_and(|r| (r - w).abs() < 1000),
        (Cell::Bool(w), Cell::Bool(r)) => w == r,
        (Cell::Bool(w), Cell::Int(r)) => i64::from(*w) == *r,
        (Cell::Bool(w), _) => text.and_then(parse_bool) == Some(*w),
        _ => false,
    }
}

fn number(cell: &Cell) -> Option<f64> {
    match cell {
        Cell::Int(i) => Some(*i as f64),
        Cell::Float(f) => Some(*f),
        Cell::Text(t) => t.trim().parse().ok(),
        _ => None,
    }
}

/// An Excel serial date-time (days since 1899-12-30) as microseconds since 1970.
fn excel_micros(serial: f64) -> i64 {
    ((serial - 25_569.0) * 86_400_000_000.0).round() as i64
}

fn parse_date(t: &str) -> Option<i32> {
    let t = t.get(..10).unwrap_or(t);
    let mut parts = t.split(['-', '/']);
    let y = parts.next()?.parse().ok()?;
    let m = parts.next()?.parse().ok()?;
    let d = parts.next()?.parse().ok()?;
    days_from_ymd(y, m, d)
}

/// `YYYY-MM-DD[T or space]HH:MM:SS[.ffffff][Z]`, as microseconds since 1970 (UTC).
fn parse_datetime(t: &str) -> Option<i64> {
    let days = parse_date(t)?;
    let time = t.get(11..)?.trim_end_matches('Z');
    let (hms, fraction) = time.split_once('.').unwrap_or((time, ""));
    let mut parts = hms.split(':');
    let h: i64 = parts.next()?.parse().ok()?;
    let m: i64 = parts.next()?.parse().ok()?;
    let s: i64 = parts.next().unwrap_or("0").parse().ok()?;
    let micros: i64 = if fraction.is_empty() {
        0
    } else {
        format!("{fraction:0<6}").get(..6)?.parse().ok()?
    };
    Some(i64::from(days) * 86_400_000_000 + ((h * 60 + m) * 60 + s) * 1_000_000 + micros)
}

fn parse_bool(t: &str) -> Option<bool> {
    match t.to_lowercase().as_str() {
        "true" | "yes" | "1" | "是" | "y" => Some(true),
        "false" | "no" | "0" | "否" | "n" => Some(false),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_spellings_of_typed_values_match() {
        let day = date(2023, 10, 1);
        assert!(same(&Cell::Float(1234.5), &Cell::text("1234.50")));
        assert!(!same(&Cell::Float(1234.5), &Cell::text("1234.6")));
        assert!(same(&Cell::Date(day), &Cell::text("2023-10-01")));
        assert!(same(&Cell::Date(day), &Cell::text("2023/10/01")));
        let at = i64::from(day) * 86_400_000_000 + 30_600_000_000;
        assert!(same(&Cell::DateTime(at), &Cell::text("2023-10-01 08:30:00")));
        assert!(same(
            &Cell::DateTime(at),
            &Cell::text("2023-10-01T08:30:00.000000Z")
        ));
        assert!(!same(&Cell::DateTime(at), &Cell::text("2023-10-01 08:31:00")));
        assert!(same(&Cell::Bool(false), &Cell::text("否")));
        assert!(same(&Cell::Int(42), &Cell::Float(42.0)));
        assert!(same(&Cell::Null, &Cell::text("")));
        assert!(!same(&Cell::text("007"), &Cell::text("7")));
        assert!(!same(&Cell::Null, &Cell::text("x")));
    }
}
