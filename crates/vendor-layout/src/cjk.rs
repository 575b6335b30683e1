//! Han ideographs, kana and hangul: names and addresses written with them follow Chinese,
//! Japanese and Korean order (family name first, no spaces; country first).

/// Whether `c` is a Han ideograph, kana or hangul.
pub fn is_cjk(c: char) -> bool {
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

/// Whether any character of `s` [`is_cjk`].
pub fn has_cjk(s: &str) -> bool {
    s.chars().any(is_cjk)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn han_kana_and_hangul_are_cjk() {
        for c in ['王', '々', 'ひ', 'カ', '김', 'ᄀ', 'ㄱ', '㐀', '豈', '𠀀'] {
            assert!(is_cjk(c), "{c}");
        }
        for c in ['A', 'é', 'Ж', '1', ' ', '，', '。', '１', 'ｱ'] {
            assert!(!is_cjk(c), "{c}");
        }
        assert!(has_cjk("David 王"));
        assert!(!has_cjk("Mary Ann"));
        assert!(!has_cjk(""));
    }
}
