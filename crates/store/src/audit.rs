//! The audit log: who did what, when, from where, with which filter and how many rows and
//! bytes. Entries are appended (never updated) and pruned by age only.

use chrono::{DateTime, NaiveDateTime, Utc};
use diesel::prelude::*;

use crate::backend::{Conn, on_conn};
use crate::error::{Result, StoreError};
use crate::schema::audit_log;
use crate::time;

/// What an audit entry records.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AuditEvent {
    /// An import job was accepted and started (its spec is known, no row read yet).
    ImportStart,
    /// An import job ended, with its status and counts.
    ImportEnd,
    /// An import job was reverted (or a revert planned), with what it deleted and restored.
    ImportRevert,
    /// An export ended (completed or not), with its exact filter and the rows and bytes sent.
    Export,
    /// An import template was downloaded.
    Template,
    /// A job's error file (the failed rows, in full) was downloaded.
    ErrorFile,
    TokenCreate,
    TokenRevoke,
    /// One peer's failed authentications, one entry per logged burst (at most one a minute).
    AuthFailure,
}

impl AuditEvent {
    pub const ALL: [AuditEvent; 9] = [
        AuditEvent::ImportStart,
        AuditEvent::ImportEnd,
        AuditEvent::ImportRevert,
        AuditEvent::Export,
        AuditEvent::Template,
        AuditEvent::ErrorFile,
        AuditEvent::TokenCreate,
        AuditEvent::TokenRevoke,
        AuditEvent::AuthFailure,
    ];

    /// The stored (and displayed) name.
    pub fn as_str(self) -> &'static str {
        match self {
            AuditEvent::ImportStart => "import.start",
            AuditEvent::ImportEnd => "import.end",
            AuditEvent::ImportRevert => "import.revert",
            AuditEvent::Export => "export",
            AuditEvent::Template => "template",
            AuditEvent::ErrorFile => "error_file",
            AuditEvent::TokenCreate => "token.create",
            AuditEvent::TokenRevoke => "token.revoke",
            AuditEvent::AuthFailure => "auth.failure",
        }
    }

    fn parse(s: &str) -> Result<AuditEvent> {
        AuditEvent::ALL
            .into_iter()
            .find(|e| e.as_str() == s)
            .ok_or_else(|| StoreError::Corrupt(format!("unknown audit event '{s}'")))
    }
}

/// An entry to append. Unknown parts stay `None`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewAuditEntry {
    pub event: AuditEvent,
    /// The gRPC method (`Import`, `Export`, ...) or CLI command (`token create`).
    pub rpc: String,
    /// The acting token; `None` when authentication failed.
    pub token_name: Option<String>,
    /// The client's IP address, or `local` for commands run on the database host.
    pub peer: Option<String>,
    pub module: Option<String>,
    /// An export's filter as received (proto3 JSON).
    pub filter: Option<String>,
    pub job_id: Option<i64>,
    pub rows: Option<u64>,
    pub bytes: Option<u64>,
    /// Outcome and particulars: status, file name, format, a failure count and reason.
    pub detail: String,
}

impl NewAuditEntry {
    /// An entry with only the event, method and detail set.
    pub fn new(event: AuditEvent, rpc: impl Into<String>, detail: impl Into<String>) -> Self {
        NewAuditEntry {
            event,
            rpc: rpc.into(),
            token_name: None,
            peer: None,
            module: None,
            filter: None,
            job_id: None,
            rows: None,
            bytes: None,
            detail: detail.into(),
        }
    }
}

/// A stored entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditEntry {
    pub id: i64,
    pub at: DateTime<Utc>,
    pub entry: NewAuditEntry,
}

/// Which entries [`crate::Store::list_audit`] returns, oldest first.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuditQuery {
    /// Entries at or after this instant.
    pub since: Option<DateTime<Utc>>,
    /// Keyset cursor: entries with a larger id (the last id of the previous page).
    pub after_id: Option<i64>,
    pub limit: usize,
}

