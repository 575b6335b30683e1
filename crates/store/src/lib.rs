//! dataport-store: the diesel storage layer of dataport, on SQLite or PostgreSQL.
//!
//! **One schema, two backends.** [`schema`] is the single diesel schema; the migrations under
//! `migrations/sqlite` and `migrations/postgres` create the same tables in each dialect and are
//! embedded and applied by [`Store::open`]. Every query is written once: the `on_conn!` macro
//! repeats a query body per concrete connection type (`SqliteConnection`, `PgConnection`), so each
//! copy is type-checked against its own backend with no generic-backend trait bounds. Filters are
//! diesel boxed queries, never SQL strings.
//!
//! **One writer on SQLite.** SQLite allows many readers beside a single writer (WAL mode). The
//! store mirrors that with two pools: readers, and a writer pool of exactly one connection whose
//! checkout timeout is [`StoreOptions::busy_timeout`]. Writers queue in the pool instead of
//! racing for the file lock, so concurrent imports wait their turn and never see "database is
//! locked". Write transactions start with `BEGIN IMMEDIATE` to take the lock up front.
//! PostgreSQL uses one pool and its own row locking.
//!
//! **Batches, never rows.** On SQLite a batch write goes in multi-row `INSERT … ON
//! CONFLICT(code)` statements of a fixed size under the bind-parameter limit (32766). On
//! PostgreSQL it is one binary `COPY` into a transaction's staging table and one merge per mode
//! (`copy.rs`). There are no per-row round trips.
//!
//! **Exports read snapshots.** [`Store::export_snapshot`] counts and pages an export's records
//! in one read transaction on one connection of a pool of its own, so the count an export
//! announces is the number of rows it writes, even while imports commit; see [`Snapshot`].
//!
//! Errors come out as database-neutral [`StoreError`] kinds, never diesel's.

mod audit;
mod backend;
mod before_images;
mod changes;
mod checkpoint;
mod copy;
mod error;
mod export_copy;
mod filter;
mod jobs;
mod models;
mod pool_events;
mod records;
pub mod schema;
mod snapshot;
mod time;
mod tokens;

use std::collections::HashSet;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use dataport_core::{Filter, ImportMode, Module, PermissionSet, Records};
use diesel::Connection;
use diesel::connection::{AnsiTransactionManager, SimpleConnection, TransactionManager};
use diesel::pg::PgConnection;
use diesel::r2d2::{ConnectionManager, Pool};
use diesel::sqlite::SqliteConnection;
use diesel_migrations::{EmbeddedMigrations, MigrationHarness, embed_migrations};

use crate::backend::{Conn, PgPooled, PgSettings, Pools, SqlitePooled, SqliteSettings, Target};
use crate::pool_events::PoolEvents;

pub use crate::audit::{AuditEntry, AuditEvent, AuditQuery, NewAuditEntry};
pub use crate::backend::{Backend, mask_url};
pub use crate::changes::{RevertConflict, RevertStep};
pub use crate::error::StoreError;
pub use crate::jobs::{
    ImportJob, JobAdvance, JobCounts, JobFinish, JobLease, JobQuery, JobRequest, ModuleCounts, NewImportJob,
    ResumePoint, RowErrorRecord,
};
pub use crate::pool_events::{PoolWait, PoolWaitObserver};
pub use crate::records::WriteOutcome;
pub use crate::snapshot::{CsvCopy, Snapshot};
pub use crate::tokens::{ApiToken, Authentication};

use crate::error::Result;

const SQLITE_MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations/sqlite");
const POSTGRES_MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations/postgres");

/// The audit log's peer for actions taken on the database host itself (the `token` commands, a
/// server's first start), not through the gRPC API.
pub const LOCAL_PEER: &str = "local";

/// Serialises migrations of replicas that start together against one PostgreSQL database.
const MIGRATION_LOCK_KEY: i64 = 0x6461_7461_706f_7274; // "dataport"

/// How a [`Store`] connects.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoreOptions {
    /// Pool size: readers on SQLite, all connections on PostgreSQL.
    pub max_connections: u32,
    /// How long a writer waits for SQLite's single writer slot before giving up with
    /// [`StoreError::Busy`] (imports queue there on purpose), and SQLite's `busy_timeout`.
    pub busy_timeout: Duration,
    /// How long a running job's lease holds without renewal (see [`JobLease`]).
    pub job_lease: Duration,
    /// Connections kept apart for export snapshots ([`Store::export_snapshot`]), on top of
    /// `max_connections`: at most this many exports read at once, and a slow download never
    /// takes a connection other requests need. Opened on demand.
    pub export_connections: u32,
    /// How long any other checkout (SQLite's readers, PostgreSQL's pool, export snapshots)
    /// waits for a connection, at most `busy_timeout`: with the database away, calls fail
    /// fast with [`StoreError::Connection`] (UNAVAILABLE) instead of hanging. `--db-timeout-secs`.
    pub checkout_timeout: Duration,
    /// Told how long each checkout of each pool waited (for metrics); `None`: nobody.
    pub pool_wait: Option<PoolWaitObserver>,
    /// Pools keep a connection open ahead of need (a server). `false` for short commands: a
    /// pool then opens connections only when asked, so none is being opened by a pool thread
    /// when the process exits (libpq's TLS teardown racing such a thread crashes the exit).
    pub keep_idle: bool,
}

