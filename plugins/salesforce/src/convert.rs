//! Value conversions that are not picklists: ISO-8601 dates and dateTimes, person names,
//! billing addresses and amounts.

use dataport_plugin_sdk::{days_from_ymd, ymd_from_days};

/// The calendar date of a Salesforce `date` (`2024-06-30`) or `dateTime`
/// (`2023-10-01T08:30:00.000Z`, `2023-10-01T08:30:00Z`, `2023-10-01T08:30:00.000+08:00`,
/// also `+0800`, `+08`, no seconds, a space instead of `T`), as days since 1970-01-01.
///
/// The date part is taken as written: `2023-10-01T23:30:00.000-05:00` is 2023-10-01, with no
/// time-zone conversion (Salesforce `date` fields carry no zone, and its exports write
/// `dateTime`s in UTC, whose date part is the UTC date). Anything else, including a date that
/// does not exist, is `None`.
pub(crate) fn parse_date(text: &str) -> Option<i32> {
    let s = text.trim();
    let b = s.as_bytes();
    if b.len() < 10 || b[4] != b'-' || b[7] != b'-' {
        return None;
    }
    let year = digits(&b[0..4])?;
    let month = digits(&b[5..7])?;
    let day = days_from_ymd(i32::try_from(year).ok()?, month, digits(&b[8..10])?)?;
    let rest = &b[10..];
    if rest.is_empty() {
        return Some(day);
    }
    if !matches!(rest[0], b'T' | b't' | b' ') {
        return None;
    }
    valid_time(&rest[1..]).then_some(day)
}

