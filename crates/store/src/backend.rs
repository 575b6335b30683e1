//! The two backends behind one API.
//!
//! Queries are written once: [`on_conn!`] expands its body once per concrete connection type,
//! so every query is type-checked (and compiled) against `SqliteConnection` and `PgConnection`
//! separately, without diesel's generic-backend trait bounds. SQLite gets two pools: many
//! readers and exactly one writer (WAL allows readers next to one writer; a second writer would
//! only meet "database is locked"). PostgreSQL gets one pool.

use std::time::Duration;

use diesel::connection::{CacheSize, SimpleConnection};
use diesel::pg::PgConnection;
use diesel::r2d2::{ConnectionManager, CustomizeConnection, Pool, PooledConnection};
use diesel::sqlite::SqliteConnection;
use diesel::{Connection, QueryResult};

use crate::error::{Result, StoreError};

/// Which database a [`crate::Store`] talks to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    pub fn as_str(self) -> &'static str {
        match self {
            Backend::Sqlite => "sqlite",
            Backend::Postgres => "postgres",
        }
    }

    /// Most bind parameters one statement may carry.
    pub(crate) fn max_binds(self) -> usize {
        match self {
            // SQLITE_MAX_VARIABLE_NUMBER's default since 3.32.
            Backend::Sqlite => 32_766,
            // The wire protocol counts parameters in 16 bits.
            Backend::Postgres => 65_535,
        }
    }

    /// Rows of `columns` binds each that fit in one statement.
    pub(crate) fn rows_per_statement(self, columns: usize) -> usize {
        (self.max_binds() / columns.max(1)).max(1)
    }
}

impl std::fmt::Display for Backend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A borrowed connection of either backend.
pub(crate) enum Conn<'a> {
    Sqlite(&'a mut SqliteConnection),
    Postgres(&'a mut PgConnection),
}

impl Conn<'_> {
    pub(crate) fn backend(&self) -> Backend {
        match self {
            Conn::Sqlite(_) => Backend::Sqlite,
            Conn::Postgres(_) => Backend::Postgres,
        }
    }
}

/// Runs `$body` with `$c` bound to the concrete connection: the body is repeated per backend.
macro_rules! on_conn {
    ($conn:expr, |$c:ident| $body:expr) => {
        match $conn {
            $crate::backend::Conn::Sqlite(inner) => {
                let $c: &mut ::diesel::sqlite::SqliteConnection = &mut **inner;
                $body
            }
            $crate::backend::Conn::Postgres(inner) => {
                let $c: &mut ::diesel::pg::PgConnection = &mut **inner;
                $body
            }
        }
    };
}
pub(crate) use on_conn;

/// Runs `f` in a transaction, or in a savepoint when one is already open (inside a `WriteTx`).
pub(crate) fn in_transaction<T>(
    conn: &mut Conn<'_>,
    f: impl FnOnce(&mut Conn<'_>) -> Result<T>,
) -> Result<T> {
    match conn {
        Conn::Sqlite(c) => c.transaction(|c| f(&mut Conn::Sqlite(c))),
        Conn::Postgres(c) => c.transaction(|c| f(&mut Conn::Postgres(c))),
    }
}

pub(crate) type SqlitePool = Pool<ConnectionManager<SqliteConnection>>;
pub(crate) type PgPool = Pool<ConnectionManager<PgConnection>>;
pub(crate) type SqlitePooled = PooledConnection<ConnectionManager<SqliteConnection>>;
pub(crate) type PgPooled = PooledConnection<ConnectionManager<PgConnection>>;

pub(crate) enum Pools {
    Sqlite {
        readers: SqlitePool,
        /// Max size 1: the single writer slot. Its checkout timeout is the busy timeout.
        writer: SqlitePool,
        /// What the writer's connection is set to.
        writer_settings: SqliteSettings,
        /// Held for its thread, which checkpoints the WAL beside the writer; `None` if it could
        /// not start (the writer then checkpoints alone, at SQLite's default).
        _checkpointer: Option<crate::checkpoint::Checkpointer>,
        /// The database file (`None` for a `file:` URI), checked by health pings.
        path: Option<std::path::PathBuf>,
    },
    Postgres(PgPool),
}

/// Where a URL points.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Target {
    /// A SQLite file path (or `file:` URI).
    Sqlite(String),
    Postgres(String),
}