/// Default [`StoreOptions::checkout_timeout`].
pub const DEFAULT_CHECKOUT_TIMEOUT: Duration = Duration::from_secs(5);

/// Default [`StoreOptions::job_lease`].
pub const DEFAULT_JOB_LEASE: Duration = Duration::from_secs(15);

impl Default for StoreOptions {
    fn default() -> Self {
        StoreOptions {
            max_connections: 8,
            busy_timeout: Duration::from_secs(10 * 60),
            job_lease: DEFAULT_JOB_LEASE,
            export_connections: 8,
            checkout_timeout: DEFAULT_CHECKOUT_TIMEOUT,
            pool_wait: None,
            keep_idle: true,
        }
    }
}

/// The storage handle. Cheap to clone (an `Arc` inside); share it between threads.
#[derive(Clone)]
pub struct Store {
    inner: Arc<Inner>,
}

struct Inner {
    pools: Pools,
    backend: Backend,
    /// The URL with its password masked, for messages.
    url: String,
    options: StoreOptions,
    /// This store's identity as the owner of the jobs it runs: each open store is one replica.
    lease: JobLease,
    /// Where export snapshots get their connection (see [`Snapshot`]).
    snapshots: snapshot::SnapshotPool,
}

impl fmt::Debug for Store {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Store")
            .field("backend", &self.inner.backend)
            .field("url", &self.inner.url)
            .finish_non_exhaustive()
    }
}

impl Store {
    /// Opens (creating if needed) the database at `url` and applies pending migrations.
    pub fn open(url: &str) -> Result<Store> {
        Store::open_with(url, &StoreOptions::default())
    }

    /// [`Store::open`] with explicit options.
    pub fn open_with(url: &str, options: &StoreOptions) -> Result<Store> {
        let target = match backend::parse_url(url)? {
            Target::Postgres(pg_url) => {
                Target::Postgres(backend::with_connect_timeout(&pg_url, options.checkout_wait()))
            }
            sqlite => sqlite,
        };
        let (pools, backend) = match &target {
            Target::Sqlite(path) => (open_sqlite(url, path, options)?, Backend::Sqlite),
            Target::Postgres(pg_url) => (open_postgres(pg_url, options)?, Backend::Postgres),
        };
        let snapshots = snapshot::SnapshotPool::open(&target, url, options)?;
        tracing::debug!(backend = backend.as_str(), url = %backend::mask_url(url), "store opened");
        Ok(Store {
            inner: Arc::new(Inner {
                pools,
                backend,
                url: backend::mask_url(url),
                options: options.clone(),
                lease: JobLease::new(options.job_lease),
                snapshots,
            }),
        })
    }

    pub fn backend(&self) -> Backend {
        self.inner.backend
    }

    /// Who this store is as a job owner, and its lease duration.
    pub fn lease(&self) -> &JobLease {
        &self.inner.lease
    }

    // ---- records -------------------------------------------------------------------------

    /// Writes one batch in one transaction. See [`WriteOutcome`] for what each mode reports.
    /// Codes repeated within the batch are written once (INSERT keeps the first, the others
    /// keep the last).
    pub fn write(&self, records: &Records, mode: ImportMode) -> Result<WriteOutcome> {
        if records.is_empty() {
            return Ok(WriteOutcome::default());
        }
        self.with_writer(|c| records::write(c, records, mode, records::Apply::Write, None))
    }

    /// What [`Store::write`] would do with this batch, without writing anything (dry runs):
    /// the same reference and existence lookups, on a reader connection.
    pub fn plan(&self, records: &Records, mode: ImportMode) -> Result<WriteOutcome> {
        if records.is_empty() {
            return Ok(WriteOutcome::default());
        }
        self.with_reader(|c| records::write(c, records, mode, records::Apply::DryRun, None))
    }

    // ---- reverting imports --------------------------------------------------------------

    /// The records a revert of `job_id` has left to handle (its progress total).
    pub fn revert_remaining(&self, job_id: i64) -> Result<u64> {
        self.with_reader(|c| changes::remaining(c, job_id))
    }

    /// Reverts (or, with `dry_run`, plans) the newest batch of `job_id` below `before_id`
    /// (`i64::MAX` for the newest), in one transaction; `None` when no batch is left. Callers
    /// loop, passing the step's `change_id`, so a revert runs in bounded batches with progress.
    /// Each batch names its module (a workbook job's batches are of several, newest first).
    pub fn revert_step(
        &self,
        job_id: i64,
        before_id: i64,
        force: bool,
        dry_run: bool,
    ) -> Result<Option<RevertStep>> {
        if dry_run {
            self.with_reader(|c| changes::revert_step(c, job_id, before_id, force, false))
        } else {
            self.with_writer(|c| {
                backend::in_transaction(c, |c| changes::revert_step(c, job_id, before_id, force, true))
            })
        }
    }

    /// Marks an ended job REVERTED; false if it is running (or gone).
    pub fn mark_reverted(&self, job_id: i64) -> Result<bool> {
        self.with_writer(|c| jobs::mark_reverted(c, job_id))
    }

    /// Opens a write transaction that spans several batches (ALL_OR_NOTHING imports). On
    /// SQLite it holds the single writer until commit or rollback: other writes wait.
    pub fn begin_write(&self) -> Result<WriteTx> {
        self.begin(Commit::Durable)
    }

