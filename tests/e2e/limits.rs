//! Bounded, validated input and an operable server: every bad input is INVALID_ARGUMENT naming
//! its field (never INTERNAL), filters of 100 000 codes work, the files the server writes are
//! private, health follows the database, and `--log-format json` logs JSON lines.

use std::os::unix::fs::PermissionsExt;
use std::time::{Duration, Instant};

use dataport_client::{AuthedClient, v1};
use dataport_core::Module;
use tonic_health::pb::{
    HealthCheckRequest, health_check_response::ServingStatus, health_client::HealthClient,
};

use crate::harness::{Backend, TestServer, dataport_bin};
use crate::support::{Import, assert_invalid, csv, customer, export_request, import, refused_import, rows};

fn customer_filter(filter: v1::CustomerFilter) -> Option<v1::Filter> {
    Some(v1::Filter {
        module_filter: Some(v1::filter::ModuleFilter::Customers(filter)),
    })
}

async fn count(
    client: &mut AuthedClient,
    module: Module,
    filter: Option<v1::Filter>,
) -> Result<u64, tonic::Status> {
    client
        .count_records(v1::CountRecordsRequest {
            module: dataport_client::convert::module_to_proto(module) as i32,
            filter,
        })
        .await
        .map(|r| r.into_inner().count)
}

