//! Building import files and driving the Import, Export and file RPCs from tests.

use dataport_client::{AuthedClient, v1};
use dataport_core::{Locale, Module, header::template_header};
use tokio_stream::StreamExt;

/// Runs a test body once per backend: `sqlite` always, `postgres` when configured (always in CI).
#[macro_export]
macro_rules! on_both_backends {
    ($(async fn $name:ident($server:ident) $body:block)*) => {
        $(
            mod $name {
                #[allow(unused_imports)]
                use super::*;

                async fn run($server: $crate::harness::TestServer) $body

                #[tokio::test]
                async fn sqlite() {
                    let server = $crate::harness::TestServer::start_on($crate::harness::Backend::Sqlite, &[]).unwrap();
                    run(server).await;
                }

                #[tokio::test]
                #[cfg_attr(
                    not(dataport_postgres_tests),
                    ignore = "set DATAPORT_TEST_DATABASE_URL to run the PostgreSQL end-to-end tests"
                )]
                async fn postgres() {
                    let server = $crate::harness::TestServer::start_on($crate::harness::Backend::Postgres, &[])
                        .expect("DATAPORT_TEST_DATABASE_URL must name the PostgreSQL test database (CI is set)");
                    run(server).await;
                }
            }
        )*
    };
}

/// A CSV file (UTF-8, no BOM) with the module's Chinese template header and these rows.
pub fn csv(module: Module, rows: &[Vec<&str>]) -> Vec<u8> {
    let mut out = String::new();
    out.push_str(&template_header(module, Locale::ZhCn).join(","));
    out.push('\n');
    for row in rows {
        let cells: Vec<String> = row.iter().map(|c| quote(c)).collect();
        out.push_str(&cells.join(","));
        out.push('\n');
    }
    out.into_bytes()
}

fn quote(cell: &str) -> String {
    if cell.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", cell.replace('"', "\"\""))
    } else {
        cell.to_owned()
    }
}

/// A valid customer row with this code (template order).
pub fn customer(code: &str) -> Vec<String> {
    vec![
        code.into(),
        format!("{code}科技有限公司"),
        "互联网".into(),
        "13812345678".into(),
        "张伟".into(),
        "VIP".into(),
        "待跟进".into(),
        "北京市海淀区".into(),
        "1000.50".into(),
        "".into(),
        "".into(),
        "2023-10-01".into(),
    ]
}

pub fn contact(code: &str, customer: &str) -> Vec<String> {
    vec![
        code.into(),
        customer.into(),
        "王芳".into(),
        "采购经理".into(),
        "13800138000".into(),
        format!("{}@example.com", code.to_lowercase()),
        "是".into(),
        "".into(),
    ]
}

pub fn opportunity(code: &str, customer: &str) -> Vec<String> {
    vec![
        code.into(),
        customer.into(),
        "年度采购".into(),
        "方案报价".into(),
        "50000.00".into(),
        "2024-06-30".into(),
        "张伟".into(),
        "".into(),
    ]
}

/// Borrows owned rows for [`csv`].
pub fn rows(rows: &[Vec<String>]) -> Vec<Vec<&str>> {
    rows.iter()
        .map(|r| r.iter().map(String::as_str).collect())
        .collect()
}

/// An import request.
#[derive(Clone)]
pub struct Import {
    pub module: Module,
    pub file_name: String,
    pub format: String,
    pub mode: v1::ImportMode,
    pub on_error: v1::OnError,
    pub dry_run: bool,
    pub locale: v1::Locale,
    pub options: Vec<(String, String)>,
    /// Bytes per chunk message.
    pub chunk: usize,
    /// `ImportSpec.request_id` (empty: none).
    pub request_id: String,
    /// `ImportSpec.sha256` (empty: none).
    pub sha256: String,
    /// `ImportSpec.accepts_resume_offset`.
    pub accepts_resume_offset: bool,
    pub blank_cells: v1::BlankCells,
    /// `ImportSpec.defaults`.
    pub defaults: Vec<(String, String)>,
    /// MODULE_ALL: a workbook with a sheet per module (`module` is then unused).
    pub all_modules: bool,
}

