//! Records: batch writes in the three import modes, code lookups, counts and keyset pages.
//!
//! A write never goes row by row. SQLite: one chunked lookup of the batch's codes decides what
//! is new, then multi-row INSERT statements sized under the bind limit do the rest. PostgreSQL
//! (and dry runs aside): the batch goes through `copy.rs`, COPY into a stage and one merge.

use std::collections::{HashMap, HashSet};

use dataport_core::{Filter, ImportMode, Module, Record, Records};
use diesel::prelude::*;
use diesel::upsert::excluded;

use crate::backend::{Conn, on_conn};
use crate::error::{Result, StoreError};
use crate::filter::{filter_contacts, filter_customers, filter_opportunities};
use crate::models::{
    CONTACT_COLUMNS, CUSTOMER_COLUMNS, ContactRow, CustomerRow, NewContact, NewCustomer, NewOpportunity,
    OPPORTUNITY_COLUMNS, OpportunityRow,
};
use crate::schema::{contacts, customers, opportunities};
use crate::time;

/// What one [`crate::Store::write`] did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct WriteOutcome {
    /// Records that did not exist before and were inserted.
    pub created: u64,
    /// Existing records that were overwritten.
    pub updated: u64,
    /// INSERT mode: codes that already existed (or repeated within the batch), in batch order.
    pub skipped_existing: Vec<String>,
    /// UPDATE mode: codes that did not exist, in batch order.
    pub not_found: Vec<String>,
    /// Contacts and opportunities: codes of records whose `customer_code` names no customer.
    /// They were not written.
    pub unknown_reference: Vec<String>,
}

/// Whether a batch is written or only planned (dry run: every lookup, no writes).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Apply {
    Write,
    DryRun,
}

/// The statement a chunk is written with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stmt {
    /// INSERT … ON CONFLICT(code) DO NOTHING.
    InsertNew,
    /// INSERT … ON CONFLICT(code) DO NOTHING RETURNING code: which rows were new.
    InsertReturning,
    /// INSERT … ON CONFLICT(code) DO UPDATE SET every field = excluded, except that a NULL
    /// in a column of `kept` keeps the stored value. With `keep_created_at`, `created_at` is
    /// left out of the SET list: the records carried no date, and a NULL cannot ride along in
    /// the proposed row to be COALESCEd away because both backends check NOT NULL before they
    /// look for the conflict (which is also why `kept` holds nullable columns only).
    Overwrite { keep_created_at: bool, kept: Kept },
}

/// The fields (registry positions) whose NULLs an overwrite turns into the stored value: the
/// fields a batch keeps, when its write can keep them by itself ([`kept_by_the_write`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct Kept(u64);

impl Kept {
    pub(crate) const NONE: Kept = Kept(0);

    pub(crate) fn contains(self, field: usize) -> bool {
        field < 64 && self.0 & (1 << field) != 0
    }

    /// Whether the column named `column` of `module`'s table is kept.
    fn column(self, module: Module, column: &str) -> bool {
        crate::copy::columns(module)
            .iter()
            .any(|c| c.name == column && self.contains(c.field))
    }
}

/// The fields `records` keep, if the write itself can keep them: each is nullable, and NULL
/// means "keep" in every record of the batch (a record that clears it with an explicit NULL
/// would be kept too). `None`: the batch reads its stored records and merges them instead.
/// Files give uniform batches: blank cells either all keep or all clear.
fn kept_by_the_write(module: Module, records: &[&Record]) -> Option<Kept> {
    let mut kept = 0u64;
    for record in records {
        for index in 0..module.fields().len() {
            if record.keeps_stored(index) {
                kept |= 1 << index;
            }
        }
    }
    let fields = module.fields();
    for (index, field) in fields.iter().enumerate() {
        if kept & (1 << index) == 0 || field.key == dataport_core::record::CREATED_AT {
            continue;
        }
        let cleared = || {
            records
                .iter()
                .any(|r| r.at(index).is_none() && !r.keeps_stored(index))
        };
        if field.required || cleared() {
            return None;
        }
    }
    Some(Kept(kept))
}