    /// Opens the write transaction of one batch of a job that ends with a durable write of its
    /// own (the job's final status). On PostgreSQL its commit does not wait for the WAL flush
    /// (`SET LOCAL synchronous_commit = off`): the batch is visible and crash-consistent at
    /// once, and durable with the next flushed commit, at the latest the job's last one. A
    /// crash of PostgreSQL itself in between rolls back whole batches together with the job's
    /// watermark in them, so the job resumes exactly where its durable rows end; the writer
    /// learns of it from the watermark checks of [`JobAdvance::previous_watermark`] and
    /// [`JobFinish::committed_watermark`] ([`StoreError::BatchesLost`]). SQLite's
    /// `synchronous=NORMAL` makes the same trade. Waiting for the flush was about a sixth of
    /// a 1M-row insert's wall time (BENCHMARKS.md).
    pub fn begin_batch(&self) -> Result<WriteTx> {
        self.begin(Commit::Deferred)
    }

    fn begin(&self, commit: Commit) -> Result<WriteTx> {
        let conn = match &self.inner.pools {
            Pools::Sqlite { writer, .. } => {
                let mut c = writer.get().map_err(|_| self.writer_busy())?;
                AnsiTransactionManager::begin_transaction_sql(&mut *c, "BEGIN IMMEDIATE")?;
                TxConn::Sqlite(c)
            }
            Pools::Postgres(pool) => {
                let mut c = pool.get().map_err(|e| self.pool_error(&e))?;
                match commit {
                    Commit::Durable => AnsiTransactionManager::begin_transaction(&mut *c)?,
                    // One round trip: the simple protocol runs both statements.
                    Commit::Deferred => AnsiTransactionManager::begin_transaction_sql(
                        &mut *c,
                        "BEGIN; SET LOCAL synchronous_commit = off",
                    )?,
                }
                TxConn::Postgres(c)
            }
        };
        Ok(WriteTx {
            conn: Some(conn),
            lease: self.inner.lease.clone(),
        })
    }

    /// The subset of `codes` that exist in `module`.
    pub fn existing_codes(&self, module: Module, codes: &[&str]) -> Result<HashSet<String>> {
        self.with_reader(|c| records::existing_codes(c, module, codes))
    }

    /// The distinct `codes` that are NOT customer codes (unknown references).
    pub fn missing_customer_codes(&self, codes: &[&str]) -> Result<HashSet<String>> {
        self.with_reader(|c| records::missing_customer_codes(c, codes))
    }

    /// How many records match `filter`.
    pub fn count(&self, filter: &Filter) -> Result<u64> {
        self.with_reader(|c| records::count(c, filter, None))
    }

    /// Up to `limit` records matching `filter` with code > `after_code`, in code order
    /// (keyset pagination: pass the previous page's last code).
    pub fn page(&self, filter: &Filter, after_code: Option<&str>, limit: usize) -> Result<Records> {
        self.with_reader(|c| records::page(c, filter, after_code, limit))
    }

    /// Opens a read snapshot of the records `filter` selects with code > `after_code` (every
    /// one without it) and counts them, as the snapshot's first read: [`Snapshot::total`] and
    /// the pages of [`Snapshot::next_page`] agree whatever is committed meanwhile. SQLite: a
    /// `BEGIN DEFERRED` read transaction (WAL); PostgreSQL: `REPEATABLE READ, READ ONLY`.
    ///
    /// The snapshot holds one connection of a separate pool of
    /// [`StoreOptions::export_connections`] until its last page or its drop; when all are in
    /// use, this waits up to the checkout timeout and then fails with [`StoreError::Busy`].
    pub fn export_snapshot(&self, filter: &Filter, after_code: Option<&str>) -> Result<Snapshot> {
        self.inner.snapshots.begin(filter, after_code, &self.inner.url)
    }

    // ---- jobs ----------------------------------------------------------------------------

    /// Records a new job: status running, started now.
    pub fn create_job(&self, job: &NewImportJob) -> Result<ImportJob> {
        self.with_writer(|c| jobs::create_job(c, job, &self.inner.lease))
    }

    /// Stores a job's running counts. Progress is advisory: on SQLite, when the single writer
    /// is busy (e.g. an ALL_OR_NOTHING import holds a [`WriteTx`]) the update is skipped
    /// rather than waited for; [`Store::finish_job`] always writes the final counts.
    pub fn update_job_progress(&self, id: i64, counts: &JobCounts) -> Result<()> {
        match self.try_with_writer(|c| jobs::update_progress(c, id, counts))? {
            Some(()) => Ok(()),
            None => {
                tracing::debug!(job = id, "progress update skipped: the writer is busy");
                Ok(())
            }
        }
    }

    /// Marks every RUNNING job INTERRUPTED with `reason(its format)`; returns how many. Only for a server
    /// that owns its database alone (SQLite): at start-up its running jobs are left over from
    /// a process that died.
    pub fn interrupt_running_jobs(&self, reason: impl Fn(&str) -> String) -> Result<u64> {
        self.with_writer(|c| jobs::interrupt_running(c, &reason))
    }

    /// Ends a job this store owns and returns it as stored; `finished_at` is set to now. A job
    /// interrupted meanwhile by a lease sweep is left (and returned) as it is.
    pub fn finish_job(&self, id: i64, finish: &JobFinish) -> Result<ImportJob> {
        self.with_writer(|c| jobs::finish_job(c, id, &self.inner.lease, finish))
    }

