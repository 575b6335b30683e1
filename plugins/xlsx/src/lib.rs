//! The `xlsx` format plugin: `libdataport_plugin_xlsx.so`, built from
//! [`dataport_format_xlsx::XlsxPlugin`] by the SDK's `export_plugin!`. See that crate for the
//! format's options, defences and behaviour.

pub use dataport_format_xlsx::*;

dataport_plugin_sdk::export_plugin!(XlsxPlugin);