/// `col = excluded.col` for each named column of `$table`.
macro_rules! set_excluded {
    ($table:ident: $($col:ident),+ $(,)?) => {
        ($($table::$col.eq(excluded($table::$col)),)+)
    };
}

/// The SET list of an overwrite of `$table` that keeps fields (the plain one, without the
/// flags, is [`set_excluded`]): `col = excluded.col`, or for a kept column
/// `col = CASE WHEN excluded.col IS NULL THEN col ELSE excluded.col END`, decided by a bound
/// flag so that one cached statement serves every batch.
macro_rules! set_overwrite {
    ($table:ident, $kept:expr, $module:expr, [$($col:ident),+]) => {
        ($($table::$col.eq(
            diesel::dsl::case_when(
                $kept.column($module, stringify!($col)).into_sql::<diesel::sql_types::Bool>()
                    .and(excluded($table::$col).is_null()),
                $table::$col,
            )
            .otherwise(excluded($table::$col)),
        ),)+)
    };
}

/// Writes one batch (or, with [`Apply::DryRun`], works out what writing it would do). Must run
/// inside a transaction (the caller opens it), so that the reference and existence checks and
/// the writes see one consistent database.
/// With `log` (the import job's id), the batch's changes are recorded for RevertImport.
pub(crate) fn write(
    conn: &mut Conn<'_>,
    records: &Records,
    mode: ImportMode,
    apply: Apply,
    log: Option<i64>,
) -> Result<WriteOutcome> {
    write_at(conn, records, mode, apply, log, time::now())
}

/// [`write`] with the records' `updated_at` set to `at` (a revert puts back the time the
/// restored values were written).
pub(crate) fn write_at(
    conn: &mut Conn<'_>,
    records: &Records,
    mode: ImportMode,
    apply: Apply,
    log: Option<i64>,
    at: chrono::NaiveDateTime,
) -> Result<WriteOutcome> {
    let log = log.filter(|_| apply == Apply::Write);
    let today = time::today();
    let now = at;
    let now_text = crate::models::sqlite_timestamp_text(now);
    let now = crate::models::WriteTimestamp {
        value: now,
        text: &now_text,
    };
    let rows = records.as_slice();
    match records.module() {
        Module::Customers => write_module(
            conn,
            Module::Customers,
            rows,
            mode,
            apply,
            log,
            now.value,
            CUSTOMER_COLUMNS,
            |conn, chunk, stmt| {
                let rows: Vec<NewCustomer<'_>> =
                    chunk.iter().map(|r| NewCustomer::new(r, today, now)).collect();
                exec_customers(conn, &rows, stmt)
            },
        ),
        Module::Contacts => write_module(
            conn,
            Module::Contacts,
            rows,
            mode,
            apply,
            log,
            now.value,
            CONTACT_COLUMNS,
            |conn, chunk, stmt| {
                let rows: Vec<NewContact<'_>> =
                    chunk.iter().map(|r| NewContact::new(r, today, now)).collect();
                exec_contacts(conn, &rows, stmt)
            },
        ),
        Module::Opportunities => write_module(
            conn,
            Module::Opportunities,
            rows,
            mode,
            apply,
            log,
            now.value,
            OPPORTUNITY_COLUMNS,
            |conn, chunk, stmt| {
                let rows: Vec<NewOpportunity<'_>> =
                    chunk.iter().map(|r| NewOpportunity::new(r, today, now)).collect();
                exec_opportunities(conn, &rows, stmt)
            },
        ),
    }
    .map_err(|e| describe_write_error(e, records.module()))
}

/// Gives constraint errors of a write a message that names the module.
fn describe_write_error(error: StoreError, module: Module) -> StoreError {
    match error {
        StoreError::ForeignKeyViolation { what } => StoreError::ForeignKeyViolation {
            what: format!("{module}: a customer_code refers to a customer that does not exist ({what})"),
        },
        StoreError::UniqueViolation { what } => StoreError::UniqueViolation {
            what: format!("{module}: {what}"),
        },
        other => other,
    }
}

