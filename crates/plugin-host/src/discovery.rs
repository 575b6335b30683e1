//! Discovery: which plugin libraries in which directories are loaded, in what order, and which
//! copy wins when the same plugin is found more than once.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::error::HostError;
use crate::isolation::Isolation;
use crate::loading::{LoadedPlugin, load_isolated, load_plugin};

/// File name prefix of plugin libraries; `libdataport_plugin_csv.so` serves the csv plugin.
#[cfg(not(windows))]
const LIB_PREFIX: &str = "libdataport_plugin_";
#[cfg(windows)]
const LIB_PREFIX: &str = "dataport_plugin_";

/// The loaded plugins, by format.
#[derive(Debug, Default, Clone)]
pub struct PluginRegistry {
    plugins: Vec<Arc<LoadedPlugin>>,
    by_format: HashMap<String, Arc<LoadedPlugin>>,
}

impl PluginRegistry {
    /// Loads every plugin library in `dirs` (in order), then in [`default_plugin_dirs`].
    ///
    /// A configured directory that does not exist is an error; a default one is skipped. The
    /// same library reached twice (a hard link or two paths) loads once, and an identical copy
    /// of a plugin (same name, version and formats) in a later default directory is skipped.
    /// Any other failure stops discovery: a server should not start with a half-loaded set.
    pub fn discover(dirs: &[PathBuf]) -> Result<PluginRegistry, HostError> {
        Self::discover_with(dirs, None)
    }

    /// [`PluginRegistry::discover`], with the plugins of `dirs` (not the bundled ones in the
    /// default directories) run in worker processes when `isolation` is given.
    pub fn discover_with(
        dirs: &[PathBuf],
        isolation: Option<&Isolation>,
    ) -> Result<PluginRegistry, HostError> {
        let configured = dirs.iter().map(|d| (d.clone(), true));
        let defaults = default_plugin_dirs().into_iter().map(|d| (d, false));
        Self::scan(configured.chain(defaults), isolation)
    }

    /// Like [`PluginRegistry::discover`], but only `dirs`, without the defaults.
    pub fn load_dirs(dirs: &[PathBuf]) -> Result<PluginRegistry, HostError> {
        Self::scan(dirs.iter().map(|d| (d.clone(), true)), None)
    }

    fn scan(
        dirs: impl Iterator<Item = (PathBuf, bool)>,
        isolation: Option<&Isolation>,
    ) -> Result<PluginRegistry, HostError> {
        let mut registry = PluginRegistry::default();
        let mut seen_files = HashSet::new();
        for (dir, required) in dirs {
            let entries = match std::fs::read_dir(&dir) {
                Ok(entries) => entries,
                Err(source) if required => return Err(HostError::Dir { path: dir, source }),
                Err(_) => continue,
            };
            let mut files: Vec<PathBuf> = entries
                .filter_map(Result::ok)
                .map(|e| e.path())
                .filter(|p| is_plugin_file(p))
                .collect();
            files.sort();
            for file in files {
                if !seen_files.insert(file_identity(&file)) {
                    continue;
                }
                let isolated = isolation.filter(|i| required && i.isolates(&plugin_name(&file)));
                let plugin = match isolated {
                    Some(isolation) => load_isolated(&file, isolation)?,
                    None => load_plugin(&file)?,
                };
                registry.add(Arc::new(plugin), required)?;
            }
        }
        Ok(registry)
    }

    /// Adds a loaded plugin; `explicit` copies are never silently skipped.
    fn add(&mut self, plugin: Arc<LoadedPlugin>, explicit: bool) -> Result<(), HostError> {
        for format in &plugin.descriptor.formats {
            if let Some(existing) = self.by_format.get(format) {
                let d = &existing.descriptor;
                let same = d.name == plugin.descriptor.name
                    && d.version == plugin.descriptor.version
                    && d.formats == plugin.descriptor.formats;
                if same && !explicit {
                    tracing::debug!(skipped = %plugin.path().display(), kept = %existing.path().display(), "identical plugin copy skipped");
                    return Ok(());
                }
                return Err(HostError::DuplicateFormat {
                    format: format.clone(),
                    first: existing.label(),
                    second: plugin.label(),
                });
            }
        }
        for format in &plugin.descriptor.formats {
            self.by_format.insert(format.clone(), plugin.clone());
        }
        self.plugins.push(plugin);
        Ok(())
    }

    /// Every loaded plugin, in load order.
    pub fn plugins(&self) -> &[Arc<LoadedPlugin>] {
        &self.plugins
    }

    /// The plugin serving `format` (case-insensitive).
    pub fn for_format(&self, format: &str) -> Option<&Arc<LoadedPlugin>> {
        self.by_format.get(&format.trim().to_ascii_lowercase())
    }

