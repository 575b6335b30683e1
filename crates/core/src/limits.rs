//! Bounds on request input: every limit a request field has, in one place, with the checks
//! that enforce them. The proto comments of the bounded fields and the README's "Limits" table
//! quote these numbers.
//!
//! Every violation is the caller's to fix, so the server answers INVALID_ARGUMENT with a
//! `google.rpc.BadRequest` naming the field (a bound is a property of the field, as in
//! Google's API guidelines; RESOURCE_EXHAUSTED is left to quotas such as upload sizes and
//! concurrent imports). Nothing here reaches the database unchecked: a value that passes is
//! storable on both backends (no NUL, which PostgreSQL text cannot hold) and small enough for
//! SQLite's LIKE and bind limits.

/// Longest `file_name` (ImportSpec, ExportRequest), in UTF-8 bytes, after path components are
/// stripped: the common file-system limit for one name.
pub const MAX_FILE_NAME_BYTES: usize = 255;
/// Most options (`FormatOption`s) in one request.
pub const MAX_OPTIONS: usize = 64;
/// Longest option key, in bytes.
pub const MAX_OPTION_KEY_BYTES: usize = 64;
/// Longest option value, in bytes.
pub const MAX_OPTION_VALUE_BYTES: usize = 4096;
/// Longest `name_contains` filter, in characters (names are at most 100 characters long).
pub const MAX_NAME_CONTAINS_CHARS: usize = 200;
/// Most values in one list of a filter (`codes`, `customer_codes`, `owners`, ...). Lists of any
/// length up to this work on both backends (one bind parameter each, see the store's filters);
/// the gRPC message limit (`--max-message-bytes`, 4 MiB) usually binds first.
pub const MAX_FILTER_VALUES: usize = 1_000_000;
/// Longest single value in a filter list, in characters (no stored value is longer).
pub const MAX_FILTER_VALUE_CHARS: usize = 256;
/// Longest `ImportSpec.request_id` (idempotency key), in characters; no control characters.
pub const MAX_REQUEST_ID_CHARS: usize = 128;
/// Length of `ImportSpec.sha256` when given: lowercase or uppercase hex of 32 bytes.
pub const SHA256_HEX_CHARS: usize = 64;

/// A request field that breaks a limit: its dotted path and what is wrong, for a person.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    pub field: String,
    pub message: String,
}

impl Violation {
    fn new(field: &str, message: impl Into<String>) -> Self {
        Violation {
            field: field.to_owned(),
            message: message.into(),
        }
    }
}

impl std::fmt::Display for Violation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Violation {}

/// The first control character of `text` (NUL, line breaks, tabs, DEL, C1), if any.
fn control_char(text: &str) -> Option<char> {
    text.chars().find(|c| c.is_control())
}

/// `U+XXXX` for messages (the character itself may be invisible).
fn describe(c: char) -> String {
    format!("U+{:04X}", c as u32)
}

/// The file name to keep for `raw`: only its last path component (after `/` or `\`), trimmed.
/// Empty stays empty (no name given). Refused: control characters (NUL included), a name over
/// [`MAX_FILE_NAME_BYTES`], and a path whose last component is empty, `.` or `..`.
pub fn file_name(field: &str, raw: &str) -> Result<String, Violation> {
    if let Some(c) = control_char(raw) {
        return Err(Violation::new(
            field,
            format!(
                "{field} contains the control character {}; send the file's plain name",
                describe(c)
            ),
        ));
    }
    if raw.trim().is_empty() {
        return Ok(String::new());
    }
    let last = raw.rsplit(['/', '\\']).next().unwrap_or(raw).trim();
    if last.is_empty() || last == "." || last == ".." {
        return Err(Violation::new(
            field,
            format!(
                "{field} '{}' names no file; send the file's name, e.g. customers.csv",
                truncated(raw)
            ),
        ));
    }
    if last.len() > MAX_FILE_NAME_BYTES {
        return Err(Violation::new(
            field,
            format!(
                "{field} is {} bytes long; at most {MAX_FILE_NAME_BYTES} bytes are allowed",
                last.len()
            ),
        ));
    }
    Ok(last.to_owned())
}

