//! The file-level messages of the reader, in Chinese and English.
//!
//! The host passes a plugin's file-level message through as it is (it localises only row
//! errors), and does not tell the plugin the job's locale; so each message holds both
//! languages, `中文 / English`. Row errors keep their short English detail
//! (`column 2: bytes 0xFF are not valid GB18030`), which the host wraps in a localised sentence.

use encoding_rs::{Encoding, GB18030, GBK};

use crate::input::display_name;

/// `zh / en`.
pub(crate) fn both(zh: impl std::fmt::Display, en: impl std::fmt::Display) -> String {
    format!("{zh} / {en}")
}

const FIX_ZH: &str = "请将文件另存为 UTF-8 编码的 CSV，或在导入时用 -O encoding=编码名 指定文件的实际编码";
const FIX_EN: &str = "save the file as UTF-8 CSV, or name its real encoding with -O encoding=NAME";

/// How an encoding is named to people: `GBK/GB18030`, `Big5`, `windows-1252`.
fn people_name(enc: &'static Encoding) -> &'static str {
    if enc == GB18030 || enc == GBK {
        "GBK/GB18030"
    } else {
        display_name(enc)
    }
}

/// The value of the `encoding` option that reads `enc`: `gbk`, `big5`, `shift_jis`.
pub(crate) fn option_label(enc: &'static Encoding) -> String {
    if enc == GB18030 || enc == GBK {
        "gbk".to_owned()
    } else {
        enc.name().to_ascii_lowercase()
    }
}

fn list(encodings: &[&'static Encoding], and: &str, sep: &str) -> String {
    let names: Vec<&str> = encodings.iter().map(|&e| people_name(e)).collect();
    match names.split_last() {
        None => String::new(),
        Some((last, [])) => (*last).to_owned(),
        Some((last, rest)) => format!("{}{and}{last}", rest.join(sep)),
    }
}

/// The `auto` encoding could not decide.
pub(crate) fn unsure(likely: &[&'static Encoding], non_ascii: usize) -> String {
    let Some(&first) = likely.first() else {
        return both(
            format!(
                "无法确定文件的文字编码：它既不是 UTF-8，也不是常见的中文、日文、韩文或西欧编码；为避免乱码，未导入任何数据。{FIX_ZH}"
            ),
            format!(
                "cannot tell the file's text encoding: it is neither UTF-8 nor a common Chinese, Japanese, Korean or Western encoding; nothing was imported, to avoid garbled text. Fix: {FIX_EN}"
            ),
        );
    };
    let label = option_label(first);
    both(
        format!(
            "无法确定文件的文字编码：它不是 UTF-8，其中 {non_ascii} 个非 ASCII 字节可按多种编码解读（可能是 {}）；为避免乱码，未导入任何数据。请将文件另存为 UTF-8 编码的 CSV，或在导入时指定编码，例如 -O encoding={label}",
            list(likely, " 或 ", "、")
        ),
        format!(
            "cannot tell the file's text encoding: it is not UTF-8, and its {non_ascii} non-ASCII bytes fit several encodings (likely {}); nothing was imported, to avoid garbled text. Fix: save the file as UTF-8 CSV, or name its encoding, e.g. -O encoding={label}",
            list(likely, " or ", ", ")
        ),
    )
}

/// NUL bytes in a file that is neither UTF-8 nor UTF-16.
pub(crate) fn binary() -> String {
    both(
        format!(
            "文件含有 NUL 字节，既不是 UTF-8 也不是 UTF-16 文本：它是 xlsx 或其他二进制文件吗？未导入任何数据。{FIX_ZH}"
        ),
        format!(
            "the file holds NUL bytes and is neither UTF-8 nor UTF-16 text: is it an xlsx or another binary file? Nothing was imported. Fix: {FIX_EN}"
        ),
    )
}

/// A header cell with NUL characters: UTF-16 or UTF-32 read as something else.
pub(crate) fn header_nul(row: u64, column: usize) -> String {
    both(
        format!(
            "第{row}行（表头）第{column}列含有 NUL 字节：文件可能是 UTF-32（不支持），或没有字节顺序标记（BOM）的 UTF-16，未导入任何数据。请将文件另存为 UTF-8 编码的 CSV，或用 -O encoding=utf-16le（或 utf-16be）指定编码"
        ),
        format!(
            "row {row} (the header): column {column} holds NUL bytes: the file is probably UTF-32 (not supported), or UTF-16 without a byte order mark; nothing was imported. Fix: save it as UTF-8 CSV, or name the encoding with -O encoding=utf-16le (or utf-16be)"
        ),
    )
}

/// A header cell that does not decode.
pub(crate) fn header_undecodable(row: u64, column: usize, bytes: &str, encoding: &str) -> String {
    both(
        format!(
            "第{row}行（表头）第{column}列：字节 {bytes} 不是有效的 {encoding}，未导入任何数据。{FIX_ZH}"
        ),
        format!(
            "row {row} (the header): column {column}: bytes {bytes} are not valid {encoding}; nothing was imported. Fix: {FIX_EN}"
        ),
    )
}

/// Bytes the streaming decoder (UTF-16 and the like) cannot decode: the file stops there.
pub(crate) fn stream_undecodable(row: u64, bytes: &str, offset: u64, encoding: &str) -> String {
    both(
        format!(
            "第{row}行：第 {offset} 字节处的字节 {bytes} 不是有效的 {encoding}，文件从这里起无法读取。{FIX_ZH}"
        ),
        format!(
            "row {row}: bytes {bytes} at byte offset {offset} are not valid {encoding}; the file cannot be read from there on. Fix: {FIX_EN}"
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use encoding_rs::{BIG5, SHIFT_JIS, WINDOWS_1252};

    #[test]
    fn names_and_labels() {
        assert_eq!(option_label(GB18030), "gbk");
        assert_eq!(option_label(SHIFT_JIS), "shift_jis");
        assert_eq!(
            list(&[GB18030, BIG5, WINDOWS_1252], " or ", ", "),
            "GBK/GB18030, Big5 or windows-1252"
        );
        assert_eq!(list(&[BIG5], " or ", ", "), "Big5");
        let m = unsure(&[WINDOWS_1252, GB18030], 2);
        assert!(m.contains("可能是 windows-1252 或 GBK/GB18030"), "{m}");
        assert!(
            m.contains("(likely windows-1252 or GBK/GB18030)") && m.contains("-O encoding=windows-1252"),
            "{m}"
        );
        assert!(unsure(&[], 9).contains("neither UTF-8 nor"));
    }
}