/// `postgres://` / `postgresql://` is PostgreSQL; `sqlite://PATH`, `sqlite:PATH` or anything
/// else is a SQLite file.
pub(crate) fn parse_url(url: &str) -> Result<Target> {
    let trimmed = url.trim();
    let lower = trimmed.to_ascii_lowercase();
    if lower.starts_with("postgres://") || lower.starts_with("postgresql://") {
        return Ok(Target::Postgres(trimmed.to_owned()));
    }
    let path = if lower.starts_with("sqlite://") {
        &trimmed["sqlite://".len()..]
    } else if lower.starts_with("sqlite:") {
        &trimmed["sqlite:".len()..]
    } else {
        trimmed
    };
    if path.is_empty() {
        return Err(StoreError::InvalidUrl {
            url: url.to_owned(),
            reason: "no database given: expected postgres://… or a SQLite file path".to_owned(),
        });
    }
    if path == ":memory:" {
        return Err(StoreError::InvalidUrl {
            url: url.to_owned(),
            reason: "in-memory SQLite is not supported (each pooled connection would see its own \
                     empty database); use a file path"
                .to_owned(),
        });
    }
    Ok(Target::Sqlite(path.to_owned()))
}

/// The URI that opens the SQLite database at `path` only if it is there (`mode=rw`, no
/// create), for every connection after the first. A pool opens connections whenever it needs
/// them: with a plain path, one opened after the file was removed or its volume unmounted would
/// silently create a new, empty database there, and the service would carry on against it
/// (health included). A `file:` URI is the operator's own and is used as given.
pub(crate) fn sqlite_existing(path: &str) -> String {
    if path.starts_with("file:") {
        return path.to_owned();
    }
    let mut uri = String::from(if path.starts_with('/') { "file://" } else { "file:" });
    for c in path.chars() {
        match c {
            '%' => uri.push_str("%25"),
            '?' => uri.push_str("%3F"),
            '#' => uri.push_str("%23"),
            c => uri.push(c),
        }
    }
    uri.push_str("?mode=rw");
    uri
}

/// `url` with libpq's `connect_timeout` (whole seconds, at least 1) unless it sets its own:
/// without it, connecting to an address that drops packets hangs for minutes, at start-up and
/// whenever the pool opens a connection.
pub(crate) fn with_connect_timeout(url: &str, timeout: std::time::Duration) -> String {
    if url.contains("connect_timeout=") {
        return url.to_owned();
    }
    let secs = timeout.as_secs_f64().ceil().max(1.0) as u64;
    let sep = if url.contains('?') { '&' } else { '?' };
    format!("{url}{sep}connect_timeout={secs}")
}

/// The URL with any password replaced by `***`, for messages and logs.
pub fn mask_url(url: &str) -> String {
    let mut out = url.to_owned();
    if let Some(scheme_end) = out.find("://") {
        let rest_start = scheme_end + 3;
        let authority_end = out[rest_start..]
            .find(['/', '?'])
            .map_or(out.len(), |i| rest_start + i);
        if let Some(at) = out[rest_start..authority_end].rfind('@') {
            let userinfo = &out[rest_start..rest_start + at];
            if let Some(colon) = userinfo.find(':') {
                out.replace_range(rest_start + colon + 1..rest_start + at, "***");
            }
        }
    }
    // `?password=…` in the query string.
    if let Some(q) = out.find('?') {
        let (head, query) = out.split_at(q + 1);
        let masked: Vec<String> = query
            .split('&')
            .map(|pair| match pair.split_once('=') {
                Some((k, _)) if k.eq_ignore_ascii_case("password") => format!("{k}=***"),
                _ => pair.to_owned(),
            })
            .collect();
        out = format!("{head}{}", masked.join("&"));
    }
    out
}

