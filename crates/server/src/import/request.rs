//! Idempotent imports (`ImportSpec.request_id`): what a key already names, and what a new
//! stream with it does: start a job, resume an INTERRUPTED one, replay an ended one's report,
//! or be refused (running, or the key reused with other parameters).

use std::time::Duration;

use dataport_core::ErrorCode;
use dataport_proto::v1::{self, import_event::Event};
use dataport_store::{ImportJob, JobRequest, Store, StoreError};
use sha2::{Digest, Sha256};

use crate::error::{ServiceError, blocking};
use crate::inflight::CallGuard;
use crate::report::job_to_proto;
use crate::stream::EventStream;

/// Longest `request_id` accepted (see [`dataport_core::limits`]).
pub const MAX_REQUEST_ID_CHARS: usize = dataport_core::limits::MAX_REQUEST_ID_CHARS;

/// The parameters a key is bound to.
pub struct Parameters<'a> {
    pub module: dataport_core::ModuleScope,
    pub format: &'a str,
    pub mode: dataport_core::ImportMode,
    pub on_error: dataport_core::OnError,
    pub dry_run: bool,
    pub options: &'a [v1::FormatOption],
    /// As declared in the spec (empty when not declared).
    pub sha256: &'a str,
    pub blank_cells: dataport_core::BlankCells,
    /// Field key → value.
    pub defaults: &'a [(&'static str, String)],
}

/// The spec's key with its parameters' fingerprint; `None` without a key.
pub fn from_spec(request_id: &str, parameters: &Parameters<'_>) -> Result<Option<JobRequest>, ServiceError> {
    let id = request_id.trim();
    if id.is_empty() {
        return Ok(None);
    }
    if id.chars().count() > MAX_REQUEST_ID_CHARS || id.chars().any(char::is_control) {
        return Err(ServiceError::invalid(
            "spec.request_id",
            format!("request_id must be at most {MAX_REQUEST_ID_CHARS} printable characters"),
        ));
    }
    let mut options: Vec<(&str, &str)> = parameters
        .options
        .iter()
        .map(|o| (o.key.as_str(), o.value.as_str()))
        .collect();
    // Defaults and the blank-cells policy change what is written, like options do.
    let blank_cells = format!("\u{1}blank_cells={}", parameters.blank_cells);
    options.push((&blank_cells, ""));
    let defaults: Vec<String> = parameters
        .defaults
        .iter()
        .map(|(key, _)| format!("\u{1}default:{key}"))
        .collect();
    for ((_, value), key) in parameters.defaults.iter().zip(&defaults) {
        options.push((key, value));
    }
    options.sort_unstable();
    let mut hasher = Sha256::new();
    for part in [
        parameters.module.as_str(),
        parameters.format,
        parameters.mode.as_str(),
        parameters.on_error.as_str(),
        if parameters.dry_run { "dry-run" } else { "write" },
        &parameters.sha256.trim().to_ascii_lowercase(),
    ] {
        hasher.update(part.as_bytes());
        hasher.update([0]);
    }
    for (key, value) in options {
        hasher.update(key.as_bytes());
        hasher.update([1]);
        hasher.update(value.as_bytes());
        hasher.update([0]);
    }
    Ok(Some(JobRequest {
        id: id.to_owned(),
        fingerprint: hex::encode(hasher.finalize()),
    }))
}

/// What a key already names.
pub enum Prior {
    /// An INTERRUPTED job: this stream resumes it.
    Interrupted(ImportJob),
    /// A job that ended otherwise: its report is the answer.
    Ended(ImportJob),
}

/// Looks the key up. A running job or a key reused with other parameters is refused; a key
/// older than `retention`, or of a job since reverted, is freed and names nothing.
pub async fn prior_job(
    store: &Store,
    request: &JobRequest,
    retention: Duration,
) -> Result<Option<Prior>, ServiceError> {
    let store = store.clone();
    let request = request.clone();
    blocking(move || {
        let Some(job) = store.find_job_by_request(&request.id)? else {
            return Ok(None);
        };
        let age = chrono::Utc::now().signed_duration_since(job.started_at);
        // A reverted job's effects are gone: the same import again is a new job.
        if age.to_std().is_ok_and(|age| age > retention) || job.status == dataport_core::JobStatus::Reverted {
            store.forget_request(job.id)?;
            return Ok(None);
        }
        if job.request.as_ref().map(|r| r.fingerprint.as_str()) != Some(request.fingerprint.as_str()) {
            return Err(ServiceError::Domain {
                code: ErrorCode::RequestIdReused,
                message: format!(
                    "request_id '{}' belongs to import job {}, started with other parameters (module, format, mode, options or file); use a new request_id for a different import",
                    request.id, job.id
                ),
            });
        }
        match job.status {
            dataport_core::JobStatus::Running => Err(already_running(&request.id, job.id)),
            dataport_core::JobStatus::Interrupted => Ok(Some(Prior::Interrupted(job))),
            _ => Ok(Some(Prior::Ended(job))),
        }
    })
    .await
}

