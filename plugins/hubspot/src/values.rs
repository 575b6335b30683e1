//! Value conversions that do not depend on a table: dates, amounts, numbers as text, names and
//! addresses, from and to the cells of a HubSpot file. The conversions of text are
//! [`dataport_vendor_layout`]'s; this module picks HubSpot's forms and handles the cells (xlsx
//! numbers and dates, formulas).

use dataport_core::value::float_text;
use dataport_plugin_sdk::Cell;
#[cfg(test)]
use dataport_plugin_sdk::days_from_ymd;
#[cfg(test)]
use dataport_vendor_layout::DAY_MICROS;
use dataport_vendor_layout::{Address, DateTimeSyntax, DecimalSyntax, join_name};
pub(crate) use dataport_vendor_layout::{datetime_day, format_date};

/// HubSpot's dates: its export form `2023-10-01 08:30[:15[.fff]]` has no zone, so a zone needs
/// ISO 8601's `T`; an offset is taken as two or four digits, unchecked.
const DATES: DateTimeSyntax = DateTimeSyntax {
    zone_after_space: false,
    offset_in_range: false,
};

/// HubSpot's plain amounts: no `+`, no bare point, at most 15 significant digits (what an `f64`
/// holds exactly, so that CSV and xlsx files read alike).
const AMOUNTS: DecimalSyntax = DecimalSyntax {
    plus_sign: false,
    bare_point: false,
    max_significant_digits: Some(15),
};

/// The value of a cell as a person reads it (for messages and for lookups).
pub(crate) fn display(cell: &Cell) -> String {
    match cell {
        Cell::Null => String::new(),
        Cell::Text(s) | Cell::Formula(s) => s.clone(),
        Cell::Int(v) => v.to_string(),
        Cell::Float(v) => float_text(*v),
        Cell::Bool(true) => "TRUE".to_owned(),
        Cell::Bool(false) => "FALSE".to_owned(),
        Cell::Date(d) => format_date(*d),
        Cell::DateTime(t) => {
            let secs = t.div_euclid(1_000_000);
            let of_day = secs.rem_euclid(86_400);
            format!(
                "{} {:02}:{:02}:{:02}",
                format_date(datetime_day(*t)),
                of_day / 3600,
                of_day / 60 % 60,
                of_day % 60
            )
        }
    }
}

/// Whether a cell holds nothing: null, or text of white space only.
pub(crate) fn is_blank(cell: &Cell) -> bool {
    match cell {
        Cell::Null => true,
        Cell::Text(s) => s.trim().is_empty(),
        _ => false,
    }
}

/// A cell of a text field: numbers (an xlsx Record ID or phone number stored as a number) become
/// their digits as text; everything else is passed on unchanged for dataport's validation.
pub(crate) fn text_cell(cell: &Cell) -> Cell {
    match cell {
        Cell::Int(_) | Cell::Float(_) => Cell::Text(display(cell)),
        other => other.clone(),
    }
}

/// A HubSpot date (`Create Date`, `Close Date`) as the day it names:
///
/// * `2023-10-01`, `2023-10-01 08:30`, `2023-10-01 08:30:15` (HubSpot's export form, with an
///   optional fraction of a second);
/// * ISO 8601: `2023-10-01T08:30:15Z`, `2023-10-01T08:30:15.123+08:00`, `…-0500`, `…T08:30`.
///
/// The date is the one written, never shifted by the offset. Anything else is `None`.
pub(crate) fn parse_date(text: &str) -> Option<i32> {
    dataport_vendor_layout::parse_date(text, DATES)
}

/// A cell of a date field: HubSpot's date texts and xlsx date or date-time cells become
/// [`Cell::Date`]; anything else is passed on for dataport's validation (INVALID_DATE).
pub(crate) fn date_cell(cell: &Cell) -> Cell {
    match cell {
        Cell::Text(s) => match parse_date(s) {
            Some(days) => Cell::Date(days),
            None if s.trim().is_empty() => Cell::Null,
            None => cell.clone(),
        },
        Cell::DateTime(t) => Cell::Date(datetime_day(*t)),
        other => other.clone(),
    }
}

