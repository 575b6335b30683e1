//! Bearer-token authentication and permission checks.
//!
//! Every dataport RPC calls [`Authenticator::authorize`] first with the permissions it accepts.
//! Tokens are looked up by their sha256 in the database (the store never sees or keeps the
//! secret itself), on a blocking thread so a slow database never stalls the runtime.
//!
//! Failed authentications (missing, malformed, unknown, revoked or expired tokens) are counted
//! ([`Authenticator::failed_authentications`]) and logged at WARN through [`FailureLog`]: at
//! most one line per peer IP address a minute, carrying how many failures it stands for.
//!
//! Private jobs: [`Caller::visible_job`] and [`Caller::job_owner_filter`] are the one rule of
//! who sees which import job.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

use dataport_core::{Permission, PermissionSet};
use dataport_store::{Authentication, ImportJob, Store};
use tonic::metadata::MetadataMap;

use crate::error::{ServiceError, blocking};

/// Who is calling.
#[derive(Debug, Clone)]
pub struct Caller {
    /// The token's name, recorded with the jobs it starts.
    pub token_name: String,
    pub permissions: PermissionSet,
    /// The client's IP address, for the audit log.
    pub peer: Option<IpAddr>,
}

impl Caller {
    /// Whose jobs this caller may see: `None` for `admin` tokens (every job), otherwise only
    /// the jobs its own token started (`ImportJob::token_name`). ListImportJobs passes it to
    /// the store query, so pages hold only visible jobs.
    pub fn job_owner_filter(&self) -> Option<&str> {
        (!self.permissions.allows(Permission::Admin)).then_some(self.token_name.as_str())
    }

    /// The job `job_id` as this caller may see it: its report, row errors, error file, progress
    /// and cancellation are private to the token that started it (and `admin` tokens).
    /// Another token's job is NOT_FOUND with the very message of a job that does not exist,
    /// so its existence does not leak.
    pub fn visible_job(&self, job_id: i64, job: Option<ImportJob>) -> Result<ImportJob, ServiceError> {
        match job {
            Some(job)
                if self
                    .job_owner_filter()
                    .is_none_or(|owner| owner == job.token_name) =>
            {
                Ok(job)
            }
            _ => Err(ServiceError::NotFound(format!(
                "import job {job_id} does not exist"
            ))),
        }
    }
}

/// Checks `authorization: Bearer <token>` metadata against the token table.
#[derive(Clone)]
pub struct Authenticator {
    store: Store,
    failures: Arc<FailureLog>,
}

impl Authenticator {
    /// With an `audit` log, each failed-authentication line is also an audit entry.
    pub fn new(store: Store, audit: Option<crate::audit::Audit>) -> Self {
        let failures = Arc::new(FailureLog {
            audit,
            ..FailureLog::default()
        });
        FailureLog::spawn_flusher(&failures);
        Authenticator { store, failures }
    }

    /// Failed authentications since the server started (every one, logged or not).
    pub fn failed_authentications(&self) -> u64 {
        self.failures.total.load(Ordering::Relaxed)
    }

    /// Authenticates the caller and checks that its token carries at least one of `accepted`
    /// (an empty list accepts any valid token). Missing, unknown, revoked or expired tokens
    /// are UNAUTHENTICATED (counted, and logged per `peer`, the client's address), missing
    /// permissions PERMISSION_DENIED naming the permission.
    pub async fn authorize(
        &self,
        metadata: &MetadataMap,
        peer: Option<SocketAddr>,
        accepted: &[Permission],
    ) -> Result<Caller, ServiceError> {
        let result = self.authenticate(metadata).await;
        if let Err(ServiceError::Unauthenticated(reason)) = &result {
            self.failures.record(peer.map(|p| p.ip()), reason, Instant::now());
        }
        let token = result?;
        if !accepted.is_empty() && !accepted.iter().any(|p| token.permissions.allows(*p)) {
            return Err(ServiceError::PermissionDenied(accepted.to_vec()));
        }
        Ok(Caller {
            token_name: token.name,
            permissions: token.permissions,
            peer: peer.map(|p| p.ip()),
        })
    }

