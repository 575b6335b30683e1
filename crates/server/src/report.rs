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
        module: convert::module_scope_to_proto(job.module) as i32,
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
        // A workbook job's watermark is a job row: the sheet it is on, and the row there.
        watermark: job.module.sheet_row(job.watermark).1,
        watermark_module: if job.module.is_workbook() {
            convert::module_to_proto(job.module.sheet_row(job.watermark).0) as i32
        } else {
            0
        },
        attempts: job.attempts,
        request_id: job.request.as_ref().map(|r| r.id.clone()).unwrap_or_default(),
        modules: job
            .modules
            .iter()
            .map(|m| v1::ModuleCounts {
                module: convert::module_to_proto(m.module) as i32,
                sheet: m.sheet.clone(),
                rows_read: m.counts.rows_read,
                rows_created: m.counts.created,
                rows_updated: m.counts.updated,
                rows_skipped: m.counts.skipped,
                rows_failed: m.counts.failed,
            })
            .collect(),
    }
}

/// Persisted row error of a job of `scope` → wire event (its row a job row: see
/// `ModuleScope::job_row`).
pub fn row_error_to_proto(error: &RowErrorRecord, scope: dataport_core::ModuleScope) -> v1::RowError {
    let (module, row) = scope.sheet_row(u64::try_from(error.row).unwrap_or(0));
    v1::RowError {
        row,
        module: convert::module_to_proto(module) as i32,
        column: error.column.clone(),
        field: error.field.clone(),
        code: convert::error_code_to_proto(error.code) as i32,
        message: error.message.clone(),
        value: error.raw_value.clone().unwrap_or_default(),
    }
}
