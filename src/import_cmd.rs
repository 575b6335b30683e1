//! `dataport import FILE --module M`: streams a file to the server, shows progress, prints the
//! report and the first errors, and exits 0 (all imported), 2 (some rows failed or were
//! skipped), 1 (the job failed: nothing was imported) or 3 (interrupted: what was committed is
//! kept, and running the import again continues).

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use dataport_client::{AuthedClient, convert, v1};
use dataport_core::{ImportMode, Locale};
use indicatif::{ProgressBar, ProgressStyle};
use tokio::io::{AsyncReadExt, AsyncSeekExt};
use tokio_stream::{StreamExt, wrappers::ReceiverStream};

use crate::table::{Table, enum_word};

/// File chunks are sent in pieces of this size (the server accepts up to 4 MiB messages).
const CHUNK_BYTES: usize = 1 << 20;
/// Row errors printed at the end.
const ERRORS_SHOWN: usize = 20;
/// From this size on, a first attempt too offers to start its upload at the server's resume
/// offset (a re-run after a crash); it waits for `Accepted` before sending, one round trip that
/// only pays off for big files. Retries always offer it.
const RESUME_OFFSET_FROM_BYTES: u64 = 1 << 20;

/// What `dataport import` was asked to do.
pub struct ImportRequest {
    pub file: PathBuf,
    pub module: dataport_core::ModuleScope,
    pub format: String,
    pub mode: ImportMode,
    pub dry_run: bool,
    pub all_or_nothing: bool,
    pub locale: Locale,
    pub options: Vec<(String, String)>,
    pub blank_cells: dataport_core::BlankCells,
    pub defaults: Vec<(String, String)>,
    pub errors_out: Option<PathBuf>,
    /// `--request-id`; derived from the file and the parameters when `None`.
    pub request_id: Option<String>,
    /// `--retries`.
    pub retries: u32,
    /// `--resume`: the first attempt resumes too.
    pub resuming: bool,
}

/// Parses `field=value` (`--default`).
pub fn parse_default(text: &str) -> Result<(String, String), String> {
    match text.split_once('=') {
        Some((k, v)) if !k.trim().is_empty() => Ok((k.trim().to_owned(), v.to_owned())),
        _ => Err(format!("'{text}' is not FIELD=VALUE (e.g. owner=张伟, level=A)")),
    }
}

/// Parses `key=value`.
pub fn parse_option(text: &str) -> Result<(String, String), String> {
    match text.split_once('=') {
        Some((k, v)) if !k.trim().is_empty() => Ok((k.trim().to_owned(), v.to_owned())),
        _ => Err(format!(
            "'{text}' is not KEY=VALUE (e.g. encoding=gbk, delimiter=;, sheet=2)"
        )),
    }
}

