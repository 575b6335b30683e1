//! What an import changed, and undoing it (RevertImport).
//!
//! Each committed batch of an import leaves one `import_changes` row, in the batch's own
//! transaction: the codes it created, and for each record it updated the values it overwrote
//! (only the fields that changed), typed as JSON. Reverting walks a job's rows newest first,
//! one transaction each: created records are deleted, updated ones get their old values back.
//! A record whose `updated_at` is no longer the batch's `written_at` was changed after the
//! import and is left alone (a conflict) unless forced; a customer that other records reference
//! is never deleted. What a revert leaves alone stays in the row, so that a forced revert can
//! come back for it; a row with nothing left is deleted.

use std::collections::{HashMap, HashSet};

use chrono::NaiveDateTime;
use dataport_core::{FieldKind, FieldValue, ImportMode, Module, Record, Records};
use diesel::prelude::*;
use serde_json::{Map, Value as Json};

use crate::backend::{Conn, on_conn};
use crate::error::{Result, StoreError};
use crate::records::{self, Apply};
use crate::schema::{contacts, customers, import_changes, opportunities};

/// A before-image value back, for a field of `kind` (as [`write_json`] or [`crate::before_images`] wrote it).
fn from_json(kind: FieldKind, value: &Json) -> Result<Option<FieldValue>> {
    let corrupt = || {
        StoreError::Corrupt(format!(
            "a before-image value {value} does not fit a {kind:?} field"
        ))
    };
    Ok(match (kind, value) {
        (_, Json::Null) => None,
        (FieldKind::Decimal, Json::Number(n)) => Some(FieldValue::Cents(n.as_i64().ok_or_else(corrupt)?)),
        (FieldKind::Date, Json::String(s)) => Some(FieldValue::Date(
            chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d").map_err(|_| corrupt())?,
        )),
        (FieldKind::Bool, Json::Bool(b)) => Some(FieldValue::Bool(*b)),
        (FieldKind::Decimal | FieldKind::Date | FieldKind::Bool, _) => return Err(corrupt()),
        (_, Json::String(s)) => Some(FieldValue::Text(s.clone())),
        _ => return Err(corrupt()),
    })
}

/// The key of a before-image's `updated_at`: when the overwritten values had been written.
const UPDATED_AT: &str = "updated_at";

/// The text of an `updated_at` in a before-image written here (microseconds).
const TIME_FORMAT: &str = "%Y-%m-%d %H:%M:%S%.6f";

/// How a before-image's `updated_at` is read: any fraction of a second (the database's own
/// before-images carry the stored time as it wrote it: SQLite's text, PostgreSQL's
/// microseconds).
const TIME_PARSE: &str = "%Y-%m-%d %H:%M:%S%.f";

/// A field value as JSON, straight into `out`: text and dates as strings, cents as a number,
/// 是/否 as a bool, empty as null.
fn write_json(out: &mut Vec<u8>, value: Option<&FieldValue>) {
    use std::io::Write;
    // Writing into a Vec cannot fail.
    let _ = match value {
        None => out.write_all(b"null"),
        Some(FieldValue::Text(s)) => serde_json::to_writer(&mut *out, s).map_err(std::io::Error::other),
        Some(FieldValue::Cents(c)) => write!(out, "{c}"),
        Some(FieldValue::Date(d)) => write!(out, "\"{}\"", d.format("%Y-%m-%d")),
        Some(FieldValue::Bool(b)) => write!(out, "{b}"),
    };
}

/// What one batch changed, as the JSON the log stores: before-images written here as the batch
/// is classified, from the stored records it read ([`BatchChanges::add_update`]; a million
/// before-images are a million small objects: no tree of maps is built for them), or built by
/// the database ([`BatchChanges::new`], [`crate::before_images`]).
#[derive(Debug, Default)]
pub(crate) struct BatchChanges {
    pub created: Vec<String>,
    /// The members of the `updated` object, comma-separated, without the braces.
    updated: Vec<u8>,
    updated_count: usize,
    /// The last `updated_at` written and its text: a batch's records were mostly last written
    /// by one earlier batch, so each time is formatted about once.
    last_time: Option<(NaiveDateTime, String)>,
}

