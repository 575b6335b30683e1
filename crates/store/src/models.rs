//! diesel row types for the record tables and their conversions to and from the core records.
//!
//! Fields are found by key in the core's field registry at compile time (`at!`), so a renamed
//! or missing field is a build error here, and `storage::every_field_round_trips` pins the
//! whole mapping on both backends.
//!
//! Insert rows borrow from the core records (no copies of the text) and bind `None` as NULL
//! rather than `DEFAULT`: that keeps a whole batch one multi-row statement on SQLite, where
//! diesel would otherwise fall back to one INSERT per row.

use chrono::{Datelike, NaiveDate, NaiveDateTime};
use dataport_core::{FieldValue, Module, Record};
use diesel::expression::AsExpression;
use diesel::pg::Pg;
use diesel::prelude::*;
use diesel::serialize::{self, IsNull, Output, ToSql};
use diesel::sql_types::{Date, Timestamp};
use diesel::sqlite::Sqlite;

/// A date being written. SQLite stores dates as `YYYY-MM-DD` text, made here once per row
/// into the value itself and borrowed by the statement: a `format!` per row showed in the
/// writer's profile at a million rows.
#[derive(Debug, Clone, Copy, AsExpression)]
#[diesel(sql_type = Date)]
pub(crate) struct WriteDate {
    date: NaiveDate,
    /// `date` as chrono's `%F` writes it (`-0001-01-01` and `+10000-01-01` outside 0–9999).
    text: [u8; 16],
    len: u8,
}

impl WriteDate {
    pub(crate) fn new(date: NaiveDate) -> Self {
        let mut text = [0u8; 16];
        let (year, month, day) = (date.year(), date.month(), date.day());
        let len = if (0..=9999).contains(&year) {
            let digits = |n: u32, out: &mut [u8]| {
                let mut n = n;
                for b in out.iter_mut().rev() {
                    *b = b'0' + (n % 10) as u8;
                    n /= 10;
                }
            };
            digits(year as u32, &mut text[0..4]);
            text[4] = b'-';
            digits(month, &mut text[5..7]);
            text[7] = b'-';
            digits(day, &mut text[8..10]);
            10
        } else {
            use std::io::Write;
            // 16 bytes hold every date chrono can represent (year ±262 143).
            let mut cursor = std::io::Cursor::new(&mut text[..]);
            let _ = write!(cursor, "{}", date.format("%F"));
            cursor.position() as u8
        };
        WriteDate { date, text, len }
    }

    fn text(&self) -> &str {
        std::str::from_utf8(&self.text[..self.len as usize]).unwrap_or_default()
    }
}

impl ToSql<Date, Sqlite> for WriteDate {
    fn to_sql<'b>(&'b self, out: &mut Output<'b, '_, Sqlite>) -> serialize::Result {
        out.set_value(self.text());
        Ok(IsNull::No)
    }
}

impl ToSql<Date, Pg> for WriteDate {
    fn to_sql<'b>(&'b self, out: &mut Output<'b, '_, Pg>) -> serialize::Result {
        <NaiveDate as ToSql<Date, Pg>>::to_sql(&self.date, out)
    }
}

/// The `updated_at` of a batch: the same instant for every row, so SQLite's text form is made
/// once per batch and borrowed by each row.
#[derive(Debug, Clone, Copy, AsExpression)]
#[diesel(sql_type = Timestamp)]
pub(crate) struct WriteTimestamp<'a> {
    pub value: NaiveDateTime,
    /// `value` as diesel's SQLite text form (`%F %T%.f`).
    pub text: &'a str,
}

impl ToSql<Timestamp, Sqlite> for WriteTimestamp<'_> {
    fn to_sql<'b>(&'b self, out: &mut Output<'b, '_, Sqlite>) -> serialize::Result {
        out.set_value(self.text);
        Ok(IsNull::No)
    }
}

impl ToSql<Timestamp, Pg> for WriteTimestamp<'_> {
    fn to_sql<'b>(&'b self, out: &mut Output<'b, '_, Pg>) -> serialize::Result {
        <NaiveDateTime as ToSql<Timestamp, Pg>>::to_sql(&self.value, out)
    }
}

/// The text diesel's SQLite backend stores a timestamp as.
pub(crate) fn sqlite_timestamp_text(value: NaiveDateTime) -> String {
    value.format("%F %T%.f").to_string()
}

use crate::schema::{contacts, customers, opportunities};

/// The registry position of `$module`'s field `$key`, computed at compile time.
macro_rules! at {
    ($module:ident, $key:literal) => {
        const { Module::$module.index_of($key) }
    };
}

