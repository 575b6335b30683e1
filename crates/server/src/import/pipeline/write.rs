//! Writing: checked batches into the store, one transaction per batch (SKIP_ROW), one for the
//! file (ALL_OR_NOTHING) or none (dry run); then the rows the database refused, the preview, and
//! the row errors sent and persisted.

use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::mpsc::Receiver;
use std::time::Instant;

use dataport_core::{ErrorCode, OnError, Records, RowIssue, messages};
use dataport_proto::v1::{self, import_event::Event};
use dataport_store::{JobAdvance, JobCounts, RowErrorRecord, StoreError, WriteOutcome, WriteTx};

use super::super::events::Events;
use super::PREVIEW_ROWS;
use super::batch::{CheckedBatch, Failure, RowProblem, Tally, WriterResult};
use super::job::Job;
use crate::report::row_error_to_proto;

/// Where the writer sends its batches. Each committed batch also advances the job's counters
/// and watermark in its own transaction, so the job's report always equals what the database
/// holds, whenever the process stops.
enum Target {
    /// One transaction per batch (SKIP_ROW): opened by `apply`, committed with the batch's row
    /// errors and job counters at the end of `handle`.
    PerBatch(Option<WriteTx>),
    /// One transaction for the whole file (ALL_OR_NOTHING, and a workbook's dry run, which
    /// writes its sheets so that later sheets see the customers of earlier ones, then rolls
    /// back); `None` until the first write.
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
    /// The module the preview shows (a workbook's first sheet with valid rows).
    preview_module: Option<dataport_core::Module>,
}

/// Whether the job writes in one transaction from its first batch to its end (and so, on
/// SQLite, holds the single writer that long).
pub(super) fn holds_one_transaction(job: &Job) -> bool {
    if job.dry_run {
        job.scope.is_workbook()
    } else {
        job.on_error == OnError::AllOrNothing
    }
}

/// Whether each batch of the job commits on its own (its [`Target::PerBatch`]).
pub(super) fn commits_per_batch(job: &Job) -> bool {
    !holds_one_transaction(job) && !job.dry_run
}

