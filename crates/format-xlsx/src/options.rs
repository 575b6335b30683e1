//! The options of the reader and the writer, validated up front.

use dataport_plugin_sdk::{Direction, OptionKind, OptionSpec, Options, PluginError};

const MIB: u64 = 1 << 20;

/// The archive limits of the pre-scan (see [`crate::archive`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Limits {
    /// Most entries the zip archive may have.
    pub max_entries: u64,
    /// Most decompressed bytes of one part.
    pub max_entry_bytes: u64,
    /// Most decompressed bytes of all the parts read.
    pub max_total_bytes: u64,
    /// Most decompressed bytes per compressed byte (beyond the first MiB of a part).
    pub max_ratio: u64,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            max_entries: 10_000,
            max_entry_bytes: 1024 * MIB,
            max_total_bytes: 2048 * MIB,
            max_ratio: 100,
        }
    }
}

/// What [`crate::XlsxPlugin::open_reader`] accepts.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(crate) struct ReadOptions {
    /// The sheet's name or 1-based number; the first sheet when absent.
    pub sheet: Option<String>,
    /// `sheet_any`: the first of these names the workbook has; none of them: an empty table.
    pub sheet_any: Vec<String>,
    pub limits: Limits,
}

/// Every option of the xlsx plugin, as its descriptor declares them (vendor plugins that read or
/// write xlsx reuse `sheet`).
pub fn declared_options() -> Vec<OptionSpec> {
    let limits = Limits::default();
    let limit = |name: &str, help: &str, default: u64| {
        OptionSpec::new(name, OptionKind::Integer, help)
            .reading()
            .default_value(default.to_string())
    };
    vec![
        OptionSpec::new(
            "sheet",
            OptionKind::Text,
            "reading: the sheet's name or 1-based number (default: the first sheet); writing: the \
             first sheet's name",
        )
        .reading()
        .writing(),
        OptionSpec::new(
            "sheet_any",
            OptionKind::Text,
            "reading: sheet names separated by `|`; the first the workbook has is read, and a \
             workbook with none of them reads as an empty table (no header, no rows); not with \
             `sheet` (dataport's workbook imports use it: --module all)",
        )
        .reading(),
        limit(
            "max_zip_entries",
            "most entries in the zip archive",
            limits.max_entries,
        ),
        limit(
            "max_entry_mib",
            "most MiB one part may decompress to",
            limits.max_entry_bytes / MIB,
        ),
        limit(
            "max_total_mib",
            "most MiB all parts read may decompress to",
            limits.max_total_bytes / MIB,
        ),
        limit(
            "max_ratio",
            "most decompressed bytes per compressed byte (zip-bomb guard)",
            limits.max_ratio,
        ),
    ]
}

impl ReadOptions {
    pub fn parse(options: &Options) -> Result<ReadOptions, PluginError> {
        options.check_declared(&declared_options(), Direction::Read)?;
        let mut parsed = ReadOptions {
            sheet: sheet_name(options)?,
            sheet_any: match options.get("sheet_any") {
                None => Vec::new(),
                Some(names) => names
                    .split('|')
                    .map(str::trim)
                    .filter(|n| !n.is_empty())
                    .map(str::to_owned)
                    .collect(),
            },
            ..ReadOptions::default()
        };
        if options.get("sheet_any").is_some() {
            if parsed.sheet_any.is_empty() {
                return Err(PluginError::invalid_option("option `sheet_any` names no sheet"));
            }
            if parsed.sheet.is_some() {
                return Err(PluginError::invalid_option(
                    "options `sheet` and `sheet_any` exclude each other: name one sheet, or the choices",
                ));
            }
        }
        let limits = &mut parsed.limits;
        if let Some(n) = positive(options, "max_zip_entries")? {
            limits.max_entries = n;
        }
        if let Some(n) = positive(options, "max_entry_mib")? {
            limits.max_entry_bytes = mib(n, "max_entry_mib")?;
        }
        if let Some(n) = positive(options, "max_total_mib")? {
            limits.max_total_bytes = mib(n, "max_total_mib")?;
        }
        if let Some(n) = positive(options, "max_ratio")? {
            limits.max_ratio = n;
        }
        Ok(parsed)
    }
}

/// What [`crate::XlsxPlugin::open_writer`] accepts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct WriteOptions {
    /// The first sheet's name.
    pub sheet: String,
}

impl WriteOptions {
    pub fn parse(options: &Options) -> Result<WriteOptions, PluginError> {
        options.check_declared(&declared_options(), Direction::Write)?;
        Ok(WriteOptions {
            sheet: sheet_name(options)?.unwrap_or_else(|| "Sheet1".to_owned()),
        })
    }
}

fn sheet_name(options: &Options) -> Result<Option<String>, PluginError> {
    match options.get("sheet") {
        Some("") => Err(PluginError::invalid_option("option `sheet` is empty")),
        other => Ok(other.map(str::to_owned)),
    }
}

fn positive(options: &Options, key: &str) -> Result<Option<u64>, PluginError> {
    match options.get_parsed::<u64>(key)? {
        Some(0) => Err(PluginError::invalid_option(format!(
            "option `{key}` must be at least 1"
        ))),
        other => Ok(other),
    }
}

fn mib(n: u64, key: &str) -> Result<u64, PluginError> {
    n.checked_mul(MIB)
        .ok_or_else(|| PluginError::invalid_option(format!("option `{key}` is too large")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use dataport_plugin_sdk::ErrorKind;

    #[test]
    fn defaults_and_overrides() {
        let o = ReadOptions::parse(&Options::new()).unwrap();
        assert_eq!(o, ReadOptions::default());
        assert_eq!(o.limits.max_entry_bytes, 1 << 30);
        let o = ReadOptions::parse(
            &Options::new()
                .with("sheet", "客户")
                .with("max_zip_entries", "20")
                .with("MAX_ENTRY_MIB", "5")
                .with("max_total_mib", "6")
                .with("max_ratio", "1000"),
        )
        .unwrap();
        assert_eq!(o.sheet.as_deref(), Some("客户"));
        assert_eq!(
            o.limits,
            Limits {
                max_entries: 20,
                max_entry_bytes: 5 * MIB,
                max_total_bytes: 6 * MIB,
                max_ratio: 1000
            }
        );
    }

    #[test]
    fn sheet_any_names_choices_and_excludes_sheet() {
        let o = ReadOptions::parse(&Options::new().with("sheet_any", "客户| Customers |")).unwrap();
        assert_eq!(o.sheet_any, ["客户", "Customers"]);
        for options in [
            Options::new().with("sheet_any", " | "),
            Options::new().with("sheet_any", "客户").with("sheet", "1"),
        ] {
            let err = ReadOptions::parse(&options).unwrap_err();
            assert_eq!(err.kind, ErrorKind::InvalidOption);
            assert!(err.message.contains("sheet_any"), "{}", err.message);
        }
    }

    #[test]
    fn bad_values() {
        for (k, v) in [
            ("max_ratio", "0"),
            ("max_ratio", "-1"),
            ("max_entry_mib", "x"),
            ("max_total_mib", "18446744073709551615"),
            ("sheet", ""),
            ("delimiter", ","),
        ] {
            let err = ReadOptions::parse(&Options::new().with(k, v)).unwrap_err();
            assert_eq!(err.kind, ErrorKind::InvalidOption, "{k}={v}");
            assert!(err.message.contains(k), "{}", err.message);
        }
        assert_eq!(WriteOptions::parse(&Options::new()).unwrap().sheet, "Sheet1");
        assert!(WriteOptions::parse(&Options::new().with("max_ratio", "5")).is_err());
    }
}
