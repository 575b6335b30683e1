//! Files going out: Export (filtered records), GetTemplate (import templates) and GetErrorFile
//! (the failed rows of an import, to fix and import again).
//!
//! All three run a plugin [`Writer`] on a blocking thread that writes into a [`ChunkSink`]; the
//! sink cuts the bytes into ~256 KiB chunks that go to the client through a bounded channel, so
//! memory stays constant whatever the size, and a client that goes away stops the writer (and,
//! for exports, the keyset-paginated query feeding it) at its next chunk.
//!
//! An export reads one [`Snapshot`]: the count it announces (共N条) and every page come from one
//! read transaction, so rows committed while a slow client downloads are not in the file, and
//! `Completed.rows` equals `Started.total_rows` (checked before `Completed` is sent). The
//! snapshot holds one connection of the store's export pool until its last page is read.
//!
//! On PostgreSQL, a csv export through the bundled csv plugin reads the snapshot with one
//! `COPY` instead of pages, rewritten into the plugin's bytes ([`copy_csv`]).

mod copy_csv;
mod layout;
mod sink;

use std::time::Instant;

use chrono::Local;
use dataport_core::{Filter, Locale, Module, ModuleScope, template, workbook};
use dataport_plugin_sdk::{Cell, Column, Options, Plugin, PluginError, RowBatch, Writer};
use dataport_proto::{convert, v1};
use dataport_store::{AuditEvent, Snapshot, Store};
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tonic::Status;

use crate::audit::{Audit, Pending};
use crate::auth::Caller;
use crate::error::{ServiceError, blocking};
use crate::formats::{Chosen, Formats, content_type};
use crate::inflight::CallGuard;
use crate::stream::EventStream;
pub use layout::Layout;
use sink::{ChunkSink, SendChunk};

/// Records read per keyset page, for a lone export (`budget` shares it out among many).
const PAGE_ROWS: usize = 5_000;
/// Pages the query may read ahead of the writer: one keeps the two overlapping; each more is
/// another page of cells in memory per export.
const PAGES_AHEAD: usize = 1;
/// Events buffered towards the client: at most this many chunks in memory per download
/// (256 KiB each; eight exports at once hold eight queues).
const EVENT_QUEUE: usize = 4;
/// The default format of downloads.
pub const DEFAULT_FORMAT: &str = "xlsx";

/// What the file handlers need from the service.
#[derive(Clone)]
pub struct ExportContext {
    pub store: Store,
    pub formats: Formats,
    pub audit: Audit,
}

/// A writer's failure. Refused options are the caller's to fix (INVALID_ARGUMENT), as they are
/// on import; the rest is the plugin's (PLUGIN_ERROR).
fn plugin_error(chosen: &Chosen, e: PluginError) -> ServiceError {
    let name = &chosen.plugin.descriptor().name;
    if e.kind == dataport_plugin_sdk::ErrorKind::InvalidOption {
        return ServiceError::invalid(
            "options",
            format!("the {name} plugin refused its options: {}", e.message),
        );
    }
    ServiceError::Domain {
        code: dataport_core::ErrorCode::PluginError,
        message: format!("the {name} plugin failed writing {}: {}", chosen.format, e),
    }
}

/// Options for a writer: the caller's, `module` for layout plugins, and the first sheet's name
/// where a generic plugin has sheets.
fn writer_options(
    chosen: &Chosen,
    module: Module,
    locale: Locale,
    requested: &[v1::FormatOption],
    sheet: &str,
) -> Result<Options, ServiceError> {
    let caller_names_sheet = requested.iter().any(|o| o.key.eq_ignore_ascii_case("sheet"));
    let mut pairs: Vec<(String, String)> = Vec::new();
    if chosen.plugin.descriptor().capabilities.sheets && !caller_names_sheet && !chosen.is_layout() {
        pairs.push(("sheet".into(), sheet.into()));
    }
    pairs.extend(requested.iter().map(|o| (o.key.clone(), o.value.clone())));
    chosen.options(module, locale, pairs)
}

