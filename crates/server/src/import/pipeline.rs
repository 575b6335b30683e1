//! One import job, on blocking threads: the plugin reads and the core validates on one thread,
//! the store writes on another, with a bounded channel of batches between them, so parsing and
//! writing overlap and memory stays bounded whatever the file size.
//!
//! ```text
//! upload chunks ─▶ plugin Reader ─▶ header mapping ─▶ validation + in-file duplicates
//!                                                         │ CheckedBatch (≤ 2 in flight)
//!                                                         ▼
//!                       store write (one transaction per batch, or one for all-or-nothing)
//!                       ─▶ RowError / Preview / Progress events, persisted row errors
//! ```

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::sync::mpsc::{Receiver, sync_channel};
use std::time::Instant;

use chrono::{DateTime, NaiveDate};
use dataport_core::header::{map_field_keys, map_header};
use dataport_core::{
    CodeTracker, ErrorCode, ImportMode, JobStatus, Locale, Module, OnError, Records, RowIssue, RowValidator,
    Value, messages,
};
use dataport_plugin_sdk::{ByteSource, Cell, ErrorKind, Options, Plugin, PluginError, Reader};
use dataport_proto::v1::{self, import_event::Event};
use dataport_store::{JobCounts, JobFinish, RowErrorRecord, Store, StoreError, WriteOutcome, WriteTx};

use super::events::Events;
use super::records::RecordStream;
use super::upload::{Upload, UploadFailure, UploadSummary};
use crate::config::ImportLimits;
use crate::formats::Chosen;
use crate::service::{job_to_proto, row_error_to_proto};

/// Rows shown in the Preview event.
const PREVIEW_ROWS: usize = 10;
/// Batches validated ahead of the writer.
const BATCHES_IN_FLIGHT: usize = 2;

/// Everything a job needs, fixed when it starts.
pub struct Job {
    pub id: i64,
    pub module: Module,
    pub mode: ImportMode,
    pub on_error: OnError,
    pub dry_run: bool,
    pub locale: Locale,
    pub options: Options,
    /// The format name recorded with the job (`records` for record streams).
    pub format: String,
    pub limits: ImportLimits,
    pub store: Store,
}

/// Where the rows come from.
pub enum Input {
    /// A file, read by a format plugin.
    File { chosen: Chosen, upload: Upload },
    /// Typed record batches (format `records`).
    Records(RecordStream),
}

impl Input {
    fn finish(&self) -> UploadSummary {
        match self {
            Input::File { upload, .. } => upload.finish(),
            Input::Records(stream) => stream.finish(),
        }
    }

    fn upload_failure(&self) -> Option<UploadFailure> {
        match self {
            Input::File { upload, .. } => upload.failure(),
            Input::Records(_) => None,
        }
    }

    /// Who read the rows, for messages.
    fn reader_name(&self) -> String {
        match self {
            Input::File { chosen, .. } => format!("the {} plugin", chosen.plugin.descriptor().name),
            Input::Records(_) => "the record stream".to_owned(),
        }
    }
}

/// A failure of the job as a whole.
#[derive(Debug, Clone)]
struct Failure {
    code: ErrorCode,
    message: String,
    /// The spreadsheet row it concerns (1 for the header), if any.
    row: u64,
    column: String,
}

impl Failure {
    fn new(code: ErrorCode, message: impl Into<String>) -> Failure {
        Failure {
            code,
            message: message.into(),
            row: 0,
            column: String::new(),
        }
    }
}

/// One row that will not be imported, with everything wrong with it.
struct RowProblem {
    row: u64,
    issues: Vec<RowIssue>,
    /// The row's cells as display text in template order, for the error file.
    raw: Option<Vec<String>>,
    /// Skipped (INSERT found the code) rather than failed.
    skipped: bool,
}

/// A validated batch on its way to the writer.
struct CheckedBatch {
    /// The file's header labels by template position, for messages about columns.
    labels: Arc<[String]>,
    records: Records,
    /// Spreadsheet row of each record, in order.
    record_rows: Vec<u64>,
    problems: Vec<RowProblem>,
}

