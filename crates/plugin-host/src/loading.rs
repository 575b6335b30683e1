//! Loading one plugin library: the only `libloading` call, the ABI version handshake, the vtable
//! checks and the copy of the descriptor.
//!
//! Libraries are never unloaded (as in ADBC's driver manager and PostgreSQL): unloading Rust code
//! with thread-locals is unsound, and a loaded plugin lives as long as the server anyway.

use std::fmt;
use std::path::{Path, PathBuf};

use dataport_plugin_abi as abi;
use dataport_plugin_abi::Status;
use dataport_plugin_sdk::ffi::str_from_abi;
use dataport_plugin_sdk::{Capabilities, Descriptor, OptionKind, OptionSpec};

use crate::call::ErrorBuffer;
use crate::error::HostError;
use crate::isolation::Isolation;

/// A plugin library loaded into this process. Implements the SDK's
/// [`Plugin`](dataport_plugin_sdk::Plugin) by calling through the C ABI, so callers cannot tell
/// it from a natively linked plugin.
pub struct LoadedPlugin {
    path: PathBuf,
    pub(crate) descriptor: Descriptor,
    /// In-process plugins only (an isolated one's table lives in its workers).
    pub(crate) vtable: abi::PluginVTable,
    /// `Some`: every reader and writer runs in a worker process of its own.
    pub(crate) isolation: Option<Isolation>,
    /// The handshake's version: v2 plugins get `locale` and may name rows in errors.
    abi_version: u32,
}

impl fmt::Debug for LoadedPlugin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LoadedPlugin")
            .field("path", &self.path)
            .field("descriptor", &self.descriptor)
            .finish_non_exhaustive()
    }
}

impl LoadedPlugin {
    /// The library file it was loaded from.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The ABI version agreed on in the handshake (1 for plugins of the first release).
    pub fn abi_version(&self) -> u32 {
        self.abi_version
    }

    /// Whether its readers and writers run in worker processes.
    pub fn is_isolated(&self) -> bool {
        self.isolation.is_some()
    }

    /// `plugin `name` version`, for messages.
    pub fn short_label(&self) -> String {
        format!("plugin `{}` {}", self.descriptor.name, self.descriptor.version)
    }

    /// `plugin `name` version (file)`, for messages.
    pub(crate) fn label(&self) -> String {
        format!("{} ({})", self.short_label(), self.path.display())
    }
}

/// Loads one plugin library and runs the handshake. The library is never unloaded.
pub fn load_plugin(path: &Path) -> Result<LoadedPlugin, HostError> {
    let init = entry_point(path)?;
    // SAFETY: `init` is the library's entry symbol, and the library stays loaded.
    unsafe { LoadedPlugin::from_entry(init, path.to_path_buf()) }
}

/// Describes a plugin library through a worker process, loading nothing into this one: its
/// readers and writers will run in workers too.
pub fn load_isolated(path: &Path, isolation: &Isolation) -> Result<LoadedPlugin, HostError> {
    let (descriptor, abi_version) =
        crate::isolation::describe(isolation, path).map_err(|e| HostError::Worker {
            path: path.to_path_buf(),
            reason: e.message,
        })?;
    tracing::debug!(plugin = %descriptor.name, path = %path.display(), "plugin described by its worker");
    Ok(LoadedPlugin {
        path: path.to_path_buf(),
        descriptor,
        vtable: abi::PluginVTable::empty(),
        isolation: Some(isolation.clone()),
        abi_version,
    })
}

/// Loads a library (for good) and returns its entry point.
pub(crate) fn entry_point(path: &Path) -> Result<abi::InitFn, HostError> {
    let path = path.to_path_buf();
    // SAFETY: loading a library runs its initialisers. Plugins come only from directories the
    // operator configured (or the build's own output), which is the trust boundary of any
    // plugin system; the ABI handshake below checks what it can.
    let library = unsafe { libloading::Library::new(&path) }.map_err(|e| HostError::Open {
        path: path.clone(),
        reason: e.to_string(),
    })?;
    // SAFETY: the symbol is looked up with the exact type the ABI defines for it.
    let init: abi::InitFn = match unsafe { library.get::<abi::InitFn>(abi::ENTRY_SYMBOL) } {
        Ok(symbol) => *symbol,
        Err(_) => return Err(HostError::NotAPlugin { path }),
    };
    // Never unloaded: the function pointers taken from it stay valid for the process's life.
    std::mem::forget(library);
    Ok(init)
}

