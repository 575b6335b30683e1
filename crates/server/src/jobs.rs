//! GetImportJob, ListImportJobs, CancelImport and WatchImport: persisted job reports and their
//! row errors, paged; control of a running job from any connection. Every job is private to
//! the token that started it and to `admin` tokens ([`Caller::visible_job`]).

use std::time::Duration;

use chrono::{DateTime, TimeZone, Utc};
use dataport_core::ErrorCode;
use dataport_proto::{convert, v1, v1::import_event::Event};
use dataport_store::{ImportJob, JobQuery, Store};

use crate::auth::Caller;
use crate::error::{ServiceError, blocking};
use crate::import::RunningImports;
use crate::inflight::CallGuard;
use crate::report::{job_to_proto, row_error_to_proto};
use crate::stream::EventStream;

/// How often WatchImport and CancelImport read the persisted job.
const POLL: Duration = Duration::from_millis(250);
/// How long CancelImport waits for the job to stop before answering with it still RUNNING.
const CANCEL_WAIT: Duration = Duration::from_secs(10);

/// Most row errors one GetImportJob page returns.
const MAX_ERROR_PAGE: u32 = 1000;
/// Default and largest ListImportJobs page.
const DEFAULT_JOB_PAGE: u32 = 50;
const MAX_JOB_PAGE: u32 = 1000;

/// One job's report and a page of its row errors.
pub async fn get(
    store: Store,
    caller: &Caller,
    request: v1::GetImportJobRequest,
) -> Result<v1::GetImportJobResponse, ServiceError> {
    let job_id = request.job_id;
    let limit = request.error_limit.min(MAX_ERROR_PAGE) as usize;
    if request.errors_after_row > dataport_core::workbook::MAX_SHEET_ROW {
        return Err(ServiceError::invalid(
            "errors_after_row",
            "errors_after_row is too large",
        ));
    }
    let after_module = match request.errors_after_module {
        0 => None,
        m => Some(
            convert::module_from_proto(m)
                .map_err(|e| ServiceError::invalid("errors_after_module", e.message))?,
        ),
    };
    let caller = caller.clone();
    let (job, errors, total_errors) = blocking(move || {
        let job = caller.visible_job(job_id, store.get_job(job_id)?)?;
        // A workbook job's errors are ordered sheet by sheet: the page starts after that
        // sheet's row.
        let scope = job.module;
        let module = after_module.unwrap_or(scope.modules()[0]);
        let after = i64::try_from(scope.job_row(module, request.errors_after_row)).unwrap_or(i64::MAX);
        let errors = if limit == 0 {
            Vec::new()
        } else {
            store.row_errors(job_id, (after > 0).then_some(after), limit)?
        };
        let total = store.count_row_errors(job_id)?;
        Ok((job, errors, total))
    })
    .await?;
    Ok(v1::GetImportJobResponse {
        job: Some(job_to_proto(&job)),
        errors: errors.iter().map(|e| row_error_to_proto(e, job.module)).collect(),
        total_errors,
    })
}

/// Jobs newest first, filtered and paged by keyset; only those the caller may see.
pub async fn list(
    store: Store,
    caller: &Caller,
    request: v1::ListImportJobsRequest,
) -> Result<v1::ListImportJobsResponse, ServiceError> {
    let (page_size, before_id) = page_request(
        request.page_size,
        DEFAULT_JOB_PAGE,
        MAX_JOB_PAGE,
        &request.page_token,
    )?;
    let module = if request.module == v1::Module::Unspecified as i32 {
        None
    } else {
        Some(convert::module_scope_from_proto(request.module).map_err(ServiceError::from)?)
    };
    let query = JobQuery {
        module,
        status: convert::job_status_from_proto(request.status).map_err(ServiceError::from)?,
        started_after: unix_ms_bound("started_after_unix_ms", request.started_after_unix_ms)?,
        started_before: unix_ms_bound("started_before_unix_ms", request.started_before_unix_ms)?,
        before_id,
        token_name: caller.job_owner_filter().map(str::to_owned),
        // One extra row tells whether another page follows.
        limit: page_size + 1,
    };
    let mut jobs = blocking(move || Ok(store.list_jobs(&query)?)).await?;
    let next_page_token = next_page_token(&mut jobs, page_size, |job| job.id);
    Ok(v1::ListImportJobsResponse {
        jobs: jobs.iter().map(job_to_proto).collect(),
        next_page_token,
    })
}

/// A list request's page size (0 = `default`, at most `max`) and the id its `page_token`
/// names (`None` on the first page).
pub(crate) fn page_request(
    page_size: u32,
    default: u32,
    max: u32,
    token: &str,
) -> Result<(usize, Option<i64>), ServiceError> {
    let size = match page_size {
        0 => default,
        n => n.min(max),
    } as usize;
    let cursor = if token.is_empty() {
        None
    } else {
        Some(page_token(token)?)
    };
    Ok((size, cursor))
}

/// Cuts `items`, fetched with one extra to tell whether another page follows, to `page_size`,
/// and returns the `next_page_token` (the last item's id; empty on the last page).
pub(crate) fn next_page_token<T>(items: &mut Vec<T>, page_size: usize, id: impl Fn(&T) -> i64) -> String {
    if items.len() <= page_size {
        return String::new();
    }
    items.truncate(page_size);
    items.last().map(|item| id(item).to_string()).unwrap_or_default()
}