/// The final numbers of the writer stage.
#[derive(Debug, Default)]
struct Tally {
    created: u64,
    updated: u64,
    skipped: u64,
    failed: u64,
    errors_not_sent: u64,
    errors_not_persisted: u64,
    /// Time the writer spent on batches (not waiting for them), for the log.
    write_busy: std::time::Duration,
    /// Time the reader spent reading and validating (not waiting for the writer).
    read_busy: std::time::Duration,
}

/// Runs a job to its end and sends `Completed`. Never panics on bad input: every problem ends
/// up in the job report.
pub fn run(job: Job, events: Events, input: Input) {
    let started = Instant::now();
    let (writer_result, failure) = read_and_write(&job, &events, &input);
    let summary = input.finish();
    let cancel_reason = events.cancel().reason();

    let mut tally = match writer_result {
        Ok(tally) => tally,
        Err(failed) => {
            let (tally, failure_in_writer) = *failed;
            return finish(
                &job,
                &events,
                tally,
                Some(failure_in_writer),
                cancel_reason,
                &summary,
                started,
            );
        }
    };
    // An all-or-nothing import that failed committed nothing.
    if job.on_error == OnError::AllOrNothing
        && (tally.failed > 0 || failure.is_some() || cancel_reason.is_some())
    {
        tally.created = 0;
        tally.updated = 0;
    }
    finish(&job, &events, tally, failure, cancel_reason, &summary, started);
}

#[allow(clippy::too_many_arguments)]
fn finish(
    job: &Job,
    events: &Events,
    tally: Tally,
    failure: Option<Failure>,
    cancel_reason: Option<String>,
    summary: &UploadSummary,
    started: Instant,
) {
    let rows_read = events.counters().rows_read.load(Ordering::Relaxed);
    let counts = JobCounts {
        rows_read,
        created: tally.created,
        updated: tally.updated,
        skipped: tally.skipped,
        failed: tally.failed,
        bytes_read: summary.bytes,
    };
    let all_or_nothing_failed = job.on_error == OnError::AllOrNothing && tally.failed > 0;
    // A cancelled job is CANCELLED even if its reader then failed: the failure is the cancel.
    let (status, error_code, error_message) = if let Some(reason) = &cancel_reason {
        let kept = if job.on_error == OnError::AllOrNothing || job.dry_run {
            "nothing was imported".to_owned()
        } else {
            format!(
                "{} created and {} updated before it stopped are kept",
                tally.created, tally.updated
            )
        };
        (
            JobStatus::Cancelled,
            None,
            Some(format!("cancelled: {reason}; {kept}")),
        )
    } else if let Some(f) = &failure {
        (JobStatus::Failed, Some(f.code), Some(f.message.clone()))
    } else if all_or_nothing_failed {
        let message = match job.locale {
            Locale::ZhCn => format!(
                "{} 行有错误，按“全部成功才导入”规则，未导入任何数据",
                tally.failed
            ),
            Locale::En => format!(
                "{} rows failed, so nothing was imported (all-or-nothing); fix them and import again",
                tally.failed
            ),
        };
        (JobStatus::Failed, None, Some(message))
    } else if tally.failed == 0 && tally.skipped == 0 {
        (JobStatus::Succeeded, None, None)
    } else {
        (JobStatus::PartiallySucceeded, None, None)
    };

    let finish = JobFinish {
        status,
        counts,
        file_size: i64::try_from(summary.bytes).ok(),
        sha256: Some(summary.sha256.clone()),
        error_code,
        error_message,
    };
    let report = match job.store.finish_job(job.id, &finish) {
        Ok(stored) => job_to_proto(&stored),
        Err(e) => {
            tracing::error!(job = job.id, error = %e, "cannot record the end of an import job");
            // Still tell the client what happened, from what this process knows.
            let now = chrono::Utc::now();
            let started_at = now - chrono::Duration::milliseconds(started.elapsed().as_millis() as i64);
            job_to_proto(&dataport_store::ImportJob {
                id: job.id,
                module: job.module,
                format: job.format.clone(),
                mode: job.mode,
                on_error: job.on_error,
                dry_run: job.dry_run,
                status,
                counts,
                file_name: String::new(),
                declared_size: None,
                file_size: finish.file_size,
                sha256: finish.sha256.clone(),
                token_name: String::new(),
                error_code: finish.error_code,
                error_message: Some(format!(
                    "{} (and the job report could not be saved: {e})",
                    finish.error_message.clone().unwrap_or_default()
                )),
                started_at,
                finished_at: Some(now),
            })
        }
    };
    tracing::info!(
        job = job.id,
        status = status.as_str(),
        rows = rows_read,
        created = tally.created,
        updated = tally.updated,
        skipped = tally.skipped,
        failed = tally.failed,
        ms = started.elapsed().as_millis() as u64,
        read_busy_ms = tally.read_busy.as_millis() as u64,
        write_busy_ms = tally.write_busy.as_millis() as u64,
        "import finished"
    );
    events.complete(v1::Completed {
        report: Some(report),
        row_errors_not_sent: tally.errors_not_sent,
        row_errors_not_persisted: tally.errors_not_persisted,
    });
}

