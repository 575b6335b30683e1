//! Typed record streams and `dataport migrate` between a SQLite and a PostgreSQL instance.

use crate::harness::OutputWithin;
use std::collections::BTreeMap;

use dataport_client::{AuthedClient, v1};
use dataport_core::Module;
use sha2::{Digest, Sha256};

use crate::harness::{Backend, TestServer, stderr, stdout};

fn text(s: &str) -> v1::Value {
    v1::Value {
        kind: Some(v1::value::Kind::Text(s.to_owned())),
    }
}

fn cents(c: i64) -> v1::Value {
    v1::Value {
        kind: Some(v1::value::Kind::Cents(c)),
    }
}

fn date(d: &str) -> v1::Value {
    v1::Value {
        kind: Some(v1::value::Kind::Date(d.to_owned())),
    }
}

fn null() -> v1::Value {
    v1::Value::default()
}

/// Streams `batches` into a `records` import and returns the report.
async fn import_records(
    client: &mut AuthedClient,
    module: Module,
    batches: Vec<v1::RecordBatch>,
) -> (v1::ImportJob, Vec<v1::RowError>) {
    let mut messages = vec![v1::ImportRequest {
        message: Some(v1::import_request::Message::Spec(v1::ImportSpec {
            module: dataport_client::convert::module_to_proto(module) as i32,
            format: "records".into(),
            file_name: "service".into(),
            ..Default::default()
        })),
    }];
    messages.extend(batches.into_iter().map(|b| v1::ImportRequest {
        message: Some(v1::import_request::Message::Records(b)),
    }));
    let mut stream = client
        .import(tokio_stream::iter(messages))
        .await
        .unwrap()
        .into_inner();
    let mut errors = Vec::new();
    let mut report = None;
    while let Some(event) = crate::support::next_within(&mut stream, "the next event").await {
        match event.unwrap().event {
            Some(v1::import_event::Event::RowError(e)) => errors.push(e),
            Some(v1::import_event::Event::Completed(c)) => report = c.report,
            _ => {}
        }
    }
    (report.unwrap(), errors)
}

/// Batches of `n` records made by `make(i)`.
fn batches(fields: &[&str], n: usize, make: impl Fn(usize) -> Vec<v1::Value>) -> Vec<v1::RecordBatch> {
    (0..n)
        .collect::<Vec<_>>()
        .chunks(2000)
        .map(|chunk| v1::RecordBatch {
            fields: fields.iter().map(|f| f.to_string()).collect(),
            records: chunk.iter().map(|&i| v1::Record { values: make(i) }).collect(),
        })
        .collect()
}

/// An order-independent checksum of every field of every record of a module, with the count.
async fn checksum(client: &mut AuthedClient, module: Module) -> (u64, u128) {
    let (mut rows, mut sum) = (0u64, 0u128);
    crate::support::each_exported_record(client, module, |fields, record| {
        let mut hasher = Sha256::new();
        for (field, value) in fields.iter().zip(&record.values) {
            hasher.update(format!("{field}={:?}\u{1f}", value.kind).as_bytes());
        }
        let digest = hasher.finalize();
        sum = sum.wrapping_add(u128::from_le_bytes(digest[..16].try_into().unwrap()));
        rows += 1;
    })
    .await;
    (rows, sum)
}

