//! The options a plugin declares: name, type, where it applies, default, allowed values and help.
//!
//! A plugin lists them in its [`Descriptor`](crate::Descriptor) with
//! [`Descriptor::option`](crate::Descriptor::option). The host shows them (`dataport formats`,
//! ListFormats) and refuses an unknown or invalid option before a job starts; the plugin checks
//! the same list in `open_reader`/`open_writer` with [`Options::check_declared`], so the rules are
//! written once.

use dataport_plugin_abi as abi;

use crate::error::PluginError;
use crate::options::{Options, parse_bool, parse_char};

/// The type of an option's value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OptionKind {
    /// Any text.
    Text,
    /// `true`/`false`, `yes`/`no`, `on`/`off`, `1`/`0`, any case ([`Options::get_bool`]).
    Bool,
    /// A whole number ([`Options::get_parsed`]).
    Integer,
    /// One character; `\t` and `tab` mean a tab ([`Options::get_char`]).
    Char,
}

impl OptionKind {
    /// The `OPTION_*` constant of the ABI.
    pub fn to_abi(self) -> u32 {
        match self {
            OptionKind::Text => abi::OPTION_TEXT,
            OptionKind::Bool => abi::OPTION_BOOL,
            OptionKind::Integer => abi::OPTION_INTEGER,
            OptionKind::Char => abi::OPTION_CHAR,
        }
    }

    /// The kind of an ABI constant; unknown values are `Text` (the ABI's rule).
    pub fn from_abi(kind: u32) -> OptionKind {
        match kind {
            abi::OPTION_BOOL => OptionKind::Bool,
            abi::OPTION_INTEGER => OptionKind::Integer,
            abi::OPTION_CHAR => OptionKind::Char,
            _ => OptionKind::Text,
        }
    }

    /// The word `dataport formats` shows.
    pub fn as_str(self) -> &'static str {
        match self {
            OptionKind::Text => "text",
            OptionKind::Bool => "bool",
            OptionKind::Integer => "integer",
            OptionKind::Char => "char",
        }
    }
}

/// Whether a reader or a writer is being opened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    Read,
    Write,
}

/// One declared option. Build it with [`OptionSpec::new`] and the chained methods:
///
/// ```
/// # use dataport_plugin_sdk::{OptionKind, OptionSpec};
/// let bom = OptionSpec::new("bom", OptionKind::Bool, "start the file with a UTF-8 byte order mark")
///     .writing()
///     .default_value("true");
/// assert!(bom.check_value("no").is_ok());
/// assert!(bom.check_value("maybe").is_err());
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OptionSpec {
    /// The key, lower case; given keys match ASCII-case-insensitively.
    pub name: String,
    pub kind: OptionKind,
    /// It applies to readers.
    pub reading: bool,
    /// It applies to writers.
    pub writing: bool,
    /// The value used when the option is not given; empty when there is none or it depends on
    /// the input (the help then says so).
    pub default: String,
    /// The allowed values (compared ASCII-case-insensitively); empty means any value of `kind`.
    pub choices: Vec<String>,
    /// One line of English help.
    pub help: String,
}

impl OptionSpec {
    /// An option that applies nowhere yet: add [`reading`](OptionSpec::reading) and/or
    /// [`writing`](OptionSpec::writing).
    pub fn new(name: impl Into<String>, kind: OptionKind, help: impl Into<String>) -> OptionSpec {
        OptionSpec {
            name: name.into(),
            kind,
            reading: false,
            writing: false,
            default: String::new(),
            choices: Vec::new(),
            help: help.into(),
        }
    }

    /// It applies to readers.
    pub fn reading(mut self) -> OptionSpec {
        self.reading = true;
        self
    }

    /// It applies to writers.
    pub fn writing(mut self) -> OptionSpec {
        self.writing = true;
        self
    }

    /// Its default, as text.
    pub fn default_value(mut self, value: impl Into<String>) -> OptionSpec {
        self.default = value.into();
        self
    }

    /// Its allowed values.
    pub fn choices<S: Into<String>>(mut self, choices: impl IntoIterator<Item = S>) -> OptionSpec {
        self.choices = choices.into_iter().map(Into::into).collect();
        self
    }

    /// Where it applies, as the ABI's `OPTION_READ | OPTION_WRITE` bits.
    pub fn uses_to_abi(&self) -> u32 {
        (if self.reading { abi::OPTION_READ } else { 0 }) | (if self.writing { abi::OPTION_WRITE } else { 0 })
    }

    /// Sets where it applies from the ABI's bits.
    pub fn with_abi_uses(mut self, uses: u32) -> OptionSpec {
        self.reading = uses & abi::OPTION_READ != 0;
        self.writing = uses & abi::OPTION_WRITE != 0;
        self
    }