/// The writer's tally, or its failure with the tally so far (boxed: it is the rare case).
type WriterResult = Result<Tally, Box<(Tally, Failure)>>;

/// Reads, validates and writes. Returns the writer's tally and the reader's failure, if any.
fn read_and_write(job: &Job, events: &Events, input: &Input) -> (WriterResult, Option<Failure>) {
    let (tx, rx) = sync_channel::<CheckedBatch>(BATCHES_IN_FLIGHT);
    std::thread::scope(|scope| {
        let spawned = std::thread::Builder::new()
            .name(format!("import-{}-writer", job.id))
            .spawn_scoped(scope, || write_batches(job, events, rx));
        let writer = match spawned {
            Ok(handle) => handle,
            Err(e) => {
                let failure = Failure::new(
                    ErrorCode::Internal,
                    format!("cannot start the import writer: {e}"),
                );
                return (Err(Box::new((Tally::default(), failure))), None);
            }
        };
        let started = Instant::now();
        let mut waited = std::time::Duration::ZERO;
        let failure = read_batches(job, events, input, |batch| {
            let before = Instant::now();
            let sent = tx.send(batch).is_ok();
            waited += before.elapsed();
            sent
        })
        .err();
        let read_busy = started.elapsed().saturating_sub(waited);
        // Closing the channel lets the writer finish its queue and stop.
        drop(tx);
        let result = writer
            .join()
            .unwrap_or_else(|panic| {
                let message = dataport_plugin_sdk::ffi::panic_message(&*panic);
                Err(Box::new((
                    Tally::default(),
                    Failure::new(
                        ErrorCode::Internal,
                        format!("the import writer crashed: {message}"),
                    ),
                )))
            })
            .map(|mut tally| {
                tally.read_busy = read_busy;
                tally
            });
        if let Some(f) = &failure
            && !events.cancel().is_cancelled()
        {
            report_job_error(job, events, f);
        }
        (result, failure)
    })
}

/// Sends and persists a job-level failure as a row error, so every client sees it the same way.
fn report_job_error(job: &Job, events: &Events, failure: &Failure) {
    let issue = v1::RowError {
        row: failure.row,
        column: failure.column.clone(),
        field: String::new(),
        code: dataport_proto::convert::error_code_to_proto(failure.code) as i32,
        message: failure.message.clone(),
        value: String::new(),
    };
    events.send(Event::RowError(issue));
    let record = RowErrorRecord {
        row: i64::try_from(failure.row).unwrap_or(0),
        column: failure.column.clone(),
        field: String::new(),
        code: failure.code,
        message: failure.message.clone(),
        raw_value: None,
        row_data: None,
    };
    if let Err(e) = job.store.insert_row_errors(job.id, &[record]) {
        tracing::warn!(job = job.id, error = %e, "cannot persist the job's error");
    }
}