crate::on_both_backends! {
    // The PostgreSQL-specific ones: a NUL in file_name was INTERNAL there.
    async fn bad_input_is_invalid_argument_naming_the_field(server) {
        let mut client = server.client(&server.admin_token()).await;

        // ImportSpec.file_name: NUL, control characters, 900 KB, a directory.
        for name in ["a\0b.csv", "a\nb.csv", &format!("{}.csv", "x".repeat(900_000)), "dir/"] {
            let status = refused_import(&mut client, &Import::new(Module::Customers, name)).await;
            assert_invalid(&status, "spec.file_name");
        }
        // ImportSpec.options: too many, a long key, a long value, a NUL.
        let mut many = Import::new(Module::Customers, "c.csv");
        for i in 0..65 {
            many = many.option(&format!("k{i}"), "v");
        }
        assert_invalid(&refused_import(&mut client, &many).await, "spec.options");
        let long_key = Import::new(Module::Customers, "c.csv").option(&"k".repeat(65), "v");
        assert_invalid(&refused_import(&mut client, &long_key).await, "spec.options");
        let long_value = Import::new(Module::Customers, "c.csv").option("sheet", &"v".repeat(4097));
        assert_invalid(&refused_import(&mut client, &long_value).await, "spec.options");
        let nul = Import::new(Module::Customers, "c.csv").option("encoding", "gb\0k");
        assert_invalid(&refused_import(&mut client, &nul).await, "spec.options");
        // ImportSpec.sha256 that is no sha256 (it is stored for resumed uploads).
        let mut bad_sha = Import::new(Module::Customers, "c.csv");
        bad_sha.sha256 = "x".repeat(100_000);
        assert_invalid(&refused_import(&mut client, &bad_sha).await, "spec.sha256");
        // ImportSpec.request_id with a NUL.
        let key = Import::new(Module::Customers, "c.csv").request_id("k\0");
        assert_invalid(&refused_import(&mut client, &key).await, "spec.request_id");

        // Filters: a 1 MB name_contains (SQLite: "LIKE pattern too complex"), NULs, long values.
        let status = count(&mut client, Module::Customers, customer_filter(v1::CustomerFilter {
            name_contains: "客".repeat(350_000),
            ..Default::default()
        }))
        .await
        .unwrap_err();
        assert_invalid(&status, "filter.customers.name_contains");
        let status = count(&mut client, Module::Customers, customer_filter(v1::CustomerFilter {
            name_contains: "a\0".into(),
            ..Default::default()
        }))
        .await
        .unwrap_err();
        assert_invalid(&status, "filter.customers.name_contains");
        let status = count(&mut client, Module::Customers, customer_filter(v1::CustomerFilter {
            codes: vec!["C1".into(), "C\u{0}2".into()],
            ..Default::default()
        }))
        .await
        .unwrap_err();
        assert_invalid(&status, "filter.customers.codes");
        let status = count(&mut client, Module::Customers, customer_filter(v1::CustomerFilter {
            owners: vec!["张".repeat(257)],
            ..Default::default()
        }))
        .await
        .unwrap_err();
        assert_invalid(&status, "filter.customers.owners");
        let contacts = Some(v1::Filter {
            module_filter: Some(v1::filter::ModuleFilter::Contacts(v1::ContactFilter {
                customer_owners: vec!["a\0".into()],
                ..Default::default()
            })),
        });
        assert_invalid(&count(&mut client, Module::Contacts, contacts).await.unwrap_err(), "filter.contacts.customer_owners");
        // The same filter on Export.
        let mut request = export_request(Module::Customers, "csv");
        request.filter = customer_filter(v1::CustomerFilter {
            name_contains: "x".repeat(201),
            ..Default::default()
        });
        assert_invalid(&client.export(request).await.unwrap_err(), "filter.customers.name_contains");

        // ExportRequest.file_name, options and after_code.
        let mut request = export_request(Module::Customers, "csv");
        request.file_name = "out\0.csv".into();
        assert_invalid(&client.export(request).await.unwrap_err(), "file_name");
        let mut request = export_request(Module::Customers, "csv");
        request.options = (0..65)
            .map(|i| v1::FormatOption { key: format!("k{i}"), value: "v".into() })
            .collect();
        assert_invalid(&client.export(request).await.unwrap_err(), "options");
        let mut request = export_request(Module::Customers, "csv");
        request.after_code = Some("C\u{0}1".into());
        assert_invalid(&client.export(request).await.unwrap_err(), "after_code");

        // ListImportJobs.page_token: garbage, negative, huge.
        for token in ["garbage", "-1", "0", &"9".repeat(100_000)] {
            let status = client
                .list_import_jobs(v1::ListImportJobsRequest {
                    page_token: token.to_owned(),
                    ..Default::default()
                })
                .await
                .unwrap_err();
            assert_invalid(&status, "page_token");
        }

        // Nothing was stored: the default listing still works for everyone.
        let jobs = client
            .list_import_jobs(v1::ListImportJobsRequest::default())
            .await
            .unwrap()
            .into_inner();
        assert!(jobs.jobs.is_empty(), "{:?}", jobs.jobs);
    }

    // SQLite: "too many SQL variables" beyond 32 766 codes; both: one bind for the list.
    async fn a_filter_of_100k_codes_works(server) {
        let mut client = server.client(&server.admin_token()).await;
        let stored = ["C000007", "C054321", "C099999"];
        let bytes = csv(Module::Customers, &rows(&stored.map(customer)));
        let run = import(&mut client, &Import::new(Module::Customers, "c.csv"), &bytes).await;
        assert_eq!(run.counts(), (3, 0, 0, 0));

        let codes: Vec<String> = (0..100_000).map(|i| format!("C{i:06}")).collect();
        let filter = customer_filter(v1::CustomerFilter { codes: codes.clone(), ..Default::default() });
        assert_eq!(count(&mut client, Module::Customers, filter.clone()).await.unwrap(), 3);
        // With another list and the name condition too.
        let narrowed = customer_filter(v1::CustomerFilter {
            codes: codes.clone(),
            levels: vec!["普通".into(), "VIP".into(), "重要".into()],
            name_contains: "客户".into(),
            ..Default::default()
        });
        let narrowed_count = count(&mut client, Module::Customers, narrowed).await.unwrap();
        assert!(narrowed_count <= 3);

        let mut request = export_request(Module::Customers, "csv");
        request.filter = filter;
        let download = crate::support::export(&mut client, request).await;
        assert_eq!((download.total_rows, download.rows), (3, 3));
        let text = String::from_utf8_lossy(&download.bytes).into_owned();
        for code in stored {
            assert!(text.contains(code), "{code} in the export");
        }

        // The other modules' code lists.
        let contacts = Some(v1::Filter {
            module_filter: Some(v1::filter::ModuleFilter::Contacts(v1::ContactFilter {
                customer_codes: codes.clone(),
                customer_owners: codes[..50_000].to_vec(),
                ..Default::default()
            })),
        });
        assert_eq!(count(&mut client, Module::Contacts, contacts).await.unwrap(), 0);
        let opportunities = Some(v1::Filter {
            module_filter: Some(v1::filter::ModuleFilter::Opportunities(v1::OpportunityFilter {
                customer_codes: codes,
                ..Default::default()
            })),
        });
        assert_eq!(count(&mut client, Module::Opportunities, opportunities).await.unwrap(), 0);
    }
}

