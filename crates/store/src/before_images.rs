//! Before-images found by the database: for each record a logged UPDATE or UPSERT overwrites,
//! the fields it changes with their stored values, as the JSON members of
//! `import_changes.updated` ([`crate::changes`] reads them back). Used for the batches that do
//! not read their stored records anyway (`records::write_module`).
//!
//! - SQLite: before the write, the batch's stored rows are copied into a temporary table of
//!   the writer connection ([`snapshot_sqlite`]); after it, that copy is compared with the
//!   table and the members are built in SQL ([`after_write_sqlite`]).
//! - PostgreSQL: the batch's stored records are updated from its COPY stage by one `UPDATE`
//!   whose `RETURNING` reads the versions it replaces, compared with the stage
//!   ([`update_postgres`], run by `copy.rs`): the before-images cost no read or lock of their
//!   own. What that statement leaves (new codes of an UPSERT, a record another transaction
//!   changed meanwhile) goes through the locked read and the merge ([`load_postgres`]). The
//!   queries return only the changed stored values and a bitmask, and the members are built
//!   here: concatenated in SQL they took the database 2.5× as long, and the database is what
//!   replicas share. (On SQLite the same move was slower: its decoding of the rows cost more
//!   than SQL's concatenation.)
//!
//! Values are written as [`crate::changes`] expects them: text and dates as JSON strings, cents
//! as numbers, 是/否 as booleans, empty as null, and the stored `updated_at` under
//! `updated_at`.

use std::collections::HashSet;

use dataport_core::Module;
use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Nullable, Text};

use crate::backend::Conn;
use crate::copy::{Kind, columns};
use crate::error::Result;
use crate::records::Kept;

/// What the database found for a batch: the codes that were stored before it, and the
/// before-images of the records it changed.
#[derive(Debug, Default)]
pub(crate) struct BeforeImages {
    pub existed: HashSet<String>,
    /// JSON members `"CODE":{…}`, comma-separated, without the braces.
    pub members: Vec<u8>,
    pub count: usize,
}

/// The aggregated members of a batch, as SQLite's query returns them.
#[derive(QueryableByName)]
struct Aggregated {
    #[diesel(sql_type = Nullable<Text>)]
    members: Option<String>,
    #[diesel(sql_type = BigInt)]
    count: i64,
}

impl Aggregated {
    fn into_images(self, existed: HashSet<String>) -> BeforeImages {
        BeforeImages {
            existed,
            members: self.members.unwrap_or_default().into_bytes(),
            count: usize::try_from(self.count).unwrap_or(0),
        }
    }
}

#[derive(QueryableByName)]
struct Code {
    #[diesel(sql_type = Text)]
    code: String,
}

/// `old.<column>` as JSON text, in SQLite.
fn json_value(old: &str, column: &str, kind: Kind) -> String {
    match kind {
        Kind::Bool => format!(
            "CASE WHEN {old}.{column} IS NULL THEN 'null' WHEN {old}.{column} THEN 'true' ELSE 'false' END"
        ),
        _ => format!("json_quote({old}.{column})"),
    }
}

/// SQLite: the member expression of one record and the condition that it changed anything,
/// comparing `old` (the stored row) with `new` (the row as written: a kept value is there).
fn member_and_changed(module: Module, old: &str, new: &str) -> (String, String) {
    let mut fields = Vec::new();
    let mut changed = Vec::new();
    for column in columns(module).iter().filter(|c| c.name != "code") {
        let key = module.fields()[column.field].key;
        let name = column.name;
        let differs = format!("{old}.{name} IS NOT {new}.{name}");
        let value = json_value(old, name, column.kind);
        fields.push(format!(
            "CASE WHEN {differs} THEN '\"{key}\":' || {value} || ',' ELSE '' END"
        ));
        changed.push(differs);
    }
    (
        format!(
            "json_quote({old}.code) || ':{{' || {} || '\"updated_at\":' || json_quote({old}.updated_at) || '}}'",
            fields.join(" || ")
        ),
        changed.join(" OR "),
    )
}

/// SQLite's copy of the batch's stored rows.
fn snapshot_table(module: Module) -> String {
    format!("dp_before_{}", module.as_str())
}