impl LoadedPlugin {
    /// Runs the handshake with a plugin's entry point and checks what it hands back. Separate
    /// from [`load_plugin`] so that tests can drive an in-process plugin through the ABI.
    ///
    /// # Safety
    /// `init` must be a `dataport_plugin_init` (ABI entry point) whose code stays loaded for
    /// the life of the process.
    pub(crate) unsafe fn from_entry(init: abi::InitFn, path: PathBuf) -> Result<LoadedPlugin, HostError> {
        // SAFETY: forwarded caller contract.
        let mut vtable = unsafe { handshake(init, &path) }?;
        // Functions past what the plugin says it filled are "not provided" (ABI append rule).
        if vtable.size < std::mem::offset_of!(abi::PluginVTable, reader_resume) + size_of::<usize>() {
            vtable.reader_checkpoint = None;
            vtable.reader_resume = None;
        }
        if vtable.size < std::mem::offset_of!(abi::PluginVTable, reader_rows_total) + size_of::<usize>() {
            vtable.reader_rows_total = None;
        }
        let broken = |reason: String| HostError::Broken {
            path: path.clone(),
            reason,
        };
        if vtable.size < abi::PluginVTable::V1_SIZE {
            return Err(broken(format!(
                "its vtable has {} bytes, an ABI v1 vtable needs {}",
                vtable.size,
                abi::PluginVTable::V1_SIZE
            )));
        }
        let describe = vtable
            .describe
            .ok_or_else(|| broken("it has no `describe` function".into()))?;
        // SAFETY: `describe` comes from a plugin that passed the handshake.
        let raw = unsafe { describe() };
        // SAFETY: a non-null descriptor is valid for the library's life (ABI ownership rule).
        let raw = unsafe { raw.as_ref() }.ok_or_else(|| broken("`describe` returned null".into()))?;
        // SAFETY: as above.
        let descriptor = unsafe { descriptor_from_abi(raw) }.map_err(&broken)?;
        let missing = missing_functions(descriptor.capabilities, &vtable);
        if !missing.is_empty() {
            return Err(broken(format!(
                "it declares capabilities whose functions are missing: {}",
                missing.join(", ")
            )));
        }
        tracing::debug!(plugin = %descriptor.name, version = %descriptor.version, path = %path.display(), "plugin loaded");
        Ok(LoadedPlugin {
            path,
            descriptor,
            abi_version: vtable.abi_version,
            vtable,
            isolation: None,
        })
    }
}

/// Calls the plugin's `init` with our ABI version, and again with the plugin's own when that is
/// an older one this host still speaks; returns the vtable it filled in (its `abi_version` is the
/// version agreed on), or why the versions do not match or init failed.
///
/// # Safety
/// As for [`LoadedPlugin::from_entry`].
unsafe fn handshake(init: abi::InitFn, path: &Path) -> Result<abi::PluginVTable, HostError> {
    let mut requested = abi::ABI_VERSION;
    loop {
        let mut vtable = abi::PluginVTable::empty();
        let mut err = ErrorBuffer::new();
        // SAFETY: `init` is an entry point (caller contract); `vtable` is a zero-filled table
        // with its `size` set; `err` is a valid buffer.
        let status = unsafe { init(requested, &mut vtable, err.as_abi()) };
        let message = err.take();
        let theirs = vtable.abi_version;
        // An older plugin names its version when it refuses ours: speak that one if we can.
        let older = (abi::OLDEST_ABI_VERSION..requested).contains(&theirs);
        if status == Status::ABI_MISMATCH && older {
            requested = theirs;
            continue;
        }
        if status == Status::ABI_MISMATCH || (status == Status::OK && theirs != requested) {
            return Err(HostError::AbiMismatch {
                path: path.to_path_buf(),
                expected: abi::ABI_VERSION,
                found: theirs,
                detail: (!message.is_empty()).then_some(message),
            });
        }
        if status != Status::OK {
            return Err(HostError::InitFailed {
                path: path.to_path_buf(),
                status,
                message,
            });
        }
        return Ok(vtable);
    }
}

/// The vtable functions a plugin's declared capabilities need but it does not provide.
fn missing_functions(caps: Capabilities, vtable: &abi::PluginVTable) -> Vec<&'static str> {
    [
        (caps.read, vtable.open_reader.is_none(), "open_reader"),
        (caps.read, vtable.reader_header.is_none(), "reader_header"),
        (caps.read, vtable.reader_next_batch.is_none(), "reader_next_batch"),
        (caps.read, vtable.reader_release.is_none(), "reader_release"),
        (caps.write, vtable.open_writer.is_none(), "open_writer"),
        (
            caps.write,
            vtable.writer_write_header.is_none(),
            "writer_write_header",
        ),
        (
            caps.write,
            vtable.writer_write_rows.is_none(),
            "writer_write_rows",
        ),
        (caps.write, vtable.writer_finish.is_none(), "writer_finish"),
        (caps.write, vtable.writer_release.is_none(), "writer_release"),
        (
            caps.sheets,
            vtable.writer_start_sheet.is_none(),
            "writer_start_sheet",
        ),
    ]
    .into_iter()
    .filter_map(|(needed, absent, name)| (needed && absent).then_some(name))
    .collect()
}

