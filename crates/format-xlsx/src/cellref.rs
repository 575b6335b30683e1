//! A1-style cell references (`B12`, `A1:XFD1048576`), parsed without trusting the file.
//!
//! A reference like `A99999999999` overflows `u32` arithmetic, and `B2:A1` underflows a
//! dimension's size (calamine parsed them unchecked), so every reference in a sheet goes
//! through these functions, and one outside Excel's grid refuses the file.

/// Rows in an Excel sheet.
pub(crate) const MAX_ROWS: u32 = 1_048_576;
/// Columns in an Excel sheet (`A` to `XFD`).
pub(crate) const MAX_COLS: u32 = 16_384;

/// A zero-based `(row, column)` position.
pub(crate) type Pos = (u32, u32);

/// A rectangle of cells, both corners included, `start <= end` on both axes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Area {
    pub start: Pos,
    pub end: Pos,
}

impl Area {
    /// Number of cells covered.
    pub fn cells(&self) -> u64 {
        u64::from(self.end.0 - self.start.0 + 1) * u64::from(self.end.1 - self.start.1 + 1)
    }
}

/// `B12` → `(11, 1)`. `None` unless it is letters then digits naming a cell of Excel's grid.
pub(crate) fn parse_cell(s: &str) -> Option<Pos> {
    let bytes = s.as_bytes();
    let letters = bytes.iter().take_while(|b| b.is_ascii_alphabetic()).count();
    if letters == 0 || letters > 3 {
        return None;
    }
    let col = bytes[..letters].iter().fold(0u32, |acc, b| {
        acc * 26 + u32::from(b.to_ascii_uppercase() - b'A') + 1
    });
    let row = parse_row(&s[letters..])?;
    (col <= MAX_COLS).then_some((row, col - 1))
}

/// `12` → `11`: a 1-based row number of Excel's grid, zero-based.
pub(crate) fn parse_row(s: &str) -> Option<u32> {
    if s.is_empty() || s.len() > 7 || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let row: u32 = s.parse().ok()?;
    (1..=MAX_ROWS).contains(&row).then(|| row - 1)
}

/// `A1` or `A1:C9`, with the end not before the start.
pub(crate) fn parse_area(s: &str) -> Option<Area> {
    let (start, end) = match s.split_once(':') {
        Some((a, b)) => (parse_cell(a)?, parse_cell(b)?),
        None => {
            let p = parse_cell(s)?;
            (p, p)
        }
    };
    (start.0 <= end.0 && start.1 <= end.1).then_some(Area { start, end })
}

/// `0` → `A`, `25` → `Z`, `26` → `AA`, `16383` → `XFD`.
pub(crate) fn column_name(col: u32) -> String {
    let mut n = u64::from(col) + 1;
    let mut out = Vec::new();
    while n > 0 {
        let rem = ((n - 1) % 26) as u8;
        out.push(b'A' + rem);
        n = (n - 1) / 26;
    }
    out.reverse();
    String::from_utf8_lossy(&out).into_owned()
}

/// `(4, 10)` → `K5`.
pub(crate) fn cell_name(row: u32, col: u32) -> String {
    format!("{}{}", column_name(col), u64::from(row) + 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cells() {
        assert_eq!(parse_cell("A1"), Some((0, 0)));
        assert_eq!(parse_cell("b12"), Some((11, 1)));
        assert_eq!(parse_cell("XFD1048576"), Some((1_048_575, 16_383)));
        for bad in [
            "",
            "A",
            "1",
            "A0",
            "XFE1",
            "A1048577",
            "AAAA1",
            "A99999999999",
            "A1B",
            "$A$1",
            "A-1",
            "é1",
        ] {
            assert_eq!(parse_cell(bad), None, "{bad}");
        }
    }

    #[test]
    fn areas() {
        let a = parse_area("A1:XFD1048576").unwrap();
        assert_eq!(a.cells(), 1_048_576 * 16_384);
        assert_eq!(parse_area("C3").unwrap().cells(), 1);
        assert_eq!(parse_area("B2:D4").unwrap().cells(), 9);
        assert_eq!(parse_area("B2:A1"), None);
        assert_eq!(parse_area("A2:B1"), None);
        assert_eq!(parse_area("A1:B2:C3"), None);
        assert_eq!(parse_area("A1:"), None);
    }

    #[test]
    fn names() {
        for (col, name) in [
            (0, "A"),
            (25, "Z"),
            (26, "AA"),
            (701, "ZZ"),
            (702, "AAA"),
            (16_383, "XFD"),
        ] {
            assert_eq!(column_name(col), name);
            assert_eq!(parse_cell(&format!("{name}7")), Some((6, col)));
        }
        assert_eq!(cell_name(4, 10), "K5");
        assert_eq!(column_name(u32::MAX), "MWLQKWV");
    }
}
