//! PostgreSQL's bulk path: each batch is copied (binary `COPY`) into a temporary staging table
//! of its transaction (`ON COMMIT DROP`, so it needs no session state and works through
//! PgBouncer's transaction pooling), then merged into the module's table by one statement per
//! mode, whose `RETURNING` says what became of each code. Reference checks of contacts and
//! opportunities are one anti-join of the stage against `customers`.
//!
//! The batch arrives validated and without repeated codes ([`crate::records`] sees to both), so
//! the merge meets no row-level error it could blame on one row other than a conflict, which
//! PostgreSQL reports with the row's key.
//!
//! INSERT and UPSERT first try the batch as one binary `COPY` straight into the table, in a
//! savepoint ([`insert_direct`]): a fresh import or a migration into an empty instance, the
//! common cases, then cost what `psql \copy` costs. A code already stored or an unknown customer
//! makes that COPY fail; the savepoint rolls back (nothing of it stays) and the staged path
//! sorts out every row. A batch whose first, middle or last code is stored does not try it.
//!
//! A logged UPDATE or UPSERT (RevertImport's before-images) updates the batch's stored records
//! by one `UPDATE … FROM` the stage whose `RETURNING` reads the versions it replaces; only what
//! it leaves (new codes, a record another transaction changed meanwhile) goes through the
//! locked read and the merge.

use std::collections::HashMap;
use std::io::Write;

use chrono::{NaiveDate, NaiveDateTime};
use dataport_core::{ImportMode, Module, Record};
use diesel::connection::SimpleConnection;
use diesel::pg::{CopyFormat, PgConnection};
use diesel::prelude::*;
use diesel::sql_types::{Array, Bool, Integer, Text};

use crate::before_images::BeforeImages;
use crate::error::Result;
use crate::records::{Kept, WriteOutcome};

/// How a stage column is encoded in binary COPY.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Text,
    Cents,
    Date,
    Bool,
}

/// One column of a module's table, fed from the record's field `field` (registry position).
pub(crate) struct Column {
    pub name: &'static str,
    pub field: usize,
    pub kind: Kind,
}

const fn col(name: &'static str, module: Module, key: &'static str, kind: Kind) -> Column {
    Column {
        name,
        field: module.index_of(key),
        kind,
    }
}

/// The written columns of each module, in the stage's order (`updated_at` is the batch's
/// clock, not a record value; `created_at` is set where the record has none).
const CUSTOMERS: &[Column] = &[
    col("code", Module::Customers, "code", Kind::Text),
    col("name", Module::Customers, "name", Kind::Text),
    col("industry", Module::Customers, "industry", Kind::Text),
    col("phone", Module::Customers, "phone", Kind::Text),
    col("owner", Module::Customers, "owner", Kind::Text),
    col("level", Module::Customers, "level", Kind::Text),
    col(
        "follow_up_status",
        Module::Customers,
        "follow_up_status",
        Kind::Text,
    ),
    col("address", Module::Customers, "address", Kind::Text),
    col(
        "contract_amount_cents",
        Module::Customers,
        "contract_amount",
        Kind::Cents,
    ),
    col(
        "follow_up_notes",
        Module::Customers,
        "follow_up_notes",
        Kind::Text,
    ),
    col("remarks", Module::Customers, "remarks", Kind::Text),
    col("created_at", Module::Customers, "created_at", Kind::Date),
];
const CONTACTS: &[Column] = &[
    col("code", Module::Contacts, "code", Kind::Text),
    col("customer_code", Module::Contacts, "customer_code", Kind::Text),
    col("name", Module::Contacts, "name", Kind::Text),
    col("title", Module::Contacts, "title", Kind::Text),
    col("phone", Module::Contacts, "phone", Kind::Text),
    col("email", Module::Contacts, "email", Kind::Text),
    col("is_primary", Module::Contacts, "is_primary", Kind::Bool),
    col("remarks", Module::Contacts, "remarks", Kind::Text),
];
const OPPORTUNITIES: &[Column] = &[
    col("code", Module::Opportunities, "code", Kind::Text),
    col(
        "customer_code",
        Module::Opportunities,
        "customer_code",
        Kind::Text,
    ),
    col("name", Module::Opportunities, "name", Kind::Text),
    col("stage", Module::Opportunities, "stage", Kind::Text),
    col("amount_cents", Module::Opportunities, "amount", Kind::Cents),
    col(
        "expected_close_date",
        Module::Opportunities,
        "expected_close_date",
        Kind::Date,
    ),
    col("owner", Module::Opportunities, "owner", Kind::Text),
    col("remarks", Module::Opportunities, "remarks", Kind::Text),
];

