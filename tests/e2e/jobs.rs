//! Jobs beyond their stream: CancelImport and WatchImport from another connection, graceful
//! shutdown (new imports refused, running ones interrupted at the grace with their Completed
//! delivered), and leases across PostgreSQL replicas.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use dataport_client::v1;
use dataport_core::Module;

use crate::harness::{self, Backend, TestServer, stdout};
use crate::import::{count, job_once_ended, open_import_of_20k, start_and_go_quiet};
use crate::support::{Import, completed, csv, customer, rows, send_chunks};

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
    send_chunks(&tx, rest).await;
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
    // One retry: the server is gone by then, so the CLI gives up with the interrupted report.
    cli.args([
        "import",
        "big.csv",
        "--module",
        "customers",
        "--retries",
        "1",
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

    // kill -9 of the first replica in the middle of an import: the second one interrupts its
    // job, and the same import through the survivor resumes it.
    let lines: Vec<Vec<String>> = (0..20_000).map(|i| customer(&format!("H{i:06}"))).collect();
    let bytes = csv(Module::Customers, &rows(&lines));
    let request = Import::new(Module::Customers, "replicas.csv").request_id("replica-move");
    let (accepted, mut stream, _quiet) = send(&mut on_first, &request, &bytes, bytes.len() / 2)
        .await
        .unwrap();
    let job_id = accepted.job_id;
    // Wait until batches are committed, then kill. (Progress counts rows as the writer takes
    // them, before their batch commits: the persisted report says what is committed.)
    while let Some(Ok(event)) = crate::support::next_within(&mut stream, "Progress").await {
        if matches!(event.event, Some(v1::import_event::Event::Progress(p)) if p.rows_ok >= 5_000) {
            break;
        }
    }
    let deadline = Instant::now() + crate::harness::WAIT;
    let committed = |job: Option<v1::ImportJob>| job.map_or(0, |j| j.rows_created);
    while committed(
        on_second
            .get_import_job(v1::GetImportJobRequest {
                job_id,
                ..Default::default()
            })
            .await
            .unwrap()
            .into_inner()
            .job,
    ) == 0
    {
        assert!(Instant::now() < deadline, "no batch of job {job_id} committed");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let killed = Instant::now();
    let _dir = first.kill9();
    let job = job_once_ended(&mut on_second, job_id).await;
    let took = killed.elapsed();
    eprintln!("the survivor interrupted the job after {took:?}");
    assert!(took < Duration::from_secs(45), "{took:?}");
    assert_eq!(job.status(), v1::JobStatus::Interrupted, "{job:?}");
    assert!(job.error_message.contains("lease"), "{}", job.error_message);
    // The survivor names the plugin that read the file (an in-process one may be why it died).
    assert!(
        job.error_message.contains("reading with plugin `csv`") && job.error_message.contains("in-process"),
        "{}",
        job.error_message
    );
    assert_eq!(job.rows_created, count(&mut on_second, Module::Customers).await);
    assert!(job.rows_created > 0, "{job:?}");

    let (resumed, mut stream, tx) = send(&mut on_second, &request, &bytes, bytes.len()).await.unwrap();
    drop(tx);
    assert_eq!((resumed.job_id, resumed.resumed), (job_id, true));
    let report = completed(&mut stream).await;
    assert_eq!(
        (report.status(), report.rows_created, report.attempts),
        (v1::JobStatus::Succeeded, 20_000, 2),
        "{report:?}"
    );
    assert_eq!(
        count(&mut on_second, Module::Customers).await,
        20_000,
        "every row exactly once"
    );
}

/// Sends `bytes` (or its first `sent` bytes, then goes quiet) as an import with `request`;
/// returns the Accepted event and the stream.
pub(crate) async fn send(
    client: &mut dataport_client::AuthedClient,
    request: &Import,
    bytes: &[u8],
    sent: usize,
) -> Result<
    (
        v1::Accepted,
        tonic::Streaming<v1::ImportEvent>,
        tokio::sync::mpsc::Sender<v1::ImportRequest>,
    ),
    tonic::Status,
> {
    let (tx, rx) = tokio::sync::mpsc::channel(64);
    tx.send(request.spec(bytes.len() as u64)).await.unwrap();
    send_chunks(&tx, &bytes[..sent]).await;
    let mut stream = client
        .import(tokio_stream::wrappers::ReceiverStream::new(rx))
        .await?
        .into_inner();
    match crate::support::next_within(&mut stream, "Accepted").await {
        Some(Ok(v1::ImportEvent {
            event: Some(v1::import_event::Event::Accepted(accepted)),
        })) => Ok((accepted, stream, tx)),
        Some(Err(status)) => Err(status),
        other => panic!("expected Accepted, got {other:?}"),
    }
}

/// §6 of issue 10 over gRPC: the same request_id resumes an INTERRUPTED job past its watermark
/// (every row exactly once, one job, a cumulative report), replays an ended job's report, is
/// refused while running (ALREADY_EXISTS) and with other parameters (FAILED_PRECONDITION).
#[tokio::test]
async fn a_request_id_resumes_an_interrupted_job_and_replays_an_ended_one() {
    let server = TestServer::start_in(
        tempfile::tempdir().unwrap(),
        &["--import-batch-rows", "500", "--import-idle-timeout-secs", "1"],
    );
    let mut client = server.client(&server.admin_token()).await;
    let lines: Vec<Vec<String>> = (0..20_000).map(|i| customer(&format!("R{i:06}"))).collect();
    let bytes = csv(Module::Customers, &rows(&lines));
    let request = Import::new(Module::Customers, "resume.csv").request_id("fair-2026-batch-1");

    // Half the file, then silence: the idle timeout interrupts the job after some batches.
    let (accepted, mut stream, _quiet) = send(&mut client, &request, &bytes, bytes.len() / 2)
        .await
        .unwrap();
    assert!(!accepted.resumed);
    // While it runs, the same key is refused and names the job.
    let status = send(&mut client, &request, &bytes, 0).await.expect_err("running");
    assert_eq!(status.code(), tonic::Code::AlreadyExists, "{status:?}");
    assert!(
        status
            .message()
            .contains(&format!("import job {}", accepted.job_id)),
        "{}",
        status.message()
    );
    let first = completed(&mut stream).await;
    assert_eq!(first.status(), v1::JobStatus::Interrupted, "{first:?}");
    assert!(first.rows_created > 0 && first.rows_created < 20_000, "{first:?}");
    assert_eq!(first.rows_created, count(&mut client, Module::Customers).await);
    assert_eq!(first.watermark, first.rows_created + 1);

    // The whole file again, same key: the same job resumes after its watermark.
    let (resumed, mut stream, tx) = send(&mut client, &request, &bytes, bytes.len()).await.unwrap();
    drop(tx);
    assert_eq!(
        (
            resumed.job_id,
            resumed.resumed,
            resumed.resume_after_row,
            resumed.resume_offset
        ),
        (accepted.job_id, true, first.watermark, 0),
        "a client that does not accept an offset sends the whole file"
    );
    let report = completed(&mut stream).await;
    assert_eq!(report.status(), v1::JobStatus::Succeeded, "{report:?}");
    assert_eq!((report.id, report.attempts), (accepted.job_id, 2));
    assert_eq!(
        (report.rows_read, report.rows_created, report.rows_skipped),
        (20_000, 20_000, 0),
        "{report:?}"
    );
    assert_eq!(report.watermark, 20_001);
    assert_eq!(report.request_id, "fair-2026-batch-1");
    assert_eq!(
        count(&mut client, Module::Customers).await,
        20_000,
        "every row exactly once"
    );

    // Once more: the final report, nothing imported again.
    let (replayed, mut stream, _tx) = send(&mut client, &request, &bytes, 0).await.unwrap();
    assert_eq!(replayed.job_id, accepted.job_id);
    let again = completed(&mut stream).await;
    assert_eq!(
        (again.status(), again.attempts, again.rows_created),
        (v1::JobStatus::Succeeded, 2, 20_000)
    );

    // The same key for another import is refused.
    let upsert = request.clone().mode(v1::ImportMode::Upsert);
    let status = send(&mut client, &upsert, &bytes, 0)
        .await
        .expect_err("other parameters");
    assert_eq!(status.code(), tonic::Code::FailedPrecondition, "{status:?}");
    assert_eq!(
        dataport_client::error_code(&status),
        Some(dataport_core::ErrorCode::RequestIdReused)
    );
    let jobs = client
        .list_import_jobs(v1::ListImportJobsRequest::default())
        .await
        .unwrap()
        .into_inner()
        .jobs;
    assert_eq!(jobs.len(), 1, "one job for one request");
}

/// §6 of issue 10, csv from a byte offset: a client that accepts a resume offset is told where
/// the rows after the watermark begin, sends only the rest of the file, and the job ends with
/// every row exactly once; the CLI does the same on its own.
#[tokio::test]
async fn a_csv_resumes_from_the_byte_offset_the_server_reports() {
    let server = TestServer::start_in(
        tempfile::tempdir().unwrap(),
        &["--import-batch-rows", "500", "--import-idle-timeout-secs", "1"],
    );
    let mut client = server.client(&server.admin_token()).await;
    // Quoted fields with line breaks and CRLF: a row is not a line.
    let file_of = |prefix: &str, n: usize| {
        let lines: Vec<Vec<String>> = (0..n)
            .map(|i| {
                let mut row = customer(&format!("{prefix}{i:06}"));
                row[7] = format!("{prefix}{i}号\r\n分公司");
                row
            })
            .collect();
        csv(Module::Customers, &rows(&lines))
    };
    let bytes = file_of("R", 20_000);
    let request = Import::new(Module::Customers, "offsets.csv")
        .request_id("offsets-grpc")
        .sha256_of(&bytes)
        .accepts_resume_offset();

    let (accepted, mut stream, _quiet) = send(&mut client, &request, &bytes, bytes.len() / 2)
        .await
        .unwrap();
    assert_eq!((accepted.resumed, accepted.resume_offset), (false, 0));
    let first = completed(&mut stream).await;
    assert_eq!(first.status(), v1::JobStatus::Interrupted, "{first:?}");
    assert!(first.rows_created > 0, "{first:?}");

    // Resumed: the offset is where the row after the watermark starts.
    let (resumed, mut stream, tx) = send(&mut client, &request, &bytes, 0).await.unwrap();
    assert_eq!(
        (resumed.job_id, resumed.resume_after_row),
        (accepted.job_id, first.watermark)
    );
    let offset = usize::try_from(resumed.resume_offset).unwrap();
    assert!(
        offset > 0 && offset < bytes.len() / 2,
        "offset {offset} of {}",
        bytes.len()
    );
    // Row r holds customer r - 2 (row 1 is the header).
    let next_code = format!("R{:06}", first.watermark + 1 - 2);
    assert!(
        bytes[offset..].starts_with(next_code.as_bytes()) && bytes[offset - 1] == b'\n',
        "at {offset}: {:?}",
        String::from_utf8_lossy(&bytes[offset.saturating_sub(20)..offset + 20])
    );
    send_chunks(&tx, &bytes[offset..]).await;
    drop(tx);
    let report = completed(&mut stream).await;
    assert_eq!(report.status(), v1::JobStatus::Succeeded, "{report:?}");
    assert_eq!(
        (
            report.rows_read,
            report.rows_created,
            report.rows_skipped,
            report.attempts
        ),
        (20_000, 20_000, 0, 2),
        "{report:?}"
    );
    assert_eq!(
        report.file_size,
        bytes.len() as u64,
        "sizes count from the file's first byte"
    );
    assert_eq!(
        count(&mut client, Module::Customers).await,
        20_000,
        "every row exactly once"
    );

    // The CLI, re-run after an interruption, sends only the rest of a file of more than 1 MiB.
    let other = file_of("S", 30_000);
    assert!(other.len() > 1 << 20);
    let path = server.dir.path().join("offsets-cli.csv");
    std::fs::write(&path, &other).unwrap();
    let request = Import::new(Module::Customers, "offsets-cli.csv")
        .request_id("offsets-cli")
        .sha256_of(&other);
    let (_, mut stream, _quiet) = send(&mut client, &request, &other, other.len() / 3)
        .await
        .unwrap();
    assert_eq!(completed(&mut stream).await.status(), v1::JobStatus::Interrupted);
    let out = server.cli(&[
        "import",
        path.to_str().unwrap(),
        "--module",
        "customers",
        "--request-id",
        "offsets-cli",
        "--server",
        &server.url(),
    ]);
    let err = harness::stderr(&out);
    assert_eq!(out.status.code(), Some(0), "{}{err}", stdout(&out));
    assert!(err.contains("sending the file from byte"), "{err}");
    assert_eq!(
        count(&mut client, Module::Customers).await,
        50_000,
        "every row exactly once"
    );
}

/// SIGKILL the CLI at random points (seed printed), then re-run the same `dataport import`:
/// each run resumes the same job, and the last one ends SUCCEEDED with every row exactly once.
#[tokio::test]
async fn killing_the_cli_and_running_it_again_imports_every_row_exactly_once() {
    let server = TestServer::start_in(tempfile::tempdir().unwrap(), &["--import-batch-rows", "500"]);
    let file = server.dir.path().join("kill.csv");
    let generated = server.cli(&[
        "gen",
        "--module",
        "customers",
        "--rows",
        "60000",
        file.to_str().unwrap(),
    ]);
    assert!(generated.status.success(), "{}", harness::stderr(&generated));
    let mut next = crate::support::seeded("client kill points");
    let mut client = server.client(&server.admin_token()).await;
    let import = |server: &TestServer| {
        let mut cli = Command::new(harness::dataport_bin());
        cli.args([
            "import",
            "kill.csv",
            "--module",
            "customers",
            "--retries",
            "0",
            "--server",
            &server.url(),
        ])
        .current_dir(server.dir.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
        cli
    };
    for round in 0..10 {
        let delay = Duration::from_millis(200 + next() % 1500);
        eprintln!("round {round}: SIGKILL the client after {delay:?}");
        let mut child = import(&server).spawn().expect("spawn dataport import");
        tokio::time::sleep(delay).await;
        let _ = child.kill();
        let _ = child.wait();
        // The server sees the connection drop; the job (if it began) becomes INTERRUPTED.
        let jobs = client
            .list_import_jobs(v1::ListImportJobsRequest::default())
            .await
            .unwrap()
            .into_inner()
            .jobs;
        assert!(jobs.len() <= 1, "one job for one file: {jobs:?}");
        if let Some(job) = jobs.first() {
            let job = job_once_ended(&mut client, job.id).await;
            if job.status() == v1::JobStatus::Succeeded {
                break;
            }
            assert_eq!(job.status(), v1::JobStatus::Interrupted, "round {round}: {job:?}");
            assert_eq!(
                job.rows_created,
                count(&mut client, Module::Customers).await,
                "round {round}"
            );
        }
    }
    let mut last = import(&server);
    let out = tokio::task::spawn_blocking(move || {
        use harness::OutputWithin;
        last.output_within()
    })
    .await
    .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}{}",
        stdout(&out),
        harness::stderr(&out)
    );
    assert!(stdout(&out).contains("job 1: succeeded"), "{}", stdout(&out));
    let job = job_once_ended(&mut client, 1).await;
    assert_eq!(
        (job.rows_created, job.rows_skipped, job.rows_failed),
        (60_000, 0, 0),
        "{job:?}"
    );
    assert_eq!(
        count(&mut client, Module::Customers).await,
        60_000,
        "every row exactly once"
    );
    eprintln!("{} attempts", job.attempts);
}

/// A PostgreSQL restart in the middle of an import (every connection cut, new ones refused for
/// 3 s): the job ends INTERRUPTED with exactly what was committed (or rides it out), the server
/// reconnects by itself, and the same import again finishes with every row exactly once.
// Multi-threaded: the proxy must keep accepting while the harness blocks on a server start.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(
    not(dataport_postgres_tests),
    ignore = "set DATAPORT_TEST_DATABASE_URL to run the PostgreSQL tests"
)]
async fn a_postgres_restart_mid_import_interrupts_exactly_and_the_import_resumes() {
    let base = harness::postgres_url().expect("PostgreSQL configured");
    let proxy = crate::faults::PostgresProxy::start(crate::faults::host_port(&base)).await;
    let server = TestServer::start_on_through(
        Backend::Postgres,
        Some(proxy.addr),
        &["--import-batch-rows", "500", "--job-lease-secs", "2"],
    )
    .expect("PostgreSQL configured");
    fault_mid_import_then_resume(&server, "pg-restart", || proxy.restart(Duration::from_secs(3))).await;
}

