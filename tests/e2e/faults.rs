//! Fault injection: a TCP proxy on loopback in front of PostgreSQL that can cut every
//! connection and refuse new ones for a while, which is how a database restart looks to the
//! server, without restarting the PostgreSQL that the other tests share.

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