pub(crate) fn columns(module: Module) -> &'static [Column] {
    match module {
        Module::Customers => CUSTOMERS,
        Module::Contacts => CONTACTS,
        Module::Opportunities => OPPORTUNITIES,
    }
}

/// The staging tables, as diesel sees them for `COPY`: `ord` (the record's position in the
/// batch) and then the module's columns, in [`columns`] order. Created by [`write`].
mod stage {
    diesel::table! {
        dp_stage_customers (ord) {
            ord -> Integer,
            code -> Text,
            name -> Text,
            industry -> Nullable<Text>,
            phone -> Nullable<Text>,
            owner -> Text,
            level -> Nullable<Text>,
            follow_up_status -> Nullable<Text>,
            address -> Nullable<Text>,
            contract_amount_cents -> Nullable<BigInt>,
            follow_up_notes -> Nullable<Text>,
            remarks -> Nullable<Text>,
            created_at -> Nullable<Date>,
        }
    }
    diesel::table! {
        dp_stage_contacts (ord) {
            ord -> Integer,
            code -> Text,
            customer_code -> Text,
            name -> Text,
            title -> Nullable<Text>,
            phone -> Nullable<Text>,
            email -> Nullable<Text>,
            is_primary -> Nullable<Bool>,
            remarks -> Nullable<Text>,
        }
    }
    diesel::table! {
        dp_stage_opportunities (ord) {
            ord -> Integer,
            code -> Text,
            customer_code -> Text,
            name -> Text,
            stage -> Nullable<Text>,
            amount_cents -> Nullable<BigInt>,
            expected_close_date -> Nullable<Date>,
            owner -> Nullable<Text>,
            remarks -> Nullable<Text>,
        }
    }
}

fn stage_name(module: Module) -> &'static str {
    match module {
        Module::Customers => "dp_stage_customers",
        Module::Contacts => "dp_stage_contacts",
        Module::Opportunities => "dp_stage_opportunities",
    }
}

/// A row of a merge's `RETURNING`.
#[derive(QueryableByName)]
struct Merged {
    #[diesel(sql_type = Text)]
    code: String,
    #[diesel(sql_type = Bool)]
    inserted: bool,
}

/// A stage row the reference check removed.
#[derive(QueryableByName)]
struct Unreferenced {
    #[diesel(sql_type = Integer)]
    ord: i32,
}

