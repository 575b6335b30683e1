//! Before-images built by the database itself: for each record a logged UPDATE or UPSERT
//! overwrites, the fields it changes with their stored values, as the JSON members of
//! `import_changes.updated` ([`crate::changes`] reads them back). Used for the batches that do
//! not read their stored records anyway (`records::write_module`): no stored record crosses into
//! Rust for them to be compared.
//!
//! - SQLite: before the write, the batch's stored rows are copied into a temporary table of
//!   the writer connection ([`snapshot_sqlite`]); after it, that copy is compared with the
//!   table ([`after_write_sqlite`]).
//! - PostgreSQL: before the merge, the table is compared with the batch's COPY stage, the
//!   compared rows locked ([`sql_postgres`], run by `copy.rs`).
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
    pub members: String,
    pub count: usize,
}

/// The aggregated members of a batch, as both backends' queries return them.
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
            members: self.members.unwrap_or_default(),
            count: usize::try_from(self.count).unwrap_or(0),
        }
    }
}

#[derive(QueryableByName)]
struct Code {
    #[diesel(sql_type = Text)]
    code: String,
}

/// Which SQL dialect the expressions are for.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Dialect {
    Sqlite,
    Postgres,
}

/// `old.<column>` as JSON text.
fn json_value(dialect: Dialect, old: &str, column: &str, kind: Kind) -> String {
    match (dialect, kind) {
        (Dialect::Sqlite, Kind::Bool) => {
            format!(
                "CASE WHEN {old}.{column} IS NULL THEN 'null' WHEN {old}.{column} THEN 'true' ELSE 'false' END"
            )
        }
        (Dialect::Sqlite, _) => format!("json_quote({old}.{column})"),
        (Dialect::Postgres, _) => format!("COALESCE(to_json({old}.{column})::text, 'null')"),
    }
}

/// The member expression of one record and the condition that it changed anything, comparing
/// `old` (the stored row) with `new` (the row as written). A `created_at` the record did not
/// bring, or a NULL in a column of `kept`, is kept, not changed: SQLite compares after the write
/// (the kept value is there); PostgreSQL compares with the stage, where it is NULL.
fn member_and_changed(
    dialect: Dialect,
    module: Module,
    old: &str,
    new: &str,
    kept: Kept,
) -> (String, String) {
    let mut fields = Vec::new();
    let mut changed = Vec::new();
    for column in columns(module).iter().filter(|c| c.name != "code") {
        let key = module.fields()[column.field].key;
        let name = column.name;
        let differs = match dialect {
            Dialect::Sqlite => format!("{old}.{name} IS NOT {new}.{name}"),
            Dialect::Postgres if name == "created_at" || kept.contains(column.field) => {
                format!("({new}.{name} IS NOT NULL AND {old}.{name} IS DISTINCT FROM {new}.{name})")
            }
            Dialect::Postgres => format!("{old}.{name} IS DISTINCT FROM {new}.{name}"),
        };
        let value = json_value(dialect, old, name, column.kind);
        fields.push(match dialect {
            Dialect::Sqlite => format!("CASE WHEN {differs} THEN '\"{key}\":' || {value} || ',' ELSE '' END"),
            Dialect::Postgres => format!("CASE WHEN {differs} THEN '\"{key}\":' || {value} || ',' END"),
        });
        changed.push(differs);
    }
    let (code, at) = match dialect {
        Dialect::Sqlite => (
            format!("json_quote({old}.code)"),
            format!("json_quote({old}.updated_at)"),
        ),
        Dialect::Postgres => (
            format!("to_json({old}.code)::text"),
            format!("to_json(to_char({old}.updated_at, 'YYYY-MM-DD HH24:MI:SS.US'))::text"),
        ),
    };
    let fields = match dialect {
        Dialect::Sqlite => fields.join(" || "),
        // concat() skips the NULLs of unchanged fields.
        Dialect::Postgres => format!("concat({})", fields.join(", ")),
    };
    (
        format!("{code} || ':{{' || {fields} || '\"updated_at\":' || {at} || '}}'"),
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
    let (member, changed) = member_and_changed(Dialect::Sqlite, module, "o", "n", Kept::default());
    let found: Aggregated = diesel::sql_query(format!(
        "SELECT group_concat(m, ',') AS members, count(*) AS count FROM \
         (SELECT {member} AS m FROM temp.{snapshot} o JOIN main.{table} n ON n.code = o.code WHERE {changed})"
    ))
    .get_result(&mut **c)?;
    c.batch_execute(&format!("DELETE FROM temp.{snapshot};"))?;
    Ok(found.into_images(existed))
}

/// PostgreSQL, before the merge: the query of the before-images (members, count) of the rows
/// of `table` the stage `stage` will overwrite. Every one of those rows is locked, changed or
/// not, so none can change between this read and the merge.
fn sql_postgres(module: Module, stage: &str, kept: Kept) -> String {
    let table = module.as_str();
    let (member, changed) = member_and_changed(Dialect::Postgres, module, "t", "s", kept);
    format!(
        "SELECT string_agg(m, ',') FILTER (WHERE changed) AS members, count(*) FILTER (WHERE changed) AS count FROM \
         (SELECT {member} AS m, ({changed}) AS changed FROM {table} t JOIN {stage} s ON t.code = s.code FOR UPDATE OF t) x"
    )
}

/// Runs [`sql_postgres`]; the merge then adds the codes it updated to `existed`.
pub(crate) fn load_postgres(
    c: &mut diesel::PgConnection,
    module: Module,
    stage: &str,
    kept: Kept,
) -> Result<BeforeImages> {
    let found: Aggregated = diesel::sql_query(sql_postgres(module, stage, kept)).get_result(c)?;
    Ok(found.into_images(HashSet::new()))
}
