//! The `auto` encoding of a file without a BOM, decided on its first bytes (the sample).
//!
//! In order:
//!
//! 1. **UTF-16 without a BOM**: NUL bytes mostly at one parity (the high byte of ASCII
//!    characters) and a line break code unit (`0x000A`/`0x000D`) at the same alignment, or a
//!    whole one-line file with NUL high bytes in at least half its code units, and the sample
//!    decodes without error.
//! 2. **UTF-8**: the sample is valid UTF-8 (an incomplete sequence at a cut is fine), or valid
//!    but for a few damaged sequences (at least four valid multi-byte characters per invalid
//!    sequence: legacy text almost never forms valid UTF-8 sequences). The damaged rows become
//!    row errors.
//! 3. **NUL bytes** that are neither UTF-16 nor UTF-8: a binary file, refused.
//! 4. **A legacy encoding**: chardetng (Firefox's detector) guesses. Its guess is taken only when
//!    the sample decodes without error in it and there is enough evidence: at least
//!    [`MIN_EVIDENCE`] non-ASCII bytes, or no other common encoding (GB18030, Big5, Shift_JIS,
//!    EUC-KR, windows-1252) that decodes the sample too. A few damaged bytes disqualify every
//!    multi-byte encoding in chardetng's eyes and leave a single-byte guess, which would garble
//!    the text; so before a single-byte guess is taken, each multi-byte encoding in which only a
//!    few sequences (one per 20 non-ASCII bytes) are malformed is tried: if chardetng picks it
//!    once those sequences are left out, it is the file's encoding and the damaged rows become
//!    row errors.
//!
//! Anything else is [`Guess::Unsure`]: the reader refuses the file naming the likely encodings
//! rather than guess. The GBK that chardetng reports is read as GB18030, its superset (Excel on
//! Chinese Windows saves GBK; encoding_rs decodes both the same way).

use chardetng::{EncodingDetector, Iso2022JpDetection, Utf8Detection};
use encoding_rs::{
    BIG5, DecoderResult, EUC_KR, Encoding, GB18030, GBK, SHIFT_JIS, UTF_8, UTF_16BE, UTF_16LE, WINDOWS_1252,
};

/// Non-ASCII bytes in the sample from which chardetng's guess is trusted even when another
/// common encoding would decode the sample too (16 CJK characters; chardetng is reliable from
/// about 24 bytes of CJK text on).
pub(crate) const MIN_EVIDENCE: usize = 32;

/// The encodings a legacy file is most often in, in the order they are named as alternatives.
const COMMON: [&Encoding; 5] = [GB18030, BIG5, SHIFT_JIS, EUC_KR, WINDOWS_1252];
/// The multi-byte ones among them.
const MULTI_BYTE: [&Encoding; 4] = [GB18030, BIG5, SHIFT_JIS, EUC_KR];
/// Most encodings named in a refusal.
const MAX_LIKELY: usize = 5;

/// What the sample says about the file's encoding.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Guess {
    Sure(&'static Encoding),
    /// NUL bytes, but neither UTF-16 nor UTF-8 text.
    Binary,
    /// No confident guess: the likely encodings (best first, possibly none) and the number of
    /// non-ASCII bytes the guess had to go on.
    Unsure {
        likely: Vec<&'static Encoding>,
        non_ascii: usize,
    },
}

/// The encoding of a file without a BOM whose first bytes are `sample` (`at_eof`: the whole
/// file).
pub(crate) fn guess(sample: &[u8], at_eof: bool) -> Guess {
    if let Some(enc) = utf16_without_bom(sample, at_eof) {
        return Guess::Sure(enc);
    }
    let (multi_byte, invalid) = utf8_stats(sample, at_eof);
    if invalid == 0 || multi_byte >= 4 * invalid {
        return Guess::Sure(UTF_8);
    }
    if sample.contains(&0) {
        return Guess::Binary;
    }
    legacy(sample, at_eof)
}

