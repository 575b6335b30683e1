//! Key/value options given when a reader or writer is opened.

use std::str::FromStr;

use crate::error::PluginError;

/// Options the host itself sets (ABI v2): `locale`, the job's language (`zh-CN` or `en`).
/// Every plugin accepts them whether or not it declares them; callers may not give them.
pub const HOST_OPTIONS: &[&str] = &["locale"];

/// The options of one reader or writer, in the order given (e.g. csv: `encoding`, `delimiter`,
/// `bom`; xlsx: `sheet`; vendor plugins: `module`, `key_field`).
///
/// Keys match ASCII-case-insensitively; if a key is given twice, the last value wins. Call
/// [`Options::ensure_known`] first in `open_reader`/`open_writer` so that a typo is an
/// [`ErrorKind::InvalidOption`](crate::ErrorKind::InvalidOption) instead of being ignored.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Options {
    pairs: Vec<(String, String)>,
}

impl Options {
    /// No options.
    pub fn new() -> Options {
        Options::default()
    }

    /// Adds an option (a later one with the same key overrides it).
    pub fn with(mut self, key: impl Into<String>, value: impl Into<String>) -> Options {
        self.pairs.push((key.into(), value.into()));
        self
    }

    /// The value of `key`, if given.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.pairs
            .iter()
            .rev()
            .find(|(k, _)| k.eq_ignore_ascii_case(key))
            .map(|(_, v)| v.as_str())
    }

    /// The `locale` the host passes (ABI v2): `zh-CN` or `en`; `None` from a v1 host.
    pub fn locale(&self) -> Option<&str> {
        self.get("locale")
    }

    /// All pairs in the order given.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.pairs.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }

    pub fn is_empty(&self) -> bool {
        self.pairs.is_empty()
    }

    pub fn len(&self) -> usize {
        self.pairs.len()
    }

    /// Fails with `InvalidOption` naming the first key that is not in `known` (and listing `known`).
    pub fn ensure_known(&self, known: &[&str]) -> Result<(), PluginError> {
        match self.pairs.iter().find(|(k, _)| {
            !known
                .iter()
                .chain(HOST_OPTIONS)
                .any(|n| n.eq_ignore_ascii_case(k))
        }) {
            None => Ok(()),
            Some((k, _)) if known.is_empty() => Err(PluginError::invalid_option(format!(
                "unknown option `{k}`: this format takes no options"
            ))),
            Some((k, _)) => Err(PluginError::invalid_option(format!(
                "unknown option `{k}`; known options: {}",
                known.join(", ")
            ))),
        }
    }

    /// A boolean option: `true`/`false`, `yes`/`no`, `on`/`off`, `1`/`0` (any case).
    pub fn get_bool(&self, key: &str) -> Result<Option<bool>, PluginError> {
        let Some(v) = self.get(key) else { return Ok(None) };
        match parse_bool(v) {
            Some(b) => Ok(Some(b)),
            None => Err(PluginError::invalid_option(format!(
                "option `{key}` must be true or false, not `{v}`"
            ))),
        }
    }

    /// A single-character option such as a delimiter. Besides one literal character, `\t` (the
    /// two characters backslash and t) and `tab` mean a tab, since a real tab is hard to pass on a
    /// command line.
    pub fn get_char(&self, key: &str) -> Result<Option<char>, PluginError> {
        let Some(v) = self.get(key) else { return Ok(None) };
        match parse_char(v) {
            Some(c) => Ok(Some(c)),
            None => Err(PluginError::invalid_option(format!(
                "option `{key}` must be a single character, not `{v}`"
            ))),
        }
    }

    /// An option parsed with [`FromStr`] (numbers, enums of your own).
    pub fn get_parsed<T: FromStr>(&self, key: &str) -> Result<Option<T>, PluginError> {
        let Some(v) = self.get(key) else { return Ok(None) };
        v.trim()
            .parse()
            .map(Some)
            .map_err(|_| PluginError::invalid_option(format!("option `{key}` has an invalid value `{v}`")))
    }
}

/// A boolean option value, as [`Options::get_bool`] reads it.
pub(crate) fn parse_bool(v: &str) -> Option<bool> {
    match v.trim().to_ascii_lowercase().as_str() {
        "true" | "yes" | "on" | "1" => Some(true),
        "false" | "no" | "off" | "0" => Some(false),
        _ => None,
    }
}

/// A single-character option value, as [`Options::get_char`] reads it.
pub(crate) fn parse_char(v: &str) -> Option<char> {
    if v == "\\t" || v.eq_ignore_ascii_case("tab") {
        return Some('\t');
    }
    let mut chars = v.chars();
    match (chars.next(), chars.next()) {
        (Some(c), None) => Some(c),
        _ => None,
    }
}

impl<K: Into<String>, V: Into<String>> FromIterator<(K, V)> for Options {
    fn from_iter<I: IntoIterator<Item = (K, V)>>(iter: I) -> Options {
        Options {
            pairs: iter.into_iter().map(|(k, v)| (k.into(), v.into())).collect(),
        }
    }
}

impl From<&[(String, String)]> for Options {
    fn from(pairs: &[(String, String)]) -> Options {
        Options {
            pairs: pairs.to_vec(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ErrorKind;

    #[test]
    fn lookups() {
        let o: Options = [
            ("Delimiter", ";"),
            ("bom", "YES"),
            ("delimiter", "\\t"),
            ("n", "12"),
        ]
        .into_iter()
        .collect();
        assert_eq!(o.get("DELIMITER"), Some("\\t"));
        assert_eq!(o.get_char("delimiter").unwrap(), Some('\t'));
        assert_eq!(o.get_bool("bom").unwrap(), Some(true));
        assert_eq!(o.get_parsed::<u32>("n").unwrap(), Some(12));
        assert_eq!(o.get("missing"), None);
        assert_eq!(o.get_bool("missing").unwrap(), None);
        assert_eq!(o.len(), 4);
    }

    #[test]
    fn bad_values_are_invalid_options() {
        let o = Options::new()
            .with("bom", "maybe")
            .with("delimiter", ";;")
            .with("n", "x");
        assert_eq!(o.get_bool("bom").unwrap_err().kind, ErrorKind::InvalidOption);
        assert!(
            o.get_char("delimiter")
                .unwrap_err()
                .message
                .contains("single character")
        );
        assert!(o.get_parsed::<u32>("n").is_err());
    }

    #[test]
    fn unknown_keys_are_named() {
        let o = Options::new().with("delimter", ",");
        let e = o.ensure_known(&["delimiter", "encoding"]).unwrap_err();
        assert_eq!(e.kind, ErrorKind::InvalidOption);
        assert!(e.message.contains("`delimter`") && e.message.contains("delimiter, encoding"));
        assert!(
            o.ensure_known(&[])
                .unwrap_err()
                .message
                .contains("takes no options")
        );
        assert!(Options::new().ensure_known(&[]).is_ok());
        assert!(
            Options::new()
                .with("ENCODING", "gbk")
                .ensure_known(&["encoding"])
                .is_ok()
        );
    }
}