impl Import {
    pub fn new(module: Module, file_name: &str) -> Import {
        Import {
            module,
            file_name: file_name.to_owned(),
            format: "auto".into(),
            mode: v1::ImportMode::Insert,
            on_error: v1::OnError::SkipRow,
            dry_run: false,
            locale: v1::Locale::ZhCn,
            options: Vec::new(),
            chunk: 64 * 1024,
            request_id: String::new(),
            sha256: String::new(),
            accepts_resume_offset: false,
            blank_cells: v1::BlankCells::Unspecified,
            defaults: Vec::new(),
            all_modules: false,
        }
    }

    /// A MODULE_ALL import of a workbook.
    pub fn workbook(file_name: &str) -> Import {
        Import {
            all_modules: true,
            ..Import::new(Module::Customers, file_name)
        }
    }

    pub fn blank_cells(mut self, blanks: v1::BlankCells) -> Import {
        self.blank_cells = blanks;
        self
    }

    pub fn default_value(mut self, field: &str, value: &str) -> Import {
        self.defaults.push((field.into(), value.into()));
        self
    }

    /// Declares the file's sha256, as the CLI does.
    pub fn sha256_of(mut self, bytes: &[u8]) -> Import {
        use sha2::Digest;
        self.sha256 = hex::encode(sha2::Sha256::digest(bytes));
        self
    }

    /// The client can start its upload at `Accepted.resume_offset`.
    pub fn accepts_resume_offset(mut self) -> Import {
        self.accepts_resume_offset = true;
        self
    }

    pub fn request_id(mut self, key: &str) -> Import {
        self.request_id = key.into();
        self
    }

    pub fn mode(mut self, mode: v1::ImportMode) -> Import {
        self.mode = mode;
        self
    }

    pub fn all_or_nothing(mut self) -> Import {
        self.on_error = v1::OnError::AllOrNothing;
        self
    }

    pub fn dry_run(mut self) -> Import {
        self.dry_run = true;
        self
    }

    pub fn locale(mut self, locale: v1::Locale) -> Import {
        self.locale = locale;
        self
    }

    pub fn option(mut self, key: &str, value: &str) -> Import {
        self.options.push((key.into(), value.into()));
        self
    }

    pub fn format(mut self, format: &str) -> Import {
        self.format = format.into();
        self
    }

    pub fn spec(&self, size: u64) -> v1::ImportRequest {
        v1::ImportRequest {
            message: Some(v1::import_request::Message::Spec(v1::ImportSpec {
                module: if self.all_modules {
                    v1::Module::All as i32
                } else {
                    dataport_client::convert::module_to_proto(self.module) as i32
                },
                format: self.format.clone(),
                mode: self.mode as i32,
                dry_run: self.dry_run,
                on_error: self.on_error as i32,
                locale: self.locale as i32,
                options: self
                    .options
                    .iter()
                    .map(|(k, v)| v1::FormatOption {
                        key: k.clone(),
                        value: v.clone(),
                    })
                    .collect(),
                file_name: self.file_name.clone(),
                size,
                sha256: self.sha256.clone(),
                request_id: self.request_id.clone(),
                accepts_resume_offset: self.accepts_resume_offset,
                blank_cells: self.blank_cells as i32,
                defaults: self.defaults.iter().cloned().collect(),
            })),
        }
    }
}

/// Everything an import sent back.
#[derive(Debug, Default)]
pub struct Run {
    pub job_id: i64,
    pub header: Option<v1::HeaderMapped>,
    pub preview: Option<v1::Preview>,
    pub progress: Vec<v1::Progress>,
    pub errors: Vec<v1::RowError>,
    pub completed: Option<v1::Completed>,
}

impl Run {
    pub fn report(&self) -> &v1::ImportJob {
        self.completed
            .as_ref()
            .and_then(|c| c.report.as_ref())
            .expect("the import completed with a report")
    }

    /// (row, column, code) of every row error, in order.
    pub fn error_list(&self) -> Vec<(u64, String, v1::ErrorCode)> {
        self.errors
            .iter()
            .map(|e| (e.row, e.column.clone(), e.code()))
            .collect()
    }

    /// (created, updated, skipped, failed).
    pub fn counts(&self) -> (u64, u64, u64, u64) {
        let r = self.report();
        (r.rows_created, r.rows_updated, r.rows_skipped, r.rows_failed)
    }

    pub fn status(&self) -> v1::JobStatus {
        self.report().status()
    }
}