/// Runs `body` with a writer of `chosen` whose output goes out through `send`; finishes the
/// file and returns its size and sha256.
fn write_file(
    chosen: &Chosen,
    options: &Options,
    send: SendChunk,
    body: impl FnOnce(&mut dyn Writer) -> Result<(), ServiceError>,
) -> Result<(u64, String), ServiceError> {
    write_file_then(chosen, options, send, body, |_| Ok(()))
}

/// [`write_file`], and then `rest` writes bytes of its own after the writer's (the copy path
/// of PostgreSQL csv exports, whose rows bypass the plugin).
fn write_file_then(
    chosen: &Chosen,
    options: &Options,
    send: SendChunk,
    body: impl FnOnce(&mut dyn Writer) -> Result<(), ServiceError>,
    rest: impl FnOnce(&mut ChunkSink) -> Result<(), ServiceError>,
) -> Result<(u64, String), ServiceError> {
    let mut sink = ChunkSink::new(send);
    let gone = |sink: &ChunkSink, e: ServiceError| {
        if sink.client_gone() {
            ServiceError::Cancelled("the client closed the download".into())
        } else {
            e
        }
    };
    let mut writer = chosen
        .plugin
        .open_writer(&chosen.format, options, Box::new(sink.clone()))
        .map_err(|e| plugin_error(chosen, e))?;
    body(&mut *writer).map_err(|e| gone(&sink, e))?;
    writer
        .finish()
        .map_err(|e| gone(&sink, plugin_error(chosen, e)))?;
    // Releasing the writer lets it drop its handle on the sink.
    drop(writer);
    rest(&mut sink).map_err(|e| gone(&sink, e))?;
    sink.finish()
        .map_err(|_| ServiceError::Cancelled("the client closed the download".into()))
}

/// A `yyyymmdd_hhmmss` stamp for file names, in the server's local time.
fn stamp() -> String {
    Local::now().format("%Y%m%d_%H%M%S").to_string()
}

// ---------------------------------------------------------------------------------------------
// Export
// ---------------------------------------------------------------------------------------------

/// The permission Export needs.
pub const EXPORT_PERMISSION: dataport_core::Permission = dataport_core::Permission::Export;