impl BatchChanges {
    /// The database's before-images: `updated` are the members of the `updated` object.
    pub(crate) fn new(created: Vec<String>, updated: Vec<u8>, updated_count: usize) -> BatchChanges {
        BatchChanges {
            created,
            updated,
            updated_count,
            last_time: None,
        }
    }

    fn entries(&self) -> usize {
        self.created.len() + self.updated_count
    }

    /// Adds the before-image of a record `written` over `stored` (last written at
    /// `stored_at`): the fields it changed, with their stored values, and that time; nothing if
    /// it changed none. A `created_at` the written record did not carry was kept, not changed.
    pub(crate) fn add_update(&mut self, stored: &Record, stored_at: NaiveDateTime, written: &Record) {
        use std::io::Write;
        let start = self.updated.len();
        let mut changed = false;
        for (index, field) in stored.module().fields().iter().enumerate().skip(1) {
            let (old, new) = (stored.at(index), written.at(index));
            if old == new || (field.key == dataport_core::record::CREATED_AT && new.is_none()) {
                continue;
            }
            let out = &mut self.updated;
            if !changed {
                if self.updated_count > 0 {
                    out.push(b',');
                }
                let _ = serde_json::to_writer(&mut *out, written.code());
                out.extend_from_slice(b":{");
                changed = true;
            } else {
                out.push(b',');
            }
            let _ = write!(out, "\"{}\":", field.key);
            write_json(out, old);
        }
        if changed {
            if self.last_time.as_ref().is_none_or(|(t, _)| *t != stored_at) {
                self.last_time = Some((stored_at, stored_at.format(TIME_FORMAT).to_string()));
            }
            let text = self
                .last_time
                .as_ref()
                .map(|(_, text)| text.as_str())
                .unwrap_or_default();
            let _ = write!(self.updated, ",\"{UPDATED_AT}\":\"{text}\"}}");
            self.updated_count += 1;
        } else {
            self.updated.truncate(start);
        }
    }

    fn updated_json(&self) -> String {
        let mut json = String::with_capacity(self.updated.len() + 2);
        json.push('{');
        json.push_str(std::str::from_utf8(&self.updated).unwrap_or_default());
        json.push('}');
        json
    }
}

/// Records a committed batch's changes (inside its transaction).
pub(crate) fn log(
    conn: &mut Conn<'_>,
    job_id: i64,
    module: Module,
    written_at: NaiveDateTime,
    changes: &BatchChanges,
) -> Result<()> {
    if changes.entries() == 0 {
        return Ok(());
    }
    let created = serde_json::to_string(&changes.created).map_err(|e| StoreError::Database(e.to_string()))?;
    let updated = changes.updated_json();
    let row = (
        import_changes::job_id.eq(job_id),
        import_changes::module.eq(module.as_str()),
        import_changes::written_at.eq(written_at),
        import_changes::created.eq(created),
        import_changes::updated.eq(updated),
        import_changes::entries.eq(changes.entries() as i64),
    );
    on_conn!(conn, |c| diesel::insert_into(import_changes::table)
        .values(row.clone())
        .execute(c)?);
    Ok(())
}

/// What a revert step leaves in its row.
#[derive(Debug, Default)]
struct Leftover {
    created: Vec<String>,
    updated: Map<String, Json>,
}

impl Leftover {
    fn entries(&self) -> usize {
        self.created.len() + self.updated.len()
    }
}

