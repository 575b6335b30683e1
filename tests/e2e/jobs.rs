//! Jobs beyond their stream: CancelImport and WatchImport from another connection, graceful
//! shutdown (new imports refused, running ones interrupted at the grace with their Completed
//! delivered), and leases across PostgreSQL replicas.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use dataport_client::v1;
use dataport_core::Module;

use crate::harness::{self, Backend, TestServer, stdout};
use crate::import::{count, job_once_ended, open_import_of_20k, start_and_go_quiet};

/// Reads events until Completed (bounded by `harness::WAIT` per event) and returns its report.
async fn completed(stream: &mut tonic::Streaming<v1::ImportEvent>) -> v1::ImportJob {
    while let Some(event) = crate::support::next_within(stream, "Completed").await {
        let event = event.expect("the import stream ends with Completed, not an error");
        if let Some(v1::import_event::Event::Completed(c)) = event.event {
            return c.report.expect("report");
        }
    }
    panic!("the import stream ended without Completed");
}

#[tokio::test]
async fn cancel_import_from_another_connection_ends_the_job_cancelled() {
    let server = TestServer::start();
    let mut client = server.client(&server.admin_token()).await;
    let (job_id, _tx, mut stream) = start_and_go_quiet(&mut client).await;

    let url = server.url();
    let id = job_id.to_string();
    let cancel = server.cli(&["jobs", "cancel", &id, "--server", &url]);
    assert!(cancel.status.success(), "{}", harness::stderr(&cancel));
    assert!(stdout(&cancel).contains("cancelled"), "{}", stdout(&cancel));

    // The importing client gets its Completed: CANCELLED, with the reason.
    let report = completed(&mut stream).await;
    assert_eq!(report.status(), v1::JobStatus::Cancelled, "{report:?}");
    assert_eq!(report.error_code(), v1::ErrorCode::Cancelled, "{report:?}");
    assert!(
        report.error_message.contains("CancelImport"),
        "{}",
        report.error_message
    );
    assert_eq!(report.rows_created, count(&mut client, Module::Customers).await);

    // An ended job cannot be cancelled again; watching it prints its report at once.
    let again = server.cli(&["jobs", "cancel", &id, "--server", &url]);
    assert_eq!(again.status.code(), Some(1));
    assert!(
        harness::stderr(&again).contains("[JOB_NOT_RUNNING]"),
        "{}",
        harness::stderr(&again)
    );
    let watch = server.cli(&["jobs", "watch", &id, "--server", &url]);
    assert_eq!(watch.status.code(), Some(1), "a cancelled job exits 1");
    assert!(
        stdout(&watch).contains(&format!("job {id}: cancelled")),
        "{}",
        stdout(&watch)
    );
    let missing = server.cli(&["jobs", "watch", "999999", "--server", &url]);
    assert!(
        harness::stderr(&missing).contains("does not exist"),
        "{}",
        harness::stderr(&missing)
    );
}

#[tokio::test]
async fn watch_import_follows_a_running_job_to_its_end() {
    let server = TestServer::start();
    let mut client = server.client(&server.admin_token()).await;
    let (tx, mut stream, bytes) = open_import_of_20k(&mut client, "W", false).await;
    // The first chunk makes the job exist; the watcher starts while the rest is held back.
    let (first, rest) = bytes.split_at(64 * 1024);
    let chunk = |b: &[u8]| v1::ImportRequest {
        message: Some(v1::import_request::Message::Chunk(b.to_vec())),
    };
    tx.send(chunk(first)).await.unwrap();
    let mut job_id = 0;
    while let Some(Ok(event)) = crate::support::next_within(&mut stream, "Accepted").await {
        if let Some(v1::import_event::Event::Accepted(a)) = event.event {
            job_id = a.job_id;
            break;
        }
    }
    let mut watch = client
        .watch_import(v1::WatchImportRequest { job_id })
        .await
        .unwrap()
        .into_inner();
    let Some(Ok(v1::ImportEvent {
        event: Some(v1::import_event::Event::Progress(_)),
    })) = crate::support::next_within(&mut watch, "the first Progress").await
    else {
        panic!("a running job is watched with Progress first");
    };
    for part in rest.chunks(256 * 1024) {
        tx.send(chunk(part)).await.unwrap();
    }
    drop(tx);
    let own = completed(&mut stream).await;
    let watched = completed(&mut watch).await;
    assert_eq!(watched.status(), v1::JobStatus::Succeeded, "{watched:?}");
    assert_eq!((watched.id, watched.rows_created), (own.id, 20_000));

    // The CLI: an ended job prints its report and exits as `import` would.
    let out = server.cli(&["jobs", "watch", &job_id.to_string(), "--server", &server.url()]);
    assert_eq!(out.status.code(), Some(0), "{}", harness::stderr(&out));
    assert!(stdout(&out).contains("succeeded"), "{}", stdout(&out));
}

