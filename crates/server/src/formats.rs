//! The loaded format plugins, as the server uses them: which plugin reads or writes a format,
//! `auto` by file extension, and the ListFormats table.

use std::path::PathBuf;
use std::sync::Arc;

use dataport_core::{Locale, Module};
use dataport_plugin_host::{HostError, Isolation, LoadedPlugin, PluginRegistry};
use dataport_plugin_sdk::{Direction, HOST_OPTIONS, OptionKind, Options, Plugin};
use dataport_proto::v1;

use crate::error::ServiceError;

/// The request field a reader's format comes from (Import's `ImportSpec.format`), as bad
/// requests name it.
const READ_FIELD: &str = "spec.format";
/// The request field a writer's format comes from (Export, GetTemplate, GetErrorFile).
const WRITE_FIELD: &str = "format";

/// A plugin chosen for a job, with the format name it serves and whether it reads or writes.
#[derive(Clone)]
pub struct Chosen {
    pub format: String,
    pub plugin: Arc<LoadedPlugin>,
    pub direction: Direction,
}

impl Chosen {
    /// A layout plugin (one that lists modules, like salesforce or hubspot) speaks dataport's
    /// field keys: it gets the `module` option, reads into field keys and writes from them.
    pub fn is_layout(&self) -> bool {
        !self.plugin.descriptor().modules.is_empty()
    }

    /// The caller's options, plus `module` for layout plugins and `locale` for v2 plugins. A
    /// plugin that declares its options has them checked here, before any job starts: an unknown
    /// key or a bad value is INVALID_ARGUMENT on the request's options field, naming the valid
    /// ones. `locale` is the server's to set.
    pub fn options(
        &self,
        module: Module,
        locale: Locale,
        requested: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Options, ServiceError> {
        let field = match self.direction {
            Direction::Read => "spec.options",
            Direction::Write => "options",
        };
        let mut options = Options::new();
        let mut has_module = false;
        for (key, value) in requested {
            has_module |= key.eq_ignore_ascii_case("module");
            if HOST_OPTIONS.iter().any(|h| h.eq_ignore_ascii_case(&key)) {
                return Err(ServiceError::invalid(
                    field,
                    format!(
                        "options: `{key}` is set by the server (from the request's locale), not an option to give"
                    ),
                ));
            }
            options = options.with(key, value);
        }
        let d = self.plugin.descriptor();
        if d.capabilities.declares_options {
            options.check_declared(&d.options, self.direction).map_err(|e| {
                ServiceError::invalid(field, format!("options for the {} plugin: {}", d.name, e.message))
            })?;
        }
        if self.is_layout() && !has_module {
            options = options.with("module", module.as_str());
        }
        // v2 plugins write their messages in the job's language; v1 ones would refuse the key.
        if self.plugin.abi_version() >= 2 {
            options = options.with("locale", locale.as_str());
        }
        Ok(options)
    }
}

/// The format plugins of this server.
#[derive(Debug, Clone, Default)]
pub struct Formats {
    registry: PluginRegistry,
}

impl Formats {
    /// Loads the plugins of `dirs` (in worker processes with `isolation`) and of the default
    /// directories.
    pub fn discover(dirs: &[PathBuf], isolation: Option<&Isolation>) -> Result<Formats, HostError> {
        let registry = PluginRegistry::discover_with(dirs, isolation)?;
        for plugin in registry.plugins() {
            let d = plugin.descriptor();
            tracing::info!(plugin = %d.name, version = %d.version, formats = %d.formats.join(","), path = %plugin.path().display(), isolated = plugin.is_isolated(), "format plugin loaded");
        }
        Ok(Formats { registry })
    }

    pub fn registry(&self) -> &PluginRegistry {
        &self.registry
    }

    fn known(&self) -> String {
        let formats = self.registry.formats();
        if formats.is_empty() {
            "none (no plugins are loaded; pass --plugin-dir)".to_owned()
        } else {
            formats.join(", ")
        }
    }

    /// The plugin that reads `format`, or, for `auto`/empty, the one whose extension matches
    /// `file_name`. Checks that it can read and supports `module`.
    pub fn reader(&self, format: &str, file_name: &str, module: Module) -> Result<Chosen, ServiceError> {
        let format = format.trim().to_ascii_lowercase();
        let format = if format.is_empty() || format == "auto" {
            self.registry.format_for_file_name(file_name, true).ok_or_else(|| {
                ServiceError::invalid(READ_FIELD, format!(
                    "cannot tell the format of '{file_name}' from its extension; set the format to one of: {}",
                    self.known()
                ))
            })?
        } else {
            format
        };
        let plugin = self.plugin(&format, READ_FIELD)?;
        let d = plugin.descriptor();
        if !d.capabilities.read {
            return Err(ServiceError::invalid(
                READ_FIELD,
                format!(
                    "the {} plugin can write `{format}` files but not read them",
                    d.name
                ),
            ));
        }
        supports(&d, module, &format, READ_FIELD)?;
        Ok(Chosen {
            format,
            plugin,
            direction: Direction::Read,
        })
    }

