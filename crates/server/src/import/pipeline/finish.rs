//! The end of a job: its outcome (status, error, what counts as committed) as a pure function,
//! the stored report, the log line and the `Completed` event.

use std::sync::atomic::Ordering;
use std::time::Instant;

use dataport_core::{ErrorCode, JobStatus, Locale, OnError, messages};
use dataport_proto::v1::{self, import_event::Event};
use dataport_store::{JobCounts, JobFinish, RowErrorRecord};

use super::super::events::Events;
use super::super::upload::UploadSummary;
use super::batch::{Failure, Tally};
use super::job::Job;
use crate::report::job_to_proto;

/// How a job ended, from its counts and what stopped it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Outcome {
    pub status: JobStatus,
    pub error_code: Option<ErrorCode>,
    pub error_message: Option<String>,
    /// What the database keeps: 0 for an all-or-nothing import that did not commit.
    pub created: u64,
    pub updated: u64,
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
    /// Why the job was cancelled, if it was.
    pub cancelled: Option<&'a str>,
}

/// The counting rules of ARCHITECTURE.md ("Counting"), in one place.
pub(super) fn outcome(end: Ending<'_>) -> Outcome {
    let all_or_nothing = end.on_error == OnError::AllOrNothing;
    // An all-or-nothing import commits only when nothing went wrong.
    let committed = !(all_or_nothing && (end.failed > 0 || end.failure.is_some() || end.cancelled.is_some()));
    let (created, updated) = if committed {
        (end.created, end.updated)
    } else {
        (0, 0)
    };
    let (status, error_code, error_message) = if let Some(reason) = end.cancelled {
        // A cancelled job is CANCELLED even if its reader then failed: the failure is the cancel.
        let kept = if all_or_nothing || end.dry_run {
            "nothing was imported".to_owned()
        } else {
            format!("{created} created and {updated} updated before it stopped are kept")
        };
        (
            JobStatus::Cancelled,
            None,
            Some(format!("cancelled: {reason}; {kept}")),
        )
    } else if let Some(f) = end.failure {
        (JobStatus::Failed, Some(f.code), Some(f.message.clone()))
    } else if all_or_nothing && end.failed > 0 {
        (
            JobStatus::Failed,
            None,
            Some(messages::all_or_nothing_failed(end.failed, end.locale)),
        )
    } else if end.failed == 0 && end.skipped == 0 {
        (JobStatus::Succeeded, None, None)
    } else {
        (JobStatus::PartiallySucceeded, None, None)
    };
    Outcome {
        status,
        error_code,
        error_message,
        created,
        updated,
    }
}