/// A plain decimal number (`250000`, `88000.5`, `-3`) with at most 15 significant digits, which
/// an `f64` holds exactly as written; other texts (`1,500.00`, `¥800`, `1e5`) are left to
/// dataport's amount rules.
pub(crate) fn plain_amount(text: &str) -> Option<f64> {
    dataport_vendor_layout::parse_decimal(text, AMOUNTS)
}

/// The largest integer an `f64` holds exactly.
const EXACT_INT: i64 = 1 << 53;

/// A cell of an amount field: plain numbers (text or numeric cells) become [`Cell::Float`], so
/// `250000`, `250000.00` and the number 250000 read alike; anything else is passed on.
pub(crate) fn amount_cell(cell: &Cell) -> Cell {
    match cell {
        Cell::Text(s) => match plain_amount(s) {
            Some(v) => Cell::Float(v),
            None if s.trim().is_empty() => Cell::Null,
            None => cell.clone(),
        },
        Cell::Int(v) if v.abs() < EXACT_INT => Cell::Float(*v as f64),
        Cell::Int(_) => Cell::Text(display(cell)),
        other => other.clone(),
    }
}

/// Parts of a value made of several columns (a name, an address), trimmed, empty ones `None`;
/// or the cell to report instead: a formula or text starting with `=` is passed on alone so that
/// dataport refuses it (FORMULA_NOT_ALLOWED) rather than seeing it buried in the middle.
fn parts<'a>(cells: impl IntoIterator<Item = Option<&'a Cell>>) -> Result<Vec<Option<String>>, Cell> {
    let mut out = Vec::new();
    for cell in cells {
        let text = match cell {
            None | Some(Cell::Null) => None,
            Some(Cell::Formula(f)) => return Err(Cell::Formula(f.clone())),
            Some(Cell::Text(s)) if s.trim_start().starts_with('=') => return Err(Cell::Text(s.clone())),
            Some(other) => Some(display(other).trim().to_owned()).filter(|s| !s.is_empty()),
        };
        out.push(text);
    }
    Ok(out)
}

/// A contact's name from `First Name` and `Last Name` ([`join_name`]): when every non-empty part
/// contains CJK characters, last name then first name without a space (`张` + `伟` → `张伟`);
/// otherwise `First Last` (`Mary Ann` + `Smith`, and `David` + `王` → `David 王`); one part alone
/// when the other is empty; `Null` when both are.
pub(crate) fn compose_name(first: Option<&Cell>, last: Option<&Cell>) -> Cell {
    let p = match parts([first, last]) {
        Ok(p) => p,
        Err(cell) => return cell,
    };
    let text = |i: usize| p[i].as_deref().unwrap_or("");
    join_name(text(0), text(1)).map_or(Cell::Null, Cell::Text)
}

/// A contact's name split into `(First Name, Last Name)` for writing (the inverse of
/// [`compose_name`], see [`dataport_vendor_layout::split_name`]): a name with CJK characters, or
/// of one word, goes whole into `Last Name` (where a family name ends cannot be told from the
/// characters: 欧阳娜娜, 田中宏; and HubSpot shows `First Last`, so `张伟` stays `张伟`);
/// otherwise the last word is the last name and the words before it the first name
/// (`Mary Ann Smith` → `Mary Ann` + `Smith`). Runs of spaces become one.
pub(crate) fn split_name(name: &str) -> (Option<String>, Option<String>) {
    let (first, last) = dataport_vendor_layout::split_name(name);
    let part = |s: String| Some(s).filter(|s| !s.is_empty());
    (part(first), part(last))
}

/// The columns of a company's address, as cells of the file.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct AddressCells<'a> {
    pub street: Option<&'a Cell>,
    pub street2: Option<&'a Cell>,
    pub city: Option<&'a Cell>,
    pub state: Option<&'a Cell>,
    pub postal_code: Option<&'a Cell>,
    pub country: Option<&'a Cell>,
}