/// UTF-16LE or BE without a BOM, if the sample has its shape (see the module docs).
fn utf16_without_bom(sample: &[u8], at_eof: bool) -> Option<&'static Encoding> {
    if !sample.contains(&0) {
        return None;
    }
    let (mut nul_even, mut nul_odd, mut breaks_le, mut breaks_be) = (0usize, 0usize, 0usize, 0usize);
    for unit in sample.chunks(2) {
        match unit {
            [0, 0] => {
                nul_even += 1;
                nul_odd += 1;
            }
            [0, b] => {
                nul_even += 1;
                breaks_be += usize::from(matches!(b, b'\n' | b'\r'));
            }
            [b, 0] => {
                nul_odd += 1;
                breaks_le += usize::from(matches!(b, b'\n' | b'\r'));
            }
            [0] => nul_even += 1,
            _ => {}
        }
    }
    // A whole one-line file has no line break to go by: then at least half its code units
    // must have a NUL high byte.
    let units = sample.len().div_ceil(2);
    let shaped = |nul: usize, other: usize, breaks: usize| {
        nul > other.saturating_mul(4) && (breaks > 0 || (at_eof && nul >= 2 && nul * 2 >= units))
    };
    let enc = if shaped(nul_odd, nul_even, breaks_le) {
        UTF_16LE
    } else if shaped(nul_even, nul_odd, breaks_be) {
        UTF_16BE
    } else {
        return None;
    };
    (malformed(enc, sample, at_eof) == 0).then_some(enc)
}

/// Non-ASCII characters in the valid UTF-8 stretches of `sample`, and the number of invalid
/// sequences (an incomplete one at the end counts only `at_eof`).
fn utf8_stats(sample: &[u8], at_eof: bool) -> (usize, usize) {
    let (mut multi_byte, mut invalid) = (0, 0);
    let mut rest = sample;
    loop {
        match std::str::from_utf8(rest) {
            Ok(_) => {
                multi_byte += rest.iter().filter(|&&b| b >= 0xC0).count();
                return (multi_byte, invalid);
            }
            Err(e) => {
                let valid = e.valid_up_to();
                multi_byte += rest[..valid].iter().filter(|&&b| b >= 0xC0).count();
                match e.error_len() {
                    Some(len) => {
                        invalid += 1;
                        rest = &rest[valid + len..];
                    }
                    None => {
                        invalid += usize::from(at_eof);
                        return (multi_byte, invalid);
                    }
                }
            }
        }
    }
}

/// A legacy encoding by chardetng, when it can be trusted (see the module docs).
fn legacy(sample: &[u8], at_eof: bool) -> Guess {
    let non_ascii = sample.iter().filter(|b| !b.is_ascii()).count();
    let guess = chardet(sample, at_eof);
    let guess_clean = malformed(guess, sample, at_eof) == 0;
    let rivals: Vec<&'static Encoding> = COMMON
        .into_iter()
        .filter(|&e| e != guess && malformed(e, sample, at_eof) == 0)
        .collect();
    let enough = non_ascii >= MIN_EVIDENCE || rivals.is_empty();
    if guess_clean && enough && !guess.is_single_byte() {
        return Guess::Sure(guess);
    }
    if non_ascii >= MIN_EVIDENCE {
        for enc in MULTI_BYTE {
            let (errors, stripped) = strip_malformed(enc, sample, at_eof);
            if errors > 0 && errors * 20 <= non_ascii && chardet(&stripped, at_eof) == enc {
                return Guess::Sure(enc);
            }
        }
    }
    if guess_clean && enough {
        return Guess::Sure(guess);
    }
    let mut likely = Vec::new();
    if guess_clean {
        likely.push(guess);
    }
    likely.extend(rivals);
    likely.truncate(MAX_LIKELY);
    Guess::Unsure { likely, non_ascii }
}

/// chardetng's guess for `bytes` (never UTF-8 or ISO-2022-JP), GBK read as GB18030.
fn chardet(bytes: &[u8], at_eof: bool) -> &'static Encoding {
    let mut detector = EncodingDetector::new(Iso2022JpDetection::Deny);
    detector.feed(bytes, at_eof);
    match detector.guess(None, Utf8Detection::Deny) {
        enc if enc == GBK => GB18030,
        enc => enc,
    }
}

/// The number of malformed sequences of `bytes` in `enc`.
pub(crate) fn malformed(enc: &'static Encoding, bytes: &[u8], at_eof: bool) -> usize {
    decode_errors(enc, bytes, at_eof, None)
}

