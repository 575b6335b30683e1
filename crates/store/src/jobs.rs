//! Import jobs and their persisted row errors.

use std::time::Duration;

use chrono::{DateTime, NaiveDateTime, Utc};
use dataport_core::{ErrorCode, ImportMode, JobStatus, Module, ModuleScope, OnError};
use diesel::dsl::sql;
use diesel::expression::SqlLiteral;
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Bool, Nullable, Text};

use crate::backend::{Backend, Conn, on_conn};
use crate::error::{Result, StoreError};
use crate::schema::{import_cancel_requests, import_jobs, import_row_errors};
use crate::time;

/// What the server knows when an import starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewImportJob {
    /// One module, or a workbook with a sheet per module.
    pub module: ModuleScope,
    /// Format name of the plugin reading the file, e.g. `xlsx`.
    pub format: String,
    pub mode: ImportMode,
    pub on_error: OnError,
    pub dry_run: bool,
    pub file_name: String,
    /// The size the client announced, if any.
    pub declared_size: Option<i64>,
    /// Name of the API token that started the job.
    pub token_name: String,
    /// The client's idempotency key and the fingerprint of the parameters it came with.
    pub request: Option<JobRequest>,
}

/// An idempotency key (`ImportSpec.request_id`) with the fingerprint of its parameters: the
/// same key with another fingerprint is a different request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobRequest {
    pub id: String,
    pub fingerprint: String,
}

/// This server instance's claim on the jobs it runs: who it is, and how long a lease holds
/// without renewal. Lease times are read from the database's clock only.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobLease {
    /// Unique per running server process (a replica), e.g. `host:pid:random`.
    pub owner: String,
    pub duration: Duration,
}

impl JobLease {
    /// A fresh identity for this process.
    pub fn new(duration: Duration) -> JobLease {
        use std::hash::{BuildHasher, Hasher};
        let host = std::env::var("HOSTNAME").unwrap_or_else(|_| "host".to_owned());
        // RandomState is seeded per process: two replicas on one host still differ.
        let mut random = std::collections::hash_map::RandomState::new().build_hasher();
        random.write_u128(
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap_or_default()
                .as_nanos(),
        );
        JobLease {
            owner: format!("{host}:{}:{:08x}", std::process::id(), random.finish() as u32),
            duration,
        }
    }

    fn millis(&self) -> i64 {
        i64::try_from(self.duration.as_millis()).unwrap_or(i64::MAX / 4)
    }
}

/// The database clock in Unix milliseconds, as SQL (`clock_timestamp()`, not the transaction's
/// start, so a long all-or-nothing transaction still renews to "now").
fn db_now_ms(backend: Backend) -> &'static str {
    match backend {
        Backend::Sqlite => "CAST((julianday('now') - 2440587.5) * 86400000.0 AS INTEGER)",
        Backend::Postgres => "CAST(EXTRACT(EPOCH FROM clock_timestamp()) * 1000 AS BIGINT)",
    }
}

/// When a lease taken now expires, as SQL on the database clock.
fn lease_until(backend: Backend, lease: &JobLease) -> SqlLiteral<Nullable<BigInt>> {
    sql::<Nullable<BigInt>>(&format!("({} + {})", db_now_ms(backend), lease.millis()))
}

/// Row counters of a job.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct JobCounts {
    pub rows_read: u64,
    pub created: u64,
    pub updated: u64,
    pub skipped: u64,
    pub failed: u64,
    pub bytes_read: u64,
}

/// One sheet's counts in a workbook job (`bytes_read` unused).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModuleCounts {
    pub module: Module,
    /// The sheet's name in the workbook.
    pub sheet: String,
    pub counts: JobCounts,
}

/// The `module_counts` column: a JSON list, `None` (NULL) for a one-module job.
fn module_counts_to_db(modules: &[ModuleCounts]) -> Option<String> {
    if modules.is_empty() {
        return None;
    }
    let list: Vec<serde_json::Value> = modules
        .iter()
        .map(|m| {
            serde_json::json!({
                "module": m.module.as_str(),
                "sheet": m.sheet,
                "rows_read": m.counts.rows_read,
                "created": m.counts.created,
                "updated": m.counts.updated,
                "skipped": m.counts.skipped,
                "failed": m.counts.failed,
            })
        })
        .collect();
    Some(serde_json::Value::Array(list).to_string())
}

