//! The options every layout plugin checks the same way.

use dataport_core::Module;
use dataport_plugin_sdk::{OptionKind, OptionSpec, Options, PluginError};

/// The modules a layout plugin serves, for its descriptor: every module of dataport.
pub const MODULES: [&str; 3] = ["customers", "contacts", "opportunities"];

/// The index in `formats` of the format `format` (ASCII case ignored), or `Unsupported` naming
/// the plugin and the formats it serves.
pub fn served_format(format: &str, plugin: &str, formats: &[&str]) -> Result<usize, PluginError> {
    formats
        .iter()
        .position(|f| f.eq_ignore_ascii_case(format))
        .ok_or_else(|| {
            let served: Vec<String> = formats.iter().map(|f| format!("`{f}`")).collect();
            PluginError::unsupported(format!(
                "format `{format}` is not served by the {plugin} plugin (it serves {})",
                served.join(" and ")
            ))
        })
}

/// The option `module` (the host passes it to layout plugins). Missing, the message says it is
/// required and which modules there are, followed by `missing_note`; a value that is no module
/// names it. Both are `InvalidOption`.
pub fn module_option(options: &Options, missing_note: &str) -> Result<Module, PluginError> {
    match options.get("module") {
        None => Err(PluginError::invalid_option(format!(
            "option `module` is required: customers, contacts or opportunities{missing_note}"
        ))),
        Some(v) => v.parse::<Module>().map_err(|_| {
            PluginError::invalid_option(format!(
                "option `module` must be customers, contacts or opportunities, not `{v}`"
            ))
        }),
    }
}

/// The declared `module` option, for a layout plugin's descriptor.
pub fn module_spec() -> OptionSpec {
    OptionSpec::new(
        "module",
        OptionKind::Text,
        "the module of the file; the server sets it from the job",
    )
    .reading()
    .writing()
    .choices(MODULES)
}

/// The declared `encoding` option of a layout plugin's writer: UTF-8 only (`why` says who reads
/// it). Reading declares its own `encoding` (the csv one).
pub fn utf8_writing_spec(why: &str) -> OptionSpec {
    OptionSpec::new(
        "encoding",
        OptionKind::Text,
        format!("written files are UTF-8 ({why}); only utf-8 is accepted"),
    )
    .writing()
    .default_value("utf-8")
    .choices(["utf-8", "utf8"])
}

/// The declared options named `names` out of `declared` (a format plugin's, for the format a
/// layout plugin reads or writes underneath), in the order of `names`.
pub fn reuse_specs(declared: &[OptionSpec], names: &[&str]) -> Vec<OptionSpec> {
    names
        .iter()
        .filter_map(|n| declared.iter().find(|s| s.name == *n).cloned())
        .collect()
}

/// Whether an `encoding` option names UTF-8 (`utf-8`, `utf8`, any ASCII case, trimmed).
pub fn is_utf8_label(label: &str) -> bool {
    let label = label.trim();
    label.eq_ignore_ascii_case("utf-8") || label.eq_ignore_ascii_case("utf8")
}

/// Refuses an `encoding` option other than UTF-8 for writing, with `message(value)` as an
/// `InvalidOption` error: vendors' importers read UTF-8.
pub fn ensure_utf8_writing(
    options: &Options,
    message: impl FnOnce(&str) -> String,
) -> Result<(), PluginError> {
    match options.get("encoding") {
        Some(encoding) if !is_utf8_label(encoding) => Err(PluginError::invalid_option(message(encoding))),
        _ => Ok(()),
    }
}

/// The options among `options` whose keys are in `keys` (ASCII case ignored), in the order given,
/// for the reader or writer underneath (the csv or xlsx format).
pub fn pass_through(options: &Options, keys: &[&str]) -> Options {
    options
        .iter()
        .filter(|(k, _)| keys.iter().any(|n| n.eq_ignore_ascii_case(k)))
        .collect()
}

#[cfg(test)]
mod tests {
    use dataport_plugin_sdk::ErrorKind;

    use super::*;

    fn options(pairs: &[(&str, &str)]) -> Options {
        pairs.iter().copied().collect()
    }

    #[test]
    fn modules_are_every_module() {
        let all: Vec<&str> = Module::ALL.iter().map(|m| m.as_str()).collect();
        assert_eq!(all, MODULES);
    }

    #[test]
    fn formats() {
        assert_eq!(
            served_format("Salesforce", "salesforce", &["salesforce"]).unwrap(),
            0
        );
        assert_eq!(
            served_format("HUBSPOT-XLSX", "hubspot", &["hubspot", "hubspot-xlsx"]).unwrap(),
            1
        );
        let e = served_format("csv", "salesforce", &["salesforce"]).unwrap_err();
        assert_eq!(e.kind, ErrorKind::Unsupported);
        assert_eq!(
            e.message,
            "format `csv` is not served by the salesforce plugin (it serves `salesforce`)"
        );
        let e = served_format("xlsx", "hubspot", &["hubspot", "hubspot-xlsx"]).unwrap_err();
        assert_eq!(
            e.message,
            "format `xlsx` is not served by the hubspot plugin (it serves `hubspot` and `hubspot-xlsx`)"
        );
    }

    #[test]
    fn module() {
        assert_eq!(
            module_option(&options(&[("MODULE", "contacts")]), "").unwrap(),
            Module::Contacts
        );
        let e = module_option(&options(&[]), " (the host passes it)").unwrap_err();
        assert_eq!(e.kind, ErrorKind::InvalidOption);
        assert_eq!(
            e.message,
            "option `module` is required: customers, contacts or opportunities (the host passes it)"
        );
        let e = module_option(&options(&[("module", "leads")]), "").unwrap_err();
        assert_eq!(e.kind, ErrorKind::InvalidOption);
        assert_eq!(
            e.message,
            "option `module` must be customers, contacts or opportunities, not `leads`"
        );
    }

    #[test]
    fn utf8_only_for_writing() {
        for label in ["utf-8", " UTF8 ", "Utf-8"] {
            assert!(is_utf8_label(label), "{label}");
        }
        for label in ["gbk", "utf-16le", "utf_8", ""] {
            assert!(!is_utf8_label(label), "{label}");
        }
        let message = |e: &str| format!("not `{e}`");
        assert!(ensure_utf8_writing(&options(&[]), message).is_ok());
        assert!(ensure_utf8_writing(&options(&[("encoding", "UTF-8")]), message).is_ok());
        let e = ensure_utf8_writing(&options(&[("Encoding", "gbk")]), message).unwrap_err();
        assert_eq!(
            (e.kind, e.message.as_str()),
            (ErrorKind::InvalidOption, "not `gbk`")
        );
    }

    #[test]
    fn passing_options_through() {
        let given = options(&[
            ("module", "customers"),
            ("Delimiter", ";"),
            ("bom", "no"),
            ("delimiter", "tab"),
        ]);
        let passed = pass_through(&given, &["delimiter", "encoding"]);
        assert_eq!(passed, options(&[("Delimiter", ";"), ("delimiter", "tab")]));
        assert_eq!(passed.get("delimiter"), Some("tab"));
        assert!(pass_through(&given, &[]).is_empty());
    }
}
