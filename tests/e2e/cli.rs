//! The command-line client against a running server.

use crate::harness::OutputWithin;
use crate::harness::{TestServer, run_cli, stderr, stdout};

#[tokio::test]
async fn count_reads_the_token_file_and_applies_filters() {
    let server = TestServer::start();
    let url = server.url();
    let output = server.cli(&[
        "count",
        "--module",
        "customers",
        "--level",
        "VIP",
        "--owner",
        "张伟",
        "--server",
        &url,
    ]);
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(stdout(&output).starts_with("共0条"), "{}", stdout(&output));

    let misplaced = server.cli(&[
        "count",
        "--module",
        "customers",
        "--stage",
        "赢单",
        "--server",
        &url,
    ]);
    assert!(!misplaced.status.success());
    assert!(
        stderr(&misplaced).contains("--stage cannot filter customers"),
        "{}",
        stderr(&misplaced)
    );

    let bad_date = server.cli(&[
        "count",
        "--module",
        "商机",
        "--close-from",
        "2024/01/01",
        "--server",
        &url,
    ]);
    assert!(!bad_date.status.success());
    assert!(
        stderr(&bad_date).contains("is not a date"),
        "{}",
        stderr(&bad_date)
    );

    // A value no record can have is an error naming the valid ones, not a silent 共0条.
    for (flag, value, valid) in [
        ("--level", "钻石", "VIP, 重要, 普通"),
        ("--status", "跟进", "待跟进, 跟进中, 已成交, 已流失"),
    ] {
        let unknown = server.cli(&["count", "--module", "customers", flag, value, "--server", &url]);
        assert!(!unknown.status.success(), "{flag} {value}");
        let message = stderr(&unknown);
        assert!(
            message.contains(&format!("'{value}'")) && message.contains(valid),
            "{message}"
        );
    }
    let unknown_stage = server.cli(&["count", "--module", "商机", "--stage", "赢单了", "--server", &url]);
    assert!(
        stderr(&unknown_stage).contains("初步接洽, 需求确认"),
        "{}",
        stderr(&unknown_stage)
    );
}

#[tokio::test]
async fn jobs_list_works_with_the_token_from_the_environment() {
    let server = TestServer::start();
    let output = std::process::Command::new(crate::harness::dataport_bin())
        .args([
            "jobs",
            "list",
            "--server",
            &server.url(),
            "--token-file",
            "/nonexistent",
        ])
        .env("DATAPORT_TOKEN", server.admin_token())
        .output_within();
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(stdout(&output).starts_with("id"), "{}", stdout(&output));
}

#[test]
fn client_commands_explain_a_missing_token_and_an_absent_server() {
    let dir = tempfile::tempdir().unwrap();
    let output = run_cli(dir.path(), &["count", "--module", "customers"]);
    assert!(!output.status.success());
    assert!(stderr(&output).contains("no API token"), "{}", stderr(&output));

    let free_port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let output = run_cli(
        dir.path(),
        &[
            "count",
            "--module",
            "customers",
            "--token",
            "dp_x",
            "--server",
            &format!("http://127.0.0.1:{free_port}"),
        ],
    );
    assert!(!output.status.success());
    assert!(
        stderr(&output).contains("is `dataport serve` running there?"),
        "{}",
        stderr(&output)
    );
}