/// Checks an export request and starts streaming it.
pub fn start_export(
    ctx: ExportContext,
    caller: &Caller,
    request: v1::ExportRequest,
    call: CallGuard,
) -> Result<EventStream<v1::ExportEvent>, ServiceError> {
    let module = convert::module_from_proto(request.module)?;
    let scope = v1::ExportScope::try_from(request.scope).unwrap_or(v1::ExportScope::Unspecified);
    let mut audit = Pending::new(&ctx.audit, caller, AuditEvent::Export, "Export");
    audit.entry.module = Some(module.as_str().to_owned());
    audit.entry.filter = Some(audited_filter(&request));
    let filter = if scope == v1::ExportScope::All {
        Filter::all(module)
    } else {
        convert::filter_from_proto(module, request.filter.as_ref())?
    };
    let locale = convert::locale_from_proto(request.locale);
    let after_code = after_code(module, request.after_code)?;
    // Bounded input (dataport_core::limits): only the name's last path component is kept.
    let requested_name = dataport_core::limits::file_name("file_name", &request.file_name)?;
    dataport_core::limits::options(
        "options",
        request.options.iter().map(|o| (o.key.as_str(), o.value.as_str())),
    )?;
    if request
        .format
        .trim()
        .eq_ignore_ascii_case(crate::import::RECORDS_FORMAT)
    {
        let mut layout = Layout::for_export(module, &request.fields, locale)?;
        if request.fields.is_empty() {
            layout = Layout::all(module, locale);
        }
        return Ok(start_records_export(
            ctx.store.clone(),
            filter,
            after_code,
            layout,
            call,
            audit,
        ));
    }
    let chosen = ctx.formats.writer(&request.format, DEFAULT_FORMAT, module)?;
    let mut layout = Layout::for_export(module, &request.fields, locale)?;
    if chosen.is_layout() {
        layout = layout.for_layout_plugin(!request.fields.is_empty());
    }
    let file_name = if requested_name.is_empty() {
        format!(
            "{}_{}.{}",
            module.export_file_stem(),
            stamp(),
            ctx.formats.extension(&chosen.format)
        )
    } else {
        requested_name
    };
    let options = writer_options(&chosen, module, locale, &request.options, module.label_zh())?;
    let request_options = request.options;
    audit.entry.detail = format!("{} file {file_name}", chosen.format);
    let (tx, rx) = mpsc::channel::<Result<v1::ExportEvent, Status>>(EVENT_QUEUE);
    let store = ctx.store.clone();
    crate::threads::spawn_long(format!("export-{module}"), move || {
        let _call = call;
        let _counted = crate::metrics::InFlight::export();
        let started = Instant::now();
        let send = |event: v1::export_event::Event| {
            tx.blocking_send(Ok(v1::ExportEvent { event: Some(event) }))
                .is_ok()
        };
        let result = (|| -> Result<(u64, u64, String), ServiceError> {
            let snapshot = store.export_snapshot(&filter, after_code.as_deref())?;
            let total = snapshot.total();
            if !send(v1::export_event::Event::Started(v1::ExportStarted {
                total_rows: total,
                file_name: file_name.clone(),
                content_type: content_type(&chosen.format).to_owned(),
            })) {
                return Err(ServiceError::Cancelled("the client closed the export".into()));
            }
            let chunk_tx = tx.clone();
            let send_chunk: SendChunk = Box::new(move |bytes| {
                chunk_tx
                    .blocking_send(Ok(v1::ExportEvent {
                        event: Some(v1::export_event::Event::Chunk(bytes)),
                    }))
                    .is_ok()
            });
            let keys: Vec<&str> = layout.fields.iter().map(|f| f.key).collect();
            let copy = copy_csv::serves(&chosen, &request_options)
                .then(|| snapshot.csv_copy(&keys))
                .flatten();
            if let Some(copy) = copy {
                return export_copied(&chosen, &options, send_chunk, &layout, snapshot, copy, &send);
            }
            let mut rows = 0u64;
            let (bytes, sha256) = write_file(&chosen, &options, send_chunk, |writer| {
                writer
                    .write_header(&layout.columns(false))
                    .map_err(|e| plugin_error(&chosen, e))?;
                // The query (and the records' conversion to cells) runs on its own thread, a
                // page ahead of the writer, so reading the database and writing the file overlap.
                std::thread::scope(|scope| {
                    let (pages_tx, pages_rx) = std::sync::mpsc::sync_channel::<(u64, RowBatch)>(PAGES_AHEAD);
                    let layout = &layout;
                    // The snapshot moves to the query thread and ends with it.
                    let mut snapshot = snapshot;
                    let query = scope.spawn(move || -> Result<(), ServiceError> {
                        loop {
                            let page = snapshot.next_page(crate::budget::export_page_rows(PAGE_ROWS))?;
                            if page.is_empty() {
                                return Ok(());
                            }
                            let count = page.len() as u64;
                            if pages_tx.send((count, layout.into_cells(page))).is_err() {
                                // The writer stopped; its error is the one to report.
                                return Ok(());
                            }
                        }
                    });
                    let written = (|| -> Result<(), ServiceError> {
                        for (count, cells) in pages_rx {
                            writer.write_rows(&cells).map_err(|e| plugin_error(&chosen, e))?;
                            rows += count;
                            if !send(v1::export_event::Event::Progress(v1::ExportProgress {
                                rows_written: rows,
                            })) {
                                return Err(ServiceError::Cancelled("the client closed the export".into()));
                            }
                        }
                        Ok(())
                    })();
                    let queried = query.join().unwrap_or_else(|_| {
                        Err(ServiceError::Internal("the export query thread crashed".into()))
                    });
                    written.and(queried)?;
                    snapshot_complete(total, rows)
                })
            })?;
            Ok((rows, bytes, sha256))
        })();
        match result {
            Ok((rows, bytes, sha256)) => {
                tracing::info!(module = %module, format = %chosen.format, rows, bytes, ms = started.elapsed().as_millis() as u64, "export finished");
                crate::metrics::get().exported(filter.module().as_str(), rows);
                crate::metrics::get().bytes("out", bytes);
                audit.record(Some(rows), Some(bytes), "completed");
                send(v1::export_event::Event::Completed(v1::ExportCompleted {
                    rows,
                    bytes,
                    sha256,
                    file_name,
                }));
            }
            Err(ServiceError::Cancelled(why)) => {
                tracing::info!(module = %module, "export stopped: {why}");
                audit.record(None, None, format!("stopped: {why}"));
            }
            Err(e) => {
                audit.record(None, None, format!("failed: {e}"));
                let _ = tx.blocking_send(Err(e.into()));
            }
        }
    });
    Ok(Box::pin(ReceiverStream::new(rx)))
}