#[allow(clippy::too_many_arguments)]
fn write_module(
    conn: &mut Conn<'_>,
    module: Module,
    records: &[Record],
    mode: ImportMode,
    apply: Apply,
    log: Option<i64>,
    written_at: chrono::NaiveDateTime,
    columns: usize,
    exec: impl Fn(&mut Conn<'_>, &[&Record], Stmt) -> Result<Written>,
) -> Result<WriteOutcome> {
    // A dry run goes through the same classification and simply executes nothing.
    let exec = |conn: &mut Conn<'_>, chunk: &[&Record], stmt: Stmt| match apply {
        Apply::Write => exec(conn, chunk, stmt),
        Apply::DryRun => Ok(Written {
            rows: chunk.len(),
            inserted: Vec::new(),
        }),
    };
    if records.is_empty() {
        return Ok(WriteOutcome::default());
    }
    // A code twice in one batch: INSERT keeps the first (the second finds it existing),
    // UPDATE/UPSERT keep the last (it would have overwritten the first anyway). PostgreSQL
    // refuses to update one row twice in a statement, so this is needed, not cosmetic.
    let mut unique: Vec<&Record> = Vec::with_capacity(records.len());
    let mut seen: HashMap<&str, usize> = HashMap::with_capacity(records.len());
    let mut repeated_inserts = Vec::new();
    for record in records {
        match seen.get(record.code()) {
            Some(_) if mode == ImportMode::Insert => {
                repeated_inserts.push(record.code().to_owned());
            }
            Some(&i) => unique[i] = record,
            None => {
                seen.insert(record.code(), unique.len());
                unique.push(record);
            }
        }
    }

    // UPDATE and UPSERT read the stored records of the records that keep fields (blank cells,
    // fields a record stream does not name): they take those values from them, so the write
    // overwrites exactly what the rows carry. A record not stored yet keeps nothing and is
    // written as it is.
    //
    // A logged UPDATE or UPSERT also keeps what it overwrites (the before-images RevertImport
    // restores). When the batch reads stored records anyway, it reads them all and compares
    // here; otherwise the database compares (`before_images`), and nothing is read for them.
    //
    // A batch whose kept fields are uniform keeps them in the write itself ([`Kept`]) and
    // reads nothing.
    let keeps_any = mode != ImportMode::Insert && unique.iter().any(|r| r.keeps_any());
    let kept_by_write = if keeps_any {
        kept_by_the_write(module, &unique)
    } else {
        Some(Kept::default())
    };
    let reads_stored = kept_by_write.is_none();
    let kept = kept_by_write.unwrap_or_default();
    let logged_update = log.is_some() && mode != ImportMode::Insert;
    let images_from_stored = logged_update && reads_stored;
    let merged: Vec<Record>;
    let mut stored = HashMap::new();
    if reads_stored {
        let codes: Vec<&str> = unique
            .iter()
            .filter(|r| images_from_stored || r.keeps_any())
            .map(|r| r.code())
            .collect();
        stored = stored_records(conn, module, &codes)?;
        let mut slots = Vec::new();
        merged = unique
            .iter()
            .enumerate()
            .filter_map(|(slot, r)| {
                let (prior, _) = stored.get(r.code()).filter(|_| r.keeps_any())?;
                let mut record = (*r).clone();
                record.merge_stored(prior);
                slots.push(slot);
                Some(record)
            })
            .collect();
        for (slot, record) in slots.into_iter().zip(&merged) {
            unique[slot] = record;
        }
    }

    let before_images = logged_update && !images_from_stored;
    let (outcome, images) = match conn {
        // PostgreSQL writes through COPY and a merge per batch (see `copy.rs`).
        Conn::Postgres(c) if apply == Apply::Write => crate::copy::write(
            c,
            module,
            &unique,
            mode,
            repeated_inserts,
            time::today(),
            written_at,
            before_images,
            kept,
        )?,
        _ => {
            let existed = if before_images {
                let codes: Vec<&str> = unique.iter().map(|r| r.code()).collect();
                Some(crate::before_images::snapshot_sqlite(conn, module, &codes)?)
            } else {
                None
            };
            // What is stored is known when it was read for every code.
            let known: Option<HashSet<&str>> = match &existed {
                Some(existed) => Some(existed.iter().map(String::as_str).collect()),
                None if images_from_stored => Some(stored.keys().map(String::as_str).collect()),
                None => None,
            };
            let outcome = write_rows(
                conn,
                module,
                unique.clone(),
                mode,
                apply,
                repeated_inserts,
                columns,
                &exec,
                known,
                kept,
            )?;
            let images = match existed {
                Some(existed) => Some(crate::before_images::after_write_sqlite(conn, module, existed)?),
                None => None,
            };
            (outcome, images)
        }
    };
    if let Some(job_id) = log {
        let changes = if images_from_stored {
            changes_from_stored(&unique, &stored, &outcome)
        } else {
            batch_changes(&unique, images, &outcome)
        };
        crate::changes::log(conn, job_id, module, written_at, &changes)?;
    }
    Ok(outcome)
}