fn module_counts_from_db(text: Option<&str>) -> Result<Vec<ModuleCounts>> {
    let Some(text) = text else { return Ok(Vec::new()) };
    let corrupt = |why: String| StoreError::Corrupt(format!("import_jobs.module_counts: {why}"));
    let list: Vec<serde_json::Value> = serde_json::from_str(text).map_err(|e| corrupt(e.to_string()))?;
    list.iter()
        .map(|m| {
            let count = |key: &str| m.get(key).and_then(serde_json::Value::as_u64).unwrap_or(0);
            let module = m.get("module").and_then(|v| v.as_str()).unwrap_or_default();
            Ok(ModuleCounts {
                module: module
                    .parse()
                    .map_err(|_| corrupt(format!("unknown module '{module}'")))?,
                sheet: m
                    .get("sheet")
                    .and_then(|v| v.as_str())
                    .unwrap_or_default()
                    .to_owned(),
                counts: JobCounts {
                    rows_read: count("rows_read"),
                    created: count("created"),
                    updated: count("updated"),
                    skipped: count("skipped"),
                    failed: count("failed"),
                    bytes_read: 0,
                },
            })
        })
        .collect()
}

/// How a job ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobFinish {
    pub status: JobStatus,
    pub counts: JobCounts,
    /// A workbook job's counts per sheet (empty: a one-module job).
    pub modules: Vec<ModuleCounts>,
    pub file_size: Option<i64>,
    /// Hex SHA-256 of the uploaded bytes.
    pub sha256: Option<String>,
    /// Why the job failed as a whole, with `error_message`.
    pub error_code: Option<ErrorCode>,
    pub error_message: Option<String>,
    /// The watermark the job's batches committed, as its writer saw them commit; `None`: not
    /// checked (nothing commits per batch). A job row holding an older one lost batches in a
    /// PostgreSQL crash ([`JobAdvance::previous_watermark`]): it ends INTERRUPTED with what is
    /// stored, not with these counts.
    pub committed_watermark: Option<u64>,
}

/// A persisted import job.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportJob {
    pub id: i64,
    pub module: ModuleScope,
    pub format: String,
    pub mode: ImportMode,
    pub on_error: OnError,
    pub dry_run: bool,
    pub status: JobStatus,
    pub counts: JobCounts,
    /// A workbook job's counts per sheet read so far, in import order (empty otherwise).
    pub modules: Vec<ModuleCounts>,
    pub file_name: String,
    /// The size the client announced when it started the upload.
    pub declared_size: Option<i64>,
    /// The size actually received.
    pub file_size: Option<i64>,
    pub sha256: Option<String>,
    pub token_name: String,
    pub error_code: Option<ErrorCode>,
    pub error_message: Option<String>,
    pub started_at: DateTime<Utc>,
    pub finished_at: Option<DateTime<Utc>>,
    /// The last source row whose fate is final (committed, or reported as an error), as a
    /// job row ([`ModuleScope::job_row`]: in a workbook job, sheet-major).
    pub watermark: u64,
    /// The idempotency key the job was started with, and its parameters' fingerprint.
    pub request: Option<JobRequest>,
    /// Import streams the job has run in: 1, plus one per resume.
    pub attempts: u32,
    /// Where its reader stood after the last committed batch, if the reader could say.
    pub resume_point: Option<ResumePoint>,
}

/// A reader's checkpoint after a committed batch: a resumed upload may start at `offset`, where
/// row `next_row` begins; `state` is the format plugin's own, opaque to the store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResumePoint {
    pub offset: u64,
    pub next_row: u64,
    pub state: Vec<u8>,
}

/// What one committed batch adds to its job, in the batch's own transaction.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct JobAdvance {
    pub rows_read: u64,
    pub created: u64,
    pub updated: u64,
    pub skipped: u64,
    pub failed: u64,
    /// The batch's last source row.
    pub watermark: u64,
    /// The watermark the job must hold before this batch (the last batch's, as its writer saw
    /// it commit); `None`: not checked. A job row holding another one means PostgreSQL lost
    /// batches that had committed (a crash with their WAL unflushed, see
    /// `Store::begin_batch`): the batch is refused with [`crate::StoreError::BatchesLost`].
    pub previous_watermark: Option<u64>,
    /// The reader's checkpoint after the batch; `None` keeps the previous one, still valid
    /// (rows up to the watermark are skipped on a resume anyway).
    pub resume_point: Option<ResumePoint>,
    /// A workbook job's counts per sheet after the batch (cumulative; empty: leave alone).
    pub modules: Vec<ModuleCounts>,
}

/// Which jobs [`crate::Store::list_jobs`] returns: newest first, every `Some` must match.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobQuery {
    pub module: Option<ModuleScope>,
    pub status: Option<JobStatus>,
    /// Jobs started at or after this instant.
    pub started_after: Option<DateTime<Utc>>,
    /// Jobs started strictly before this instant.
    pub started_before: Option<DateTime<Utc>>,
    /// Keyset cursor: only jobs with a smaller id (the last id of the previous page).
    pub before_id: Option<i64>,
    /// Only jobs started by the token with this name (what a non-admin caller may see).
    pub token_name: Option<String>,
    pub limit: usize,
}

impl Default for JobQuery {
    fn default() -> Self {
        JobQuery {
            module: None,
            status: None,
            started_after: None,
            started_before: None,
            before_id: None,
            token_name: None,
            limit: 50,
        }
    }
}