    /// The valid token of the metadata's secret, or UNAUTHENTICATED saying why not.
    async fn authenticate(&self, metadata: &MetadataMap) -> Result<dataport_store::ApiToken, ServiceError> {
        let secret = bearer_token(metadata)?.to_owned();
        let store = self.store.clone();
        match blocking(move || Ok(store.authenticate(&secret)?)).await? {
            Authentication::Valid(token) => Ok(token),
            Authentication::Expired(token) => Err(ServiceError::Unauthenticated(format!(
                "API token '{name}' expired at {} UTC; create a new one with `dataport token create --name NAME --permissions {} --expires-in 90d` (to reuse the name, `dataport token revoke --name {name}` first)",
                token
                    .expires_at
                    .map(|t| t.format("%Y-%m-%d %H:%M:%S").to_string())
                    .unwrap_or_default(),
                token.permissions,
                name = token.name,
            ))),
            Authentication::Unknown => Err(ServiceError::Unauthenticated(
                "unknown or revoked API token; create one with `dataport token create`".into(),
            )),
        }
    }
}

/// How long one peer's failures are gathered into one log line.
const FAILURE_WINDOW: Duration = Duration::from_secs(60);
/// How often lines that are due are written even if their peer has stopped failing.
const FAILURE_FLUSH: Duration = Duration::from_secs(10);
/// Most peers tracked at once; failures of further peers are gathered under "other peers".
const MAX_FAILURE_PEERS: usize = 4096;

/// Failed authentications, counted and logged at WARN at most once a minute per peer IP
/// address (a client's port changes with each connection, so it is not part of the key). The
/// first failure of a peer is logged at once; later ones are gathered until a minute has
/// passed since that peer's last line, then logged as one line with their count, either with
/// the next failure or by the flusher task a few seconds later. The map holds at most
/// [`MAX_FAILURE_PEERS`] peers; a peer with nothing left to log is dropped after a minute.
#[derive(Default)]
pub struct FailureLog {
    total: AtomicU64,
    /// Lines written.
    lines: AtomicU64,
    peers: Mutex<FailurePeers>,
    /// Where each line is also recorded, if anywhere.
    audit: Option<crate::audit::Audit>,
}

#[derive(Default)]
struct FailurePeers {
    by_ip: HashMap<IpAddr, FailureWindow>,
    /// No address known (e.g. a Unix socket), or the map was full.
    other: Option<FailureWindow>,
}

/// How the log names the peers gathered in [`FailurePeers::other`].
const OTHER_PEERS: &str = "other peers (no address, or too many peers at once)";

struct FailureWindow {
    /// When this peer's last line was written (`None`: never).
    logged_at: Option<Instant>,
    /// Failures since that line, not yet logged.
    pending: u64,
    /// When the first of them happened.
    pending_since: Instant,
    /// Why the last of them failed.
    reason: String,
}

impl FailureWindow {
    fn new(now: Instant) -> Self {
        FailureWindow {
            logged_at: None,
            pending: 0,
            pending_since: now,
            reason: String::new(),
        }
    }

    fn due(&self, now: Instant) -> bool {
        self.pending > 0
            && self
                .logged_at
                .is_none_or(|t| now.duration_since(t) >= FAILURE_WINDOW)
    }

    fn idle(&self, now: Instant) -> bool {
        self.pending == 0
            && self
                .logged_at
                .is_none_or(|t| now.duration_since(t) >= FAILURE_WINDOW)
    }

    /// Writes the line for the pending failures.
    fn log(&mut self, peer: &str, now: Instant) {
        tracing::warn!(
            peer,
            failures = self.pending,
            over_secs = now.duration_since(self.pending_since).as_secs(),
            last_reason = %self.reason,
            "failed authentication (one line per peer a minute; `failures` counts those since the last)"
        );
        self.logged_at = Some(now);
        self.pending = 0;
    }
}