/// SIGTERM with a 1 s grace during a large import: the CLI prints the INTERRUPTED report and
/// exits 3, the server exits cleanly, and the job's counts equal the database after a restart.
#[tokio::test]
async fn sigterm_interrupts_a_long_import_at_the_grace_and_the_client_gets_its_report() {
    let server = TestServer::start_in(
        tempfile::tempdir().unwrap(),
        &["--shutdown-grace-secs", "1", "--import-batch-rows", "500"],
    );
    let file = server.dir.path().join("big.csv");
    let generated = server.cli(&[
        "gen",
        "--module",
        "customers",
        "--rows",
        "200000",
        file.to_str().unwrap(),
    ]);
    assert!(generated.status.success(), "{}", harness::stderr(&generated));
    let mut cli = Command::new(harness::dataport_bin());
    cli.args([
        "import",
        "big.csv",
        "--module",
        "customers",
        "--server",
        &server.url(),
    ])
    .current_dir(server.dir.path())
    .stdout(Stdio::piped())
    .stderr(Stdio::piped());
    let importing = cli.spawn().expect("spawn dataport import");

    // Wait for committed rows, then stop the server.
    let mut client = server.client(&server.admin_token()).await;
    let deadline = Instant::now() + harness::WAIT;
    let job = loop {
        assert!(Instant::now() < deadline, "the import never committed a batch");
        let jobs = client
            .list_import_jobs(v1::ListImportJobsRequest::default())
            .await
            .unwrap()
            .into_inner()
            .jobs;
        if let Some(job) = jobs.into_iter().find(|j| j.rows_created > 0) {
            break job;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(
        job.status(),
        v1::JobStatus::Running,
        "200k rows take longer than this: {job:?}"
    );
    server.terminate();
    let out = tokio::task::spawn_blocking(move || importing.wait_with_output())
        .await
        .unwrap()
        .unwrap();
    let printed = stdout(&out);
    assert_eq!(
        out.status.code(),
        Some(3),
        "interrupted exits 3: {printed}{}",
        harness::stderr(&out)
    );
    assert!(printed.contains(": interrupted"), "{printed}");
    assert!(printed.contains("the server shut down"), "{printed}");
    let (status, dir) = server.wait_exit();
    assert!(status.success(), "the server exits cleanly: {status:?}");

    let server = TestServer::start_in(dir, &[]);
    let mut client = server.client(&server.admin_token()).await;
    let job = job_once_ended(&mut client, job.id).await;
    assert_eq!(job.status(), v1::JobStatus::Interrupted, "{job:?}");
    assert_eq!(
        job.rows_created,
        count(&mut client, Module::Customers).await,
        "{job:?}"
    );
    assert!(job.rows_created < 200_000, "{job:?}");
    assert_eq!(job.watermark, job.rows_created + 1, "{job:?}");
}

/// After SIGTERM no new import starts (UNAVAILABLE), and a job still running at the end of the
/// grace sends its client an INTERRUPTED Completed before the server stops.
#[tokio::test]
async fn during_shutdown_new_imports_are_refused_and_running_ones_end_interrupted() {
    let server = TestServer::start_in(tempfile::tempdir().unwrap(), &["--shutdown-grace-secs", "2"]);
    let mut client = server.client(&server.admin_token()).await;
    let (job_id, _tx, mut stream) = start_and_go_quiet(&mut client).await;
    server.terminate();
    // The same connection, after the signal: a new import is refused.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let request = crate::support::Import::new(Module::Customers, "late.csv");
    let refused = client.import(tokio_stream::iter(vec![request.spec(0)])).await;
    let status = match refused {
        Err(status) => status,
        Ok(response) => {
            let mut events = response.into_inner();
            crate::support::next_within(&mut events, "the refusal")
                .await
                .expect("an answer")
                .expect_err("refused")
        }
    };
    assert_eq!(status.code(), tonic::Code::Unavailable, "{status:?}");

    let report = completed(&mut stream).await;
    assert_eq!(
        (report.id, report.status()),
        (job_id, v1::JobStatus::Interrupted),
        "{report:?}"
    );
    assert!(
        report.error_message.contains("grace of 2 s"),
        "{}",
        report.error_message
    );
    let (status, _dir) = server.wait_exit();
    assert!(status.success(), "{status:?}");
}

/// Two replicas on one PostgreSQL database: a cancel through one reaches the job the other runs;
/// a killed replica's job is marked INTERRUPTED by the survivor within lease + sweep (≤ 45 s).
#[tokio::test]
#[cfg_attr(
    not(dataport_postgres_tests),
    ignore = "set DATAPORT_TEST_DATABASE_URL to run the PostgreSQL tests"
)]
async fn replicas_share_jobs_through_leases() {
    let lease = ["--job-lease-secs", "2"];
    let mut first = TestServer::start_on(Backend::Postgres, &lease).expect("PostgreSQL configured");
    let mut second = first.replica(&lease);
    second.adopt_database(&mut first);
    let token = first.admin_token();
    let mut on_first = first.client(&token).await;
    let mut on_second = second.client(&token).await;

    // A cancel through the second replica stops a job that the first runs.
    let (job_id, _tx, mut stream) = start_and_go_quiet(&mut on_first).await;
    let response = on_second
        .cancel_import(v1::CancelImportRequest { job_id })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(response.job.unwrap().status(), v1::JobStatus::Cancelled);
    assert_eq!(completed(&mut stream).await.status(), v1::JobStatus::Cancelled);

    // kill -9 of the first replica: the second one interrupts its job.
    let (job_id, _tx, _stream) = start_and_go_quiet(&mut on_first).await;
    let killed = Instant::now();
    let _dir = first.kill9();
    let job = job_once_ended(&mut on_second, job_id).await;
    let took = killed.elapsed();
    eprintln!("the survivor interrupted the job after {took:?}");
    assert!(took < Duration::from_secs(45), "{took:?}");
    assert_eq!(job.status(), v1::JobStatus::Interrupted, "{job:?}");
    assert!(job.error_message.contains("lease"), "{}", job.error_message);
    assert_eq!(job.rows_created, count(&mut on_second, Module::Customers).await);
}