/// `hh:mm[:ss[.fraction]]` followed by nothing, `Z`, or an offset `±hh[:mm]` / `±hhmm`.
fn valid_time(b: &[u8]) -> bool {
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
    match rest {
        [] | [b'Z' | b'z'] => true,
        [b'+' | b'-', offset @ ..] => match offset {
            [h1, h2] => in_range(&[*h1, *h2], 23),
            [h1, h2, m1, m2] | [h1, h2, b':', m1, m2] => {
                in_range(&[*h1, *h2], 23) && in_range(&[*m1, *m2], 59)
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

/// `YYYY-MM-DD` of a day count (a Salesforce `date` value).
pub(crate) fn format_date(days: i32) -> String {
    let (y, m, d) = ymd_from_days(days);
    format!("{y:04}-{m:02}-{d:02}")
}

/// `YYYY-MM-DDT00:00:00.000Z` of a day count (a Salesforce `dateTime` value at midnight UTC).
pub(crate) fn format_date_time(days: i32) -> String {
    format!("{}T00:00:00.000Z", format_date(days))
}

/// Whether `c` is a Han ideograph, kana or hangul: a name written with them puts the family
/// name first, without a space.
pub(crate) fn is_cjk(c: char) -> bool {
    matches!(c,
        '\u{3040}'..='\u{30FF}'     // hiragana, katakana
        | '\u{3005}'                // 々
        | '\u{3400}'..='\u{4DBF}'   // CJK extension A
        | '\u{4E00}'..='\u{9FFF}'   // CJK unified ideographs
        | '\u{F900}'..='\u{FAFF}'   // compatibility ideographs
        | '\u{1100}'..='\u{11FF}'   // hangul jamo
        | '\u{3130}'..='\u{318F}'   // hangul compatibility jamo
        | '\u{AC00}'..='\u{D7AF}'   // hangul syllables
        | '\u{20000}'..='\u{3134F}' // CJK extensions B–G
    )
}

fn has_cjk(s: &str) -> bool {
    s.chars().any(is_cjk)
}

/// A contact's full name from FirstName and LastName (both trimmed; either may be empty).
///
/// When every non-empty part contains CJK characters the name is LastName + FirstName without a
/// space (王 + 伟 → 王伟); otherwise it is "FirstName LastName". `None` when both are empty.
pub(crate) fn full_name(first: &str, last: &str) -> Option<String> {
    let (first, last) = (first.trim(), last.trim());
    let parts: Vec<&str> = [first, last].into_iter().filter(|p| !p.is_empty()).collect();
    if parts.is_empty() {
        return None;
    }
    if parts.iter().all(|p| has_cjk(p)) {
        Some(format!("{last}{first}"))
    } else {
        Some(parts.join(" "))
    }
}

/// Splits a full name into `(FirstName, LastName)` for writing.
///
/// A name containing CJK characters, or of a single word, goes whole into LastName (Salesforce's
/// required name part): where the family name ends cannot be told from the characters (欧阳娜娜,
/// 田中宏), and guessing is worse than keeping the name intact. Otherwise the last word is
/// LastName and the words before it FirstName (`Mary Ann O'Brien` → `Mary Ann` + `O'Brien`).
/// Reading the result back gives the same name (runs of spaces become one).
pub(crate) fn split_name(name: &str) -> (String, String) {
    let name = name.trim();
    if has_cjk(name) {
        return (String::new(), name.to_owned());
    }
    let words: Vec<&str> = name.split_whitespace().collect();
    match words.split_last() {
        None => (String::new(), String::new()),
        Some((last, first)) => (first.join(" "), (*last).to_owned()),
    }
}

/// The parts of a Salesforce compound address (Billing*), each trimmed; empty when absent.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub(crate) struct Address<'a> {
    pub(crate) street: &'a str,
    pub(crate) city: &'a str,
    pub(crate) state: &'a str,
    pub(crate) postal_code: &'a str,
    pub(crate) country: &'a str,
}

impl Address<'_> {
    /// One address line, or `None` when every part is empty.
    ///
    /// * If any part contains CJK characters, Chinese order without separators: country,
    ///   state, city, street (its lines joined directly), then a space and the postal code. A
    ///   part is left out when the text after it already starts with it (BillingState 上海市,
    ///   BillingCity 上海市 → 上海市 once; BillingCity 深圳市 with BillingStreet 深圳市南山区… →
    ///   深圳市 once).
    /// * Otherwise Western order with `, `: street lines, city, "state postal code", country
    ///   (`1 Market St, Suite 300, San Francisco, CA 94105, United States`).
    pub(crate) fn join(&self) -> Option<String> {
        let lines: Vec<&str> = self
            .street
            .lines()
            .map(|l| l.trim_matches(|c: char| c.is_whitespace()))
            .filter(|l| !l.is_empty())
            .collect();
        let (city, state, postal, country) = (
            self.city.trim(),
            self.state.trim(),
            self.postal_code.trim(),
            self.country.trim(),
        );
        let cjk = [city, state, country].into_iter().any(has_cjk) || lines.iter().any(|l| has_cjk(l));
        let joined = if cjk {
            let mut text = lines.concat();
            for part in [city, state, country] {
                if !part.is_empty() && !text.starts_with(part) {
                    text.insert_str(0, part);
                }
            }
            if !postal.is_empty() {
                if !text.is_empty() {
                    text.push(' ');
                }
                text.push_str(postal);
            }
            text
        } else {
            let region = [state, postal]
                .into_iter()
                .filter(|p| !p.is_empty())
                .collect::<Vec<_>>()
                .join(" ");
            lines
                .into_iter()
                .chain([city, region.as_str(), country])
                .filter(|p| !p.is_empty())
                .collect::<Vec<_>>()
                .join(", ")
        };
        (!joined.is_empty()).then_some(joined)
    }
}

/// An amount for a Salesforce currency field: two decimals, no grouping, `None` if not finite.
pub(crate) fn format_amount(value: f64) -> Option<String> {
    value.is_finite().then(|| format!("{value:.2}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn date(y: i32, m: u32, d: u32) -> Option<i32> {
        days_from_ymd(y, m, d)
    }

    #[test]
    fn dates_and_date_times() {
        assert_eq!(parse_date("2024-06-30"), date(2024, 6, 30));
        assert_eq!(parse_date(" 2024-06-30 "), date(2024, 6, 30));
        assert_eq!(parse_date("2023-10-01T08:30:00.000Z"), date(2023, 10, 1));
        assert_eq!(parse_date("2023-10-01T08:30:00Z"), date(2023, 10, 1));
        assert_eq!(parse_date("2023-10-01T23:30:00.000+08:00"), date(2023, 10, 1));
        assert_eq!(parse_date("2023-10-01T23:30:00-0500"), date(2023, 10, 1));
        assert_eq!(parse_date("2023-10-01T23:30:00+08"), date(2023, 10, 1));
        assert_eq!(parse_date("2023-10-01T23:30"), date(2023, 10, 1));
        assert_eq!(parse_date("2023-10-01 23:30:59.123456"), date(2023, 10, 1));
        assert_eq!(parse_date("2024-02-29T00:00:00.000Z"), date(2024, 2, 29));
        for bad in [
            "",
            "2023/10/01",
            "01-10-2023",
            "2023-02-29",
            "2023-13-01",
            "2023-1-01",
            "2023-10-01T",
            "2023-10-01T24:00:00Z",
            "2023-10-01T08:60:00Z",
            "2023-10-01T08:30:00.Z",
            "2023-10-01T08:30:00+8:00",
            "2023-10-01T08:30:00 PST",
            "2023-10-01X08:30",
            "2023-10-01T8:30",
            "２０２３-10-01",
            "+2023-10-01",
        ] {
            assert_eq!(parse_date(bad), None, "{bad:?}");
        }
        let day = date(2023, 10, 1).unwrap();
        assert_eq!(format_date(day), "2023-10-01");
        assert_eq!(format_date_time(day), "2023-10-01T00:00:00.000Z");
    }

    #[test]
    fn names() {
        assert_eq!(full_name("伟", "王").as_deref(), Some("王伟"));
        assert_eq!(full_name("", "欧阳娜娜").as_deref(), Some("欧阳娜娜"));
        assert_eq!(full_name("宏", "田中").as_deref(), Some("田中宏"));
        assert_eq!(full_name("민준", "김").as_deref(), Some("김민준"));
        assert_eq!(
            full_name(" Mary Ann ", "O'Brien").as_deref(),
            Some("Mary Ann O'Brien")
        );
        assert_eq!(full_name("David", "王").as_deref(), Some("David 王"));
        assert_eq!(full_name("", "Madonna").as_deref(), Some("Madonna"));
        assert_eq!(full_name("Cher", "").as_deref(), Some("Cher"));
        assert_eq!(full_name(" ", ""), None);

        assert_eq!(split_name("王伟"), (String::new(), "王伟".to_owned()));
        assert_eq!(split_name("David 王"), (String::new(), "David 王".to_owned()));
        assert_eq!(
            split_name(" Mary  Ann O'Brien "),
            ("Mary Ann".to_owned(), "O'Brien".to_owned())
        );
        assert_eq!(split_name("Madonna"), (String::new(), "Madonna".to_owned()));
        assert_eq!(split_name(""), (String::new(), String::new()));
        for name in ["王伟", "Mary Ann O'Brien", "Madonna", "田中宏"] {
            let (first, last) = split_name(name);
            assert_eq!(full_name(&first, &last).as_deref(), Some(name));
        }
    }

    #[test]
    fn addresses() {
        let a = Address {
            street: "海淀区中关村大街1号",
            city: "北京市",
            state: "北京市",
            postal_code: "100080",
            country: "中国",
        };
        assert_eq!(a.join().as_deref(), Some("中国北京市海淀区中关村大街1号 100080"));
        let a = Address {
            street: "深圳市南山区科技园\n科苑路15号",
            city: "深圳市",
            state: "广东省",
            ..Address::default()
        };
        assert_eq!(a.join().as_deref(), Some("广东省深圳市南山区科技园科苑路15号"));
        let a = Address {
            street: "1 Market St\r\nSuite 300",
            city: "San Francisco",
            state: "CA",
            postal_code: "94105",
            country: "United States",
        };
        assert_eq!(
            a.join().as_deref(),
            Some("1 Market St, Suite 300, San Francisco, CA 94105, United States")
        );
        let a = Address {
            city: "London",
            postal_code: "EC1A 1BB",
            ..Address::default()
        };
        assert_eq!(a.join().as_deref(), Some("London, EC1A 1BB"));
        assert_eq!(Address::default().join(), None);
        assert_eq!(
            Address {
                street: " \n ",
                ..Address::default()
            }
            .join(),
            None
        );
    }

    #[test]
    fn amounts() {
        assert_eq!(format_amount(1234.5).as_deref(), Some("1234.50"));
        assert_eq!(format_amount(0.0).as_deref(), Some("0.00"));
        assert_eq!(
            format_amount(9_999_999_999_999.99).as_deref(),
            Some("9999999999999.99")
        );
        assert_eq!(format_amount(f64::NAN), None);
        assert_eq!(format_amount(f64::INFINITY), None);
    }
}