/// The codes of a batch the write did not take (refused, skipped, unknown references).
fn not_written(outcome: &WriteOutcome) -> HashSet<&str> {
    outcome
        .skipped_existing
        .iter()
        .chain(&outcome.not_found)
        .chain(&outcome.unknown_reference)
        .map(String::as_str)
        .collect()
}

/// [`batch_changes`] from the stored records read for every code of the batch, compared here.
fn changes_from_stored(
    unique: &[&Record],
    stored: &HashMap<String, Stored>,
    outcome: &WriteOutcome,
) -> crate::changes::BatchChanges {
    let not_written = not_written(outcome);
    let mut changes = crate::changes::BatchChanges::default();
    for record in unique.iter().filter(|r| !not_written.contains(r.code())) {
        match stored.get(record.code()) {
            Some((prior, prior_at)) => changes.add_update(prior, *prior_at, record),
            None => changes.created.push(record.code().to_owned()),
        }
    }
    changes
}

/// What a written batch changed: the codes it created (every record written that was not stored
/// before), and the before-images of the records it updated.
fn batch_changes(
    unique: &[&Record],
    images: Option<crate::before_images::BeforeImages>,
    outcome: &WriteOutcome,
) -> crate::changes::BatchChanges {
    let not_written = not_written(outcome);
    let images = images.unwrap_or_default();
    let created = unique
        .iter()
        .map(|r| r.code())
        .filter(|code| !not_written.contains(code) && !images.existed.contains(*code))
        .map(str::to_owned)
        .collect();
    crate::changes::BatchChanges::new(created, images.members, images.count)
}

