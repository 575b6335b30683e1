//! The end of a job: its outcome (status, error, what counts as committed) as a pure function,
//! the stored report, the log line and the `Completed` event.

use std::sync::atomic::Ordering;
use std::time::Instant;

use dataport_core::{ErrorCode, JobStatus, Locale, OnError, messages};
use dataport_proto::v1::{self, import_event::Event};
use dataport_store::{JobCounts, JobFinish, RowErrorRecord};

use super::super::events::{Events, Stop};
use super::super::upload::UploadSummary;
use super::batch::{Failure, Tally};
use super::job::Job;
use crate::report::{job_to_proto, row_error_to_proto};

/// How a job ended, from its counts and what stopped it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Outcome {
    pub status: JobStatus,
    pub error_code: Option<ErrorCode>,
    pub error_message: Option<String>,
    /// What the database keeps: 0 for an all-or-nothing import that did not commit.
    pub created: u64,
    pub updated: u64,
    /// Whether what the job wrote is kept (false: an all-or-nothing import rolled back).
    pub committed: bool,
}

/// What a job's end depends on.
#[derive(Debug, Clone, Copy)]
pub(super) struct Ending<'a> {
    pub on_error: OnError,
    pub dry_run: bool,
    pub locale: Locale,
    pub created: u64,
    pub updated: u64,
    pub skipped: u64,
    pub failed: u64,
    /// The job-level failure (of the reader or the writer), if any.
    pub failure: Option<&'a Failure>,
    /// Why the job stopped before the end of its input, if it did.
    pub stopped: Option<&'a Stop>,
}

/// The counting rules of ARCHITECTURE.md ("Counting"), in one place.
///
/// FAILED means nothing was committed. A job that stops short after committing rows (SKIP_ROW)
/// is INTERRUPTED: its report says exactly what was kept, and running it again continues. An
/// all-or-nothing job commits only when nothing went wrong.
pub(super) fn outcome(end: Ending<'_>) -> Outcome {
    let all_or_nothing = end.on_error == OnError::AllOrNothing;
    let went_wrong = end.failure.is_some() || end.stopped.is_some();
    let committed = !(all_or_nothing && (end.failed > 0 || went_wrong));
    let (created, updated) = if committed {
        (end.created, end.updated)
    } else {
        (0, 0)
    };
    let kept_any = !end.dry_run && created + updated > 0;
    let (status, error_code, error_message) = match (end.stopped, end.failure) {
        // The stop comes first: a reader failing after it is its consequence.
        (Some(Stop::Interrupted(reason)), _) => (
            JobStatus::Interrupted,
            None,
            Some(stopped_message(reason, created, updated, kept_any)),
        ),
        (Some(Stop::Cancelled(reason)), _) => (
            JobStatus::Cancelled,
            Some(ErrorCode::Cancelled),
            Some(stopped_message(reason, created, updated, kept_any)),
        ),
        (Some(Stop::Protocol(code, reason)), _) => (
            if kept_any {
                JobStatus::Interrupted
            } else {
                JobStatus::Failed
            },
            Some(*code),
            Some(stopped_message(reason, created, updated, kept_any)),
        ),
        (None, Some(f)) => (
            if kept_any || f.interrupts {
                JobStatus::Interrupted
            } else {
                JobStatus::Failed
            },
            Some(f.code),
            Some(if kept_any {
                format!(
                    "{}; {created} created and {updated} updated before it stopped are kept",
                    f.message
                )
            } else {
                f.message.clone()
            }),
        ),
        (None, None) if all_or_nothing && end.failed > 0 => (
            JobStatus::Failed,
            None,
            Some(messages::all_or_nothing_failed(end.failed, end.locale)),
        ),
        (None, None) if end.failed == 0 && end.skipped == 0 => (JobStatus::Succeeded, None, None),
        (None, None) => (JobStatus::PartiallySucceeded, None, None),
    };
    Outcome {
        status,
        error_code,
        error_message,
        created,
        updated,
        committed,
    }
}

fn stopped_message(reason: &str, created: u64, updated: u64, kept_any: bool) -> String {
    if kept_any {
        format!("stopped: {reason}; {created} created and {updated} updated before it stopped are kept")
    } else {
        format!("stopped: {reason}; nothing was imported")
    }
}

