//! dataport as deployed: `deploy/local-cluster.sh` starts PgBouncer in transaction pooling mode,
//! three replicas through it and nginx (`grpc_pass`) in front, on a fresh database of the test
//! PostgreSQL server. Everything below goes through nginx unless it names a replica.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use dataport_client::{AuthedClient, v1};
use dataport_core::Module;

use crate::harness::{self, output_within};
use crate::import::{count, job_once_ended};
use crate::jobs::send;
use crate::support::{self, Import, contact, csv, customer, export, export_request, import, rows};

/// A running local cluster; stopped (by the PIDs the script recorded) and its database dropped
/// on drop.
struct Cluster {
    dir: tempfile::TempDir,
    env: HashMap<String, String>,
    server_url: String,
    database: String,
}

fn script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy/local-cluster.sh")
}

/// A base port whose six ports are free now (the script's ports sit above Linux's ephemeral
/// range, so other tests' servers never take them).
fn free_base_port() -> u16 {
    let start = 61_000 + (std::process::id() % 400) as u16 * 10;
    (0..40)
        .map(|i| 61_000 + (start - 61_000 + i * 10) % 4_000)
        .find(|base| (0..6).all(|k| std::net::TcpListener::bind(("127.0.0.1", base + k)).is_ok()))
        .expect("no six free ports above 61000")
}

impl Cluster {
    fn start(lease_secs: u32) -> Cluster {
        let base = harness::postgres_url().expect("DATAPORT_TEST_DATABASE_URL");
        let database = format!("dataport_cluster_{}", std::process::id());
        harness::pg_admin(&base, &format!("DROP DATABASE IF EXISTS {database} WITH (FORCE)"));
        harness::pg_admin(&base, &format!("CREATE DATABASE {database}"));
        let (prefix, _) = base.rsplit_once('/').expect("a database URL ends with /DB");
        let url = format!("{prefix}/{database}");

        let dir = tempfile::tempdir().expect("temp dir");
        let output = output_within(
            Command::new("bash")
                .arg(script())
                .arg("start")
                .arg(dir.path())
                .args(["--dataport", harness::dataport_bin(), "--postgres-url", &url])
                .args(["--base-port", &free_base_port().to_string()])
                .args(["--lease-secs", &lease_secs.to_string(), "--pool-size", "4"]),
            Duration::from_secs(120),
        );
        let env = read_env(&dir.path().join("cluster.env"));
        let cluster = Cluster {
            server_url: env.get("DATAPORT_SERVER").cloned().unwrap_or_default(),
            dir,
            env,
            database,
        };
        assert!(
            output.status.success(),
            "local-cluster.sh start failed: {}{}",
            harness::stderr(&output),
            cluster.logs()
        );
        cluster
    }

    fn token(&self) -> String {
        std::fs::read_to_string(&self.env["DATAPORT_TOKEN_FILE"])
            .expect("the cluster's admin token")
            .trim()
            .to_owned()
    }

    async fn client(&self, url: &str) -> AuthedClient {
        dataport_client::connect(url, &self.token())
            .await
            .unwrap_or_else(|e| panic!("connect to {url}: {e}"))
    }

    fn replica_urls(&self) -> Vec<String> {
        self.env["REPLICA_URLS"]
            .split_whitespace()
            .map(str::to_owned)
            .collect()
    }

    fn replica_pids(&self) -> Vec<u32> {
        self.env["REPLICA_PIDS"]
            .split_whitespace()
            .map(|p| p.parse().expect("a PID"))
            .collect()
    }

    /// The tail of every log, for failure messages.
    fn logs(&self) -> String {
        let mut out = String::new();
        for name in [
            "replica-1/serve.log",
            "replica-2/serve.log",
            "replica-3/serve.log",
            "pgbouncer/pgbouncer.log",
            "nginx/error.log",
        ] {
            let text = std::fs::read_to_string(self.dir.path().join(name)).unwrap_or_default();
            let tail: Vec<&str> = text.lines().rev().take(15).collect();
            out.push_str(&format!("\n--- {name}\n"));
            for line in tail.into_iter().rev() {
                out.push_str(line);
                out.push('\n');
            }
        }
        out
    }