/// Checks a request's options (`field` is e.g. `spec.options`): at most [`MAX_OPTIONS`], keys
/// non-empty, at most [`MAX_OPTION_KEY_BYTES`] and without control characters, values at most
/// [`MAX_OPTION_VALUE_BYTES`] and without NUL (a tab is a valid delimiter).
pub fn options<'a>(
    field: &str,
    options: impl ExactSizeIterator<Item = (&'a str, &'a str)>,
) -> Result<(), Violation> {
    if options.len() > MAX_OPTIONS {
        return Err(Violation::new(
            field,
            format!(
                "{field} has {} options; at most {MAX_OPTIONS} are allowed",
                options.len()
            ),
        ));
    }
    for (i, (key, value)) in options.enumerate() {
        if key.trim().is_empty() {
            return Err(Violation::new(field, format!("{field}[{i}] has an empty key")));
        }
        if key.len() > MAX_OPTION_KEY_BYTES {
            return Err(Violation::new(
                field,
                format!(
                    "{field}[{i}]: the key is {} bytes long; at most {MAX_OPTION_KEY_BYTES} bytes are allowed",
                    key.len()
                ),
            ));
        }
        if let Some(c) = control_char(key) {
            return Err(Violation::new(
                field,
                format!(
                    "{field}[{i}]: the key contains the control character {}",
                    describe(c)
                ),
            ));
        }
        if value.len() > MAX_OPTION_VALUE_BYTES {
            return Err(Violation::new(
                field,
                format!(
                    "{field}[{i}] ({key}): the value is {} bytes long; at most {MAX_OPTION_VALUE_BYTES} bytes are allowed",
                    value.len()
                ),
            ));
        }
        if value.contains('\0') {
            return Err(Violation::new(
                field,
                format!("{field}[{i}] ({key}): the value contains a NUL character"),
            ));
        }
    }
    Ok(())
}

/// Checks a free-text filter (`name_contains`): at most `max_chars` characters, no control
/// characters.
pub fn filter_text(field: &str, text: &str, max_chars: usize) -> Result<(), Violation> {
    let chars = text.chars().count();
    if chars > max_chars {
        return Err(Violation::new(
            field,
            format!("{field} is {chars} characters long; at most {max_chars} are allowed"),
        ));
    }
    if let Some(c) = control_char(text) {
        return Err(Violation::new(
            field,
            format!("{field} contains the control character {}", describe(c)),
        ));
    }
    Ok(())
}

/// Checks a filter list: at most [`MAX_FILTER_VALUES`] values, each at most
/// [`MAX_FILTER_VALUE_CHARS`] characters without control characters.
pub fn filter_list(field: &str, values: &[String]) -> Result<(), Violation> {
    if values.len() > MAX_FILTER_VALUES {
        return Err(Violation::new(
            field,
            format!(
                "{field} has {} values; at most {MAX_FILTER_VALUES} are allowed",
                values.len()
            ),
        ));
    }
    for (i, value) in values.iter().enumerate() {
        let chars = value.chars().count();
        if chars > MAX_FILTER_VALUE_CHARS {
            return Err(Violation::new(
                field,
                format!(
                    "{field}[{i}] is {chars} characters long; at most {MAX_FILTER_VALUE_CHARS} are allowed"
                ),
            ));
        }
        if let Some(c) = control_char(value) {
            return Err(Violation::new(
                field,
                format!("{field}[{i}] contains the control character {}", describe(c)),
            ));
        }
    }
    Ok(())
}

/// Checks a declared sha256: empty, or [`SHA256_HEX_CHARS`] hex digits (surrounding blanks
/// allowed).
pub fn sha256_hex(field: &str, text: &str) -> Result<(), Violation> {
    let hex = text.trim();
    if hex.is_empty() || (hex.len() == SHA256_HEX_CHARS && hex.bytes().all(|b| b.is_ascii_hexdigit())) {
        return Ok(());
    }
    Err(Violation::new(
        field,
        format!(
            "{field} '{}' is not a sha256: expected {SHA256_HEX_CHARS} hex digits, or nothing",
            truncated(text)
        ),
    ))
}