/// One failed cell or row of an import.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RowErrorRecord {
    /// Spreadsheet row number; the header is row 1.
    pub row: i64,
    /// The header label of the column, as in the file.
    pub column: String,
    /// The field key.
    pub field: String,
    pub code: ErrorCode,
    pub message: String,
    pub raw_value: Option<String>,
    /// Opaque text the server stores to rebuild the failed row for the error file.
    pub row_data: Option<String>,
}

#[derive(Queryable, Selectable)]
#[diesel(table_name = import_jobs)]
struct JobRow {
    id: i64,
    module: String,
    format: String,
    mode: String,
    on_error: String,
    dry_run: bool,
    status: String,
    rows_read: i64,
    created: i64,
    updated: i64,
    skipped: i64,
    failed: i64,
    bytes_read: i64,
    file_name: String,
    declared_size: Option<i64>,
    file_size: Option<i64>,
    sha256: Option<String>,
    token_name: String,
    error_message: Option<String>,
    started_at: NaiveDateTime,
    finished_at: Option<NaiveDateTime>,
    error_code: Option<String>,
    watermark: i64,
    request_id: Option<String>,
    request_fingerprint: Option<String>,
    attempts: i32,
    resume_offset: Option<i64>,
    resume_row: Option<i64>,
    resume_state: Option<Vec<u8>>,
    module_counts: Option<String>,
}

fn word<T: std::str::FromStr>(what: &str, value: &str) -> Result<T> {
    value
        .parse()
        .map_err(|_| StoreError::Corrupt(format!("unknown {what} '{value}' in import_jobs")))
}

fn count_from_db(what: &str, value: i64) -> Result<u64> {
    u64::try_from(value)
        .map_err(|_| StoreError::Corrupt(format!("negative {what} count {value} in import_jobs")))
}

fn count_to_db(value: u64) -> i64 {
    i64::try_from(value).unwrap_or(i64::MAX)
}

impl TryFrom<JobRow> for ImportJob {
    type Error = StoreError;
    fn try_from(r: JobRow) -> Result<Self> {
        Ok(ImportJob {
            id: r.id,
            module: word("module", &r.module)?,
            modules: module_counts_from_db(r.module_counts.as_deref())?,
            format: r.format,
            mode: word("import mode", &r.mode)?,
            on_error: word("error policy", &r.on_error)?,
            dry_run: r.dry_run,
            status: word("job status", &r.status)?,
            counts: JobCounts {
                rows_read: count_from_db("rows_read", r.rows_read)?,
                created: count_from_db("created", r.created)?,
                updated: count_from_db("updated", r.updated)?,
                skipped: count_from_db("skipped", r.skipped)?,
                failed: count_from_db("failed", r.failed)?,
                bytes_read: count_from_db("bytes_read", r.bytes_read)?,
            },
            file_name: r.file_name,
            declared_size: r.declared_size,
            file_size: r.file_size,
            sha256: r.sha256,
            token_name: r.token_name,
            error_code: r
                .error_code
                .as_deref()
                .map(|c| {
                    ErrorCode::parse(c).ok_or_else(|| {
                        StoreError::Corrupt(format!("unknown error code '{c}' in import_jobs"))
                    })
                })
                .transpose()?,
            error_message: r.error_message,
            started_at: time::to_utc(r.started_at),
            finished_at: r.finished_at.map(time::to_utc),
            watermark: count_from_db("watermark", r.watermark)?,
            request: match (r.request_id, r.request_fingerprint) {
                (Some(id), Some(fingerprint)) => Some(JobRequest { id, fingerprint }),
                _ => None,
            },
            attempts: u32::try_from(r.attempts).unwrap_or(1),
            resume_point: match (r.resume_offset, r.resume_row, r.resume_state) {
                (Some(offset), Some(row), Some(state)) => Some(ResumePoint {
                    offset: count_from_db("resume_offset", offset)?,
                    next_row: count_from_db("resume_row", row)?,
                    state,
                }),
                _ => None,
            },
        })
    }
}

#[derive(Insertable)]
#[diesel(table_name = import_jobs)]
struct NewJobRow<'a> {
    module: &'a str,
    format: &'a str,
    mode: &'a str,
    on_error: &'a str,
    dry_run: bool,
    status: &'a str,
    file_name: &'a str,
    declared_size: Option<i64>,
    token_name: &'a str,
    started_at: NaiveDateTime,
    request_id: Option<&'a str>,
    request_fingerprint: Option<&'a str>,
}

#[derive(AsChangeset)]
#[diesel(table_name = import_jobs)]
struct CountsChange {
    rows_read: i64,
    created: i64,
    updated: i64,
    skipped: i64,
    failed: i64,
    bytes_read: i64,
}

impl From<&JobCounts> for CountsChange {
    fn from(c: &JobCounts) -> Self {
        CountsChange {
            rows_read: count_to_db(c.rows_read),
            created: count_to_db(c.created),
            updated: count_to_db(c.updated),
            skipped: count_to_db(c.skipped),
            failed: count_to_db(c.failed),
            bytes_read: count_to_db(c.bytes_read),
        }
    }
}

