//! Starts `dataport serve` as a child process on a free loopback port and stops it with SIGTERM.

use std::{
    io::{BufRead, BufReader},
    net::SocketAddr,
    path::{Path, PathBuf},
    process::{Child, Command, ExitStatus, Output, Stdio},
    sync::mpsc,
    time::Duration,
};

use dataport_client::{AuthedClient, v1};
use tempfile::TempDir;

/// The longest any single wait of a test may take (a server start, a CLI run, a stream):
/// past it the test fails with what it was waiting for instead of hanging CI.
pub const WAIT: Duration = Duration::from_secs(300);
/// How long a test server may live; a watchdog kills it then, so a test blocked on one fails.
const SERVER_LIFETIME: Duration = Duration::from_secs(900);

/// Path of the binary under test.
pub fn dataport_bin() -> &'static str {
    env!("CARGO_BIN_EXE_dataport")
}

/// A running server with its own database and token file in a temp dir.
pub struct TestServer {
    child: Option<Child>,
    pub addr: SocketAddr,
    pub dir: TempDir,
    /// Everything the server printed on stdout until it was ready.
    pub banner: Vec<String>,
    /// PostgreSQL: the admin URL and this server's schema, dropped with the server.
    pg_schema: Option<(String, String)>,
    /// The `--database-url` given, if any (replicas share it).
    database_url: Option<String>,
    /// Dropping it stops the watchdog.
    watchdog: Option<mpsc::Sender<()>>,
}

/// Kills the server `pid` (our own child, not yet reaped, so the PID is still ours) if it is
/// still running after [`SERVER_LIFETIME`]; returns the handle that calls the watchdog off.
fn watchdog(pid: u32) -> mpsc::Sender<()> {
    let (tx, rx) = mpsc::channel::<()>();
    std::thread::spawn(move || {
        if let Err(mpsc::RecvTimeoutError::Timeout) = rx.recv_timeout(SERVER_LIFETIME) {
            eprintln!("watchdog: test server {pid} still running after {SERVER_LIFETIME:?}; killing it");
            let _ = Command::new("kill").arg("-KILL").arg(pid.to_string()).status();
        }
    });
    tx
}

/// The database behind a test server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// The PostgreSQL test database, when configured. In CI (`CI` set) it must be.
pub fn postgres_url() -> Option<String> {
    match std::env::var("DATAPORT_TEST_DATABASE_URL") {
        Ok(url) if !url.trim().is_empty() => Some(url),
        _ => {
            assert!(
                std::env::var_os("CI").is_none(),
                "CI is set but DATAPORT_TEST_DATABASE_URL is not: the PostgreSQL end-to-end tests cannot run"
            );
            None
        }
    }
}

/// Runs SQL on the test database with `psql`: the end-to-end tests only need to create and drop
/// the schema each server lives in.
pub fn pg_admin(url: &str, sql: &str) {
    if let Err(failure) = try_pg_admin(url, sql) {
        panic!("psql failed on the test database: {sql}: {failure}");
    }
}

/// [`pg_admin`] that reports psql's failure (with its stderr) instead of panicking.
pub fn try_pg_admin(url: &str, sql: &str) -> Result<(), String> {
    psql(url, sql).map(drop)
}

/// Runs a query on the test database with `psql` and returns its unaligned, header-less output
/// (one row a line, columns split by `|`).
pub fn pg_query(url: &str, sql: &str) -> String {
    psql(url, sql).unwrap_or_else(|failure| panic!("psql failed on the test database: {sql}: {failure}"))
}

/// `psql -c sql`, stopping at the first error: its output, or its failure with its stderr.
fn psql(url: &str, sql: &str) -> Result<String, String> {
    let output = Command::new("psql")
        .arg(url)
        .args(["-v", "ON_ERROR_STOP=1", "-q", "-At", "-c", sql])
        .env("PGOPTIONS", "-c client_min_messages=warning")
        .stderr(Stdio::piped())
        .output()
        .map_err(|e| format!("cannot run psql: {e}"))?;
    if output.status.success() {
        Ok(String::from_utf8_lossy(&output.stdout).into_owned())
    } else {
        Err(format!(
            "{}: {}",
            output.status,
            String::from_utf8_lossy(&output.stderr).trim()
        ))
    }
}

impl TestServer {
    /// A server on a fresh SQLite database.
    pub fn start() -> TestServer {
        let dir = tempfile::tempdir().expect("temp dir");
        Self::start_in(dir, &[])
    }