/// Copies a plugin's descriptor.
///
/// # Safety
/// `raw` must follow the ABI descriptor rules (valid strings for the library's life).
unsafe fn descriptor_from_abi(raw: &abi::PluginDescriptor) -> Result<Descriptor, String> {
    if raw.size < abi::PluginDescriptor::V1_SIZE {
        return Err(format!(
            "its descriptor has {} bytes, ABI v1 needs {}",
            raw.size,
            abi::PluginDescriptor::V1_SIZE
        ));
    }
    let text = |what: &str, s: abi::StrRef| -> Result<String, String> {
        // SAFETY: forwarded caller contract.
        unsafe { str_from_abi(s) }
            .map(str::to_owned)
            .map_err(|e| format!("descriptor {what}: {e}"))
    };
    let list = |what: &str, s: abi::StrRef| -> Result<Vec<String>, String> {
        Ok(text(what, s)?
            .split(',')
            .map(|item| item.trim().to_ascii_lowercase())
            .filter(|item| !item.is_empty())
            .collect())
    };
    // Fields appended after the first release count only when `size` covers them.
    let has_options =
        raw.size >= std::mem::offset_of!(abi::PluginDescriptor, num_options) + size_of::<usize>();
    let descriptor = Descriptor {
        name: text("name", raw.name)?,
        version: text("version", raw.version)?,
        formats: list("formats", raw.formats)?,
        extensions: list("extensions", raw.extensions)?,
        modules: list("modules", raw.modules)?,
        // A first-release descriptor cannot declare options, whatever its bits say.
        capabilities: Capabilities {
            declares_options: has_options && raw.capabilities & abi::CAP_DECLARES_OPTIONS != 0,
            ..Capabilities::from_abi(raw.capabilities)
        },
        options: if has_options {
            // SAFETY: forwarded caller contract (the option list lives as long as the library).
            unsafe { options_from_abi(raw) }?
        } else {
            Vec::new()
        },
    };
    if descriptor.name.trim().is_empty() {
        return Err("its descriptor has an empty name".into());
    }
    if descriptor.formats.is_empty() {
        return Err("its descriptor names no format".into());
    }
    Ok(descriptor)
}

/// Copies the options a descriptor declares.
///
/// # Safety
/// As for [`descriptor_from_abi`], with a `size` that covers `options` and `num_options`.
unsafe fn options_from_abi(raw: &abi::PluginDescriptor) -> Result<Vec<OptionSpec>, String> {
    if raw.num_options == 0 {
        return Ok(Vec::new());
    }
    if raw.options.is_null() || raw.num_options > 1024 {
        return Err(format!(
            "its descriptor lists {} options at {:p}",
            raw.num_options, raw.options
        ));
    }
    // SAFETY: checked non-null; the plugin promises `num_options` specs for the library's life.
    let specs = unsafe { std::slice::from_raw_parts(raw.options, raw.num_options) };
    let mut options = Vec::with_capacity(specs.len());
    for (i, spec) in specs.iter().enumerate() {
        let text = |what: &str, s: abi::StrRef| -> Result<String, String> {
            // SAFETY: forwarded caller contract.
            unsafe { str_from_abi(s) }
                .map(str::to_owned)
                .map_err(|e| format!("descriptor option {}: {what}: {e}", i + 1))
        };
        let name = text("name", spec.name)?.trim().to_ascii_lowercase();
        if name.is_empty() {
            return Err(format!("descriptor option {} has an empty name", i + 1));
        }
        let choices = text("choices", spec.choices)?;
        let option = OptionSpec::new(name, OptionKind::from_abi(spec.kind), text("help", spec.help)?)
            .default_value(text("default", spec.default_value)?)
            .choices(choices.split('\n').filter(|c| !c.is_empty()))
            .with_abi_uses(spec.uses);
        options.push(option);
    }
    Ok(options)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_that_is_not_a_library_is_a_clear_error() {
        let dir = tempfile::tempdir().unwrap();
        // Any name: loading does not care, only discovery looks at names.
        let fake = dir.path().join(format!("fake{}", std::env::consts::DLL_SUFFIX));
        std::fs::write(&fake, b"not an ELF file").unwrap();
        let err = load_plugin(&fake).unwrap_err();
        assert!(matches!(err, HostError::Open { .. }), "{err}");
        assert!(err.to_string().contains(&fake.display().to_string()), "{err}");
    }
}