/// Asserts a refused call: INVALID_ARGUMENT, the BadRequest names `field`, and so does the
/// message.
#[track_caller]
pub fn assert_invalid(status: &tonic::Status, field: &str) {
    assert_eq!(status.code(), tonic::Code::InvalidArgument, "{field}: {status:?}");
    assert_eq!(
        dataport_client::bad_request_field(status).as_deref(),
        Some(field),
        "{status:?}"
    );
    // The message names the field by its last part (`file_name`, `codes[1]`, ...).
    let leaf = field.rsplit('.').next().unwrap();
    assert!(status.message().contains(leaf), "{field}: {}", status.message());
    assert!(status.message().len() < 1000, "the message is bounded too");
}

/// The spec alone: the server refuses it before any chunk.
pub async fn refused_import(client: &mut AuthedClient, request: &Import) -> tonic::Status {
    client
        .import(tokio_stream::iter([request.spec(10)]))
        .await
        .expect_err("the import is refused")
}

/// Every import job the client may see (the first page: newest first).
pub async fn jobs(client: &mut AuthedClient) -> Vec<v1::ImportJob> {
    client
        .list_import_jobs(v1::ListImportJobsRequest::default())
        .await
        .expect("ListImportJobs")
        .into_inner()
        .jobs
}

/// Imports `bytes` and collects every event.
pub async fn import(client: &mut AuthedClient, request: &Import, bytes: &[u8]) -> Run {
    let mut messages = vec![request.spec(bytes.len() as u64)];
    for chunk in bytes.chunks(request.chunk.max(1)) {
        messages.push(v1::ImportRequest {
            message: Some(v1::import_request::Message::Chunk(chunk.to_vec())),
        });
    }
    let mut stream = client
        .import(tokio_stream::iter(messages))
        .await
        .unwrap_or_else(|s| panic!("import refused: {s:?}"))
        .into_inner();
    let mut run = Run::default();
    while let Some(event) = next_within(&mut stream, "the next import event").await {
        match event
            .unwrap_or_else(|s| panic!("import stream failed: {s:?}"))
            .event
        {
            Some(v1::import_event::Event::Accepted(a)) => run.job_id = a.job_id,
            Some(v1::import_event::Event::HeaderMapped(h)) => run.header = Some(h),
            Some(v1::import_event::Event::Preview(p)) => run.preview = Some(p),
            Some(v1::import_event::Event::Progress(p)) => run.progress.push(p),
            Some(v1::import_event::Event::RowError(e)) => run.errors.push(e),
            Some(v1::import_event::Event::Completed(c)) => run.completed = Some(c),
            None => {}
        }
    }
    assert!(run.completed.is_some(), "the stream ended without Completed");
    run
}

/// A finished file download.
#[derive(Debug)]
pub struct Downloaded {
    pub file_name: String,
    pub bytes: Vec<u8>,
    pub rows: u64,
    pub total_rows: u64,
}

/// Exports and checks the download against the announced size and sha256.
pub async fn export(client: &mut AuthedClient, request: v1::ExportRequest) -> Downloaded {
    use sha2::Digest;
    let mut stream = client
        .export(request)
        .await
        .unwrap_or_else(|s| panic!("export refused: {s:?}"))
        .into_inner();
    let mut bytes = Vec::new();
    let mut started = None;
    while let Some(event) = next_within(&mut stream, "the next export event").await {
        match event.unwrap_or_else(|s| panic!("export failed: {s:?}")).event {
            Some(v1::export_event::Event::Started(s)) => started = Some(s),
            Some(v1::export_event::Event::Chunk(c)) => bytes.extend(c),
            Some(v1::export_event::Event::Progress(_)) => {}
            Some(v1::export_event::Event::Records(_)) => panic!("records in a file export"),
            Some(v1::export_event::Event::Completed(done)) => {
                let started = started.expect("Started before Completed");
                assert_eq!(done.bytes, bytes.len() as u64);
                assert_eq!(done.sha256, hex::encode(sha2::Sha256::digest(&bytes)));
                assert_eq!(done.file_name, started.file_name);
                return Downloaded {
                    file_name: done.file_name,
                    bytes,
                    rows: done.rows,
                    total_rows: started.total_rows,
                };
            }
            None => {}
        }
    }
    panic!("the export ended without Completed");
}

