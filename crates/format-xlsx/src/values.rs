//! Values: numbers and Excel serial dates to SDK [`Cell`]s and back.
//!
//! Excel stores dates as a number of days (the "serial") with the time of day as the fraction,
//! counted in the 1900 system from 1900-01-00 (so 1 is 1900-01-01) and including Lotus 1-2-3's
//! non-existent 1900-02-29 as serial 60, or in the 1904 system from 1904-01-01 (serial 0).

use dataport_plugin_sdk::{Cell, days_from_ymd, ymd_from_days};

const MS_PER_DAY: i64 = 86_400_000;
const MICROS_PER_DAY: i64 = 86_400_000_000;
/// 2^53: integers below this are exact in an `f64`.
pub(crate) const EXACT_INT: f64 = 9_007_199_254_740_992.0;
/// Days from 1899-12-30 (1900 system serial 0 for dates from 1900-03-01 on) to 1970-01-01.
const SERIAL_1900_TO_UNIX: i64 = 25_569;
/// Days from 1904-01-01 (1904 system serial 0) to 1970-01-01.
const SERIAL_1904_TO_UNIX: i64 = 24_107;
/// 1900-03-01 as days since 1970: the first date after the phantom 1900-02-29.
const MARCH_1900: i32 = -25_508;
/// 1900-01-01 as days since 1970: the first date of the 1900 system.
const JAN_1900: i32 = -25_567;
/// 9999-12-31 as days since 1970: Excel's last date.
const DEC_9999: i32 = 2_932_896;

/// A number as the most exact cell: an integer-valued `f64` below 2^53 is an [`Cell::Int`] (so a
/// phone number 13812345678 stays exactly that), anything else a [`Cell::Float`].
pub(crate) fn number(v: f64) -> Cell {
    if v.is_finite() && v.fract() == 0.0 && v.abs() < EXACT_INT {
        // Exact: integer-valued and below 2^53.
        Cell::Int(v as i64)
    } else {
        Cell::Float(v)
    }
}

/// A date-formatted serial as [`Cell::Date`] (time of day zero, to the millisecond) or
/// [`Cell::DateTime`]. Serials outside Excel's range (before 1900 or after 9999) are not dates
/// Excel can show, so they stay numbers.
pub(crate) fn serial_to_cell(serial: f64, is_1904: bool) -> Cell {
    if !serial.is_finite() || !(0.0..3_000_000.0).contains(&serial) {
        return number(serial);
    }
    // Excel's own resolution is the millisecond; rounding there absorbs the float error of the
    // fraction (10:30:15 is 0.4376736111…).
    let ms = (serial * MS_PER_DAY as f64).round() as i64;
    let (day, ms_of_day) = (ms.div_euclid(MS_PER_DAY), ms.rem_euclid(MS_PER_DAY));
    let days = if is_1904 {
        day - SERIAL_1904_TO_UNIX
    } else if day < 60 {
        // Before the phantom 1900-02-29 the 1900 system is off by one.
        day - SERIAL_1900_TO_UNIX + 1
    } else {
        day - SERIAL_1900_TO_UNIX
    };
    let Ok(days) = i32::try_from(days) else {
        return number(serial);
    };
    if ms_of_day == 0 {
        Cell::Date(days)
    } else {
        Cell::DateTime(i64::from(days) * MICROS_PER_DAY + ms_of_day * 1000)
    }
}

/// The 1900-system serial of a date, or `None` before 1900-01-01 or after 9999-12-31 (Excel
/// cannot show those as dates).
pub(crate) fn date_serial(days: i32) -> Option<f64> {
    match days {
        MARCH_1900..=DEC_9999 => Some(f64::from(days) + SERIAL_1900_TO_UNIX as f64),
        JAN_1900..MARCH_1900 => Some(f64::from(days) + (SERIAL_1900_TO_UNIX - 1) as f64),
        _ => None,
    }
}