/// Records the job's end, logs it and sends `Completed`.
pub(super) fn finish(
    job: &Job,
    events: &Events,
    tally: Tally,
    failure: Option<Failure>,
    stop: Option<Stop>,
    summary: &UploadSummary,
    started: Instant,
) {
    let end = outcome(Ending {
        on_error: job.on_error,
        dry_run: job.dry_run,
        locale: job.locale,
        created: tally.created,
        updated: tally.updated,
        skipped: tally.skipped,
        failed: tally.failed,
        failure: failure.as_ref(),
        stopped: stop.as_ref(),
    });
    // An interrupted job reports what it committed, not what the reader had read ahead.
    let rows_read = if end.status == JobStatus::Interrupted {
        tally.rows
    } else {
        events.counters().rows_read.load(Ordering::Relaxed)
    };
    let counts = JobCounts {
        rows_read,
        created: end.created,
        updated: end.updated,
        skipped: tally.skipped,
        failed: tally.failed,
        bytes_read: summary.bytes,
    };
    // A workbook's sheets follow its totals: what an all-or-nothing rollback took back, it took
    // from every sheet.
    let mut modules = tally.modules.clone();
    for sheet in modules.iter_mut().filter(|_| !end.committed) {
        (sheet.counts.created, sheet.counts.updated) = (0, 0);
    }
    let finish = JobFinish {
        status: end.status,
        counts,
        modules,
        file_size: i64::try_from(summary.bytes).ok(),
        sha256: (!summary.sha256.is_empty()).then(|| summary.sha256.clone()),
        error_code: end.error_code,
        error_message: end.error_message,
        // What the batches committed one by one must all still be stored.
        committed_watermark: super::write::commits_per_batch(job).then_some(tally.watermark),
    };
    tracing::info!(
        job = job.id,
        status = end.status.as_str(),
        rows = rows_read,
        created = end.created,
        updated = end.updated,
        skipped = tally.skipped,
        failed = tally.failed,
        ms = started.elapsed().as_millis() as u64,
        read_busy_ms = tally.read_busy.as_millis() as u64,
        write_busy_ms = tally.write_busy.as_millis() as u64,
        "import finished"
    );
    // A job ended by the client's mistake also fails the call, after its Completed.
    let call_error = match (&stop, &failure) {
        (Some(Stop::Protocol(code, reason)), _) => Some((*code, reason.clone())),
        (None, Some(f)) if f.code == ErrorCode::InvalidArgument => Some((f.code, f.message.clone())),
        _ => None,
    }
    .map(|(code, message)| tonic::Status::from(crate::error::ServiceError::Domain { code, message }));
    record_and_complete(
        job,
        events,
        &finish,
        started,
        (tally.errors_not_sent, tally.errors_not_persisted),
        call_error,
    );
}

/// Ends a job whose pipeline panicked, with `Completed` unless it was sent:
/// INTERRUPTED if batches were committed (the job row holds exactly their counts), FAILED with
/// INTERNAL if not. `message` is the job's error message.
pub(super) fn crashed(job: &Job, events: &Events, message: &str, started: Instant) {
    if events.is_complete() {
        return;
    }
    // The counters committed with the batches are the truth; a dry run committed nothing.
    let (committed, modules) = match job.store.get_job(job.id) {
        Ok(Some(stored)) if !job.dry_run => (stored.counts, stored.modules),
        _ => (JobCounts::default(), Vec::new()),
    };
    let kept_any = committed.created + committed.updated > 0;
    let finish = JobFinish {
        status: if kept_any {
            JobStatus::Interrupted
        } else {
            JobStatus::Failed
        },
        counts: committed,
        modules,
        file_size: None,
        sha256: None,
        error_code: Some(ErrorCode::Internal),
        error_message: Some(message.to_owned()),
        // The stored counts are what it reports.
        committed_watermark: None,
    };
    record_and_complete(job, events, &finish, started, (0, 0), None);
}