    /// Renews the leases of `running`, the jobs this store runs now; returns the ids of those
    /// whose cancel was requested. PostgreSQL only: a SQLite database has one server, which
    /// marks its leftovers at start-up instead.
    pub fn renew_leases(&self, running: &[i64]) -> Result<Vec<i64>> {
        if self.inner.backend == Backend::Sqlite {
            return Ok(Vec::new());
        }
        self.with_writer(|c| jobs::renew_leases(c, &self.inner.lease, running))
    }

    /// Marks INTERRUPTED (with `reason(its format)`) every RUNNING job whose lease expired on
    /// the database clock, whoever owned it; returns their ids. PostgreSQL only.
    pub fn sweep_expired_leases(&self, reason: impl Fn(&str) -> String) -> Result<Vec<i64>> {
        if self.inner.backend == Backend::Sqlite {
            return Ok(Vec::new());
        }
        self.with_writer(|c| jobs::sweep_expired_leases(c, &reason))
    }

    /// Flags a RUNNING job for cancellation by whichever replica owns it; `false` if it is
    /// not running.
    pub fn request_cancel(&self, id: i64) -> Result<bool> {
        // Read first: on SQLite the writer may be held for minutes by an all-or-nothing import,
        // and an ended job needs no write at all.
        let running = self
            .get_job(id)?
            .is_some_and(|job| job.status == dataport_core::JobStatus::Running);
        Ok(running && self.with_writer(|c| jobs::request_cancel(c, id))?)
    }

    /// The job started with idempotency key `request_id`, if any.
    pub fn find_job_by_request(&self, request_id: &str) -> Result<Option<ImportJob>> {
        self.with_reader(|c| jobs::find_by_request(c, request_id))
    }

    /// Claims an INTERRUPTED job for a new attempt by this store (RUNNING, `attempts` + 1);
    /// `None` if it is not INTERRUPTED. `restart` clears the counts, watermark and row errors
    /// of a job that committed nothing (all-or-nothing, dry run).
    pub fn resume_job(&self, id: i64, restart: bool) -> Result<Option<ImportJob>> {
        self.with_writer(|c| jobs::resume_job(c, id, &self.inner.lease, restart))
    }

    /// Drops job `id`'s checkpoint, so that its next attempt is sent whole (a reader could not
    /// resume from it).
    pub fn forget_resume_point(&self, id: i64) -> Result<()> {
        self.with_writer(|c| jobs::forget_resume_point(c, id))
    }

    /// Frees the idempotency key of job `id` (expired keys), keeping the job.
    pub fn forget_request(&self, id: i64) -> Result<()> {
        self.with_writer(|c| jobs::forget_request(c, id))
    }

    pub fn get_job(&self, id: i64) -> Result<Option<ImportJob>> {
        self.with_reader(|c| jobs::get_job(c, id))
    }

    /// Jobs matching `query`, newest (highest id) first.
    pub fn list_jobs(&self, query: &JobQuery) -> Result<Vec<ImportJob>> {
        self.with_reader(|c| jobs::list_jobs(c, query))
    }

    /// Persists row errors of a job, in multi-row statements under the bind limit, in one
    /// transaction.
    pub fn insert_row_errors(&self, job_id: i64, errors: &[RowErrorRecord]) -> Result<()> {
        if errors.is_empty() {
            return Ok(());
        }
        self.with_writer(|c| jobs::insert_row_errors(c, job_id, errors))
    }

    /// A page of row errors with row > `after_row`, ordered by row then insertion. A page may
    /// exceed `limit` so that the errors of its last row are never split across pages: pass
    /// the last returned `row` as the next `after_row`.
    pub fn row_errors(
        &self,
        job_id: i64,
        after_row: Option<i64>,
        limit: usize,
    ) -> Result<Vec<RowErrorRecord>> {
        self.with_reader(|c| jobs::row_errors(c, job_id, after_row, limit))
    }

    pub fn count_row_errors(&self, job_id: i64) -> Result<u64> {
        self.with_reader(|c| jobs::count_row_errors(c, job_id))
    }

    // ---- tokens --------------------------------------------------------------------------

    /// Creates a token and returns it with its secret. The secret is not stored (only its
    /// SHA-256) and cannot be shown again. Names are unique among active tokens. The token
    /// never expires.
    pub fn create_token(&self, name: &str, permissions: &PermissionSet) -> Result<(ApiToken, String)> {
        self.create_expiring_token(name, permissions, None)
    }

    /// [`Store::create_token`] with a lifetime: with `Some(lifetime)` (positive) the token is
    /// refused from `lifetime` after its creation on (the store's UTC clock, like every
    /// timestamp), with `None` it never expires.
    pub fn create_expiring_token(
        &self,
        name: &str,
        permissions: &PermissionSet,
        expires_in: Option<chrono::TimeDelta>,
    ) -> Result<(ApiToken, String)> {
        self.with_writer(|c| {
            let (token, secret) = tokens::create_token(c, name, permissions, expires_in)?;
            let expiry = match token.expires_at {
                Some(t) => format!("expires {} UTC", t.format("%Y-%m-%d %H:%M:%S")),
                None => "never expires".to_owned(),
            };
            let mut entry = NewAuditEntry::new(
                AuditEvent::TokenCreate,
                "token create",
                format!("permissions {}; {expiry}", token.permissions),
            );
            entry.token_name = Some(token.name.clone());
            entry.peer = Some(LOCAL_PEER.to_owned());
            audit::append(c, &[entry])?;
            Ok((token, secret))
        })
    }