/// Downloads a FileEvent stream (templates, error files) and checks it.
pub async fn file(stream: tonic::Streaming<v1::FileEvent>) -> (String, Vec<u8>) {
    use sha2::Digest;
    let mut stream = stream;
    let mut name = String::new();
    let mut bytes = Vec::new();
    while let Some(event) = next_within(&mut stream, "the next download event").await {
        match event.unwrap_or_else(|s| panic!("download failed: {s:?}")).event {
            Some(v1::file_event::Event::Started(s)) => name = s.file_name,
            Some(v1::file_event::Event::Chunk(c)) => bytes.extend(c),
            Some(v1::file_event::Event::Completed(done)) => {
                assert_eq!(done.bytes, bytes.len() as u64);
                assert_eq!(done.sha256, hex::encode(sha2::Sha256::digest(&bytes)));
                return (name, bytes);
            }
            None => {}
        }
    }
    panic!("the download ended without Completed");
}

pub fn export_request(module: Module, format: &str) -> v1::ExportRequest {
    v1::ExportRequest {
        module: dataport_client::convert::module_to_proto(module) as i32,
        format: format.into(),
        ..Default::default()
    }
}

/// Every field of a module, in template order.
pub fn all_fields(module: Module) -> Vec<String> {
    module.fields().iter().map(|f| f.key.to_owned()).collect()
}

/// Reads a file with a format library natively (csv or xlsx): header and rows of cells.
pub fn read_file(format: &str, bytes: Vec<u8>) -> (Vec<String>, Vec<Vec<dataport_plugin_sdk::Cell>>) {
    use dataport_plugin_sdk::{Options, Plugin};
    let source = Box::new(std::io::Cursor::new(bytes));
    let mut reader = match format {
        "csv" => dataport_format_csv::CsvPlugin.open_reader("csv", &Options::new(), source),
        "xlsx" => dataport_format_xlsx::XlsxPlugin.open_reader("xlsx", &Options::new(), source),
        other => panic!("no reader for {other}"),
    }
    .unwrap_or_else(|e| panic!("{e}"));
    let (header, batch) = dataport_plugin_sdk::read_all(&mut *reader, 1000).unwrap_or_else(|e| panic!("{e}"));
    (header, batch.rows.into_iter().map(|r| r.cells).collect())
}

/// The next item of a stream, failing the test after [`crate::harness::WAIT`].
pub async fn next_within<S: tokio_stream::Stream + Unpin>(stream: &mut S, what: &str) -> Option<S::Item> {
    tokio::time::timeout(crate::harness::WAIT, stream.next())
        .await
        .unwrap_or_else(|_| panic!("timed out after {:?} waiting for {what}", crate::harness::WAIT))
}

/// Reads import events until Completed (each within `harness::WAIT`) and returns its report;
/// an error before Completed fails the test.
pub async fn completed(stream: &mut tonic::Streaming<v1::ImportEvent>) -> v1::ImportJob {
    while let Some(event) = next_within(stream, "Completed").await {
        let event = event.expect("the import stream ends with Completed, not an error");
        if let Some(v1::import_event::Event::Completed(c)) = event.event {
            return c.report.expect("report");
        }
    }
    panic!("the import stream ended without Completed");
}

/// Sends `bytes` as file chunks of 256 KiB into an open import.
pub async fn send_chunks(tx: &tokio::sync::mpsc::Sender<v1::ImportRequest>, bytes: &[u8]) {
    for part in bytes.chunks(256 * 1024) {
        tx.send(v1::ImportRequest {
            message: Some(v1::import_request::Message::Chunk(part.to_vec())),
        })
        .await
        .unwrap();
    }
}

/// A xorshift generator seeded from the clock, for fault points; the seed is printed (with
/// `what`) so that a failing run can be told apart and replayed.
pub fn seeded(what: &str) -> impl FnMut() -> u64 {
    let seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(7);
    eprintln!("{what} from seed {seed}");
    let mut rng = seed | 1;
    move || {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        rng
    }
}

/// Calls `each` with every record of `module`, exported as typed records (scope ALL), and the
/// field keys of its batch.
pub async fn each_exported_record(
    client: &mut AuthedClient,
    module: Module,
    mut each: impl FnMut(&[String], v1::Record),
) {
    let mut stream = client
        .export(v1::ExportRequest {
            module: dataport_client::convert::module_to_proto(module) as i32,
            format: "records".into(),
            scope: v1::ExportScope::All as i32,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    while let Some(event) = next_within(&mut stream, "the next export event").await {
        if let Some(v1::export_event::Event::Records(batch)) = event.unwrap().event {
            for record in batch.records {
                each(&batch.fields, record);
            }
        }
    }
}
