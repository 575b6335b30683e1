//! Which cell formats show numbers as dates: the one thing the styles part decides about a
//! value. A cell's `s` attribute indexes `<cellXfs>`; each `<xf>` names a number format, built
//! in (by id) or declared in `<numFmts>`. The rules are calamine's (its built-in ids, and its
//! scan of a format code, ported from openpyxl), so a file reads as it did under calamine.

use std::collections::HashMap;

use dataport_plugin_sdk::PluginError;
use quick_xml::events::Event;

use crate::xml::Xml;

/// How a number in a cell of some format is shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum NumberFormat {
    Plain,
    /// A date or a time of day: the number is a serial date.
    Date,
    /// An elapsed time (`[h]:mm:ss`): stays a number.
    Duration,
}

/// The number format of each cell format, by `s` index.
#[derive(Debug, Default)]
pub(crate) struct CellFormats(Vec<NumberFormat>);

impl CellFormats {
    /// The format of a cell's `s` attribute; an unknown index (or none) is plain.
    pub(crate) fn of(&self, style: Option<&str>) -> NumberFormat {
        let Some(style) = style else {
            return NumberFormat::Plain;
        };
        // calamine reads an unparsable index as 0.
        let index: usize = style.parse().unwrap_or(0);
        self.0.get(index).copied().unwrap_or(NumberFormat::Plain)
    }
}

/// Reads `<numFmts>` and `<cellXfs>` from the styles part.
pub(crate) fn parse_styles(xml: &mut Xml<'_, '_>) -> Result<CellFormats, PluginError> {
    let mut buf = Vec::new();
    let mut codes: HashMap<String, String> = HashMap::new();
    let mut formats = Vec::new();
    let mut in_cell_xfs = false;
    loop {
        match xml.next(&mut buf)? {
            Event::Start(e) | Event::Empty(e) => match e.local_name().as_ref() {
                "numFmt" => {
                    if let (Some(id), Some(code)) =
                        (xml.attr_owned(&e, "numFmtId")?, xml.attr(&e, "formatCode")?)
                    {
                        let code = quick_xml::escape::unescape(&code).map_err(|_| xml.invalid())?;
                        codes.insert(id, code.into_owned());
                    }
                }
                "cellXfs" => in_cell_xfs = true,
                "xf" if in_cell_xfs => {
                    formats.push(match xml.attr(&e, "numFmtId")? {
                        Some(id) => match codes.get(&*id) {
                            Some(code) => by_code(code),
                            None => built_in(&id),
                        },
                        None => NumberFormat::Plain,
                    });
                }
                _ => {}
            },
            Event::End(e) if e.local_name().as_ref() == "cellXfs" => in_cell_xfs = false,
            Event::Eof => return Ok(CellFormats(formats)),
            _ => {}
        }
    }
}

/// The built-in formats (ECMA-376 18.8.30, with the East Asian date ids).
fn built_in(id: &str) -> NumberFormat {
    match id.parse::<u32>() {
        Ok(14..=22 | 27..=36 | 45 | 47 | 50..=58) => NumberFormat::Date,
        Ok(46) => NumberFormat::Duration,
        _ => NumberFormat::Plain,
    }
}

/// A custom format code: a date if its first section has a date or time token outside quotes,
/// escapes and brackets; a duration if it has `[h]`, `[m]` or `[s]`.
fn by_code(code: &str) -> NumberFormat {
    let (mut escaped, mut quoted, mut am_pm) = (false, false, false);
    let mut brackets = 0u8;
    let (mut prev, mut hms) = (' ', false);
    for c in code.chars() {
        match (c, escaped, quoted, am_pm, brackets) {
            (_, true, ..) => escaped = false,
            // `\` escapes, `_` skips a width, `*` fills: the next character is a literal.
            ('_' | '\\' | '*', ..) => escaped = true,
            ('"', _, true, _, _) => quoted = false,
            (_, _, true, _, _) => {}
            ('"', ..) => quoted = true,
            (';', ..) => return NumberFormat::Plain,
            ('[', ..) => brackets += 1,
            (']', .., 1) if hms => return NumberFormat::Duration,
            (']', ..) => brackets = brackets.saturating_sub(1),
            ('a' | 'A', _, _, false, 0) => am_pm = true,
            ('p' | 'm' | '/' | 'P' | 'M', _, _, true, 0) => return NumberFormat::Date,
            ('d' | 'm' | 'h' | 'y' | 's' | 'D' | 'M' | 'H' | 'Y' | 'S', _, _, false, 0) => {
                return NumberFormat::Date;
            }
            _ => {
                if !(hms && c.eq_ignore_ascii_case(&prev)) {
                    hms = prev == '[' && matches!(c, 'm' | 'h' | 's' | 'M' | 'H' | 'S');
                }
            }
        }
        prev = c;
    }
    NumberFormat::Plain
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn format_codes() {
        use NumberFormat::*;
        for (code, kind) in [
            ("DD/MM/YY", Date),
            ("H:MM:SS;@", Date),
            ("yyyy\"年\"m\"月\"d\"日\"", Date),
            ("[$-F800]dddd\\,\\ mmmm\\ dd\\,\\ yyyy", Date),
            ("#,##0\\ [$\\u20bd-46D]", Plain),
            ("0.00%", Plain),
            ("\"days\" 0", Plain),
            ("[h]:mm:ss", Duration),
            ("[mm]:ss", Duration),
            ("[Red]0.00", Plain),
            ("_(* #,##0_);_(* (#,##0)", Plain),
            ("General", Plain),
            ("AM/PM h", Date),
        ] {
            assert_eq!(by_code(code), kind, "{code}");
        }
        assert_eq!(built_in("14"), Date);
        assert_eq!(built_in("31"), Date);
        assert_eq!(built_in("46"), Duration);
        assert_eq!(built_in("49"), Plain);
        assert_eq!(built_in("x"), Plain);
    }

    #[test]
    fn cell_formats_by_index() {
        let formats = CellFormats(vec![NumberFormat::Plain, NumberFormat::Date]);
        assert_eq!(formats.of(Some("1")), NumberFormat::Date);
        assert_eq!(formats.of(Some("7")), NumberFormat::Plain);
        assert_eq!(formats.of(None), NumberFormat::Plain);
        assert_eq!(formats.of(Some("x")), NumberFormat::Plain);
    }
}