    /// Every token, revoked ones included, oldest first.
    pub fn list_tokens(&self) -> Result<Vec<ApiToken>> {
        self.with_reader(tokens::list_tokens)
    }

    /// Revokes the active token called `name`; `false` if there is none.
    pub fn revoke_token(&self, name: &str) -> Result<bool> {
        self.with_writer(|c| {
            let revoked = tokens::revoke_token(c, name)?;
            if revoked {
                let mut entry = NewAuditEntry::new(AuditEvent::TokenRevoke, "token revoke", "revoked");
                entry.token_name = Some(name.to_owned());
                entry.peer = Some(LOCAL_PEER.to_owned());
                audit::append(c, &[entry])?;
            }
            Ok(revoked)
        })
    }

    // ---- audit log -----------------------------------------------------------------------

    /// Appends entries to the audit log in one transaction, stamped now.
    pub fn record_audit(&self, entries: &[NewAuditEntry]) -> Result<()> {
        if entries.is_empty() {
            return Ok(());
        }
        self.with_writer(|c| audit::append(c, entries))
    }

    /// Audit entries matching `query`, oldest first.
    pub fn list_audit(&self, query: &AuditQuery) -> Result<Vec<AuditEntry>> {
        self.with_reader(|c| audit::list(c, query))
    }

    /// Deletes the audit entries older than `before`; returns how many.
    pub fn prune_audit(&self, before: chrono::DateTime<chrono::Utc>) -> Result<u64> {
        self.with_writer(|c| audit::prune(c, before))
    }

    /// What this secret is: a valid token, an expired one (its `expires_at` is at or before
    /// the store's UTC clock), or unknown (never issued or revoked). Records `last_used_at` of
    /// valid tokens at most once a minute, and never waits for a busy writer to do so (the
    /// update is skipped instead).
    pub fn authenticate(&self, secret: &str) -> Result<Authentication> {
        let hash = tokens::hash_secret(secret);
        let Some(mut token) = self.with_reader(|c| tokens::find_active(c, &hash))? else {
            return Ok(Authentication::Unknown);
        };
        let now = time::now();
        if token.is_expired_at(time::to_utc(now)) {
            return Ok(Authentication::Expired(token));
        }
        if tokens::needs_touch(&token, now) {
            match self.try_with_writer(|c| tokens::touch(c, token.id, now)) {
                Ok(Some(())) => token.last_used_at = Some(now.and_utc()),
                Ok(None) => tracing::debug!(token = %token.name, "last_used_at skipped: writer busy"),
                // Bookkeeping must not turn a valid token into a failed request.
                Err(e) => tracing::warn!(token = %token.name, error = %e, "last_used_at not recorded"),
            }
        }
        Ok(Authentication::Valid(token))
    }

    /// Checks that the database answers within `timeout`: a connection is checked out (on
    /// PostgreSQL it is validated first) and runs a trivial query. On SQLite the database file
    /// must also still be at its path (a removed file or an unmounted volume would otherwise go
    /// unnoticed by the open connections). For health checks.
    pub fn ping(&self, timeout: Duration) -> Result<()> {
        let timeout = timeout.max(Duration::from_millis(1));
        match &self.inner.pools {
            Pools::Sqlite { readers, path, .. } => {
                if let Some(path) = path
                    && let Err(e) = std::fs::metadata(path)
                {
                    return Err(StoreError::Connection(format!(
                        "the SQLite database file {} cannot be found: {e}",
                        path.display()
                    )));
                }
                let mut c = readers.get_timeout(timeout).map_err(|e| self.pool_error(&e))?;
                c.batch_execute("SELECT count(*) FROM sqlite_master;")?;
            }
            Pools::Postgres(pool) => {
                let mut c = pool.get_timeout(timeout).map_err(|e| self.pool_error(&e))?;
                c.batch_execute("SELECT 1;")?;
            }
        }
        Ok(())
    }

    /// Number of token rows, revoked included (e.g. to detect a fresh installation).
    pub fn count_tokens(&self) -> Result<u64> {
        self.with_reader(tokens::count_tokens)
    }

    // ---- connections ---------------------------------------------------------------------