impl FailureLog {
    /// Counts one failure of `peer` and logs it if that peer's line is due.
    pub fn record(&self, peer: Option<IpAddr>, reason: &str, now: Instant) {
        self.total.fetch_add(1, Ordering::Relaxed);
        crate::metrics::get().auth_failures.inc();
        let mut peers = self.peers.lock().unwrap_or_else(|e| e.into_inner());
        let peers = &mut *peers;
        if let Some(ip) = peer
            && !peers.by_ip.contains_key(&ip)
            && peers.by_ip.len() >= MAX_FAILURE_PEERS
        {
            peers.by_ip.retain(|_, w| !w.idle(now));
        }
        let (window, label) = match peer {
            Some(ip) if peers.by_ip.len() < MAX_FAILURE_PEERS || peers.by_ip.contains_key(&ip) => (
                peers.by_ip.entry(ip).or_insert_with(|| FailureWindow::new(now)),
                ip.to_string(),
            ),
            _ => (
                peers.other.get_or_insert_with(|| FailureWindow::new(now)),
                OTHER_PEERS.to_owned(),
            ),
        };
        if window.pending == 0 {
            window.pending_since = now;
        }
        window.pending += 1;
        reason.clone_into(&mut window.reason);
        if window.due(now) {
            self.write_line(window, &label, now);
        }
    }

    /// Writes every line that is due and drops peers with nothing left to log.
    pub fn flush(&self, now: Instant) {
        let mut peers = self.peers.lock().unwrap_or_else(|e| e.into_inner());
        let peers = &mut *peers;
        peers.by_ip.retain(|ip, window| {
            if window.due(now) {
                self.write_line(window, &ip.to_string(), now);
            }
            !window.idle(now)
        });
        if let Some(window) = &mut peers.other
            && window.due(now)
        {
            self.write_line(window, OTHER_PEERS, now);
        }
    }

    /// Logs `window`'s pending failures as one line (and one audit entry).
    fn write_line(&self, window: &mut FailureWindow, peer: &str, now: Instant) {
        if let Some(audit) = &self.audit {
            let mut entry = dataport_store::NewAuditEntry::new(
                dataport_store::AuditEvent::AuthFailure,
                "authentication",
                format!(
                    "{} failed authentication(s) over {} s; the last: {}",
                    window.pending,
                    now.duration_since(window.pending_since).as_secs(),
                    window.reason
                ),
            );
            entry.peer = Some(peer.to_owned());
            audit.record(entry);
        }
        window.log(peer, now);
        self.lines.fetch_add(1, Ordering::Relaxed);
    }

    /// Peers tracked now.
    pub fn tracked_peers(&self) -> usize {
        self.peers.lock().unwrap_or_else(|e| e.into_inner()).by_ip.len()
    }

    /// Lines written so far.
    pub fn lines(&self) -> u64 {
        self.lines.load(Ordering::Relaxed)
    }

    /// Flushes every few seconds, on the current tokio runtime if there is one, until the
    /// log is dropped.
    fn spawn_flusher(log: &Arc<FailureLog>) {
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        let log: Weak<FailureLog> = Arc::downgrade(log);
        runtime.spawn(async move {
            let mut tick = tokio::time::interval(FAILURE_FLUSH);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                let Some(log) = log.upgrade() else { return };
                log.flush(Instant::now());
            }
        });
    }
}

