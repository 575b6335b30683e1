//! Start-up, health, reflection, configuration and graceful shutdown.

use std::os::unix::fs::PermissionsExt;

use tonic_health::pb::{
    HealthCheckRequest, health_check_response::ServingStatus, health_client::HealthClient,
};
use tonic_reflection::pb::v1::{
    ServerReflectionRequest, server_reflection_client::ServerReflectionClient,
    server_reflection_request::MessageRequest, server_reflection_response::MessageResponse,
};

use crate::harness::{TestServer, run_cli, stdout};

#[tokio::test]
async fn health_reports_serving_for_the_service_and_the_server() {
    let server = TestServer::start();
    let mut health = HealthClient::new(dataport_client::channel(&server.url()).await.unwrap());
    for service in ["", "dataport.v1.DataPort"] {
        let response = health
            .check(HealthCheckRequest {
                service: service.into(),
            })
            .await
            .unwrap();
        assert_eq!(
            response.get_ref().status(),
            ServingStatus::Serving,
            "service '{service}'"
        );
    }
    let unknown = health
        .check(HealthCheckRequest {
            service: "nope.Service".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(unknown.code(), tonic::Code::NotFound);
}

#[tokio::test]
async fn reflection_lists_the_dataport_service_without_a_token() {
    let server = TestServer::start();
    let mut reflection = ServerReflectionClient::new(dataport_client::channel(&server.url()).await.unwrap());
    let request = ServerReflectionRequest {
        host: String::new(),
        message_request: Some(MessageRequest::ListServices(String::new())),
    };
    let mut responses = reflection
        .server_reflection_info(tokio_stream::iter([request]))
        .await
        .unwrap()
        .into_inner();
    let response = crate::support::next_within(&mut responses, "the health response")
        .await
        .expect("one response")
        .unwrap();
    let Some(MessageResponse::ListServicesResponse(list)) = response.message_response else {
        panic!("unexpected reflection answer: {response:?}");
    };
    let names: Vec<String> = list.service.into_iter().map(|s| s.name).collect();
    assert!(names.contains(&"dataport.v1.DataPort".to_string()), "{names:?}");
    assert!(names.contains(&"grpc.health.v1.Health".to_string()), "{names:?}");
}

#[tokio::test]
async fn first_start_writes_a_private_admin_token_and_later_starts_keep_it() {
    let server = TestServer::start();
    let token_file = server.token_file();
    let banner = server.banner.join("\n");
    assert!(
        banner.contains(&format!(
            "it is in {}",
            token_file.canonicalize().unwrap().display()
        )),
        "the start-up banner must name the token file: {banner}"
    );
    let mode = std::fs::metadata(&token_file).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600, "token file must be readable only by its owner");
    let token = server.admin_token();
    assert!(
        token.starts_with("dp_") && token.len() >= 3 + 32,
        "token too short for 128 bits: {token}"
    );

    // The admin token works, and a restart on the same database neither prints nor rewrites it.
    let mut client = server.client(&token).await;
    client
        .list_import_jobs(dataport_client::v1::ListImportJobsRequest::default())
        .await
        .unwrap();
    let dir = server_dir(server);
    let again = TestServer::start_in(dir, &[]);
    assert!(
        !again.banner.join("\n").contains("admin token"),
        "{:?}",
        again.banner
    );
    assert_eq!(again.admin_token(), token);
}

/// Stops a server and hands back its directory for another start.
fn server_dir(mut server: TestServer) -> tempfile::TempDir {
    let dir = std::mem::replace(&mut server.dir, tempfile::tempdir().unwrap());
    let status = server.stop();
    assert!(status.success());
    dir
}

#[tokio::test]
async fn sigterm_stops_the_server_cleanly() {
    let server = TestServer::start();
    let status = server.stop();
    assert!(status.success(), "exit status {status:?}");
}

#[test]
fn a_config_file_sets_defaults_and_flags_override_it() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("dataport.toml"),
        "database_url = \"from-config.db\"\ntoken_file = \"config.token\"\nlisten = \"127.0.0.1:1\"\n",
    )
    .unwrap();
    // `--listen 127.0.0.1:0` on the command line beats the file's port 1.
    let server = TestServer::start_in(dir, &[]);
    assert!(
        server.dir.path().join("from-config.db").exists(),
        "database_url from dataport.toml not used"
    );
    assert!(
        server.dir.path().join("config.token").exists(),
        "token_file from dataport.toml not used"
    );
    assert_ne!(server.addr.port(), 1);

    let typo = tempfile::tempdir().unwrap();
    std::fs::write(typo.path().join("bad.toml"), "databse_url = \"x\"\n").unwrap();
    let output = run_cli(typo.path(), &["--config", "bad.toml", "serve"]);
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("unknown field `databse_url`"));
}

#[test]
fn help_documents_every_flag_with_its_environment_variable() {
    let dir = tempfile::tempdir().unwrap();
    let help = stdout(&run_cli(dir.path(), &["serve", "--help"]));
    for expected in [
        "DATAPORT_LISTEN",
        "DATAPORT_DATABASE_URL",
        "DATAPORT_TOKEN_FILE",
        "DATAPORT_MAX_MESSAGE_BYTES",
        "DATAPORT_CONFIG",
        "DATAPORT_DATABASE_POOL_SIZE",
        "DATAPORT_AUDIT_RETENTION_DAYS",
        "127.0.0.1:50051",
    ] {
        assert!(help.contains(expected), "serve --help lacks {expected}:\n{help}");
    }
    let help = stdout(&run_cli(dir.path(), &["count", "--help"]));
    for expected in ["DATAPORT_SERVER", "DATAPORT_TOKEN", "--level", "--stage"] {
        assert!(help.contains(expected), "count --help lacks {expected}:\n{help}");
    }
}

