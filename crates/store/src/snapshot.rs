//! Export snapshots: one read transaction, on one connection, for a whole export.
//!
//! An export announces its row count first and then pages through the records, for as long as
//! its client takes to download them. Read outside a transaction, rows committed meanwhile
//! would land in later pages and the export would write more than it announced. A
//! [`Snapshot`] runs the count and every page in one read transaction instead:
//!
//! - **SQLite**: `BEGIN DEFERRED`; in WAL mode the transaction's snapshot is fixed by its first
//!   read, which is the count, so the pages see exactly the rows the count saw. Writers go on
//!   writing beside it (WAL); checkpoints cannot recycle the WAL past a running snapshot, so
//!   the `-wal` file grows while a long export overlaps heavy imports, and shrinks back after.
//! - **PostgreSQL**: `BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY`; the snapshot is taken
//!   by the first statement, again the count. A filtered snapshot is not `READ ONLY`: its
//!   csv copy writes the filter's codes into a temporary table (`export_copy.rs`), and nothing
//!   else. A long snapshot holds back VACUUM's horizon for
//!   its duration, and a server-side `idle_in_transaction_session_timeout` shorter than the
//!   slowest download would end it (the export then fails instead of going wrong).
//!
//! **COPY.** On PostgreSQL a snapshot can also be read as one `COPY … TO STDOUT (FORMAT csv)`
//! ([`Snapshot::copy_csv`], `export_copy.rs`), in the same transaction, instead of pages.
//!
//! **Connections.** A snapshot holds its pooled connection from the count to its last page,
//! which for a slow client is the whole download. Snapshots therefore come from a pool of their
//! own ([`crate::StoreOptions::export_connections`], created on demand), never from the
//! readers (SQLite) or the shared pool (PostgreSQL): however many downloads are running,
//! authentication, counts, job reports and imports keep every connection they had. An export
//! beyond that many waits up to the checkout timeout for one to end, then fails with
//! [`StoreError::Busy`] (UNAVAILABLE). The connection goes back as soon as the last page has
//! been read, before the file is finished.

use std::fmt;
use std::io::BufRead;

use dataport_core::{Filter, Records};
use diesel::connection::{AnsiTransactionManager, TransactionManager};
use diesel::pg::PgConnection;
use diesel::r2d2::{ConnectionManager, Pool};
use diesel::sqlite::SqliteConnection;

use crate::StoreOptions;
use crate::backend::{
    self, Conn, PgPool, PgPooled, PgSettings, SqlitePool, SqlitePooled, SqliteSettings, Target,
};
use crate::error::{Result, StoreError};
use crate::export_copy;
use crate::pool_events::PoolEvents;
use crate::records;

/// Starts a SQLite read transaction; its snapshot is fixed by the first read.
const SQLITE_BEGIN: &str = "BEGIN DEFERRED";
/// Starts a PostgreSQL snapshot; it is taken by the first statement.
const POSTGRES_BEGIN: &str = "BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY";
/// The same for a filtered export, which may write its temporary table of codes
/// ([`export_copy::stage_filtered_codes`]) and nothing else.
const POSTGRES_BEGIN_FILTERED: &str = "BEGIN ISOLATION LEVEL REPEATABLE READ";

/// The connections snapshots are taken on, apart from every other pool.
pub(crate) enum SnapshotPool {
    Sqlite(SqlitePool),
    Postgres(PgPool),
}

impl SnapshotPool {
    /// A pool of [`StoreOptions::export_connections`] connections to `target`, opened only when
    /// an export needs one (the store's other pools have already checked the database).
    pub(crate) fn open(target: &Target, url: &str, options: &StoreOptions) -> Result<SnapshotPool> {
        let size = options.export_connections.max(1);
        // Never zero (r2d2 panics on it); at most the checkout timeout, so an export fails fast
        // when the database is away.
        let wait = options.checkout_wait();
        let error = |e: &dyn fmt::Display| {
            StoreError::Connection(format!(
                "cannot set up the export connections to {}: {e}",
                backend::mask_url(url)
            ))
        };
        match target {
            Target::Sqlite(path) => Pool::builder()
                .max_size(size)
                .min_idle(Some(0))
                .connection_timeout(wait)
                .test_on_check_out(false)
                .connection_customizer(Box::new(SqliteSettings::new(options.busy_timeout)))
                .event_handler(PoolEvents::boxed("export", options.pool_wait.as_ref()))
                .build(ConnectionManager::<SqliteConnection>::new(
                    backend::sqlite_existing(path),
                ))
                .map(SnapshotPool::Sqlite)
                .map_err(|e| error(&e)),
            Target::Postgres(pg_url) => Pool::builder()
                .max_size(size)
                .min_idle(Some(0))
                .connection_timeout(wait)
                .connection_customizer(Box::new(PgSettings))
                .event_handler(PoolEvents::boxed("export", options.pool_wait.as_ref()))
                .build(ConnectionManager::<PgConnection>::new(pg_url))
                .map(SnapshotPool::Postgres)
                .map_err(|e| error(&e)),
        }
    }

