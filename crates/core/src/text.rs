//! The CSV-injection escape (OWASP): export prefixes `'` to text that a spreadsheet would run as a
//! formula, and import strips exactly that prefix, so export → import round-trips.

use std::borrow::Cow;

/// Bytes that make a spreadsheet treat a cell as a formula or command (all ASCII).
const TRIGGERS: &[u8] = b"=+-@\t\r";

/// Whether `s` is some quotes (possibly none) followed by a trigger character. Escaping adds
/// one quote to exactly these strings, which keeps escape/strip a bijection: text that really
/// starts with `'=` exports as `''=` and imports back as `'=`.
fn quotes_then_trigger(s: &str) -> bool {
    needs_export_escape(s.as_bytes())
}

/// [`escape_for_export`]'s test on the UTF-8 bytes of a text: whether it gets the `'` prefix.
/// For writers that handle bytes (the triggers and the quote are ASCII, so no decoding is
/// needed).
pub fn needs_export_escape(text: &[u8]) -> bool {
    text.iter()
        .find(|&&b| b != b'\'')
        .is_some_and(|b| TRIGGERS.contains(b))
}

/// For export: `'` + text when the text starts with `= + - @ TAB CR`, possibly after quotes.
pub fn escape_for_export(text: &str) -> Cow<'_, str> {
    if quotes_then_trigger(text) {
        Cow::Owned(format!("'{text}"))
    } else {
        Cow::Borrowed(text)
    }
}

/// For import: removes exactly the `'` that [`escape_for_export`] adds.
pub fn strip_export_escape(text: &str) -> &str {
    match text.strip_prefix('\'') {
        Some(rest) if quotes_then_trigger(rest) => rest,
        _ => text,
    }
}

/// Whether the import escape was present (the value starts with `'` and a trigger): such text
/// is data, never a formula.
pub fn was_escaped(text: &str) -> bool {
    strip_export_escape(text).len() != text.len()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escape_and_strip_round_trip() {
        for original in [
            "=SUM(A1)",
            "+8613812345678",
            "-5",
            "@user",
            "\tx",
            "\rx",
            "'=already",
            "''=twice",
            "'plain",
            "plain",
            "",
            "'",
            "=",
        ] {
            let exported = escape_for_export(original);
            assert_eq!(
                strip_export_escape(&exported),
                original,
                "{original:?} → {exported:?}"
            );
        }
        assert_eq!(escape_for_export("=1+1"), "'=1+1");
        assert_eq!(escape_for_export("'=x"), "''=x");
        assert_eq!(escape_for_export("normal"), "normal");
        assert_eq!(
            strip_export_escape("'hello"),
            "'hello",
            "a quote before ordinary text stays"
        );
        assert!(was_escaped("'=1") && !was_escaped("=1") && !was_escaped("'a"));
    }
}
