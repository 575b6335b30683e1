//! One workbook for all three modules (MODULE_ALL, `--module all`): the sheets 客户 / 联系人 /
//! 商机 (or their English names, or the module keys) imported in dependency order as one job,
//! so contacts and opportunities may name customers of the same file; counts and error-file
//! sheets per module; ALL_OR_NOTHING over the whole workbook; a resume that picks up in the
//! sheet it stopped in; and the workbook template, which imports back as is.

use std::time::{Duration, Instant};

use dataport_client::{AuthedClient, v1};
use dataport_core::Module;
use v1::ErrorCode as E;

use crate::harness::{self, TestServer, stderr, stdout};
use crate::import::count;
use crate::on_both_backends;
use crate::support::{Import, assert_invalid, contact, customer, file, import, opportunity, refused_import};

/// An xlsx workbook: one sheet per (name, module, rows), each with the module's Chinese
/// template header.
fn workbook(sheets: &[(&str, Module, Vec<Vec<String>>)]) -> Vec<u8> {
    let mut book = rust_xlsxwriter::Workbook::new();
    for (name, module, rows) in sheets {
        let sheet = book.add_worksheet();
        sheet.set_name(*name).unwrap();
        let header = dataport_core::header::template_header(*module, dataport_core::Locale::ZhCn);
        for (col, label) in header.iter().enumerate() {
            sheet.write_string(0, col as u16, *label).unwrap();
        }
        for (r, row) in rows.iter().enumerate() {
            for (col, value) in row.iter().enumerate() {
                if !value.is_empty() {
                    sheet.write_string(r as u32 + 1, col as u16, value).unwrap();
                }
            }
        }
    }
    book.save_to_buffer().unwrap()
}

/// Reads one sheet of an xlsx file: header and rows as text.
fn read_sheet(bytes: &[u8], sheet: &str) -> (Vec<String>, Vec<Vec<String>>) {
    use dataport_plugin_sdk::{Cell, Options, Plugin};
    let source = Box::new(std::io::Cursor::new(bytes.to_vec()));
    let mut reader = dataport_format_xlsx::XlsxPlugin
        .open_reader("xlsx", &Options::new().with("sheet", sheet), source)
        .unwrap_or_else(|e| panic!("sheet {sheet}: {e}"));
    let (header, batch) = dataport_plugin_sdk::read_all(&mut *reader, 1000).unwrap();
    let rows = batch
        .rows
        .into_iter()
        .map(|r| {
            r.cells
                .into_iter()
                .map(|c| match c {
                    Cell::Text(s) => s,
                    Cell::Null => String::new(),
                    other => format!("{other:?}"),
                })
                .collect()
        })
        .collect();
    (header, rows)
}

/// The sheet names of an xlsx file, in order.
fn sheet_names(bytes: &[u8]) -> Vec<String> {
    let mut zip = zip::ZipArchive::new(std::io::Cursor::new(bytes.to_vec())).unwrap();
    let mut xml = String::new();
    std::io::Read::read_to_string(&mut zip.by_name("xl/workbook.xml").unwrap(), &mut xml).unwrap();
    xml.split("<sheet ")
        .skip(1)
        .map(|s| {
            let name = s.split("name=\"").nth(1).unwrap();
            name[..name.find('"').unwrap()].to_owned()
        })
        .collect()
}

/// (module, rows read, created, updated, skipped, failed) of each sheet of a report.
fn per_module(report: &v1::ImportJob) -> Vec<(v1::Module, String, [u64; 5])> {
    report
        .modules
        .iter()
        .map(|m| {
            (
                m.module(),
                m.sheet.clone(),
                [
                    m.rows_read,
                    m.rows_created,
                    m.rows_updated,
                    m.rows_skipped,
                    m.rows_failed,
                ],
            )
        })
        .collect()
}

async fn error_file(client: &mut AuthedClient, job_id: i64) -> (String, Vec<u8>) {
    let stream = client
        .get_error_file(v1::GetErrorFileRequest {
            job_id,
            format: "xlsx".into(),
            locale: 0,
        })
        .await
        .unwrap()
        .into_inner();
    file(stream).await
}

