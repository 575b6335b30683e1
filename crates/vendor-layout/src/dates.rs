//! Dates and date-times as vendors write them, read as the calendar date they name.

use dataport_plugin_sdk::{days_from_ymd, ymd_from_days};

/// Microseconds in a day.
pub const DAY_MICROS: i64 = 86_400_000_000;

/// The forms of date-time a vendor's files use, beyond what every vendor's do.
///
/// [`parse_date`] always takes `YYYY-MM-DD`, optionally followed by `T` (or `t`) or a space and a
/// time `hh:mm`, `hh:mm:ss` or `hh:mm:ss.fff…` (a leap second allowed); after `T` the time may
/// carry a zone: `Z`, `±hh`, `±hhmm` or `±hh:mm`. These flags say what else is accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct DateTimeSyntax {
    /// Whether a time after a space may carry a zone too (`2023-10-01 08:30:00Z`), as ISO-8601
    /// with the space allowed in place of `T` has it. Without, a zone needs the `T`.
    pub zone_after_space: bool,
    /// Whether a zone offset must be one: hours at most 23, minutes at most 59. Without, any two
    /// or four digits are taken.
    pub offset_in_range: bool,
}

/// The calendar date of a date or date-time (see [`DateTimeSyntax`]), as days since 1970-01-01,
/// surrounding white space ignored.
///
/// The date part is taken as written: `2023-10-01T23:30:00-05:00` is 2023-10-01, with no
/// time-zone conversion. Anything else, including a date that does not exist (`2023-02-29`), is
/// `None`.
pub fn parse_date(text: &str, syntax: DateTimeSyntax) -> Option<i32> {
    let b = text.trim().as_bytes();
    if b.len() < 10 || b[4] != b'-' || b[7] != b'-' {
        return None;
    }
    let year = i32::try_from(digits(&b[0..4])?).ok()?;
    let day = days_from_ymd(year, digits(&b[5..7])?, digits(&b[8..10])?)?;
    let Some((separator, time)) = b[10..].split_first() else {
        return Some(day);
    };
    let zone = match separator {
        b'T' | b't' => true,
        b' ' => syntax.zone_after_space,
        _ => return None,
    };
    valid_time(time, zone, syntax.offset_in_range).then_some(day)
}

/// `hh:mm[:ss[.fraction]]`, then nothing, or a zone if `zone`: `Z` or an offset `±hh[[:]mm]`.
fn valid_time(b: &[u8], zone: bool, offset_in_range: bool) -> bool {
    let Some((hour, minute)) = b.get(0..2).zip(b.get(3..5)) else {
        return false;
    };
    if b[2] != b':' || !in_range(hour, 23) || !in_range(minute, 59) {
        return false;
    }
    let mut rest = &b[5..];
    if let Some(after) = rest.strip_prefix(b":") {
        // Up to 60 for a leap second.
        let Some(second) = after.get(0..2) else {
            return false;
        };
        if !in_range(second, 60) {
            return false;
        }
        rest = &after[2..];
        if let Some(fraction) = rest.strip_prefix(b".") {
            let n = fraction.iter().take_while(|c| c.is_ascii_digit()).count();
            if n == 0 {
                return false;
            }
            rest = &fraction[n..];
        }
    }
    let (max_hours, max_minutes) = if offset_in_range { (23, 59) } else { (99, 99) };
    match rest {
        [] => true,
        _ if !zone => false,
        [b'Z' | b'z'] => true,
        [b'+' | b'-', offset @ ..] => match offset {
            [h1, h2] => in_range(&[*h1, *h2], max_hours),
            [h1, h2, m1, m2] | [h1, h2, b':', m1, m2] => {
                in_range(&[*h1, *h2], max_hours) && in_range(&[*m1, *m2], max_minutes)
            }
            _ => false,
        },
        _ => false,
    }
}

/// ASCII digits as a number; `None` if any byte is not a digit.
fn digits(b: &[u8]) -> Option<u32> {
    b.iter().try_fold(0u32, |n, c| {
        c.is_ascii_digit().then(|| n * 10 + u32::from(c - b'0'))
    })
}

fn in_range(b: &[u8], max: u32) -> bool {
    digits(b).is_some_and(|n| n <= max)
}

/// `YYYY-MM-DD` of a day count.
pub fn format_date(days: i32) -> String {
    let (y, m, d) = ymd_from_days(days);
    format!("{y:04}-{m:02}-{d:02}")
}