/// Why a revert left a record alone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RevertConflict {
    /// Changed after the import (its `updated_at` is the later change's); `--force` overrides.
    ChangedSince { at: NaiveDateTime },
    /// An updated record that was deleted after the import: nothing to restore.
    DeletedSince,
    /// A customer the import created that other records now reference: never deleted.
    Referenced { by: Module, code: String },
    /// A contact or opportunity whose former customer no longer exists: not restored.
    FormerCustomerGone { customer_code: String },
}

impl RevertConflict {
    /// Whether a forced revert may come back for the record.
    fn retryable(&self) -> bool {
        !matches!(self, RevertConflict::DeletedSince)
    }
}

/// What one step of a revert (one batch of the import, newest first) did or would do.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct RevertStep {
    /// The `import_changes` row; the next step looks below it.
    pub change_id: i64,
    /// Created records deleted.
    pub deleted: u64,
    /// Updated records given their old values back.
    pub restored: u64,
    /// Records left alone, by code.
    pub conflicts: Vec<(String, RevertConflict)>,
    /// Entries of the row handled (each record once).
    pub entries: u64,
}

#[derive(Queryable)]
struct ChangeRow {
    id: i64,
    module: String,
    written_at: NaiveDateTime,
    created: String,
    updated: String,
}

/// The entries left to revert for a job (progress total).
pub(crate) fn remaining(conn: &mut Conn<'_>, job_id: i64) -> Result<u64> {
    // One row per batch: a few hundred for a million records.
    let entries: Vec<i64> = on_conn!(conn, |c| import_changes::table
        .filter(import_changes::job_id.eq(job_id))
        .select(import_changes::entries)
        .load(c)?);
    Ok(entries.into_iter().map(|n| n.max(0) as u64).sum())
}

/// `code → updated_at` of the records of `codes` that exist.
fn written_times(
    conn: &mut Conn<'_>,
    module: Module,
    codes: &[&str],
) -> Result<HashMap<String, NaiveDateTime>> {
    let mut found = HashMap::with_capacity(codes.len());
    for part in codes.chunks(conn.backend().max_binds()) {
        let rows: Vec<(String, NaiveDateTime)> = on_conn!(conn, |c| match module {
            Module::Customers => customers::table
                .select((customers::code, customers::updated_at))
                .filter(customers::code.eq_any(part))
                .load(c)?,
            Module::Contacts => contacts::table
                .select((contacts::code, contacts::updated_at))
                .filter(contacts::code.eq_any(part))
                .load(c)?,
            Module::Opportunities => opportunities::table
                .select((opportunities::code, opportunities::updated_at))
                .filter(opportunities::code.eq_any(part))
                .load(c)?,
        });
        found.extend(rows);
    }
    Ok(found)
}

/// The first record of another module that references each of `codes` (customers).
fn references(conn: &mut Conn<'_>, codes: &[&str]) -> Result<HashMap<String, (Module, String)>> {
    let mut found = HashMap::new();
    for part in codes.chunks(conn.backend().max_binds()) {
        let by_contacts: Vec<(String, String)> = on_conn!(conn, |c| contacts::table
            .select((contacts::customer_code, contacts::code))
            .filter(contacts::customer_code.eq_any(part))
            .load(c)?);
        let by_opportunities: Vec<(String, String)> = on_conn!(conn, |c| opportunities::table
            .select((opportunities::customer_code, opportunities::code))
            .filter(opportunities::customer_code.eq_any(part))
            .load(c)?);
        for (customer, code) in by_contacts {
            found.entry(customer).or_insert((Module::Contacts, code));
        }
        for (customer, code) in by_opportunities {
            found.entry(customer).or_insert((Module::Opportunities, code));
        }
    }
    Ok(found)
}

fn delete(conn: &mut Conn<'_>, module: Module, codes: &[&str]) -> Result<u64> {
    let mut deleted = 0;
    for part in codes.chunks(conn.backend().max_binds()) {
        deleted += on_conn!(conn, |c| match module {
            Module::Customers =>
                diesel::delete(customers::table.filter(customers::code.eq_any(part))).execute(c)?,
            Module::Contacts =>
                diesel::delete(contacts::table.filter(contacts::code.eq_any(part))).execute(c)?,
            Module::Opportunities => {
                diesel::delete(opportunities::table.filter(opportunities::code.eq_any(part))).execute(c)?
            }
        }) as u64;
    }
    Ok(deleted)
}