/// SQLite, before a logged UPDATE or UPSERT: copies the stored rows of `codes` into the writer
/// connection's temporary table and returns their codes.
pub(crate) fn snapshot_sqlite(
    conn: &mut Conn<'_>,
    module: Module,
    codes: &[&str],
) -> Result<HashSet<String>> {
    let Conn::Sqlite(c) = conn else {
        return Ok(HashSet::new());
    };
    let (table, snapshot) = (module.as_str(), snapshot_table(module));
    c.batch_execute(&format!(
        "CREATE TEMP TABLE IF NOT EXISTS {snapshot} AS SELECT * FROM main.{table} WHERE 0; \
         DELETE FROM temp.{snapshot};"
    ))?;
    // The codes travel as one JSON array: one bind whatever the batch's size.
    let list = serde_json::to_string(codes).map_err(|e| crate::StoreError::Database(e.to_string()))?;
    diesel::sql_query(format!(
        "INSERT INTO temp.{snapshot} SELECT * FROM main.{table} WHERE code IN (SELECT value FROM json_each(?))"
    ))
    .bind::<Text, _>(&list)
    .execute(&mut **c)?;
    let found: Vec<Code> = diesel::sql_query(format!("SELECT code FROM temp.{snapshot}")).load(&mut **c)?;
    Ok(found.into_iter().map(|c| c.code).collect())
}

/// SQLite, after the write: the before-images, from the snapshot against the table.
pub(crate) fn after_write_sqlite(
    conn: &mut Conn<'_>,
    module: Module,
    existed: HashSet<String>,
) -> Result<BeforeImages> {
    let Conn::Sqlite(c) = conn else {
        return Ok(BeforeImages::default());
    };
    let (table, snapshot) = (module.as_str(), snapshot_table(module));
    let (member, changed) = member_and_changed(module, "o", "n");
    let found: Aggregated = diesel::sql_query(format!(
        "SELECT group_concat(m, ',') AS members, count(*) AS count FROM \
         (SELECT {member} AS m FROM temp.{snapshot} o JOIN main.{table} n ON n.code = o.code WHERE {changed})"
    ))
    .get_result(&mut **c)?;
    c.batch_execute(&format!("DELETE FROM temp.{snapshot};"))?;
    Ok(found.into_images(existed))
}

/// A stored row that the stage changes, as PostgreSQL's query returns it: the code, its
/// `updated_at`, which columns change (bit `i` for the module's `i`-th column after the code),
/// and their stored values as text (NULL where unchanged, or where the value was NULL).
#[derive(QueryableByName)]
struct ChangedRow {
    #[diesel(sql_type = Text)]
    code: String,
    #[diesel(sql_type = Text)]
    at: String,
    #[diesel(sql_type = diesel::sql_types::Integer)]
    changed: i32,
    #[diesel(sql_type = Nullable<Text>)]
    v0: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    v1: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    v2: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    v3: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    v4: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    v5: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    v6: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    v7: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    v8: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    v9: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    v10: Option<String>,
}

/// The most columns a module has besides its code.
const VALUES: usize = 11;

impl ChangedRow {
    fn values(&self) -> [&Option<String>; VALUES] {
        [
            &self.v0, &self.v1, &self.v2, &self.v3, &self.v4, &self.v5, &self.v6, &self.v7, &self.v8,
            &self.v9, &self.v10,
        ]
    }
}

/// The columns of a [`ChangedRow`] after its code, for the stored row `old` against the stage
/// `s`: its `updated_at`, the bitmask of the columns that change, and their stored values. A
/// `created_at` the record did not bring, or a NULL in a column of `kept`, keeps the stored
/// value and changes nothing.
fn changed_columns(module: Module, old: &str, kept: Kept) -> String {
    let mut changed = Vec::new();
    let mut values = Vec::new();
    for (bit, column) in columns(module).iter().skip(1).enumerate() {
        let name = column.name;
        let differs = if name == "created_at" || kept.contains(column.field) {
            format!("(s.{name} IS NOT NULL AND {old}.{name} IS DISTINCT FROM s.{name})")
        } else {
            format!("{old}.{name} IS DISTINCT FROM s.{name}")
        };
        let text = match column.kind {
            Kind::Date => format!("to_char({old}.{name}, 'YYYY-MM-DD')"),
            _ => format!("{old}.{name}::text"),
        };
        changed.push(format!("CASE WHEN {differs} THEN {} ELSE 0 END", 1 << bit));
        values.push(format!("CASE WHEN {differs} THEN {text} END AS v{bit}"));
    }
    for bit in values.len()..VALUES {
        values.push(format!("NULL::text AS v{bit}"));
    }
    format!(
        "to_char({old}.updated_at, 'YYYY-MM-DD HH24:MI:SS.US') AS at, ({}) AS changed, {}",
        changed.join(" | "),
        values.join(", ")
    )
}

