//! diesel row types for the record tables and their conversions to and from the core records.
//!
//! Insert rows borrow from the core records (no copies of the text) and bind `None` as NULL
//! rather than `DEFAULT`: that keeps a whole batch one multi-row statement on SQLite, where
//! diesel would otherwise fall back to one INSERT per row.

use chrono::{Datelike, NaiveDate, NaiveDateTime};
use dataport_core::{Contact, Customer, Opportunity};
use diesel::expression::AsExpression;
use diesel::pg::Pg;
use diesel::prelude::*;
use diesel::serialize::{self, IsNull, Output, ToSql};
use diesel::sql_types::{Date, Timestamp};
use diesel::sqlite::Sqlite;

/// A date being written. SQLite stores dates as `YYYY-MM-DD` text; formatting that by hand
/// instead of through chrono's format strings matters at a million rows an import.
#[derive(Debug, Clone, Copy, AsExpression)]
#[diesel(sql_type = Date)]
pub(crate) struct WriteDate(pub NaiveDate);

impl ToSql<Date, Sqlite> for WriteDate {
    fn to_sql<'b>(&'b self, out: &mut Output<'b, '_, Sqlite>) -> serialize::Result {
        let d = self.0;
        out.set_value(format!("{:04}-{:02}-{:02}", d.year(), d.month(), d.day()));
        Ok(IsNull::No)
    }
}

impl ToSql<Date, Pg> for WriteDate {
    fn to_sql<'b>(&'b self, out: &mut Output<'b, '_, Pg>) -> serialize::Result {
        <NaiveDate as ToSql<Date, Pg>>::to_sql(&self.0, out)
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

/// Columns bound per inserted row, for sizing batches under the bind limit.
pub(crate) const CUSTOMER_COLUMNS: usize = 13;
pub(crate) const CONTACT_COLUMNS: usize = 10;
pub(crate) const OPPORTUNITY_COLUMNS: usize = 10;

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
    pub(crate) fn new(r: &'a Customer, today: NaiveDate, now: WriteTimestamp<'a>) -> Self {
        NewCustomer {
            code: &r.code,
            name: &r.name,
            industry: r.industry.as_deref(),
            phone: r.phone.as_deref(),
            owner: &r.owner,
            level: r.level.as_deref(),
            follow_up_status: r.follow_up_status.as_deref(),
            address: r.address.as_deref(),
            contract_amount_cents: r.contract_amount_cents,
            follow_up_notes: r.follow_up_notes.as_deref(),
            remarks: r.remarks.as_deref(),
            created_at: WriteDate(r.created_at.unwrap_or(today)),
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
    pub(crate) fn new(r: &'a Contact, today: NaiveDate, now: WriteTimestamp<'a>) -> Self {
        NewContact {
            code: &r.code,
            customer_code: &r.customer_code,
            name: &r.name,
            title: r.title.as_deref(),
            phone: r.phone.as_deref(),
            email: r.email.as_deref(),
            is_primary: r.is_primary,
            remarks: r.remarks.as_deref(),
            created_at: WriteDate(r.created_at.unwrap_or(today)),
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
    pub(crate) fn new(r: &'a Opportunity, today: NaiveDate, now: WriteTimestamp<'a>) -> Self {
        NewOpportunity {
            code: &r.code,
            customer_code: &r.customer_code,
            name: &r.name,
            stage: r.stage.as_deref(),
            amount_cents: r.amount_cents,
            expected_close_date: r.expected_close_date,
            owner: r.owner.as_deref(),
            remarks: r.remarks.as_deref(),
            created_at: WriteDate(r.created_at.unwrap_or(today)),
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

impl From<CustomerRow> for Customer {
    fn from(r: CustomerRow) -> Self {
        Customer {
            code: r.code,
            name: r.name,
            industry: r.industry,
            phone: r.phone,
            owner: r.owner,
            level: r.level,
            follow_up_status: r.follow_up_status,
            address: r.address,
            contract_amount_cents: r.contract_amount_cents,
            follow_up_notes: r.follow_up_notes,
            remarks: r.remarks,
            created_at: Some(r.created_at),
        }
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
    created_at: NaiveDate,
}

impl From<ContactRow> for Contact {
    fn from(r: ContactRow) -> Self {
        Contact {
            code: r.code,
            customer_code: r.customer_code,
            name: r.name,
            title: r.title,
            phone: r.phone,
            email: r.email,
            is_primary: r.is_primary,
            remarks: r.remarks,
            created_at: Some(r.created_at),
        }
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
    created_at: NaiveDate,
}

impl From<OpportunityRow> for Opportunity {
    fn from(r: OpportunityRow) -> Self {
        Opportunity {
            code: r.code,
            customer_code: r.customer_code,
            name: r.name,
            stage: r.stage,
            amount_cents: r.amount_cents,
            expected_close_date: r.expected_close_date,
            owner: r.owner,
            remarks: r.remarks,
            created_at: Some(r.created_at),
        }
    }
}