/// SQLite, and dry runs on both backends: lookups, then multi-row statements.
#[allow(clippy::too_many_arguments)]
fn write_rows(
    conn: &mut Conn<'_>,
    module: Module,
    mut unique: Vec<&Record>,
    mode: ImportMode,
    apply: Apply,
    repeated_inserts: Vec<String>,
    columns: usize,
    exec: &impl Fn(&mut Conn<'_>, &[&Record], Stmt) -> Result<Written>,
    known: Option<HashSet<&str>>,
    kept: Kept,
) -> Result<WriteOutcome> {
    let mut outcome = WriteOutcome::default();
    if module.references_customers() {
        let refs: Vec<&str> = unique.iter().filter_map(|r| r.customer_code()).collect();
        let missing = missing_customer_codes(conn, &refs)?;
        if !missing.is_empty() {
            unique.retain(|r| {
                let known = r.customer_code().is_none_or(|c| !missing.contains(c));
                if !known {
                    outcome.unknown_reference.push(r.code().to_owned());
                }
                known
            });
        }
    }

    // SQLite, inserting (the bulk-load path): no separate lookup of what exists. A plain INSERT
    // … DO NOTHING says how many rows were new; when that is all of them or none, the outcome
    // is known. A batch with some of each goes back to its savepoint and is written again with
    // RETURNING, which names the new rows (RETURNING on every batch cost the writer a string
    // per row).
    if mode == ImportMode::Insert && apply == Apply::Write && conn.backend() == crate::Backend::Sqlite {
        let chunk_rows = conn.backend().rows_per_statement(columns);
        let plain = within_savepoint(conn, |conn| {
            let mut created = 0;
            for part in unique.chunks(chunk_rows) {
                created += exec(conn, part, Stmt::InsertNew).map_err(Attempt::Failed)?.rows;
            }
            if created == 0 || created == unique.len() {
                Ok(created)
            } else {
                Err(Attempt::Mixed)
            }
        });
        match plain {
            Ok(created) => {
                outcome.created = created as u64;
                if created == 0 {
                    outcome.skipped_existing = unique.iter().map(|r| r.code().to_owned()).collect();
                }
            }
            Err(Attempt::Failed(e)) => return Err(e),
            Err(Attempt::Mixed) => {
                for part in unique.chunks(chunk_rows) {
                    let written = exec(conn, part, Stmt::InsertReturning)?;
                    let inserted: HashSet<&str> = written.inserted.iter().map(String::as_str).collect();
                    outcome.created += written.inserted.len() as u64;
                    for record in part {
                        if !inserted.contains(record.code()) {
                            outcome.skipped_existing.push(record.code().to_owned());
                        }
                    }
                }
            }
        }
        outcome.skipped_existing.extend(repeated_inserts);
        return Ok(outcome);
    }

    // The codes stored before the batch, when the caller knows them already (a logged write's
    // snapshot, or the stored records it read for every code).
    let looked_up;
    let existing: HashSet<&str> = match known {
        Some(known) => known,
        None => {
            let codes: Vec<&str> = unique.iter().map(|r| r.code()).collect();
            looked_up = existing_codes(conn, module, &codes)?;
            looked_up.iter().map(String::as_str).collect()
        }
    };
    let chunk_rows = conn.backend().rows_per_statement(columns);

    match mode {
        ImportMode::Insert => {
            let mut fresh = Vec::with_capacity(unique.len());
            for record in unique {
                if existing.contains(record.code()) {
                    outcome.skipped_existing.push(record.code().to_owned());
                } else {
                    fresh.push(record);
                }
            }
            outcome.skipped_existing.extend(repeated_inserts);
            for chunk in fresh.chunks(chunk_rows) {
                outcome.created += exec(conn, chunk, Stmt::InsertNew)?.rows as u64;
            }
        }
        ImportMode::Update => {
            let mut targets = Vec::with_capacity(unique.len());
            for record in unique {
                if existing.contains(record.code()) {
                    targets.push(record);
                } else {
                    outcome.not_found.push(record.code().to_owned());
                }
            }
            outcome.updated = targets.len() as u64;
            overwrite(conn, &targets, chunk_rows, kept, exec)?;
        }
        ImportMode::Upsert => {
            outcome.updated = unique.iter().filter(|r| existing.contains(r.code())).count() as u64;
            outcome.created = unique.len() as u64 - outcome.updated;
            overwrite(conn, &unique, chunk_rows, kept, exec)?;
        }
    }
    Ok(outcome)
}

/// How a first try inside a savepoint ended, when it did not succeed.
enum Attempt {
    /// The try found it cannot tell the outcome; its writes are rolled back.
    Mixed,
    Failed(StoreError),
}

impl From<diesel::result::Error> for Attempt {
    fn from(e: diesel::result::Error) -> Self {
        Attempt::Failed(e.into())
    }
}

/// Runs `f` inside a savepoint (the caller's transaction is open: diesel nests it as one),
/// rolled back when `f` fails.
fn within_savepoint<T>(
    conn: &mut Conn<'_>,
    f: impl FnOnce(&mut Conn<'_>) -> std::result::Result<T, Attempt>,
) -> std::result::Result<T, Attempt> {
    match conn {
        Conn::Sqlite(c) => c.transaction(|c| f(&mut Conn::Sqlite(c))),
        Conn::Postgres(c) => c.transaction(|c| f(&mut Conn::Postgres(c))),
    }
}

/// INSERT … ON CONFLICT DO UPDATE, split by whether the records carry a created_at.
fn overwrite(
    conn: &mut Conn<'_>,
    records: &[&Record],
    chunk_rows: usize,
    kept: Kept,
    exec: &impl Fn(&mut Conn<'_>, &[&Record], Stmt) -> Result<Written>,
) -> Result<()> {
    let (dated, undated): (Vec<&Record>, Vec<&Record>) = records.iter().partition(|r| r.has_created_at());
    for (group, keep_created_at) in [(dated, false), (undated, true)] {
        for chunk in group.chunks(chunk_rows) {
            exec(
                conn,
                chunk,
                Stmt::Overwrite {
                    keep_created_at,
                    kept,
                },
            )?;
        }
    }
    Ok(())
}

/// What one statement (or a run of statements over a chunk) did.
#[derive(Debug, Default)]
struct Written {
    /// Rows inserted or changed.
    rows: usize,
    /// For [`Stmt::InsertReturning`]: the codes that were inserted.
    inserted: Vec<String>,
}

/// Rows per statement on SQLite. A fixed count lets diesel prepare the statement once and then
/// only re-bind it (a batch of a constant size has a static query id); a statement of thousands
/// of rows would be parsed and planned anew every time, and one row per statement spends most
/// of its time in per-statement overhead.
const SQLITE_ROWS: usize = 128;

/// Runs `$insert` as `stmt` on connection `$c`; `$returning` selects the RETURNING form.
macro_rules! exec_stmt {
    ($insert:expr, $stmt:expr, $c:expr, $module:expr, $table:ident: [$($col:ident),+]) => {
        match $stmt {
            Stmt::InsertNew => Written {
                rows: $insert.on_conflict($table::code).do_nothing().execute($c)?,
                inserted: Vec::new(),
            },
            Stmt::InsertReturning => {
                let inserted: Vec<String> = $insert
                    .on_conflict($table::code)
                    .do_nothing()
                    .returning($table::code)
                    .get_results($c)?;
                Written { rows: inserted.len(), inserted }
            }
            Stmt::Overwrite { keep_created_at: false, kept: Kept::NONE } => Written {
                rows: $insert
                    .on_conflict($table::code)
                    .do_update()
                    .set(set_excluded!($table: $($col),+, created_at, updated_at))
                    .execute($c)?,
                inserted: Vec::new(),
            },
            Stmt::Overwrite { keep_created_at: true, kept: Kept::NONE } => Written {
                rows: $insert
                    .on_conflict($table::code)
                    .do_update()
                    .set(set_excluded!($table: $($col),+, updated_at))
                    .execute($c)?,
                inserted: Vec::new(),
            },
            Stmt::Overwrite { keep_created_at: false, kept } => Written {
                rows: $insert
                    .on_conflict($table::code)
                    .do_update()
                    .set((
                        set_overwrite!($table, kept, $module, [$($col),+]),
                        $table::created_at.eq(excluded($table::created_at)),
                        $table::updated_at.eq(excluded($table::updated_at)),
                    ))
                    .execute($c)?,
                inserted: Vec::new(),
            },
            Stmt::Overwrite { keep_created_at: true, kept } => Written {
                rows: $insert
                    .on_conflict($table::code)
                    .do_update()
                    .set((
                        set_overwrite!($table, kept, $module, [$($col),+]),
                        $table::updated_at.eq(excluded($table::updated_at)),
                    ))
                    .execute($c)?,
                inserted: Vec::new(),
            },
        }
    };
}

/// Writes rows: on SQLite in cached statements of [`SQLITE_ROWS`] rows (the rest one by one),
/// on PostgreSQL, a network round trip away, in one multi-row statement.
macro_rules! exec_rows {
    ($conn:expr, $rows:expr, $stmt:expr, $module:expr, $table:ident: [$($col:ident),+]) => {{
        let rows = $rows;
        let mut total = Written::default();
        let mut add = |w: Written| {
            total.rows += w.rows;
            total.inserted.extend(w.inserted);
        };
        match $conn {
            Conn::Sqlite(c) => {
                let mut chunks = rows.chunks_exact(SQLITE_ROWS);
                for chunk in &mut chunks {
                    if let Ok(array) = <&[_; SQLITE_ROWS]>::try_from(chunk) {
                        add(exec_stmt!(diesel::insert_into($table::table).values(array), $stmt, &mut **c, $module, $table: [$($col),+]));
                    }
                }
                for row in chunks.remainder() {
                    add(exec_stmt!(diesel::insert_into($table::table).values(row), $stmt, &mut **c, $module, $table: [$($col),+]));
                }
            }
            Conn::Postgres(c) => {
                add(exec_stmt!(diesel::insert_into($table::table).values(rows), $stmt, &mut **c, $module, $table: [$($col),+]));
            }
        }
        Ok(total)
    }};
}

fn exec_customers(conn: &mut Conn<'_>, rows: &[NewCustomer<'_>], stmt: Stmt) -> Result<Written> {
    exec_rows!(conn, rows, stmt, Module::Customers, customers: [name, industry, phone, owner, level, follow_up_status,
        address, contract_amount_cents, follow_up_notes, remarks])
}

fn exec_contacts(conn: &mut Conn<'_>, rows: &[NewContact<'_>], stmt: Stmt) -> Result<Written> {
    exec_rows!(conn, rows, stmt, Module::Contacts, contacts: [customer_code, name, title, phone, email, is_primary, remarks])
}

fn exec_opportunities(conn: &mut Conn<'_>, rows: &[NewOpportunity<'_>], stmt: Stmt) -> Result<Written> {
    exec_rows!(conn, rows, stmt, Module::Opportunities, opportunities: [customer_code, name, stage, amount_cents,
        expected_close_date, owner, remarks])
}

