//! Person names in two parts (first and last, as CRM exports keep them) and in one (as dataport
//! keeps them).

use crate::cjk::has_cjk;

/// A full name from its first and last name (both trimmed; either may be empty).
///
/// When every non-empty part contains CJK characters the name is last name + first name without
/// a space (王 + 伟 → 王伟, 田中 + 宏 → 田中宏); otherwise `First Last` (`Mary Ann` + `O'Brien`,
/// and `David` + `王` → `David 王`). One part alone when the other is empty; `None` when both are.
pub fn join_name(first: &str, last: &str) -> Option<String> {
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

/// Splits a full name into `(first, last)` for writing; a part with nothing in it is empty.
///
/// A name containing CJK characters, or of a single word, goes whole into the last name (the part
/// CRMs require): where the family name ends cannot be told from the characters (欧阳娜娜,
/// 田中宏), and guessing is worse than keeping the name intact. Otherwise the last word is the
/// last name and the words before it the first name (`Mary Ann O'Brien` → `Mary Ann` +
/// `O'Brien`). [`join_name`] of the result gives the name back (runs of spaces become one).
pub fn split_name(name: &str) -> (String, String) {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn joining() {
        let cases: &[(&str, &str, Option<&str>)] = &[
            // Every non-empty part CJK: family name first, no space.
            ("小明", "李", Some("李小明")),
            ("一郎", "鈴木", Some("鈴木一郎")),
            ("서연", "박", Some("박서연")),
            ("", "司马相如", Some("司马相如")),
            (" 娜 ", "", Some("娜")),
            // Otherwise first name first, one space.
            ("Jean-Luc", "Picard", Some("Jean-Luc Picard")),
            (" Ana  María ", " López ", Some("Ana  María López")),
            ("Li", "Wang", Some("Li Wang")),
            ("Anna", "李", Some("Anna 李")),
            ("李", "Smith", Some("李 Smith")),
            ("", "Prince", Some("Prince")),
            ("Sting", "\t", Some("Sting")),
            ("", "", None),
            (" ", "\n", None),
        ];
        for (first, last, full) in cases {
            assert_eq!(join_name(first, last).as_deref(), *full, "{first:?} + {last:?}");
        }
    }

    #[test]
    fn splitting() {
        let cases: &[(&str, &str, &str)] = &[
            ("李小明", "", "李小明"),
            (" 司马 相如 ", "", "司马 相如"),
            ("Anna 李", "", "Anna 李"),
            ("Jean-Luc  Picard", "Jean-Luc", "Picard"),
            (" Ana María\tLópez ", "Ana María", "López"),
            ("Prince", "", "Prince"),
            (" \t ", "", ""),
        ];
        for (name, first, last) in cases {
            let (f, l) = split_name(name);
            assert_eq!((f.as_str(), l.as_str()), (*first, *last), "{name:?}");
        }
    }

    #[test]
    fn a_split_name_joins_back() {
        for name in [
            "李小明",
            "司马相如",
            "鈴木一郎",
            "박서연",
            "Jean-Luc Picard",
            "Prince",
            "Anna 李",
        ] {
            let (first, last) = split_name(name);
            assert_eq!(join_name(&first, &last).as_deref(), Some(name), "{name}");
        }
    }
}