    /// The PID of the replica that holds `job_id`'s lease (the owner is `host:pid:random`).
    fn owner_pid(&self, job_id: i64) -> u32 {
        let owner = psql_value(
            &self.env["POSTGRES_URL"],
            &format!("SELECT owner FROM import_jobs WHERE id = {job_id}"),
        );
        owner
            .split(':')
            .nth(1)
            .and_then(|p| p.parse().ok())
            .unwrap_or_else(|| panic!("owner {owner:?}"))
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let _ = Command::new("bash")
            .arg(script())
            .arg("stop")
            .arg(self.dir.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
        if let Some(base) = harness::postgres_url() {
            // A replica or PgBouncer that was still closing can race the first drop; a few tries,
            // then the last failure with psql's own words.
            let sql = format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.database);
            let mut last = Ok(());
            for _ in 0..10 {
                last = harness::try_pg_admin(&base, &sql);
                if last.is_ok() {
                    break;
                }
                std::thread::sleep(Duration::from_millis(500));
            }
            if let Err(failure) = last {
                panic!("cannot drop the cluster's database: {sql}: {failure}");
            }
        }
    }
}

fn read_env(path: &Path) -> HashMap<String, String> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .filter_map(|line| line.split_once('='))
        .map(|(k, v)| (k.to_owned(), v.trim_matches('\'').to_owned()))
        .collect()
}

fn psql_value(url: &str, sql: &str) -> String {
    let output = Command::new("psql")
        .arg(url)
        .args(["-tAc", sql])
        .output()
        .expect("psql");
    assert!(
        output.status.success(),
        "psql failed: {sql}: {}",
        harness::stderr(&output)
    );
    harness::stdout(&output).trim().to_owned()
}