/// Writes `records` (validated, each code once) in `mode`, inside the caller's transaction.
/// `repeated_inserts` are codes the batch repeated (INSERT keeps the first), reported as
/// skipped after the others. With `before_images` (a logged UPDATE or UPSERT), also what the
/// write overwrites, returned by the UPDATE of the stored records itself
/// ([`crate::before_images::update_postgres`]). A NULL in a column of `kept_fields` keeps the
/// stored value.
#[allow(clippy::too_many_arguments)]
pub(crate) fn write(
    c: &mut PgConnection,
    module: Module,
    records: &[&Record],
    mode: ImportMode,
    repeated_inserts: Vec<String>,
    today: NaiveDate,
    now: NaiveDateTime,
    before_images: bool,
    kept_fields: Kept,
) -> Result<(WriteOutcome, Option<BeforeImages>)> {
    let mut outcome = WriteOutcome::default();
    // A batch of only new codes is the same write in every mode but UPDATE (which creates
    // nothing), and needs no before-images: the table had none of its records.
    if mode != ImportMode::Update
        && !any_stored(c, module, records)?
        && insert_direct(c, module, records, today, now)?
    {
        outcome.created = records.len() as u64;
        outcome.skipped_existing = repeated_inserts;
        return Ok((outcome, None));
    }
    let stage = stage_name(module);
    let cols = columns(module);
    let names: Vec<&str> = cols.iter().map(|c| c.name).collect();
    let table = module.as_str();
    // The stage takes its columns' types and collations (the keys' "C") from the table itself;
    // CREATE TABLE AS copies no NOT NULL, so a record's missing created_at can be NULL here.
    c.batch_execute(&format!(
        "CREATE TEMP TABLE IF NOT EXISTS {stage} ON COMMIT DROP AS \
         SELECT 0::int4 AS ord, {} FROM {table} WITH NO DATA; TRUNCATE {stage};",
        names.join(", ")
    ))?;
    copy_in(c, module, records)?;

    // Records whose customer does not exist leave the stage before the merge.
    let mut kept = vec![true; records.len()];
    if module.references_customers() {
        let mut missing: Vec<Unreferenced> = diesel::sql_query(format!(
            "DELETE FROM {stage} s WHERE s.customer_code IS NOT NULL AND NOT EXISTS \
             (SELECT 1 FROM customers c WHERE c.code = s.customer_code) RETURNING s.ord"
        ))
        .load(c)?;
        missing.sort_unstable_by_key(|m| m.ord);
        for m in missing {
            kept[m.ord as usize] = false;
            outcome
                .unknown_reference
                .push(records[m.ord as usize].code().to_owned());
        }
    }

    let updated_at = format!("'{}'::timestamp", now.format("%Y-%m-%d %H:%M:%S%.6f"));
    let today = format!("'{}'::date", today.format("%Y-%m-%d"));
    let has_created_at = cols.iter().any(|c| c.name == "created_at");
    // The inserted row: the record's created_at if it has one (customers), else today.
    let select: Vec<String> = names
        .iter()
        .map(|n| {
            if *n == "created_at" {
                format!("COALESCE(s.created_at, {today})")
            } else {
                format!("s.{n}")
            }
        })
        .collect();
    let (insert_cols, insert_select) = if has_created_at {
        (
            format!("{}, updated_at", names.join(", ")),
            format!("{}, {updated_at}", select.join(", ")),
        )
    } else {
        (
            format!("{}, created_at, updated_at", names.join(", ")),
            format!("{}, {today}, {updated_at}", select.join(", ")),
        )
    };
    // Overwrites: every column but the code, a kept one only where the record has a value. A
    // stored created_at is replaced only by one the record brings (`created_from` names where
    // to read it; `None`: keep the stored one).
    let overwrite = |source: &str, created_from: Option<&str>| -> String {
        let mut set: Vec<String> = cols
            .iter()
            .filter(|c| !matches!(c.name, "code" | "created_at"))
            .map(|c| match c.name {
                n if kept_fields.contains(c.field) => format!("{n} = COALESCE({source}.{n}, t.{n})"),
                n => format!("{n} = {source}.{n}"),
            })
            .collect();
        if let Some(created) = created_from {
            set.push(format!("created_at = {created}"));
        }
        set.push(format!("updated_at = {updated_at}"));
        set.join(", ")
    };

    // The SET of an UPDATE from the stage: a stored created_at stays unless the record brings one.
    let update_set = overwrite(
        "s",
        has_created_at.then_some("COALESCE(s.created_at, t.created_at)"),
    );
    let merge = |c: &mut PgConnection| -> Result<Vec<Merged>> {
        Ok(match mode {
            ImportMode::Insert => diesel::sql_query(format!(
                "INSERT INTO {table} AS t ({insert_cols}) SELECT {insert_select} FROM {stage} s \
                 ON CONFLICT (code) DO NOTHING RETURNING t.code, true AS inserted"
            ))
            .load(c)?,
            ImportMode::Update => diesel::sql_query(format!(
                "UPDATE {table} AS t SET {update_set} FROM {stage} s WHERE t.code = s.code \
                 RETURNING t.code, false AS inserted"
            ))
            .load(c)?,
            ImportMode::Upsert => {
                // `excluded` is the proposed row, whose created_at is already COALESCEd to today,
                // so whether the record brought one is read from the stage: dated and undated rows
                // go in separate statements (one of them is usually empty).
                let groups: &[(&str, Option<&str>)] = if has_created_at {
                    &[
                        ("s.created_at IS NOT NULL", Some("excluded.created_at")),
                        ("s.created_at IS NULL", None),
                    ]
                } else {
                    &[("true", None)]
                };
                let mut merged = Vec::new();
                for (rows, created) in groups {
                    merged.extend(
                        diesel::sql_query(format!(
                            "INSERT INTO {table} AS t ({insert_cols}) SELECT {insert_select} FROM {stage} s WHERE {rows} \
                             ON CONFLICT (code) DO UPDATE SET {} \
                             RETURNING t.code, (t.xmax = 0) AS inserted",
                            overwrite("excluded", *created)
                        ))
                        .load::<Merged>(c)?,
                    );
                }
                merged
            }
        })
    };

    // A logged UPDATE or UPSERT updates the stored records first, reading their before-images
    // in the same statement; the locked read and the merge then see to what it left (new codes,
    // a record changed meanwhile by another transaction), if anything.
    let mut images = None;
    let mut merged = Vec::new();
    if before_images && mode != ImportMode::Insert {
        let mut updated = crate::before_images::update_postgres(c, module, stage, kept_fields, &update_set)?;
        let left = kept
            .iter()
            .filter(|k| **k)
            .count()
            .saturating_sub(updated.existed.len());
        if left > 0 {
            let codes: Vec<&str> = updated.existed.iter().map(String::as_str).collect();
            diesel::sql_query(format!(
                "DELETE FROM {stage} s USING unnest($1::text[]) AS d(code) WHERE s.code = d.code"
            ))
            .bind::<Array<Text>, _>(codes)
            .execute(c)?;
            updated.extend(crate::before_images::load_postgres(
                c,
                module,
                stage,
                kept_fields,
            )?);
            merged = merge(c)?;
        }
        merged.extend(updated.existed.iter().map(|code| Merged {
            code: code.clone(),
            inserted: false,
        }));
        images = Some(updated);
    } else {
        merged = merge(c)?;
    }

    let position: HashMap<&str, usize> = records.iter().enumerate().map(|(i, r)| (r.code(), i)).collect();
    let mut done = vec![false; records.len()];
    for m in &merged {
        if let Some(&i) = position.get(m.code.as_str()) {
            done[i] = true;
        }
        if m.inserted {
            outcome.created += 1;
        } else {
            outcome.updated += 1;
            if let Some(images) = images.as_mut() {
                images.existed.insert(m.code.clone());
            }
        }
    }
    for (i, record) in records.iter().enumerate() {
        if kept[i] && !done[i] {
            match mode {
                ImportMode::Insert => outcome.skipped_existing.push(record.code().to_owned()),
                ImportMode::Update => outcome.not_found.push(record.code().to_owned()),
                // Every kept row of an upsert is inserted or updated.
                ImportMode::Upsert => {}
            }
        }
    }
    outcome.skipped_existing.extend(repeated_inserts);
    Ok((outcome, images))
}

