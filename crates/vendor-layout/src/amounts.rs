//! Amounts: plain decimal numbers as vendors write them, and as their importers take them.

/// What a plain decimal may look like beyond `[-]digits[.digits]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct DecimalSyntax {
    /// Whether a leading `+` is taken (`+5`).
    pub plus_sign: bool,
    /// Whether a point may end or start the number (`5.`, `.5`).
    pub bare_point: bool,
    /// At most this many significant digits (leading and trailing zeros do not count), so that an
    /// `f64` holds the number exactly as written; `None`: any number of digits.
    pub max_significant_digits: Option<usize>,
}

/// A plain decimal number (`250000`, `88000.5`, `-3`), surrounding white space ignored; `None`
/// for anything else (`1,500.00`, `¥800`, `1e5`, `inf`), for the host's amount rules to judge.
pub fn parse_decimal(text: &str, syntax: DecimalSyntax) -> Option<f64> {
    let s = text.trim();
    let unsigned = match s.strip_prefix('-') {
        Some(rest) => rest,
        None if syntax.plus_sign => s.strip_prefix('+').unwrap_or(s),
        None => s,
    };
    let (int, frac) = unsigned.split_once('.').unwrap_or((unsigned, ""));
    let all_digits = |d: &str| d.bytes().all(|c| c.is_ascii_digit());
    if !all_digits(int) || !all_digits(frac) {
        return None;
    }
    let bare = int.is_empty() || unsigned.ends_with('.');
    if (bare && !syntax.bare_point) || (int.is_empty() && frac.is_empty()) {
        return None;
    }
    if let Some(max) = syntax.max_significant_digits {
        let significant = format!("{int}{frac}");
        if significant.trim_start_matches('0').trim_end_matches('0').len() > max {
            return None;
        }
    }
    s.parse().ok()
}

/// An amount as importers want it: two decimals, no grouping (`98000.50`, `0.00`); `None` if
/// not finite.
pub fn format_amount(value: f64) -> Option<String> {
    value.is_finite().then(|| format!("{value:.2}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    const STRICT: DecimalSyntax = DecimalSyntax {
        plus_sign: false,
        bare_point: false,
        max_significant_digits: Some(15),
    };
    const LENIENT: DecimalSyntax = DecimalSyntax {
        plus_sign: true,
        bare_point: true,
        max_significant_digits: None,
    };

    #[test]
    fn plain_decimals() {
        for syntax in [STRICT, LENIENT, DecimalSyntax::default()] {
            assert_eq!(parse_decimal("250000", syntax), Some(250_000.0));
            assert_eq!(parse_decimal(" 88000.50 ", syntax), Some(88_000.5));
            assert_eq!(parse_decimal("-3", syntax), Some(-3.0));
            assert_eq!(parse_decimal("0.1", syntax), Some(0.1));
            assert_eq!(parse_decimal("0001.5000", syntax), Some(1.5));
            assert_eq!(
                parse_decimal("9999999999999.99", syntax),
                Some(9_999_999_999_999.99)
            );
            for text in [
                "", " ", "-", ".", "-.", "1,500.00", "¥800", "1e5", "inf", "NaN", "1.2.3", "--1", "-+1",
                "1 000", "１２",
            ] {
                assert_eq!(parse_decimal(text, syntax), None, "{text:?} {syntax:?}");
            }
        }
    }

    #[test]
    fn signs_points_and_digits_as_the_syntax_says() {
        for (text, value) in [("+5", 5.0), (".5", 0.5), ("5.", 5.0), ("-.5", -0.5), ("+.5", 0.5)] {
            assert_eq!(parse_decimal(text, LENIENT), Some(value), "{text}");
            assert_eq!(parse_decimal(text, STRICT), None, "{text}");
        }
        assert_eq!(parse_decimal("1234567890123456", STRICT), None);
        assert_eq!(
            parse_decimal("123456789012345.0", STRICT),
            Some(123_456_789_012_345.0)
        );
        assert_eq!(parse_decimal("0.000000000000001", STRICT), Some(1e-15));
        assert_eq!(
            parse_decimal("1234567890123456", LENIENT),
            Some(1_234_567_890_123_456.0)
        );
        assert_eq!(parse_decimal(&"9".repeat(400), LENIENT), Some(f64::INFINITY));
    }

    #[test]
    fn formatting() {
        for (value, text) in [
            (42.0, "42.00"),
            (-3.1, "-3.10"),
            (19.999, "20.00"),
            (1e15, "1000000000000000.00"),
        ] {
            assert_eq!(format_amount(value).as_deref(), Some(text), "{value}");
        }
        for value in [f64::NAN, f64::NEG_INFINITY] {
            assert_eq!(format_amount(value), None);
        }
    }
}