/// The job id a `next_page_token` names: a positive integer, as the server issues them.
fn page_token(token: &str) -> Result<i64, ServiceError> {
    match token.parse::<i64>() {
        Ok(id) if id > 0 && !token.starts_with('+') => Ok(id),
        _ => {
            // Echo a bounded, printable prefix only: the message travels in a header.
            let mut shown: String = token.chars().take(32).flat_map(char::escape_debug).collect();
            if token.chars().count() > 32 {
                shown.push('…');
            }
            Err(ServiceError::invalid(
                "page_token",
                format!("page_token '{shown}' is not one this server issued; pass next_page_token unchanged"),
            ))
        }
    }
}

pub(crate) fn unix_ms_bound(field: &str, value: i64) -> Result<Option<DateTime<Utc>>, ServiceError> {
    if value == 0 {
        return Ok(None);
    }
    Utc.timestamp_millis_opt(value).single().map(Some).ok_or_else(|| {
        ServiceError::invalid(field, format!("{field}: {value} is not a valid Unix time in ms"))
    })
}

/// The job as `caller` may see it (NOT_FOUND otherwise).
async fn load(store: &Store, caller: &Caller, job_id: i64) -> Result<ImportJob, ServiceError> {
    let (store, caller) = (store.clone(), caller.clone());
    blocking(move || caller.visible_job(job_id, store.get_job(job_id)?)).await
}

/// CancelImport of a job that is over.
fn already_ended(job: &ImportJob) -> ServiceError {
    ServiceError::Domain {
        code: ErrorCode::JobNotRunning,
        message: format!(
            "import job {} has already ended ({}); nothing to cancel",
            job.id, job.status
        ),
    }
}

/// Cancels a running job: directly if this process runs it, else through the database for the
/// replica that does. Waits (bounded) for the job to stop.
pub async fn cancel(
    store: Store,
    running: &RunningImports,
    caller: &Caller,
    request: v1::CancelImportRequest,
) -> Result<v1::CancelImportResponse, ServiceError> {
    let job_id = request.job_id;
    let job = load(&store, caller, job_id).await?;
    if job.status.is_final() {
        return Err(already_ended(&job));
    }
    let reason = format!("cancelled with CancelImport (token {})", caller.token_name);
    if !running.cancel(job_id, &reason) {
        let requester = store.clone();
        let recorded = blocking(move || Ok(requester.request_cancel(job_id)?)).await?;
        if !recorded {
            let job = load(&store, caller, job_id).await?;
            return Err(already_ended(&job));
        }
    }
    tracing::info!(job = job_id, token = %caller.token_name, "import cancel requested");
    let waited = tokio::time::Instant::now();
    loop {
        let job = load(&store, caller, job_id).await?;
        if job.status.is_final() || waited.elapsed() >= CANCEL_WAIT {
            return Ok(v1::CancelImportResponse {
                job: Some(job_to_proto(&job)),
            });
        }
        tokio::time::sleep(POLL).await;
    }
}

/// Streams a job's persisted progress until it ends, then its Completed. Reading the database,
/// not the pipeline, makes it work through any replica and after the job's own stream is gone.
pub async fn watch(
    store: Store,
    caller: Caller,
    request: v1::WatchImportRequest,
    call: CallGuard,
) -> Result<EventStream<v1::ImportEvent>, ServiceError> {
    let job_id = request.job_id;
    let first = load(&store, &caller, job_id).await?;
    let (tx, rx) = tokio::sync::mpsc::channel(16);
    tokio::spawn(async move {
        let _call = call;
        let mut job = first;
        loop {
            if job.status.is_final() {
                let completed = v1::Completed {
                    report: Some(job_to_proto(&job)),
                    ..v1::Completed::default()
                };
                let _ = tx
                    .send(Ok(v1::ImportEvent {
                        event: Some(Event::Completed(completed)),
                    }))
                    .await;
                return;
            }
            // Sent every poll, changed or not: it doubles as a heartbeat for the watcher.
            let event = v1::ImportEvent {
                event: Some(Event::Progress(progress(&job))),
            };
            if tx.send(Ok(event)).await.is_err() {
                return;
            }
            tokio::time::sleep(POLL).await;
            job = match load(&store, &caller, job_id).await {
                Ok(job) => job,
                Err(e) => {
                    let _ = tx.send(Err(e.into())).await;
                    return;
                }
            };
        }
    });
    Ok(Box::pin(tokio_stream::wrappers::ReceiverStream::new(rx)))
}

/// A running job's persisted counts as a Progress event (whole committed batches).
fn progress(job: &ImportJob) -> v1::Progress {
    let c = &job.counts;
    let elapsed = Utc::now().signed_duration_since(job.started_at);
    v1::Progress {
        bytes_read: c.bytes_read,
        rows_read: c.rows_read,
        rows_ok: c.created + c.updated + c.skipped,
        rows_failed: c.failed,
        // Not persisted: only the replica running the job knows it.
        rows_total: 0,
        elapsed_ms: u64::try_from(elapsed.num_milliseconds()).unwrap_or(0),
    }
}

#[cfg(test)]
mod page_token_tests {
    use super::*;

    #[test]
    fn page_tokens_are_positive_job_ids() {
        assert_eq!(page_token("42").unwrap(), 42);
        for bad in ["", "x", "-1", "0", "+5", "1.5", &"9".repeat(10_000)] {
            let ServiceError::InvalidArgument { field, message } = page_token(bad).unwrap_err() else {
                panic!("{bad}: not INVALID_ARGUMENT");
            };
            assert_eq!(field, "page_token");
            assert!(message.len() < 200, "the token is not echoed whole: {message}");
        }
    }
}