/// Everything a finish writes; `None` clears the column (`treat_none_as_null`).
#[derive(AsChangeset)]
#[diesel(table_name = import_jobs, treat_none_as_null = true)]
struct FinishChange<'a> {
    status: &'a str,
    file_size: Option<i64>,
    sha256: Option<&'a str>,
    error_code: Option<&'a str>,
    error_message: Option<&'a str>,
    finished_at: Option<NaiveDateTime>,
    lease_expires_ms: Option<i64>,
    module_counts: Option<String>,
}

fn job_not_found(id: i64) -> StoreError {
    StoreError::NotFound {
        what: format!("import job {id}"),
    }
}

pub(crate) fn create_job(conn: &mut Conn<'_>, job: &NewImportJob, lease: &JobLease) -> Result<ImportJob> {
    use import_jobs::dsl;
    let row = NewJobRow {
        module: job.module.as_str(),
        format: &job.format,
        mode: job.mode.as_str(),
        on_error: job.on_error.as_str(),
        dry_run: job.dry_run,
        status: JobStatus::Running.as_str(),
        file_name: &job.file_name,
        declared_size: job.declared_size,
        token_name: &job.token_name,
        started_at: time::now(),
        request_id: job.request.as_ref().map(|r| r.id.as_str()),
        request_fingerprint: job.request.as_ref().map(|r| r.fingerprint.as_str()),
    };
    // `as_returning()`/`as_select()` fix the backend, so they are built inside `on_conn!`.
    let claim = (
        dsl::owner.eq(lease.owner.as_str()),
        dsl::lease_expires_ms.eq(lease_until(conn.backend(), lease)),
    );
    let insert = diesel::insert_into(import_jobs::table).values((&row, claim));
    let created: JobRow = on_conn!(conn, |c| insert
        .returning(JobRow::as_returning())
        .get_result(c)?);
    created.try_into()
}

pub(crate) fn update_progress(conn: &mut Conn<'_>, id: i64, counts: &JobCounts) -> Result<()> {
    let update = diesel::update(import_jobs::table.find(id)).set(CountsChange::from(counts));
    let n = on_conn!(conn, |c| update.execute(c)?);
    if n == 0 {
        return Err(job_not_found(id));
    }
    Ok(())
}

/// Adds a committed batch to its job and renews the job's lease. Runs inside the batch's
/// transaction; a job that is no longer RUNNING or no longer ours (interrupted by a sweep, its
/// lease lost) refuses it, which rolls the batch back. Returns whether a cancel was requested.
pub(crate) fn advance_job(
    conn: &mut Conn<'_>,
    id: i64,
    lease: &JobLease,
    advance: &JobAdvance,
) -> Result<bool> {
    use import_jobs::dsl;
    let until = lease_until(conn.backend(), lease);
    let update = diesel::update(
        import_jobs::table
            .find(id)
            .filter(dsl::status.eq(JobStatus::Running.as_str()))
            .filter(dsl::owner.eq(lease.owner.as_str()))
            .filter(holds_watermark(advance.previous_watermark)),
    )
    .set((
        dsl::rows_read.eq(dsl::rows_read + count_to_db(advance.rows_read)),
        dsl::created.eq(dsl::created + count_to_db(advance.created)),
        dsl::updated.eq(dsl::updated + count_to_db(advance.updated)),
        dsl::skipped.eq(dsl::skipped + count_to_db(advance.skipped)),
        dsl::failed.eq(dsl::failed + count_to_db(advance.failed)),
        dsl::watermark.eq(count_to_db(advance.watermark)),
        dsl::lease_expires_ms.eq(until),
        advance.resume_point.as_ref().map(|p| {
            (
                dsl::resume_offset.eq(count_to_db(p.offset)),
                dsl::resume_row.eq(count_to_db(p.next_row)),
                dsl::resume_state.eq(p.state.as_slice()),
            )
        }),
        module_counts_to_db(&advance.modules).map(|m| dsl::module_counts.eq(m)),
    ));
    let n = on_conn!(conn, |c| update.execute(c)?);
    if n == 0 {
        let lost = lost_batches(conn, id, lease, advance.previous_watermark)?;
        return Err(lost.unwrap_or(StoreError::JobNotRunning { id }));
    }
    cancel_requested(conn, id)
}

/// The condition that the job row holds watermark `expected` (always true for `None`): the
/// check of [`JobAdvance::previous_watermark`] and [`JobFinish::committed_watermark`].
fn holds_watermark(
    expected: Option<u64>,
) -> diesel::dsl::Or<diesel::dsl::Eq<import_jobs::watermark, i64>, SqlLiteral<Bool>> {
    let (watermark, unchecked) = match expected {
        Some(w) => (count_to_db(w), "FALSE"),
        None => (0, "TRUE"),
    };
    import_jobs::watermark.eq(watermark).or(sql::<Bool>(unchecked))
}

