//! The Import RPC: spec first, then file chunks; events back.
//!
//! [`start`] checks the spec before anything is recorded (module, mode, format, declared size),
//! creates the job (`Accepted`), then runs three things until the job ends:
//! - a task feeding the upload's chunks into a bounded channel ([`upload`]); a stream that breaks
//!   off (client gone) cancels the job;
//! - the pipeline on blocking threads ([`pipeline`]): plugin reader, validation and database
//!   writes, each on its own;
//! - a ticker sending Progress at least every 250 ms ([`events`]).

mod events;
mod pipeline;
mod records;
mod request;
pub mod running;
mod upload;

pub use running::RunningImports;

use std::sync::Arc;
use std::time::Instant;

use dataport_core::{ModuleScope, Permission, limits};
use dataport_proto::v1::{self, import_event::Event, import_request::Message};
use dataport_proto::{convert, v1::ImportRequest};
use dataport_store::{AuditEvent, NewImportJob, Store};
use tokio_stream::StreamExt;
use tokio_stream::wrappers::ReceiverStream;
use tonic::Streaming;

use crate::auth::Caller;
use crate::config::ImportLimits;
use crate::error::ServiceError;
use crate::formats::Formats;
use crate::inflight::CallGuard;
use crate::stream::EventStream;
use events::{Cancel, EVENT_QUEUE, Events, Stop};
use records::{RecordMsg, RecordStream};
use upload::{Upload, UploadMsg};

/// The format name of typed record batches (service-to-service streaming).
pub const RECORDS_FORMAT: &str = "records";

/// What the import handler needs from the service.
#[derive(Clone)]
pub struct ImportContext {
    pub store: Store,
    pub formats: Formats,
    pub limits: ImportLimits,
    /// One permit per running import: a full server refuses before a job exists.
    pub slots: Arc<tokio::sync::Semaphore>,
    /// The jobs this process runs (CancelImport, shutdown, lease keeper).
    pub running: RunningImports,
    /// The response stream counts as in flight until the client has its last event.
    pub inflight: crate::inflight::InFlight,
    pub audit: crate::audit::Audit,
}

/// The permission Import needs.
pub const PERMISSION: Permission = Permission::Import;

