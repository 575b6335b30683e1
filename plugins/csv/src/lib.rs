//! The `csv` format plugin: `libdataport_plugin_csv.so`, built from
//! [`dataport_format_csv::CsvPlugin`] by the SDK's `export_plugin!`. See that crate for the
//! format's options and behaviour.

pub use dataport_format_csv::*;

dataport_plugin_sdk::export_plugin!(CsvPlugin);