    /// A server in `dir` (database `dir/dataport.db`, token `dir/dataport.token`) with extra args.
    pub fn start_in(dir: TempDir, extra: &[&str]) -> TestServer {
        let mut command = Command::new(dataport_bin());
        command
            .arg("serve")
            .arg("--listen")
            .arg("127.0.0.1:0")
            .args(extra)
            .current_dir(dir.path())
            .env_remove("DATAPORT_DATABASE_URL")
            .env_remove("DATAPORT_TOKEN_FILE")
            .env_remove("DATAPORT_CONFIG")
            .env("RUST_LOG", "warn")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        let mut child = command.spawn().expect("spawn dataport serve");
        let stdout = child.stdout.take().expect("stdout");
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let mut banner = Vec::new();
        let addr = loop {
            let line = rx.recv_timeout(Duration::from_secs(60)).unwrap_or_else(|_| {
                let _ = child.kill();
                panic!("server did not report its address; it printed {banner:?}")
            });
            banner.push(line.clone());
            if let Some(rest) = line.strip_prefix("dataport listening on ") {
                let addr = rest.split_whitespace().next().expect("address");
                break addr.parse::<SocketAddr>().expect("socket address");
            }
        };
        // The token line follows the address line on a first start.
        if let Ok(line) = rx.recv_timeout(Duration::from_millis(200)) {
            banner.push(line);
        }
        let watchdog = Some(watchdog(child.id()));
        let database_url = extra
            .iter()
            .position(|a| *a == "--database-url")
            .and_then(|i| extra.get(i + 1))
            .map(|u| (*u).to_owned());
        TestServer {
            child: Some(child),
            addr,
            dir,
            banner,
            pg_schema: None,
            database_url,
            watchdog,
        }
    }

    /// A server on `backend` (PostgreSQL in a schema of its own); `None` when PostgreSQL is not
    /// configured outside CI.
    pub fn start_on(backend: Backend, extra: &[&str]) -> Option<TestServer> {
        Self::start_on_through(backend, None, extra)
    }

    /// [`TestServer::start_on`] PostgreSQL, connecting through `proxy` (host:port) instead of
    /// the database's own address.
    pub fn start_on_through(
        backend: Backend,
        proxy: Option<SocketAddr>,
        extra: &[&str],
    ) -> Option<TestServer> {
        let dir = tempfile::tempdir().expect("temp dir");
        match backend {
            Backend::Sqlite => Some(Self::start_in(dir, extra)),
            Backend::Postgres => {
                let base = postgres_url()?;
                static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
                let schema = format!(
                    "e2e_{}_{}",
                    std::process::id(),
                    NEXT.fetch_add(1, std::sync::atomic::Ordering::SeqCst)
                );
                pg_admin(
                    &base,
                    &format!("DROP SCHEMA IF EXISTS {schema} CASCADE; CREATE SCHEMA {schema};"),
                );
                let sep = if base.contains('?') { '&' } else { '?' };
                // The schema names the server's sessions too (pg_stat_activity.application_name).
                let mut url =
                    format!("{base}{sep}options=-c%20search_path%3D{schema}&application_name={schema}");
                if let Some(proxy) = proxy {
                    url = url.replacen(&crate::faults::host_port(&base), &proxy.to_string(), 1);
                }
                let mut args = vec!["--database-url", url.as_str()];
                args.extend_from_slice(extra);
                let mut server = Self::start_in(dir, &args);
                server.pg_schema = Some((base, schema));
                Some(server)
            }
        }
    }

    /// Kills the server with SIGKILL (a crash: no shutdown code runs) and hands back its
    /// directory, so a new server can start on the same database.
    pub fn kill9(mut self) -> TempDir {
        self.watchdog.take();
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        let dir = tempfile::tempdir().expect("temp dir");
        std::mem::replace(&mut self.dir, dir)
    }

    /// A second server (a replica) on this server's PostgreSQL database, with `extra` args.
    /// Use this server's admin token for both.
    pub fn replica(&self, extra: &[&str]) -> TestServer {
        let url = self
            .database_url
            .clone()
            .expect("a server started with --database-url");
        let mut args = vec!["--database-url", url.as_str()];
        args.extend_from_slice(extra);
        Self::start_in(tempfile::tempdir().expect("temp dir"), &args)
    }

    /// The PostgreSQL test database and the schema this server lives in (also the
    /// `application_name` of its sessions).
    pub fn pg_schema(&self) -> Option<(&str, &str)> {
        self.pg_schema
            .as_ref()
            .map(|(base, schema)| (base.as_str(), schema.as_str()))
    }

    /// Takes over dropping `from`'s PostgreSQL schema, so `from` can die first.
    pub fn adopt_database(&mut self, from: &mut TestServer) {
        self.pg_schema = from.pg_schema.take();
    }

    /// Sends SIGTERM and returns at once (see [`TestServer::wait_exit`]).
    pub fn terminate(&self) {
        let pid = self.pid().to_string();
        let status = Command::new("kill").arg("-TERM").arg(pid).status().expect("kill");
        assert!(status.success());
    }