/// Starts an import and returns its event stream.
pub async fn start(
    ctx: ImportContext,
    caller: Caller,
    mut inbound: Streaming<ImportRequest>,
    call: CallGuard,
) -> Result<EventStream<v1::ImportEvent>, ServiceError> {
    if let Some(reason) = ctx.running.closed() {
        return Err(ServiceError::Domain {
            code: dataport_core::ErrorCode::Unavailable,
            message: reason,
        });
    }
    let first = inbound
        .message()
        .await
        .map_err(|s| {
            ServiceError::invalid("spec", format!("cannot read the import request: {}", s.message()))
        })?
        .ok_or_else(|| {
            ServiceError::invalid("spec", "the import stream is empty: send an ImportSpec first")
        })?;
    let Some(Message::Spec(mut spec)) = first.message else {
        return Err(ServiceError::invalid(
            "spec",
            "the first message of an import must be an ImportSpec (module, format, mode...), then the file's chunks",
        ));
    };
    let scope = convert::module_scope_from_proto(spec.module).map_err(|e| e.within("spec"))?;
    // The format is chosen (and its options checked) for the first module; a workbook's reader
    // is given its sheet by the pipeline.
    let module = scope.modules()[0];
    let mode = convert::import_mode_from_proto(spec.mode).map_err(|e| e.within("spec"))?;
    let on_error = convert::on_error_from_proto(spec.on_error).map_err(|e| e.within("spec"))?;
    let blank_cells = convert::blank_cells_from_proto(spec.blank_cells).map_err(|e| e.within("spec"))?;
    let locale = convert::locale_from_proto(spec.locale);
    let defaults = match scope {
        ModuleScope::One(module) => checked_defaults(module, &spec.defaults, locale)?,
        ModuleScope::Workbook if !spec.defaults.is_empty() => {
            return Err(ServiceError::invalid(
                "spec.defaults",
                "defaults fill a field of one module, so a workbook of all modules (MODULE_ALL) takes none: fill the cells, or import its sheets one module at a time",
            ));
        }
        ModuleScope::Workbook => Vec::new(),
    };
    // Bounded input (dataport_core::limits): only the name's last path component is kept.
    spec.file_name = limits::file_name("spec.file_name", &spec.file_name)?;
    limits::options(
        "spec.options",
        spec.options.iter().map(|o| (o.key.as_str(), o.value.as_str())),
    )?;
    limits::sha256_hex("spec.sha256", &spec.sha256)?;
    if spec.size > ctx.limits.max_upload_bytes {
        return Err(ServiceError::Domain {
            code: dataport_core::ErrorCode::FileTooLarge,
            message: format!(
                "the file is {} bytes, more than the upload limit of {} bytes (server setting --max-upload-bytes)",
                spec.size, ctx.limits.max_upload_bytes
            ),
        });
    }
    let records = spec.format.trim().eq_ignore_ascii_case(RECORDS_FORMAT);
    if scope.is_workbook() && records {
        return Err(ServiceError::invalid(
            "spec.format",
            "MODULE_ALL imports an xlsx workbook with a sheet per module; a `records` stream carries one module",
        ));
    }
    let (chosen, options) = if records {
        (None, dataport_plugin_sdk::Options::new())
    } else {
        let chosen = ctx.formats.reader(&spec.format, &spec.file_name, module)?;
        let options = chosen.options(
            module,
            locale,
            spec.options.iter().map(|o| (o.key.clone(), o.value.clone())),
        )?;
        if scope.is_workbook() {
            check_workbook_reader(&chosen, &spec.options)?;
        }
        (Some(chosen), options)
    };
    let format = chosen
        .as_ref()
        .map(|c| c.format.clone())
        .unwrap_or_else(|| RECORDS_FORMAT.to_owned());

    let job_request = request::from_spec(
        &spec.request_id,
        &request::Parameters {
            module: scope,
            format: &format,
            mode,
            on_error,
            dry_run: spec.dry_run,
            options: &spec.options,
            sha256: &spec.sha256,
            blank_cells,
            defaults: &defaults,
        },
    )?;
    let prior = match &job_request {
        Some(r) => request::prior_job(&ctx.store, r, ctx.limits.request_id_retention).await?,
        None => None,
    };
    if let Some(request::Prior::Ended(job)) = &prior {
        return Ok(request::replay(job, call));
    }
    let slot = ctx.slots.clone().try_acquire_owned().map_err(|_| ServiceError::Domain {
        code: dataport_core::ErrorCode::TooManyImports,
        message: format!(
            "the server already runs {} imports, as many as it allows (server setting --max-concurrent-imports); no job was created, try again shortly",
            ctx.limits.max_concurrent
        ),
    })?;
    let (mut job, resume) = match prior {
        Some(request::Prior::Interrupted(interrupted)) => {
            let mut job = request::resume(&ctx.store, &interrupted).await?;
            let resume = pipeline::Resume {
                after_row: job.watermark,
                counts: job.counts,
                modules: job.modules.clone(),
            };
            // The upload may start at the checkpoint only if the client can, and the
            // file it declares reaches that far.
            let reaches = spec.size == 0 || job.resume_point.as_ref().is_some_and(|p| p.offset <= spec.size);
            if !(spec.accepts_resume_offset && chosen.is_some() && reaches) {
                job.resume_point = None;
            }
            (job, Some(resume))
        }
        _ => {
            let new_job = NewImportJob {
                module: scope,
                format: format.clone(),
                mode,
                on_error,
                dry_run: spec.dry_run,
                file_name: spec.file_name.clone(),
                declared_size: (spec.size > 0).then(|| i64::try_from(spec.size).unwrap_or(i64::MAX)),
                token_name: caller.token_name.clone(),
                request: job_request,
            };
            (request::create(&ctx.store, new_job).await?, None)
        }
    };
    tracing::info!(job = job.id, module = %scope, format = %format, mode = %mode, dry_run = spec.dry_run, token = %caller.token_name, file = %spec.file_name, attempt = job.attempts, resume_after_row = resume.as_ref().map(|r| r.after_row), resume_offset = job.resume_point.as_ref().map(|p| p.offset), "import started");

    let mut audit = crate::audit::Audit::entry(&caller, AuditEvent::ImportStart, "Import");
    audit.module = Some(scope.as_str().to_owned());
    audit.job_id = Some(job.id);
    audit.bytes = (spec.size > 0).then_some(spec.size);
    audit.detail = format!(
        "{format} file '{}', mode {mode}, on error {on_error}{}, attempt {}",
        spec.file_name,
        if spec.dry_run { ", dry run" } else { "" },
        job.attempts
    );
    ctx.audit.record(audit.clone());

    let (tx, rx) = tokio::sync::mpsc::channel(EVENT_QUEUE);
    let cancel = Arc::new(Cancel::default());
    let registration = ctx.running.register(job.id, cancel.clone());
    let resume_from = job.resume_point.take();
    let resume_offset = resume_from.as_ref().map_or(0, |p| p.offset);
    let (input, bytes) = match chosen {
        Some(chosen) => {
            let declared = upload::Declared {
                size: (spec.size > 0).then_some(spec.size),
                sha256: (!spec.sha256.is_empty()).then(|| spec.sha256.trim().to_ascii_lowercase()),
                start: resume_offset,
            };
            let (upload, chunks) = Upload::new(ctx.limits.max_upload_bytes, declared);
            let bytes = upload.bytes_counter();
            tokio::spawn(feed(
                inbound,
                chunks,
                cancel.clone(),
                UPLOAD_FEED,
                ctx.limits.idle_timeout,
            ));
            (pipeline::Input::File { chosen, upload }, bytes)
        }
        None => {
            let (stream, batches) = RecordStream::new(module);
            let bytes = stream.bytes_counter();
            tokio::spawn(feed(
                inbound,
                batches,
                cancel.clone(),
                RECORDS_FEED,
                ctx.limits.idle_timeout,
            ));
            (pipeline::Input::Records(stream), bytes)
        }
    };
    let received = bytes.clone();
    let events = Events::new(tx, cancel.clone(), bytes, Instant::now());
    let progress_queued = events.progress_flag();
    if let Some(resume) = &resume {
        events.counters().start_at(&resume.counts);
    }
    // Cannot fail: the receiver is right here.
    let _ = events
        .clone_sender()
        .send(Ok(v1::ImportEvent {
            event: Some(Event::Accepted(v1::Accepted {
                job_id: job.id,
                resumed: resume.is_some(),
                resume_after_row: resume.as_ref().map_or(0, |r| scope.sheet_row(r.after_row).1),
                resume_offset,
            })),
        }))
        .await;

    events.spawn_ticker();
    let pipeline_job = pipeline::Job {
        id: job.id,
        scope,
        mode,
        on_error,
        dry_run: spec.dry_run,
        locale,
        blank_cells,
        defaults,
        options,
        format,
        limits: ctx.limits,
        store: ctx.store.clone(),
        resume,
        resume_from,
    };
    let (store, audit_log) = (ctx.store.clone(), ctx.audit.clone());
    crate::threads::spawn_long(format!("import-{}", pipeline_job.id), move || {
        // The call counts as in flight, and holds its import slot, until its job has ended.
        let _held = (call, slot, registration, crate::metrics::InFlight::import());
        let job_id = pipeline_job.id;
        pipeline::run(pipeline_job, events, input);
        audit.bytes = Some(received.load(std::sync::atomic::Ordering::Relaxed));
        audit_log.record(ended(audit, store.get_job(job_id)));
    });
    // ... and the call also lasts until its stream is drained: shutdown waits for the client to
    // have its Completed, not just for the job to end.
    let delivering = ctx.inflight.enter();
    Ok(Box::pin(ReceiverStream::new(rx).map(move |event| {
        let _ = &delivering;
        Events::taken(&progress_queued, &event);
        event
    })))
}