/// `n` customers `{prefix}00000…`, every 1000th with an invalid level (a row error).
fn customers_file(prefix: &str, n: usize) -> (Vec<u8>, u64) {
    let mut bad = 0;
    let lines: Vec<Vec<String>> = (0..n)
        .map(|i| {
            let mut row = customer(&format!("{prefix}{i:05}"));
            if i % 1000 == 999 {
                row[5] = "SVIP".into();
                bad += 1;
            }
            row
        })
        .collect();
    (csv(Module::Customers, &rows(&lines)), bad)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[cfg_attr(
    not(dataport_cluster_tests),
    ignore = "set DATAPORT_TEST_DATABASE_URL and install pgbouncer and nginx-light to run the cluster test"
)]
async fn three_replicas_behind_pgbouncer_and_nginx() {
    let cluster = Cluster::start(2);
    let url = cluster.server_url.clone();
    let mut client = cluster.client(&url).await;

    // A base the exports read while the imports run: 100 customers, 12 000 contacts.
    let base: Vec<Vec<String>> = (0..100).map(|i| customer(&format!("B{i:03}"))).collect();
    let run = import(
        &mut client,
        &Import::new(Module::Customers, "base.csv"),
        &csv(Module::Customers, &rows(&base)),
    )
    .await;
    assert_eq!(run.counts(), (100, 0, 0, 0), "{}", cluster.logs());
    let contacts: Vec<Vec<String>> = (0..12_000)
        .map(|i| contact(&format!("K{i:05}"), &format!("B{:03}", i % 100)))
        .collect();
    let run = import(
        &mut client,
        &Import::new(Module::Contacts, "contacts.csv"),
        &csv(Module::Contacts, &rows(&contacts)),
    )
    .await;
    assert_eq!(run.counts(), (12_000, 0, 0, 0));

    // Six imports and six exports at once, each on its own connection to nginx.
    let mut tasks = Vec::new();
    for k in 0..6 {
        let url = url.clone();
        let token = cluster.token();
        tasks.push(tokio::spawn(async move {
            let mut client = dataport_client::connect(&url, &token).await.expect("connect");
            let (bytes, bad) = customers_file(&format!("P{k}"), 8_000);
            let run = import(
                &mut client,
                &Import::new(Module::Customers, &format!("p{k}.csv")),
                &bytes,
            )
            .await;
            assert_eq!(run.counts(), (8_000 - bad, 0, 0, bad), "import {k}");
            run.job_id
        }));
    }
    let mut exports = Vec::new();
    for _ in 0..6 {
        let url = url.clone();
        let token = cluster.token();
        exports.push(tokio::spawn(async move {
            let mut client = dataport_client::connect(&url, &token).await.expect("connect");
            let file = export(&mut client, export_request(Module::Contacts, "csv")).await;
            let (_, cells) = support::read_file("csv", file.bytes);
            (file.rows, file.total_rows, cells.len())
        }));
    }
    let mut job_ids = Vec::new();
    for task in tasks {
        job_ids.push(task.await.unwrap_or_else(|e| panic!("{e}{}", cluster.logs())));
    }
    for task in exports {
        assert_eq!(task.await.expect("export"), (12_000, 12_000, 12_000));
    }
    assert_eq!(count(&mut client, Module::Customers).await, 100 + 6 * 7_992);

    // Every replica lists every job and serves every job's error file.
    for replica in cluster.replica_urls() {
        let mut direct = cluster.client(&replica).await;
        let listed = direct
            .list_import_jobs(v1::ListImportJobsRequest::default())
            .await
            .expect("list jobs")
            .into_inner()
            .jobs;
        for id in &job_ids {
            assert!(
                listed.iter().any(|j| j.id == *id),
                "{replica} does not list job {id}"
            );
        }
        for id in &job_ids {
            let stream = direct
                .get_error_file(v1::GetErrorFileRequest {
                    job_id: *id,
                    format: "csv".into(),
                    locale: 0,
                })
                .await
                .expect("error file")
                .into_inner();
            let (_, bytes) = support::file(stream).await;
            assert_eq!(support::read_file("csv", bytes).1.len(), 8, "{replica}, job {id}");
        }
    }

    // kill -9 of the replica running an import: a survivor interrupts its job once the lease
    // has expired, and the same import through nginx resumes it.
    let (bytes, _) = customers_file("M", 30_000);
    let request = Import::new(Module::Customers, "move.csv").request_id("cluster-move");
    let (accepted, mut stream, quiet) = send(&mut client, &request, &bytes, bytes.len() / 2)
        .await
        .expect("import accepted");
    while let Some(Ok(event)) = support::next_within(&mut stream, "Progress").await {
        if matches!(event.event, Some(v1::import_event::Event::Progress(p)) if p.rows_ok >= 5_000) {
            break;
        }
    }
    let pid = cluster.owner_pid(accepted.job_id);
    assert!(
        cluster.replica_pids().contains(&pid),
        "job owner {pid} is not one of {:?}",
        cluster.replica_pids()
    );
    let killed = Command::new("kill")
        .args(["-9", &pid.to_string()])
        .status()
        .expect("kill");
    assert!(killed.success());
    drop((stream, quiet));

    let mut client = cluster.client(&url).await;
    let job = job_once_ended(&mut client, accepted.job_id).await;
    assert_eq!(job.status(), v1::JobStatus::Interrupted, "{job:?}");
    assert!(job.error_message.contains("lease"), "{}", job.error_message);

    let (resumed, mut stream, tx) = send(&mut client, &request, &bytes, bytes.len())
        .await
        .expect("resume");
    drop(tx);
    assert_eq!((resumed.job_id, resumed.resumed), (accepted.job_id, true));
    let report = support::completed(&mut stream).await;
    assert_eq!(
        (report.status(), report.rows_created, report.rows_failed),
        (v1::JobStatus::PartiallySucceeded, 29_970, 30),
        "{report:?}"
    );
    assert_eq!(
        count(&mut client, Module::Customers).await,
        100 + 6 * 7_992 + 29_970,
        "every row exactly once"
    );
}