#[tokio::test]
async fn jobs_show_and_list_print_canonical_proto3_json() {
    use crate::support::{csv, customer, rows};
    use dataport_client::v1;
    use dataport_core::Module;

    let server = TestServer::start();
    let url = server.url();
    // No job yet: the empty ListImportJobsResponse, whose every field is at its default.
    let empty = server.cli(&["jobs", "list", "--json", "--server", &url]);
    assert!(empty.status.success(), "{}", stderr(&empty));
    let empty: serde_json::Value = serde_json::from_str(&stdout(&empty)).expect("one JSON document");
    assert_eq!(empty, serde_json::json!({}));

    // Two good rows and one with an invalid 客户等级: partially succeeded.
    let mut bad = customer("J3");
    bad[5] = "SVIP".into();
    std::fs::write(
        server.dir.path().join("json.csv"),
        csv(Module::Customers, &rows(&[customer("J1"), customer("J2"), bad])),
    )
    .unwrap();
    let out = server.cli(&["import", "json.csv", "--module", "customers", "--server", &url]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));

    let list = server.cli(&["jobs", "list", "--json", "--server", &url]);
    assert!(list.status.success(), "{}", stderr(&list));
    let list: serde_json::Value = serde_json::from_str(&stdout(&list)).expect("one JSON document");
    let jobs = list["jobs"].as_array().expect("a jobs array");
    assert_eq!(jobs.len(), 1, "{list}");
    let listed = &jobs[0];
    // int64 ids are JSON strings in proto3 JSON.
    let id = listed["id"].as_str().expect("the id as a string").to_owned();

    let show = server.cli(&["jobs", "show", &id, "--json", "--server", &url]);
    assert!(show.status.success(), "{}", stderr(&show));
    let text = stdout(&show);
    let job: serde_json::Value = serde_json::from_str(&text).expect("one JSON document");
    assert_eq!(&job, listed, "show and list print the same ImportJob");
    // Enums by value name, 64-bit integers as strings, lowerCamelCase names.
    assert_eq!(job["status"], "JOB_STATUS_PARTIALLY_SUCCEEDED", "{text}");
    assert_eq!(job["module"], "MODULE_CUSTOMERS", "{text}");
    assert_eq!(job["mode"], "IMPORT_MODE_INSERT", "{text}");
    assert_eq!(job["rowsRead"], "3", "{text}");
    assert_eq!(job["rowsCreated"], "2", "{text}");
    assert_eq!(job["rowsFailed"], "1", "{text}");
    assert_eq!(job["fileName"], "json.csv", "{text}");
    assert!(
        job["finishedAtUnixMs"]
            .as_str()
            .is_some_and(|ms| ms.parse::<i64>().unwrap() > 0),
        "{text}"
    );
    // Fields at their default value are omitted: no updates, no skips, not a dry run, no error.
    for absent in [
        "rowsUpdated",
        "rowsSkipped",
        "dryRun",
        "errorMessage",
        "errorCode",
        "rows_created",
    ] {
        assert!(job.get(absent).is_none(), "{absent} in {text}");
    }

    // It is the very message the server sends: parsed back, it equals GetImportJob's job.
    let mut client = server.client(&server.admin_token()).await;
    let reported = client
        .get_import_job(v1::GetImportJobRequest {
            job_id: id.parse().unwrap(),
            ..Default::default()
        })
        .await
        .expect("GetImportJob")
        .into_inner()
        .job
        .expect("a job");
    let parsed: v1::ImportJob = serde_json::from_str(&text).expect("proto3 JSON of an ImportJob");
    assert_eq!(parsed, reported);

    // Without --json, the readable report.
    let report = server.cli(&["jobs", "show", &id, "--server", &url]);
    assert!(report.status.success(), "{}", stderr(&report));
    assert!(
        stdout(&report).starts_with(&format!("job {id}: partially_succeeded")),
        "{}",
        stdout(&report)
    );
}

/// Every command that saves a file picks the writer by the file's extension, as import picks
/// the reader: `.txt` is one of the csv plugin's extensions, not a format name.
#[tokio::test]
async fn files_are_written_in_the_format_their_extension_names() {
    use crate::support::{csv, customer, rows};
    use dataport_core::Module;
    let server = TestServer::start();
    let url = server.url();
    let mut bad = customer("X2");
    bad[5] = "SVIP".into();
    std::fs::write(
        server.dir.path().join("in.csv"),
        csv(Module::Customers, &rows(&[customer("X1"), bad])),
    )
    .unwrap();
    let out = server.cli(&[
        "import",
        "in.csv",
        "--module",
        "customers",
        "--errors-out",
        "fix.txt",
        "--server",
        &url,
    ]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    let fix = std::fs::read_to_string(server.dir.path().join("fix.txt")).unwrap();
    assert!(fix.contains("X2") && fix.contains("错误原因"), "{fix}");
    let errors = server.cli(&["jobs", "errors", "1", "-o", "again.txt", "--server", &url]);
    assert!(errors.status.success(), "{}", stderr(&errors));
    assert_eq!(
        std::fs::read_to_string(server.dir.path().join("again.txt")).unwrap(),
        fix
    );
    let export = server.cli(&[
        "export",
        "--module",
        "customers",
        "-o",
        "out.txt",
        "--server",
        &url,
    ]);
    assert!(export.status.success(), "{}", stderr(&export));
    let exported = std::fs::read_to_string(server.dir.path().join("out.txt")).unwrap();
    assert!(
        exported.lines().nth(1).unwrap_or_default().starts_with("X1,"),
        "{exported}"
    );
    let template = server.cli(&["template", "customers", "-o", "t.txt", "--server", &url]);
    assert!(template.status.success(), "{}", stderr(&template));
    let header = std::fs::read_to_string(server.dir.path().join("t.txt")).unwrap();
    assert!(header.contains("客户编号,客户名称"), "{header}");
    // An extension no plugin writes names the formats that do.
    let unknown = server.cli(&[
        "export",
        "--module",
        "customers",
        "-o",
        "out.abc",
        "--server",
        &url,
    ]);
    assert!(!unknown.status.success());
    assert!(
        stderr(&unknown).contains("unknown format 'abc'"),
        "{}",
        stderr(&unknown)
    );
}