/// A workbook import needs a reader that finds a sheet by any of its names (the xlsx plugin's
/// `sheet_any`), and chooses the sheets itself.
fn check_workbook_reader(
    chosen: &crate::formats::Chosen,
    options: &[v1::FormatOption],
) -> Result<(), ServiceError> {
    use dataport_plugin_sdk::Plugin as _;
    let descriptor = chosen.plugin.descriptor();
    if !descriptor.options.iter().any(|o| o.name == "sheet_any") {
        return Err(ServiceError::invalid(
            "spec.format",
            format!(
                "MODULE_ALL imports an xlsx workbook with a sheet per module (客户 / 联系人 / 商机); the {} plugin reads `{}`, one table: use format xlsx",
                descriptor.name, chosen.format
            ),
        ));
    }
    if let Some(o) = options
        .iter()
        .find(|o| o.key.eq_ignore_ascii_case("sheet") || o.key.eq_ignore_ascii_case("sheet_any"))
    {
        return Err(ServiceError::invalid(
            "spec.options",
            format!(
                "options: a workbook import (MODULE_ALL) chooses its sheets itself (客户, 联系人 and 商机, or Customers, Contacts, Opportunities), so it takes no `{}`; to import one sheet, name its module instead",
                o.key
            ),
        ));
    }
    Ok(())
}