/// Why a write that expected the job row to hold watermark `expected` matched no row, when the
/// reason is lost batches: the job is still RUNNING under this owner, with an older watermark
/// (a PostgreSQL crash took batches whose commit had returned). `None` when it ended or moved
/// to another owner, or nothing was expected.
fn lost_batches(
    conn: &mut Conn<'_>,
    id: i64,
    lease: &JobLease,
    expected: Option<u64>,
) -> Result<Option<StoreError>> {
    let Some(expected) = expected else {
        return Ok(None);
    };
    let ours = import_jobs::table
        .find(id)
        .filter(import_jobs::status.eq(JobStatus::Running.as_str()))
        .filter(import_jobs::owner.eq(lease.owner.as_str()))
        .select(import_jobs::watermark);
    let stored: Option<i64> = on_conn!(conn, |c| ours.first(c).optional()?);
    let Some(stored) = stored else {
        return Ok(None);
    };
    let stored = count_from_db("watermark", stored)?;
    Ok((stored != expected).then_some(StoreError::BatchesLost { id, stored, expected }))
}

fn cancel_requested(conn: &mut Conn<'_>, id: i64) -> Result<bool> {
    let query = diesel::dsl::select(diesel::dsl::exists(import_cancel_requests::table.find(id)));
    Ok(on_conn!(conn, |c| query.get_result(c)?))
}

#[derive(QueryableByName)]
struct RenewedLease {
    #[diesel(sql_type = BigInt)]
    id: i64,
}

/// Renews the leases of `ids`, the jobs this owner runs now; returns the ids of those whose
/// cancel was requested (from any replica). A job of this owner that is RUNNING in the database
/// but no longer runs here (its end could not be recorded: the database was away) is not
/// renewed, so its lease expires and a sweep interrupts it. A job row locked by its own batch
/// transaction is skipped, not waited for: that batch renews it as it commits. PostgreSQL only
/// (SQLite has one server).
pub(crate) fn renew_leases(conn: &mut Conn<'_>, lease: &JobLease, ids: &[i64]) -> Result<Vec<i64>> {
    let Conn::Postgres(c) = conn else {
        return Ok(Vec::new());
    };
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let query = format!(
        "UPDATE import_jobs SET lease_expires_ms = ({now} + {ms}) \
         WHERE id IN (SELECT id FROM import_jobs WHERE owner = $1 AND status = '{running}' \
                      AND id = ANY($2) FOR UPDATE SKIP LOCKED) \
         RETURNING id",
        now = db_now_ms(Backend::Postgres),
        ms = lease.millis(),
        running = JobStatus::Running.as_str(),
    );
    let renewed: Vec<RenewedLease> = diesel::sql_query(query)
        .bind::<Text, _>(&lease.owner)
        .bind::<diesel::sql_types::Array<BigInt>, _>(ids)
        .load(&mut **c)?;
    let mine: Vec<i64> = renewed.into_iter().map(|r| r.id).collect();
    let query = import_cancel_requests::table
        .select(import_cancel_requests::job_id)
        .filter(import_cancel_requests::job_id.eq_any(&mine));
    Ok(query.load(&mut **c)?)
}

#[derive(QueryableByName)]
struct SweptJob {
    #[diesel(sql_type = BigInt)]
    id: i64,
    #[diesel(sql_type = Text)]
    format: String,
}

/// Marks INTERRUPTED every RUNNING job whose lease expired (its owner died or lost the
/// database), on the database clock; returns their ids. Replicas sweep concurrently: each row
/// goes to exactly one of them (`FOR UPDATE SKIP LOCKED`). PostgreSQL only.
pub(crate) fn sweep_expired_leases(conn: &mut Conn<'_>, reason: &dyn Fn(&str) -> String) -> Result<Vec<i64>> {
    let Conn::Postgres(c) = conn else {
        return Ok(Vec::new());
    };
    let query = format!(
        "UPDATE import_jobs SET status = '{interrupted}', error_message = $1, \
             finished_at = (clock_timestamp() AT TIME ZONE 'UTC'), lease_expires_ms = NULL \
         WHERE id IN (SELECT id FROM import_jobs WHERE status = '{running}' \
                      AND lease_expires_ms < {now} FOR UPDATE SKIP LOCKED) \
         RETURNING id, format",
        now = db_now_ms(Backend::Postgres),
        running = JobStatus::Running.as_str(),
        interrupted = JobStatus::Interrupted.as_str(),
    );
    let swept: Vec<SweptJob> = diesel::sql_query(query)
        .bind::<Text, _>(reason(""))
        .load(&mut **c)?;
    // The reason may name the job's plugin: one more statement per swept job (they are rare).
    for job in &swept {
        let named = reason(&job.format);
        diesel::update(import_jobs::table.find(job.id))
            .set(import_jobs::error_message.eq(named))
            .execute(&mut **c)?;
    }
    Ok(swept.into_iter().map(|r| r.id).collect())
}