/// SQLite's library-wide settings, made once, before the first connection opens (SQLite takes
/// them only before it initializes; a later call is refused and changes nothing).
///
/// - Multi-thread mode: no mutex around every call on a connection (the bundled library is
///   built serialized, and the lock and unlock around each bind and step were a tenth of an
///   import's writer thread). Safe because a diesel `SqliteConnection` is `!Sync`: one thread
///   at a time uses it and its cached statements, and the pools hand it from thread to thread.
/// - No memory statistics: they take a global mutex on every allocation, and nothing reads
///   them.
pub(crate) fn configure_sqlite_library() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        use libsqlite3_sys as ffi;
        // SAFETY: sqlite3_config is called before this process opens its first connection
        // (Store::open comes first), once, with the argument each option documents.
        let (threading, memstatus) = unsafe {
            (
                ffi::sqlite3_config(ffi::SQLITE_CONFIG_MULTITHREAD),
                ffi::sqlite3_config(ffi::SQLITE_CONFIG_MEMSTATUS, 0 as std::ffi::c_int),
            )
        };
        if threading != ffi::SQLITE_OK || memstatus != ffi::SQLITE_OK {
            tracing::debug!(
                threading,
                memstatus,
                "SQLite was initialized already: library settings unchanged"
            );
        }
    });
}

/// Per-connection SQLite settings. `journal_mode = WAL` is persistent in the file and is set
/// once at open; these are per connection.
#[derive(Debug, Clone, Copy)]
pub(crate) struct SqliteSettings {
    pub busy_timeout: Duration,
    /// `wal_autocheckpoint` in pages, when not SQLite's default (the writer's, with a
    /// background checkpointer: see `checkpoint.rs`).
    pub autocheckpoint_pages: Option<u32>,
    /// The page cache's bound (`cache_size`), in KiB: [`WRITER_CACHE_KIB`] or
    /// [`READER_CACHE_KIB`].
    pub cache_kib: u32,
}

/// The writer's page cache: an import's upserts probe the code index and the table all over
/// the file, and a larger cache saves re-reading their pages.
pub(crate) const WRITER_CACHE_KIB: u32 = 16 * 1024;

/// Every other connection's (readers, export snapshots): they look up a few rows or walk the
/// code index in order, touching each page about once, so a larger cache only holds memory.
/// Each connection fills its own, and under 8 exports at once 16 MiB each was 128 MiB.
pub(crate) const READER_CACHE_KIB: u32 = 2 * 1024;

impl SqliteSettings {
    /// A reader's settings.
    pub(crate) fn new(busy_timeout: Duration) -> Self {
        SqliteSettings {
            busy_timeout,
            autocheckpoint_pages: None,
            cache_kib: READER_CACHE_KIB,
        }
    }

    pub(crate) fn apply(&self, conn: &mut SqliteConnection) -> QueryResult<()> {
        let ms = self.busy_timeout.as_millis().min(i32::MAX as u128);
        let autocheckpoint = self
            .autocheckpoint_pages
            .map(|pages| format!("PRAGMA wal_autocheckpoint = {pages};"))
            .unwrap_or_default();
        let cache = self.cache_kib;
        conn.batch_execute(&format!(
            "PRAGMA busy_timeout = {ms};
             PRAGMA foreign_keys = ON;
             PRAGMA synchronous = NORMAL;
             PRAGMA cache_size = -{cache};
             PRAGMA temp_store = MEMORY;
             {autocheckpoint}"
        ))
    }
}

impl CustomizeConnection<SqliteConnection, diesel::r2d2::Error> for SqliteSettings {
    fn on_acquire(&self, conn: &mut SqliteConnection) -> Result<(), diesel::r2d2::Error> {
        self.apply(conn).map_err(diesel::r2d2::Error::QueryError)
    }
}

/// What every PostgreSQL connection gets, pooled or not. dataport keeps no state on a
/// PostgreSQL session beyond one transaction, so a replica works behind PgBouncer in
/// transaction pooling mode: there each statement outside a transaction may run on a different
/// server connection, and a named prepared statement (diesel caches them by default) would be
/// missing there ("prepared statement \"__diesel_stmt_2\" does not exist"). Without the cache
/// diesel sends every query as one unnamed parse-bind-execute (`PQsendQueryParams`).
#[derive(Debug, Clone, Copy)]
pub(crate) struct PgSettings;

