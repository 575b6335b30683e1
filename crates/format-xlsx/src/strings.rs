//! Text in a workbook's XML: the shared-string table, kept compact, and the strings of `<si>`
//! and `<is>` elements (plain or rich text, phonetic runs left out), unescaped as Excel escapes
//! them. The rules are calamine's, so a file reads as it did when calamine read the cells.

use dataport_plugin_sdk::PluginError;
use quick_xml::events::{BytesRef, Event};

use crate::messages;
use crate::xml::Xml;

/// The shared strings: one buffer and where each string ends, about 4 bytes a string beside its
/// text instead of a `String` each (calamine's table took 257 MiB for 1M rows written by
/// XlsxWriter).
#[derive(Debug, Default)]
pub(crate) struct SharedStrings {
    text: String,
    ends: Vec<u32>,
}

impl SharedStrings {
    pub(crate) fn get(&self, index: usize) -> Option<&str> {
        let end = *self.ends.get(index)? as usize;
        let start = match index {
            0 => 0,
            i => self.ends[i - 1] as usize,
        };
        Some(&self.text[start..end])
    }

    pub(crate) fn len(&self) -> usize {
        self.ends.len()
    }
}

/// The `<sst>` element's counts, as written.
pub(crate) struct SstHeader {
    pub unique_count: Option<String>,
    pub count: Option<String>,
}

/// Reads the shared-string part: its counts and every `<si>`.
pub(crate) fn parse_sst(xml: &mut Xml<'_, '_>) -> Result<(SstHeader, SharedStrings), PluginError> {
    let mut buf = Vec::new();
    let mut header = SstHeader {
        unique_count: None,
        count: None,
    };
    let mut strings = SharedStrings::default();
    let mut inner = Vec::new();
    loop {
        match xml.next(&mut buf)? {
            Event::Start(e) | Event::Empty(e) if e.local_name().as_ref() == "sst" => {
                header.unique_count = xml.attr_owned(&e, "uniqueCount")?;
                header.count = xml.attr_owned(&e, "count")?;
            }
            Event::Start(e) if e.local_name().as_ref() == "si" => {
                read_string(xml, &mut inner, &mut strings.text, "si")?;
                strings.push_end(xml)?;
            }
            Event::Empty(e) if e.local_name().as_ref() == "si" => strings.push_end(xml)?,
            Event::Eof => return Ok((header, strings)),
            _ => {}
        }
    }
}

impl SharedStrings {
    fn push_end(&mut self, xml: &Xml<'_, '_>) -> Result<(), PluginError> {
        let end = u32::try_from(self.text.len()).map_err(|_| messages::sst_too_large(xml.path()))?;
        self.ends.push(end);
        Ok(())
    }
}

/// Appends the text of the element just opened (`closing` is its local name, `si` or `is`) to
/// `out`: the `<t>` of plain text or of each rich-text run `<r>`, not the phonetic runs `<rPh>`.
/// Each `<t>` is trimmed of ASCII whitespace unless it has `xml:space="preserve"`, and Excel's
/// `_xHHHH_` escapes are resolved. `buf` is the parser's buffer, reused.
pub(crate) fn read_string(
    xml: &mut Xml<'_, '_>,
    buf: &mut Vec<u8>,
    out: &mut String,
    closing: &str,
) -> Result<(), PluginError> {
    let mut phonetic = false;
    loop {
        match xml.next(buf)? {
            Event::Start(e) => match e.local_name().as_ref() {
                "rPh" => phonetic = true,
                "t" if !phonetic => {
                    let preserve = xml.attr(&e, "space")?.is_some_and(|v| v == "preserve");
                    let start = out.len();
                    read_text(xml, buf, out, "t")?;
                    finish_t(out, start, preserve);
                }
                _ => {}
            },
            Event::End(e) => match e.local_name().as_ref() {
                "rPh" => phonetic = false,
                name if name == closing => return Ok(()),
                _ => {}
            },
            Event::Eof => return Err(xml.invalid()),
            _ => {}
        }
    }
}

/// Appends an element's character data up to its end tag (`closing`): text with its line ends
/// normalised, CDATA, and references resolved. `buf` is the parser's buffer, reused.
pub(crate) fn read_text(
    xml: &mut Xml<'_, '_>,
    buf: &mut Vec<u8>,
    out: &mut String,
    closing: &str,
) -> Result<(), PluginError> {
    loop {
        match xml.next(buf)? {
            Event::Text(t) => out.push_str(&t.xml10_content()),
            Event::CData(t) => out.push_str(&t.xml10_content()),
            Event::GeneralRef(r) => push_reference(&r, out),
            Event::End(e) if e.local_name().as_ref() == closing => return Ok(()),
            Event::Eof => return Err(xml.invalid()),
            _ => {}
        }
    }
}