/// At most 40 characters of `text`, control characters escaped, for echoing it in a message.
fn truncated(text: &str) -> String {
    let mut out: String = text.chars().take(40).flat_map(char::escape_debug).collect();
    if text.chars().count() > 40 {
        out.push('…');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_names_keep_their_last_component() {
        assert_eq!(file_name("f", "a/b\\c.csv").unwrap(), "c.csv");
        assert_eq!(file_name("f", "/etc/passwd").unwrap(), "passwd");
        assert_eq!(file_name("f", "C:\\Users\\me\\客户.xlsx").unwrap(), "客户.xlsx");
        assert_eq!(file_name("f", " plain.csv ").unwrap(), "plain.csv");
        assert_eq!(file_name("f", "").unwrap(), "");
        assert_eq!(file_name("f", "  ").unwrap(), "");
        for bad in ["a/", "..", "a/..", "x\\."] {
            let e = file_name("spec.file_name", bad).unwrap_err();
            assert_eq!(e.field, "spec.file_name");
            assert!(e.message.contains("names no file"), "{e}");
        }
    }

    #[test]
    fn file_names_are_bounded_and_printable() {
        let e = file_name("spec.file_name", "a\0b.csv").unwrap_err();
        assert_eq!(e.field, "spec.file_name");
        assert!(e.message.contains("U+0000"), "{e}");
        assert!(file_name("f", "a\nb.csv").unwrap_err().message.contains("U+000A"));
        let max = "x".repeat(MAX_FILE_NAME_BYTES);
        assert_eq!(file_name("f", &max).unwrap(), max);
        let e = file_name("spec.file_name", &"x".repeat(MAX_FILE_NAME_BYTES + 1)).unwrap_err();
        assert!(e.message.contains("256 bytes long; at most 255"), "{e}");
        // Bytes, not characters: 86 three-byte characters are 258 bytes.
        assert!(file_name("f", &"客".repeat(86)).is_err());
        // Only the kept component counts.
        let long_dir = format!("{}/a.csv", "d".repeat(1000));
        assert_eq!(file_name("f", &long_dir).unwrap(), "a.csv");
    }

    #[test]
    fn options_are_bounded() {
        let ok = [("encoding", "gbk"), ("delimiter", "\t")];
        assert!(options("spec.options", ok.iter().copied()).is_ok());
        let many: Vec<(&str, &str)> = (0..=MAX_OPTIONS).map(|_| ("k", "v")).collect();
        let e = options("spec.options", many.iter().copied()).unwrap_err();
        assert_eq!(e.field, "spec.options");
        assert!(e.message.contains("65 options; at most 64"), "{e}");
        let key = "k".repeat(MAX_OPTION_KEY_BYTES + 1);
        assert!(
            options("o", [(key.as_str(), "v")].into_iter())
                .unwrap_err()
                .message
                .contains("the key is 65 bytes")
        );
        let value = "v".repeat(MAX_OPTION_VALUE_BYTES + 1);
        let e = options("o", [("sheet", value.as_str())].into_iter()).unwrap_err();
        assert!(e.message.contains("o[0] (sheet): the value is 4097 bytes"), "{e}");
        assert!(
            options("o", [("", "v")].into_iter())
                .unwrap_err()
                .message
                .contains("empty key")
        );
        assert!(options("o", [("a\nb", "v")].into_iter()).is_err());
        assert!(
            options("o", [("a", "v\0")].into_iter())
                .unwrap_err()
                .message
                .contains("NUL")
        );
    }

    #[test]
    fn filters_are_bounded() {
        assert!(
            filter_text(
                "n",
                &"客".repeat(MAX_NAME_CONTAINS_CHARS),
                MAX_NAME_CONTAINS_CHARS
            )
            .is_ok()
        );
        let e = filter_text(
            "filter.customers.name_contains",
            &"a".repeat(201),
            MAX_NAME_CONTAINS_CHARS,
        )
        .unwrap_err();
        assert_eq!(e.field, "filter.customers.name_contains");
        assert!(e.message.contains("201 characters long; at most 200"), "{e}");
        assert!(
            filter_text("n", "a\0", 200)
                .unwrap_err()
                .message
                .contains("U+0000")
        );

        let codes: Vec<String> = (0..100_000).map(|i| format!("C{i:06}")).collect();
        assert!(filter_list("filter.customers.codes", &codes).is_ok());
        let e = filter_list("filter.customers.codes", &["ok".into(), "b\0ad".into()]).unwrap_err();
        assert!(e.message.contains("filter.customers.codes[1] contains"), "{e}");
        let e = filter_list("f", &["x".repeat(MAX_FILTER_VALUE_CHARS + 1)]).unwrap_err();
        assert!(e.message.contains("257 characters long"), "{e}");
        let too_many = vec![String::new(); MAX_FILTER_VALUES + 1];
        assert!(
            filter_list("f", &too_many)
                .unwrap_err()
                .message
                .contains("1000001 values")
        );
    }

    #[test]
    fn sha256_is_hex_or_nothing() {
        assert!(sha256_hex("s", "").is_ok());
        assert!(sha256_hex("s", &"aB".repeat(32)).is_ok());
        let e = sha256_hex("spec.sha256", "xyz").unwrap_err();
        assert_eq!(e.field, "spec.sha256");
        assert!(sha256_hex("s", &"a".repeat(65)).is_err());
        assert!(sha256_hex("s", &"g".repeat(64)).is_err());
    }
}