/// PostgreSQL, before the merge: the query of the rows of `table` that the stage `stage`
/// changes ([`ChangedRow`]). Every row the stage names is locked, changed or not, so none can
/// change between this read and the merge.
fn sql_postgres(module: Module, stage: &str, kept: Kept) -> String {
    format!(
        "SELECT * FROM (SELECT t.code, {} FROM {} t JOIN {stage} s ON t.code = s.code FOR UPDATE OF t) x \
         WHERE changed <> 0",
        changed_columns(module, "t", kept),
        module.as_str(),
    )
}

/// Runs [`sql_postgres`] and writes the before-images; the merge then adds the codes it
/// updated to `existed`.
pub(crate) fn load_postgres(
    c: &mut diesel::PgConnection,
    module: Module,
    stage: &str,
    kept: Kept,
) -> Result<BeforeImages> {
    let rows: Vec<ChangedRow> = diesel::sql_query(sql_postgres(module, stage, kept)).load(c)?;
    Ok(images_of(module, &rows, HashSet::new()))
}

/// PostgreSQL: updates the stored records of the stage (`set`: the merge's SET list, `t` the
/// table and `s` the stage) and returns their before-images, with `existed` the codes it
/// updated. One statement: the stored row `o` it joins is the version it replaces, read
/// without a lock of its own. A row another transaction changes meanwhile fails the
/// `ctid` check when PostgreSQL re-reads it, and is left to the caller (still in the stage,
/// not in `existed`).
///
/// The target is found by `ctid` alone (a TID scan, or a hash join on it), never also by
/// `t.code = s.code`: with both, the planner multiplies the two selectivities, expects one
/// row, and on a table of some 20k records chose a nested loop over the stage for every
/// stored row (34 s for a 5,000-row batch, 0.08 s without).
pub(crate) fn update_postgres(
    c: &mut diesel::PgConnection,
    module: Module,
    stage: &str,
    kept: Kept,
    set: &str,
) -> Result<BeforeImages> {
    let table = module.as_str();
    let rows: Vec<ChangedRow> = diesel::sql_query(format!(
        "UPDATE {table} AS t SET {set} FROM {stage} s JOIN {table} o ON o.code = s.code \
         WHERE t.ctid = o.ctid RETURNING o.code, {}",
        changed_columns(module, "o", kept)
    ))
    .load(c)?;
    let existed = rows.iter().map(|r| r.code.clone()).collect();
    Ok(images_of(module, &rows, existed))
}

/// The before-images of the rows that change anything, as JSON members.
fn images_of(module: Module, rows: &[ChangedRow], existed: HashSet<String>) -> BeforeImages {
    let columns = &columns(module)[1..];
    let mut images = BeforeImages {
        existed,
        ..BeforeImages::default()
    };
    for row in rows.iter().filter(|r| r.changed != 0) {
        let out = &mut images.members;
        if images.count > 0 {
            out.push(b',');
        }
        images.count += 1;
        json_string(out, &row.code);
        out.extend_from_slice(b":{");
        for (bit, (column, value)) in columns.iter().zip(row.values()).enumerate() {
            if row.changed & (1 << bit) == 0 {
                continue;
            }
            out.push(b'"');
            out.extend_from_slice(module.fields()[column.field].key.as_bytes());
            out.extend_from_slice(b"\":");
            match (column.kind, value) {
                (_, None) => out.extend_from_slice(b"null"),
                (Kind::Cents, Some(v)) => out.extend_from_slice(v.as_bytes()),
                (Kind::Bool, Some(v)) => out.extend_from_slice(if v == "true" { b"true" } else { b"false" }),
                (_, Some(v)) => json_string(out, v),
            }
            out.push(b',');
        }
        out.extend_from_slice(b"\"updated_at\":");
        json_string(out, &row.at);
        out.push(b'}');
    }
    images
}

impl BeforeImages {
    /// Adds `other`'s codes and members to these.
    pub(crate) fn extend(&mut self, other: BeforeImages) {
        self.existed.extend(other.existed);
        if other.count > 0 {
            if self.count > 0 {
                self.members.push(b',');
            }
            self.members.extend_from_slice(&other.members);
            self.count += other.count;
        }
    }
}

/// `s` as a JSON string, appended to `out`.
fn json_string(out: &mut Vec<u8>, s: &str) {
    // Writing into a Vec cannot fail.
    let _ = serde_json::to_writer(&mut *out, s);
}