    /// Whether it applies when opening in `direction`.
    pub fn applies_to(&self, direction: Direction) -> bool {
        match direction {
            Direction::Read => self.reading,
            Direction::Write => self.writing,
        }
    }

    /// Checks a value against the type and the choices; the error is a sentence naming the option.
    pub fn check_value(&self, value: &str) -> Result<(), String> {
        let name = &self.name;
        let typed = match self.kind {
            OptionKind::Text => true,
            OptionKind::Bool => parse_bool(value).is_some(),
            OptionKind::Integer => value.trim().parse::<i64>().is_ok(),
            OptionKind::Char => parse_char(value).is_some(),
        };
        if !typed {
            let expected = match self.kind {
                OptionKind::Bool => "true or false",
                OptionKind::Integer => "a whole number",
                _ => "a single character",
            };
            return Err(format!("option `{name}` must be {expected}, not `{value}`"));
        }
        if !self.choices.is_empty() && !self.choices.iter().any(|c| c.eq_ignore_ascii_case(value.trim())) {
            return Err(format!(
                "option `{name}` must be one of {}, not `{value}`",
                self.choices.join(", ")
            ));
        }
        Ok(())
    }
}

impl Options {
    /// Checks every given option against the `declared` ones that apply in `direction`: an
    /// unknown key or an invalid value is an
    /// [`ErrorKind::InvalidOption`](crate::ErrorKind::InvalidOption) that names the valid keys or
    /// values. The host runs the same check before a job starts.
    pub fn check_declared(&self, declared: &[OptionSpec], direction: Direction) -> Result<(), PluginError> {
        let applicable: Vec<&OptionSpec> = declared.iter().filter(|s| s.applies_to(direction)).collect();
        for (key, value) in self.iter() {
            if crate::options::HOST_OPTIONS
                .iter()
                .any(|h| h.eq_ignore_ascii_case(key))
            {
                continue;
            }
            match applicable.iter().find(|s| s.name.eq_ignore_ascii_case(key)) {
                Some(spec) => spec.check_value(value).map_err(PluginError::invalid_option)?,
                None => return Err(unknown_option(key, &applicable, direction)),
            }
        }
        Ok(())
    }
}

fn unknown_option(key: &str, applicable: &[&OptionSpec], direction: Direction) -> PluginError {
    let when = match direction {
        Direction::Read => "reading",
        Direction::Write => "writing",
    };
    if applicable.is_empty() {
        PluginError::invalid_option(format!(
            "unknown option `{key}`: this format takes no options when {when}"
        ))
    } else {
        let names: Vec<&str> = applicable.iter().map(|s| s.name.as_str()).collect();
        PluginError::invalid_option(format!(
            "unknown option `{key}`; options when {when}: {}",
            names.join(", ")
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ErrorKind;

    fn declared() -> Vec<OptionSpec> {
        vec![
            OptionSpec::new("delimiter", OptionKind::Char, "field separator")
                .reading()
                .writing(),
            OptionSpec::new("bom", OptionKind::Bool, "byte order mark").writing(),
            OptionSpec::new("max_fields", OptionKind::Integer, "limit").reading(),
            OptionSpec::new("encoding", OptionKind::Text, "charset")
                .reading()
                .choices(["auto", "utf-8", "gbk"]),
        ]
    }

    #[test]
    fn valid_options_pass_in_their_direction() {
        let o = Options::new()
            .with("Delimiter", "tab")
            .with("max_fields", " 12 ")
            .with("encoding", "GBK");
        o.check_declared(&declared(), Direction::Read).unwrap();
        Options::new()
            .with("bom", "off")
            .check_declared(&declared(), Direction::Write)
            .unwrap();
    }

    #[test]
    fn unknown_keys_name_the_options_of_that_direction() {
        let e = Options::new()
            .with("bom", "yes")
            .check_declared(&declared(), Direction::Read)
            .unwrap_err();
        assert_eq!(e.kind, ErrorKind::InvalidOption);
        assert_eq!(
            e.message,
            "unknown option `bom`; options when reading: delimiter, max_fields, encoding"
        );
        let none = Options::new()
            .with("x", "1")
            .check_declared(&[], Direction::Write)
            .unwrap_err();
        assert!(
            none.message.contains("takes no options when writing"),
            "{}",
            none.message
        );
    }

    #[test]
    fn bad_values_name_what_is_expected() {
        let check = |k: &str, v: &str| {
            Options::new()
                .with(k, v)
                .check_declared(&declared(), Direction::Read)
                .unwrap_err()
                .message
        };
        assert_eq!(
            check("delimiter", ";;"),
            "option `delimiter` must be a single character, not `;;`"
        );
        assert_eq!(
            check("max_fields", "lots"),
            "option `max_fields` must be a whole number, not `lots`"
        );
        assert_eq!(
            check("encoding", "latin9"),
            "option `encoding` must be one of auto, utf-8, gbk, not `latin9`"
        );
    }
}