/// The spec's per-job defaults by field key, sorted, each checked against its field's rules;
/// INVALID_ARGUMENT naming `spec.defaults` otherwise.
fn checked_defaults(
    module: dataport_core::Module,
    defaults: &std::collections::HashMap<String, String>,
    locale: dataport_core::Locale,
) -> Result<Vec<(&'static str, String)>, ServiceError> {
    if defaults.len() > limits::MAX_OPTIONS {
        return Err(ServiceError::invalid(
            "spec.defaults",
            format!("at most {} defaults, not {}", limits::MAX_OPTIONS, defaults.len()),
        ));
    }
    let mut checked = Vec::with_capacity(defaults.len());
    for (field, value) in defaults {
        let def = dataport_core::validate::check_default(module, field, value, locale).map_err(|bad| {
            ServiceError::invalid("spec.defaults", format!("default {}: {}", bad.field, bad.message))
        })?;
        if checked.iter().any(|(key, _)| *key == def.key) {
            return Err(ServiceError::invalid(
                "spec.defaults",
                format!("two defaults for the field {} ({field} is one of them)", def.key),
            ));
        }
        checked.push((def.key, value.trim().to_owned()));
    }
    checked.sort_unstable();
    Ok(checked)
}

/// The `import.end` audit entry of a job, from its `import.start` entry and its stored end.
/// `rows` counts what the job imported (cumulative over its attempts; none for a dry run).
fn ended(
    mut entry: dataport_store::NewAuditEntry,
    job: Result<Option<dataport_store::ImportJob>, dataport_store::StoreError>,
) -> dataport_store::NewAuditEntry {
    entry.event = AuditEvent::ImportEnd;
    entry.detail = match job {
        Ok(Some(job)) => {
            let c = job.counts;
            entry.rows = (!job.dry_run).then_some(c.created + c.updated);
            format!(
                "{}{}: {} created, {} updated, {} skipped, {} failed{}",
                job.status,
                if job.dry_run { " (dry run)" } else { "" },
                c.created,
                c.updated,
                c.skipped,
                c.failed,
                job.error_message.map(|m| format!("; {m}")).unwrap_or_default()
            )
        }
        Ok(None) => "ended (the job record is gone)".to_owned(),
        Err(e) => format!("ended (its record could not be read: {e})"),
    };
    entry
}

