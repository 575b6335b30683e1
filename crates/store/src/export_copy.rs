//! PostgreSQL's export path: a snapshot's rows as one `COPY (SELECT …) TO STDOUT (FORMAT csv)`,
//! what `psql \copy … to` runs, instead of keyset pages decoded into records.
//!
//! The statement is built from the module's column names only ([`crate::copy::columns`]); the
//! resume code reaches it as a transaction-local setting (`dataport.export_after`, read by
//! `current_setting`), so no caller text is ever part of the SQL. Like every dataport query it
//! is an unnamed statement (diesel does not cache `COPY`), so it works through PgBouncer.
//!
//! **Filters.** `COPY` takes no bind parameters, so a filter cannot be part of its query
//! without building SQL from filter text. A filtered export instead first inserts the codes
//! its filter selects into a temporary table of its transaction (`dp_export_codes`, `ON
//! COMMIT DROP`, like the import's stage: PgBouncer-safe), with the same diesel conditions as
//! the count and the pages ([`crate::filter`]), and the `COPY` reads the records whose code is
//! in it. Such a snapshot is begun read-write (`snapshot.rs`), for that table only.
//!
//! diesel's `copy_to` takes its target as a type whose SQL is a static function; the query of
//! one export is handed to it through a thread-local, set just before and read while diesel
//! builds the statement on the same thread.

use std::cell::RefCell;
use std::io::BufRead;

use dataport_core::{Filter, Module};
use diesel::connection::SimpleConnection;
use diesel::pg::{CopyFormat, CopyTarget, Pg, PgConnection};
use diesel::prelude::*;
use diesel::query_builder::AstPass;
use diesel::sql_types::Text;

use crate::copy::columns;
use crate::error::{Result, StoreError};
use crate::filter::{filter_contacts, filter_customers, filter_opportunities};
use crate::schema::{contacts, customers, opportunities};

diesel::table! {
    /// The codes a filtered export selects, made by [`stage_filtered_codes`].
    dp_export_codes (code) {
        code -> Text,
    }
}

thread_local! {
    /// The `(SELECT …)` of the export being started on this thread.
    static EXPORT_QUERY: RefCell<String> = const { RefCell::new(String::new()) };
}

/// The target of an export's `COPY`: the query in [`EXPORT_QUERY`].
struct ExportQuery;

impl CopyTarget for ExportQuery {
    // diesel asks for a table; the statement names its own.
    type Table = crate::schema::customers::table;
    type SqlType = Text;

    fn walk_target(mut pass: AstPass<'_, '_, Pg>) -> QueryResult<()> {
        EXPORT_QUERY.with_borrow(|sql| pass.push_sql(sql));
        Ok(())
    }
}

/// The `(SELECT …)` of an export of `keys` (field keys of `module`), in code order after the
/// code in `dataport.export_after`, and only of the codes in `dp_export_codes` when
/// `filtered`. `code` is selected first when `keys` lack it, so that no record is an empty line
/// (PostgreSQL writes a lone NULL as one, which CSV readers skip). `None` when a key has no
/// column.
pub(crate) fn export_query(module: Module, keys: &[&str], filtered: bool) -> Option<(String, bool)> {
    let table = columns(module);
    let mut names = Vec::with_capacity(keys.len() + 1);
    let leading_code = !keys.contains(&"code");
    if leading_code {
        names.push("code");
    }
    for key in keys {
        let field = module.position(key)?;
        names.push(table.iter().find(|c| c.field == field)?.name);
    }
    let selected = if filtered {
        " AND code IN (SELECT code FROM dp_export_codes)"
    } else {
        ""
    };
    let sql = format!(
        "(SELECT {} FROM {} WHERE code > current_setting('dataport.export_after'){selected} ORDER BY code)",
        names.join(", "),
        module.as_str()
    );
    Some((sql, leading_code))
}

/// Fills `dp_export_codes` with the codes `filter` selects after `after`, in the open
/// (read-write) transaction of `conn`: the same conditions as the count and the pages.
pub(crate) fn stage_filtered_codes(
    conn: &mut PgConnection,
    filter: &Filter,
    after: Option<&str>,
) -> Result<()> {
    // No key: filling an index cost more than it saved. ANALYZE (below) lets the planner hash
    // the codes instead of assuming a few and probing customers' index once per code.
    conn.batch_execute("CREATE TEMP TABLE dp_export_codes (code TEXT COLLATE \"C\") ON COMMIT DROP")?;
    // One module's codes: its filter's conditions, after `after`, into the table.
    macro_rules! stage {
        ($table:ident, $conditions:ident, $f:expr) => {{
            let mut q = $conditions!($table::table.select($table::code).into_boxed(), $f);
            if let Some(after) = after {
                q = q.filter($table::code.gt(after));
            }
            diesel::insert_into(dp_export_codes::table)
                .values(q)
                .into_columns(dp_export_codes::code)
                .execute(conn)?;
        }};
    }
    match filter {
        Filter::Customers(f) => stage!(customers, filter_customers, f),
        Filter::Contacts(f) => stage!(contacts, filter_contacts, f),
        Filter::Opportunities(f) => stage!(opportunities, filter_opportunities, f),
    }
    conn.batch_execute("ANALYZE dp_export_codes")?;
    Ok(())
}

/// Runs `sql` (from [`export_query`]) after `after` in the open transaction of `conn`, and
/// hands its CSV output to `read`.
pub(crate) fn copy_out<R>(
    conn: &mut PgConnection,
    sql: String,
    after: Option<&str>,
    read: impl FnOnce(&mut dyn BufRead) -> R,
) -> Result<R> {
    diesel::sql_query("SELECT set_config('dataport.export_after', $1, true)")
        .bind::<Text, _>(after.unwrap_or(""))
        .execute(conn)?;
    // Dates as YYYY-MM-DD whatever the server's default style.
    diesel::sql_query("SET LOCAL DateStyle = 'ISO, YMD'").execute(conn)?;
    EXPORT_QUERY.with_borrow_mut(|q| *q = sql);
    let started = diesel::copy_to(ExportQuery)
        .with_format(CopyFormat::Csv)
        .load_raw(conn);
    EXPORT_QUERY.with_borrow_mut(String::clear);
    // A lost connection is StoreError::Connection (UNAVAILABLE), as for every other query.
    let mut out = started.map_err(StoreError::from)?;
    Ok(read(&mut out))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_query_names_columns_and_leads_with_code_only_when_missing() {
        let (sql, lead) = export_query(Module::Customers, &["name", "contract_amount"], false).unwrap();
        assert!(lead);
        assert_eq!(
            sql,
            "(SELECT code, name, contract_amount_cents FROM customers WHERE code > \
             current_setting('dataport.export_after') ORDER BY code)"
        );
        let (sql, lead) = export_query(Module::Contacts, &["is_primary", "code"], true).unwrap();
        assert!(!lead);
        assert!(
            sql.starts_with("(SELECT is_primary, code FROM contacts "),
            "{sql}"
        );
        assert!(
            sql.ends_with(" AND code IN (SELECT code FROM dp_export_codes) ORDER BY code)"),
            "{sql}"
        );
        assert!(export_query(Module::Contacts, &["wechat"], false).is_none());
    }
}