/// A csv export on PostgreSQL's copy path ([`copy_csv`]): the plugin writes the BOM and the
/// header, the rows come from the snapshot's `COPY`, rewritten into what the plugin would have
/// written. Returns the rows, the size and the sha256.
fn export_copied(
    chosen: &Chosen,
    options: &Options,
    send_chunk: SendChunk,
    layout: &Layout,
    mut snapshot: Snapshot,
    copy: dataport_store::CsvCopy,
    send: &dyn Fn(v1::export_event::Event) -> bool,
) -> Result<(u64, u64, String), ServiceError> {
    let total = snapshot.total();
    let leading_code = copy.leading_code();
    let mut rows = 0u64;
    let header = |writer: &mut dyn Writer| {
        writer
            .write_header(&layout.columns(false))
            .map_err(|e| plugin_error(chosen, e))
    };
    let (bytes, sha256) = write_file_then(chosen, options, send_chunk, header, |sink| {
        let progress = |rows_written| {
            send(v1::export_event::Event::Progress(v1::ExportProgress {
                rows_written,
            }))
        };
        let copied = snapshot.copy_csv(copy, |copy_rows| {
            copy_csv::transcode(copy_rows, layout, leading_code, sink, progress)
        })?;
        rows = match copied {
            Ok(rows) => rows,
            Err(copy_csv::CopyError::Write(e)) => {
                return Err(ServiceError::Cancelled(format!("the download stopped: {e}")));
            }
            Err(copy_csv::CopyError::Stopped) => {
                return Err(ServiceError::Cancelled("the client closed the export".into()));
            }
            Err(copy_csv::CopyError::Read(e)) => {
                return Err(dataport_store::StoreError::Connection(format!(
                    "the connection to PostgreSQL broke during the export ({e}); export again, \
                     with after_code set to the last code received to resume"
                ))
                .into());
            }
            Err(copy_csv::CopyError::Corrupt(why)) => {
                return Err(dataport_store::StoreError::Corrupt(why).into());
            }
        };
        // The copy's end is also what an error of PostgreSQL during it looks like.
        if rows < total {
            return Err(dataport_store::StoreError::Connection(format!(
                "PostgreSQL ended the export after {rows} of its {total} records (its log says \
                 why); export again, with after_code set to the last code received to resume"
            ))
            .into());
        }
        snapshot_complete(total, rows)
    })?;
    Ok((rows, bytes, sha256))
}

/// What selects an export's rows, for the audit log, as proto3 JSON: the scope, the filter as
/// received (ignored by `EXPORT_SCOPE_ALL`) and the resume point.
fn audited_filter(request: &v1::ExportRequest) -> String {
    let scope = v1::ExportScope::try_from(request.scope).unwrap_or(v1::ExportScope::Unspecified);
    let mut selection = serde_json::Map::new();
    selection.insert("scope".into(), scope.as_str_name().into());
    if let Some(filter) = &request.filter {
        selection.insert(
            "filter".into(),
            serde_json::to_value(filter).unwrap_or_else(|e| format!("(not serialisable: {e})").into()),
        );
    }
    if let Some(after) = &request.after_code {
        selection.insert("afterCode".into(), after.clone().into());
    }
    serde_json::Value::Object(selection).to_string()
}

/// `ExportRequest.after_code`, checked: a code no longer than the module's codes may be.
fn after_code(module: Module, after_code: Option<String>) -> Result<Option<String>, ServiceError> {
    let Some(code) = after_code else { return Ok(None) };
    let max = module.field("code").map_or(64, |f| f.max_len);
    let len = code.chars().count();
    if len > max {
        return Err(ServiceError::invalid(
            "after_code",
            format!("after_code is {len} characters long, but codes have at most {max}"),
        ));
    }
    if code.chars().any(char::is_control) {
        return Err(ServiceError::invalid(
            "after_code",
            "after_code contains a control character; codes have none",
        ));
    }
    Ok(Some(code))
}