/// Adds what this attempt did to the metrics: its counts beyond those of earlier attempts
/// (a resumed job's report is cumulative), nothing for a dry run, and the bytes it received.
fn record_metrics(job: &Job, finish: &JobFinish, started: Instant) {
    let before = job.resume.as_ref().map(|r| r.counts).unwrap_or_default();
    let now = &finish.counts;
    let rows = if job.dry_run {
        [0; 4]
    } else {
        [
            now.created.saturating_sub(before.created),
            now.updated.saturating_sub(before.updated),
            now.skipped.saturating_sub(before.skipped),
            now.failed.saturating_sub(before.failed),
        ]
    };
    let metrics = crate::metrics::get();
    metrics.import_ended(
        job.scope.as_str(),
        finish.status.as_str(),
        [
            ("created", rows[0]),
            ("updated", rows[1]),
            ("skipped", rows[2]),
            ("failed", rows[3]),
        ],
        started.elapsed(),
    );
    let start = job.resume_from.as_ref().map_or(0, |p| p.offset);
    metrics.bytes("in", now.bytes_read.saturating_sub(start));
}

/// Stores the job's end and sends `Completed` with the stored report (or, if the database
/// cannot take it, with what this process knows).
fn record_and_complete(
    job: &Job,
    events: &Events,
    finish: &JobFinish,
    started: Instant,
    (errors_not_sent, errors_not_persisted): (u64, u64),
    call_error: Option<tonic::Status>,
) {
    record_metrics(job, finish, started);
    let report = match job.store.finish_job(job.id, finish) {
        Ok(stored) => job_to_proto(&stored),
        Err(e) => {
            tracing::error!(job = job.id, error = %e, "cannot record the end of an import job");
            let now = chrono::Utc::now();
            let started_at = now - chrono::Duration::milliseconds(started.elapsed().as_millis() as i64);
            job_to_proto(&dataport_store::ImportJob {
                id: job.id,
                module: job.scope,
                modules: finish.modules.clone(),
                format: job.format.clone(),
                mode: job.mode,
                on_error: job.on_error,
                dry_run: job.dry_run,
                status: finish.status,
                counts: finish.counts,
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
                watermark: 0,
                request: None,
                attempts: 1,
                resume_point: None,
            })
        }
    };
    events.complete(
        v1::Completed {
            report: Some(report),
            row_errors_not_sent: errors_not_sent,
            row_errors_not_persisted: errors_not_persisted,
        },
        call_error,
    );
}