/// A company's address in one text, joined as the salesforce plugin joins Salesforce's Billing*
/// parts ([`Address::join`]):
///
/// * if any part contains CJK characters, Chinese order without separators: country, state,
///   city, then the street lines (`Street Address`, `Street Address 2`, each line of them) run
///   together, then a space and the postal code; a part is left out when the text after it
///   already starts with it (`上海市` + `上海市…` → `上海市` once);
/// * otherwise `Street, Street 2, City, State Postal, Country`;
///
/// empty parts left out, `Null` when all are empty.
pub(crate) fn compose_address(a: AddressCells<'_>) -> Cell {
    let p = match parts([a.street, a.street2, a.city, a.state, a.postal_code, a.country]) {
        Ok(p) => p,
        Err(cell) => return cell,
    };
    let get = |i: usize| p[i].as_deref().unwrap_or("");
    Address {
        street: get(0),
        street2: get(1),
        city: get(2),
        state: get(3),
        postal_code: get(4),
        country: get(5),
    }
    .join()
    .map_or(Cell::Null, Cell::Text)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day(y: i32, m: u32, d: u32) -> Option<i32> {
        days_from_ymd(y, m, d)
    }

    #[test]
    fn hubspot_dates() {
        let oct1 = day(2023, 10, 1);
        for text in [
            "2023-10-01",
            " 2023-10-01 ",
            "2023-10-01 08:30",
            "2023-10-01 08:30:15",
            "2023-10-01 23:59:59.999",
            "2023-10-01T08:30:15Z",
            "2023-10-01T08:30:15.123Z",
            "2023-10-01T08:30:15+08:00",
            "2023-10-01T23:30:00-05:00",
            "2023-10-01T08:30:15+0800",
            "2023-10-01T08:30+08",
            "2023-10-01T08:30",
        ] {
            assert_eq!(parse_date(text), oct1, "{text}");
        }
        for text in [
            "2023/10/01",
            "10/01/2023",
            "2023-10-1",
            "2023-02-29",
            "2023-10-01 8:30",
            "2023-10-01 24:00",
            "2023-10-01 08:60",
            "2023-10-01T08:30:15+8",
            "2023-10-01T08:30:15+08:000",
            "2023-10-01x",
            "2023-10-01 08:30 AM",
            "2023-10-01 08:30.5",
            "",
            "今天",
        ] {
            assert_eq!(parse_date(text), None, "{text}");
        }
    }

    #[test]
    fn date_cells() {
        let oct1 = day(2023, 10, 1).unwrap();
        assert_eq!(date_cell(&Cell::text("2023-10-01 08:30")), Cell::Date(oct1));
        assert_eq!(date_cell(&Cell::Date(oct1)), Cell::Date(oct1));
        let micros = i64::from(oct1) * DAY_MICROS + 3_600_000_000;
        assert_eq!(date_cell(&Cell::DateTime(micros)), Cell::Date(oct1));
        assert_eq!(date_cell(&Cell::DateTime(-1)), Cell::Date(-1));
        assert_eq!(date_cell(&Cell::text("10/01/2023")), Cell::text("10/01/2023"));
        assert_eq!(date_cell(&Cell::text("  ")), Cell::Null);
        assert_eq!(date_cell(&Cell::Int(45200)), Cell::Int(45200));
        assert_eq!(display(&Cell::DateTime(micros)), "2023-10-01 01:00:00");
    }

    #[test]
    fn amounts() {
        assert_eq!(plain_amount("250000"), Some(250_000.0));
        assert_eq!(plain_amount(" 88000.50 "), Some(88_000.5));
        assert_eq!(plain_amount("-3"), Some(-3.0));
        assert_eq!(plain_amount("0.1"), Some(0.1));
        assert_eq!(plain_amount("9999999999999.99"), Some(9_999_999_999_999.99));
        assert_eq!(plain_amount("1234567890123456"), None);
        assert_eq!(plain_amount("0001.5000"), Some(1.5));
        for text in ["1,500.00", "¥800", "1e5", ".5", "5.", "", "-", "abc", "+5"] {
            assert_eq!(plain_amount(text), None, "{text}");
        }
        assert_eq!(amount_cell(&Cell::text("1,500.00")), Cell::text("1,500.00"));
        assert_eq!(amount_cell(&Cell::Int(7)), Cell::Float(7.0));
        assert_eq!(amount_cell(&Cell::Float(7.25)), Cell::Float(7.25));
        assert_eq!(amount_cell(&Cell::text("")), Cell::Null);
    }

    #[test]
    fn numbers_as_text() {
        assert_eq!(text_cell(&Cell::Int(9_876_543_201)), Cell::text("9876543201"));
        assert_eq!(
            text_cell(&Cell::Float(13_812_345_678.0)),
            Cell::text("13812345678")
        );
        assert_eq!(text_cell(&Cell::text(" x ")), Cell::text(" x "));
        assert_eq!(text_cell(&Cell::Null), Cell::Null);
    }

    #[test]
    fn names() {
        let t = |s: &str| Cell::text(s);
        assert_eq!(compose_name(Some(&t("伟")), Some(&t("张"))), t("张伟"));
        assert_eq!(compose_name(Some(&t("宏")), Some(&t("田中"))), t("田中宏"));
        assert_eq!(
            compose_name(Some(&t(" Mary Ann ")), Some(&t("Smith"))),
            t("Mary Ann Smith")
        );
        assert_eq!(compose_name(Some(&t("David")), Some(&t("王"))), t("David 王"));
        assert_eq!(compose_name(Some(&t("John")), None), t("John"));
        assert_eq!(
            compose_name(Some(&Cell::Null), Some(&t("欧阳娜娜"))),
            t("欧阳娜娜")
        );
        assert_eq!(compose_name(None, Some(&t("  "))), Cell::Null);
        assert_eq!(compose_name(Some(&t("=1+1")), Some(&t("张"))), t("=1+1"));
        assert_eq!(
            compose_name(Some(&t("a")), Some(&Cell::Formula("=A1".into()))),
            Cell::Formula("=A1".into())
        );

        let s = |first: Option<&str>, last: Option<&str>| (first.map(str::to_owned), last.map(str::to_owned));
        assert_eq!(split_name("张伟"), s(None, Some("张伟")));
        assert_eq!(split_name("David 王"), s(None, Some("David 王")));
        assert_eq!(
            split_name(" Mary  Ann Smith "),
            s(Some("Mary Ann"), Some("Smith"))
        );
        assert_eq!(split_name("Madonna"), s(None, Some("Madonna")));
        assert_eq!(split_name("  "), s(None, None));
        for name in [
            "张伟",
            "欧阳娜娜",
            "田中宏",
            "김민준",
            "Mary Ann Smith",
            "Madonna",
            "David 王",
        ] {
            let (first, last) = split_name(name);
            let cell = |v: Option<String>| v.map(Cell::Text);
            assert_eq!(
                compose_name(cell(first).as_ref(), cell(last).as_ref()),
                Cell::text(name),
                "{name}"
            );
        }
    }

    #[test]
    fn addresses() {
        let t = |s: &str| Cell::text(s);
        let (street, street2, city, state, postal, country) = (
            t("海淀区中关村大街1号"),
            t("B座"),
            t("北京市"),
            t("北京市"),
            t("100080"),
            t("中国"),
        );
        let a = AddressCells {
            street: Some(&street),
            street2: Some(&street2),
            city: Some(&city),
            state: Some(&state),
            postal_code: Some(&postal),
            country: Some(&country),
        };
        assert_eq!(compose_address(a), t("中国北京市海淀区中关村大街1号B座 100080"));
        let (street, city, state, country) = (t("浦东新区世纪大道100号"), t("上海市"), t("上海"), t("China"));
        let a = AddressCells {
            street: Some(&street),
            city: Some(&city),
            state: Some(&state),
            country: Some(&country),
            ..AddressCells::default()
        };
        assert_eq!(compose_address(a), t("China上海市浦东新区世纪大道100号"));
        let (street, street2, city, state, postal, country) = (
            t("500 Boylston St"),
            t("Suite 300"),
            t("Boston"),
            t("MA"),
            t("02116"),
            t("United States"),
        );
        let a = AddressCells {
            street: Some(&street),
            street2: Some(&street2),
            city: Some(&city),
            state: Some(&state),
            postal_code: Some(&postal),
            country: Some(&country),
        };
        assert_eq!(
            compose_address(a),
            t("500 Boylston St, Suite 300, Boston, MA 02116, United States")
        );
        let (city, blank) = (t("London"), t("  "));
        let a = AddressCells {
            city: Some(&city),
            country: Some(&blank),
            ..AddressCells::default()
        };
        assert_eq!(compose_address(a), t("London"));
        assert_eq!(compose_address(AddressCells::default()), Cell::Null);
        let formula = t("=HYPERLINK(1)");
        let a = AddressCells {
            street: Some(&street),
            city: Some(&formula),
            ..AddressCells::default()
        };
        assert_eq!(compose_address(a), formula);
    }
}