/// A crash of PostgreSQL itself in the middle of an import (`pg_ctl stop -m immediate` of a
/// private cluster, then crash recovery), where the batches commit without waiting for their
/// WAL flush: whatever the crash took, the rows and the job's counters and watermark went
/// together, so the job's report equals the database and the same import again finishes with
/// every row exactly once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(
    not(dataport_postgres_tests),
    ignore = "set DATAPORT_TEST_DATABASE_URL to run the PostgreSQL tests"
)]
async fn a_postgres_crash_mid_import_loses_whole_batches_with_their_watermark_only() {
    let pg = crate::faults::PrivatePostgres::start();
    let url = pg.url();
    let server = TestServer::start_in(
        tempfile::tempdir().expect("temp dir"),
        &[
            "--database-url",
            &url,
            "--import-batch-rows",
            "500",
            "--job-lease-secs",
            "2",
        ],
    );
    fault_mid_import_then_resume(&server, "pg-crash", || {
        pg.crash();
        pg.up();
    })
    .await;
}

/// Imports 20k customers slowly under `key`, runs `fault` once 3,000 rows are in, and checks
/// that the job is no longer RUNNING and equals the database, then resumes it to the end.
async fn fault_mid_import_then_resume(server: &TestServer, key: &str, fault: impl FnOnce()) {
    let mut client = server.client(&server.admin_token()).await;
    let (tx, mut stream, bytes) = crate::import::open_keyed_import_of_20k(&mut client, "P", false, key).await;
    let whole = bytes.clone();
    let sender = tokio::spawn(async move {
        for chunk in bytes.chunks(8 * 1024) {
            let message = v1::ImportRequest {
                message: Some(v1::import_request::Message::Chunk(chunk.to_vec())),
            };
            if tx.send(message).await.is_err() {
                break;
            }
            // Slow enough for the fault to land mid-import.
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    });
    let mut job_id = 0;
    let mut fault = Some(fault);
    let mut first = None;
    while let Some(event) = crate::support::next_within(&mut stream, "the next import event").await {
        let Ok(event) = event else { break };
        match event.event {
            Some(v1::import_event::Event::Accepted(a)) => job_id = a.job_id,
            Some(v1::import_event::Event::Progress(p)) if p.rows_ok >= 3_000 => {
                if let Some(fault) = fault.take() {
                    fault();
                }
            }
            Some(v1::import_event::Event::Completed(c)) => first = c.report,
            _ => {}
        }
    }
    sender.abort();
    assert!(fault.is_none(), "the import ended before the fault");
    // Once the database is back, the job is no longer RUNNING (ended, or swept when its lease
    // expired) and its report equals the database.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let job = job_once_ended(&mut client, job_id).await;
    eprintln!(
        "after the fault: {:?} ({:?}), first report {:?}",
        job.status(),
        job.error_message,
        first.map(|r| r.status())
    );
    assert_eq!(
        job.rows_created,
        count(&mut client, Module::Customers).await,
        "{job:?}"
    );
    if job.status() != v1::JobStatus::Succeeded {
        assert_eq!(job.status(), v1::JobStatus::Interrupted, "{job:?}");
        let (tx, mut stream, _) = crate::import::open_keyed_import_of_20k(&mut client, "P", false, key).await;
        send_chunks(&tx, &whole).await;
        drop(tx);
        let report = completed(&mut stream).await;
        assert_eq!(
            (report.id, report.status()),
            (job_id, v1::JobStatus::Succeeded),
            "{report:?}"
        );
    }
    let job = job_once_ended(&mut client, job_id).await;
    assert_eq!((job.rows_created, job.rows_skipped), (20_000, 0), "{job:?}");
    assert_eq!(
        count(&mut client, Module::Customers).await,
        20_000,
        "every row exactly once"
    );
}