/// A workbook with one bad row per kind of problem: a customer without a name, a contact of
/// that (refused) customer and one of a customer nobody has, plus an opportunity sheet under
/// its English name.
fn mixed_workbook() -> Vec<u8> {
    let mut nameless = customer("C3");
    nameless[1].clear();
    workbook(&[
        (
            "客户",
            Module::Customers,
            vec![customer("C1"), customer("C2"), nameless],
        ),
        (
            "联系人",
            Module::Contacts,
            vec![
                contact("K1", "C1"),
                contact("K2", "C2"),
                contact("K3", "C3"),
                contact("K4", "C9"),
            ],
        ),
        (
            "Opportunities",
            Module::Opportunities,
            vec![opportunity("O1", "C2")],
        ),
    ])
}

on_both_backends! {
    async fn a_workbook_imports_every_module_in_dependency_order(server) {
        let mut client = server.client(&server.admin_token()).await;
        let run = import(&mut client, &Import::workbook("全部.xlsx"), &mixed_workbook()).await;
        let report = run.report();
        assert_eq!(report.module(), v1::Module::All);
        assert_eq!(run.status(), v1::JobStatus::PartiallySucceeded, "{report:?}");
        assert_eq!(run.counts(), (5, 0, 0, 3));
        assert_eq!(report.rows_read, 8);
        assert_eq!(
            per_module(report),
            [
                (v1::Module::Customers, "客户".to_owned(), [3, 2, 0, 0, 1]),
                (v1::Module::Contacts, "联系人".to_owned(), [4, 2, 0, 0, 2]),
                (v1::Module::Opportunities, "Opportunities".to_owned(), [1, 1, 0, 0, 0]),
            ]
        );
        // Each row error names its sheet's module and the row there.
        let errors: Vec<(v1::Module, u64, E)> = run.errors.iter().map(|e| (e.module(), e.row, e.code())).collect();
        assert_eq!(
            errors,
            [
                (v1::Module::Customers, 4, E::RequiredMissing),
                (v1::Module::Contacts, 4, E::UnknownReference),
                (v1::Module::Contacts, 5, E::UnknownReference),
            ]
        );
        // Contacts and the opportunity found the customers of the same workbook.
        assert_eq!(count(&mut client, Module::Customers).await, 2);
        assert_eq!(count(&mut client, Module::Contacts).await, 2);
        assert_eq!(count(&mut client, Module::Opportunities).await, 1);

        // The stored report is the same, and its errors page sheet by sheet.
        let stored = client
            .get_import_job(v1::GetImportJobRequest {
                job_id: run.job_id,
                error_limit: 10,
                errors_after_row: 0,
                errors_after_module: v1::Module::Contacts as i32,
            })
            .await
            .unwrap()
            .into_inner();
        assert_eq!(per_module(stored.job.as_ref().unwrap()), per_module(report));
        assert_eq!(stored.total_errors, 3);
        let contact_errors: Vec<(v1::Module, u64)> = stored.errors.iter().map(|e| (e.module(), e.row)).collect();
        assert_eq!(contact_errors, [(v1::Module::Contacts, 4), (v1::Module::Contacts, 5)]);

        // The error file is a workbook again: a sheet per module, each with 错误原因.
        let (name, bytes) = error_file(&mut client, run.job_id).await;
        assert!(name.ends_with(".xlsx"), "{name}");
        assert_eq!(sheet_names(&bytes), ["客户", "联系人", "商机"]);
        let (header, rows) = read_sheet(&bytes, "客户");
        assert_eq!(header.last().map(String::as_str), Some("错误原因"));
        assert_eq!(rows.len(), 1);
        assert_eq!(rows[0][0], "C3");
        assert!(rows[0].last().unwrap().starts_with("第4行"), "{rows:?}");
        let (header, rows) = read_sheet(&bytes, "联系人");
        assert_eq!(header.last().map(String::as_str), Some("错误原因"));
        let codes: Vec<&str> = rows.iter().map(|r| r[0].as_str()).collect();
        assert_eq!(codes, ["K3", "K4"]);
        assert!(rows[1].last().unwrap().contains("C9"), "{rows:?}");
        let (header, rows) = read_sheet(&bytes, "商机");
        assert_eq!(header.last().map(String::as_str), Some("错误原因"));
        assert!(rows.is_empty(), "{rows:?}");

        // Fixed, the error file imports back with MODULE_ALL: the customer first, then its contact.
        let fixed = workbook(&[
            ("客户", Module::Customers, vec![customer("C3")]),
            ("联系人", Module::Contacts, vec![contact("K3", "C3")]),
        ]);
        let again = import(&mut client, &Import::workbook("修正.xlsx"), &fixed).await;
        assert_eq!((again.status(), again.counts()), (v1::JobStatus::Succeeded, (2, 0, 0, 0)));
        assert_eq!(per_module(again.report()).len(), 2, "a module without its sheet is not imported");
    }

    async fn all_or_nothing_covers_the_whole_workbook(server) {
        let mut client = server.client(&server.admin_token()).await;
        let good = || {
            vec![
                ("客户", Module::Customers, vec![customer("A1"), customer("A2")]),
                ("contacts", Module::Contacts, vec![contact("P1", "A1"), contact("P2", "A2")]),
            ]
        };
        // One bad opportunity in the last sheet: nothing of any sheet is kept.
        let mut sheets = good();
        sheets.push(("商机", Module::Opportunities, vec![opportunity("Q1", "A1"), opportunity("Q2", "NOPE")]));
        let run = import(&mut client, &Import::workbook("all.xlsx").all_or_nothing(), &workbook(&sheets)).await;
        assert_eq!(run.status(), v1::JobStatus::Failed, "{:?}", run.report());
        assert_eq!(run.counts(), (0, 0, 0, 1));
        assert_eq!(run.error_list(), [(3, "客户编号".to_owned(), E::UnknownReference)]);
        for sheet in &run.report().modules {
            assert_eq!((sheet.rows_created, sheet.rows_updated), (0, 0), "{sheet:?}");
        }
        for module in Module::ALL {
            assert_eq!(count(&mut client, module).await, 0, "{module}");
        }

        // A dry run of the good workbook checks the contacts against the customers it would
        // create, and writes nothing.
        let bytes = workbook(&good());
        let dry = import(&mut client, &Import::workbook("all.xlsx").dry_run(), &bytes).await;
        assert_eq!((dry.status(), dry.counts()), (v1::JobStatus::Succeeded, (4, 0, 0, 0)));
        assert_eq!(count(&mut client, Module::Customers).await, 0);

        // Without the bad row, the whole workbook commits in one transaction.
        let run = import(&mut client, &Import::workbook("all.xlsx").all_or_nothing(), &bytes).await;
        assert_eq!((run.status(), run.counts()), (v1::JobStatus::Succeeded, (4, 0, 0, 0)));
        assert_eq!(
            per_module(run.report()),
            [
                (v1::Module::Customers, "客户".to_owned(), [2, 2, 0, 0, 0]),
                (v1::Module::Contacts, "contacts".to_owned(), [2, 2, 0, 0, 0]),
            ]
        );
        assert_eq!(count(&mut client, Module::Contacts).await, 2);

        // Reverting the job takes back every sheet, contacts before their customers.
        let mut stream = client
            .revert_import(v1::RevertImportRequest { job_id: run.job_id, ..Default::default() })
            .await
            .unwrap()
            .into_inner();
        while crate::support::next_within(&mut stream, "the next revert event").await.is_some() {}
        for module in Module::ALL {
            assert_eq!(count(&mut client, module).await, 0, "{module} after the revert");
        }
    }
}