/// A snapshot's pages hold exactly the rows its count saw: anything else is a bug, and the
/// export fails rather than complete with a count that is not what it wrote.
fn snapshot_complete(announced: u64, written: u64) -> Result<(), ServiceError> {
    if announced == written {
        Ok(())
    } else {
        Err(ServiceError::Internal(format!(
            "the export announced {announced} rows but its snapshot held {written}"
        )))
    }
}

/// Largest encoded record batch a `records` export sends (the message limit is 4 MiB).
const RECORD_MESSAGE_BYTES: usize = 1 << 20;

/// The content type announced for `records` exports.
pub const RECORDS_CONTENT_TYPE: &str = "application/x-dataport-records";

/// Streams the records a filter selects as typed record batches, one per keyset page; the
/// sha256 in `Completed` covers the encoded batches, in order.
fn start_records_export(
    store: Store,
    filter: Filter,
    after_code: Option<String>,
    layout: Layout,
    call: CallGuard,
    mut audit: Pending,
) -> EventStream<v1::ExportEvent> {
    use prost::Message;
    use sha2::Digest;
    audit.entry.detail = "typed record batches".to_owned();
    let (tx, rx) = mpsc::channel::<Result<v1::ExportEvent, Status>>(EVENT_QUEUE);
    crate::threads::spawn_long("export-records".to_owned(), move || {
        let _call = call;
        let _counted = crate::metrics::InFlight::export();
        let send = |event: v1::export_event::Event| {
            tx.blocking_send(Ok(v1::ExportEvent { event: Some(event) }))
                .is_ok()
        };
        let fields: Vec<String> = layout.fields.iter().map(|f| f.key.to_owned()).collect();
        let result = (|| -> Result<Option<(u64, u64, String)>, ServiceError> {
            let mut snapshot: Snapshot = store.export_snapshot(&filter, after_code.as_deref())?;
            let total = snapshot.total();
            if !send(v1::export_event::Event::Started(v1::ExportStarted {
                total_rows: total,
                file_name: String::new(),
                content_type: RECORDS_CONTENT_TYPE.to_owned(),
            })) {
                return Ok(None);
            }
            let mut hasher = sha2::Sha256::new();
            let (mut rows, mut bytes) = (0u64, 0u64);
            loop {
                let page = snapshot.next_page(crate::budget::export_page_rows(PAGE_ROWS))?;
                if page.is_empty() {
                    snapshot_complete(total, rows)?;
                    return Ok(Some((rows, bytes, hex::encode(hasher.finalize()))));
                }
                // A page can hold long notes: cut it into messages well under the 4 MiB limit.
                let mut records = layout::typed_records(&layout, &page).into_iter().peekable();
                while records.peek().is_some() {
                    let mut batch = v1::RecordBatch {
                        fields: fields.clone(),
                        records: Vec::new(),
                    };
                    let mut size = 0;
                    while let Some(record) = records.next_if(|r| {
                        batch.records.is_empty() || size + r.encoded_len() < RECORD_MESSAGE_BYTES
                    }) {
                        size += record.encoded_len();
                        batch.records.push(record);
                    }
                    let encoded = batch.encode_to_vec();
                    hasher.update(&encoded);
                    bytes += encoded.len() as u64;
                    rows += batch.records.len() as u64;
                    if !send(v1::export_event::Event::Records(batch)) {
                        return Ok(None);
                    }
                }
                if !send(v1::export_event::Event::Progress(v1::ExportProgress {
                    rows_written: rows,
                })) {
                    return Ok(None);
                }
            }
        })();
        match result {
            Ok(Some((rows, bytes, sha256))) => {
                crate::metrics::get().exported(filter.module().as_str(), rows);
                crate::metrics::get().bytes("out", bytes);
                audit.record(Some(rows), Some(bytes), "completed");
                send(v1::export_event::Event::Completed(v1::ExportCompleted {
                    rows,
                    bytes,
                    sha256,
                    file_name: String::new(),
                }));
            }
            Ok(None) => {
                tracing::info!("records export stopped: the client went away");
                audit.record(None, None, "stopped: the client went away");
            }
            Err(e) => {
                audit.record(None, None, format!("failed: {e}"));
                let _ = tx.blocking_send(Err(e.into()));
            }
        }
    });
    Box::pin(ReceiverStream::new(rx))
}

