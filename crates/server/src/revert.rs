//! RevertImport: undoes an ended import, one of its committed batches at a time, newest first
//! (the store's `changes` module does the work), streaming progress and every record it
//! leaves alone. The job becomes REVERTED.

use dataport_core::{ErrorCode, JobStatus, Locale};
use dataport_proto::{convert, v1, v1::revert_event::Event};
use dataport_store::{AuditEvent, ImportJob, RevertConflict, Store};
use tokio::sync::mpsc::Sender;

use crate::auth::Caller;
use crate::error::{ServiceError, blocking};
use crate::inflight::CallGuard;
use crate::stream::EventStream;

/// Events in flight to a slow client; the revert waits for it beyond that.
const EVENT_QUEUE: usize = 64;

/// Checks the request and starts the revert; its events follow on the stream.
pub async fn start(
    store: Store,
    audit: crate::audit::Audit,
    caller: Caller,
    request: v1::RevertImportRequest,
    call: CallGuard,
) -> Result<EventStream<v1::RevertEvent>, ServiceError> {
    let job_id = request.job_id;
    let job = {
        let (store, caller) = (store.clone(), caller.clone());
        blocking(move || caller.visible_job(job_id, store.get_job(job_id)?)).await?
    };
    if job.status == JobStatus::Running {
        return Err(ServiceError::Domain {
            code: ErrorCode::JobAlreadyRunning,
            message: format!(
                "import job {job_id} is still running; cancel it (dataport jobs cancel {job_id}) or let it end, then revert it"
            ),
        });
    }
    if job.dry_run {
        return Err(ServiceError::invalid(
            "job_id",
            format!("import job {job_id} was a dry run: it wrote nothing, so there is nothing to revert"),
        ));
    }
    let locale = convert::locale_from_proto(request.locale);
    let (tx, rx) = tokio::sync::mpsc::channel(EVENT_QUEUE);
    crate::threads::spawn_long(format!("revert-{job_id}"), move || {
        let _call = call;
        let mut entry = crate::audit::Audit::entry(&caller, AuditEvent::ImportRevert, "RevertImport");
        entry.module = Some(job.module.as_str().to_owned());
        entry.job_id = Some(job_id);
        let outcome = run(&store, &job, &request, locale, &tx);
        entry.detail = match &outcome {
            Ok(report) => report.message.clone(),
            Err(e) => format!("failed: {e}"),
        };
        entry.rows = outcome.as_ref().ok().map(|r| r.deleted + r.restored);
        audit.record(entry);
        let event = match outcome {
            Ok(report) => Ok(v1::RevertEvent {
                event: Some(Event::Completed(report)),
            }),
            Err(e) => {
                tracing::warn!(job = job_id, error = %e, "revert stopped");
                Err(e.into())
            }
        };
        let _ = tx.blocking_send(event);
    });
    Ok(Box::pin(tokio_stream::wrappers::ReceiverStream::new(rx)))
}

/// The client went away: the batches reverted so far stay reverted, and a new call continues.
struct Gone;

fn send(tx: &Sender<Result<v1::RevertEvent, tonic::Status>>, event: Event) -> Result<(), Gone> {
    tx.blocking_send(Ok(v1::RevertEvent { event: Some(event) }))
        .map_err(|_| Gone)
}