/// The 1900-system serial of an instant (microseconds since 1970), or `None` out of range.
pub(crate) fn datetime_serial(micros: i64) -> Option<f64> {
    let days = i32::try_from(micros.div_euclid(MICROS_PER_DAY)).ok()?;
    let of_day = micros.rem_euclid(MICROS_PER_DAY);
    Some(date_serial(days)? + of_day as f64 / MICROS_PER_DAY as f64)
}

/// `2024-03-05`.
pub(crate) fn format_date(days: i32) -> String {
    let (y, m, d) = ymd_from_days(days);
    format!("{y:04}-{m:02}-{d:02}")
}

/// `2024-03-05 14:07:09` (with `.250` when there are milliseconds).
pub(crate) fn format_datetime(micros: i64) -> String {
    let days = micros.div_euclid(MICROS_PER_DAY);
    let of_day = micros.rem_euclid(MICROS_PER_DAY);
    let date = match i32::try_from(days) {
        Ok(d) => format_date(d),
        Err(_) => return micros.to_string(),
    };
    let secs = of_day / 1_000_000;
    let frac = of_day % 1_000_000;
    let (h, m, s) = (secs / 3600, secs / 60 % 60, secs % 60);
    if frac == 0 {
        format!("{date} {h:02}:{m:02}:{s:02}")
    } else if frac % 1000 == 0 {
        format!("{date} {h:02}:{m:02}:{s:02}.{:03}", frac / 1000)
    } else {
        format!("{date} {h:02}:{m:02}:{s:02}.{frac:06}")
    }
}

/// An ISO 8601 date (`2024-03-05`) or local date-time (`2024-03-05T14:07:09.250`, optionally
/// with `Z`), as written in `t="d"` cells. Anything else (time zones, times alone) is `None`.
pub(crate) fn parse_iso(s: &str) -> Option<Cell> {
    let (date, time) = match s.split_once('T') {
        Some((d, t)) => (d, Some(t.strip_suffix('Z').unwrap_or(t))),
        None => (s, None),
    };
    let mut parts = date.splitn(3, '-');
    let (y, m, d) = (parts.next()?, parts.next()?, parts.next()?);
    if y.len() != 4 || m.len() != 2 || d.len() != 2 {
        return None;
    }
    let days = days_from_ymd(y.parse().ok()?, m.parse().ok()?, d.parse().ok()?)?;
    let Some(time) = time else {
        return Some(Cell::Date(days));
    };
    let (hms, frac) = time.split_once('.').unwrap_or((time, ""));
    let mut hms = hms.splitn(3, ':');
    let h: i64 = hms.next()?.parse().ok()?;
    let m: i64 = hms.next()?.parse().ok()?;
    let sec: i64 = hms.next().unwrap_or("0").parse().ok()?;
    if h > 23 || m > 59 || sec > 59 || frac.len() > 6 || !frac.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let micros_frac: i64 = if frac.is_empty() {
        0
    } else {
        format!("{frac:0<6}").parse().ok()?
    };
    let of_day = ((h * 60 + m) * 60 + sec) * 1_000_000 + micros_frac;
    Some(if of_day == 0 {
        Cell::Date(days)
    } else {
        Cell::DateTime(i64::from(days) * MICROS_PER_DAY + of_day)
    })
}

