//! The hubspot layout plugin (in progress: it declares its format but cannot read or write yet).

use dataport_plugin_sdk::{Descriptor, Plugin};

/// The plugin value.
pub struct Placeholder;

impl Plugin for Placeholder {
    fn descriptor(&self) -> Descriptor {
        Descriptor::new("hubspot", env!("CARGO_PKG_VERSION"))
            .format("hubspot")
            .modules(["customers", "contacts", "opportunities"])
    }
}

dataport_plugin_sdk::export_plugin!(Placeholder);
