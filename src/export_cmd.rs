//! `dataport export` and `dataport template`: download a file the server streams, with the
//! count first ("共N条"), a progress bar, and a check of the row count and the sha256 before
//! the file is saved. The server reads an export from one snapshot, so the rows written must
//! be the rows announced.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, Result, bail};
use dataport_client::{AuthedClient, convert, v1};
use dataport_core::{Locale, Module};
use indicatif::{ProgressBar, ProgressStyle};
use tokio_stream::StreamExt;

use crate::download::{Download, save_file_events};

/// Where a download goes: `output` may be a file or an existing directory (then the server's
/// file name is used); without it, the server's name in the working directory.
pub fn target_path(output: Option<&Path>, server_name: &str) -> PathBuf {
    // The server's name is only a suggestion: never let it climb out of the directory.
    let safe_name: String = server_name
        .chars()
        .map(|c| if matches!(c, '/' | '\\' | '\0') { '_' } else { c })
        .collect();
    let safe_name = safe_name.trim_start_matches('.').to_owned();
    match output {
        Some(path) if path.is_dir() => path.join(safe_name),
        Some(path) => path.to_path_buf(),
        None => PathBuf::from(safe_name),
    }
}

/// The format to ask for: explicit, else the output file's extension, else xlsx.
pub fn choose_format(explicit: Option<&str>, output: Option<&Path>) -> String {
    if let Some(f) = explicit.filter(|f| !f.trim().is_empty()) {
        return f.trim().to_ascii_lowercase();
    }
    output
        .filter(|p| !p.is_dir())
        .and_then(|p| p.extension())
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase)
        .unwrap_or_else(|| "xlsx".to_owned())
}

pub struct ExportRequest {
    pub module: Module,
    pub filter: v1::Filter,
    pub fields: Vec<String>,
    pub format: String,
    pub all: bool,
    pub locale: Locale,
    pub output: Option<PathBuf>,
    pub options: Vec<(String, String)>,
    /// Export only records whose code sorts after this one.
    pub after_code: Option<String>,
}

pub async fn export(mut client: AuthedClient, request: ExportRequest) -> Result<()> {
    let mut stream = client
        .export(v1::ExportRequest {
            module: convert::module_to_proto(request.module) as i32,
            filter: Some(request.filter),
            fields: request.fields,
            format: request.format,
            scope: if request.all {
                v1::ExportScope::All
            } else {
                v1::ExportScope::Filtered
            } as i32,
            locale: convert::locale_to_proto(request.locale) as i32,
            file_name: String::new(),
            options: request
                .options
                .into_iter()
                .map(|(key, value)| v1::FormatOption { key, value })
                .collect(),
            after_code: request.after_code,
        })
        .await
        .map_err(crate::call_failed)?
        .into_inner();

    let mut download: Option<(Download, PathBuf)> = None;
    let mut announced = 0;
    let bar = ProgressBar::hidden();
    while let Some(event) = stream.next().await {
        match event.map_err(crate::call_failed)?.event {
            Some(v1::export_event::Event::Started(started)) => {
                println!(
                    "共{}条 ({} {} to export)",
                    started.total_rows, started.total_rows, request.module
                );
                announced = started.total_rows;
                let path = target_path(request.output.as_deref(), &started.file_name);
                download = Some((Download::new(&path)?, path));
                bar.set_length(started.total_rows);
                bar.set_style(
                    ProgressStyle::with_template("{spinner} [{bar:30}] {pos}/{len} rows {msg}")
                        .unwrap_or_else(|_| ProgressStyle::default_bar())
                        .progress_chars("=> "),
                );
                bar.set_draw_target(indicatif::ProgressDrawTarget::stderr());
                bar.enable_steady_tick(Duration::from_millis(200));
            }
            Some(v1::export_event::Event::Chunk(bytes)) => {
                let (file, _) = download
                    .as_mut()
                    .context("the server sent data before announcing the file")?;
                file.write(&bytes)?;
                bar.set_message(format!("{} KiB", file.bytes() / 1024));
            }
            Some(v1::export_event::Event::Progress(p)) => bar.set_position(p.rows_written),
            Some(v1::export_event::Event::Records(_)) => {
                bail!("the server sent record batches for a file export")
            }
            Some(v1::export_event::Event::Completed(done)) => {
                bar.finish_and_clear();
                let (file, path) = download
                    .take()
                    .context("the server completed an export it never started")?;
                if done.rows != announced {
                    bail!(
                        "the server announced {announced} rows but wrote {}; nothing was saved",
                        done.rows
                    );
                }
                let bytes = file.finish(done.bytes, &done.sha256)?;
                println!(
                    "exported {} rows to {} ({bytes} bytes, sha256 {} verified)",
                    done.rows,
                    path.display(),
                    done.sha256
                );
                return Ok(());
            }
            None => {}
        }
    }
    bar.finish_and_clear();
    bail!("the server ended the export before it was complete; nothing was saved")
}

pub async fn template(
    mut client: AuthedClient,
    module: dataport_core::ModuleScope,
    format: String,
    locale: Locale,
    output: Option<PathBuf>,
) -> Result<()> {
    let mut stream = client
        .get_template(v1::GetTemplateRequest {
            module: convert::module_scope_to_proto(module) as i32,
            format,
            locale: convert::locale_to_proto(locale) as i32,
        })
        .await
        .map_err(crate::call_failed)?
        .into_inner();
    // The first event names the file.
    let first = stream
        .next()
        .await
        .context("the server sent nothing")?
        .map_err(crate::call_failed)?;
    let Some(v1::file_event::Event::Started(started)) = first.event else {
        bail!("the server did not announce the template file");
    };
    let path = target_path(output.as_deref(), &started.file_name);
    let bytes = save_file_events(stream, &path).await?;
    let what = match module {
        dataport_core::ModuleScope::One(module) => format!("the {module} import template"),
        dataport_core::ModuleScope::Workbook => "the import workbook of all modules".to_owned(),
    };
    println!("saved {what} to {} ({bytes} bytes)", path.display());
    Ok(())
}