pub(super) fn write_batches(job: &Job, events: &Events, batches: Receiver<CheckedBatch>) -> WriterResult {
    let target = if holds_one_transaction(job) {
        Target::Whole(None)
    } else if commits_per_batch(job) {
        Target::PerBatch(None)
    } else {
        Target::DryRun
    };
    let mut writer = Writer {
        job,
        events,
        target,
        tally: job.resume.as_ref().map(Tally::resumed).unwrap_or_default(),
        preview: Vec::new(),
        preview_module: None,
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
        events.offer(events.progress());
        // A dry run commits nothing: its job row shows progress from time to time instead.
        if matches!(writer.target, Target::DryRun)
            && last_saved.elapsed() >= std::time::Duration::from_secs(1)
        {
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

pub(super) fn store_failure(e: StoreError) -> Failure {
    match e {
        // The database went away or the job was interrupted elsewhere: what was committed
        // stands, and running the import again continues.
        StoreError::Connection(_)
        | StoreError::Busy(_)
        | StoreError::JobNotRunning { .. }
        | StoreError::BatchesLost { .. } => Failure {
            interrupts: true,
            ..Failure::new(ErrorCode::Unavailable, format!("the database failed: {e}"))
        },
        other => Failure::new(ErrorCode::Internal, format!("the database failed: {other}")),
    }
}

impl Writer<'_> {
    /// Writes (or plans) one batch and reports its rows.
    fn handle(&mut self, batch: CheckedBatch) -> Result<(), Failure> {
        let CheckedBatch {
            sheet,
            labels,
            records,
            record_rows,
            mut problems,
            rows,
            last_row,
            resume_point,
        } = batch;
        let before = (
            self.tally.created,
            self.tally.updated,
            self.tally.skipped,
            self.tally.failed,
        );
        let outcome = self.apply(&records)?;
        self.tally.created += outcome.created;
        self.tally.updated += outcome.updated;

        // Rows the database refused, by code (a batch it took whole needs no index).
        let any_refused = !(outcome.skipped_existing.is_empty()
            && outcome.not_found.is_empty()
            && outcome.unknown_reference.is_empty());
        let index: HashMap<&str, usize> = if any_refused {
            records
                .codes()
                .into_iter()
                .enumerate()
                .map(|(i, c)| (c, i))
                .collect()
        } else {
            HashMap::new()
        };
        let module = records.module();
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
        if !self.preview_sent && *self.preview_module.get_or_insert(module) == module {
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
        let errors = self.report(module, problems);
        let scope = self.job.scope;
        let delta = JobCounts {
            rows_read: rows,
            created: self.tally.created - before.0,
            updated: self.tally.updated - before.1,
            skipped: self.tally.skipped - before.2,
            failed: self.tally.failed - before.3,
            bytes_read: 0,
        };
        // A workbook's counts per sheet as they stand once this batch commits.
        let sheets = match &sheet {
            Some(sheet) => {
                let mut sheets = self.tally.modules.clone();
                super::batch::add_to_sheet(&mut sheets, module, sheet, &delta);
                sheets
            }
            None => Vec::new(),
        };
        let advance = JobAdvance {
            rows_read: delta.rows_read,
            created: delta.created,
            updated: delta.updated,
            skipped: delta.skipped,
            failed: delta.failed,
            watermark: scope.job_row(module, last_row),
            // Per batch: the one before must still be there (a PostgreSQL crash can lose
            // batches that had committed; `Store::begin_batch`).
            previous_watermark: matches!(self.target, Target::PerBatch(_)).then_some(self.tally.watermark),
            resume_point,
            modules: sheets,
        };
        if let Err(failure) = self.commit_batch(errors, &advance) {
            // The batch was rolled back: it counts for nothing.
            (
                self.tally.created,
                self.tally.updated,
                self.tally.skipped,
                self.tally.failed,
            ) = before;
            return Err(failure);
        }
        self.tally.rows += rows;
        self.tally.watermark = advance.watermark;
        if sheet.is_some() {
            self.tally.modules = advance.modules;
        }
        Ok(())
    }

    /// Makes a batch final: its row errors and the job's counters, with its records.
    fn commit_batch(&mut self, errors: Vec<RowErrorRecord>, advance: &JobAdvance) -> Result<(), Failure> {
        let job = self.job;
        match &mut self.target {
            Target::DryRun => job
                .store
                .insert_row_errors(job.id, &errors)
                .map_err(store_failure),
            Target::PerBatch(tx) => {
                let Some(mut tx) = tx.take() else {
                    return Err(Failure::new(ErrorCode::Internal, "the batch transaction is gone"));
                };
                tx.insert_row_errors(job.id, &errors).map_err(store_failure)?;
                let cancel_requested = tx.advance_job(job.id, advance).map_err(store_failure)?;
                tx.commit().map_err(store_failure)?;
                self.cancel_if(cancel_requested);
                Ok(())
            }
            Target::Whole(tx) => {
                // Errors outlive a rollback, so they are persisted after the transaction.
                self.held_errors.extend(errors);
                if let Some(tx) = tx.as_mut() {
                    let cancel_requested = tx.advance_job(job.id, advance).map_err(store_failure)?;
                    self.cancel_if(cancel_requested);
                }
                Ok(())
            }
        }
    }

    /// Stops the job at this batch boundary if CancelImport reached it through the database
    /// (from another replica's connection).
    fn cancel_if(&self, requested: bool) {
        if requested {
            self.events.cancel().cancel("cancelled with CancelImport");
        }
    }

    /// Runs the batch against the target.
    fn apply(&mut self, records: &Records) -> Result<WriteOutcome, Failure> {
        let job = self.job;
        // (A workbook goes on writing: its later sheets may name customers of this one.)
        let failed_so_far = self.tally.failed > 0 && !job.scope.is_workbook();
        match &mut self.target {
            Target::DryRun => job.store.plan(records, job.mode).map_err(store_failure),
            Target::PerBatch(tx) => {
                let tx = tx.insert(job.store.begin_batch().map_err(store_failure)?);
                tx.write_logged(records, job.mode, Some(job.id))
                    .map_err(store_failure)
            }
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
                    tx.write_logged(records, job.mode, Some(job.id))
                        .map_err(store_failure)
                }
            }
        }
    }

    /// Counts and sends the problems of a batch (sorted by row); returns the row errors to
    /// persist with it.
    fn report(&mut self, module: dataport_core::Module, problems: Vec<RowProblem>) -> Vec<RowErrorRecord> {
        if problems.is_empty() {
            return Vec::new();
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
                    row: i64::try_from(self.job.scope.job_row(module, problem.row)).unwrap_or(i64::MAX),
                    column: issue.column,
                    field: issue.field.to_owned(),
                    code: issue.code,
                    message: issue.message,
                    raw_value: Some(issue.value),
                    // The row's cells ride with its first error only.
                    row_data: if i == 0 { row_data.clone() } else { None },
                };
                if self.sent < limits.max_row_error_events
                    && self
                        .events
                        .offer(Event::RowError(row_error_to_proto(&record, self.job.scope)))
                {
                    self.sent += 1;
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
        records
    }

    fn send_preview(&mut self) {
        if self.preview_sent {
            return;
        }
        self.preview_sent = true;
        let module = self.preview_module.unwrap_or(self.job.scope.modules()[0]);
        let fields = module.fields().iter().map(|f| f.key.to_owned()).collect();
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
            let result = if self.tally.failed > 0 || cancelled || self.job.dry_run {
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