/// Columns bound per inserted row, for sizing batches under the bind limit.
pub(crate) const CUSTOMER_COLUMNS: usize = 13;
pub(crate) const CONTACT_COLUMNS: usize = 10;
pub(crate) const OPPORTUNITY_COLUMNS: usize = 10;

fn text(v: String) -> Option<FieldValue> {
    Some(FieldValue::Text(v))
}

fn opt_text(v: Option<String>) -> Option<FieldValue> {
    v.map(FieldValue::Text)
}

/// Builds a record from `(position, value)` pairs.
fn record<const N: usize>(module: Module, values: [(usize, Option<FieldValue>); N]) -> Record {
    let mut record = Record::new(module);
    for (index, value) in values {
        // The positions come from `at!` and the values from typed columns of the same field.
        let _ = record.set_at(index, value);
    }
    record
}

#[derive(Insertable)]
#[diesel(table_name = customers, treat_none_as_default_value = false)]
pub(crate) struct NewCustomer<'a> {
    pub code: &'a str,
    pub name: &'a str,
    pub industry: Option<&'a str>,
    pub phone: Option<&'a str>,
    pub owner: &'a str,
    pub level: Option<&'a str>,
    pub follow_up_status: Option<&'a str>,
    pub address: Option<&'a str>,
    pub contract_amount_cents: Option<i64>,
    pub follow_up_notes: Option<&'a str>,
    pub remarks: Option<&'a str>,
    pub created_at: WriteDate,
    pub updated_at: WriteTimestamp<'a>,
}

impl<'a> NewCustomer<'a> {
    pub(crate) fn new(r: &'a Record, today: NaiveDate, now: WriteTimestamp<'a>) -> Self {
        NewCustomer {
            code: r.code(),
            name: r.text_at(at!(Customers, "name")).unwrap_or_default(),
            industry: r.text_at(at!(Customers, "industry")),
            phone: r.text_at(at!(Customers, "phone")),
            owner: r.text_at(at!(Customers, "owner")).unwrap_or_default(),
            level: r.text_at(at!(Customers, "level")),
            follow_up_status: r.text_at(at!(Customers, "follow_up_status")),
            address: r.text_at(at!(Customers, "address")),
            contract_amount_cents: r.cents_at(at!(Customers, "contract_amount")),
            follow_up_notes: r.text_at(at!(Customers, "follow_up_notes")),
            remarks: r.text_at(at!(Customers, "remarks")),
            created_at: WriteDate::new(r.date_at(at!(Customers, "created_at")).unwrap_or(today)),
            updated_at: now,
        }
    }
}

#[derive(Insertable)]
#[diesel(table_name = contacts, treat_none_as_default_value = false)]
pub(crate) struct NewContact<'a> {
    pub code: &'a str,
    pub customer_code: &'a str,
    pub name: &'a str,
    pub title: Option<&'a str>,
    pub phone: Option<&'a str>,
    pub email: Option<&'a str>,
    pub is_primary: Option<bool>,
    pub remarks: Option<&'a str>,
    pub created_at: WriteDate,
    pub updated_at: WriteTimestamp<'a>,
}

impl<'a> NewContact<'a> {
    pub(crate) fn new(r: &'a Record, today: NaiveDate, now: WriteTimestamp<'a>) -> Self {
        NewContact {
            code: r.code(),
            customer_code: r.text_at(at!(Contacts, "customer_code")).unwrap_or_default(),
            name: r.text_at(at!(Contacts, "name")).unwrap_or_default(),
            title: r.text_at(at!(Contacts, "title")),
            phone: r.text_at(at!(Contacts, "phone")),
            email: r.text_at(at!(Contacts, "email")),
            is_primary: r.bool_at(at!(Contacts, "is_primary")),
            remarks: r.text_at(at!(Contacts, "remarks")),
            created_at: WriteDate::new(today),
            updated_at: now,
        }
    }
}

#[derive(Insertable)]
#[diesel(table_name = opportunities, treat_none_as_default_value = false)]
pub(crate) struct NewOpportunity<'a> {
    pub code: &'a str,
    pub customer_code: &'a str,
    pub name: &'a str,
    pub stage: Option<&'a str>,
    pub amount_cents: Option<i64>,
    pub expected_close_date: Option<NaiveDate>,
    pub owner: Option<&'a str>,
    pub remarks: Option<&'a str>,
    pub created_at: WriteDate,
    pub updated_at: WriteTimestamp<'a>,
}