// ---------------------------------------------------------------------------------------------
// Reading and validating
// ---------------------------------------------------------------------------------------------

/// The failure for a plugin error, in the light of what happened to the upload.
fn plugin_failure(error: PluginError, job: &Job, input: &Input) -> Failure {
    match input.upload_failure() {
        Some(UploadFailure::TooLarge { limit }) => {
            return Failure::new(
                ErrorCode::FileTooLarge,
                match job.locale {
                    Locale::ZhCn => format!("文件超过上传上限 {limit} 字节（服务器设置 --max-upload-bytes）"),
                    Locale::En => format!(
                        "the file is larger than the upload limit of {limit} bytes (server setting --max-upload-bytes)"
                    ),
                },
            );
        }
        Some(UploadFailure::Broken(why)) => {
            return Failure::new(ErrorCode::Internal, format!("upload interrupted: {why}"));
        }
        None => {}
    }
    let reader = input.reader_name();
    match error.kind {
        ErrorKind::MalformedFile => Failure::new(ErrorCode::MalformedFile, error.message),
        ErrorKind::Encoding => Failure::new(ErrorCode::Encoding, error.message),
        ErrorKind::InvalidOption => Failure::new(
            ErrorCode::PluginError,
            format!("{reader} refused its options: {}", error.message),
        ),
        ErrorKind::Io if matches!(input, Input::Records(_)) => Failure::new(
            ErrorCode::Internal,
            format!("the record stream broke off: {}", error.message),
        ),
        _ => Failure::new(
            ErrorCode::PluginError,
            format!("{reader} failed: {}", error.message),
        ),
    }
}

/// The reader of the rows: a plugin over the upload itself (or over a spooled copy, for plugins
/// that seek), or the record stream.
fn open_reader(job: &Job, input: &Input) -> Result<Box<dyn Reader>, Failure> {
    match input {
        Input::Records(stream) => Ok(Box::new(stream.clone())),
        Input::File { chosen, upload } => {
            let source: Box<dyn ByteSource> = if chosen.plugin.descriptor().capabilities.needs_seek {
                match upload.spool() {
                    Ok(file) => Box::new(file),
                    Err(e) => return Err(plugin_failure(PluginError::io(e.to_string()), job, input)),
                }
            } else {
                Box::new(upload.clone())
            };
            chosen
                .plugin
                .open_reader(&chosen.format, &job.options, source)
                .map_err(|e| plugin_failure(e, job, input))
        }
    }
}

fn value_of(cell: Cell) -> Value {
    match cell {
        Cell::Null => Value::Null,
        Cell::Text(s) => Value::Text(s),
        Cell::Int(v) => Value::Int(v),
        Cell::Float(v) => Value::Float(v),
        Cell::Bool(v) => Value::Bool(v),
        // Out-of-range days from a plugin become text, which validation reports as INVALID_DATE.
        Cell::Date(days) => (days.checked_add(719_163))
            .and_then(NaiveDate::from_num_days_from_ce_opt)
            .map(Value::Date)
            .unwrap_or_else(|| Value::Text(days.to_string())),
        Cell::DateTime(micros) => DateTime::from_timestamp_micros(micros)
            .map(|t| Value::DateTime(t.naive_utc()))
            .unwrap_or_else(|| Value::Text(micros.to_string())),
        Cell::Formula(f) => Value::Formula(f),
        // A cell kind from a newer plugin: keep its text so the user sees it.
        #[allow(unreachable_patterns)]
        other => Value::Text(format!("{other:?}")),
    }
}