/// What one kind of import accepts from the client after its ImportSpec: file uploads and
/// `records` imports run the same [`feed`] loop and differ only here.
struct FeedRules<M> {
    /// The message to pass on to the pipeline, or what the unexpected message was.
    accept: fn(Message) -> Result<M, &'static str>,
    /// The message that fails the pipeline's reader.
    failed: fn(String) -> M,
    /// Follows "unexpected …": what the client should send instead.
    expected: &'static str,
    /// What the client was doing, for "went away during the …".
    activity: &'static str,
}

const UPLOAD_FEED: FeedRules<UploadMsg> = FeedRules {
    accept: |message| match message {
        Message::Chunk(bytes) => Ok(UploadMsg::Chunk(bytes)),
        Message::Spec(_) => Err("a second ImportSpec"),
        Message::Records(_) => Err("record batches in a file upload"),
    },
    failed: UploadMsg::Failed,
    expected: " after the ImportSpec; send only file chunks",
    activity: "upload",
};

const RECORDS_FEED: FeedRules<RecordMsg> = FeedRules {
    accept: |message| match message {
        Message::Records(batch) => Ok(RecordMsg::Batch(batch)),
        Message::Spec(_) => Err("a second ImportSpec"),
        Message::Chunk(_) => Err("file chunks in a `records` import"),
    },
    failed: RecordMsg::Failed,
    expected: "; a `records` import sends only RecordBatch messages",
    activity: "import",
};

/// Moves the client's messages from the gRPC stream into the pipeline's channel. A protocol
/// error or a dropped client cancels the job and fails the pipeline's reader with the reason.
async fn feed<M: Send + 'static>(
    mut inbound: Streaming<ImportRequest>,
    pipeline: tokio::sync::mpsc::Sender<M>,
    cancel: Arc<Cancel>,
    rules: FeedRules<M>,
    idle: std::time::Duration,
) {
    let why = loop {
        // A client that sends nothing for `idle` is gone as far as this job is concerned.
        let next = tokio::select! {
            next = tokio::time::timeout(idle, inbound.message()) => next,
            // Stopped by someone else (CancelImport, shutdown, a lost lease): unblock the
            // reader now rather than at the client's next chunk.
            () = cancel.stopped() => {
                let why = match cancel.stop() {
                    Some(Stop::Interrupted(why) | Stop::Protocol(_, why) | Stop::Cancelled(why)) => why,
                    None => "the job was stopped".to_owned(),
                };
                let _ = pipeline.send((rules.failed)(why)).await;
                return;
            }
        };
        let Ok(next) = next else {
            break format!(
                "no data for {} s (server setting --import-idle-timeout-secs)",
                idle.as_secs()
            );
        };
        match next {
            Ok(Some(ImportRequest {
                message: Some(message),
            })) => match (rules.accept)(message) {
                Ok(item) => {
                    if pipeline.send(item).await.is_err() {
                        // The reader is done (finished early or failed); the rest is not needed.
                        return;
                    }
                }
                Err(what) => {
                    let why = format!("unexpected {what}{}", rules.expected);
                    cancel.refuse(dataport_core::ErrorCode::InvalidArgument, why.clone());
                    let _ = pipeline.send((rules.failed)(why)).await;
                    return;
                }
            },
            Ok(Some(ImportRequest { message: None })) => {}
            // The client closed its side: the input is complete.
            Ok(None) => return,
            // tonic refuses a message over --max-message-bytes while decoding it.
            Err(status) if status.code() == tonic::Code::OutOfRange => {
                let why = format!(
                    "a message over the server's limit ({}; server setting --max-message-bytes): send the file in chunks of at most 1 MiB",
                    status.message()
                );
                cancel.refuse(dataport_core::ErrorCode::FileTooLarge, why.clone());
                let _ = pipeline.send((rules.failed)(why)).await;
                return;
            }
            Err(status) => {
                break format!(
                    "the client went away during the {} ({})",
                    rules.activity,
                    status.message()
                );
            }
        }
    };
    cancel.interrupt(why.clone());
    let _ = pipeline.send((rules.failed)(why)).await;
}