impl<'a> NewOpportunity<'a> {
    pub(crate) fn new(r: &'a Record, today: NaiveDate, now: WriteTimestamp<'a>) -> Self {
        NewOpportunity {
            code: r.code(),
            customer_code: r.text_at(at!(Opportunities, "customer_code")).unwrap_or_default(),
            name: r.text_at(at!(Opportunities, "name")).unwrap_or_default(),
            stage: r.text_at(at!(Opportunities, "stage")),
            amount_cents: r.cents_at(at!(Opportunities, "amount")),
            expected_close_date: r.date_at(at!(Opportunities, "expected_close_date")),
            owner: r.text_at(at!(Opportunities, "owner")),
            remarks: r.text_at(at!(Opportunities, "remarks")),
            created_at: WriteDate::new(today),
            updated_at: now,
        }
    }
}

#[derive(Queryable, Selectable)]
#[diesel(table_name = customers)]
pub(crate) struct CustomerRow {
    code: String,
    name: String,
    industry: Option<String>,
    phone: Option<String>,
    owner: String,
    level: Option<String>,
    follow_up_status: Option<String>,
    address: Option<String>,
    contract_amount_cents: Option<i64>,
    follow_up_notes: Option<String>,
    remarks: Option<String>,
    created_at: NaiveDate,
}

impl From<CustomerRow> for Record {
    fn from(r: CustomerRow) -> Self {
        record(
            Module::Customers,
            [
                (at!(Customers, "code"), text(r.code)),
                (at!(Customers, "name"), text(r.name)),
                (at!(Customers, "industry"), opt_text(r.industry)),
                (at!(Customers, "phone"), opt_text(r.phone)),
                (at!(Customers, "owner"), text(r.owner)),
                (at!(Customers, "level"), opt_text(r.level)),
                (at!(Customers, "follow_up_status"), opt_text(r.follow_up_status)),
                (at!(Customers, "address"), opt_text(r.address)),
                (
                    at!(Customers, "contract_amount"),
                    r.contract_amount_cents.map(FieldValue::Cents),
                ),
                (at!(Customers, "follow_up_notes"), opt_text(r.follow_up_notes)),
                (at!(Customers, "remarks"), opt_text(r.remarks)),
                (at!(Customers, "created_at"), Some(FieldValue::Date(r.created_at))),
            ],
        )
    }
}

#[derive(Queryable, Selectable)]
#[diesel(table_name = contacts)]
pub(crate) struct ContactRow {
    code: String,
    customer_code: String,
    name: String,
    title: Option<String>,
    phone: Option<String>,
    email: Option<String>,
    is_primary: Option<bool>,
    remarks: Option<String>,
}

impl From<ContactRow> for Record {
    fn from(r: ContactRow) -> Self {
        record(
            Module::Contacts,
            [
                (at!(Contacts, "code"), text(r.code)),
                (at!(Contacts, "customer_code"), text(r.customer_code)),
                (at!(Contacts, "name"), text(r.name)),
                (at!(Contacts, "title"), opt_text(r.title)),
                (at!(Contacts, "phone"), opt_text(r.phone)),
                (at!(Contacts, "email"), opt_text(r.email)),
                (at!(Contacts, "is_primary"), r.is_primary.map(FieldValue::Bool)),
                (at!(Contacts, "remarks"), opt_text(r.remarks)),
            ],
        )
    }
}

#[derive(Queryable, Selectable)]
#[diesel(table_name = opportunities)]
pub(crate) struct OpportunityRow {
    code: String,
    customer_code: String,
    name: String,
    stage: Option<String>,
    amount_cents: Option<i64>,
    expected_close_date: Option<NaiveDate>,
    owner: Option<String>,
    remarks: Option<String>,
}

impl From<OpportunityRow> for Record {
    fn from(r: OpportunityRow) -> Self {
        record(
            Module::Opportunities,
            [
                (at!(Opportunities, "code"), text(r.code)),
                (at!(Opportunities, "customer_code"), text(r.customer_code)),
                (at!(Opportunities, "name"), text(r.name)),
                (at!(Opportunities, "stage"), opt_text(r.stage)),
                (
                    at!(Opportunities, "amount"),
                    r.amount_cents.map(FieldValue::Cents),
                ),
                (
                    at!(Opportunities, "expected_close_date"),
                    r.expected_close_date.map(FieldValue::Date),
                ),
                (at!(Opportunities, "owner"), opt_text(r.owner)),
                (at!(Opportunities, "remarks"), opt_text(r.remarks)),
            ],
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn write_date_text_is_chronos_iso_form() {
        for (y, m, d) in [
            (2026, 12, 3),
            (1, 1, 9),
            (9999, 12, 31),
            (0, 2, 29),
            (-1, 1, 1),
            (10_000, 1, 1),
            (262_000, 6, 7),
        ] {
            let date = NaiveDate::from_ymd_opt(y, m, d).unwrap();
            assert_eq!(
                WriteDate::new(date).text(),
                date.format("%F").to_string(),
                "{date:?}"
            );
        }
    }
}