pub async fn run(mut client: AuthedClient, request: ImportRequest) -> Result<ExitCode> {
    let (size, sha256) = hash_file(&request.file).await?;
    let file_name = request
        .file
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let options: Vec<v1::FormatOption> = request
        .options
        .iter()
        .map(|(key, value)| v1::FormatOption {
            key: key.clone(),
            value: value.clone(),
        })
        .collect();
    let mut spec = v1::ImportSpec {
        module: convert::module_scope_to_proto(request.module) as i32,
        format: request.format.clone(),
        mode: convert::import_mode_to_proto(request.mode) as i32,
        dry_run: request.dry_run,
        on_error: if request.all_or_nothing {
            v1::OnError::AllOrNothing
        } else {
            v1::OnError::SkipRow
        } as i32,
        locale: convert::locale_to_proto(request.locale) as i32,
        options,
        file_name: file_name.clone(),
        size,
        sha256,
        request_id: String::new(),
        accepts_resume_offset: request.resuming || size >= RESUME_OFFSET_FROM_BYTES,
        blank_cells: convert::blank_cells_to_proto(request.blank_cells) as i32,
        defaults: request.defaults.iter().cloned().collect(),
    };
    spec.request_id = request
        .request_id
        .clone()
        .unwrap_or_else(|| derived_request_id(&spec));

    // A retry sends the file from the server's resume offset (csv), or whole (xlsx), and the
    // server skips what an interrupted attempt committed. A lost connection, UNAVAILABLE or an
    // INTERRUPTED job is retried with backoff.
    let mut retried = 0;
    let mut interrupted: Option<Attempt> = None;
    let attempt = loop {
        let error = match upload_once(&mut client, &request, &spec, size).await {
            Ok(attempt) if attempt.is_interrupted() && retried < request.retries => {
                print_report(&attempt.report, request.dry_run);
                interrupted = Some(attempt);
                None
            }
            Ok(attempt) => break attempt,
            Err(e) if retryable(&e, interrupted.is_some() || retried > 0) && retried < request.retries => {
                Some(e)
            }
            // Out of retries after an interrupted attempt: that report is the answer (exit 3).
            Err(e) => match interrupted.take() {
                Some(attempt) => {
                    eprintln!("giving up after {retried} retries: {e:#}");
                    break attempt;
                }
                None => return Err(e),
            },
        };
        let wait = Duration::from_secs(1 << retried.min(5)).min(Duration::from_secs(30));
        match error {
            Some(e) => eprintln!(
                "connection lost ({e:#}); retrying in {} s ({} of {})",
                wait.as_secs(),
                retried + 1,
                request.retries
            ),
            None => eprintln!(
                "retrying in {} s ({} of {})",
                wait.as_secs(),
                retried + 1,
                request.retries
            ),
        }
        tokio::time::sleep(wait).await;
        retried += 1;
        spec.accepts_resume_offset = true;
    };
    let Attempt {
        job_id,
        preview,
        errors,
        completed,
        report,
    } = attempt;

    if let Some(preview) = preview.filter(|p| request.dry_run && !p.rows.is_empty()) {
        println!("preview (first {} valid rows):", preview.rows.len());
        let mut header = vec!["row".to_owned()];
        header.extend(preview.fields.iter().cloned());
        let mut table = Table::with_header(header);
        for row in preview.rows {
            let mut cells = vec![row.row.to_string()];
            cells.extend(row.values);
            table.push(cells);
        }
        print!("{table}");
        println!();
    }
    print_report(&report, request.dry_run);
    if !errors.is_empty() {
        let total_errors = report.rows_failed + report.rows_skipped;
        println!();
        println!(
            "first {} problems ({} rows failed, {} skipped):",
            errors.len(),
            report.rows_failed,
            report.rows_skipped
        );
        print!(
            "{}",
            row_error_table(&errors, report.module() == v1::Module::All, false)
        );
        if total_errors as usize > errors.len() {
            println!(
                "see them all with `dataport jobs show {job_id} --errors 1000` or `dataport jobs errors {job_id} -o FILE`"
            );
        }
    }
    if completed.row_errors_not_persisted > 0 {
        println!(
            "note: {} row errors were not kept with the job (server limit --max-persisted-row-errors)",
            completed.row_errors_not_persisted
        );
    }
    if let Some(path) = &request.errors_out {
        if report.rows_failed + report.rows_skipped > 0 {
            let written = crate::save_error_file(&mut client, job_id, path, request.locale).await?;
            println!(
                "failed rows written to {} ({written} bytes); fix them and import that file again",
                path.display()
            );
        } else {
            println!("no failed rows: {} not written", path.display());
        }
    }
    Ok(exit_code(&report))
}

/// One Import stream, to its Completed.
struct Attempt {
    job_id: i64,
    preview: Option<v1::Preview>,
    errors: Vec<v1::RowError>,
    completed: v1::Completed,
    report: v1::ImportJob,
}

impl Attempt {
    fn is_interrupted(&self) -> bool {
        self.report.status() == v1::JobStatus::Interrupted
    }
}

/// Whether a failed attempt may be retried: the connection or the server went away, or (once
/// resuming) the server has not yet noticed that the previous stream is gone.
pub(crate) fn retryable(error: &anyhow::Error, resuming: bool) -> bool {
    let Some(call) = error.chain().find_map(|e| e.downcast_ref::<crate::CallFailed>()) else {
        return false;
    };
    match call.code {
        tonic::Code::Unavailable | tonic::Code::Unknown | tonic::Code::Internal | tonic::Code::Cancelled => {
            true
        }
        tonic::Code::AlreadyExists => resuming,
        _ => false,
    }
}

/// The file's size and lowercase hex SHA-256 (read once before the upload: the server checks
/// both, and the default request_id is derived from the hash).
async fn hash_file(path: &Path) -> Result<(u64, String)> {
    use sha2::{Digest, Sha256};
    let path = path.to_path_buf();
    tokio::task::spawn_blocking(move || {
        let mut file =
            std::fs::File::open(&path).with_context(|| format!("cannot open {}", path.display()))?;
        let mut hasher = Sha256::new();
        let size = std::io::copy(&mut file, &mut hasher)
            .with_context(|| format!("cannot read {}", path.display()))?;
        Ok((size, hex::encode(hasher.finalize())))
    })
    .await?
}