impl PgSettings {
    pub(crate) fn apply(conn: &mut PgConnection) {
        conn.set_prepared_statement_cache_size(CacheSize::Disabled);
    }
}

impl CustomizeConnection<PgConnection, diesel::r2d2::Error> for PgSettings {
    fn on_acquire(&self, conn: &mut PgConnection) -> Result<(), diesel::r2d2::Error> {
        PgSettings::apply(conn);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pooled_sqlite_connections_never_create_the_database() {
        assert_eq!(sqlite_existing("/var/x.db"), "file:///var/x.db?mode=rw");
        assert_eq!(sqlite_existing("d/a?b#c%.db"), "file:d/a%3Fb%23c%25.db?mode=rw");
        assert_eq!(
            sqlite_existing("file:x.db?cache=shared"),
            "file:x.db?cache=shared"
        );
        let dir = tempfile::tempdir().unwrap();
        let odd = dir.path().join("a?b#c%d.db");
        let odd = odd.to_str().unwrap();
        // Missing: an error, and still no file.
        assert!(SqliteConnection::establish(&sqlite_existing(odd)).is_err());
        assert!(!std::path::Path::new(odd).exists());
        // There: that very file is opened.
        SqliteConnection::establish(odd)
            .unwrap()
            .batch_execute("CREATE TABLE t (x); INSERT INTO t VALUES (7);")
            .unwrap();
        let mut c = SqliteConnection::establish(&sqlite_existing(odd)).unwrap();
        c.batch_execute("INSERT INTO t VALUES (8);").unwrap();
        std::fs::remove_file(odd).unwrap();
        assert!(SqliteConnection::establish(&sqlite_existing(odd)).is_err());
        assert!(!std::path::Path::new(odd).exists());
    }

    #[test]
    fn urls_pick_the_backend() {
        assert_eq!(
            parse_url("postgresql://u@h/db").unwrap(),
            Target::Postgres("postgresql://u@h/db".into())
        );
        assert_eq!(
            parse_url("sqlite:///var/x.db").unwrap(),
            Target::Sqlite("/var/x.db".into())
        );
        assert_eq!(parse_url("sqlite:x.db").unwrap(), Target::Sqlite("x.db".into()));
        assert_eq!(
            parse_url("data/x.db").unwrap(),
            Target::Sqlite("data/x.db".into())
        );
        assert!(matches!(
            parse_url("sqlite://"),
            Err(StoreError::InvalidUrl { .. })
        ));
    }

    #[test]
    fn postgres_urls_get_a_connect_timeout_unless_they_set_one() {
        let secs = std::time::Duration::from_millis;
        assert_eq!(
            with_connect_timeout("postgres://u@h/db", secs(5000)),
            "postgres://u@h/db?connect_timeout=5"
        );
        assert_eq!(
            with_connect_timeout("postgres://u@h/db?sslmode=disable", secs(1)),
            "postgres://u@h/db?sslmode=disable&connect_timeout=1"
        );
        assert_eq!(
            with_connect_timeout("postgres://u@h/db?x=1", secs(1500)),
            "postgres://u@h/db?x=1&connect_timeout=2"
        );
        assert_eq!(
            with_connect_timeout("postgres://u@h/db?connect_timeout=30", secs(5000)),
            "postgres://u@h/db?connect_timeout=30"
        );
    }

    #[test]
    fn passwords_are_masked() {
        assert_eq!(
            mask_url("postgres://dataport:s3cret@127.0.0.1:5432/db?sslmode=disable"),
            "postgres://dataport:***@127.0.0.1:5432/db?sslmode=disable"
        );
        assert_eq!(
            mask_url("postgres://h/db?user=a&password=b"),
            "postgres://h/db?user=a&password=***"
        );
        assert_eq!(mask_url("postgres://u@h/db"), "postgres://u@h/db");
    }

    #[test]
    fn statements_stay_under_the_bind_limit() {
        assert_eq!(Backend::Sqlite.rows_per_statement(13), 2520);
        assert!(Backend::Postgres.rows_per_statement(8) * 8 <= 65_535);
    }
}