/// Sends and persists a job-level failure as a row error, so every client sees it the same way.
pub(super) fn report_job_error(job: &Job, events: &Events, failure: &Failure) {
    let module = failure.module.unwrap_or(job.scope.modules()[0]);
    let record = RowErrorRecord {
        row: i64::try_from(job.scope.job_row(module, failure.row)).unwrap_or(0),
        column: failure.column.clone(),
        field: String::new(),
        code: failure.code,
        message: failure.message.clone(),
        raw_value: None,
        row_data: None,
    };
    events.send(Event::RowError(row_error_to_proto(&record, job.scope)));
    if let Err(e) = job.store.insert_row_errors(job.id, &[record]) {
        tracing::warn!(job = job.id, error = %e, "cannot persist the job's error");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ending(on_error: OnError) -> Ending<'static> {
        Ending {
            on_error,
            dry_run: false,
            locale: Locale::En,
            created: 7,
            updated: 3,
            skipped: 0,
            failed: 0,
            failure: None,
            stopped: None,
        }
    }

    #[rustfmt::skip]
    #[test]
    fn the_counting_rules() {
        use JobStatus::*;
        use OnError::*;
        let broken = Failure::new(ErrorCode::MalformedFile, "truncated");
        let db_lost = Failure { interrupts: true, ..Failure::new(ErrorCode::Unavailable, "database gone") };
        let gone = Stop::Interrupted("the client went away".into());
        let protocol = Stop::Protocol(ErrorCode::InvalidArgument, "a second ImportSpec".into());
        let cancelled = Stop::Cancelled("cancelled with CancelImport".into());
        let nothing = |e: Ending<'static>| Ending { created: 0, updated: 0, ..e };
        // (case, ending, status, error code, created, updated kept)
        type Case<'a> = (&'a str, Ending<'a>, JobStatus, Option<ErrorCode>, u64, u64);
        let cases: Vec<Case<'_>> = vec![
            ("clean skip-row", ending(SkipRow), Succeeded, None, 7, 3),
            ("clean all-or-nothing", ending(AllOrNothing), Succeeded, None, 7, 3),
            ("skip-row, a skipped duplicate", Ending { skipped: 1, ..ending(SkipRow) }, PartiallySucceeded, None, 7, 3),
            ("skip-row, a failed row", Ending { failed: 2, ..ending(SkipRow) }, PartiallySucceeded, None, 7, 3),
            ("all-or-nothing, a failed row", Ending { failed: 2, ..ending(AllOrNothing) }, Failed, None, 0, 0),
            ("broken file, nothing committed", Ending { failure: Some(&broken), ..nothing(ending(SkipRow)) }, Failed, Some(ErrorCode::MalformedFile), 0, 0),
            ("broken file after committed batches", Ending { failure: Some(&broken), ..ending(SkipRow) }, Interrupted, Some(ErrorCode::MalformedFile), 7, 3),
            ("all-or-nothing, a broken file", Ending { failure: Some(&broken), ..ending(AllOrNothing) }, Failed, Some(ErrorCode::MalformedFile), 0, 0),
            ("database lost before anything committed", Ending { failure: Some(&db_lost), ..nothing(ending(SkipRow)) }, Interrupted, Some(ErrorCode::Unavailable), 0, 0),
            ("all-or-nothing, database lost", Ending { failure: Some(&db_lost), ..ending(AllOrNothing) }, Interrupted, Some(ErrorCode::Unavailable), 0, 0),
            ("client gone, skip-row", Ending { stopped: Some(&gone), ..ending(SkipRow) }, Interrupted, None, 7, 3),
            ("client gone, all-or-nothing", Ending { stopped: Some(&gone), ..ending(AllOrNothing) }, Interrupted, None, 0, 0),
            ("client gone wins over the reader's failure", Ending { stopped: Some(&gone), failure: Some(&broken), ..ending(SkipRow) }, Interrupted, None, 7, 3),
            ("protocol error, nothing committed", Ending { stopped: Some(&protocol), ..nothing(ending(SkipRow)) }, Failed, Some(ErrorCode::InvalidArgument), 0, 0),
            ("protocol error after committed batches", Ending { stopped: Some(&protocol), ..ending(SkipRow) }, Interrupted, Some(ErrorCode::InvalidArgument), 7, 3),
            ("cancelled, skip-row keeps its batches", Ending { stopped: Some(&cancelled), ..ending(SkipRow) }, Cancelled, Some(ErrorCode::Cancelled), 7, 3),
            ("cancelled, all-or-nothing rolls back", Ending { stopped: Some(&cancelled), ..ending(AllOrNothing) }, Cancelled, Some(ErrorCode::Cancelled), 0, 0),
            ("dry run stopped", Ending { dry_run: true, stopped: Some(&protocol), ..ending(SkipRow) }, Failed, Some(ErrorCode::InvalidArgument), 7, 3),
        ];
        for (case, end, status, code, created, updated) in cases {
            let got = outcome(end);
            assert_eq!((got.status, got.error_code, got.created, got.updated), (status, code, created, updated), "{case}");
        }
    }

    #[test]
    fn messages_say_what_was_kept() {
        let gone = Stop::Interrupted("the client left".into());
        let got = outcome(Ending {
            stopped: Some(&gone),
            ..ending(OnError::SkipRow)
        });
        assert_eq!(
            got.error_message.as_deref(),
            Some("stopped: the client left; 7 created and 3 updated before it stopped are kept")
        );
        let got = outcome(Ending {
            failed: 4,
            locale: Locale::ZhCn,
            ..ending(OnError::AllOrNothing)
        });
        assert!(got.error_message.unwrap().contains("未导入任何数据"));
        let got = outcome(Ending {
            stopped: Some(&gone),
            ..ending(OnError::AllOrNothing)
        });
        assert!(got.error_message.unwrap().ends_with("nothing was imported"));
    }
}