/// Reads the file and hands validated batches to `deliver` (false: the writer stopped).
fn read_batches(
    job: &Job,
    events: &Events,
    input: &Input,
    mut deliver: impl FnMut(CheckedBatch) -> bool,
) -> Result<(), Failure> {
    let cancel = events.cancel().clone();
    let mut reader = open_reader(job, input)?;
    let header = reader.header().map_err(|e| plugin_failure(e, job, input))?;
    let mapped = match input {
        Input::File { .. } => map_header(job.module, &header),
        Input::Records(_) => map_field_keys(job.module, &header),
    };
    let mapping = mapped.map_err(|problem| Failure {
        code: ErrorCode::HeaderMismatch,
        message: problem.message(job.module, job.locale),
        row: 1,
        column: problem.column().unwrap_or_default().to_owned(),
    })?;
    events.send(Event::HeaderMapped(v1::HeaderMapped {
        columns: mapping
            .columns
            .iter()
            .filter(|c| c.index != usize::MAX)
            .map(|c| v1::ColumnMapping {
                index: c.index as u32,
                label: c.label.clone(),
                field: c.field.key.to_owned(),
            })
            .collect(),
    }));
    let validator = RowValidator::new(mapping, job.locale);
    let mut tracker = CodeTracker::new();
    let counters = events.counters();
    let code_column = job.module.fields()[0];
    let code_label = validator.mapping().columns[0].label.clone();
    let labels: Arc<[String]> = validator
        .mapping()
        .columns
        .iter()
        .map(|c| c.label.clone())
        .collect();

    loop {
        if cancel.is_cancelled() {
            return Ok(());
        }
        let batch = match reader.next_batch(job.limits.batch_rows) {
            Ok(Some(batch)) => batch,
            Ok(None) => return Ok(()),
            Err(e) => return Err(plugin_failure(e, job, input)),
        };
        let mut checked = CheckedBatch {
            labels: labels.clone(),
            records: Records::empty(job.module),
            record_rows: Vec::with_capacity(batch.rows.len()),
            problems: Vec::new(),
        };
        let mut rows_in_batch = 0u64;
        for error in batch.errors {
            rows_in_batch += 1;
            let (code, message) = match error.kind {
                ErrorKind::Encoding => (
                    ErrorCode::Encoding,
                    messages::encoding(&error.message, job.locale),
                ),
                _ => (
                    ErrorCode::MalformedFile,
                    messages::malformed_row(&error.message, job.locale),
                ),
            };
            checked.problems.push(RowProblem {
                row: error.row,
                issues: vec![RowIssue {
                    column: String::new(),
                    field: "",
                    code,
                    message,
                    value: String::new(),
                }],
                raw: None,
                skipped: false,
            });
        }
        for row in batch.rows {
            let values: Vec<Value> = row.cells.into_iter().map(value_of).collect();
            if values.iter().all(Value::is_blank) {
                continue;
            }
            rows_in_batch += 1;
            match validator.validate_owned(values) {
                Ok(record) => match tracker.check(record.code(), row.number) {
                    None => {
                        checked.record_rows.push(row.number);
                        // The validator builds records of its own module.
                        let _ = checked.records.push(record);
                    }
                    Some(first_row) => checked.problems.push(RowProblem {
                        row: row.number,
                        issues: vec![RowIssue {
                            column: code_label.clone(),
                            field: code_column.key,
                            code: ErrorCode::DuplicateInFile,
                            message: messages::duplicate_in_file(
                                job.module,
                                record.code(),
                                first_row,
                                job.locale,
                            ),
                            value: record.code().to_owned(),
                        }],
                        raw: Some(record.display_values()),
                        skipped: false,
                    }),
                },
                // The row as read, in template order whatever order the source had.
                Err((issues, raw)) => checked.problems.push(RowProblem {
                    row: row.number,
                    issues,
                    raw: Some(raw),
                    skipped: false,
                }),
            }
        }
        let total = counters.rows_read.fetch_add(rows_in_batch, Ordering::Relaxed) + rows_in_batch;
        if total > job.limits.max_rows {
            let limit = job.limits.max_rows;
            return Err(Failure::new(
                ErrorCode::FileTooLarge,
                match job.locale {
                    Locale::ZhCn => format!(
                        "文件超过 {limit} 行的导入上限（服务器设置 --max-import-rows），超出部分未导入；请拆分文件"
                    ),
                    Locale::En => format!(
                        "the file has more than {limit} data rows, the import limit (server setting --max-import-rows); the rest was not imported. Split the file"
                    ),
                },
            ));
        }
        if !deliver(checked) {
            return Ok(());
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Writing
// ---------------------------------------------------------------------------------------------

/// Where the writer sends its batches.
enum Target {
    /// One transaction per batch (SKIP_ROW).
    PerBatch,
    /// One transaction for the whole file (ALL_OR_NOTHING); `None` until the first write.
    Whole(Option<WriteTx>),
    /// Dry run: lookups only.
    DryRun,
}

struct Writer<'a> {
    job: &'a Job,
    events: &'a Events,
    target: Target,
    tally: Tally,
    preview: Vec<v1::PreviewRow>,
    preview_sent: bool,
    sent: u64,
    persisted: u64,
    /// Row errors held back while an all-or-nothing transaction holds SQLite's writer.
    held_errors: Vec<RowErrorRecord>,
}

fn write_batches(job: &Job, events: &Events, batches: Receiver<CheckedBatch>) -> WriterResult {
    let target = match (job.dry_run, job.on_error) {
        (true, _) => Target::DryRun,
        (false, OnError::AllOrNothing) => Target::Whole(None),
        (false, OnError::SkipRow) => Target::PerBatch,
    };
    let mut writer = Writer {
        job,
        events,
        target,
        tally: Tally::default(),
        preview: Vec::new(),
        preview_sent: false,
        sent: 0,
        persisted: 0,
        held_errors: Vec::new(),
    };
    let mut last_saved = Instant::now();
    for batch in batches {
        if events.cancel().is_cancelled() {
            break;
        }
        let busy = Instant::now();
        if let Err(failure) = writer.handle(batch) {
            let tally = writer.abandon();
            return Err(Box::new((tally, failure)));
        }
        writer.tally.write_busy += busy.elapsed();
        events.send(events.progress());
        if last_saved.elapsed() >= std::time::Duration::from_secs(1) {
            last_saved = Instant::now();
            let counts = JobCounts {
                rows_read: events.counters().rows_read.load(Ordering::Relaxed),
                created: writer.tally.created,
                updated: writer.tally.updated,
                skipped: writer.tally.skipped,
                failed: writer.tally.failed,
                bytes_read: 0,
            };
            if let Err(e) = job.store.update_job_progress(job.id, &counts) {
                tracing::debug!(job = job.id, error = %e, "progress not saved");
            }
        }
    }
    writer.close()
}

fn store_failure(e: StoreError) -> Failure {
    Failure::new(ErrorCode::Internal, format!("the database failed: {e}"))
}

impl Writer<'_> {
    /// Writes (or plans) one batch and reports its rows.
    fn handle(&mut self, batch: CheckedBatch) -> Result<(), Failure> {
        let CheckedBatch {
            labels,
            records,
            record_rows,
            mut problems,
        } = batch;
        let outcome = self.apply(&records)?;
        self.tally.created += outcome.created;
        self.tally.updated += outcome.updated;

        // Rows the database refused, by code.
        let index: HashMap<&str, usize> = records
            .codes()
            .into_iter()
            .enumerate()
            .map(|(i, c)| (c, i))
            .collect();
        let module = self.job.module;
        let locale = self.job.locale;
        let code_field = &module.fields()[0];
        let mut refused = vec![false; records.len()];
        let displays = |i: usize| records.get(i).map(|r| r.display_values());
        let mut refuse = |code: &str,
                          error: ErrorCode,
                          message: String,
                          skipped: bool,
                          field: &'static dataport_core::FieldDef,
                          value: String| {
            if let Some(&i) = index.get(code) {
                refused[i] = true;
                problems.push(RowProblem {
                    row: record_rows[i],
                    issues: vec![RowIssue {
                        column: module
                            .fields()
                            .iter()
                            .position(|f| f.key == field.key)
                            .and_then(|i| labels.get(i).cloned())
                            .unwrap_or_else(|| locale.label(field).to_owned()),
                        field: field.key,
                        code: error,
                        message,
                        value,
                    }],
                    raw: displays(i),
                    skipped,
                });
            }
        };
        for code in &outcome.skipped_existing {
            refuse(
                code,
                ErrorCode::DuplicateKey,
                messages::duplicate_key(module, code, locale),
                true,
                code_field,
                code.clone(),
            );
        }
        for code in &outcome.not_found {
            refuse(
                code,
                ErrorCode::NotFound,
                messages::not_found(module, code, locale),
                false,
                code_field,
                code.clone(),
            );
        }
        if !outcome.unknown_reference.is_empty() {
            let customer_field = module.reference().map(|(_, f)| f).unwrap_or(code_field);
            for code in &outcome.unknown_reference {
                let customer = index
                    .get(code.as_str())
                    .and_then(|&i| records.get(i))
                    .and_then(|r| r.customer_code())
                    .map(str::to_owned)
                    .unwrap_or_default();
                refuse(
                    code,
                    ErrorCode::UnknownReference,
                    messages::unknown_customer(&customer, locale),
                    false,
                    customer_field,
                    customer,
                );
            }
        }

        let ok_rows = refused.iter().filter(|r| !**r).count() as u64;
        let counters = self.events.counters();
        counters.rows_ok.fetch_add(ok_rows, Ordering::Relaxed);
        if !self.preview_sent {
            for (i, _) in refused
                .iter()
                .enumerate()
                .filter(|(_, r)| !**r)
                .take(PREVIEW_ROWS - self.preview.len())
            {
                if let Some(record) = records.get(i) {
                    self.preview.push(v1::PreviewRow {
                        row: record_rows[i],
                        values: record.display_values(),
                    });
                }
            }
            if self.preview.len() >= PREVIEW_ROWS {
                self.send_preview();
            }
        }

        problems.sort_by_key(|p| p.row);
        self.report(problems)
    }

    /// Runs the batch against the target.
    fn apply(&mut self, records: &Records) -> Result<WriteOutcome, Failure> {
        let job = self.job;
        let failed_so_far = self.tally.failed > 0;
        match &mut self.target {
            Target::DryRun => job.store.plan(records, job.mode).map_err(store_failure),
            Target::PerBatch => job.store.write(records, job.mode).map_err(store_failure),
            Target::Whole(tx) => {
                if tx.is_none() {
                    *tx = Some(job.store.begin_write().map_err(store_failure)?);
                }
                let Some(tx) = tx.as_mut() else {
                    return Err(Failure::new(
                        ErrorCode::Internal,
                        "the import transaction is gone",
                    ));
                };
                // Once a row has failed nothing will be committed: keep checking, stop writing.
                if failed_so_far {
                    tx.plan(records, job.mode).map_err(store_failure)
                } else {
                    tx.write(records, job.mode).map_err(store_failure)
                }
            }
        }
    }

    /// Counts, sends and persists the problems of a batch (sorted by row).
    fn report(&mut self, problems: Vec<RowProblem>) -> Result<(), Failure> {
        if problems.is_empty() {
            return Ok(());
        }
        let limits = self.job.limits;
        let counters = self.events.counters();
        let mut records = Vec::new();
        for problem in problems {
            if problem.skipped {
                self.tally.skipped += 1;
            } else {
                self.tally.failed += 1;
                counters.rows_failed.fetch_add(1, Ordering::Relaxed);
            }
            let row_data = problem
                .raw
                .as_ref()
                .and_then(|raw| serde_json::to_string(raw).ok());
            for (i, issue) in problem.issues.into_iter().enumerate() {
                let record = RowErrorRecord {
                    row: i64::try_from(problem.row).unwrap_or(i64::MAX),
                    column: issue.column,
                    field: issue.field.to_owned(),
                    code: issue.code,
                    message: issue.message,
                    raw_value: Some(issue.value),
                    // The row's cells ride with its first error only.
                    row_data: if i == 0 { row_data.clone() } else { None },
                };
                if self.sent < limits.max_row_error_events {
                    self.sent += 1;
                    self.events.send(Event::RowError(row_error_to_proto(&record)));
                } else {
                    self.tally.errors_not_sent += 1;
                }
                if self.persisted < limits.max_persisted_row_errors {
                    self.persisted += 1;
                    records.push(record);
                } else {
                    self.tally.errors_not_persisted += 1;
                }
            }
        }
        if matches!(self.target, Target::Whole(_)) {
            self.held_errors.extend(records);
            Ok(())
        } else {
            self.job
                .store
                .insert_row_errors(self.job.id, &records)
                .map_err(store_failure)
        }
    }

    fn send_preview(&mut self) {
        if self.preview_sent {
            return;
        }
        self.preview_sent = true;
        let fields = self
            .job
            .module
            .fields()
            .iter()
            .map(|f| f.key.to_owned())
            .collect();
        self.events.send(Event::Preview(v1::Preview {
            fields,
            rows: std::mem::take(&mut self.preview),
        }));
    }

    /// Ends the writer normally: commits or rolls back, persists held errors.
    fn close(mut self) -> WriterResult {
        self.send_preview();
        let cancelled = self.events.cancel().is_cancelled();
        let target = std::mem::replace(&mut self.target, Target::DryRun);
        if let Target::Whole(Some(tx)) = target {
            let result = if self.tally.failed > 0 || cancelled {
                tx.rollback()
            } else {
                tx.commit()
            };
            if let Err(e) = result {
                let failure = store_failure(e);
                self.persist_held();
                return Err(Box::new((std::mem::take(&mut self.tally), failure)));
            }
        }
        self.persist_held();
        Ok(self.tally)
    }

    /// Ends the writer after a failure: rolls back an open transaction.
    fn abandon(mut self) -> Tally {
        if let Target::Whole(Some(tx)) = std::mem::replace(&mut self.target, Target::DryRun)
            && let Err(e) = tx.rollback()
        {
            tracing::warn!(job = self.job.id, error = %e, "rollback of a failed import failed");
        }
        self.persist_held();
        std::mem::take(&mut self.tally)
    }

    fn persist_held(&mut self) {
        if self.held_errors.is_empty() {
            return;
        }
        if let Err(e) = self.job.store.insert_row_errors(self.job.id, &self.held_errors) {
            tracing::warn!(job = self.job.id, error = %e, "cannot persist the row errors of an import");
        }
        self.held_errors.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cells_become_values() {
        assert_eq!(
            value_of(Cell::Date(19_631)),
            Value::Date(NaiveDate::from_ymd_opt(2023, 10, 1).unwrap())
        );
        assert_eq!(
            value_of(Cell::Date(0)),
            Value::Date(NaiveDate::from_ymd_opt(1970, 1, 1).unwrap())
        );
        let noon = NaiveDate::from_ymd_opt(2023, 10, 1)
            .unwrap()
            .and_hms_opt(12, 0, 0)
            .unwrap();
        assert_eq!(
            value_of(Cell::DateTime(noon.and_utc().timestamp_micros())),
            Value::DateTime(noon)
        );
        assert_eq!(value_of(Cell::Formula("=1".into())), Value::Formula("=1".into()));
        // Out of range: text for validation to refuse, never an overflow.
        assert_eq!(value_of(Cell::Date(i32::MAX)), Value::Text(i32::MAX.to_string()));
        assert_eq!(value_of(Cell::Date(i32::MIN)), Value::Text(i32::MIN.to_string()));
        assert_eq!(
            value_of(Cell::DateTime(i64::MAX)),
            Value::Text(i64::MAX.to_string())
        );
    }
}
