//! dataport-core: the CRM domain with no I/O.
//!
//! The field registry ([`module`]: every field of customers, contacts and opportunities declared
//! once, as the vendor's import guide defines them), records read and written by field key
//! ([`record`]: what the store accepts), header mapping ([`header`]), the value rules that turn a
//! row into a record ([`validate`]), every row and job message in zh-CN and en ([`validate`],
//! [`messages`]), template notes ([`template`]), the export/import escape against CSV injection
//! ([`text`]), typed export filters, the
//! machine-readable error codes, import modes and API permissions. Nothing here touches a database, a file or the
//! network, so every rule can be unit-tested and reused by the server, the CLI and plugins.

pub mod error_code;
pub mod filter;
pub mod header;
pub mod job;
pub mod limits;
pub mod locale;
pub mod messages;
pub mod module;
pub mod permission;
pub mod record;
pub mod template;
pub mod text;
pub mod validate;
pub mod value;
pub mod workbook;

pub use error_code::ErrorCode;
pub use filter::{ContactFilter, CustomerFilter, DateRange, Filter, OpportunityFilter};
pub use header::{HeaderMapping, HeaderProblem, MappedColumn, map_header};
pub use job::{BlankCells, ImportMode, JobStatus, OnError};
pub use locale::Locale;
pub use module::{FieldDef, FieldKind, Module};
pub use permission::{Permission, PermissionSet};
pub use record::{FieldValue, Record, RecordError, Records};
pub use validate::{RowIssue, RowValidator};
pub use value::Value;
pub use workbook::ModuleScope;

/// Errors from parsing domain words (module names, modes, permissions, ...).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CoreError {
    /// A word that names none of the allowed values.
    #[error("unknown {what} '{value}': expected one of {expected}")]
    UnknownValue {
        what: &'static str,
        value: String,
        expected: String,
    },
}

impl CoreError {
    pub(crate) fn unknown(what: &'static str, value: &str, expected: &[&str]) -> Self {
        CoreError::UnknownValue {
            what,
            value: value.to_owned(),
            expected: expected.join(", "),
        }
    }
}
