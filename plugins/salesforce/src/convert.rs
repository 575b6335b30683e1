//! Value conversions that are not picklists, as Salesforce writes and reads them: ISO-8601 dates
//! and dateTimes, person names, billing addresses and amounts. The conversions themselves are
//! [`dataport_vendor_layout`]'s; this module picks Salesforce's forms.

use dataport_vendor_layout::{DateTimeSyntax, DecimalSyntax};
pub(crate) use dataport_vendor_layout::{format_amount, format_date, join_name as full_name, split_name};

#[cfg(test)]
use dataport_plugin_sdk::days_from_ymd;

/// Salesforce's dates and dateTimes: ISO-8601, with a space allowed in place of `T` whatever
/// follows (`2023-10-01 08:30:00Z`), and offsets that are real offsets (at most `±23:59`).
const DATES: DateTimeSyntax = DateTimeSyntax {
    zone_after_space: true,
    offset_in_range: true,
};

/// Amount text the writer takes: a sign (`-` or `+`), a bare point (`.5`, `5.`), any number of
/// digits.
pub(crate) const AMOUNTS: DecimalSyntax = DecimalSyntax {
    plus_sign: true,
    bare_point: true,
    max_significant_digits: None,
};

/// The calendar date of a Salesforce `date` (`2024-06-30`) or `dateTime`
/// (`2023-10-01T08:30:00.000Z`, `2023-10-01T08:30:00Z`, `2023-10-01T08:30:00.000+08:00`,
/// also `+0800`, `+08`, no seconds, a space instead of `T`), as days since 1970-01-01.
///
/// The date part is taken as written: `2023-10-01T23:30:00.000-05:00` is 2023-10-01, with no
/// time-zone conversion (Salesforce `date` fields carry no zone, and its exports write
/// `dateTime`s in UTC, whose date part is the UTC date). Anything else, including a date that
/// does not exist, is `None`.
pub(crate) fn parse_date(text: &str) -> Option<i32> {
    dataport_vendor_layout::parse_date(text, DATES)
}

/// `YYYY-MM-DDT00:00:00.000Z` of a day count (a Salesforce `dateTime` value at midnight UTC).
pub(crate) fn format_date_time(days: i32) -> String {
    format!("{}T00:00:00.000Z", format_date(days))
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
    /// One address line, or `None` when every part is empty: see
    /// [`dataport_vendor_layout::Address::join`] (Chinese order without separators when a part
    /// contains CJK characters, else `Street, City, State Postal, Country`).
    pub(crate) fn join(&self) -> Option<String> {
        dataport_vendor_layout::Address {
            street: self.street,
            street2: "",
            city: self.city,
            state: self.state,
            postal_code: self.postal_code,
            country: self.country,
        }
        .join()
    }
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