/// A header cell as a column name.
pub(crate) fn header_text(cell: Cell) -> String {
    match cell {
        Cell::Null => String::new(),
        Cell::Text(s) | Cell::Formula(s) => s,
        Cell::Int(v) => v.to_string(),
        Cell::Float(v) => v.to_string(),
        Cell::Bool(b) => if b { "TRUE" } else { "FALSE" }.to_owned(),
        Cell::Date(d) => format_date(d),
        Cell::DateTime(t) => format_datetime(t),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn date(y: i32, m: u32, d: u32) -> i32 {
        days_from_ymd(y, m, d).unwrap()
    }

    #[test]
    fn numbers_keep_integers_exact() {
        assert_eq!(number(13_812_345_678.0), Cell::Int(13_812_345_678));
        assert_eq!(number(-0.0), Cell::Int(0));
        assert_eq!(number(1.5), Cell::Float(1.5));
        assert_eq!(number(EXACT_INT - 1.0), Cell::Int(9_007_199_254_740_991));
        assert_eq!(number(EXACT_INT), Cell::Float(EXACT_INT));
        assert_eq!(number(1e300), Cell::Float(1e300));
        assert!(matches!(number(f64::NAN), Cell::Float(v) if v.is_nan()));
    }

    #[test]
    fn serials_in_both_systems() {
        assert_eq!(serial_to_cell(45_352.0, false), Cell::Date(date(2024, 3, 1)));
        assert_eq!(serial_to_cell(1.0, false), Cell::Date(date(1900, 1, 1)));
        assert_eq!(serial_to_cell(59.0, false), Cell::Date(date(1900, 2, 28)));
        assert_eq!(serial_to_cell(61.0, false), Cell::Date(date(1900, 3, 1)));
        assert_eq!(serial_to_cell(25_569.0, false), Cell::Date(0));
        assert_eq!(serial_to_cell(0.0, true), Cell::Date(date(1904, 1, 1)));
        assert_eq!(
            serial_to_cell(43_890.0 - 1462.0, true),
            Cell::Date(date(2020, 2, 29))
        );
        // 2024-03-01 10:30:15
        let t = 45_352.0 + (10.0 * 3600.0 + 30.0 * 60.0 + 15.0) / 86_400.0;
        assert_eq!(
            serial_to_cell(t, false),
            Cell::DateTime(i64::from(date(2024, 3, 1)) * MICROS_PER_DAY + 37_815_000_000)
        );
        // A fraction below half a millisecond is float noise: still a date.
        assert_eq!(
            serial_to_cell(45_352.000_000_001, false),
            Cell::Date(date(2024, 3, 1))
        );
        assert_eq!(serial_to_cell(-1.0, false), Cell::Int(-1));
        assert_eq!(serial_to_cell(1e12, false), Cell::Int(1_000_000_000_000));
    }

    #[test]
    fn serials_round_trip() {
        for days in [
            date(1900, 1, 1),
            date(1900, 2, 28),
            date(1900, 3, 1),
            0,
            date(2024, 2, 29),
            DEC_9999,
        ] {
            let serial = date_serial(days).unwrap();
            assert_eq!(
                serial_to_cell(serial, false),
                Cell::Date(days),
                "{}",
                format_date(days)
            );
        }
        assert_eq!(date_serial(date(1899, 12, 31)), None);
        assert_eq!(date_serial(DEC_9999 + 1), None);
        let micros = i64::from(date(2023, 10, 1)) * MICROS_PER_DAY + 45_296_000_000; // 12:34:56
        assert_eq!(
            serial_to_cell(datetime_serial(micros).unwrap(), false),
            Cell::DateTime(micros)
        );
        assert_eq!(format_datetime(micros), "2023-10-01 12:34:56");
        assert_eq!(format_datetime(micros + 250_000), "2023-10-01 12:34:56.250");
        assert_eq!(format_date(date(987, 6, 5)), "0987-06-05");
    }

    #[test]
    fn iso_dates() {
        let iso = |s: &str| parse_iso(s);
        assert_eq!(iso("2024-03-01"), Some(Cell::Date(date(2024, 3, 1))));
        assert_eq!(
            iso("2024-03-01T00:00:01.5Z"),
            Some(Cell::DateTime(
                i64::from(date(2024, 3, 1)) * MICROS_PER_DAY + 1_500_000
            ))
        );
        assert_eq!(iso("2024-03-01T00:00:00"), Some(Cell::Date(date(2024, 3, 1))));
        assert_eq!(iso("10:20:30"), None);
        assert_eq!(iso("2024-02-30"), None);
        assert_eq!(iso("2024-03-01T10:00:00+08:00"), None);
    }

    #[test]
    fn header_names() {
        assert_eq!(header_text(Cell::Int(2024)), "2024");
        assert_eq!(header_text(Cell::Formula("=A1".into())), "=A1");
        assert_eq!(header_text(Cell::Date(0)), "1970-01-01");
        assert_eq!(header_text(Cell::Null), "");
    }
}