/// The default idempotency key: the same file imported the same way is the same request.
fn derived_request_id(spec: &v1::ImportSpec) -> String {
    use sha2::{Digest, Sha256};
    let mut hasher = Sha256::new();
    let mut options: Vec<_> = spec
        .options
        .iter()
        .map(|o| (o.key.as_str(), o.value.as_str()))
        .collect();
    options.sort_unstable();
    let mut defaults: Vec<_> = spec.defaults.iter().collect();
    defaults.sort_unstable();
    let parts = format!(
        "{}|{}|{}|{}|{}|{}|{:?}|{}|{:?}",
        spec.sha256,
        spec.module,
        spec.format,
        spec.mode,
        spec.on_error,
        spec.dry_run,
        options,
        spec.blank_cells,
        defaults
    );
    hasher.update(parts.as_bytes());
    format!("cli-{}", &hex::encode(hasher.finalize())[..40])
}

/// `--resume JOB_ID`: the request_id the job was started with.
pub async fn request_id_of(client: &mut AuthedClient, job_id: i64) -> Result<String> {
    let job = client
        .get_import_job(v1::GetImportJobRequest {
            job_id,
            error_limit: 0,
            errors_after_row: 0,
            errors_after_module: 0,
        })
        .await
        .map_err(crate::call_failed)?
        .into_inner()
        .job
        .context("the server sent no job")?;
    if job.request_id.is_empty() {
        bail!(
            "job {job_id} was started without a request_id, so it cannot be resumed; import the file again instead"
        );
    }
    Ok(job.request_id)
}