/// Records the job's end, logs it and sends `Completed`.
pub(super) fn finish(
    job: &Job,
    events: &Events,
    tally: Tally,
    failure: Option<Failure>,
    cancel_reason: Option<String>,
    summary: &UploadSummary,
    started: Instant,
) {
    let rows_read = events.counters().rows_read.load(Ordering::Relaxed);
    let end = outcome(Ending {
        on_error: job.on_error,
        dry_run: job.dry_run,
        locale: job.locale,
        created: tally.created,
        updated: tally.updated,
        skipped: tally.skipped,
        failed: tally.failed,
        failure: failure.as_ref(),
        cancelled: cancel_reason.as_deref(),
    });
    let counts = JobCounts {
        rows_read,
        created: end.created,
        updated: end.updated,
        skipped: tally.skipped,
        failed: tally.failed,
        bytes_read: summary.bytes,
    };
    let finish = JobFinish {
        status: end.status,
        counts,
        file_size: i64::try_from(summary.bytes).ok(),
        sha256: Some(summary.sha256.clone()),
        error_code: end.error_code,
        error_message: end.error_message,
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
    record_and_complete(
        job,
        events,
        &finish,
        started,
        tally.errors_not_sent,
        tally.errors_not_persisted,
    );
}

/// Ends a job whose pipeline panicked: FAILED with INTERNAL, and `Completed` unless it was sent.
pub(super) fn crashed(job: &Job, events: &Events, message: &str, started: Instant) {
    tracing::error!(
        job = job.id,
        panic = message,
        "the import pipeline panicked; the job is marked failed"
    );
    if events.is_complete() {
        return;
    }
    let counters = events.counters();
    let finish = JobFinish {
        status: JobStatus::Failed,
        counts: JobCounts {
            rows_read: counters.rows_read.load(Ordering::Relaxed),
            failed: counters.rows_failed.load(Ordering::Relaxed),
            ..JobCounts::default()
        },
        file_size: None,
        sha256: None,
        error_code: Some(ErrorCode::Internal),
        error_message: Some(format!(
            "the import crashed (a bug in dataport, please report it): {message}"
        )),
    };
    record_and_complete(job, events, &finish, started, 0, 0);
}

/// Stores the job's end and sends `Completed` with the stored report (or, if the database
/// cannot take it, with what this process knows).
fn record_and_complete(
    job: &Job,
    events: &Events,
    finish: &JobFinish,
    started: Instant,
    errors_not_sent: u64,
    errors_not_persisted: u64,
) {
    let report = match job.store.finish_job(job.id, finish) {
        Ok(stored) => job_to_proto(&stored),
        Err(e) => {
            tracing::error!(job = job.id, error = %e, "cannot record the end of an import job");
            let now = chrono::Utc::now();
            let started_at = now - chrono::Duration::milliseconds(started.elapsed().as_millis() as i64);
            job_to_proto(&dataport_store::ImportJob {
                id: job.id,
                module: job.module,
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
            })
        }
    };
    events.complete(v1::Completed {
        report: Some(report),
        row_errors_not_sent: errors_not_sent,
        row_errors_not_persisted: errors_not_persisted,
    });
}

/// Sends and persists a job-level failure as a row error, so every client sees it the same way.
pub(super) fn report_job_error(job: &Job, events: &Events, failure: &Failure) {
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
            cancelled: None,
        }
    }

    #[test]
    fn the_counting_rules() {
        use JobStatus::*;
        use OnError::*;
        let broken = Failure::new(ErrorCode::MalformedFile, "truncated");
        // (case, ending, status, error code, created, updated kept)
        let cases: Vec<(&str, Ending<'_>, JobStatus, Option<ErrorCode>, u64, u64)> = vec![
            ("clean skip-row", ending(SkipRow), Succeeded, None, 7, 3),
            (
                "clean all-or-nothing",
                ending(AllOrNothing),
                Succeeded,
                None,
                7,
                3,
            ),
            (
                "skip-row, a skipped duplicate",
                Ending {
                    skipped: 1,
                    ..ending(SkipRow)
                },
                PartiallySucceeded,
                None,
                7,
                3,
            ),
            (
                "skip-row, a failed row",
                Ending {
                    failed: 2,
                    ..ending(SkipRow)
                },
                PartiallySucceeded,
                None,
                7,
                3,
            ),
            (
                "all-or-nothing, a failed row",
                Ending {
                    failed: 2,
                    ..ending(AllOrNothing)
                },
                Failed,
                None,
                0,
                0,
            ),
            (
                "skip-row, a broken file",
                Ending {
                    failure: Some(&broken),
                    ..ending(SkipRow)
                },
                Failed,
                Some(ErrorCode::MalformedFile),
                7,
                3,
            ),
            (
                "all-or-nothing, a broken file",
                Ending {
                    failure: Some(&broken),
                    ..ending(AllOrNothing)
                },
                Failed,
                Some(ErrorCode::MalformedFile),
                0,
                0,
            ),
            (
                "skip-row cancelled",
                Ending {
                    cancelled: Some("client left"),
                    ..ending(SkipRow)
                },
                Cancelled,
                None,
                7,
                3,
            ),
            (
                "all-or-nothing cancelled",
                Ending {
                    cancelled: Some("client left"),
                    ..ending(AllOrNothing)
                },
                Cancelled,
                None,
                0,
                0,
            ),
            (
                "cancelled wins over a failure",
                Ending {
                    cancelled: Some("x"),
                    failure: Some(&broken),
                    ..ending(SkipRow)
                },
                Cancelled,
                None,
                7,
                3,
            ),
        ];
        for (case, end, status, code, created, updated) in cases {
            let got = outcome(end);
            assert_eq!(
                (got.status, got.error_code, got.created, got.updated),
                (status, code, created, updated),
                "{case}"
            );
        }
    }

    #[test]
    fn messages_say_what_was_kept() {
        let got = outcome(Ending {
            cancelled: Some("the client left"),
            ..ending(OnError::SkipRow)
        });
        assert_eq!(
            got.error_message.as_deref(),
            Some("cancelled: the client left; 7 created and 3 updated before it stopped are kept")
        );
        let got = outcome(Ending {
            failed: 4,
            locale: Locale::ZhCn,
            ..ending(OnError::AllOrNothing)
        });
        assert!(got.error_message.unwrap().contains("未导入任何数据"));
        let got = outcome(Ending {
            dry_run: true,
            cancelled: Some("x"),
            ..ending(OnError::SkipRow)
        });
        assert!(got.error_message.unwrap().ends_with("nothing was imported"));
    }
}
