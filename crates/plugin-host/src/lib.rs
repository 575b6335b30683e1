//! dataport-plugin-host: finds, loads and calls dataport format plugins.
//!
//! This is the only crate that calls `libloading` (in [`load_plugin`]) and the only host-side
//! user of the C ABI. Everything above it sees a loaded plugin through the SDK's safe
//! [`Plugin`]/[`Reader`]/[`Writer`] traits, exactly as it would see a plugin linked natively, so
//! the same code (and the same tests) run on both paths.
//!
//! **Loading** ([`load_plugin`]): `dlopen`, look up `dataport_plugin_init`, run the version
//! handshake of `dataport-plugin-abi`, check the vtable and copy the descriptor. Every failure is
//! a [`HostError`] that names the file: not a plugin (no entry symbol), ABI version mismatch
//! (both versions), init failure, a broken descriptor. Libraries are never unloaded.
//!
//! **Discovery** ([`PluginRegistry::discover`]): files named `libdataport_plugin_<name>.so` in
//! the configured directories, then in the defaults ([`default_plugin_dirs`]: the executable's
//! own directory and the cargo target directory this crate was built in), so a fresh clone's
//! `cargo run -- serve` finds the bundled csv and xlsx plugins. Two different plugins claiming
//! one format are a start-up error naming both files.
//!
//! **Calling**: one reader or writer instance per job, called sequentially. Bytes cross through
//! host callbacks over a [`ByteSource`]/[`ByteSink`]; an I/O error of the host is remembered and
//! reported as such, not as the plugin's fault. A plugin that panics (the SDK turns the panic
//! into a status) or reports an internal error fails that call with [`ErrorKind::Panic`] /
//! [`ErrorKind::Internal`], and the instance is never called again; the process carries on.
//!
//! Modules, leaves first: `error` and `call` (error buffer, options, status mapping),
//! `callbacks` (the host's byte callbacks and their `ctx`), `poison`; then `loading`, `reader`
//! and `writer`, `opening` (the [`Plugin`] impl) and `discovery`.
//!
//! [`Plugin`]: dataport_plugin_sdk::Plugin
//! [`Reader`]: dataport_plugin_sdk::Reader
//! [`Writer`]: dataport_plugin_sdk::Writer
//! [`ByteSource`]: dataport_plugin_sdk::ByteSource
//! [`ByteSink`]: dataport_plugin_sdk::ByteSink
//! [`ErrorKind::Panic`]: dataport_plugin_sdk::ErrorKind::Panic
//! [`ErrorKind::Internal`]: dataport_plugin_sdk::ErrorKind::Internal

mod call;
mod callbacks;
mod check;
mod discovery;
mod error;
mod isolation;
mod loading;
mod opening;
mod poison;
mod reader;
mod writer;

pub use check::{CheckInput, CheckResult, Verdict, check_plugin};
pub use discovery::{PluginRegistry, built_plugin_path, default_plugin_dirs};
pub use error::HostError;
pub use isolation::{Isolation, run_worker};
pub use loading::{LoadedPlugin, load_isolated, load_plugin};