/// The subset of `codes` present in `module`'s table, looked up in chunks under the bind limit.
pub(crate) fn existing_codes(conn: &mut Conn<'_>, module: Module, codes: &[&str]) -> Result<HashSet<String>> {
    let mut found = HashSet::with_capacity(codes.len());
    let chunk = conn.backend().max_binds();
    for part in codes.chunks(chunk) {
        let rows: Vec<String> = on_conn!(conn, |c| match module {
            Module::Customers => customers::table
                .select(customers::code)
                .filter(customers::code.eq_any(part))
                .load(c)?,
            Module::Contacts => contacts::table
                .select(contacts::code)
                .filter(contacts::code.eq_any(part))
                .load(c)?,
            Module::Opportunities => opportunities::table
                .select(opportunities::code)
                .filter(opportunities::code.eq_any(part))
                .load(c)?,
        });
        found.extend(rows);
    }
    Ok(found)
}

/// A stored record and the time it was last written.
pub(crate) type Stored = (Record, chrono::NaiveDateTime);

/// The stored records of `codes` in `module`, by code, read in chunks under the bind limit. On
/// PostgreSQL the rows are locked (`FOR UPDATE`) until the batch's transaction ends, so that a
/// concurrent job cannot change a field between this read and the merged write.
pub(crate) fn stored_records(
    conn: &mut Conn<'_>,
    module: Module,
    codes: &[&str],
) -> Result<HashMap<String, Stored>> {
    let mut found = HashMap::with_capacity(codes.len());
    let chunk = conn.backend().max_binds();
    macro_rules! load {
        ($table:ident, $row:ty, $part:expr) => {
            match conn {
                Conn::Sqlite(c) => $table::table
                    .select((<$row>::as_select(), $table::updated_at))
                    .filter($table::code.eq_any($part))
                    .load::<($row, chrono::NaiveDateTime)>(&mut **c)?,
                Conn::Postgres(c) => $table::table
                    .select((<$row>::as_select(), $table::updated_at))
                    .filter($table::code.eq_any($part))
                    .for_update()
                    .load::<($row, chrono::NaiveDateTime)>(&mut **c)?,
            }
            .into_iter()
            .map(|(row, at)| (Record::from(row), at))
            .collect::<Vec<Stored>>()
        };
    }
    for part in codes.chunks(chunk) {
        let rows = match module {
            Module::Customers => load!(customers, CustomerRow, part),
            Module::Contacts => load!(contacts, ContactRow, part),
            Module::Opportunities => load!(opportunities, OpportunityRow, part),
        };
        found.extend(rows.into_iter().map(|r| (r.0.code().to_owned(), r)));
    }
    Ok(found)
}