/// Asks the job's owner to cancel it; the owner sees it at its next batch or lease renewal.
/// `false` if the job is not running. Never waits for the job row's lock.
pub(crate) fn request_cancel(conn: &mut Conn<'_>, id: i64) -> Result<bool> {
    let status = import_jobs::table.find(id).select(import_jobs::status);
    let status: Option<String> = on_conn!(conn, |c| status.first(c).optional()?);
    if status.as_deref() != Some(JobStatus::Running.as_str()) {
        return Ok(false);
    }
    let insert = diesel::insert_into(import_cancel_requests::table)
        .values((
            import_cancel_requests::job_id.eq(id),
            import_cancel_requests::requested_at.eq(time::now()),
        ))
        .on_conflict_do_nothing();
    on_conn!(conn, |c| insert.execute(c)?);
    Ok(true)
}

/// Marks an ended job REVERTED (its report stays as it was).
pub(crate) fn mark_reverted(conn: &mut Conn<'_>, id: i64) -> Result<bool> {
    use import_jobs::dsl;
    let update = diesel::update(
        import_jobs::table
            .find(id)
            .filter(dsl::status.ne(JobStatus::Running.as_str())),
    )
    .set(dsl::status.eq(JobStatus::Reverted.as_str()));
    Ok(on_conn!(conn, |c| update.execute(c)?) == 1)
}

/// Marks every RUNNING job INTERRUPTED: at start-up of a server that owns its database alone
/// (SQLite), whose running jobs can only be left over from a process that died.
pub(crate) fn interrupt_running(conn: &mut Conn<'_>, reason: &dyn Fn(&str) -> String) -> Result<u64> {
    use import_jobs::dsl;
    let running = import_jobs::table
        .filter(dsl::status.eq(JobStatus::Running.as_str()))
        .select((dsl::id, dsl::format));
    let running: Vec<(i64, String)> = on_conn!(conn, |c| running.load(c)?);
    for (id, format) in &running {
        let update = diesel::update(
            import_jobs::table.filter(dsl::id.eq(*id).and(dsl::status.eq(JobStatus::Running.as_str()))),
        )
        .set((
            dsl::status.eq(JobStatus::Interrupted.as_str()),
            dsl::error_message.eq(reason(format)),
            dsl::finished_at.eq(time::now()),
            dsl::lease_expires_ms.eq(None::<i64>),
        ));
        on_conn!(conn, |c| update.execute(c)?);
    }
    Ok(running.len() as u64)
}

/// Ends a RUNNING job this instance owns. A job that was interrupted meanwhile (its lease
/// lost to a sweep) keeps what is stored, and that is returned unchanged.
pub(crate) fn finish_job(
    conn: &mut Conn<'_>,
    id: i64,
    lease: &JobLease,
    finish: &JobFinish,
) -> Result<ImportJob> {
    use import_jobs::dsl;
    let change = (
        FinishChange {
            status: finish.status.as_str(),
            file_size: finish.file_size,
            sha256: finish.sha256.as_deref(),
            error_code: finish.error_code.map(ErrorCode::as_str),
            error_message: finish.error_message.as_deref(),
            finished_at: Some(time::now()),
            lease_expires_ms: None,
            module_counts: module_counts_to_db(&finish.modules),
        },
        CountsChange::from(&finish.counts),
    );
    let running = import_jobs::table
        .find(id)
        .filter(dsl::status.eq(JobStatus::Running.as_str()))
        .filter(dsl::owner.eq(lease.owner.as_str()));
    let update = diesel::update(running.filter(holds_watermark(finish.committed_watermark))).set(change);
    let row: Option<JobRow> = on_conn!(conn, |c| update
        .returning(JobRow::as_returning())
        .get_result(c)
        .optional()?);
    match row {
        Some(row) => row.try_into(),
        None => {
            let Some(lost) = lost_batches(conn, id, lease, finish.committed_watermark)? else {
                let stored = get_job(conn, id)?.ok_or_else(|| job_not_found(id))?;
                tracing::warn!(job = id, status = %stored.status, "job ended elsewhere (lease lost); its stored report stands");
                return Ok(stored);
            };
            // Batches were lost: the job ends INTERRUPTED with the counts and watermark its
            // surviving batches stored.
            let interrupted = diesel::update(running).set((
                dsl::status.eq(JobStatus::Interrupted.as_str()),
                dsl::error_code.eq(Some(ErrorCode::Unavailable.as_str())),
                dsl::error_message.eq(Some(lost.to_string())),
                dsl::finished_at.eq(Some(time::now())),
                dsl::lease_expires_ms.eq(None::<i64>),
                dsl::file_size.eq(finish.file_size),
            ));
            let row: Option<JobRow> = on_conn!(conn, |c| interrupted
                .returning(JobRow::as_returning())
                .get_result(c)
                .optional()?);
            tracing::error!(job = id, error = %lost, "batches lost");
            match row {
                Some(row) => row.try_into(),
                None => get_job(conn, id)?.ok_or_else(|| job_not_found(id)),
            }
        }
    }
}

