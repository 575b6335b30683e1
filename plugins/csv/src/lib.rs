//! The `csv` format plugin: `libdataport_plugin_csv.so`, built from
//! [`dataport_format_csv::CsvPlugin`] by the SDK's `export_plugin!`. See that crate for the
//! format's options and behaviour.

pub use dataport_format_csv::*;

// A plugin library has its own allocator; the system one spends much of a large import
// allocating cells here that are freed later in this library (see BENCHMARKS.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

dataport_plugin_sdk::export_plugin!(CsvPlugin);