/// The distinct `codes` that name no customer.
pub(crate) fn missing_customer_codes(conn: &mut Conn<'_>, codes: &[&str]) -> Result<HashSet<String>> {
    let wanted: HashSet<&str> = codes.iter().copied().collect();
    let wanted: Vec<&str> = wanted.into_iter().collect();
    let present = existing_codes(conn, Module::Customers, &wanted)?;
    Ok(wanted
        .into_iter()
        .filter(|code| !present.contains(*code))
        .map(str::to_owned)
        .collect())
}

/// How many records match `filter` with code > `after_code` (all of them without one): the
/// rows [`page`] would return from that start, page after page.
pub(crate) fn count(conn: &mut Conn<'_>, filter: &Filter, after_code: Option<&str>) -> Result<u64> {
    let n: i64 = on_conn!(conn, |c| match filter {
        Filter::Customers(f) => {
            let mut q = filter_customers!(customers::table.into_boxed(), f);
            if let Some(after) = after_code {
                q = q.filter(customers::code.gt(after));
            }
            q.count().get_result(c)?
        }
        Filter::Contacts(f) => {
            let mut q = filter_contacts!(contacts::table.into_boxed(), f);
            if let Some(after) = after_code {
                q = q.filter(contacts::code.gt(after));
            }
            q.count().get_result(c)?
        }
        Filter::Opportunities(f) => {
            let mut q = filter_opportunities!(opportunities::table.into_boxed(), f);
            if let Some(after) = after_code {
                q = q.filter(opportunities::code.gt(after));
            }
            q.count().get_result(c)?
        }
    });
    u64::try_from(n).map_err(|_| StoreError::Corrupt(format!("negative row count {n}")))
}

