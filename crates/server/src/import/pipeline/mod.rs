//! One import job, on blocking threads: the plugin reads on one, the core validates on a
//! second, the store writes on a third, with bounded channels of batches between them, so
//! parsing, validation and writing overlap on the cores and memory stays bounded whatever the
//! file size.
//!
//! ```text
//! upload chunks ─▶ read (plugin, cells)
//!                        │ Unchecked (≤ 1 ahead)
//!                        ▼
//!                  validate (rules, in-file duplicates)
//!                        │ CheckedBatch (≤ 2 in flight)
//!                        ▼
//!                  write (one transaction per batch, or one for all-or-nothing)
//!                  ─▶ RowError / Preview / Progress events, persisted row errors
//!                        ▼
//!                  finish (the job's outcome, its report, Completed)
//! ```
//!
//! Modules: [`job`] (what a job is fixed to), [`batch`] (what the stages hand each other),
//! `read`, `validate` (with `dedup`, the in-file duplicate check), `write`, `finish`. Only this file knows all of them.

mod batch;
mod dedup;
mod finish;
mod job;
mod read;
mod validate;
mod write;

use std::sync::mpsc::sync_channel;
use std::time::Instant;

use dataport_core::ErrorCode;

use super::events::Events;
use batch::{CheckedBatch, Failure, Tally, WriterResult};
pub use job::{Input, Job, Resume};

/// Rows shown in the Preview event.
const PREVIEW_ROWS: usize = 10;
/// Batches validated ahead of the writer: one is ready when the writer finishes the batch
/// before it. Imports queued behind SQLite's single writer hold theirs meanwhile, so each more
/// is another batch in memory per waiting import.
const BATCHES_IN_FLIGHT: usize = 1;

/// Runs a job to its end and sends `Completed`. Never panics on bad input: every problem ends
/// up in the job report; a panic (a bug) ends the job FAILED with INTERNAL.
pub fn run(job: Job, events: Events, input: Input) {
    let started = Instant::now();
    let ran = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        run_to_end(&job, &events, &input, started)
    }));
    if let Err(panic) = ran {
        let message = dataport_plugin_sdk::ffi::panic_message(&*panic);
        tracing::error!(job = job.id, panic = %message, "the import pipeline panicked; the job is ended");
        finish::crashed(
            &job,
            &events,
            &format!("the import crashed (a bug in dataport, please report it): {message}"),
            started,
        );
    }
}

fn run_to_end(job: &Job, events: &Events, input: &Input, started: Instant) {
    let (writer_result, reader_failure) = read_and_write(job, events, input);
    let stop = events.cancel().stop();
    let (tally, failure) = match writer_result {
        Ok(tally) => (tally, reader_failure),
        Err(failed) => {
            let (tally, failure_in_writer) = *failed;
            (tally, Some(failure_in_writer))
        }
    };
    // A job that failed or stopped ends its call now, without reading the rest of the upload.
    let summary = input.finish(failure.is_none() && stop.is_none());
    finish::finish(job, events, tally, failure, stop, &summary, started);
}

/// Reads, validates and writes. Returns the writer's tally and the reader's failure, if any.
fn read_and_write(job: &Job, events: &Events, input: &Input) -> (WriterResult, Option<Failure>) {
    let (tx, rx) = sync_channel::<CheckedBatch>(BATCHES_IN_FLIGHT);
    std::thread::scope(|scope| {
        let spawned = std::thread::Builder::new()
            .name(format!("import-{}-writer", job.id))
            .spawn_scoped(scope, || write::write_batches(job, events, rx));
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
        let mut read_busy = std::time::Duration::ZERO;
        let failure =
            read::read_batches(job, events, input, &mut read_busy, |batch| tx.send(batch).is_ok()).err();
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
            finish::report_job_error(job, events, f);
        }
        (result, failure)
    })
}
