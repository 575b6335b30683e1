//! Reading: the plugin (or the record stream) over the upload, its header mapped, its cells
//! turned into core values and handed to validation a batch at a time.

use dataport_core::header::{map_field_keys, map_header};
use dataport_core::{ErrorCode, Value, messages};
use dataport_plugin_sdk::{ByteSource, Cell, Checkpoint, ErrorKind, Plugin, PluginError, Reader};
use dataport_proto::v1::{self, import_event::Event};
use dataport_store::ResumePoint;
use std::sync::atomic::Ordering;
use std::sync::mpsc::sync_channel;

use super::super::events::Events;
use super::super::upload::UploadFailure;
use super::batch::{CheckedBatch, Failure};
use super::job::{Input, Job};
use super::validate::Checker;

/// The failure for a plugin error, in the light of what happened to the upload.
fn plugin_failure(error: PluginError, job: &Job, input: &Input) -> Failure {
    match input.upload_failure() {
        Some(UploadFailure::TooLarge { limit }) => {
            return Failure::new(
                ErrorCode::FileTooLarge,
                messages::upload_too_large(limit, job.locale),
            );
        }
        Some(UploadFailure::Mismatch(why)) => {
            return Failure::new(ErrorCode::InvalidArgument, why);
        }
        // Cut short: resumable, like a connection that broke off.
        Some(UploadFailure::Short(why)) => {
            return Failure {
                interrupts: true,
                ..Failure::new(ErrorCode::InvalidArgument, why)
            };
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
            ErrorCode::InvalidArgument,
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

/// The failure for a plugin error met after `last_row`, the last row handed over: where the
/// plugin says reading stopped (ABI v2), and which rows it read but never handed over.
fn stopped_reading(error: PluginError, last_row: u64, job: &Job, input: &Input) -> Failure {
    let row = error.row;
    let mut failure = plugin_failure(error, job, input);
    // An upload that broke off or was too large says so itself (the plugin's IO failure is its
    // echo); so does a record stream that ended.
    let plugins_own = input.upload_failure().is_none() && matches!(input, Input::File { .. });
    // Said when there is something to say: where the plugin stopped, or rows already handed over.
    if plugins_own && (row.is_some() || (failure.code == ErrorCode::PluginError && last_row > 1)) {
        let lost = row.filter(|r| *r > last_row + 1).map(|r| (last_row + 1, r - 1));
        failure.row = row.unwrap_or(0);
        failure
            .message
            .push_str(&messages::reading_stopped(row, last_row, lost, job.locale));
    }
    failure
}

/// The reader of the rows: a plugin over the upload itself (or over a spooled copy, for plugins
/// that seek), or the record stream.
fn open_reader(job: &Job, input: &Input) -> Result<Box<dyn Reader>, Failure> {
    // An all-or-nothing import holds SQLite's single writer from its first batch to its end:
    // its input is received whole first, so a slow client never holds it.
    let holds_the_writer =
        super::write::holds_one_transaction(job) && job.store.backend() == dataport_store::Backend::Sqlite;
    match input {
        Input::Records(stream) => {
            if holds_the_writer {
                stream.spool().map_err(|e| {
                    Failure::new(
                        ErrorCode::Internal,
                        format!("cannot spool the record stream: {e}"),
                    )
                })?;
            }
            Ok(Box::new(stream.clone()))
        }
        Input::File { chosen, upload } => {
            let source: Box<dyn ByteSource> =
                if chosen.plugin.descriptor().capabilities.needs_seek || holds_the_writer {
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

/// Puts the reader where the job's last committed batch left it: the upload starts there. A
/// reader that cannot (another plugin version) ends this attempt INTERRUPTED and the checkpoint
/// is dropped, so the next attempt is asked for the whole file.
fn resume_reader(reader: &mut dyn Reader, at: &ResumePoint, job: &Job, input: &Input) -> Result<(), Failure> {
    let checkpoint = Checkpoint {
        offset: at.offset,
        next_row: at.next_row,
        state: at.state.clone(),
    };
    let Err(e) = reader.resume(&checkpoint) else {
        return Ok(());
    };
    tracing::warn!(job = job.id, offset = at.offset, error = %e.message, "the reader cannot resume from its checkpoint; the next attempt sends the whole file");
    if let Err(forget) = job.store.forget_resume_point(job.id) {
        tracing::warn!(job = job.id, error = %forget, "cannot drop the checkpoint");
    }
    Err(Failure {
        interrupts: true,
        ..Failure::new(
            ErrorCode::PluginError,
            format!(
                "{} cannot continue this file from byte {}: {}; send the whole file again (the same request_id resumes the job, skipping the rows already imported)",
                input.reader_name(),
                at.offset,
                e.message
            ),
        )
    })
}

/// The reader's checkpoint after a batch, if it can say; a failure here only costs the next
/// attempt a longer upload (a broken reader reports itself on its next batch).
fn checkpoint(reader: &mut dyn Reader, job: &Job) -> Option<ResumePoint> {
    match reader.checkpoint() {
        Ok(point) => point.map(|p| ResumePoint {
            offset: p.offset,
            next_row: p.next_row,
            state: p.state,
        }),
        Err(e) => {
            tracing::debug!(job = job.id, error = %e.message, "no checkpoint after this batch");
            None
        }
    }
}

/// A plugin cell as a core value.
fn value_of(cell: Cell) -> Value {
    match cell {
        Cell::Null => Value::Null,
        Cell::Text(s) => Value::Text(s),
        Cell::Int(v) => Value::Int(v),
        Cell::Float(v) => Value::Float(v),
        Cell::Bool(v) => Value::Bool(v),
        // Out-of-range values from a plugin become text, which validation reports as INVALID_DATE.
        Cell::Date(days) => Value::from_epoch_days(days),
        Cell::DateTime(micros) => Value::from_epoch_micros(micros),
        Cell::Formula(f) => Value::Formula(f),
        // A cell kind from a newer plugin: keep its text so the user sees it.
        #[allow(unreachable_patterns)]
        other => Value::Text(format!("{other:?}")),
    }
}

/// Reads the file and hands validated batches to `deliver` (false: the writer stopped), from
/// a validation thread of its own. `read_busy` accumulates the time spent in the reader. A
/// workbook job reads its sheets one after the other, in the order of its modules.
pub(super) fn read_batches(
    job: &Job,
    events: &Events,
    input: &Input,
    read_busy: &mut std::time::Duration,
    mut deliver: impl FnMut(CheckedBatch) -> bool + Send,
) -> Result<(), Failure> {
    let Some(module) = job.scope.single() else {
        return read_workbook(job, events, input, read_busy, &mut deliver);
    };
    let mut reader = open_reader(job, input)?;
    if let Some(at) = &job.resume_from {
        resume_reader(&mut *reader, at, job, input)?;
    }
    let header = reader.header().map_err(|e| plugin_failure(e, job, input))?;
    let sheet = Sheet { module, name: None };
    read_sheet(
        job,
        events,
        input,
        &sheet,
        &mut *reader,
        header,
        read_busy,
        &mut deliver,
    )
}

/// The sheet being read: the job's module, or one sheet of a workbook.
struct Sheet {
    module: dataport_core::Module,
    /// The sheet's name in a workbook job.
    name: Option<std::sync::Arc<str>>,
}

/// A workbook job: each module's sheet in turn, found by any of its names; a module without
/// one is not imported. A resumed job passes over the sheets before its watermark's.
fn read_workbook(
    job: &Job,
    events: &Events,
    input: &Input,
    read_busy: &mut std::time::Duration,
    deliver: &mut (impl FnMut(CheckedBatch) -> bool + Send),
) -> Result<(), Failure> {
    let Input::File { chosen, upload } = input else {
        return Err(Failure::new(
            ErrorCode::Internal,
            "a workbook import without a file",
        ));
    };
    let spooled = upload
        .spool()
        .map_err(|e| plugin_failure(PluginError::io(e.to_string()), job, input))?;
    let resumed_in = job.resume.as_ref().map(|r| job.scope.sheet_row(r.after_row).0);
    let mut found = 0;
    for &module in job.scope.modules() {
        if events.cancel().is_cancelled() {
            return Ok(());
        }
        if resumed_in.is_some_and(|at| job.scope.sheet_index(module) < job.scope.sheet_index(at)) {
            found += 1; // complete before the interruption
            continue;
        }
        for name in dataport_core::workbook::sheet_names(module) {
            let source = spooled
                .try_clone()
                .map_err(|e| plugin_failure(PluginError::io(e.to_string()), job, input))?;
            let options = job.options.clone().with("sheet_any", name);
            let mut reader = chosen
                .plugin
                .open_reader(&chosen.format, &options, Box::new(source))
                .map_err(|e| in_sheet(plugin_failure(e, job, input), module, name, job))?;
            let header = reader
                .header()
                .map_err(|e| in_sheet(plugin_failure(e, job, input), module, name, job))?;
            // No sheet of that name (or an empty one): try the next name.
            if header.iter().all(|label| label.trim().is_empty()) {
                continue;
            }
            found += 1;
            let sheet = Sheet {
                module,
                name: Some(name.into()),
            };
            read_sheet(
                job,
                events,
                input,
                &sheet,
                &mut *reader,
                header,
                read_busy,
                deliver,
            )
            .map_err(|f| in_sheet(f, module, name, job))?;
            break;
        }
    }
    if found == 0 {
        let names: Vec<[&str; 3]> = job
            .scope
            .modules()
            .iter()
            .map(|m| dataport_core::workbook::sheet_names(*m))
            .collect();
        return Err(Failure {
            row: 1,
            ..Failure::new(
                ErrorCode::HeaderMismatch,
                messages::workbook_without_module_sheets(&names, job.locale),
            )
        });
    }
    Ok(())
}

/// A failure while reading one sheet of a workbook: its message names the sheet, and its row
/// is that sheet's.
fn in_sheet(mut failure: Failure, module: dataport_core::Module, sheet: &str, job: &Job) -> Failure {
    if failure.module.is_none() {
        failure.module = Some(module);
        failure.message = messages::in_sheet(sheet, &failure.message, job.locale);
    }
    failure
}

/// Reads one sheet (or the file) after its header: maps the header, then reads and validates
/// its rows on two threads until the end, a failure, or the writer stopping.
#[allow(clippy::too_many_arguments)]
fn read_sheet(
    job: &Job,
    events: &Events,
    input: &Input,
    sheet: &Sheet,
    reader: &mut dyn Reader,
    header: Vec<String>,
    read_busy: &mut std::time::Duration,
    deliver: &mut (impl FnMut(CheckedBatch) -> bool + Send),
) -> Result<(), Failure> {
    let module = sheet.module;
    // Checkpoints matter only where batches commit one by one (and a workbook reopens its
    // sheets from the spooled file).
    let checkpoints = matches!(input, Input::File { .. })
        && !job.dry_run
        && job.on_error == dataport_core::OnError::SkipRow
        && !job.scope.is_workbook();
    let mut total_known = false;
    ask_rows_total(reader, events, &mut total_known);
    let mapped = match input {
        Input::File { .. } => map_header(module, &header),
        // A stream that ended before its first batch named fields carries no records: a module
        // with nothing in it (a migration of a CRM without contacts), imported as 0 rows.
        Input::Records(_) if header.is_empty() => {
            let keys: Vec<String> = module.fields().iter().map(|f| f.key.to_owned()).collect();
            map_field_keys(module, &keys, |_| false)
        }
        // The key always; required fields where a record may be created and no default fills
        // them (an UPDATE changes only the fields the stream names).
        Input::Records(_) => map_field_keys(module, &header, |field| {
            field.kind == dataport_core::FieldKind::Code
                || (field.required
                    && job.mode != dataport_core::ImportMode::Update
                    && !job.defaults.iter().any(|(key, _)| *key == field.key))
        }),
    };
    let mapping = mapped.map_err(|problem| Failure {
        code: ErrorCode::HeaderMismatch,
        message: problem.message(module, job.locale),
        row: 1,
        column: problem.column().unwrap_or_default().to_owned(),
        module: None,
        interrupts: false,
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
    // A record stream's null clears its field: the stream names the fields it changes.
    let blank_cells = match input {
        Input::File { .. } => job.blank_cells,
        Input::Records(_) => dataport_core::BlankCells::Clear,
    };
    let validator = dataport_core::RowValidator::new(mapping, job.locale)
        .with_blank_cells(blank_cells)
        .with_defaults(job.defaults.iter().map(|(key, value)| (*key, value.as_str())));
    let mut checker = Checker::new(validator);
    if let Some(name) = &sheet.name {
        // A workbook's sheet counts from its header on, rows or not: an empty batch registers
        // it (and moves the watermark to its start, or keeps it where a resumed job stopped).
        let (mut start, _) = checker.check(&[], &[], std::iter::empty());
        start.sheet = Some(name.clone());
        start.last_row = job
            .resume
            .as_ref()
            .map(|r| job.scope.sheet_row(r.after_row))
            .filter(|(at, _)| *at == module)
            .map_or(0, |(_, row)| row);
        if !deliver(start) {
            return Ok(());
        }
    }
    // Reading and validation overlap: the plugin reads the next batch on this thread while the
    // one before is validated on another (and the one before that written on a third), so a
    // parse-bound format (xlsx, csv) keeps both cores busy. Batches stay in file order.
    let (to_check, unchecked) = sync_channel::<Unchecked>(BATCHES_READ_AHEAD);
    std::thread::scope(|scope| {
        let spawned = std::thread::Builder::new()
            .name(format!("import-{}-check", job.id))
            .spawn_scoped(scope, || {
                check_batches(job, events, checker, sheet.name.clone(), unchecked, deliver)
            });
        let checking = match spawned {
            Ok(handle) => handle,
            Err(e) => {
                return Err(Failure::new(
                    ErrorCode::Internal,
                    format!("cannot start the import's validation thread: {e}"),
                ));
            }
        };
        let read = read_rows(
            job,
            events,
            input,
            Reading {
                reader,
                module,
                checkpoints,
                total_known,
            },
            read_busy,
            &to_check,
        );
        // Closing the channel lets validation finish the batches read so far and stop.
        drop(to_check);
        let checked = checking.join().unwrap_or_else(|panic| {
            Err(Failure::new(
                ErrorCode::Internal,
                format!(
                    "the import's validation crashed: {}",
                    dataport_plugin_sdk::ffi::panic_message(&*panic)
                ),
            ))
        });
        // Validation stops first only on its own failure (or when the writer stopped).
        checked.and(read)
    })
}

/// The reader of one sheet and how to read it.
struct Reading<'r> {
    reader: &'r mut dyn Reader,
    module: dataport_core::Module,
    checkpoints: bool,
    /// Whether the reader's row count was added to the job's yet.
    total_known: bool,
}

/// Batches the reader hands to validation, and what came with each.
const BATCHES_READ_AHEAD: usize = 1;

/// One batch as read, for validation.
struct Unchecked {
    rows: Vec<(u64, Vec<Value>)>,
    errors: Vec<dataport_plugin_sdk::RowError>,
    kept_out: Vec<super::super::records::RecordProblem>,
    resume_point: Option<ResumePoint>,
}

/// The reading half: batches from the plugin (or the record stream) until the end, a failure,
/// or validation stopping (`to_check` closed). `busy` accumulates the time spent in the reader.
/// Adds the reader's row count to the job's, once it knows it: asked after the header and
/// again after each batch until it answers (the xlsx reader counts the sheet's rows while they
/// are read; a workbook's sheets add up).
fn ask_rows_total(reader: &mut dyn Reader, events: &Events, known: &mut bool) {
    if !*known && let Some(n) = reader.rows_total() {
        *known = true;
        events.counters().rows_total.fetch_add(n, Ordering::Relaxed);
    }
}

fn read_rows(
    job: &Job,
    events: &Events,
    input: &Input,
    mut reading: Reading<'_>,
    busy: &mut std::time::Duration,
    to_check: &std::sync::mpsc::SyncSender<Unchecked>,
) -> Result<(), Failure> {
    let reader = &mut *reading.reader;
    let cancel = events.cancel().clone();
    // The last source row this attempt's reader handed over (the header is row 1), to say where
    // reading stopped. (A resumed job's reader starts over at row 2 when the file is sent again.)
    let mut last_row = 1u64;
    loop {
        if cancel.is_cancelled() {
            return Ok(());
        }
        let started = std::time::Instant::now();
        // A reader may be asked for a checkpoint only after an OK batch.
        let mut row_only_failure = false;
        let batch = match reader.next_batch(crate::budget::import_batch_rows(job.limits.batch_rows)) {
            Ok(Some(batch)) => batch,
            Ok(None) => return Ok(()),
            // ABI v2: one row failed and the reader goes on; it is reported like a row error.
            // (A row at or before one already handed over would loop: that stops the job.)
            Err(e) if e.row_only && e.row.is_some_and(|r| r > last_row) => {
                let mut only = dataport_plugin_sdk::RowBatch::new();
                only.push_error(e.row.unwrap_or_default(), e.kind, e.message);
                row_only_failure = true;
                only
            }
            Err(e) => return Err(stopped_reading(e, last_row, job, input)),
        };
        ask_rows_total(reader, events, &mut reading.total_known);
        let numbers = batch
            .rows
            .iter()
            .map(|r| r.number)
            .chain(batch.errors.iter().map(|e| e.row));
        last_row = numbers.fold(last_row, u64::max);
        let resume_point = if reading.checkpoints && !row_only_failure {
            checkpoint(reader, job)
        } else {
            None
        };
        *busy += started.elapsed();
        // A resumed job skips the rows whose fate is already final.
        let after = job.resume.as_ref().map_or(0, |r| r.after_row);
        let (scope, module) = (job.scope, reading.module);
        let fresh = |row: u64| scope.job_row(module, row) > after;
        let rows = batch
            .rows
            .into_iter()
            .filter(|row| fresh(row.number))
            .map(|row| {
                (
                    row.number,
                    row.cells.into_iter().map(value_of).collect::<Vec<_>>(),
                )
            })
            .collect::<Vec<_>>();
        let errors: Vec<_> = batch.errors.into_iter().filter(|e| fresh(e.row)).collect();
        let mut kept_out = match input {
            Input::Records(stream) => stream.take_problems(),
            Input::File { .. } => Vec::new(),
        };
        kept_out.retain(|p| fresh(p.row));
        if rows.is_empty() && errors.is_empty() && kept_out.is_empty() {
            continue;
        }
        let unchecked = Unchecked {
            rows,
            errors,
            kept_out,
            resume_point,
        };
        if to_check.send(unchecked).is_err() {
            // Validation stopped (its failure, or the writer's, is the job's).
            return Ok(());
        }
    }
}

/// The validating half: each batch through the rules and the in-file duplicate check, then to
/// the writer (`deliver`; false: the writer stopped).
fn check_batches(
    job: &Job,
    events: &Events,
    mut checker: Checker,
    sheet: Option<std::sync::Arc<str>>,
    unchecked: std::sync::mpsc::Receiver<Unchecked>,
    deliver: &mut impl FnMut(CheckedBatch) -> bool,
) -> Result<(), Failure> {
    let counters = events.counters();
    for batch in unchecked {
        let (mut checked, rows_in_batch) =
            checker.check(&batch.errors, &batch.kept_out, batch.rows.into_iter());
        checked.resume_point = batch.resume_point;
        checked.sheet = sheet.clone();
        let total = counters.rows_read.fetch_add(rows_in_batch, Ordering::Relaxed) + rows_in_batch;
        if total > job.limits.max_rows {
            return Err(Failure::new(
                ErrorCode::FileTooLarge,
                messages::too_many_rows(job.limits.max_rows, job.locale),
            ));
        }
        if !deliver(checked) {
            return Ok(());
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::NaiveDate;

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