/// Extracts the token from `authorization: Bearer <token>`.
fn bearer_token(metadata: &MetadataMap) -> Result<&str, ServiceError> {
    let missing = || {
        ServiceError::Unauthenticated(
            "missing API token: send the metadata `authorization: Bearer <token>` \
             (the CLI reads --token, DATAPORT_TOKEN or the token file)"
                .into(),
        )
    };
    let value = metadata.get("authorization").ok_or_else(missing)?;
    let value = value
        .to_str()
        .map_err(|_| ServiceError::Unauthenticated("the authorization metadata is not valid ASCII".into()))?;
    let (scheme, token) = value.trim().split_once(' ').ok_or_else(|| {
        ServiceError::Unauthenticated("the authorization metadata must read `Bearer <token>`".into())
    })?;
    if !scheme.eq_ignore_ascii_case("bearer") || token.trim().is_empty() {
        return Err(ServiceError::Unauthenticated(
            "the authorization metadata must read `Bearer <token>`".into(),
        ));
    }
    Ok(token.trim())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn metadata(value: Option<&str>) -> MetadataMap {
        let mut map = MetadataMap::new();
        if let Some(value) = value {
            map.insert("authorization", value.parse().unwrap());
        }
        map
    }

    #[test]
    fn bearer_token_parsing() {
        assert_eq!(bearer_token(&metadata(Some("Bearer dp_abc"))).unwrap(), "dp_abc");
        assert_eq!(
            bearer_token(&metadata(Some("bearer   dp_abc "))).unwrap(),
            "dp_abc"
        );
        for bad in [None, Some("dp_abc"), Some("Basic dp_abc"), Some("Bearer ")] {
            let err = bearer_token(&metadata(bad)).unwrap_err();
            assert!(matches!(err, ServiceError::Unauthenticated(_)), "{bad:?}: {err}");
        }
    }

    fn job(id: i64, token_name: &str) -> ImportJob {
        ImportJob {
            id,
            module: dataport_core::ModuleScope::One(dataport_core::Module::Customers),
            modules: Vec::new(),
            format: "csv".into(),
            mode: dataport_core::ImportMode::Insert,
            on_error: dataport_core::OnError::SkipRow,
            dry_run: false,
            status: dataport_core::JobStatus::Succeeded,
            counts: dataport_store::JobCounts::default(),
            file_name: "a.csv".into(),
            declared_size: None,
            file_size: None,
            sha256: None,
            token_name: token_name.into(),
            error_code: None,
            error_message: None,
            started_at: chrono::Utc::now(),
            finished_at: None,
            watermark: 0,
            request: None,
            attempts: 1,
            resume_point: None,
        }
    }

    fn caller(name: &str, permissions: &str) -> Caller {
        Caller {
            peer: None,
            token_name: name.into(),
            permissions: permissions.parse().unwrap(),
        }
    }

    #[test]
    fn a_job_is_visible_to_its_token_and_to_admins_only() {
        let owner = caller("fair-import", "import");
        let other = caller("ci", "import,export");
        let admin = caller("admin", "admin");
        assert_eq!(owner.job_owner_filter(), Some("fair-import"));
        assert_eq!(other.job_owner_filter(), Some("ci"));
        assert_eq!(admin.job_owner_filter(), None);
        assert_eq!(owner.visible_job(7, Some(job(7, "fair-import"))).unwrap().id, 7);
        assert_eq!(admin.visible_job(7, Some(job(7, "fair-import"))).unwrap().id, 7);
        // Another token's job and a job that does not exist fail alike.
        let hidden = other.visible_job(7, Some(job(7, "fair-import"))).unwrap_err();
        let missing = other.visible_job(7, None).unwrap_err();
        assert!(matches!(hidden, ServiceError::NotFound(_)), "{hidden}");
        assert!(matches!(missing, ServiceError::NotFound(_)), "{missing}");
        assert_eq!(hidden.to_string(), missing.to_string());
        assert_eq!(missing.to_string(), "import job 7 does not exist");
    }

    #[test]
    fn failed_authentications_log_one_line_per_peer_a_minute() {
        let log = FailureLog::default();
        let start = Instant::now();
        let a: IpAddr = "192.0.2.1".parse().unwrap();
        let b: IpAddr = "192.0.2.2".parse().unwrap();
        // The first failure is logged at once, the next 999 of that minute are gathered.
        for i in 0..1000 {
            log.record(Some(a), "unknown token", start + Duration::from_millis(i));
        }
        assert_eq!(log.lines(), 1);
        log.record(Some(b), "unknown token", start + Duration::from_secs(1));
        assert_eq!(log.lines(), 2, "another peer has its own minute");
        log.flush(start + Duration::from_secs(30));
        assert_eq!(log.lines(), 2, "nothing is due before the minute is over");
        // A minute after a's first line, its gathered 999 are one line; b has nothing pending.
        log.flush(start + FAILURE_WINDOW);
        assert_eq!(log.lines(), 3);
        log.flush(start + FAILURE_WINDOW + Duration::from_secs(1));
        assert_eq!(log.lines(), 3);
        assert_eq!(log.total.load(Ordering::Relaxed), 1001);
        // Peers with nothing pending are dropped a minute after their last line.
        log.flush(start + 3 * FAILURE_WINDOW);
        assert_eq!(log.tracked_peers(), 0);
        // A new failure after a quiet minute is logged at once again.
        log.record(Some(a), "expired", start + 3 * FAILURE_WINDOW);
        assert_eq!(log.lines(), 4);
    }

    #[tokio::test]
    async fn failed_authentications_are_counted_and_expired_tokens_say_so() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("auth.db").to_string_lossy()).unwrap();
        let perms: PermissionSet = "import".parse().unwrap();
        let (_, valid) = store.create_token("fair-import", &perms).unwrap();
        let lifetime = Some(chrono::TimeDelta::milliseconds(1));
        let (_, expired) = store
            .create_expiring_token("short-lived", &perms, lifetime)
            .unwrap();
        tokio::time::sleep(Duration::from_millis(10)).await;
        let auth = Authenticator::new(store, None);
        let peer: Option<SocketAddr> = Some("192.0.2.9:4711".parse().unwrap());
        let bearer = |secret: &str| metadata(Some(&format!("Bearer {secret}")));

        let caller = auth
            .authorize(&bearer(&valid), peer, &[Permission::Import])
            .await
            .unwrap();
        assert_eq!(caller.token_name, "fair-import");
        let denied = auth
            .authorize(&bearer(&valid), peer, &[Permission::Export])
            .await
            .unwrap_err();
        assert!(matches!(denied, ServiceError::PermissionDenied(_)), "{denied}");
        assert_eq!(
            auth.failed_authentications(),
            0,
            "a missing permission is no failed authentication"
        );

        let err = auth.authorize(&bearer(&expired), peer, &[]).await.unwrap_err();
        let ServiceError::Unauthenticated(message) = &err else {
            panic!("{err}")
        };
        for part in [
            "'short-lived' expired at ",
            " UTC",
            "dataport token create",
            "--permissions import",
        ] {
            assert!(message.contains(part), "{part}: {message}");
        }
        for metadata in [bearer("dp_unknown"), metadata(None), metadata(Some("Basic x"))] {
            let err = auth.authorize(&metadata, peer, &[]).await.unwrap_err();
            assert!(matches!(err, ServiceError::Unauthenticated(_)), "{err}");
        }
        assert_eq!(auth.failed_authentications(), 4);
        assert_eq!(auth.failures.lines(), 1, "one line for the peer's minute");
    }

    #[test]
    fn the_failure_log_is_bounded() {
        let log = FailureLog::default();
        let now = Instant::now();
        for i in 0..(MAX_FAILURE_PEERS as u32 + 500) {
            log.record(Some(IpAddr::from(i.to_be_bytes())), "unknown token", now);
        }
        assert_eq!(log.tracked_peers(), MAX_FAILURE_PEERS);
        // Peers beyond the cap share one line a minute.
        assert_eq!(log.lines(), MAX_FAILURE_PEERS as u64 + 1);
        // Once the tracked peers are idle they make room for new ones.
        let later = now + 2 * FAILURE_WINDOW;
        log.record(Some("198.51.100.7".parse().unwrap()), "unknown token", later);
        assert_eq!(log.tracked_peers(), 1);
        assert_eq!(log.total.load(Ordering::Relaxed), MAX_FAILURE_PEERS as u64 + 501);
    }
}
