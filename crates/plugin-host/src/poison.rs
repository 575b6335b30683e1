//! Poisoning: after a panic or internal error an instance is never called again, since its
//! state inside the plugin can no longer be trusted.

use dataport_plugin_sdk::{ErrorKind, PluginError};

/// The first fatal failure of one reader or writer instance, if any.
#[derive(Debug, Default)]
pub(crate) struct Poison(Option<PluginError>);

impl Poison {
    /// Fails with the earlier fatal error once the instance is poisoned.
    pub(crate) fn ensure_usable(&self, label: &str) -> Result<(), PluginError> {
        match &self.0 {
            Some(e) => Err(PluginError::new(
                e.kind,
                format!("{label} is unusable after an earlier failure: {}", e.message),
            )),
            None => Ok(()),
        }
    }

    /// Passes `result` on, poisoning the instance if it is a panic or an internal error.
    pub(crate) fn on_fatal(&mut self, result: Result<(), PluginError>) -> Result<(), PluginError> {
        if let Err(e) = &result
            && matches!(e.kind, ErrorKind::Panic | ErrorKind::Internal)
        {
            self.0 = Some(e.clone());
        }
        result
    }

    /// Poisons the instance with `error` (the plugin sent data the host cannot read) and
    /// returns it.
    pub(crate) fn set(&mut self, error: PluginError) -> PluginError {
        self.0 = Some(error.clone());
        error
    }
}