    /// Opens a snapshot and counts, as its first read, the records it will page through.
    pub(crate) fn begin(&self, filter: &Filter, after_code: Option<&str>, url: &str) -> Result<Snapshot> {
        let conn = match self {
            SnapshotPool::Sqlite(pool) => {
                let mut c = pool.get().map_err(|e| checkout_error(pool, url, &e))?;
                AnsiTransactionManager::begin_transaction_sql(&mut *c, SQLITE_BEGIN)?;
                SnapConn::Sqlite(c)
            }
            SnapshotPool::Postgres(pool) => {
                let mut c = pool.get().map_err(|e| checkout_error(pool, url, &e))?;
                let begin = if *filter == Filter::all(filter.module()) {
                    POSTGRES_BEGIN
                } else {
                    POSTGRES_BEGIN_FILTERED
                };
                AnsiTransactionManager::begin_transaction_sql(&mut *c, begin)?;
                SnapConn::Postgres(c)
            }
        };
        let mut snapshot = Snapshot {
            conn: Some(conn),
            filter: filter.clone(),
            after: after_code.map(str::to_owned),
            total: 0,
            paged: false,
        };
        // The count must be the transaction's first read: it fixes the snapshot (dropping
        // `snapshot` on an error ends the transaction).
        let mut conn = snapshot.active()?;
        let total = records::count(&mut conn, filter, after_code)?;
        snapshot.total = total;
        Ok(snapshot)
    }
}

/// An exhausted pool is busy (every connection is a running export); anything else is a
/// connection failure.
fn checkout_error<M: diesel::r2d2::ManageConnection>(
    pool: &Pool<M>,
    url: &str,
    e: &diesel::r2d2::PoolError,
) -> StoreError {
    let state = pool.state();
    if state.connections >= pool.max_size() && state.idle_connections == 0 {
        StoreError::Busy(format!(
            "all {} export connections to {url} are held by running exports, for longer than \
             the checkout timeout ({:?}); try again when one has finished",
            pool.max_size(),
            pool.connection_timeout()
        ))
    } else {
        StoreError::Connection(format!("no export connection to {url} became available: {e}"))
    }
}

enum SnapConn {
    Sqlite(SqlitePooled),
    Postgres(PgPooled),
}

impl SnapConn {
    fn conn(&mut self) -> Conn<'_> {
        match self {
            SnapConn::Sqlite(c) => Conn::Sqlite(c),
            SnapConn::Postgres(c) => Conn::Postgres(c),
        }
    }

    /// Ends the read transaction. Nothing was written, so rolling back loses nothing.
    fn end(&mut self) -> diesel::QueryResult<()> {
        match self {
            SnapConn::Sqlite(c) => AnsiTransactionManager::rollback_transaction(&mut **c),
            SnapConn::Postgres(c) => AnsiTransactionManager::rollback_transaction(&mut **c),
        }
    }
}

/// The records a filter selects, as of one moment: [`Snapshot::total`] counted them, and
/// [`Snapshot::next_page`] returns exactly those, in code order, page by page (keyset
/// pagination on `code`), whatever is committed meanwhile. Made by
/// [`crate::Store::export_snapshot`].
///
/// It holds one connection of the export pool and an open read transaction until the last page
/// has been read or it is dropped. `Send`: an export may count on one thread and page on
/// another.
pub struct Snapshot {
    /// `None` once the last page has been read (the connection is back in its pool).
    conn: Option<SnapConn>,
    filter: Filter,
    /// The last code returned (initially the requested start): pages continue after it.
    after: Option<String>,
    total: u64,
    /// Whether a page or the copy has been read.
    paged: bool,
}