fn run(
    store: &Store,
    job: &ImportJob,
    request: &v1::RevertImportRequest,
    locale: Locale,
    tx: &Sender<Result<v1::RevertEvent, tonic::Status>>,
) -> Result<v1::RevertReport, ServiceError> {
    let (force, dry_run) = (request.force, request.dry_run);
    let total = store.revert_remaining(job.id)?;
    let mut report = v1::RevertReport {
        job_id: job.id,
        dry_run,
        ..v1::RevertReport::default()
    };
    if job.status == JobStatus::Reverted && (!force || total == 0) {
        report.already_reverted = true;
        report.status = v1::JobStatus::Reverted as i32;
        report.message = locale.pick(
            format!("导入任务 {} 已撤销过，无需再次撤销", job.id),
            format!("import job {} was reverted already; nothing to do", job.id),
        );
        if total > 0 {
            report.message.push_str(&locale.pick(
                format!("（当时保留的 {total} 条记录可用 --force 撤销）"),
                format!(" ({total} records it left alone can be taken back with --force)"),
            ));
        }
        return Ok(report);
    }
    let mut done = 0u64;
    let mut below = i64::MAX;
    let stopped = |_: Gone| ServiceError::Domain {
        code: ErrorCode::Cancelled,
        message:
            "the client went away; the batches reverted so far stay reverted, and reverting again continues"
                .into(),
    };
    send(tx, Event::Progress(v1::RevertProgress { done, total })).map_err(stopped)?;
    while let Some(step) = store.revert_step(job.id, below, force, dry_run)? {
        below = step.change_id;
        report.deleted += step.deleted;
        report.restored += step.restored;
        report.conflicts += step.conflicts.len() as u64;
        done += step.entries;
        for (code, why) in &step.conflicts {
            let conflict = v1::RevertConflict {
                code: code.clone(),
                reason: reason(why, locale),
                forceable: matches!(why, RevertConflict::ChangedSince { .. }),
            };
            send(tx, Event::Conflict(conflict)).map_err(stopped)?;
        }
        send(tx, Event::Progress(v1::RevertProgress { done, total })).map_err(stopped)?;
    }
    let status = if dry_run {
        job.status
    } else {
        store.mark_reverted(job.id)?;
        JobStatus::Reverted
    };
    report.status = convert::job_status_to_proto(status) as i32;
    let (deleted, restored, conflicts) = (report.deleted, report.restored, report.conflicts);
    let left = match (conflicts, locale) {
        (0, _) => String::new(),
        (n, Locale::ZhCn) => format!("，保留 {n} 条（见冲突）"),
        (n, Locale::En) => format!("; {n} left alone (see the conflicts)"),
    };
    report.message = match (dry_run, locale) {
        (true, Locale::ZhCn) => format!(
            "预演：将删除 {deleted} 条导入新建的记录，恢复 {restored} 条被更新的记录{left}；未做任何修改"
        ),
        (true, Locale::En) => format!(
            "dry run: would delete {deleted} created records and restore {restored} updated ones{left}; nothing was changed"
        ),
        (false, Locale::ZhCn) => format!(
            "已撤销导入任务 {}：删除 {deleted} 条新建记录，恢复 {restored} 条被更新的记录{left}",
            job.id
        ),
        (false, Locale::En) => format!(
            "import job {} reverted: {deleted} created records deleted, {restored} updated records restored{left}",
            job.id
        ),
    };
    tracing::info!(
        job = job.id,
        dry_run,
        force,
        deleted,
        restored,
        conflicts,
        "import reverted"
    );
    Ok(report)
}

/// Why a record was left alone, and what the user can do.
fn reason(conflict: &RevertConflict, locale: Locale) -> String {
    match conflict {
        RevertConflict::ChangedSince { at } => {
            let at = at.format("%Y-%m-%d %H:%M:%S");
            locale.pick(
                format!("导入后已被修改（{at} UTC），未撤销；如仍要撤销（丢弃之后的修改），请加 --force"),
                format!("changed after the import (at {at} UTC), so it was left alone; --force reverts it anyway, losing the later change"),
            )
        }
        RevertConflict::DeletedSince => locale.pick(
            "导入后已被删除，无可恢复".to_owned(),
            "deleted after the import; there is nothing to restore".to_owned(),
        ),
        RevertConflict::Referenced { by, code } => locale.pick(
            format!("仍被{} {code} 引用，客户已保留；如需删除，请先处理引用它的记录", by.label_zh()),
            format!(
                "still referenced by {} {code}, so the customer was kept; revert or delete what references it first",
                match by {
                    dataport_core::Module::Customers => "customer",
                    dataport_core::Module::Contacts => "contact",
                    dataport_core::Module::Opportunities => "opportunity",
                }
            ),
        ),
        RevertConflict::FormerCustomerGone { customer_code } => locale.pick(
            format!("原所属客户 {customer_code} 已不存在，未恢复"),
            format!("its former customer {customer_code} no longer exists, so it was not restored"),
        ),
    }
}