#[derive(Queryable, Selectable)]
#[diesel(table_name = audit_log)]
struct AuditRow {
    id: i64,
    at: NaiveDateTime,
    event: String,
    rpc: String,
    token_name: Option<String>,
    peer: Option<String>,
    module: Option<String>,
    filter: Option<String>,
    job_id: Option<i64>,
    rows: Option<i64>,
    bytes: Option<i64>,
    detail: String,
}

impl TryFrom<AuditRow> for AuditEntry {
    type Error = StoreError;
    fn try_from(r: AuditRow) -> Result<Self> {
        let unsigned = |v: Option<i64>| v.map(|v| u64::try_from(v).unwrap_or(0));
        Ok(AuditEntry {
            id: r.id,
            at: time::to_utc(r.at),
            entry: NewAuditEntry {
                event: AuditEvent::parse(&r.event)?,
                rpc: r.rpc,
                token_name: r.token_name,
                peer: r.peer,
                module: r.module,
                filter: r.filter,
                job_id: r.job_id,
                rows: unsigned(r.rows),
                bytes: unsigned(r.bytes),
                detail: r.detail,
            },
        })
    }
}

#[derive(Insertable)]
#[diesel(table_name = audit_log, treat_none_as_default_value = false)]
struct AuditInsert<'a> {
    at: NaiveDateTime,
    event: &'static str,
    rpc: &'a str,
    token_name: Option<&'a str>,
    peer: Option<&'a str>,
    module: Option<&'a str>,
    filter: Option<&'a str>,
    job_id: Option<i64>,
    rows: Option<i64>,
    bytes: Option<i64>,
    detail: &'a str,
}

/// Columns bound per entry; batches stay under SQLite's bind limit with room to spare.
const ENTRIES_PER_STATEMENT: usize = 32766 / 11;

pub(crate) fn append(conn: &mut Conn<'_>, entries: &[NewAuditEntry]) -> Result<()> {
    let at = time::now();
    let signed = |v: Option<u64>| v.map(|v| i64::try_from(v).unwrap_or(i64::MAX));
    let rows: Vec<AuditInsert<'_>> = entries
        .iter()
        .map(|e| AuditInsert {
            at,
            event: e.event.as_str(),
            rpc: &e.rpc,
            token_name: e.token_name.as_deref(),
            peer: e.peer.as_deref(),
            module: e.module.as_deref(),
            filter: e.filter.as_deref(),
            job_id: e.job_id,
            rows: signed(e.rows),
            bytes: signed(e.bytes),
            detail: &e.detail,
        })
        .collect();
    for chunk in rows.chunks(ENTRIES_PER_STATEMENT) {
        let insert = diesel::insert_into(audit_log::table).values(chunk);
        on_conn!(conn, |c| insert.execute(c)?);
    }
    Ok(())
}

pub(crate) fn list(conn: &mut Conn<'_>, query: &AuditQuery) -> Result<Vec<AuditEntry>> {
    let limit = i64::try_from(query.limit).unwrap_or(i64::MAX);
    let rows: Vec<AuditRow> = on_conn!(conn, |c| {
        let mut q = audit_log::table.select(AuditRow::as_select()).into_boxed();
        if let Some(since) = query.since {
            q = q.filter(audit_log::at.ge(since.naive_utc()));
        }
        if let Some(after_id) = query.after_id {
            q = q.filter(audit_log::id.gt(after_id));
        }
        q.order(audit_log::id.asc()).limit(limit).load(c)?
    });
    rows.into_iter().map(AuditEntry::try_from).collect()
}

pub(crate) fn prune(conn: &mut Conn<'_>, before: DateTime<Utc>) -> Result<u64> {
    let delete = diesel::delete(audit_log::table.filter(audit_log::at.lt(before.naive_utc())));
    let deleted = on_conn!(conn, |c| delete.execute(c)?);
    Ok(deleted as u64)
}
