//! GetImportJob and ListImportJobs: persisted job reports and their row errors, paged.

use chrono::{DateTime, TimeZone, Utc};
use dataport_proto::{convert, v1};
use dataport_store::{JobQuery, Store};

use crate::error::{ServiceError, blocking};
use crate::report::{job_to_proto, row_error_to_proto};

/// Most row errors one GetImportJob page returns.
const MAX_ERROR_PAGE: u32 = 1000;
/// Default and largest ListImportJobs page.
const DEFAULT_JOB_PAGE: u32 = 50;
const MAX_JOB_PAGE: u32 = 1000;

/// One job's report and a page of its row errors.
pub async fn get(
    store: Store,
    request: v1::GetImportJobRequest,
) -> Result<v1::GetImportJobResponse, ServiceError> {
    let job_id = request.job_id;
    let limit = request.error_limit.min(MAX_ERROR_PAGE) as usize;
    let after_row = i64::try_from(request.errors_after_row)
        .map_err(|_| ServiceError::invalid("errors_after_row", "errors_after_row is too large"))?;
    let (job, errors, total_errors) = blocking(move || {
        let job = store
            .get_job(job_id)?
            .ok_or_else(|| ServiceError::NotFound(format!("import job {job_id} does not exist")))?;
        let errors = if limit == 0 {
            Vec::new()
        } else {
            store.row_errors(job_id, (after_row > 0).then_some(after_row), limit)?
        };
        let total = store.count_row_errors(job_id)?;
        Ok((job, errors, total))
    })
    .await?;
    Ok(v1::GetImportJobResponse {
        job: Some(job_to_proto(&job)),
        errors: errors.iter().map(row_error_to_proto).collect(),
        total_errors,
    })
}

/// Jobs newest first, filtered and paged by keyset.
pub async fn list(
    store: Store,
    request: v1::ListImportJobsRequest,
) -> Result<v1::ListImportJobsResponse, ServiceError> {
    let page_size = match request.page_size {
        0 => DEFAULT_JOB_PAGE,
        n => n.min(MAX_JOB_PAGE),
    } as usize;
    let before_id = if request.page_token.is_empty() {
        None
    } else {
        Some(request.page_token.parse::<i64>().map_err(|_| {
            ServiceError::invalid(
                "page_token",
                format!(
                    "page_token '{}' is not one this server issued; pass next_page_token unchanged",
                    request.page_token
                ),
            )
        })?)
    };
    let module = if request.module == v1::Module::Unspecified as i32 {
        None
    } else {
        Some(convert::module_from_proto(request.module).map_err(ServiceError::from)?)
    };
    let query = JobQuery {
        module,
        status: convert::job_status_from_proto(request.status).map_err(ServiceError::from)?,
        started_after: unix_ms_bound("started_after_unix_ms", request.started_after_unix_ms)?,
        started_before: unix_ms_bound("started_before_unix_ms", request.started_before_unix_ms)?,
        before_id,
        // One extra row tells whether another page follows.
        limit: page_size + 1,
    };
    let mut jobs = blocking(move || Ok(store.list_jobs(&query)?)).await?;
    let next_page_token = if jobs.len() > page_size {
        jobs.truncate(page_size);
        jobs.last().map(|job| job.id.to_string()).unwrap_or_default()
    } else {
        String::new()
    };
    Ok(v1::ListImportJobsResponse {
        jobs: jobs.iter().map(job_to_proto).collect(),
        next_page_token,
    })
}

fn unix_ms_bound(field: &str, value: i64) -> Result<Option<DateTime<Utc>>, ServiceError> {
    if value == 0 {
        return Ok(None);
    }
    Utc.timestamp_millis_opt(value).single().map(Some).ok_or_else(|| {
        ServiceError::invalid(field, format!("{field}: {value} is not a valid Unix time in ms"))
    })
}