/// A planned [`Snapshot::copy_csv`]: the query, and whether its first column is a `code` that
/// the caller did not ask for (selected so that no record is an empty line).
#[derive(Debug)]
pub struct CsvCopy {
    sql: String,
    leading_code: bool,
    /// Whether the codes of the snapshot's filter are staged first.
    filtered: bool,
}

impl CsvCopy {
    /// Whether each record starts with a `code` column that is not one of the keys.
    pub fn leading_code(&self) -> bool {
        self.leading_code
    }
}

impl fmt::Debug for Snapshot {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Snapshot")
            .field("module", &self.filter.module())
            .field("total", &self.total)
            .field("after", &self.after)
            .field("open", &self.conn.is_some())
            .finish()
    }
}

impl Snapshot {
    fn active(&mut self) -> Result<Conn<'_>> {
        self.conn
            .as_mut()
            .map(SnapConn::conn)
            .ok_or_else(|| StoreError::Database("the export snapshot has already ended".into()))
    }

    /// How many records the snapshot holds after its start code: the sum of every page's length.
    pub fn total(&self) -> u64 {
        self.total
    }

    /// The next up to `limit` records in code order; empty once every record has been returned.
    /// A page shorter than `limit` is the last: the transaction ends and the connection goes
    /// back to its pool right away.
    pub fn next_page(&mut self, limit: usize) -> Result<Records> {
        let Some(conn) = self.conn.as_mut() else {
            return Ok(Records::empty(self.filter.module()));
        };
        let limit = limit.max(1);
        self.paged = true;
        let page = records::page(&mut conn.conn(), &self.filter, self.after.as_deref(), limit)?;
        if let Some(last) = page.last_code() {
            self.after = Some(last.to_owned());
        }
        if page.len() < limit {
            self.end()?;
        }
        Ok(page)
    }

    /// How [`Snapshot::copy_csv`] would stream this snapshot's records as the columns of
    /// `keys` (field keys, in file order): only on PostgreSQL and before any page has been
    /// read. `None` otherwise, or when a key has no column; the pages are the way then.
    pub fn csv_copy(&self, keys: &[&str]) -> Option<CsvCopy> {
        let module = self.filter.module();
        let filtered = self.filter != Filter::all(module);
        match &self.conn {
            Some(SnapConn::Postgres(_)) if !self.paged => {
                let (sql, leading_code) = export_copy::export_query(module, keys, filtered)?;
                Some(CsvCopy {
                    sql,
                    leading_code,
                    filtered,
                })
            }
            _ => None,
        }
    }

    /// Streams every record of the snapshot (after its start code, in code order) through
    /// `read` as PostgreSQL CSV (`COPY … TO STDOUT (FORMAT csv)`: LF line ends, NULL unquoted
    /// and empty, empty text as `""`, amounts in cents, `t`/`f`, ISO dates), then ends the
    /// snapshot. One caveat of the protocol as diesel reads it: an error of the server during
    /// the copy looks like the end of the data, so `read` must check that it saw
    /// [`Snapshot::total`] records.
    ///
    /// A `read` that stops early leaves the copy unfinished; ending the transaction then fails
    /// and the pool discards the connection instead of reusing it.
    pub fn copy_csv<R>(&mut self, copy: CsvCopy, read: impl FnOnce(&mut dyn BufRead) -> R) -> Result<R> {
        let Some(SnapConn::Postgres(conn)) = self.conn.as_mut() else {
            return Err(StoreError::Database(
                "a csv copy needs a PostgreSQL export snapshot".into(),
            ));
        };
        self.paged = true;
        let staged = if copy.filtered {
            export_copy::stage_filtered_codes(conn, &self.filter, self.after.as_deref())
        } else {
            Ok(())
        };
        let result = staged.and_then(|()| export_copy::copy_out(conn, copy.sql, self.after.as_deref(), read));
        if let Err(e) = self.end() {
            tracing::debug!(error = %e, "the export copy ended early; its connection is discarded");
        }
        result
    }

    /// Ends the read transaction and releases the connection (also done on drop).
    fn end(&mut self) -> Result<()> {
        match self.conn.take() {
            Some(mut c) => Ok(c.end()?),
            None => Ok(()),
        }
    }
}

impl Drop for Snapshot {
    fn drop(&mut self) {
        if let Err(e) = self.end() {
            // The pool discards a connection whose transaction state is broken.
            tracing::warn!(error = %e, "ending an export snapshot failed");
        }
    }
}
