//! The options the csv reader and writer take, declared once: the descriptor lists them, and
//! the reader and writer check what they are given against them.

use dataport_plugin_sdk::{OptionKind, OptionSpec};

/// Default of the `max_field_bytes` reader option: 1 MiB.
pub const DEFAULT_MAX_FIELD_BYTES: usize = 1 << 20;
/// Default of the `max_record_bytes` reader option: 8 MiB.
pub const DEFAULT_MAX_RECORD_BYTES: usize = 8 << 20;
/// Default of the `max_fields` reader option.
pub const DEFAULT_MAX_FIELDS: usize = 16_384;

/// Every option of the csv plugin (vendor plugins that read or write csv reuse some of them).
pub fn declared_options() -> Vec<OptionSpec> {
    vec![
        OptionSpec::new(
            "encoding",
            OptionKind::Text,
            "the file's character set: auto (BOM, UTF-8, else GB18030), utf-8, utf-16le, utf-16be, gbk, \
             gb18030 or another WHATWG label",
        )
        .reading()
        .default_value("auto"),
        OptionSpec::new(
            "delimiter",
            OptionKind::Char,
            "field separator, one ASCII character (tab or \\t for a tab); reading guesses , ; or tab \
             from the header line when not given",
        )
        .reading()
        .writing()
        .default_value(","),
        OptionSpec::new("max_field_bytes", OptionKind::Integer, "longest field, in bytes")
            .reading()
            .default_value(DEFAULT_MAX_FIELD_BYTES.to_string()),
        OptionSpec::new(
            "max_record_bytes",
            OptionKind::Integer,
            "longest record, in bytes",
        )
        .reading()
        .default_value(DEFAULT_MAX_RECORD_BYTES.to_string()),
        OptionSpec::new("max_fields", OptionKind::Integer, "most fields in one record")
            .reading()
            .default_value(DEFAULT_MAX_FIELDS.to_string()),
        OptionSpec::new(
            "bom",
            OptionKind::Bool,
            "start the file with a UTF-8 byte order mark, so that Excel opens it as UTF-8",
        )
        .writing()
        .default_value("true"),
    ]
}
