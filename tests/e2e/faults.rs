//! Fault injection: a TCP proxy on loopback in front of PostgreSQL that can cut every
//! connection and refuse new ones for a while, which is how a database restart looks to the
//! server, without restarting the PostgreSQL that the other tests share; and a PostgreSQL of a
//! test's own that it can crash.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::net::{TcpListener, TcpStream};

#[derive(Default)]
struct State {
    down_until: Option<Instant>,
    connections: Vec<tokio::task::AbortHandle>,
}

/// The proxy; dropping it stops it.
pub struct PostgresProxy {
    pub addr: SocketAddr,
    state: Arc<Mutex<State>>,
    accept: tokio::task::JoinHandle<()>,
}

impl PostgresProxy {
    /// A proxy to `target` (host:port of the test database).
    pub async fn start(target: String) -> PostgresProxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind the proxy");
        let addr = listener.local_addr().expect("proxy address");
        let state = Arc::new(Mutex::new(State::default()));
        let shared = state.clone();
        let accept = tokio::spawn(async move {
            while let Ok((mut client, _)) = listener.accept().await {
                let mut guard = shared.lock().unwrap();
                if guard.down_until.is_some_and(|until| Instant::now() < until) {
                    // Down: the connection is refused (closed at once).
                    continue;
                }
                let target = target.clone();
                let task = tokio::spawn(async move {
                    if let Ok(mut upstream) = TcpStream::connect(&target).await {
                        let _ = tokio::io::copy_bidirectional(&mut client, &mut upstream).await;
                    }
                });
                guard.connections.push(task.abort_handle());
            }
        });
        PostgresProxy { addr, state, accept }
    }

    /// Drops every open connection and refuses new ones for `down`.
    pub fn restart(&self, down: Duration) {
        let mut state = self.state.lock().unwrap();
        state.down_until = Some(Instant::now() + down);
        for connection in state.connections.drain(..) {
            connection.abort();
        }
    }
}

impl Drop for PostgresProxy {
    fn drop(&mut self) {
        self.accept.abort();
        for connection in self.state.lock().unwrap().connections.drain(..) {
            connection.abort();
        }
    }
}

/// `host:port` of a `postgres://user:pass@host:port/db…` URL.
pub fn host_port(url: &str) -> String {
    let after_at = url.rsplit_once('@').map_or(url, |(_, rest)| rest);
    after_at.split('/').next().unwrap_or(after_at).to_owned()
}

/// A PostgreSQL cluster of one test's own (initdb in a temp dir, on a free loopback port), so
/// that the test can crash it (`pg_ctl stop -m immediate`: no shutdown checkpoint, and WAL not
/// yet flushed is lost, as in a power cut) without touching the database the other tests share.
/// Stopped on drop. As root, the server runs as `postgres` (PostgreSQL refuses root).
pub struct PrivatePostgres {
    dir: tempfile::TempDir,
    port: u16,
}

impl PrivatePostgres {
    pub fn start() -> PrivatePostgres {
        let dir = tempfile::tempdir().expect("temp dir");
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let pg = PrivatePostgres { dir, port };
        if pg.as_root() {
            let chown = std::process::Command::new("chown")
                .args(["-R", "postgres"])
                .arg(pg.dir.path())
                .status()
                .expect("chown");
            assert!(chown.success(), "chown the private PostgreSQL's directory");
        }
        std::fs::write(pg.dir.path().join("pwfile"), "dataport\n").expect("pwfile");
        pg.run(
            "initdb",
            &[
                "-D",
                &pg.data(),
                "-U",
                "dataport",
                &format!("--pwfile={}/pwfile", pg.dir.path().display()),
                "--auth-host=scram-sha-256",
                "-E",
                "UTF8",
                "--locale=C.UTF-8",
            ],
        );
        pg.up();
        pg
    }

    /// `postgres://dataport:dataport@127.0.0.1:PORT/postgres`.
    pub fn url(&self) -> String {
        format!("postgres://dataport:dataport@127.0.0.1:{}/postgres", self.port)
    }

    /// The crash: every backend killed at once, nothing flushed on the way out.
    pub fn crash(&self) {
        let out = self.stop_immediately();
        assert!(
            out.status.success(),
            "pg_ctl stop -m immediate: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// `pg_ctl stop -m immediate` of its own data directory (never a process by name).
    fn stop_immediately(&self) -> std::process::Output {
        self.output("pg_ctl", &["-D", &self.data(), "-m", "immediate", "-w", "stop"])
    }

    /// Starts it (again, after a crash: with crash recovery).
    pub fn up(&self) {
        let log = format!("{}/postgres.log", self.dir.path().display());
        let options = format!(
            "-c listen_addresses=127.0.0.1 -c port={} -c unix_socket_directories={}",
            self.port,
            self.dir.path().display()
        );
        self.run(
            "pg_ctl",
            &["-D", &self.data(), "-l", &log, "-o", &options, "-w", "start"],
        );
    }

    fn data(&self) -> String {
        format!("{}/data", self.dir.path().display())
    }

    fn as_root(&self) -> bool {
        // SAFETY: geteuid has no preconditions.
        unsafe { libc::geteuid() == 0 }
    }

    fn run(&self, program: &str, args: &[&str]) {
        let out = self.output(program, args);
        assert!(
            out.status.success(),
            "{program} {args:?}: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }

    fn output(&self, program: &str, args: &[&str]) -> std::process::Output {
        let bin = std::fs::read_dir("/usr/lib/postgresql")
            .ok()
            .and_then(|versions| {
                versions
                    .filter_map(Result::ok)
                    .map(|v| v.path().join("bin"))
                    .max()
            })
            .map(|dir| dir.join(program))
            .filter(|p| p.exists())
            .unwrap_or_else(|| program.into());
        let mut command = if self.as_root() {
            let mut c = std::process::Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(bin);
            c
        } else {
            std::process::Command::new(bin)
        };
        command.args(args).output().expect("run a PostgreSQL program")
    }
}

impl Drop for PrivatePostgres {
    fn drop(&mut self) {
        // No assert: this may run while unwinding.
        if std::path::Path::new(&self.data()).join("postmaster.pid").exists() {
            let _ = self.stop_immediately();
        }
    }
}