pub(crate) fn page(
    conn: &mut Conn<'_>,
    filter: &Filter,
    after_code: Option<&str>,
    limit: usize,
) -> Result<Records> {
    let limit = i64::try_from(limit).unwrap_or(i64::MAX);
    let records = on_conn!(conn, |c| match filter {
        Filter::Customers(f) => {
            let mut q = filter_customers!(customers::table.select(CustomerRow::as_select()).into_boxed(), f);
            if let Some(after) = after_code {
                q = q.filter(customers::code.gt(after));
            }
            let rows: Vec<CustomerRow> = q.order(customers::code.asc()).limit(limit).load(c)?;
            records_of(Module::Customers, rows)?
        }
        Filter::Contacts(f) => {
            let mut q = filter_contacts!(contacts::table.select(ContactRow::as_select()).into_boxed(), f);
            if let Some(after) = after_code {
                q = q.filter(contacts::code.gt(after));
            }
            let rows: Vec<ContactRow> = q.order(contacts::code.asc()).limit(limit).load(c)?;
            records_of(Module::Contacts, rows)?
        }
        Filter::Opportunities(f) => {
            let mut q = filter_opportunities!(
                opportunities::table
                    .select(OpportunityRow::as_select())
                    .into_boxed(),
                f
            );
            if let Some(after) = after_code {
                q = q.filter(opportunities::code.gt(after));
            }
            let rows: Vec<OpportunityRow> = q.order(opportunities::code.asc()).limit(limit).load(c)?;
            records_of(Module::Opportunities, rows)?
        }
    });
    Ok(records)
}

/// A page of rows as a batch of their module.
fn records_of<R: Into<Record>>(module: Module, rows: Vec<R>) -> Result<Records> {
    Records::from_vec(module, rows.into_iter().map(Into::into).collect())
        .map_err(|e| StoreError::Corrupt(e.to_string()))
}
