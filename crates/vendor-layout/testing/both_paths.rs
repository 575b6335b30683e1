//! The harness of the vendor layout plugins' integration tests: every case is a function over
//! `&dyn Plugin` and runs twice with the same assertions, on the native plugin and on its shared
//! library loaded through `dataport-plugin-host` (so options, batches, row errors and errors cross
//! the C ABI too), plus the small helpers every such test uses.
//!
//! This file is no module of `dataport-vendor-layout`. A plugin's integration test includes it:
//!
//! ```ignore
//! #[path = "../../../crates/vendor-layout/testing/both_paths.rs"]
//! mod both_paths;
//!
//! fn on_both_paths(case: impl Fn(&dyn Plugin)) {
//!     both_paths::on_both_paths(&SalesforcePlugin, "salesforce", case);
//! }
//! ```
//!
//! It links no plugin crate: the test binary's own plugin stays the only one linked natively, and
//! the only `dataport_plugin_init` in it. It needs the dev-dependencies every plugin test has,
//! `dataport-plugin-host` and `dataport-plugin-sdk`. `golden` reads the including crate's
//! `tests/golden/` (`env!` is expanded there).

use std::io::{self, Write};
use std::panic::{AssertUnwindSafe, catch_unwind, resume_unwind};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};

use dataport_plugin_host::{LoadedPlugin, built_plugin_path, load_plugin};
use dataport_plugin_sdk::{Cell, ErrorKind, Plugin, RowBatch};

/// `libdataport_plugin_<name>.so` as cargo built it for this test run: next to the test binary
/// (`target/<profile>/deps`), where the freshest build is; `built_plugin_path` as a fallback.
pub fn so_path(name: &str) -> PathBuf {
    let file = format!("libdataport_plugin_{name}{}", std::env::consts::DLL_SUFFIX);
    std::env::current_exe()
        .ok()
        .and_then(|exe| exe.parent().map(|dir| dir.join(&file)))
        .filter(|p| p.is_file())
        .or_else(|| built_plugin_path(name))
        .unwrap_or_else(|| panic!("{file} is built with this crate's tests; not found"))
}

/// The shared library of the plugin `name`, loaded once per test binary (which tests one plugin).
pub fn loaded(name: &str) -> &'static LoadedPlugin {
    static LOADED: OnceLock<(String, LoadedPlugin)> = OnceLock::new();
    let (loaded_name, plugin) = LOADED.get_or_init(|| {
        let plugin = load_plugin(&so_path(name)).unwrap_or_else(|e| panic!("{e}"));
        (name.to_owned(), plugin)
    });
    assert_eq!(loaded_name, name, "a test binary loads one plugin");
    plugin
}

/// Runs `case` on `native` and on the loaded shared library of the plugin `name`; a failure says
/// which.
pub fn on_both_paths(native: &dyn Plugin, name: &str, case: impl Fn(&dyn Plugin)) {
    let paths: [(&str, &dyn Plugin); 2] = [("native", native), ("loaded .so", loaded(name))];
    for (path, plugin) in paths {
        if let Err(panic) = catch_unwind(AssertUnwindSafe(|| case(plugin))) {
            eprintln!("^^^ the failure above is on the {path} path");
            resume_unwind(panic);
        }
    }
}

/// A file of the including crate's `tests/golden/`.
pub fn golden(file: &str) -> Vec<u8> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/golden")
        .join(file);
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// A batch's rows: numbers and cells.
pub fn rows(batch: &RowBatch) -> Vec<(u64, Vec<Cell>)> {
    batch.rows.iter().map(|r| (r.number, r.cells.clone())).collect()
}

/// A batch's row errors: row, kind and message.
pub fn errors(batch: &RowBatch) -> Vec<(u64, ErrorKind, String)> {
    batch
        .errors
        .iter()
        .map(|e| (e.row, e.kind, e.message.clone()))
        .collect()
}

/// A sink the test keeps a handle on.
#[derive(Clone, Default)]
pub struct SharedBuf(pub Arc<Mutex<Vec<u8>>>);

impl Write for SharedBuf {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}