    fn with_reader<T>(&self, f: impl FnOnce(&mut Conn<'_>) -> Result<T>) -> Result<T> {
        match &self.inner.pools {
            Pools::Sqlite { readers, .. } => {
                let mut c = readers.get().map_err(|e| self.pool_error(&e))?;
                f(&mut Conn::Sqlite(&mut c))
            }
            Pools::Postgres(pool) => {
                let mut c = pool.get().map_err(|e| self.pool_error(&e))?;
                f(&mut Conn::Postgres(&mut c))
            }
        }
    }

    /// Runs `f` in a write transaction (SQLite: on the single writer, `BEGIN IMMEDIATE`).
    fn with_writer<T>(&self, f: impl FnOnce(&mut Conn<'_>) -> Result<T>) -> Result<T> {
        match &self.inner.pools {
            Pools::Sqlite { writer, .. } => {
                let mut c = writer.get().map_err(|_| self.writer_busy())?;
                c.immediate_transaction(|c| f(&mut Conn::Sqlite(c)))
            }
            Pools::Postgres(pool) => {
                let mut c = pool.get().map_err(|e| self.pool_error(&e))?;
                c.transaction(|c| f(&mut Conn::Postgres(c)))
            }
        }
    }

    /// Runs a single-statement write only if it need not wait: `Ok(None)` when SQLite's writer
    /// is taken or the file is locked by another process.
    fn try_with_writer<T>(&self, f: impl FnOnce(&mut Conn<'_>) -> Result<T>) -> Result<Option<T>> {
        match &self.inner.pools {
            Pools::Sqlite {
                writer,
                writer_settings,
                ..
            } => {
                let Some(mut c) = writer.try_get() else {
                    return Ok(None);
                };
                // Another process may hold the file lock: wait a moment at most, not minutes.
                c.batch_execute("PRAGMA busy_timeout = 100;")?;
                let result = f(&mut Conn::Sqlite(&mut c));
                writer_settings.apply(&mut c)?;
                match result {
                    Ok(v) => Ok(Some(v)),
                    Err(StoreError::Busy(_)) => Ok(None),
                    Err(e) => Err(e),
                }
            }
            Pools::Postgres(pool) => {
                let mut c = pool.get().map_err(|e| self.pool_error(&e))?;
                f(&mut Conn::Postgres(&mut c)).map(Some)
            }
        }
    }

    fn writer_busy(&self) -> StoreError {
        StoreError::Busy(format!(
            "another write held the SQLite writer for longer than the busy timeout ({:?}) on {}",
            self.inner.options.busy_timeout, self.inner.url
        ))
    }

    fn pool_error(&self, e: &diesel::r2d2::PoolError) -> StoreError {
        StoreError::Connection(format!(
            "no database connection to {} became available: {e}",
            self.inner.url
        ))
    }
}

/// Whether a write transaction's commit waits for its WAL flush ([`Store::begin_batch`]).
#[derive(Clone, Copy)]
enum Commit {
    Durable,
    Deferred,
}

/// An open write transaction over several batches. Dropping it without [`WriteTx::commit`]
/// rolls back. On SQLite it holds the single writer connection for its whole life.
pub struct WriteTx {
    /// `None` only after commit or rollback (which consume the value).
    conn: Option<TxConn>,
    /// The store's job lease, checked and renewed by [`WriteTx::advance_job`].
    lease: JobLease,
}

enum TxConn {
    Sqlite(SqlitePooled),
    Postgres(PgPooled),
}

impl TxConn {
    fn conn(&mut self) -> Conn<'_> {
        match self {
            TxConn::Sqlite(c) => Conn::Sqlite(c),
            TxConn::Postgres(c) => Conn::Postgres(c),
        }
    }

    fn commit(&mut self) -> diesel::QueryResult<()> {
        match self {
            TxConn::Sqlite(c) => AnsiTransactionManager::commit_transaction(&mut **c),
            TxConn::Postgres(c) => AnsiTransactionManager::commit_transaction(&mut **c),
        }
    }

    fn rollback(&mut self) -> diesel::QueryResult<()> {
        match self {
            TxConn::Sqlite(c) => AnsiTransactionManager::rollback_transaction(&mut **c),
            TxConn::Postgres(c) => AnsiTransactionManager::rollback_transaction(&mut **c),
        }
    }
}

impl fmt::Debug for WriteTx {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WriteTx")
            .field("open", &self.conn.is_some())
            .finish()
    }
}

impl WriteTx {
    fn active(&mut self) -> Result<Conn<'_>> {
        self.conn
            .as_mut()
            .map(TxConn::conn)
            .ok_or_else(|| StoreError::Database("the write transaction has already ended".into()))
    }

    /// Writes a batch inside the transaction. The batch is atomic on its own (a savepoint): if
    /// it fails, the transaction is still usable and holds the earlier batches.
    pub fn write(&mut self, records: &Records, mode: ImportMode) -> Result<WriteOutcome> {
        self.write_logged(records, mode, None)
    }

    /// Like [`WriteTx::write`], and with `job_id` records what the batch changed for
    /// [`Store::revert_step`]: the codes it created and the values it overwrote.
    pub fn write_logged(
        &mut self,
        records: &Records,
        mode: ImportMode,
        job_id: Option<i64>,
    ) -> Result<WriteOutcome> {
        if records.is_empty() {
            return Ok(WriteOutcome::default());
        }
        let mut conn = self.active()?;
        backend::in_transaction(&mut conn, |c| {
            records::write(c, records, mode, records::Apply::Write, job_id)
        })
    }

    /// Like [`Store::plan`], but sees this transaction's uncommitted rows (an all-or-nothing
    /// import that has stopped writing still checks its later batches).
    pub fn plan(&mut self, records: &Records, mode: ImportMode) -> Result<WriteOutcome> {
        if records.is_empty() {
            return Ok(WriteOutcome::default());
        }
        let mut conn = self.active()?;
        records::write(&mut conn, records, mode, records::Apply::DryRun, None)
    }

    /// Like [`Store::existing_codes`], but sees this transaction's uncommitted rows.
    pub fn existing_codes(&mut self, module: Module, codes: &[&str]) -> Result<HashSet<String>> {
        let mut conn = self.active()?;
        records::existing_codes(&mut conn, module, codes)
    }