/// The job started with this idempotency key, if the key is still kept.
pub(crate) fn find_by_request(conn: &mut Conn<'_>, request_id: &str) -> Result<Option<ImportJob>> {
    let query = import_jobs::table.filter(import_jobs::request_id.eq(request_id));
    let row: Option<JobRow> = on_conn!(conn, |c| query.select(JobRow::as_select()).first(c).optional()?);
    row.map(ImportJob::try_from).transpose()
}

/// Takes an INTERRUPTED job back to RUNNING under this owner, for a new attempt; `None` if it
/// is not INTERRUPTED (any more: another stream resumed it first). `restart` (a job that
/// committed nothing: all-or-nothing, dry run) also clears its counts, watermark and row
/// errors, so the new attempt starts from the first row.
pub(crate) fn resume_job(
    conn: &mut Conn<'_>,
    id: i64,
    lease: &JobLease,
    restart: bool,
) -> Result<Option<ImportJob>> {
    use import_jobs::dsl;
    let until = lease_until(conn.backend(), lease);
    let update = diesel::update(
        import_jobs::table
            .find(id)
            .filter(dsl::status.eq(JobStatus::Interrupted.as_str())),
    )
    .set((
        dsl::status.eq(JobStatus::Running.as_str()),
        dsl::owner.eq(lease.owner.as_str()),
        dsl::lease_expires_ms.eq(until),
        dsl::attempts.eq(dsl::attempts + 1),
        dsl::finished_at.eq(None::<NaiveDateTime>),
        dsl::error_code.eq(None::<String>),
        dsl::error_message.eq(None::<String>),
    ));
    let row: Option<JobRow> = on_conn!(conn, |c| update
        .returning(JobRow::as_returning())
        .get_result(c)
        .optional()?);
    if row.is_none() {
        return Ok(None);
    }
    if restart {
        update_progress(conn, id, &JobCounts::default())?;
        let zero = diesel::update(import_jobs::table.find(id))
            .set((dsl::watermark.eq(0_i64), dsl::module_counts.eq(None::<String>)));
        on_conn!(conn, |c| zero.execute(c)?);
        forget_resume_point(conn, id)?;
        let errors = diesel::delete(import_row_errors::table.filter(import_row_errors::job_id.eq(id)));
        on_conn!(conn, |c| errors.execute(c)?);
    }
    let row = if restart {
        get_job(conn, id)?
    } else {
        row.map(ImportJob::try_from).transpose()?
    };
    // A resumed job starts afresh as far as cancel requests go.
    let delete = diesel::delete(import_cancel_requests::table.find(id));
    on_conn!(conn, |c| delete.execute(c)?);
    Ok(row)
}

/// Drops a job's checkpoint: its next attempt is sent whole (and skipped up to the watermark).
pub(crate) fn forget_resume_point(conn: &mut Conn<'_>, id: i64) -> Result<()> {
    use import_jobs::dsl;
    let update = diesel::update(import_jobs::table.find(id)).set((
        dsl::resume_offset.eq(None::<i64>),
        dsl::resume_row.eq(None::<i64>),
        dsl::resume_state.eq(None::<Vec<u8>>),
    ));
    on_conn!(conn, |c| update.execute(c)?);
    Ok(())
}

/// Frees an expired idempotency key (the job keeps its report).
pub(crate) fn forget_request(conn: &mut Conn<'_>, id: i64) -> Result<()> {
    use import_jobs::dsl;
    let update = diesel::update(import_jobs::table.find(id)).set((
        dsl::request_id.eq(None::<String>),
        dsl::request_fingerprint.eq(None::<String>),
    ));
    on_conn!(conn, |c| update.execute(c)?);
    Ok(())
}

pub(crate) fn get_job(conn: &mut Conn<'_>, id: i64) -> Result<Option<ImportJob>> {
    let query = import_jobs::table.find(id);
    let row: Option<JobRow> = on_conn!(conn, |c| query.select(JobRow::as_select()).first(c).optional()?);
    row.map(ImportJob::try_from).transpose()
}

pub(crate) fn list_jobs(conn: &mut Conn<'_>, query: &JobQuery) -> Result<Vec<ImportJob>> {
    let limit = i64::try_from(query.limit).unwrap_or(i64::MAX);
    let rows: Vec<JobRow> = on_conn!(conn, |c| {
        let mut q = import_jobs::table.select(JobRow::as_select()).into_boxed();
        if let Some(module) = query.module {
            q = q.filter(import_jobs::module.eq(module.as_str()));
        }
        if let Some(status) = query.status {
            q = q.filter(import_jobs::status.eq(status.as_str()));
        }
        if let Some(after) = query.started_after {
            q = q.filter(import_jobs::started_at.ge(after.naive_utc()));
        }
        if let Some(before) = query.started_before {
            q = q.filter(import_jobs::started_at.lt(before.naive_utc()));
        }
        if let Some(before_id) = query.before_id {
            q = q.filter(import_jobs::id.lt(before_id));
        }
        if let Some(token_name) = &query.token_name {
            q = q.filter(import_jobs::token_name.eq(token_name));
        }
        q.order(import_jobs::id.desc()).limit(limit).load(c)?
    });
    rows.into_iter().map(ImportJob::try_from).collect()
}

