//! `dataport plugin-check` and `dataport plugin-sdk-path` (the plugin author's commands, which
//! need no server), and the hidden `plugin-worker` that runs an isolated plugin for `serve`.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result};
use dataport_plugin_abi::{C_HEADER, C_HEADER_NAME};
use dataport_plugin_host::{CheckInput, Verdict, check_plugin};

use crate::cli::PluginCheckArgs;

/// Runs every check and prints one line each; exit code 1 when any fails.
pub fn check(args: PluginCheckArgs) -> Result<ExitCode> {
    let sample = match &args.sample {
        Some(path) => {
            Some(std::fs::read(path).with_context(|| format!("reading the sample {}", path.display()))?)
        }
        None => None,
    };
    let input = CheckInput {
        sample,
        format: args.format,
        options: args.options.into_iter().collect(),
    };
    let results = check_plugin(&args.library, &input);
    for result in &results {
        println!("{result}");
    }
    let failed = results.iter().filter(|r| r.verdict == Verdict::Fail).count();
    let skipped = results.iter().filter(|r| r.verdict == Verdict::Skip).count();
    println!(
        "{}: {} passed, {failed} failed, {skipped} skipped",
        args.library.display(),
        results.len() - failed - skipped
    );
    Ok(if failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// Serves one plugin library to the server that started this process, until it closes stdin.
pub fn worker(library: &Path) -> Result<()> {
    dataport_plugin_host::run_worker(library).context("the plugin worker's pipes to the server broke")
}

/// Prints the directory that holds this build's `dataport_plugin.h`.
pub fn sdk_path() -> Result<()> {
    println!("{}", include_dir()?.display());
    Ok(())
}

/// The first directory holding this build's header: the installed layout next to the binary
/// (`bin/../include/dataport`), the source tree it was built from, or, failing both, a copy
/// written to the user's data directory (so an installed binary alone is enough).
fn include_dir() -> Result<PathBuf> {
    let mut candidates = Vec::new();
    if let Ok(exe) = std::env::current_exe()
        && let Some(bin) = exe.parent()
    {
        candidates.push(bin.join("../include/dataport"));
    }
    candidates.push(Path::new(env!("CARGO_MANIFEST_DIR")).join("crates/plugin-abi/include"));
    for dir in &candidates {
        if std::fs::read_to_string(dir.join(C_HEADER_NAME)).is_ok_and(|text| text == C_HEADER) {
            return Ok(dir.canonicalize().unwrap_or_else(|_| dir.clone()));
        }
    }
    let data = std::env::var_os("XDG_DATA_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".local/share")))
        .context("neither XDG_DATA_HOME nor HOME is set: cannot choose where to write the header")?;
    let dir = data
        .join("dataport")
        .join(env!("CARGO_PKG_VERSION"))
        .join("include");
    let header = dir.join(C_HEADER_NAME);
    if std::fs::read_to_string(&header).ok().as_deref() != Some(C_HEADER) {
        std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
        std::fs::write(&header, C_HEADER).with_context(|| format!("writing {}", header.display()))?;
    }
    Ok(dir)
}