    /// The format a file name's extension belongs to, among plugins that can read (`reading`)
    /// or write. Vendor layout plugins (those listing modules) are never guessed: a `.csv` is
    /// a csv file unless the caller names the layout.
    pub fn format_for_file_name(&self, file_name: &str, reading: bool) -> Option<String> {
        let ext = Path::new(file_name).extension()?.to_str()?.to_ascii_lowercase();
        self.plugins
            .iter()
            .filter(|p| p.descriptor.modules.is_empty())
            .filter(|p| {
                let caps = p.descriptor.capabilities;
                if reading { caps.read } else { caps.write }
            })
            .find(|p| p.descriptor.extensions.contains(&ext))
            .and_then(|p| p.descriptor.formats.first().cloned())
    }

    /// Every format name, sorted.
    pub fn formats(&self) -> Vec<String> {
        let mut formats: Vec<String> = self.by_format.keys().cloned().collect();
        formats.sort();
        formats
    }
}

/// Whether a file name looks like a plugin library.
fn is_plugin_file(path: &Path) -> bool {
    let Some(name) = path.file_name().and_then(|n| n.to_str()) else {
        return false;
    };
    name.starts_with(LIB_PREFIX) && name.ends_with(std::env::consts::DLL_SUFFIX) && path.is_file()
}

/// The `NAME` of `libdataport_plugin_NAME.so`.
fn plugin_name(path: &Path) -> String {
    let file = path.file_name().and_then(|n| n.to_str()).unwrap_or_default();
    file.strip_prefix(LIB_PREFIX)
        .and_then(|n| n.strip_suffix(std::env::consts::DLL_SUFFIX))
        .unwrap_or(file)
        .to_owned()
}

/// Identifies a file across hard links (cargo hard-links `deps/libx.so` to `libx.so`).
fn file_identity(path: &Path) -> (u64, u64, PathBuf) {
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        if let Ok(meta) = std::fs::metadata(path) {
            return (meta.dev(), meta.ino(), PathBuf::new());
        }
    }
    (
        0,
        0,
        std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf()),
    )
}

/// The directories searched after the configured ones: the running executable's directory, then
/// the cargo target directory this crate was built into, so a fresh clone's `cargo run` and
/// `cargo test` find the bundled plugins without configuration.
///
/// In a cargo profile directory, its `deps/` comes first: `cargo test` rebuilds plugins there
/// without refreshing the copies one level up, so those can be stale.
pub fn default_plugin_dirs() -> Vec<PathBuf> {
    let mut dirs: Vec<PathBuf> = Vec::new();
    let mut add = |dir: PathBuf| {
        // A cargo profile dir: target/<profile>/deps holds the freshest build of each plugin.
        let candidates = if dir.file_name().is_some_and(|n| n == "deps") {
            vec![Some(dir.clone()), dir.parent().map(Path::to_path_buf)]
        } else {
            vec![Some(dir.join("deps")).filter(|d| d.is_dir()), Some(dir.clone())]
        };
        for candidate in candidates.into_iter().flatten() {
            if !dirs.contains(&candidate) {
                dirs.push(candidate);
            }
        }
    };
    if let Some(exe_dir) = std::env::current_exe()
        .ok()
        .and_then(|p| p.parent().map(Path::to_path_buf))
    {
        add(exe_dir);
    }
    if let Some(build_dir) = build_profile_dir() {
        add(build_dir);
    }
    dirs
}

/// `target/<profile>` of the build that compiled this crate, from `OUT_DIR`
/// (`target/<profile>/build/<crate>-<hash>/out`).
fn build_profile_dir() -> Option<PathBuf> {
    let out_dir = Path::new(env!("OUT_DIR"));
    out_dir.ancestors().nth(3).map(Path::to_path_buf)
}

/// Where the bundled plugin `name` (`csv`, `xlsx`…) was built: the first of
/// [`default_plugin_dirs`] holding `libdataport_plugin_<name>.so`. For tests and tools.
pub fn built_plugin_path(name: &str) -> Option<PathBuf> {
    let file = format!("{LIB_PREFIX}{name}{}", std::env::consts::DLL_SUFFIX);
    default_plugin_dirs()
        .into_iter()
        .map(|d| d.join(&file))
        .find(|p| p.is_file())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plugin_files_are_recognised_by_name() {
        let dir = tempfile::tempdir().unwrap();
        let good = dir
            .path()
            .join(format!("{LIB_PREFIX}csv{}", std::env::consts::DLL_SUFFIX));
        let other = dir
            .path()
            .join(format!("libsomething{}", std::env::consts::DLL_SUFFIX));
        std::fs::write(&good, b"").unwrap();
        std::fs::write(&other, b"").unwrap();
        assert!(is_plugin_file(&good));
        assert!(!is_plugin_file(&other));
        assert!(!is_plugin_file(dir.path()));
    }

    #[test]
    fn a_missing_configured_directory_is_an_error() {
        let err = PluginRegistry::discover(&[PathBuf::from("/nonexistent/plugins")]).unwrap_err();
        assert!(matches!(err, HostError::Dir { .. }), "{err}");
        assert!(err.to_string().contains("/nonexistent/plugins"));
    }
}