/// Columns bound per row error.
const ROW_ERROR_COLUMNS: usize = 8;

#[derive(Insertable)]
#[diesel(table_name = import_row_errors, treat_none_as_default_value = false)]
struct NewRowError<'a> {
    job_id: i64,
    row: i64,
    column_label: &'a str,
    field: &'a str,
    code: &'a str,
    message: &'a str,
    raw_value: Option<&'a str>,
    row_data: Option<&'a str>,
}

#[derive(Queryable, Selectable)]
#[diesel(table_name = import_row_errors)]
struct RowErrorRow {
    id: i64,
    row: i64,
    column_label: String,
    field: String,
    code: String,
    message: String,
    raw_value: Option<String>,
    row_data: Option<String>,
}

impl TryFrom<RowErrorRow> for RowErrorRecord {
    type Error = StoreError;
    fn try_from(r: RowErrorRow) -> Result<Self> {
        let code = ErrorCode::parse(&r.code).ok_or_else(|| {
            StoreError::Corrupt(format!("unknown error code '{}' in import_row_errors", r.code))
        })?;
        Ok(RowErrorRecord {
            row: r.row,
            column: r.column_label,
            field: r.field,
            code,
            message: r.message,
            raw_value: r.raw_value,
            row_data: r.row_data,
        })
    }
}

pub(crate) fn insert_row_errors(conn: &mut Conn<'_>, job_id: i64, errors: &[RowErrorRecord]) -> Result<()> {
    let chunk_rows = conn.backend().rows_per_statement(ROW_ERROR_COLUMNS);
    for chunk in errors.chunks(chunk_rows) {
        let rows: Vec<NewRowError<'_>> = chunk
            .iter()
            .map(|e| NewRowError {
                job_id,
                row: e.row,
                column_label: &e.column,
                field: &e.field,
                code: e.code.as_str(),
                message: &e.message,
                raw_value: e.raw_value.as_deref(),
                row_data: e.row_data.as_deref(),
            })
            .collect();
        let insert = diesel::insert_into(import_row_errors::table).values(&rows);
        on_conn!(conn, |c| insert.execute(c)).map_err(|e| match StoreError::from(e) {
            StoreError::ForeignKeyViolation { .. } => job_not_found(job_id),
            other => other,
        })?;
    }
    Ok(())
}

/// A page of a job's row errors after spreadsheet row `after_row`, by row then insertion order.
/// The page is extended past `limit` to the end of its last row, so that paging by row
/// number never splits (and so never loses) the errors of one row.
pub(crate) fn row_errors(
    conn: &mut Conn<'_>,
    job_id: i64,
    after_row: Option<i64>,
    limit: usize,
) -> Result<Vec<RowErrorRecord>> {
    if limit == 0 {
        return Ok(Vec::new());
    }
    let limit = i64::try_from(limit).unwrap_or(i64::MAX);
    let mut rows: Vec<RowErrorRow> = on_conn!(conn, |c| {
        let mut q = import_row_errors::table
            .select(RowErrorRow::as_select())
            .filter(import_row_errors::job_id.eq(job_id))
            .into_boxed();
        if let Some(after) = after_row {
            q = q.filter(import_row_errors::row.gt(after));
        }
        q.order((import_row_errors::row.asc(), import_row_errors::id.asc()))
            .limit(limit)
            .load(c)?
    });
    if rows.len() as i64 == limit
        && let Some(last) = rows.last()
    {
        let (last_row, last_id) = (last.row, last.id);
        let rest: Vec<RowErrorRow> = on_conn!(conn, |c| import_row_errors::table
            .select(RowErrorRow::as_select())
            .filter(import_row_errors::job_id.eq(job_id))
            .filter(import_row_errors::row.eq(last_row))
            .filter(import_row_errors::id.gt(last_id))
            .order(import_row_errors::id.asc())
            .load(c)?);
        rows.extend(rest);
    }
    rows.into_iter().map(RowErrorRecord::try_from).collect()
}

pub(crate) fn count_row_errors(conn: &mut Conn<'_>, job_id: i64) -> Result<u64> {
    let query = import_row_errors::table
        .filter(import_row_errors::job_id.eq(job_id))
        .count();
    let n: i64 = on_conn!(conn, |c| query.get_result(c)?);
    u64::try_from(n).map_err(|_| StoreError::Corrupt(format!("negative row count {n}")))
}