// ---------------------------------------------------------------------------------------------
// Templates and error files
// ---------------------------------------------------------------------------------------------

/// Streams a file produced by `body` as FileEvents.
fn stream_file(
    chosen: Chosen,
    options: Options,
    file_name: String,
    call: CallGuard,
    mut audit: Pending,
    body: impl FnOnce(&mut dyn Writer, &Chosen) -> Result<(), ServiceError> + Send + 'static,
) -> EventStream<v1::FileEvent> {
    audit.entry.detail = format!("{} file {file_name}", chosen.format);
    let (tx, rx) = mpsc::channel::<Result<v1::FileEvent, Status>>(EVENT_QUEUE);
    crate::threads::spawn_long("download".to_owned(), move || {
        let _call = call;
        let _counted = crate::metrics::InFlight::export();
        let send =
            |event: v1::file_event::Event| tx.blocking_send(Ok(v1::FileEvent { event: Some(event) })).is_ok();
        if !send(v1::file_event::Event::Started(v1::FileStarted {
            file_name: file_name.clone(),
            content_type: content_type(&chosen.format).to_owned(),
        })) {
            audit.record(None, None, "stopped: the client went away");
            return;
        }
        let chunk_tx = tx.clone();
        let send_chunk: SendChunk = Box::new(move |bytes| {
            chunk_tx
                .blocking_send(Ok(v1::FileEvent {
                    event: Some(v1::file_event::Event::Chunk(bytes)),
                }))
                .is_ok()
        });
        match write_file(&chosen, &options, send_chunk, |writer| body(writer, &chosen)) {
            Ok((bytes, sha256)) => {
                crate::metrics::get().bytes("out", bytes);
                audit.record(None, Some(bytes), "completed");
                send(v1::file_event::Event::Completed(v1::FileCompleted {
                    bytes,
                    sha256,
                }));
            }
            Err(ServiceError::Cancelled(why)) => {
                tracing::debug!("download stopped: {why}");
                audit.record(None, None, format!("stopped: {why}"));
            }
            Err(e) => {
                audit.record(None, None, format!("failed: {e}"));
                let _ = tx.blocking_send(Err(e.into()));
            }
        }
    });
    Box::pin(ReceiverStream::new(rx))
}

/// A writer for dataport's own layout: templates and error files are not vendor files.
fn generic_writer(
    ctx: &ExportContext,
    format: &str,
    module: Module,
    what: &str,
) -> Result<Chosen, ServiceError> {
    let chosen = ctx.formats.writer(format, DEFAULT_FORMAT, module)?;
    if chosen.is_layout() {
        return Err(ServiceError::invalid(
            "format",
            format!(
                "{what} use dataport's template layout; `{}` is a vendor layout, so ask for xlsx or csv",
                chosen.format
            ),
        ));
    }
    Ok(chosen)
}

/// GetTemplate: the module's import template, or (MODULE_ALL) the workbook of all modules.
pub fn start_template(
    ctx: ExportContext,
    caller: &Caller,
    request: v1::GetTemplateRequest,
    call: CallGuard,
) -> Result<EventStream<v1::FileEvent>, ServiceError> {
    let scope = convert::module_scope_from_proto(request.module)?;
    let locale = convert::locale_from_proto(request.locale);
    let first = scope.modules()[0];
    let chosen = generic_writer(&ctx, &request.format, first, "import templates")?;
    let (stem, first_sheet) = match scope {
        ModuleScope::One(module) => {
            let stem = template::template_file_stem(module, Locale::ZhCn);
            (stem.clone(), stem)
        }
        ModuleScope::Workbook => {
            needs_sheets(&chosen, "the workbook template of all modules")?;
            (
                template::workbook_template_file_stem(Locale::ZhCn),
                workbook::sheet_names(first)[0].to_owned(),
            )
        }
    };
    let file_name = format!("{stem}.{}", ctx.formats.extension(&chosen.format));
    let options = writer_options(&chosen, first, locale, &[], &first_sheet)?;
    let mut audit = Pending::new(&ctx.audit, caller, AuditEvent::Template, "GetTemplate");
    audit.entry.module = Some(scope.as_str().to_owned());
    Ok(stream_file(
        chosen,
        options,
        file_name,
        call,
        audit,
        move |writer, chosen| write_template(writer, chosen, scope, locale),
    ))
}