/// Reverts the newest change row of `job_id` below `before_id` (all rows: `i64::MAX`), inside
/// the caller's transaction; `None` when none is left. With `apply` false it only works out
/// what it would do.
pub(crate) fn revert_step(
    conn: &mut Conn<'_>,
    job_id: i64,
    before_id: i64,
    force: bool,
    apply: bool,
) -> Result<Option<RevertStep>> {
    let query = import_changes::table
        .filter(import_changes::job_id.eq(job_id))
        .filter(import_changes::id.lt(before_id))
        .order(import_changes::id.desc())
        .select((
            import_changes::id,
            import_changes::module,
            import_changes::written_at,
            import_changes::created,
            import_changes::updated,
        ));
    // On PostgreSQL the row is locked: two reverts of one job take turns.
    let row: Option<ChangeRow> = match conn {
        Conn::Sqlite(c) => query.first(&mut **c).optional()?,
        Conn::Postgres(c) => query.for_update().first(&mut **c).optional()?,
    };
    let Some(row) = row else { return Ok(None) };
    let corrupt = |e: serde_json::Error| StoreError::Corrupt(format!("import_changes row {}: {e}", row.id));
    let module: Module = row.module.parse().map_err(|_| {
        StoreError::Corrupt(format!(
            "import_changes row {}: unknown module '{}'",
            row.id, row.module
        ))
    })?;
    let created: Vec<String> = serde_json::from_str(&row.created).map_err(corrupt)?;
    let updated: Map<String, Json> = serde_json::from_str(&row.updated).map_err(corrupt)?;
    let mut step = RevertStep {
        change_id: row.id,
        entries: (created.len() + updated.len()) as u64,
        ..RevertStep::default()
    };
    // Updated records are read whole (on PostgreSQL locked): their updated_at decides, and a
    // restore starts from them. Of created records only the updated_at is needed.
    let updated_codes: Vec<&str> = updated.keys().map(String::as_str).collect();
    let stored = records::stored_records(conn, module, &updated_codes)?;
    let created_codes: Vec<&str> = created.iter().map(String::as_str).collect();
    let created_times = written_times(conn, module, &created_codes)?;
    let times: HashMap<&str, NaiveDateTime> = stored
        .iter()
        .map(|(code, (_, at))| (code.as_str(), *at))
        .chain(created_times.iter().map(|(code, at)| (code.as_str(), *at)))
        .collect();
    let mut left = Leftover::default();
    // Whether the record is as the import left it (or the revert is forced).
    let untouched = |code: &str| match times.get(code) {
        Some(&at) if at != row.written_at && !force => Err(RevertConflict::ChangedSince { at }),
        Some(_) => Ok(true),
        None => Ok(false),
    };

    // Updated records: the stored record with its old values put back.
    let mut restore: Vec<(&str, &Map<String, Json>)> = Vec::new();
    for (code, before) in &updated {
        match untouched(code) {
            Ok(true) => restore.push((
                code,
                before.as_object().ok_or_else(|| {
                    StoreError::Corrupt(format!(
                        "import_changes row {}: the before-image of {code} is not an object",
                        row.id
                    ))
                })?,
            )),
            Ok(false) => step.conflicts.push((code.clone(), RevertConflict::DeletedSince)),
            Err(conflict) => {
                step.conflicts.push((code.clone(), conflict));
                left.updated.insert(code.clone(), before.clone());
            }
        }
    }
    if !restore.is_empty() {
        // Grouped by the time the old values were written, which the restored records get back
        // as their updated_at (a batch's records mostly share one): undoing the imports of a
        // record newest first then meets no conflict of its own making.
        let mut by_time: std::collections::BTreeMap<NaiveDateTime, Vec<Record>> = Default::default();
        for (code, before) in &restore {
            let Some((current, current_at)) = stored.get(*code) else {
                continue;
            };
            let mut record = current.clone();
            let mut at = *current_at;
            for (key, value) in before.iter() {
                if key == UPDATED_AT {
                    at = value
                        .as_str()
                        .and_then(|t| NaiveDateTime::parse_from_str(t, TIME_PARSE).ok())
                        .ok_or_else(|| {
                            StoreError::Corrupt(format!("import_changes row {}: updated_at {value}", row.id))
                        })?;
                    continue;
                }
                let Some(index) = module.position(key) else {
                    return Err(StoreError::Corrupt(format!(
                        "import_changes row {}: {module} have no field {key}",
                        row.id
                    )));
                };
                record
                    .set_at(index, from_json(module.fields()[index].kind, value)?)
                    .map_err(|e| StoreError::Corrupt(e.to_string()))?;
            }
            by_time.entry(at).or_default().push(record);
        }
        for (at, group) in by_time {
            let batch = Records::from_vec(module, group).map_err(|e| StoreError::Corrupt(e.to_string()))?;
            let apply = if apply { Apply::Write } else { Apply::DryRun };
            let outcome = records::write_at(conn, &batch, ImportMode::Update, apply, None, at)?;
            let gone: HashSet<&str> = outcome.unknown_reference.iter().map(String::as_str).collect();
            for record in batch.iter() {
                if !gone.contains(record.code()) {
                    step.restored += 1;
                    continue;
                }
                let customer_code = record.customer_code().unwrap_or_default().to_owned();
                step.conflicts.push((
                    record.code().to_owned(),
                    RevertConflict::FormerCustomerGone { customer_code },
                ));
                if let Some((_, before)) = restore.iter().find(|(code, _)| *code == record.code()) {
                    left.updated
                        .insert(record.code().to_owned(), Json::Object((*before).clone()));
                }
            }
        }
    }

    // Created records: deleted, unless changed since or (customers) referenced.
    let mut doomed: Vec<&str> = Vec::new();
    for code in &created {
        match untouched(code) {
            Ok(true) => doomed.push(code),
            Ok(false) => {}
            Err(conflict) => {
                step.conflicts.push((code.clone(), conflict));
                left.created.push(code.clone());
            }
        }
    }
    if module == Module::Customers && !doomed.is_empty() {
        let referenced = references(conn, &doomed)?;
        doomed.retain(|code| match referenced.get(*code) {
            Some((by, other)) => {
                step.conflicts.push((
                    (*code).to_owned(),
                    RevertConflict::Referenced {
                        by: *by,
                        code: other.clone(),
                    },
                ));
                left.created.push((*code).to_owned());
                false
            }
            None => true,
        });
    }
    step.deleted = if apply {
        delete(conn, module, &doomed)?
    } else {
        doomed.len() as u64
    };

    if apply {
        left.created
            .retain(|code| step.conflicts.iter().any(|(c, why)| c == code && why.retryable()));
        if left.entries() == 0 {
            on_conn!(conn, |c| diesel::delete(import_changes::table.find(row.id))
                .execute(c)?);
        } else {
            let created =
                serde_json::to_string(&left.created).map_err(|e| StoreError::Database(e.to_string()))?;
            let updated =
                serde_json::to_string(&left.updated).map_err(|e| StoreError::Database(e.to_string()))?;
            on_conn!(conn, |c| diesel::update(import_changes::table.find(row.id))
                .set((
                    import_changes::created.eq(&created),
                    import_changes::updated.eq(&updated),
                    import_changes::entries.eq(left.entries() as i64),
                ))
                .execute(c)?);
        }
    }
    Ok(Some(step))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn before_image_values_read_back_by_kind() {
        let kind = |key: &str| Module::Customers.field(key).unwrap().kind;
        let json = |text: &str| serde_json::from_str::<Json>(text).unwrap();
        assert_eq!(
            from_json(kind("name"), &json(r#""旧 \"名\"\n""#)).unwrap(),
            Some(FieldValue::Text("旧 \"名\"\n".into()))
        );
        assert_eq!(
            from_json(kind("contract_amount"), &json("12345")).unwrap(),
            Some(FieldValue::Cents(12_345))
        );
        assert_eq!(from_json(kind("level"), &json("null")).unwrap(), None);
        assert_eq!(
            from_json(kind("created_at"), &json(r#""2023-10-01""#)).unwrap(),
            Some(FieldValue::Date(
                chrono::NaiveDate::from_ymd_opt(2023, 10, 1).unwrap()
            ))
        );
        let primary = Module::Contacts.field("is_primary").unwrap().kind;
        assert_eq!(
            from_json(primary, &json("true")).unwrap(),
            Some(FieldValue::Bool(true))
        );
        assert!(from_json(kind("contract_amount"), &json(r#""12""#)).is_err());
    }

    #[test]
    fn stored_times_read_back_whatever_their_fraction() {
        let at = |text: &str| NaiveDateTime::parse_from_str(text, TIME_PARSE).unwrap();
        let day = chrono::NaiveDate::from_ymd_opt(2026, 12, 2).unwrap();
        // PostgreSQL's microseconds, and SQLite's text as diesel writes it (`%.f`).
        assert_eq!(
            at("2026-12-02 08:00:00.123456"),
            day.and_hms_micro_opt(8, 0, 0, 123_456).unwrap()
        );
        assert_eq!(
            at("2026-12-02 08:00:00.120"),
            day.and_hms_milli_opt(8, 0, 0, 120).unwrap()
        );
        assert_eq!(at("2026-12-02 08:00:00"), day.and_hms_opt(8, 0, 0).unwrap());
    }

    #[test]
    fn before_images_are_json_that_reads_back_to_the_same_values() {
        let text = |s: &str| Some(FieldValue::Text(s.into()));
        let stored = Record::from_pairs(
            Module::Customers,
            [
                ("code", text("C\"1")),
                ("name", text("旧 \"名\"\n")),
                ("owner", text("张伟")),
                ("contract_amount", Some(FieldValue::Cents(12_345))),
            ],
        )
        .unwrap();
        let written = Record::from_pairs(
            Module::Customers,
            [
                ("code", text("C\"1")),
                ("name", text("新")),
                ("owner", text("张伟")),
                ("level", text("VIP")),
            ],
        )
        .unwrap();
        let at = chrono::NaiveDate::from_ymd_opt(2026, 12, 2)
            .unwrap()
            .and_hms_micro_opt(8, 0, 0, 123_456)
            .unwrap();
        let mut changes = BatchChanges::default();
        changes.add_update(&stored, at, &written);
        changes.add_update(&stored, at, &stored);
        assert_eq!(changes.entries(), 1, "an unchanged record leaves no entry");
        let parsed: Map<String, Json> = serde_json::from_str(&changes.updated_json()).unwrap();
        let before = parsed["C\"1"].as_object().unwrap();
        let kinds = |key: &str| Module::Customers.field(key).unwrap().kind;
        assert_eq!(
            from_json(kinds("name"), &before["name"]).unwrap(),
            text("旧 \"名\"\n")
        );
        assert_eq!(
            from_json(kinds("contract_amount"), &before["contract_amount"]).unwrap(),
            Some(FieldValue::Cents(12_345))
        );
        assert_eq!(from_json(kinds("level"), &before["level"]).unwrap(), None);
        assert_eq!(before[UPDATED_AT], "2026-12-02 08:00:00.123456");
        assert!(!before.contains_key("owner"), "only changed fields");
    }
}