/// A character or predefined entity reference ([`Xml`] has refused any other).
fn push_reference(r: &BytesRef<'_>, out: &mut String) {
    if let Ok(Some(c)) = r.resolve_char_ref() {
        out.push(c);
        return;
    }
    out.push_str(match &**r {
        "lt" => "<",
        "gt" => ">",
        "amp" => "&",
        "apos" => "'",
        _ => "\"",
    });
}

/// `out[start..]` is one `<t>`'s text: trim it (unless `preserve`) and resolve `_xHHHH_`.
fn finish_t(out: &mut String, start: usize, preserve: bool) {
    let ws = [' ', '\t', '\r', '\n'];
    if !preserve {
        let trimmed_end = start + out[start..].trim_end_matches(ws).len();
        out.truncate(trimmed_end);
        let lead = out[start..].len() - out[start..].trim_start_matches(ws).len();
        out.drain(start..start + lead);
    }
    unescape_in_place(out, start);
}

/// Resolves Excel's `_xHHHH_` escapes in `s[start..]` (a UTF-16 code unit each; `_x005F_` is a
/// literal `_`; a lone surrogate becomes U+FFFD).
pub(crate) fn unescape_in_place(s: &mut String, start: usize) {
    if !s[start..].contains("_x") {
        return;
    }
    let tail = s.split_off(start);
    let mut rest = tail.as_str();
    while let Some(i) = rest.find('_') {
        s.push_str(&rest[..i]);
        rest = &rest[i..];
        let Some(unit) = escape_at(rest) else {
            s.push('_');
            rest = &rest[1..];
            continue;
        };
        rest = &rest[7..];
        let c = match unit {
            0xD800..=0xDBFF => match escape_at(rest) {
                Some(low @ 0xDC00..=0xDFFF) => {
                    rest = &rest[7..];
                    char::from_u32(0x10000 + ((u32::from(unit) - 0xD800) << 10) + (u32::from(low) - 0xDC00))
                }
                _ => None,
            },
            unit => char::from_u32(u32::from(unit)),
        };
        s.push(c.unwrap_or(char::REPLACEMENT_CHARACTER));
    }
    s.push_str(rest);
}

/// The code unit of an `_xHHHH_` escape at the start of `s`.
fn escape_at(s: &str) -> Option<u16> {
    let b = s.as_bytes().get(..7)?;
    if b[0] != b'_' || b[1] != b'x' || b[6] != b'_' || !b[2..6].iter().all(u8::is_ascii_hexdigit) {
        return None;
    }
    u16::from_str_radix(&s[2..6], 16).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn unescaped(s: &str) -> String {
        let mut out = String::from("keep_x0041_");
        out.push_str(s);
        unescape_in_place(&mut out, 11);
        out[11..].to_owned()
    }

    #[test]
    fn excel_escapes() {
        assert_eq!(unescaped("a_x000D_b"), "a\rb");
        assert_eq!(unescaped("_x005F_x000D_"), "_x000D_");
        assert_eq!(unescaped("_xD83D__xDCF7_"), "\u{1F4F7}");
        assert_eq!(unescaped("_xD83D_x"), "\u{FFFD}x");
        assert_eq!(unescaped("_x00zz_ _x41_ __"), "_x00zz_ _x41_ __");
        assert_eq!(unescaped("张三_x0020_"), "张三 ");
        assert_eq!(unescaped("no escapes"), "no escapes");
    }

    #[test]
    fn t_is_trimmed_unless_preserved() {
        let mut s = String::from("x");
        s.push_str(" \n 张 三\t");
        finish_t(&mut s, 1, false);
        assert_eq!(s, "x张 三");
        let mut s = String::from("  a ");
        finish_t(&mut s, 0, true);
        assert_eq!(s, "  a ");
        let mut s = String::from("\u{a0}a\u{a0}");
        finish_t(&mut s, 0, false);
        assert_eq!(s, "\u{a0}a\u{a0}", "only ASCII whitespace");
    }

    #[test]
    fn shared_strings_by_index() {
        let mut strings = SharedStrings::default();
        for s in ["a", "", "张三"] {
            strings.text.push_str(s);
            strings.ends.push(strings.text.len() as u32);
        }
        assert_eq!(strings.len(), 3);
        assert_eq!(strings.get(0), Some("a"));
        assert_eq!(strings.get(1), Some(""));
        assert_eq!(strings.get(2), Some("张三"));
        assert_eq!(strings.get(3), None);
    }
}
