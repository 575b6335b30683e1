//! The plugin conformance checker behind `dataport plugin-check`: loads a plugin the way the
//! server does and exercises the contract of `dataport_plugin.h`, one named check at a time.
//!
//! `contract` makes the raw ABI calls (the handshake at each version, what `END_OF_DATA` leaves
//! in `*out`, batches released after their reader and in reverse order); `behaviour` drives the
//! plugin through the safe traits (short reads, a failing source or sink, options, a write of
//! every column kind read back), comparing values with `values`.

mod behaviour;
mod contract;
mod values;

use std::fmt;
use std::path::Path;

use dataport_plugin_sdk::{Options, Plugin};

use crate::loading::load_plugin;

/// The outcome of one check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Pass,
    Fail,
    /// Not applicable to this plugin, or it needs input that was not given (a sample file).
    Skip,
}

/// One check: its name, verdict and what was found.
#[derive(Debug, Clone)]
pub struct CheckResult {
    pub name: &'static str,
    pub verdict: Verdict,
    pub detail: String,
}

impl fmt::Display for CheckResult {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let word = match self.verdict {
            Verdict::Pass => "PASS",
            Verdict::Fail => "FAIL",
            Verdict::Skip => "SKIP",
        };
        write!(f, "{word} {:<15} {}", self.name, self.detail)
    }
}

/// What to check a plugin with.
#[derive(Debug, Clone, Default)]
pub struct CheckInput {
    /// A file the plugin reads (its bytes); without one, a reading and writing plugin reads the
    /// file its own writer wrote in the round trip.
    pub sample: Option<Vec<u8>>,
    /// The format to exercise; the plugin's first one when absent.
    pub format: Option<String>,
    /// Options for every reader and writer opened (`module` is added for layout plugins).
    pub options: Options,
}

/// Checks the plugin library at `path`; the results in order. A plugin that does not load
/// yields a single failed `load` check.
pub fn check_plugin(path: &Path, input: &CheckInput) -> Vec<CheckResult> {
    let mut results = Vec::new();
    let plugin = match load_plugin(path) {
        Ok(p) => p,
        Err(e) => {
            results.push(fail("load", e.to_string()));
            return results;
        }
    };
    let d = plugin.descriptor();
    results.push(pass(
        "load",
        format!("{} {} ({})", d.name, d.version, d.formats.join(", ")),
    ));
    results.push(contract::handshake(path));
    results.push(behaviour::descriptor(&d));
    let format = input.format.clone().unwrap_or_else(|| d.formats[0].clone());
    let mut options = input.options.clone();
    if let Some(module) = d.modules.first().filter(|_| options.get("module").is_none()) {
        options = options.with("module", module.clone());
    }
    let target = behaviour::Target {
        plugin: &plugin,
        format,
        options,
    };
    results.extend(behaviour::options(&target));
    let (round_trip, written) = behaviour::round_trip(&target);
    let sample = input.sample.clone().or(written);
    match &sample {
        Some(sample) if d.capabilities.read => {
            results.extend(behaviour::reads(&target, sample));
            results.push(contract::batches(&target, sample));
            results.push(contract::release_order(&target, sample));
            results.push(behaviour::source_failure(&target, sample));
        }
        _ => {
            let why = if d.capabilities.read {
                "no sample: pass a file this plugin reads"
            } else {
                "the plugin does not read"
            };
            for name in [
                "read",
                "short reads",
                "batches",
                "release order",
                "source failure",
            ] {
                results.push(skip(name, why));
            }
        }
    }
    results.extend(round_trip);
    results.push(behaviour::sink_failure(&target));
    results
}

fn pass(name: &'static str, detail: impl Into<String>) -> CheckResult {
    CheckResult {
        name,
        verdict: Verdict::Pass,
        detail: detail.into(),
    }
}

fn fail(name: &'static str, detail: impl Into<String>) -> CheckResult {
    CheckResult {
        name,
        verdict: Verdict::Fail,
        detail: detail.into(),
    }
}

fn skip(name: &'static str, detail: impl Into<String>) -> CheckResult {
    CheckResult {
        name,
        verdict: Verdict::Skip,
        detail: detail.into(),
    }
}

/// `Pass` with `ok` when `problems` is empty, else `Fail` listing them.
fn verdict(name: &'static str, problems: Vec<String>, ok: impl Into<String>) -> CheckResult {
    if problems.is_empty() {
        pass(name, ok)
    } else {
        fail(name, problems.join("; "))
    }
}