/// Whether the first, middle or last code of the batch is stored. The COPY straight into the
/// table would fail on it (an upsert of existing records), so it is not tried: a failed COPY
/// costs the whole batch's transfer and an ERROR in PostgreSQL's log.
fn any_stored(c: &mut PgConnection, module: Module, records: &[&Record]) -> Result<bool> {
    #[derive(QueryableByName)]
    struct Found {
        #[diesel(sql_type = Bool)]
        found: bool,
    }
    let (Some(first), Some(last)) = (records.first(), records.last()) else {
        return Ok(false);
    };
    let probes = vec![first.code(), records[records.len() / 2].code(), last.code()];
    let found: Found = diesel::sql_query(format!(
        "SELECT EXISTS (SELECT 1 FROM {} WHERE code = ANY($1)) AS found",
        module.as_str()
    ))
    .bind::<Array<Text>, _>(probes)
    .get_result(c)?;
    Ok(found.found)
}

/// The fast path of INSERT and UPSERT: the batch copied straight into the module's table, in a
/// savepoint of the caller's transaction. `false`: the COPY failed on a database error (a code already stored,
/// an unknown customer), the savepoint rolled back and nothing was written.
fn insert_direct(
    c: &mut PgConnection,
    module: Module,
    records: &[&Record],
    today: NaiveDate,
    now: NaiveDateTime,
) -> Result<bool> {
    use crate::schema::{contacts as ct, customers as cu, opportunities as op};
    let cols = columns(module);
    let has_created_at = cols.iter().any(|c| c.name == "created_at");
    let fields = cols.len() + if has_created_at { 1 } else { 2 };
    let today = pg_days(today);
    let now = (now - PG_EPOCH.and_time(chrono::NaiveTime::MIN))
        .num_microseconds()
        .unwrap_or(0);
    let encode = |out: &mut dyn Write| {
        write_binary_copy(out, records, fields, |buf, _, record| {
            for column in cols {
                if column.name == "created_at" && record.date_at(column.field).is_none() {
                    encode_field(buf, &today.to_be_bytes());
                } else {
                    encode_value(buf, record, column);
                }
            }
            if !has_created_at {
                encode_field(buf, &today.to_be_bytes());
            }
            encode_field(buf, &now.to_be_bytes());
        })
    };
    let copied = c.transaction(|c| match module {
        Module::Customers => diesel::copy_from(cu::table)
            .from_raw_data(
                (
                    cu::code,
                    cu::name,
                    cu::industry,
                    cu::phone,
                    cu::owner,
                    cu::level,
                    cu::follow_up_status,
                    cu::address,
                    cu::contract_amount_cents,
                    cu::follow_up_notes,
                    cu::remarks,
                    cu::created_at,
                    cu::updated_at,
                ),
                encode,
            )
            .with_format(CopyFormat::Binary)
            .execute(c),
        Module::Contacts => diesel::copy_from(ct::table)
            .from_raw_data(
                (
                    ct::code,
                    ct::customer_code,
                    ct::name,
                    ct::title,
                    ct::phone,
                    ct::email,
                    ct::is_primary,
                    ct::remarks,
                    ct::created_at,
                    ct::updated_at,
                ),
                encode,
            )
            .with_format(CopyFormat::Binary)
            .execute(c),
        Module::Opportunities => diesel::copy_from(op::table)
            .from_raw_data(
                (
                    op::code,
                    op::customer_code,
                    op::name,
                    op::stage,
                    op::amount_cents,
                    op::expected_close_date,
                    op::owner,
                    op::remarks,
                    op::created_at,
                    op::updated_at,
                ),
                encode,
            )
            .with_format(CopyFormat::Binary)
            .execute(c),
    });
    match copied {
        Ok(n) => {
            debug_assert_eq!(n, records.len());
            Ok(true)
        }
        Err(diesel::result::Error::DatabaseError(..)) => Ok(false),
        Err(e) => Err(e.into()),
    }
}