    /// The plugin that writes `format` (`default` when empty). A name that is no format but a
    /// writing plugin's file extension (`psv`) means that plugin's format, so a client may pass
    /// the extension of the file it saves to, as `import` picks a reader.
    pub fn writer(&self, format: &str, default: &str, module: Module) -> Result<Chosen, ServiceError> {
        let format = match format.trim().to_ascii_lowercase() {
            f if f.is_empty() => default.to_owned(),
            f if self.registry.for_format(&f).is_none() => self
                .registry
                .format_for_file_name(&format!("file.{f}"), false)
                .unwrap_or(f),
            f => f,
        };
        let plugin = self.plugin(&format, WRITE_FIELD)?;
        let d = plugin.descriptor();
        if !d.capabilities.write {
            return Err(ServiceError::invalid(
                WRITE_FIELD,
                format!(
                    "the {} plugin can read `{format}` files but not write them",
                    d.name
                ),
            ));
        }
        supports(&d, module, &format, WRITE_FIELD)?;
        Ok(Chosen {
            format,
            plugin,
            direction: Direction::Write,
        })
    }

    fn plugin(&self, format: &str, field: &str) -> Result<Arc<LoadedPlugin>, ServiceError> {
        self.registry.for_format(format).cloned().ok_or_else(|| {
            ServiceError::invalid(
                field,
                format!("unknown format '{format}'; loaded formats: {}", self.known()),
            )
        })
    }

    /// The file extension a format's files get: its plugin's first extension, or, for vendor
    /// layouts that claim no extension (so that `auto` never picks them), the container they
    /// write (`hubspot-xlsx` files are xlsx, the others csv).
    pub fn extension(&self, format: &str) -> String {
        self.registry
            .for_format(format)
            .and_then(|p| p.descriptor().extensions.first().cloned())
            .unwrap_or_else(|| container(format).to_owned())
    }

    /// For the reason of a job a server stopped in the middle of: which plugin read its format,
    /// and whether it ran in-process (a crash there stops the server). Empty for `records`.
    pub fn plugin_note(&self, format: &str) -> String {
        self.registry
            .for_format(format)
            .map(|p| {
                let how = if p.is_isolated() {
                    ""
                } else {
                    ", in-process: if it crashed, it stopped the server"
                };
                format!(", reading with {} ({}{how})", p.short_label(), p.path().display())
            })
            .unwrap_or_default()
    }

    /// One ListFormats row per plugin.
    pub fn list(&self) -> Vec<v1::FormatInfo> {
        self.registry
            .plugins()
            .iter()
            .map(|p| {
                let d = p.descriptor();
                v1::FormatInfo {
                    name: d.name,
                    version: d.version,
                    formats: d.formats,
                    extensions: d.extensions,
                    can_read: d.capabilities.read,
                    can_write: d.capabilities.write,
                    modules: d.modules,
                    path: p.path().display().to_string(),
                    options_checked: d.capabilities.declares_options,
                    isolated: p.is_isolated(),
                    options: d.options.iter().map(option_info).collect(),
                }
            })
            .collect()
    }
}

fn option_info(o: &dataport_plugin_sdk::OptionSpec) -> v1::PluginOption {
    let kind = match o.kind {
        OptionKind::Text => v1::OptionType::Text,
        OptionKind::Bool => v1::OptionType::Bool,
        OptionKind::Integer => v1::OptionType::Integer,
        OptionKind::Char => v1::OptionType::Char,
    };
    v1::PluginOption {
        name: o.name.clone(),
        r#type: kind as i32,
        reading: o.reading,
        writing: o.writing,
        default_value: o.default.clone(),
        choices: o.choices.clone(),
        help: o.help.clone(),
    }
}

fn supports(
    d: &dataport_plugin_sdk::Descriptor,
    module: Module,
    format: &str,
    field: &str,
) -> Result<(), ServiceError> {
    if d.modules.is_empty() || d.modules.iter().any(|m| m == module.as_str()) {
        Ok(())
    } else {
        Err(ServiceError::invalid(
            field,
            format!(
                "the {} plugin (format `{format}`) does not handle {module}; it handles {}",
                d.name,
                d.modules.join(", ")
            ),
        ))
    }
}

/// The container a format's files are: `xlsx` for formats named so, `csv` otherwise.
fn container(format: &str) -> &'static str {
    if format.ends_with("xlsx") { "xlsx" } else { "csv" }
}

/// The MIME type of a format's files.
pub fn content_type(format: &str) -> &'static str {
    match container(format) {
        "xlsx" => "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        _ => "text/csv; charset=utf-8",
    }
}