/// A workbook of modules needs a format with sheets (xlsx); INVALID_ARGUMENT naming `format`.
fn needs_sheets(chosen: &Chosen, what: &str) -> Result<(), ServiceError> {
    if chosen.plugin.descriptor().capabilities.sheets {
        return Ok(());
    }
    Err(ServiceError::invalid(
        "format",
        format!(
            "{what} has a sheet per module; `{}` holds one table, so ask for xlsx",
            chosen.format
        ),
    ))
}

/// Per module: the data sheet (the exact Chinese import header, formatted for filling in) and,
/// where the format has sheets, its 填写说明 sheet describing every field. A workbook's data
/// sheets are named for their modules (客户, 联系人, 商机), as its import looks them up.
fn write_template(
    writer: &mut dyn Writer,
    chosen: &Chosen,
    scope: ModuleScope,
    locale: Locale,
) -> Result<(), ServiceError> {
    let sheets = chosen.plugin.descriptor().capabilities.sheets;
    each_module_sheet(writer, chosen, scope, |writer, module| {
        // The header is always the Chinese template header; the notes follow the locale.
        let mut columns = Layout::all(module, Locale::ZhCn).columns(true);
        for (column, field) in columns.iter_mut().zip(module.fields()) {
            column.comment = template::rule(field, locale);
        }
        writer
            .write_header(&columns)
            .map_err(|e| plugin_error(chosen, e))?;
        if !sheets {
            return Ok(());
        }
        let instructions = match scope {
            ModuleScope::One(_) => template::instructions_sheet(locale).to_owned(),
            ModuleScope::Workbook => template::module_instructions_sheet(module, locale),
        };
        write_instructions(writer, chosen, module, &instructions, locale)
    })
}

/// Runs `body` for each module of `scope`, each after the first on a sheet of its own named
/// for its module (the first sheet's name is a writer option).
fn each_module_sheet(
    writer: &mut dyn Writer,
    chosen: &Chosen,
    scope: ModuleScope,
    mut body: impl FnMut(&mut dyn Writer, Module) -> Result<(), ServiceError>,
) -> Result<(), ServiceError> {
    for (i, &module) in scope.modules().iter().enumerate() {
        if i > 0 {
            writer
                .start_sheet(workbook::sheet_names(module)[0])
                .map_err(|e| plugin_error(chosen, e))?;
        }
        body(writer, module)?;
    }
    Ok(())
}

/// A module's 填写说明 sheet: one row per field.
fn write_instructions(
    writer: &mut dyn Writer,
    chosen: &Chosen,
    module: Module,
    sheet: &str,
    locale: Locale,
) -> Result<(), ServiceError> {
    writer.start_sheet(sheet).map_err(|e| plugin_error(chosen, e))?;
    let header = template::instructions_header(locale);
    writer
        .write_header(&header.map(Column::new))
        .map_err(|e| plugin_error(chosen, e))?;
    let mut rows = RowBatch::new();
    for (i, field) in module.fields().iter().enumerate() {
        let name = template::instructions_field_name(field, locale);
        rows.push_row(
            0,
            vec![
                Cell::Int(i as i64 + 1),
                Cell::Text(name),
                Cell::text(template::kind_label(field.kind, locale)),
                Cell::text(template::required_word(field.required, locale)),
                Cell::Text(template::rule(field, locale)),
            ],
        );
    }
    writer.write_rows(&rows).map_err(|e| plugin_error(chosen, e))
}

/// Error rows fetched per page.
const ERROR_PAGE: usize = 1_000;

