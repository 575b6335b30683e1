//! Stored jobs and row errors as their proto messages: a leaf module, so the handlers and the
//! import pipeline can both use it without importing each other.

use chrono::Utc;
use dataport_proto::{convert, v1};
use dataport_store::{ImportJob, RowErrorRecord};

/// Persisted job → wire report.
pub fn job_to_proto(job: &ImportJob) -> v1::ImportJob {
    let end = job.finished_at.unwrap_or_else(Utc::now);
    v1::ImportJob {
        id: job.id,
        module: convert::module_to_proto(job.module) as i32,
        format: job.format.clone(),
        mode: convert::import_mode_to_proto(job.mode) as i32,
        on_error: convert::on_error_to_proto(job.on_error) as i32,
        dry_run: job.dry_run,
        status: convert::job_status_to_proto(job.status) as i32,
        rows_read: job.counts.rows_read,
        rows_created: job.counts.created,
        rows_updated: job.counts.updated,
        rows_skipped: job.counts.skipped,
        rows_failed: job.counts.failed,
        file_name: job.file_name.clone(),
        file_size: job
            .file_size
            .and_then(|s| u64::try_from(s).ok())
            .unwrap_or(job.counts.bytes_read),
        sha256: job.sha256.clone().unwrap_or_default(),
        token_name: job.token_name.clone(),
        error_message: job.error_message.clone().unwrap_or_default(),
        error_code: job
            .error_code
            .map(|c| convert::error_code_to_proto(c) as i32)
            .unwrap_or(0),
        started_at_unix_ms: job.started_at.timestamp_millis(),
        finished_at_unix_ms: job.finished_at.map(|t| t.timestamp_millis()).unwrap_or(0),
        duration_ms: u64::try_from((end - job.started_at).num_milliseconds()).unwrap_or(0),
        watermark: job.watermark,
        attempts: job.attempts,
        request_id: job.request.as_ref().map(|r| r.id.clone()).unwrap_or_default(),
    }
}

/// Persisted row error → wire event.
pub fn row_error_to_proto(error: &RowErrorRecord) -> v1::RowError {
    v1::RowError {
        row: u64::try_from(error.row).unwrap_or(0),
        column: error.column.clone(),
        field: error.field.clone(),
        code: convert::error_code_to_proto(error.code) as i32,
        message: error.message.clone(),
        value: error.raw_value.clone().unwrap_or_default(),
    }
}