/// PostgreSQL's binary COPY header: signature, flags, header extension length.
const COPY_HEADER: &[u8] = b"PGCOPY\n\xff\r\n\0\0\0\0\0\0\0\0\0";

/// Copies the batch into its stage, in binary COPY format.
fn copy_in(c: &mut PgConnection, module: Module, records: &[&Record]) -> Result<()> {
    let cols = columns(module);
    let encode = |out: &mut dyn Write| {
        write_binary_copy(out, records, 1 + cols.len(), |buf, ord, record| {
            encode_field(buf, &(ord as i32).to_be_bytes());
            for column in cols {
                encode_value(buf, record, column);
            }
        })
    };
    let copied = match module {
        Module::Customers => diesel::copy_from(stage::dp_stage_customers::table)
            .from_raw_data(stage::dp_stage_customers::table, encode)
            .with_format(CopyFormat::Binary)
            .execute(c)?,
        Module::Contacts => diesel::copy_from(stage::dp_stage_contacts::table)
            .from_raw_data(stage::dp_stage_contacts::table, encode)
            .with_format(CopyFormat::Binary)
            .execute(c)?,
        Module::Opportunities => diesel::copy_from(stage::dp_stage_opportunities::table)
            .from_raw_data(stage::dp_stage_opportunities::table, encode)
            .with_format(CopyFormat::Binary)
            .execute(c)?,
    };
    debug_assert_eq!(copied, records.len());
    Ok(())
}