    /// Waits (bounded) for the server to exit after [`TestServer::terminate`]; hands back its
    /// exit status and directory, so a new server can start on the same database.
    pub fn wait_exit(mut self) -> (ExitStatus, TempDir) {
        self.watchdog.take();
        let mut child = self.child.take().expect("running");
        let status = wait_with_timeout(&mut child, Duration::from_secs(60));
        let dir = tempfile::tempdir().expect("temp dir");
        (status, std::mem::replace(&mut self.dir, dir))
    }

    /// The `--database-url` it was started with, if any.
    pub fn database_url(&self) -> Option<&str> {
        self.database_url.as_deref()
    }

    /// The server's process id.
    pub fn pid(&self) -> u32 {
        self.child.as_ref().map(Child::id).unwrap_or(0)
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn token_file(&self) -> PathBuf {
        self.dir.path().join("dataport.token")
    }

    /// The admin token written on first start.
    pub fn admin_token(&self) -> String {
        std::fs::read_to_string(self.token_file())
            .expect("token file")
            .trim()
            .to_owned()
    }

    pub async fn client(&self, token: &str) -> AuthedClient {
        dataport_client::connect(&self.url(), token)
            .await
            .expect("connect")
    }

    /// A client that sends no authorization metadata at all.
    pub async fn anonymous_client(&self) -> v1::data_port_client::DataPortClient<tonic::transport::Channel> {
        v1::data_port_client::DataPortClient::new(
            dataport_client::channel(&self.url()).await.expect("channel"),
        )
    }

    /// Runs the CLI with this server's directory as working directory.
    pub fn cli(&self, args: &[&str]) -> Output {
        run_cli(self.dir.path(), args)
    }

    /// Creates a token through `dataport token create` and returns its secret.
    /// On PostgreSQL the CLI must be told the server's database; on SQLite it finds
    /// `./dataport.db` in the server's directory.
    pub fn create_token(&self, name: &str, permissions: &str) -> String {
        let mut args = vec!["token", "create", "--name", name, "--permissions", permissions];
        if let Some(url) = &self.database_url {
            args.extend(["--database-url", url.as_str()]);
        }
        let output = self.cli(&args);
        assert!(
            output.status.success(),
            "token create failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8(output.stdout).expect("utf-8").trim().to_owned()
    }

    /// Sends SIGTERM and waits for the process to exit.
    pub fn stop(mut self) -> ExitStatus {
        self.watchdog.take();
        let mut child = self.child.take().expect("running");
        let status = Command::new("kill")
            .arg("-TERM")
            .arg(child.id().to_string())
            .status()
            .expect("kill");
        assert!(status.success());
        wait_with_timeout(&mut child, Duration::from_secs(30))
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.watchdog.take();
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        if let Some((base, schema)) = self.pg_schema.take() {
            pg_admin(&base, &format!("DROP SCHEMA IF EXISTS {schema} CASCADE;"));
        }
    }
}

fn wait_with_timeout(child: &mut Child, timeout: Duration) -> ExitStatus {
    let deadline = std::time::Instant::now() + timeout;
    loop {
        if let Some(status) = child.try_wait().expect("wait") {
            return status;
        }
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("process {} did not exit within {timeout:?}", child.id());
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Runs `dataport ARGS` in `dir` without inheriting any DATAPORT_* settings.
pub fn run_cli(dir: &Path, args: &[&str]) -> Output {
    let mut command = Command::new(dataport_bin());
    command.args(args).current_dir(dir);
    for (key, _) in std::env::vars() {
        if key.starts_with("DATAPORT_") {
            command.env_remove(key);
        }
    }
    output_within(&mut command, WAIT)
}

/// `Command::output` with a deadline of [`WAIT`].
pub trait OutputWithin {
    fn output_within(&mut self) -> Output;
}

impl OutputWithin for Command {
    fn output_within(&mut self) -> Output {
        output_within(self, WAIT)
    }
}

/// Runs a command to its end, killing it and failing the test if it takes longer than `limit`.
pub fn output_within(command: &mut Command, limit: Duration) -> Output {
    use std::io::Read;
    let mut child = command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    let mut out = child.stdout.take().expect("stdout");
    let mut err = child.stderr.take().expect("stderr");
    let out_reader = std::thread::spawn(move || {
        let mut buf = Vec::new();
        let _ = out.read_to_end(&mut buf);
        buf
    });
    let err_reader = std::thread::spawn(move || {
        let mut buf = Vec::new();
        let _ = err.read_to_end(&mut buf);
        buf
    });
    let status = wait_with_timeout(&mut child, limit);
    Output {
        status,
        stdout: out_reader.join().unwrap_or_default(),
        stderr: err_reader.join().unwrap_or_default(),
    }
}

pub fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

pub fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}