/// Sends the spec and the file, and follows the events to Completed.
async fn upload_once(
    client: &mut AuthedClient,
    request: &ImportRequest,
    spec: &v1::ImportSpec,
    size: u64,
) -> Result<Attempt> {
    let mut file = tokio::fs::File::open(&request.file)
        .await
        .with_context(|| format!("cannot open {}", request.file.display()))?;
    // The request stream: the spec, then the file in chunks, read as the server asks for more.
    // A spec that accepts a resume offset waits for Accepted to say where to start.
    let (tx, rx) = tokio::sync::mpsc::channel::<v1::ImportRequest>(4);
    tx.send(v1::ImportRequest {
        message: Some(v1::import_request::Message::Spec(spec.clone())),
    })
    .await
    .context("starting the upload")?;
    let (start_tx, start_rx) = tokio::sync::oneshot::channel::<u64>();
    let waits_for_offset = spec.accepts_resume_offset;
    let uploader = tokio::spawn(async move {
        if waits_for_offset {
            // No Accepted (the call failed first): nothing to send.
            let Ok(offset) = start_rx.await else {
                return Ok(());
            };
            file.seek(std::io::SeekFrom::Start(offset)).await?;
        }
        let mut buf = vec![0u8; CHUNK_BYTES];
        loop {
            let n = file.read(&mut buf).await?;
            if n == 0 {
                return Ok::<(), std::io::Error>(());
            }
            let chunk = v1::ImportRequest {
                message: Some(v1::import_request::Message::Chunk(buf[..n].to_vec())),
            };
            if tx.send(chunk).await.is_err() {
                // The server stopped reading (a header error, say); its events say why.
                return Ok(());
            }
        }
    });

    let bar = ProgressBar::new(size);
    bar.set_style(
        ProgressStyle::with_template("{spinner} [{bar:30}] {bytes}/{total_bytes} {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
    );
    bar.enable_steady_tick(Duration::from_millis(200));
    bar.set_message(format!("uploading {}", spec.file_name));

    let finished = follow(client, rx, &bar, size, waits_for_offset.then_some(start_tx)).await;
    bar.finish_and_clear();
    uploader.abort();
    if let Ok(Ok(Err(e))) = tokio::time::timeout(Duration::from_millis(100), uploader).await {
        eprintln!("warning: reading {} failed: {e}", request.file.display());
    }
    finished
}

async fn follow(
    client: &mut AuthedClient,
    rx: tokio::sync::mpsc::Receiver<v1::ImportRequest>,
    bar: &ProgressBar,
    size: u64,
    mut start_at: Option<tokio::sync::oneshot::Sender<u64>>,
) -> Result<Attempt> {
    let mut events = client
        .import(ReceiverStream::new(rx))
        .await
        .map_err(crate::call_failed)?
        .into_inner();
    let mut job_id = 0;
    let mut preview: Option<v1::Preview> = None;
    let mut errors: Vec<v1::RowError> = Vec::new();
    let mut completed: Option<v1::Completed> = None;
    while let Some(event) = events.next().await {
        let event = match event {
            Ok(event) => event,
            // A call that fails after its Completed (a protocol error): the report says why.
            Err(_) if completed.is_some() => break,
            Err(status) => return Err(crate::call_failed(status)),
        };
        match event.event {
            Some(v1::import_event::Event::Accepted(a)) => {
                job_id = a.job_id;
                if let Some(start) = start_at.take() {
                    let _ = start.send(a.resume_offset);
                }
                if a.resumed {
                    let from = if a.resume_offset > 0 {
                        format!(", sending the file from byte {}", a.resume_offset)
                    } else {
                        String::new()
                    };
                    bar.suspend(|| {
                        eprintln!(
                            "连接中断，从第{row}行继续 / connection lost, resuming at row {row} (job {job_id}{from})",
                            row = a.resume_after_row + 1
                        )
                    });
                }
                bar.set_message(format!("job {job_id}"));
            }
            Some(v1::import_event::Event::HeaderMapped(h)) => {
                bar.set_message(format!("job {job_id}: header OK ({} columns)", h.columns.len()));
            }
            Some(v1::import_event::Event::Preview(p)) => preview = Some(p),
            Some(v1::import_event::Event::Progress(p)) => {
                // The byte bar shows the upload; once the reader has counted the file's rows
                // (xlsx), the bar shows rows read against them instead.
                if p.rows_total > 0 {
                    // Position and length first: a frame drawn in between still shows bytes.
                    bar.set_position(p.rows_read.min(p.rows_total));
                    if bar.length() != Some(p.rows_total) {
                        bar.set_length(p.rows_total);
                        bar.set_style(rows_style());
                    }
                    bar.set_message(format!(
                        "job {job_id}: {} ok, {} failed",
                        p.rows_ok, p.rows_failed
                    ));
                } else {
                    bar.set_position(p.bytes_read.min(size.max(p.bytes_read)));
                    bar.set_message(if p.rows_read == 0 && size > 0 && p.bytes_read >= size {
                        // An xlsx is a zip read from its end: no row before the whole upload.
                        format!("job {job_id}: uploaded; the server is opening the file")
                    } else {
                        format!(
                            "job {job_id}: {} rows read, {} ok, {} failed",
                            p.rows_read, p.rows_ok, p.rows_failed
                        )
                    });
                }
            }
            Some(v1::import_event::Event::RowError(e)) if errors.len() < ERRORS_SHOWN => errors.push(e),
            Some(v1::import_event::Event::RowError(_)) => {}
            Some(v1::import_event::Event::Completed(c)) => completed = Some(c),
            None => {}
        }
    }
    let completed = completed.context("the server ended the import without a report")?;
    let report = completed.report.clone().context("the server sent no report")?;
    Ok(Attempt {
        job_id,
        preview,
        errors,
        completed,
        report,
    })
}

/// The progress bar once the file's row count is known: rows read of rows in the file.
fn rows_style() -> ProgressStyle {
    ProgressStyle::with_template("{spinner} [{bar:30}] {pos}/{len} rows {msg}")
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("=> ")
}

/// The exit code of `import` and `jobs watch`: 0 all imported, 2 some rows failed, 3
/// interrupted (resumable), 1 otherwise (failed, cancelled).
pub(crate) fn exit_code(report: &v1::ImportJob) -> ExitCode {
    match report.status() {
        v1::JobStatus::Succeeded => ExitCode::SUCCESS,
        v1::JobStatus::PartiallySucceeded => ExitCode::from(2),
        v1::JobStatus::Interrupted => ExitCode::from(3),
        _ => ExitCode::FAILURE,
    }
}

/// `jobs watch`: a progress line while the job runs, then its report.
pub async fn watch(mut client: AuthedClient, job_id: i64) -> Result<ExitCode> {
    let mut events = client
        .watch_import(v1::WatchImportRequest { job_id })
        .await
        .map_err(crate::call_failed)?
        .into_inner();
    let bar = ProgressBar::new_spinner();
    bar.enable_steady_tick(Duration::from_millis(200));
    bar.set_message(format!("job {job_id}: running"));
    while let Some(event) = events.next().await {
        match event.map_err(crate::call_failed)?.event {
            Some(v1::import_event::Event::Progress(p)) => bar.set_message(format!(
                "job {job_id}: {} rows committed, {} ok, {} failed",
                p.rows_read, p.rows_ok, p.rows_failed
            )),
            Some(v1::import_event::Event::Completed(c)) => {
                bar.finish_and_clear();
                let report = c.report.context("the server sent no report")?;
                print_report(&report, report.dry_run);
                return Ok(exit_code(&report));
            }
            _ => {}
        }
    }
    bar.finish_and_clear();
    anyhow::bail!("the server ended the watch of job {job_id} without its report")
}

pub(crate) fn print_report(report: &v1::ImportJob, dry_run: bool) {
    let status = enum_word(report.status().as_str_name(), "JOB_STATUS_");
    let verb = if dry_run { "would be " } else { "" };
    println!(
        "job {}: {status}{} — {} rows read: {} {verb}created, {} {verb}updated, {} skipped, {} failed ({} ms)",
        report.id,
        if dry_run {
            " (dry run, nothing written)"
        } else {
            ""
        },
        report.rows_read,
        report.rows_created,
        report.rows_updated,
        report.rows_skipped,
        report.rows_failed,
        report.duration_ms
    );
    // A workbook job: each sheet's part.
    for sheet in &report.modules {
        println!(
            "  {:<14} sheet {}: {} rows read: {} {verb}created, {} {verb}updated, {} skipped, {} failed",
            enum_word(sheet.module().as_str_name(), "MODULE_"),
            sheet.sheet,
            sheet.rows_read,
            sheet.rows_created,
            sheet.rows_updated,
            sheet.rows_skipped,
            sheet.rows_failed
        );
    }
    if !report.error_message.is_empty() {
        let code = report.error_code();
        if code == v1::ErrorCode::Unspecified {
            println!("{}", report.error_message);
        } else {
            println!("{}: {}", code.as_str_name(), report.error_message);
        }
    }
}

/// Row errors as a table: row, column, code, message (and the value as read, with
/// `with_value`); a workbook job's start with the module of their sheet.
pub(crate) fn row_error_table(errors: &[v1::RowError], workbook: bool, with_value: bool) -> Table {
    let mut header = vec!["row", "column", "code", "message"];
    if workbook {
        header.insert(0, "module");
    }
    if with_value {
        header.push("value");
    }
    let mut table = Table::with_header(header.into_iter().map(str::to_owned).collect());
    for e in errors {
        let mut cells = vec![
            if e.row == 0 {
                "-".to_owned()
            } else {
                e.row.to_string()
            },
            e.column.clone(),
            e.code().as_str_name().to_owned(),
            e.message.clone(),
        ];
        if workbook {
            cells.insert(0, enum_word(e.module().as_str_name(), "MODULE_"));
        }
        if with_value {
            cells.push(e.value.clone());
        }
        table.push(cells);
    }
    table
}

/// `jobs show`: the report line, then what the job was and what it has committed.
pub(crate) fn print_job(job: &v1::ImportJob) {
    print_report(job, job.dry_run);
    let when = |ms: i64| {
        chrono::DateTime::from_timestamp_millis(ms)
            .map(|t| t.format("%Y-%m-%d %H:%M:%S UTC").to_string())
            .unwrap_or_default()
    };
    let lines = [
        ("module", enum_word(job.module().as_str_name(), "MODULE_")),
        (
            "file",
            format!("{} ({} bytes, {})", job.file_name, job.file_size, job.format),
        ),
        ("sha256", job.sha256.clone()),
        (
            "mode",
            format!(
                "{}, {}",
                enum_word(job.mode().as_str_name(), "IMPORT_MODE_"),
                enum_word(job.on_error().as_str_name(), "ON_ERROR_")
            ),
        ),
        ("token", job.token_name.clone()),
        ("started", when(job.started_at_unix_ms)),
        (
            "finished",
            if job.finished_at_unix_ms == 0 {
                "running".to_owned()
            } else {
                when(job.finished_at_unix_ms)
            },
        ),
        (
            "watermark",
            match job.watermark_module() {
                v1::Module::Unspecified => {
                    format!("row {} (the last source row whose fate is final)", job.watermark)
                }
                sheet => format!(
                    "row {} of the {} sheet (the last source row whose fate is final)",
                    job.watermark,
                    enum_word(sheet.as_str_name(), "MODULE_")
                ),
            },
        ),
        ("request", job.request_id.clone()),
        (
            "attempts",
            if job.attempts > 1 {
                match job.attempts - 1 {
                    1 => format!("{} (resumed once)", job.attempts),
                    n => format!("{} (resumed {n} times)", job.attempts),
                }
            } else {
                String::new()
            },
        ),
    ];
    for (label, value) in lines {
        if !value.is_empty() {
            println!("  {label:<10} {value}");
        }
    }
}

/// The default format of a file name's extension, for saving downloads.
pub fn format_of(path: &Path) -> Result<String> {
    match path
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase)
    {
        Some(ext) if !ext.is_empty() => Ok(ext),
        _ => bail!(
            "{} has no extension; name it .xlsx, .csv or the extension of another format that writes (dataport formats)",
            path.display()
        ),
    }
}