/// The number of malformed sequences of `bytes` in `enc`, and `bytes` without them.
fn strip_malformed(enc: &'static Encoding, bytes: &[u8], at_eof: bool) -> (usize, Vec<u8>) {
    let mut stripped = Vec::with_capacity(bytes.len());
    let errors = decode_errors(enc, bytes, at_eof, Some(&mut stripped));
    (errors, stripped)
}

fn decode_errors(
    enc: &'static Encoding,
    bytes: &[u8],
    at_eof: bool,
    mut kept: Option<&mut Vec<u8>>,
) -> usize {
    let mut decoder = enc.new_decoder_without_bom_handling();
    let mut scratch = [0u8; 4096];
    let (mut pos, mut errors) = (0, 0);
    loop {
        let input = &bytes[pos..];
        let (result, read, _) = decoder.decode_to_utf8_without_replacement(input, &mut scratch, at_eof);
        match result {
            DecoderResult::InputEmpty => {
                if let Some(kept) = kept.as_deref_mut() {
                    kept.extend_from_slice(&input[..read]);
                }
                return errors;
            }
            DecoderResult::OutputFull => {
                if let Some(kept) = kept.as_deref_mut() {
                    kept.extend_from_slice(&input[..read]);
                }
            }
            DecoderResult::Malformed(bad, after) => {
                errors += 1;
                if let Some(kept) = kept.as_deref_mut() {
                    let bad_end = read.saturating_sub(usize::from(after));
                    let bad_start = bad_end.saturating_sub(usize::from(bad));
                    kept.extend_from_slice(&input[..bad_start]);
                    kept.extend_from_slice(&input[bad_end..read]);
                }
            }
        }
        pos += read;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use encoding_rs::{WINDOWS_1251, WINDOWS_1252};

    fn encode(enc: &'static Encoding, text: &str) -> Vec<u8> {
        let (bytes, _, unmappable) = enc.encode(text);
        assert!(!unmappable, "{text} in {}", enc.name());
        bytes.into_owned()
    }

    fn utf16(text: &str, le: bool) -> Vec<u8> {
        text.encode_utf16()
            .flat_map(|u| if le { u.to_le_bytes() } else { u.to_be_bytes() })
            .collect()
    }

    const ZH: &str = "客户编号,客户名称,负责人,联系电话\r\nC001,北京科技有限公司,张三,13800000000\r\nC002,上海贸易有限公司,李四,\r\n";
    const TW: &str =
        "客戶編號,客戶名稱,負責人\r\nC001,台北科技有限公司,陳大文\r\nC002,高雄貿易股份有限公司,林小明\r\n";
    const JA: &str =
        "顧客コード,顧客名,担当者\r\nC001,株式会社サンプル,山田太郎\r\nC002,東京商事株式会社,鈴木一郎\r\n";
    const KO: &str = "고객번호,고객명,담당자\r\nC001,삼성전자,김철수\r\nC002,현대자동차,이영희\r\n";
    const DE: &str = "Kundennummer,Name,Ort\r\nK001,Jürgen Müller,Zürich\r\nK002,Françoise Dupré,Genève\r\nK003,José Núñez,Málaga\r\nK004,Søren Kierkegård,København\r\nK005,Ærøskøbing Fähre,Düsseldorf\r\n";

    #[test]
    fn legacy_encodings_with_enough_text() {
        assert_eq!(guess(&encode(GBK, ZH), true), Guess::Sure(GB18030));
        assert_eq!(guess(&encode(BIG5, TW), true), Guess::Sure(BIG5));
        assert_eq!(guess(&encode(SHIFT_JIS, JA), true), Guess::Sure(SHIFT_JIS));
        assert_eq!(guess(&encode(EUC_KR, KO), true), Guess::Sure(EUC_KR));
        assert_eq!(guess(&encode(WINDOWS_1252, DE), true), Guess::Sure(WINDOWS_1252));
        let ru = "Код,Название,Контакт\r\nK001,ООО Ромашка,Иван Петров\r\nK002,АО Север,Мария Иванова\r\n";
        assert_eq!(guess(&encode(WINDOWS_1251, ru), true), Guess::Sure(WINDOWS_1251));
    }

    #[test]
    fn too_little_text_is_unsure_and_names_the_candidates() {
        let Guess::Unsure { likely, non_ascii } = guess(&encode(GBK, "a,北京\n"), true) else {
            panic!("a guess on four bytes");
        };
        assert_eq!(non_ascii, 4);
        assert!(
            likely.contains(&GB18030) && likely.contains(&WINDOWS_1252),
            "{likely:?}"
        );
        // The classic: Müller Zürich is valid GB18030 (M黮ler Z黵ich).
        let bytes = encode(WINDOWS_1252, "name,city\r\nMüller,Zürich\r\n");
        assert!(matches!(guess(&bytes, true), Guess::Unsure { .. }));
        // But windows-1252 text that no multi-byte encoding decodes is windows-1252.
        assert_eq!(guess(b"name\r\nCaf\xE9\r\n", true), Guess::Sure(WINDOWS_1252));
    }

    #[test]
    fn utf8_and_damaged_utf8() {
        assert_eq!(guess(b"", true), Guess::Sure(UTF_8));
        assert_eq!(guess(b"a,b\r\n", true), Guess::Sure(UTF_8));
        let text = "名称,城市\r\n北京,上海\r\n".as_bytes();
        assert_eq!(
            guess(&text[..text.len() - 8], false),
            Guess::Sure(UTF_8),
            "a cut sequence"
        );
        let mut damaged = ZH.as_bytes().to_vec();
        damaged.extend_from_slice(b"C003,bad \xFF byte,x,\r\n");
        assert_eq!(guess(&damaged, true), Guess::Sure(UTF_8));
    }

    #[test]
    fn damaged_gbk_is_still_gbk() {
        let mut bytes = encode(GBK, ZH);
        bytes.extend_from_slice(b"C003,\xFF,x,\r\n");
        bytes.extend(encode(GBK, "C004,广州电子商务公司,王五,\r\n"));
        assert_eq!(guess(&bytes, true), Guess::Sure(GB18030));
    }

    #[test]
    fn utf16_without_a_bom() {
        assert_eq!(guess(&utf16(ZH, true), true), Guess::Sure(UTF_16LE));
        assert_eq!(guess(&utf16(ZH, false), true), Guess::Sure(UTF_16BE));
        assert_eq!(
            guess(&utf16("code,name\r\nC1,x\r\n", true), true),
            Guess::Sure(UTF_16LE)
        );
        assert_eq!(
            guess(&utf16("code,name", false), true),
            Guess::Sure(UTF_16BE),
            "one line"
        );
        // Cut in the middle of a code unit: still UTF-16.
        let bytes = utf16(ZH, true);
        assert_eq!(guess(&bytes[..bytes.len() - 3], false), Guess::Sure(UTF_16LE));
        // UTF-16 of CJK text has few NULs, but its line breaks and commas give it away.
        let cjk: String = "北京科技有限公司上海贸易有限公司".repeat(4) + ",张三\r\n";
        assert_eq!(guess(&utf16(&cjk.repeat(3), true), true), Guess::Sure(UTF_16LE));
    }

    #[test]
    fn nul_bytes_that_are_not_utf16() {
        // A zip archive (an xlsx uploaded as csv).
        assert_eq!(
            guess(b"PK\x03\x04\x14\x00\x00\x00\x08\x00\xA4\xC2", true),
            Guess::Binary
        );
        // NULs in otherwise valid UTF-8 are left to the header check.
        assert_eq!(guess(b"a,b\r\n1,\x00\r\n", true), Guess::Sure(UTF_8));
    }

    #[test]
    fn malformed_sequences_are_counted_and_stripped() {
        assert_eq!(malformed(GB18030, &encode(GBK, ZH), true), 0);
        assert_eq!(malformed(GB18030, b"a\xFFb\xFF", true), 2);
        let (errors, stripped) = strip_malformed(GB18030, b"a\xFFb\xB1\xB1", true);
        assert_eq!((errors, stripped.as_slice()), (1, &b"ab\xB1\xB1"[..]));
        // An incomplete character at a cut is no error.
        assert_eq!(malformed(GB18030, b"a\xB1", false), 0);
        assert_eq!(malformed(GB18030, b"a\xB1", true), 1);
    }
}