    /// Like [`Store::missing_customer_codes`], but sees this transaction's uncommitted rows.
    pub fn missing_customer_codes(&mut self, codes: &[&str]) -> Result<HashSet<String>> {
        let mut conn = self.active()?;
        records::missing_customer_codes(&mut conn, codes)
    }

    /// Persists row errors inside the transaction (committed with the batch they belong to).
    pub fn insert_row_errors(&mut self, job_id: i64, errors: &[RowErrorRecord]) -> Result<()> {
        if errors.is_empty() {
            return Ok(());
        }
        let mut conn = self.active()?;
        jobs::insert_row_errors(&mut conn, job_id, errors)
    }

    /// Adds a batch's counts and watermark to its job inside the transaction, so the job's
    /// report commits (or rolls back) with the rows it counts, and renews the job's lease.
    /// Fails with [`StoreError::JobNotRunning`] if the job was interrupted meanwhile or is no
    /// longer this store's. Returns whether a cancel was requested.
    pub fn advance_job(&mut self, job_id: i64, advance: &JobAdvance) -> Result<bool> {
        let lease = self.lease.clone();
        let mut conn = self.active()?;
        jobs::advance_job(&mut conn, job_id, &lease, advance)
    }

    pub fn commit(mut self) -> Result<()> {
        match self.conn.take() {
            Some(mut c) => Ok(c.commit()?),
            None => Ok(()),
        }
    }

    pub fn rollback(mut self) -> Result<()> {
        match self.conn.take() {
            Some(mut c) => Ok(c.rollback()?),
            None => Ok(()),
        }
    }
}

impl Drop for WriteTx {
    fn drop(&mut self) {
        if let Some(mut c) = self.conn.take()
            && let Err(e) = c.rollback()
        {
            // The pool discards a connection whose transaction state is broken.
            tracing::warn!(error = %e, "rolling back an abandoned write transaction failed");
        }
    }
}

impl StoreOptions {
    /// Connections each pool keeps open ahead of need ([`StoreOptions::keep_idle`]).
    pub(crate) fn min_idle(&self) -> u32 {
        u32::from(self.keep_idle)
    }

    /// What a checkout other than SQLite's writer waits: `checkout_timeout`, at most
    /// `busy_timeout`, never zero (r2d2 panics on it).
    pub(crate) fn checkout_wait(&self) -> Duration {
        self.checkout_timeout
            .min(self.busy_timeout)
            .max(Duration::from_millis(1))
    }
}

/// The file behind a SQLite path; `None` for a `file:` URI, whose options SQLite interprets.
fn sqlite_file(path: &str) -> Option<std::path::PathBuf> {
    (!path.starts_with("file:")).then(|| std::path::PathBuf::from(path))
}

/// Creates the database file with mode 0600 (unix) if it does not exist yet, before SQLite
/// opens it: SQLite gives the `-wal` and `-shm` files the database file's mode, so all three are
/// private. An existing file keeps the mode its owner gave it; a group- or world-readable one
/// is logged as a warning with the fix.
fn create_private(file: &std::path::Path) -> std::io::Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    match options.open(file) {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            #[cfg(unix)]
            {
                use std::os::unix::fs::PermissionsExt;
                let mode = std::fs::metadata(file)?.permissions().mode() & 0o777;
                if mode & 0o077 != 0 {
                    tracing::warn!(
                        file = %file.display(),
                        mode = format!("{mode:o}"),
                        "the SQLite database is readable by other users; run chmod 600 on it and its -wal and -shm files"
                    );
                }
            }
            Ok(())
        }
        Err(e) => Err(e),
    }
}

fn open_sqlite(url: &str, path: &str, options: &StoreOptions) -> Result<Pools> {
    let connect_error = |e: &dyn fmt::Display| {
        StoreError::Connection(format!(
            "cannot open SQLite database '{path}' (from '{}'): {e}",
            backend::mask_url(url)
        ))
    };
    let settings = SqliteSettings::new(options.busy_timeout);
    backend::configure_sqlite_library();
    let file = sqlite_file(path);
    if let Some(file) = &file {
        create_private(file).map_err(|e| connect_error(&e))?;
    }
    let mut conn = SqliteConnection::establish(path).map_err(|e| connect_error(&e))?;
    // WAL is a property of the file: set it once, before any pooled connection exists.
    conn.batch_execute("PRAGMA journal_mode = WAL;")
        .map_err(|e| connect_error(&e))?;
    settings.apply(&mut conn).map_err(|e| connect_error(&e))?;
    conn.run_pending_migrations(SQLITE_MIGRATIONS)
        .map_err(|e| StoreError::Migration(format!("{path}: {e}")))?;
    drop(conn);

    // From here on the file exists, and every connection requires it to.
    let existing = backend::sqlite_existing(path);
    let checkpointer = checkpoint::Checkpointer::start(&existing)
        .inspect_err(
            |e| tracing::warn!(error = %e, "no background WAL checkpoints: the writer checkpoints alone"),
        )
        .ok();
    let writer_settings = SqliteSettings {
        autocheckpoint_pages: checkpointer
            .as_ref()
            .map(|_| checkpoint::WRITER_AUTOCHECKPOINT_PAGES),
        cache_kib: backend::WRITER_CACHE_KIB,
        ..settings
    };
    // r2d2 panics on a zero timeout or size; clamp instead.
    let wait = options.busy_timeout.max(Duration::from_millis(1));
    let writer = Pool::builder()
        .max_size(1)
        .min_idle(Some(options.min_idle()))
        .connection_timeout(wait)
        .test_on_check_out(false)
        .connection_customizer(Box::new(writer_settings))
        .event_handler(PoolEvents::boxed("writer", options.pool_wait.as_ref()))
        .build(ConnectionManager::<SqliteConnection>::new(&existing))
        .map_err(|e| connect_error(&e))?;
    let readers = Pool::builder()
        .max_size(options.max_connections.max(1))
        .min_idle(Some(options.min_idle()))
        .connection_timeout(options.checkout_wait())
        .test_on_check_out(false)
        .connection_customizer(Box::new(settings))
        .event_handler(PoolEvents::boxed("reader", options.pool_wait.as_ref()))
        .build(ConnectionManager::<SqliteConnection>::new(&existing))
        .map_err(|e| connect_error(&e))?;
    Ok(Pools::Sqlite {
        readers,
        writer,
        writer_settings,
        _checkpointer: checkpointer,
        path: file,
    })
}