#[tokio::test]
async fn file_names_keep_only_their_last_path_component() {
    let server = TestServer::start();
    let mut client = server.client(&server.admin_token()).await;
    let bytes = csv(Module::Customers, &rows(&[customer("P1")]));
    let run = import(&mut client, &Import::new(Module::Customers, "a/b\\c.csv"), &bytes).await;
    assert_eq!(run.report().file_name, "c.csv");
    let mut request = export_request(Module::Customers, "csv");
    request.file_name = "../../etc/out.csv".into();
    assert_eq!(
        crate::support::export(&mut client, request).await.file_name,
        "out.csv"
    );
}

#[tokio::test]
async fn the_database_its_wal_and_the_token_file_are_private() {
    let server = TestServer::start();
    let mut client = server.client(&server.admin_token()).await;
    // A write, so the WAL certainly exists.
    let bytes = csv(Module::Customers, &rows(&[customer("M1")]));
    import(&mut client, &Import::new(Module::Customers, "c.csv"), &bytes).await;
    let dir = server.dir.path();
    for file in [
        "dataport.db",
        "dataport.db-wal",
        "dataport.db-shm",
        "dataport.token",
    ] {
        let mode = std::fs::metadata(dir.join(file))
            .unwrap_or_else(|e| panic!("{file}: {e}"))
            .permissions()
            .mode()
            & 0o777;
        assert_eq!(mode, 0o600, "{file} is {mode:o}");
    }
}

/// Polls the health of the server and of `dataport.v1.DataPort` until both are `want`.
async fn wait_for_health(server: &TestServer, want: ServingStatus, within: Duration) -> Duration {
    let mut health = HealthClient::new(dataport_client::channel(&server.url()).await.unwrap());
    let started = Instant::now();
    loop {
        let mut all = true;
        for service in ["", "dataport.v1.DataPort"] {
            let status = health
                .check(HealthCheckRequest {
                    service: service.into(),
                })
                .await
                .expect("health answers whatever the database does")
                .into_inner()
                .status();
            all &= status == want;
        }
        if all {
            return started.elapsed();
        }
        assert!(
            started.elapsed() < within,
            "health did not turn {want:?} within {within:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn health_follows_a_sqlite_file_that_goes_away_and_comes_back() {
    let server = TestServer::start();
    wait_for_health(&server, ServingStatus::Serving, Duration::from_secs(10)).await;
    let db = server.dir.path().join("dataport.db");
    let away = server.dir.path().join("dataport.db.away");
    std::fs::rename(&db, &away).unwrap();
    wait_for_health(&server, ServingStatus::NotServing, Duration::from_secs(10)).await;
    std::fs::rename(&away, &db).unwrap();
    wait_for_health(&server, ServingStatus::Serving, Duration::from_secs(10)).await;
    let mut client = server.client(&server.admin_token()).await;
    assert_eq!(count(&mut client, Module::Customers, None).await.unwrap(), 0);
}

#[cfg_attr(
    not(dataport_postgres_tests),
    ignore = "set DATAPORT_TEST_DATABASE_URL to run the PostgreSQL end-to-end tests"
)]
// The proxy runs on the test's runtime while the harness blocks starting the server.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_and_calls_follow_postgres_going_away_and_coming_back() {
    let base = crate::harness::postgres_url().expect("DATAPORT_TEST_DATABASE_URL");
    let proxy = crate::faults::PostgresProxy::start(crate::faults::host_port(&base)).await;
    let server =
        TestServer::start_on_through(Backend::Postgres, Some(proxy.addr), &["--db-timeout-secs", "2"])
            .expect("a server through the proxy");
    wait_for_health(&server, ServingStatus::Serving, Duration::from_secs(10)).await;
    let mut client = server.client(&server.admin_token()).await;
    assert_eq!(count(&mut client, Module::Customers, None).await.unwrap(), 0);

    // The database goes away for 12 s: health turns NOT_SERVING within a few seconds, and a
    // call fails with UNAVAILABLE within the checkout timeout instead of hanging.
    proxy.restart(Duration::from_secs(12));
    wait_for_health(&server, ServingStatus::NotServing, Duration::from_secs(7)).await;
    let started = Instant::now();
    let status = count(&mut client, Module::Customers, None).await.unwrap_err();
    assert_eq!(status.code(), tonic::Code::Unavailable, "{status:?}");
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "failed after {:?}",
        started.elapsed()
    );

    // Back: SERVING again, and calls work.
    wait_for_health(&server, ServingStatus::Serving, Duration::from_secs(20)).await;
    assert_eq!(count(&mut client, Module::Customers, None).await.unwrap(), 0);
}