/// A binary COPY stream of `records`: the header, then per record its field count (`fields`)
/// and what `row` encodes for it (given its position), then the trailer; written in one piece.
fn write_binary_copy(
    out: &mut dyn Write,
    records: &[&Record],
    fields: usize,
    mut row: impl FnMut(&mut Vec<u8>, usize, &Record),
) -> diesel::QueryResult<()> {
    let mut buf = Vec::with_capacity(256 * records.len().max(1));
    buf.extend_from_slice(COPY_HEADER);
    let fields = fields as i16;
    for (position, record) in records.iter().enumerate() {
        buf.extend_from_slice(&fields.to_be_bytes());
        row(&mut buf, position, record);
    }
    buf.extend_from_slice(&(-1i16).to_be_bytes());
    out.write_all(&buf)
        .map_err(|e| diesel::result::Error::SerializationError(Box::new(e)))
}

/// One non-NULL field: its length and bytes.
fn encode_field(buf: &mut Vec<u8>, bytes: &[u8]) {
    buf.extend_from_slice(&(bytes.len() as i32).to_be_bytes());
    buf.extend_from_slice(bytes);
}

/// A date as PostgreSQL's binary format has it: days from 2000-01-01.
fn pg_days(date: NaiveDate) -> i32 {
    (date - PG_EPOCH).num_days() as i32
}

/// One field: its length and bytes, or -1 for NULL.
fn encode_value(buf: &mut Vec<u8>, record: &Record, column: &Column) {
    let field = encode_field;
    match column.kind {
        Kind::Text => match record.text_at(column.field) {
            Some(text) => field(buf, text.as_bytes()),
            None => buf.extend_from_slice(&NULL),
        },
        Kind::Cents => match record.cents_at(column.field) {
            Some(cents) => field(buf, &cents.to_be_bytes()),
            None => buf.extend_from_slice(&NULL),
        },
        Kind::Date => match record.date_at(column.field) {
            Some(date) => field(buf, &pg_days(date).to_be_bytes()),
            None => buf.extend_from_slice(&NULL),
        },
        Kind::Bool => match record.bool_at(column.field) {
            Some(value) => field(buf, &[u8::from(value)]),
            None => buf.extend_from_slice(&NULL),
        },
    }
}

/// A NULL field: length -1.
const NULL: [u8; 4] = (-1i32).to_be_bytes();

/// PostgreSQL's epoch for dates.
const PG_EPOCH: NaiveDate = match NaiveDate::from_ymd_opt(2000, 1, 1) {
    Some(d) => d,
    None => NaiveDate::MIN,
};