fn already_running(request_id: &str, job_id: i64) -> ServiceError {
    ServiceError::Domain {
        code: ErrorCode::JobAlreadyRunning,
        message: format!(
            "import job {job_id} with request_id '{request_id}' is running now; follow it with WatchImport (`dataport jobs watch {job_id}`) instead of starting it again"
        ),
    }
}

/// Claims an INTERRUPTED job for this stream; refused if another stream claimed it first.
pub async fn resume(store: &Store, job: &ImportJob) -> Result<ImportJob, ServiceError> {
    let (store, id) = (store.clone(), job.id);
    let request_id = job.request.as_ref().map(|r| r.id.clone()).unwrap_or_default();
    // Only skip-row imports commit as they go; the others start again from the first row.
    let restart = job.dry_run || job.on_error == dataport_core::OnError::AllOrNothing;
    blocking(move || {
        store
            .resume_job(id, restart)?
            .ok_or_else(|| already_running(&request_id, id))
    })
    .await
}

/// Creates the job; a key taken meanwhile by a concurrent stream is refused as running.
pub async fn create(store: &Store, job: dataport_store::NewImportJob) -> Result<ImportJob, ServiceError> {
    let store = store.clone();
    blocking(move || match store.create_job(&job) {
        Err(StoreError::UniqueViolation { .. }) if job.request.is_some() => {
            let request_id = job.request.as_ref().map(|r| r.id.as_str()).unwrap_or_default();
            let id = store
                .find_job_by_request(request_id)?
                .map(|j| j.id)
                .unwrap_or_default();
            Err(already_running(request_id, id))
        }
        created => Ok(created?),
    })
    .await
}

/// The answer to a key whose job has ended: Accepted and Completed with its report, at once.
pub fn replay(job: &ImportJob, call: CallGuard) -> EventStream<v1::ImportEvent> {
    let events = [
        Event::Accepted(v1::Accepted {
            job_id: job.id,
            ..v1::Accepted::default()
        }),
        Event::Completed(v1::Completed {
            report: Some(job_to_proto(job)),
            ..v1::Completed::default()
        }),
    ];
    tracing::info!(job = job.id, status = %job.status, "import request replayed: the job has ended");
    Box::pin(tokio_stream::iter(events.into_iter().map(move |event| {
        let _ = &call;
        Ok(v1::ImportEvent { event: Some(event) })
    })))
}

#[cfg(test)]
mod tests {
    use super::*;
    use dataport_core::{ImportMode, Module, OnError};

    fn parameters<'a>(options: &'a [v1::FormatOption], sha256: &'a str) -> Parameters<'a> {
        Parameters {
            module: dataport_core::ModuleScope::One(Module::Customers),
            format: "csv",
            mode: ImportMode::Insert,
            on_error: OnError::SkipRow,
            dry_run: false,
            options,
            sha256,
            blank_cells: dataport_core::BlankCells::Keep,
            defaults: &[],
        }
    }

    #[test]
    fn the_fingerprint_covers_every_parameter_but_not_option_order() {
        let option = |k: &str, v: &str| v1::FormatOption {
            key: k.into(),
            value: v.into(),
        };
        let ab = [option("a", "1"), option("b", "2")];
        let ba = [option("b", "2"), option("a", "1")];
        let fp = |p: Parameters<'_>| from_spec("key", &p).unwrap().unwrap().fingerprint;
        assert_eq!(fp(parameters(&ab, "AB")), fp(parameters(&ba, "ab")));
        assert_ne!(fp(parameters(&ab, "ab")), fp(parameters(&ab, "cd")));
        assert_ne!(
            fp(parameters(&ab, "")),
            fp(Parameters {
                dry_run: true,
                ..parameters(&ab, "")
            })
        );
        assert_ne!(
            fp(parameters(&ab, "")),
            fp(Parameters {
                mode: ImportMode::Upsert,
                ..parameters(&ab, "")
            })
        );
        assert_ne!(
            fp(parameters(&[option("a", "12")], "")),
            fp(parameters(&[option("a1", "2")], ""))
        );

        let owner = [("owner", "张伟".to_owned())];
        assert_ne!(
            fp(parameters(&[], "")),
            fp(Parameters {
                defaults: &owner,
                ..parameters(&[], "")
            })
        );
        assert_ne!(
            fp(parameters(&[], "")),
            fp(Parameters {
                blank_cells: dataport_core::BlankCells::Clear,
                ..parameters(&[], "")
            })
        );

        assert!(from_spec("  ", &parameters(&[], "")).unwrap().is_none());
        assert!(
            from_spec(&"k".repeat(128), &parameters(&[], ""))
                .unwrap()
                .is_some()
        );
        assert!(from_spec(&"k".repeat(129), &parameters(&[], "")).is_err());
        assert!(from_spec("a\nb", &parameters(&[], "")).is_err());
    }
}
