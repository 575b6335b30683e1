//! [`HostError`]: why a plugin could not be loaded or a directory not scanned.

use std::path::PathBuf;

use dataport_plugin_abi as abi;
use dataport_plugin_abi::Status;

/// Why a plugin could not be loaded or a directory not scanned. Every variant names the file.
#[derive(Debug, thiserror::Error)]
pub enum HostError {
    /// The library could not be opened at all (not a shared library, missing dependencies...).
    #[error("cannot load plugin {}: {reason}", path.display())]
    Open { path: PathBuf, reason: String },
    /// The library does not export the entry point.
    #[error(
        "{} is not a dataport plugin: it does not export `{}` (build it with the dataport plugin SDK's export_plugin!, or remove it from the plugin directory)",
        path.display(), abi::ENTRY_SYMBOL_NAME
    )]
    NotAPlugin { path: PathBuf },
    /// The plugin was built for another ABI version.
    #[error(
        "plugin {} was built for dataport plugin ABI v{found}, but this dataport speaks ABI v{expected}; rebuild the plugin against dataport-plugin-sdk for ABI v{expected}{}",
        path.display(), detail.as_deref().map(|d| format!(" (the plugin says: {d})")).unwrap_or_default()
    )]
    AbiMismatch {
        path: PathBuf,
        expected: u32,
        found: u32,
        detail: Option<String>,
    },
    /// `dataport_plugin_init` failed.
    #[error("plugin {} failed to initialise ({status}): {message}", path.display())]
    InitFailed {
        path: PathBuf,
        status: Status,
        message: String,
    },
    /// The vtable or descriptor is unusable.
    #[error("plugin {} is broken: {reason}", path.display())]
    Broken { path: PathBuf, reason: String },
    /// Two plugins claim the same format. `first` and `second` describe each plugin and its file.
    #[error(
        "two plugins claim the format `{format}`: {first} and {second}; remove one of them from the plugin directories"
    )]
    DuplicateFormat {
        format: String,
        first: String,
        second: String,
    },
    /// The worker process of an isolated plugin could not describe it (`reason` names the file).
    #[error("plugin {}: {reason}", path.display())]
    Worker { path: PathBuf, reason: String },
    /// A configured plugin directory cannot be read.
    #[error("cannot read plugin directory {}: {source}", path.display())]
    Dir { path: PathBuf, source: std::io::Error },
}