/// `--database-pool-size` sizes the pool: one connection still serves calls one after the
/// other; zero is refused by name.
#[tokio::test]
async fn the_database_pool_size_is_a_flag() {
    let server = TestServer::start_in(tempfile::tempdir().unwrap(), &["--database-pool-size", "1"]);
    let mut client = server.client(&server.admin_token()).await;
    for _ in 0..3 {
        let count = client
            .count_records(crate::import::count_request(dataport_core::Module::Customers))
            .await
            .unwrap();
        assert_eq!(count.into_inner().count, 0);
    }
    let dir = tempfile::tempdir().unwrap();
    let refused = run_cli(dir.path(), &["serve", "--database-pool-size", "0"]);
    assert!(!refused.status.success());
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(stderr.contains("--database-pool-size"), "{stderr}");
}

#[test]
fn a_busy_port_is_a_clear_error() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let dir = tempfile::tempdir().unwrap();
    let output = run_cli(dir.path(), &["serve", "--listen", &addr]);
    // Exit status 1, not a signal: the port is bound before the database is opened, so no
    // pool thread is connecting while the process exits.
    assert_eq!(output.status.code(), Some(1), "{output:?}");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains(&format!("cannot listen on {addr}")), "{stderr}");
    assert!(
        !dir.path().join("dataport.db").exists(),
        "nothing is created before the port is bound"
    );
}

/// Fetches `path` from `addr` with a bare HTTP/1.1 GET; returns the status line and the body.
fn http_get(addr: &str, path: &str) -> (String, String) {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(addr).expect("connect to the metrics port");
    stream.set_read_timeout(Some(crate::harness::WAIT)).unwrap();
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    let (head, body) = response.split_once("\r\n\r\n").expect("an HTTP response");
    (
        head.lines().next().unwrap_or_default().to_owned(),
        body.to_owned(),
    )
}

/// A scrape after an import, an export and a wrong token shows the rows, the job, the bytes
/// and the failed authentication, with HELP and TYPE lines.
#[tokio::test]
async fn metrics_count_rows_jobs_bytes_and_auth_failures() {
    use dataport_core::Module;
    let server = TestServer::start_in(tempfile::tempdir().unwrap(), &["--metrics-listen", "127.0.0.1:0"]);
    let addr = server
        .banner
        .iter()
        .find_map(|l| l.strip_prefix("metrics on http://"))
        .and_then(|rest| rest.strip_suffix("/metrics"))
        .expect("the metrics address in the banner")
        .to_owned();
    let mut client = server.client(&server.admin_token()).await;
    let rows: Vec<Vec<String>> = (0..3)
        .map(|i| crate::support::customer(&format!("M{i}")))
        .collect();
    let bytes = crate::support::csv(Module::Customers, &crate::support::rows(&rows));
    let run = crate::support::import(
        &mut client,
        &crate::support::Import::new(Module::Customers, "m.csv"),
        &bytes,
    )
    .await;
    assert_eq!(run.counts(), (3, 0, 0, 0));
    let export = crate::support::export(
        &mut client,
        dataport_client::v1::ExportRequest {
            module: dataport_client::v1::Module::Customers as i32,
            format: "csv".into(),
            ..Default::default()
        },
    )
    .await;
    assert_eq!(export.rows, 3);
    let mut stranger = server.client("dp_not_a_token").await;
    assert!(
        stranger
            .count_records(crate::import::count_request(Module::Customers))
            .await
            .is_err()
    );

    let (status, body) = http_get(&addr, "/metrics");
    assert!(status.contains("200"), "{status}");
    for line in [
        "# HELP dataport_rows_imported Rows of import jobs that ended",
        "# TYPE dataport_rows_imported counter",
        "dataport_rows_imported_total{module=\"customers\",outcome=\"created\"} 3",
        "dataport_rows_exported_total{module=\"customers\",outcome=\"exported\"} 3",
        "dataport_import_jobs_total{status=\"succeeded\"} 1",
        "# TYPE dataport_import_job_duration_seconds histogram",
        "dataport_import_job_duration_seconds_count 1",
        "dataport_imports_in_flight 0",
        "dataport_exports_in_flight 0",
        &format!("dataport_bytes_total{{direction=\"in\"}} {}", bytes.len()),
        &format!("dataport_bytes_total{{direction=\"out\"}} {}", export.bytes.len()),
        "dataport_auth_failures_total 1",
        "# TYPE dataport_db_pool_wait_seconds histogram",
        "dataport_db_pool_wait_seconds_bucket{",
    ] {
        assert!(
            body.lines().any(|l| l.starts_with(line)),
            "no line `{line}` in:\n{body}"
        );
    }
    // Every call checked out connections: the writer (the import's batches) and the readers.
    for pool in ["reader", "writer"] {
        let count = body
            .lines()
            .find_map(|l| {
                l.strip_prefix(&format!(
                    "dataport_db_pool_wait_seconds_count{{pool=\"{pool}\"}} "
                ))
            })
            .and_then(|n| n.trim().parse::<u64>().ok());
        assert!(count.is_some_and(|n| n > 0), "no {pool} checkouts in:\n{body}");
    }
    let (status, _) = http_get(&addr, "/nothing");
    assert!(status.contains("404"), "{status}");
}