/// A "PostgreSQL" that accepts connections and never answers (a hung host, a black-holed
/// balancer): start-up gives up after `--db-timeout-secs` with a clear error instead of
/// hanging. Needs no database.
#[test]
fn a_postgresql_that_never_answers_stops_start_up_within_the_db_timeout() {
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!(
        "postgres://dataport:secret@{}/dataport",
        silent.local_addr().unwrap()
    );
    let dir = tempfile::tempdir().unwrap();
    let started = Instant::now();
    let out = crate::harness::run_cli(
        dir.path(),
        &[
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--database-url",
            &url,
            "--db-timeout-secs",
            "2",
        ],
    );
    let took = started.elapsed();
    let stderr = crate::harness::stderr(&out);
    assert!(!out.status.success(), "{stderr}");
    assert!(took < Duration::from_secs(20), "gave up only after {took:?}");
    assert!(stderr.contains("cannot connect to PostgreSQL at"), "{stderr}");
    assert!(
        stderr.contains("timeout") || stderr.contains("timed out"),
        "{stderr}"
    );
    assert!(!stderr.contains("secret"), "the password is masked: {stderr}");
    drop(silent);
}

#[test]
fn log_format_json_prints_json_lines() {
    use std::io::{BufRead, BufReader};
    let dir = tempfile::tempdir().unwrap();
    let mut child = std::process::Command::new(dataport_bin())
        .args(["serve", "--listen", "127.0.0.1:0", "--log-format", "json"])
        .current_dir(dir.path())
        .env_remove("DATAPORT_DATABASE_URL")
        .env_remove("DATAPORT_TOKEN_FILE")
        .env_remove("DATAPORT_LOG_FORMAT")
        .env("RUST_LOG", "info")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn dataport serve");
    let stderr = child.stderr.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let mut seen = Vec::new();
    let found = loop {
        match rx.recv_timeout(Duration::from_secs(60)) {
            Ok(line) => {
                let json: serde_json::Value =
                    serde_json::from_str(&line).unwrap_or_else(|e| panic!("not a JSON line ({e}): {line}"));
                let message = json["fields"]["message"].as_str().unwrap_or_default().to_owned();
                assert!(
                    json["level"].is_string() && json["timestamp"].is_string(),
                    "{line}"
                );
                seen.push(line);
                if message == "serving dataport.v1.DataPort" {
                    break json;
                }
            }
            Err(_) => break serde_json::Value::Null,
        }
    };
    let _ = child.kill();
    let _ = child.wait();
    assert_eq!(found["level"], "INFO", "{seen:?}");
    assert!(found["fields"]["addr"].is_string(), "{found}");
}