fn open_postgres(url: &str, options: &StoreOptions) -> Result<Pools> {
    let connect_error = |e: &dyn fmt::Display| {
        StoreError::Connection(format!(
            "cannot connect to PostgreSQL at {}: {}",
            backend::mask_url(url),
            e.to_string().trim_end()
        ))
    };
    let mut conn = PgConnection::establish(url).map_err(|e| connect_error(&e))?;
    PgSettings::apply(&mut conn);
    // A transaction-scoped lock, not a session one: behind PgBouncer in transaction mode the
    // session is not ours between transactions. Replicas starting together queue here, and the
    // lock goes with the commit (or the rollback of a failed migration).
    conn.transaction::<_, StoreError, _>(|c| {
        c.batch_execute(&format!("SELECT pg_advisory_xact_lock({MIGRATION_LOCK_KEY});"))
            .map_err(|e| StoreError::Migration(e.to_string()))?;
        c.run_pending_migrations(POSTGRES_MIGRATIONS)
            .map(|_| ())
            .map_err(|e| StoreError::Migration(e.to_string()))
    })?;
    drop(conn);

    let pool = Pool::builder()
        .max_size(options.max_connections.max(1))
        .min_idle(Some(options.min_idle()))
        .connection_timeout(options.checkout_wait())
        .connection_customizer(Box::new(PgSettings))
        .event_handler(PoolEvents::boxed("main", options.pool_wait.as_ref()))
        .build(ConnectionManager::<PgConnection>::new(url))
        .map_err(|e| connect_error(&e))?;
    Ok(Pools::Postgres(pool))
}

#[cfg(test)]
mod tests {
    use diesel::connection::SimpleConnection;
    use diesel::prelude::*;
    use diesel::sql_types::Text;

    use super::*;

    #[derive(QueryableByName)]
    struct SynchronousCommit {
        #[diesel(sql_type = Text)]
        synchronous_commit: String,
    }

    fn synchronous_commit(tx: &mut WriteTx) -> String {
        let Some(TxConn::Postgres(c)) = tx.conn.as_mut() else {
            panic!("a PostgreSQL transaction");
        };
        diesel::sql_query("SHOW synchronous_commit")
            .get_result::<SynchronousCommit>(&mut **c)
            .expect("SHOW")
            .synchronous_commit
    }

    /// A batch's deferred commit is its own transaction's setting: the pool's one connection
    /// is back to the server's setting in the next transaction (committed or rolled back), so
    /// nothing outlives the transaction that PgBouncer's transaction pooling would carry on.
    #[test]
    #[cfg_attr(
        not(dataport_postgres_tests),
        ignore = "set DATAPORT_TEST_DATABASE_URL to run the PostgreSQL storage tests"
    )]
    fn a_batch_commit_defers_its_flush_in_its_own_transaction_only() {
        let base = std::env::var("DATAPORT_TEST_DATABASE_URL").expect("DATAPORT_TEST_DATABASE_URL");
        let schema = format!("u{}_batch_commit", std::process::id());
        let mut admin = PgConnection::establish(&base).expect("connect");
        admin
            .batch_execute(&format!(
                "DROP SCHEMA IF EXISTS {schema} CASCADE; CREATE SCHEMA {schema};"
            ))
            .expect("schema");
        let sep = if base.contains('?') { '&' } else { '?' };
        let store = Store::open_with(
            &format!("{base}{sep}options=-c%20search_path%3D{schema}"),
            &StoreOptions {
                max_connections: 1,
                ..StoreOptions::default()
            },
        )
        .expect("open");

        let mut tx = store.begin_write().unwrap();
        let server_setting = synchronous_commit(&mut tx);
        assert_ne!(
            server_setting, "off",
            "the test needs a server that flushes on commit"
        );
        tx.commit().unwrap();

        for commit in [true, false] {
            let mut tx = store.begin_batch().unwrap();
            assert_eq!(synchronous_commit(&mut tx), "off");
            if commit { tx.commit() } else { tx.rollback() }.unwrap();
            let mut tx = store.begin_write().unwrap();
            assert_eq!(
                synchronous_commit(&mut tx),
                server_setting,
                "after commit: {commit}"
            );
            tx.rollback().unwrap();
        }
        drop(store);
        admin
            .batch_execute(&format!("DROP SCHEMA {schema} CASCADE"))
            .expect("drop schema");
    }
}