/// GetErrorFile: a job's failed rows in the template layout, plus 错误原因; a workbook job's as
/// a workbook again, a sheet per module, ready to fix and import with MODULE_ALL.
pub async fn start_error_file(
    ctx: ExportContext,
    caller: &Caller,
    request: v1::GetErrorFileRequest,
    call: CallGuard,
) -> Result<EventStream<v1::FileEvent>, ServiceError> {
    let job_id = request.job_id;
    let mut audit = Pending::new(&ctx.audit, caller, AuditEvent::ErrorFile, "GetErrorFile");
    audit.entry.job_id = Some(job_id);
    let (store, caller) = (ctx.store.clone(), caller.clone());
    // Private to the job's token and admins, like its report.
    let job = blocking(move || caller.visible_job(job_id, store.get_job(job_id)?)).await?;
    let scope = job.module;
    audit.entry.module = Some(scope.as_str().to_owned());
    let locale = convert::locale_from_proto(request.locale);
    let first = scope.modules()[0];
    let chosen = generic_writer(&ctx, &request.format, first, "error files")?;
    let (stem, first_sheet) = match scope {
        ModuleScope::One(module) => (
            module.export_file_stem(),
            dataport_core::messages::error_sheet(locale),
        ),
        ModuleScope::Workbook => {
            needs_sheets(&chosen, "the error file of a workbook import")?;
            ("CRM全部模块数据", workbook::sheet_names(first)[0])
        }
    };
    let file_name = format!(
        "{stem}_{}{job_id}.{}",
        dataport_core::messages::error_file_infix(locale),
        ctx.formats.extension(&chosen.format)
    );
    let options = writer_options(&chosen, first, locale, &[], first_sheet)?;
    let store = ctx.store.clone();
    Ok(stream_file(
        chosen,
        options,
        file_name,
        call,
        audit,
        move |writer, chosen| {
            each_module_sheet(writer, chosen, scope, |writer, module| {
                write_error_sheet(writer, chosen, &store, job_id, scope, module, locale)
            })
        },
    ))
}

/// One module's failed rows: the header and a row per failed source row, paged from the store
/// (a workbook job's rows are numbered sheet by sheet, so each sheet is one range).
fn write_error_sheet(
    writer: &mut dyn Writer,
    chosen: &Chosen,
    store: &Store,
    job_id: i64,
    scope: ModuleScope,
    module: Module,
    locale: Locale,
) -> Result<(), ServiceError> {
    let layout = Layout::all(module, locale);
    let mut columns = layout.columns(false);
    columns.push(Column::new(locale.pick(
        dataport_core::header::ERROR_COLUMN_ZH,
        dataport_core::header::ERROR_COLUMN_EN,
    )));
    writer
        .write_header(&columns)
        .map_err(|e| plugin_error(chosen, e))?;
    let width = layout.fields.len();
    let to_db = |job_row: u64| i64::try_from(job_row).unwrap_or(i64::MAX);
    let mut after = Some(to_db(scope.job_row(module, 0))).filter(|a| *a > 0);
    loop {
        let page = store.row_errors(job_id, after, ERROR_PAGE)?;
        let Some(last) = page.last() else { return Ok(()) };
        after = Some(last.row);
        let mut rows = RowBatch::new();
        let mut sheet_done = false;
        for group in page.chunk_by(|a, b| a.row == b.row) {
            let (of, row) = scope.sheet_row(u64::try_from(group[0].row).unwrap_or(0));
            if of != module {
                sheet_done = true;
                break;
            }
            let data = group.iter().find_map(|e| e.row_data.as_deref());
            // Job-level problems (a bad header, say) have no row to fix.
            if data.is_none() && row <= 1 {
                continue;
            }
            let values: Vec<String> = data
                .and_then(|d| serde_json::from_str(d).ok())
                .unwrap_or_default();
            let mut cells: Vec<Cell> = (0..width)
                .map(|i| values.get(i).map(|v| layout::text_cell(v)).unwrap_or(Cell::Null))
                .collect();
            let reasons: Vec<&str> = group.iter().map(|e| e.message.as_str()).collect();
            let reason = dataport_core::messages::error_reason(to_db(row), &reasons, locale);
            cells.push(layout::text_cell(&reason));
            rows.push_row(0, cells);
        }
        if !rows.rows.is_empty() {
            writer.write_rows(&rows).map_err(|e| plugin_error(chosen, e))?;
        }
        if sheet_done {
            return Ok(());
        }
    }
}