/// The UTC day of an instant in microseconds since 1970-01-01 (a date-time cell).
pub fn datetime_day(micros: i64) -> i32 {
    // |micros| < 2^63 keeps the day count below 107 million, inside i32.
    i32::try_from(micros.div_euclid(DAY_MICROS)).unwrap_or(if micros < 0 { i32::MIN } else { i32::MAX })
}

#[cfg(test)]
mod tests {
    use super::*;

    const STRICT: DateTimeSyntax = DateTimeSyntax {
        zone_after_space: true,
        offset_in_range: true,
    };
    const T_ZONES_ONLY: DateTimeSyntax = DateTimeSyntax {
        zone_after_space: false,
        offset_in_range: false,
    };

    fn oct1() -> Option<i32> {
        days_from_ymd(2023, 10, 1)
    }

    #[test]
    fn every_syntax_takes_dates_and_iso_date_times() {
        for syntax in [STRICT, T_ZONES_ONLY, DateTimeSyntax::default()] {
            for text in [
                "2023-10-01",
                " 2023-10-01 ",
                "2023-10-01 08:30",
                "2023-10-01 08:30:15",
                "2023-10-01 23:59:60.999",
                "2023-10-01T08:30:15Z",
                "2023-10-01t08:30:15.123z",
                "2023-10-01T08:30:15+08:00",
                "2023-10-01T23:30:00-05:00",
                "2023-10-01T08:30:15+0800",
                "2023-10-01T08:30+08",
                "2023-10-01T08:30",
            ] {
                assert_eq!(parse_date(text, syntax), oct1(), "{text} {syntax:?}");
            }
            assert_eq!(
                parse_date("2024-02-29T00:00:00.000Z", syntax),
                days_from_ymd(2024, 2, 29)
            );
            for text in [
                "",
                "今天",
                "2023/10/01",
                "10/01/2023",
                "01-10-2023",
                "2023-1-01",
                "2023-10-1",
                "2023-02-29",
                "2023-13-01",
                "２０２３-10-01",
                "+2023-10-01",
                "2023-10-01x",
                "2023-10-01T",
                "2023-10-01X08:30",
                "2023-10-01T8:30",
                "2023-10-01 8:30",
                "2023-10-01 24:00",
                "2023-10-01 08:60",
                "2023-10-01T08:30:61",
                "2023-10-01 08:30.5",
                "2023-10-01T08:30:00.Z",
                "2023-10-01T08:30:15+8",
                "2023-10-01T08:30:15+8:00",
                "2023-10-01T08:30:15+08:000",
                "2023-10-01T08:30:15+08:00Z",
                "2023-10-01T08:30:00 PST",
                "2023-10-01 08:30 AM",
            ] {
                assert_eq!(parse_date(text, syntax), None, "{text} {syntax:?}");
            }
        }
    }

    #[test]
    fn a_zone_after_a_space_only_where_the_syntax_says() {
        for text in [
            "2023-10-01 08:30Z",
            "2023-10-01 08:30:00.000+08:00",
            "2023-10-01 23:30-0500",
        ] {
            assert_eq!(parse_date(text, STRICT), oct1(), "{text}");
            assert_eq!(parse_date(text, T_ZONES_ONLY), None, "{text}");
        }
    }

    #[test]
    fn offsets_out_of_range_only_where_the_syntax_allows() {
        for text in [
            "2023-10-01T08:30+24:00",
            "2023-10-01T08:30:00-0960",
            "2023-10-01T08:30+99",
        ] {
            assert_eq!(parse_date(text, STRICT), None, "{text}");
            assert_eq!(parse_date(text, T_ZONES_ONLY), oct1(), "{text}");
        }
    }

    #[test]
    fn formatting_and_instants() {
        let day = oct1().unwrap();
        assert_eq!(format_date(day), "2023-10-01");
        assert_eq!(format_date(0), "1970-01-01");
        assert_eq!(format_date(-1), "1969-12-31");
        assert_eq!(datetime_day(i64::from(day) * DAY_MICROS + 3_600_000_000), day);
        assert_eq!(datetime_day(-1), -1);
        assert_eq!(datetime_day(0), 0);
        assert_eq!(datetime_day(i64::MAX), 106_751_991);
        assert_eq!(datetime_day(i64::MIN), -106_751_992);
    }
}