#[tokio::test]
async fn workbook_imports_refuse_what_cannot_be_a_workbook() {
    let server = TestServer::start();
    let mut client = server.client(&server.admin_token()).await;
    // A csv file holds one table.
    let status = refused_import(&mut client, &Import::workbook("全部.csv")).await;
    assert_invalid(&status, "spec.format");
    assert!(status.message().contains("xlsx"), "{}", status.message());
    // The sheets are the workbook's business.
    let status = refused_import(
        &mut client,
        &Import::workbook("全部.xlsx").option("sheet", "客户"),
    )
    .await;
    assert_invalid(&status, "spec.options");
    let status = refused_import(
        &mut client,
        &Import::workbook("全部.xlsx").default_value("owner", "张伟"),
    )
    .await;
    assert_invalid(&status, "spec.defaults");
    // Calls about one module's records say MODULE_ALL is not for them.
    let status = client
        .count_records(v1::CountRecordsRequest {
            module: v1::Module::All as i32,
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_invalid(&status, "module");
    assert!(status.message().contains("MODULE_ALL"), "{}", status.message());

    // A workbook without any module sheet fails, naming the sheets it looks for.
    let other = workbook(&[("Sheet1", Module::Customers, vec![customer("Z1")])]);
    let run = import(&mut client, &Import::workbook("other.xlsx"), &other).await;
    assert_eq!(run.status(), v1::JobStatus::Failed);
    assert_eq!(run.report().error_code(), E::HeaderMismatch);
    assert!(
        run.report()
            .error_message
            .contains("客户 / Customers / customers"),
        "{}",
        run.report().error_message
    );

    // A sheet with the wrong header stops the job there, and the message names the sheet.
    let mut book = rust_xlsxwriter::Workbook::new();
    book.add_worksheet()
        .set_name("客户")
        .unwrap()
        .write_string(0, 0, "编号")
        .unwrap();
    let run = import(
        &mut client,
        &Import::workbook("bad.xlsx"),
        &book.save_to_buffer().unwrap(),
    )
    .await;
    assert_eq!(run.report().error_code(), E::HeaderMismatch);
    assert!(
        run.report().error_message.starts_with("工作表「客户」"),
        "{}",
        run.report().error_message
    );
    assert_eq!(run.errors[0].module(), v1::Module::Customers);
}

/// `dataport template all` gives the workbook: a data sheet and a 填写说明 sheet per module;
/// it imports back as is with `dataport import --module all`, which prints each sheet's counts.
#[tokio::test]
async fn the_workbook_template_has_every_module_and_imports_back() {
    let server = TestServer::start();
    let out = server.cli(&[
        "template",
        "all",
        "--output",
        "全部.xlsx",
        "--server",
        &server.url(),
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stdout(&out).contains("import workbook of all modules"),
        "{}",
        stdout(&out)
    );
    let path = server.dir.path().join("全部.xlsx");
    let bytes = std::fs::read(&path).unwrap();
    assert_eq!(
        sheet_names(&bytes),
        [
            "客户",
            "客户填写说明",
            "联系人",
            "联系人填写说明",
            "商机",
            "商机填写说明"
        ]
    );
    for module in Module::ALL {
        let (header, rows) = read_sheet(&bytes, module.label_zh());
        let expected = dataport_core::header::template_header(module, dataport_core::Locale::ZhCn);
        assert_eq!(header, expected, "{module}");
        assert!(rows.is_empty());
        let (_, fields) = read_sheet(&bytes, &format!("{}填写说明", module.label_zh()));
        assert_eq!(fields.len(), module.fields().len(), "{module}");
    }
    // csv holds one table.
    let out = server.cli(&["template", "all", "--format", "csv", "--server", &server.url()]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("xlsx"), "{}", stderr(&out));

    // Filled in (here: a customer and its contact), it imports in one job.
    let filled = workbook(&[
        ("客户", Module::Customers, vec![customer("T1")]),
        ("客户填写说明", Module::Customers, vec![]),
        ("联系人", Module::Contacts, vec![contact("T1-K", "T1")]),
        ("商机", Module::Opportunities, vec![]),
    ]);
    std::fs::write(server.dir.path().join("filled.xlsx"), filled).unwrap();
    let out = server.cli(&[
        "import",
        "filled.xlsx",
        "--module",
        "all",
        "--server",
        &server.url(),
    ]);
    let printed = stdout(&out);
    assert_eq!(out.status.code(), Some(0), "{printed}{}", stderr(&out));
    assert!(printed.contains("2 rows read: 2 created"), "{printed}");
    assert!(
        printed.contains("sheet 客户: 1 rows read: 1 created"),
        "{printed}"
    );
    assert!(
        printed.contains("sheet 联系人: 1 rows read: 1 created"),
        "{printed}"
    );
    assert!(printed.contains("sheet 商机: 0 rows read"), "{printed}");
}

/// kill -9 while the contacts sheet is being imported: the job becomes INTERRUPTED with its
/// watermark in that sheet (on SQLite when the server starts again, on PostgreSQL when the
/// surviving replica finds the lease expired), and the same request resumes there — the
/// customers are not imported twice, and every count ends exact.
async fn a_killed_workbook_import_resumes_in_the_sheet_it_stopped_in(backend: harness::Backend) {
    const CUSTOMERS: usize = 5_000;
    const CONTACTS: usize = 150_000;
    let args = ["--import-batch-rows", "500", "--job-lease-secs", "2"];
    let (server, mut survivor) = match backend {
        harness::Backend::Sqlite => (TestServer::start_in(tempfile::tempdir().unwrap(), &args), None),
        harness::Backend::Postgres => {
            let mut first =
                TestServer::start_on(backend, &args).expect("DATAPORT_TEST_DATABASE_URL (CI is set)");
            let mut second = first.replica(&args);
            second.adopt_database(&mut first);
            (first, Some(second))
        }
    };
    let customers: Vec<Vec<String>> = (0..CUSTOMERS).map(|i| customer(&format!("W{i}"))).collect();
    let contacts: Vec<Vec<String>> = (0..CONTACTS)
        .map(|i| contact(&format!("WK{i}"), &format!("W{}", i % CUSTOMERS)))
        .collect();
    let bytes = workbook(&[
        ("客户", Module::Customers, customers),
        ("联系人", Module::Contacts, contacts),
    ]);
    let request = Import::workbook("big.xlsx").request_id("workbook-resume");
    let token = server.admin_token();
    let mut client = server.client(&token).await;
    let importing = {
        let (mut client, request, bytes) = (client.clone(), request.clone(), bytes.clone());
        tokio::spawn(async move {
            let mut messages = vec![request.spec(bytes.len() as u64)];
            messages.extend(bytes.chunks(64 * 1024).map(|c| v1::ImportRequest {
                message: Some(v1::import_request::Message::Chunk(c.to_vec())),
            }));
            // The stream breaks off when the server dies.
            if let Ok(response) = client.import(tokio_stream::iter(messages)).await {
                let mut stream = response.into_inner();
                while let Ok(Some(_)) = stream.message().await {}
            }
        })
    };
    // Wait until contacts are being committed, then kill the server.
    let deadline = Instant::now() + harness::WAIT;
    let job = loop {
        assert!(
            Instant::now() < deadline,
            "the import never reached the contacts sheet"
        );
        let jobs = crate::support::jobs(&mut client).await;
        if let Some(job) = jobs
            .into_iter()
            .find(|j| j.watermark_module() == v1::Module::Contacts)
        {
            break job;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert_eq!(job.status(), v1::JobStatus::Running, "{job:?}");
    let dir = server.kill9();
    importing.await.unwrap();

    // SQLite: the same database, started again; PostgreSQL: the replica that survived.
    let server = match survivor.take() {
        Some(replica) => replica,
        None => TestServer::start_in(dir, &args),
    };
    let mut client = server.client(&token).await;
    let interrupted = crate::import::job_once_ended(&mut client, job.id).await;
    assert_eq!(
        interrupted.status(),
        v1::JobStatus::Interrupted,
        "{interrupted:?}"
    );
    assert_eq!(
        interrupted.watermark_module(),
        v1::Module::Contacts,
        "{interrupted:?}"
    );
    let sheets = per_module(&interrupted);
    assert_eq!(
        sheets[0],
        (
            v1::Module::Customers,
            "客户".to_owned(),
            [CUSTOMERS as u64, CUSTOMERS as u64, 0, 0, 0]
        )
    );
    let committed_contacts = count(&mut client, Module::Contacts).await;
    assert_eq!(
        sheets[1].2[1], committed_contacts,
        "the report equals the database"
    );
    assert!(
        committed_contacts < CONTACTS as u64,
        "killed before the end: {interrupted:?}"
    );

    let run = import(&mut client, &request, &bytes).await;
    assert_eq!(run.status(), v1::JobStatus::Succeeded, "{:?}", run.report());
    assert_eq!(run.report().id, job.id);
    assert_eq!(run.report().attempts, 2);
    assert_eq!(
        run.counts(),
        ((CUSTOMERS + CONTACTS) as u64, 0, 0, 0),
        "nothing twice, nothing skipped"
    );
    assert_eq!(
        per_module(run.report()),
        [
            (
                v1::Module::Customers,
                "客户".to_owned(),
                [CUSTOMERS as u64, CUSTOMERS as u64, 0, 0, 0]
            ),
            (
                v1::Module::Contacts,
                "联系人".to_owned(),
                [CONTACTS as u64, CONTACTS as u64, 0, 0, 0]
            ),
        ]
    );
    assert_eq!(count(&mut client, Module::Customers).await, CUSTOMERS as u64);
    assert_eq!(count(&mut client, Module::Contacts).await, CONTACTS as u64);
}

mod a_killed_workbook_import_resumes {
    use super::*;

    #[tokio::test]
    async fn sqlite() {
        a_killed_workbook_import_resumes_in_the_sheet_it_stopped_in(harness::Backend::Sqlite).await;
    }

    #[tokio::test]
    #[cfg_attr(
        not(dataport_postgres_tests),
        ignore = "set DATAPORT_TEST_DATABASE_URL to run the PostgreSQL end-to-end tests"
    )]
    async fn postgres() {
        a_killed_workbook_import_resumes_in_the_sheet_it_stopped_in(harness::Backend::Postgres).await;
    }
}