#[tokio::test]
async fn record_streams_import_with_the_same_rules_as_files() {
    let server = TestServer::start();
    let mut client = server.client(&server.admin_token()).await;
    // Any order of fields, required ones present; values typed.
    let fields = ["name", "code", "owner", "contract_amount", "created_at", "level"];
    let records = batches(&fields, 5, |i| {
        vec![
            text(&format!("公司{i}")),
            text(&format!("R{i}")),
            text("张伟"),
            cents(12_345_678),
            date("2023-10-01"),
            if i == 3 { text("SVIP") } else { null() },
        ]
    });
    let (report, errors) = import_records(&mut client, Module::Customers, records).await;
    assert_eq!((report.rows_created, report.rows_failed), (4, 1));
    assert_eq!(report.format, "records");
    assert_eq!(
        (errors[0].row, errors[0].field.as_str(), errors[0].code()),
        (4, "level", v1::ErrorCode::InvalidEnum)
    );

    // Exported back as records: every field, typed, amounts as exact cents.
    let mut stream = client
        .export(v1::ExportRequest {
            module: v1::Module::Customers as i32,
            format: "records".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    let mut first = None;
    while let Some(event) = crate::support::next_within(&mut stream, "the next event").await {
        if let Some(v1::export_event::Event::Records(batch)) = event.unwrap().event {
            first.get_or_insert(batch);
        }
    }
    let batch = first.unwrap();
    assert_eq!(batch.fields.len(), 12);
    assert_eq!(batch.fields[8], "contract_amount");
    assert_eq!(batch.records[0].values[8], cents(12_345_678));
    assert_eq!(batch.records[0].values[11], date("2023-10-01"));
    assert_eq!(batch.records[0].values[2], null(), "an empty field is unset");

    // A stream whose fields lack a required one is a header problem.
    let (report, _) = import_records(
        &mut client,
        Module::Customers,
        batches(&["code"], 1, |_| vec![text("X")]),
    )
    .await;
    assert_eq!(report.error_code(), v1::ErrorCode::HeaderMismatch);
}

/// `dataport migrate` from `source` to `target` with both servers' admin tokens, run in the
/// source's directory.
fn migrate(source: &TestServer, target: &TestServer, extra: &[&str]) -> std::process::Output {
    std::process::Command::new(crate::harness::dataport_bin())
        .args(["migrate", "--from", &source.url(), "--to", &target.url()])
        .args(extra)
        .env("DATAPORT_FROM_TOKEN", source.admin_token())
        .env("DATAPORT_TO_TOKEN", target.admin_token())
        .current_dir(source.dir.path())
        .output_within()
}

#[tokio::test]
async fn migrate_copies_everything_from_sqlite_to_postgresql() {
    let source = TestServer::start();
    // PostgreSQL whenever it is configured (always in CI); SQLite otherwise, so the copy is
    // still exercised on a developer machine without PostgreSQL.
    let target = TestServer::start_on(Backend::Postgres, &[]).unwrap_or_else(TestServer::start);
    let mut client = source.client(&source.admin_token()).await;

    const CUSTOMERS: usize = 100_000;
    const CONTACTS: usize = 30_000;
    const OPPORTUNITIES: usize = 30_000;
    let customer_fields = [
        "code",
        "name",
        "industry",
        "phone",
        "owner",
        "level",
        "follow_up_status",
        "address",
        "contract_amount",
        "follow_up_notes",
        "remarks",
        "created_at",
    ];
    let levels = ["VIP", "重要", "普通"];
    let (report, _) = import_records(
        &mut client,
        Module::Customers,
        batches(&customer_fields, CUSTOMERS, |i| {
            vec![
                text(&format!("CUST{i:07}")),
                text(&format!("客户{i}号有限公司, \"测试\"")),
                text("金融"),
                text(&format!("+86 138{i:08}")),
                text(["张伟", "王芳", "李娜"][i % 3]),
                text(levels[i % 3]),
                text("待跟进"),
                if i % 2 == 0 {
                    text("北京市\n海淀区")
                } else {
                    null()
                },
                cents(i as i64 * 101),
                null(),
                if i % 5 == 0 { text("=SUM(A1)") } else { null() },
                date(&format!("20{:02}-0{}-1{}", 10 + i % 15, 1 + i % 9, i % 10)),
            ]
        }),
    )
    .await;
    assert_eq!(report.rows_created, CUSTOMERS as u64, "{report:?}");
    let contact_fields = [
        "code",
        "customer_code",
        "name",
        "title",
        "phone",
        "email",
        "is_primary",
        "remarks",
    ];
    let (report, _) = import_records(
        &mut client,
        Module::Contacts,
        batches(&contact_fields, CONTACTS, |i| {
            vec![
                text(&format!("CON{i:07}")),
                text(&format!("CUST{:07}", i * 3)),
                text("王芳"),
                text("采购经理"),
                null(),
                text(&format!("c{i}@example.com")),
                v1::Value {
                    kind: Some(v1::value::Kind::Bool(i % 2 == 0)),
                },
                null(),
            ]
        }),
    )
    .await;
    assert_eq!(report.rows_created, CONTACTS as u64, "{report:?}");
    let opportunity_fields = [
        "code",
        "customer_code",
        "name",
        "stage",
        "amount",
        "expected_close_date",
        "owner",
        "remarks",
    ];
    let (report, _) = import_records(
        &mut client,
        Module::Opportunities,
        batches(&opportunity_fields, OPPORTUNITIES, |i| {
            vec![
                text(&format!("OPP{i:07}")),
                text(&format!("CUST{:07}", i * 2)),
                text("年度采购"),
                text("方案报价"),
                cents(999_999_999_999_999 - i as i64),
                date("2025-06-30"),
                text("张伟"),
                null(),
            ]
        }),
    )
    .await;
    assert_eq!(report.rows_created, OPPORTUNITIES as u64, "{report:?}");

    let out = migrate(
        &source,
        &target,
        &["--modules", "opportunities,contacts,customers"],
    );
    assert!(out.status.success(), "{}\n{}", stdout(&out), stderr(&out));
    let table = stdout(&out);
    // Customers first, so contacts and opportunities find theirs.
    let order: Vec<&str> = table
        .lines()
        .skip(1)
        .filter_map(|l| l.split_whitespace().next())
        .collect();
    assert_eq!(&order[..3], ["customers", "contacts", "opportunities"], "{table}");

    let mut copy = target.client(&target.admin_token()).await;
    let mut sums = BTreeMap::new();
    for module in [Module::Customers, Module::Contacts, Module::Opportunities] {
        let original = checksum(&mut client, module).await;
        let copied = checksum(&mut copy, module).await;
        assert_eq!(copied, original, "{module}");
        sums.insert(module.as_str(), original.0);
    }
    assert_eq!(sums["customers"], CUSTOMERS as u64);
    assert_eq!(sums["contacts"], CONTACTS as u64);

    // Running it again updates in place and changes nothing.
    let out = migrate(&source, &target, &["--modules", "contacts"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        checksum(&mut copy, Module::Contacts).await,
        checksum(&mut client, Module::Contacts).await
    );
}

/// A CRM with customers but no contacts or opportunities: the empty modules migrate as
/// successes with 0 records (they were HEADER_MISMATCH, "缺少第1列", before).
#[tokio::test]
async fn migrate_with_empty_modules_succeeds_with_zero_records() {
    let source = TestServer::start();
    let target = TestServer::start();
    let mut client = source.client(&source.admin_token()).await;
    let owned = [crate::support::customer("E1"), crate::support::customer("E2")];
    let customers = crate::support::rows(&owned);
    let run = crate::support::import(
        &mut client,
        &crate::support::Import::new(Module::Customers, "e.csv"),
        &crate::support::csv(Module::Customers, &customers),
    )
    .await;
    assert_eq!(run.counts(), (2, 0, 0, 0));

    let out = migrate(&source, &target, &[]);
    assert!(out.status.success(), "{}\n{}", stdout(&out), stderr(&out));
    let table = stdout(&out);
    for module in ["customers", "contacts", "opportunities"] {
        let line = table
            .lines()
            .find(|l| l.split_whitespace().next() == Some(module))
            .unwrap_or_else(|| panic!("no {module} line in\n{table}"));
        assert!(line.contains("succeeded"), "{line}");
    }
    let mut copy = target.client(&target.admin_token()).await;
    assert_eq!(crate::import::count(&mut copy, Module::Customers).await, 2);
    assert_eq!(crate::import::count(&mut copy, Module::Contacts).await, 0);
}

#[tokio::test]
async fn migrate_explains_a_wrong_token_for_either_side() {
    let source = TestServer::start();
    let target = TestServer::start();
    let out = std::process::Command::new(crate::harness::dataport_bin())
        .args([
            "migrate",
            "--from",
            &source.url(),
            "--to",
            &target.url(),
            "--modules",
            "customers",
        ])
        .env("DATAPORT_FROM_TOKEN", source.admin_token())
        .env("DATAPORT_TO_TOKEN", "dp_wrong")
        .current_dir(source.dir.path())
        .output_within();
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("error [UNAUTHENTICATED]: "),
        "{}",
        stderr(&out)
    );
}

/// kill -9 of the target in the middle of a migration, a restart, and the same `dataport
/// migrate` again (same --request-id: the restarted target listens elsewhere): the module's job
/// resumes past its watermark, and the copy ends with every record exactly once.
#[tokio::test]
async fn a_migration_cut_off_by_a_killed_target_resumes_where_it_stopped() {
    const CUSTOMERS: usize = 60_000;
    let source = TestServer::start();
    let mut client = source.client(&source.admin_token()).await;
    let (report, _) = import_records(
        &mut client,
        Module::Customers,
        batches(&["code", "name", "owner"], CUSTOMERS, |i| {
            vec![
                text(&format!("MIG{i:07}")),
                text(&format!("客户{i}号有限公司")),
                text("张伟"),
            ]
        }),
    )
    .await;
    assert_eq!(report.rows_created, CUSTOMERS as u64);
    let target = TestServer::start_in(tempfile::tempdir().unwrap(), &["--import-batch-rows", "500"]);
    let target_token = target.admin_token();
    let migrate = |to: &str| {
        let mut command = std::process::Command::new(crate::harness::dataport_bin());
        command
            .args(["migrate", "--from", &source.url(), "--to", to])
            .args([
                "--modules",
                "customers",
                "--request-id",
                "fair-move",
                "--retries",
                "0",
            ])
            .env("DATAPORT_FROM_TOKEN", source.admin_token())
            .env("DATAPORT_TO_TOKEN", &target_token)
            .current_dir(source.dir.path())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped());
        command
    };
    let mut first = migrate(&target.url()).spawn().expect("spawn dataport migrate");
    let mut copy = target.client(&target_token).await;
    let deadline = std::time::Instant::now() + crate::harness::WAIT;
    loop {
        assert!(
            std::time::Instant::now() < deadline,
            "the migration never committed a batch"
        );
        let jobs = copy
            .list_import_jobs(v1::ListImportJobsRequest::default())
            .await
            .unwrap()
            .into_inner()
            .jobs;
        if jobs.first().is_some_and(|j| j.rows_created > 0) {
            assert_eq!(
                jobs[0].status(),
                v1::JobStatus::Running,
                "the copy is still running"
            );
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    let dir = target.kill9();
    let status = first.wait().expect("wait for migrate");
    assert!(!status.success(), "the cut-off migration fails");

    let target = TestServer::start_in(dir, &["--import-batch-rows", "500"]);
    let out = migrate(&target.url()).output_within();
    assert!(out.status.success(), "{}\n{}", stdout(&out), stderr(&out));
    assert!(stderr(&out).contains("resuming at record"), "{}", stderr(&out));
    let mut copy = target.client(&target_token).await;
    assert_eq!(
        checksum(&mut copy, Module::Customers).await,
        checksum(&mut client, Module::Customers).await,
        "every record exactly once"
    );
    let jobs = copy
        .list_import_jobs(v1::ListImportJobsRequest::default())
        .await
        .unwrap()
        .into_inner()
        .jobs;
    assert_eq!(jobs.len(), 1, "{jobs:?}");
    assert_eq!(
        (jobs[0].status(), jobs[0].attempts),
        (v1::JobStatus::Succeeded, 2)
    );
    assert_eq!(jobs[0].rows_created, CUSTOMERS as u64);
}

/// An all-or-nothing record stream on SQLite is received whole before its job takes the
/// writer; it still commits as a whole, or not at all when a record fails.
#[tokio::test]
async fn an_all_or_nothing_record_stream_commits_as_a_whole() {
    let server = TestServer::start();
    let mut client = server.client(&server.admin_token()).await;
    let stream_of = |bad: bool| {
        let mut messages = vec![v1::ImportRequest {
            message: Some(v1::import_request::Message::Spec(v1::ImportSpec {
                module: dataport_client::convert::module_to_proto(Module::Customers) as i32,
                format: "records".into(),
                on_error: v1::OnError::AllOrNothing as i32,
                file_name: "service".into(),
                ..Default::default()
            })),
        }];
        messages.extend(
            batches(&["code", "name", "owner"], 5_000, |i| {
                let owner = if bad && i == 4_321 { "" } else { "张伟" };
                vec![
                    text(&format!("AON{i:05}")),
                    text(&format!("客户{i}号有限公司")),
                    text(owner),
                ]
            })
            .into_iter()
            .map(|b| v1::ImportRequest {
                message: Some(v1::import_request::Message::Records(b)),
            }),
        );
        messages
    };
    for (bad, status, created) in [
        (true, v1::JobStatus::Failed, 0),
        (false, v1::JobStatus::Succeeded, 5_000),
    ] {
        let mut events = client
            .import(tokio_stream::iter(stream_of(bad)))
            .await
            .unwrap()
            .into_inner();
        let mut report = None;
        while let Some(event) = crate::support::next_within(&mut events, "Completed").await {
            if let Some(v1::import_event::Event::Completed(c)) = event.unwrap().event {
                report = c.report;
            }
        }
        let report = report.expect("Completed");
        assert_eq!(
            (report.status(), report.rows_created),
            (status, created),
            "{report:?}"
        );
    }
    assert_eq!(checksum(&mut client, Module::Customers).await.0, 5_000);
}
