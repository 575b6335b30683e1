//! Typed filters as diesel boxed queries: no SQL is ever built from filter text.
//!
//! The macros take any boxed query over the module's table (a count or a page) and add one
//! condition per non-empty filter field; the backend is inferred where the query is run.
//!
//! **Lists of any length.** A list condition (`codes`, `owners`, ...) is [`in_list`]: one bind
//! parameter whatever the list's length, so 100 000 codes never meet SQLite's limit of 32 766
//! variables (diesel's `eq_any` binds one per value there). SQLite: `col IN (SELECT value FROM
//! json_each(?))` with the values as one JSON array; PostgreSQL: `col = ANY(?)` with a `text[]`.
//! The request layer bounds lists at `dataport_core::limits::MAX_FILTER_VALUES` values.

use std::sync::OnceLock;

use diesel::QueryResult;
use diesel::expression::{AppearsOnTable, Expression, SelectableExpression, ValidGrouping};
use diesel::pg::Pg;
use diesel::query_builder::{AstPass, QueryFragment, QueryId};
use diesel::sql_types::{Array, Bool, Text};
use diesel::sqlite::Sqlite;

/// `column` is one of `values` (see the module docs): one bind parameter on either backend.
#[derive(Debug)]
pub(crate) struct InList<'a, C> {
    column: C,
    values: &'a [String],
    /// SQLite's bind: the values as a JSON array, built when the query is first walked.
    json: OnceLock<String>,
}

/// `column IN values`, for lists of any length.
pub(crate) fn in_list<C>(column: C, values: &[String]) -> InList<'_, C> {
    InList {
        column,
        values,
        json: OnceLock::new(),
    }
}

/// `values` as a JSON array of strings.
fn json_array(values: &[String]) -> String {
    let mut out = String::with_capacity(values.iter().map(|v| v.len() + 3).sum::<usize>() + 2);
    out.push('[');
    for (i, value) in values.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push('"');
        for ch in value.chars() {
            match ch {
                '"' => out.push_str("\\\""),
                '\\' => out.push_str("\\\\"),
                c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
                c => out.push(c),
            }
        }
        out.push('"');
    }
    out.push(']');
    out
}

impl<C: Expression> Expression for InList<'_, C> {
    type SqlType = Bool;
}

impl<C, QS> AppearsOnTable<QS> for InList<'_, C>
where
    C: AppearsOnTable<QS>,
    Self: Expression,
{
}

impl<C, QS> SelectableExpression<QS> for InList<'_, C>
where
    C: SelectableExpression<QS>,
    Self: AppearsOnTable<QS>,
{
}

impl<C: ValidGrouping<GB>, GB> ValidGrouping<GB> for InList<'_, C> {
    type IsAggregate = C::IsAggregate;
}

impl<C> QueryId for InList<'_, C> {
    type QueryId = ();
    const HAS_STATIC_QUERY_ID: bool = false;
}

impl<C: QueryFragment<Sqlite>> QueryFragment<Sqlite> for InList<'_, C> {
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, Sqlite>) -> QueryResult<()> {
        self.column.walk_ast(out.reborrow())?;
        out.push_sql(" IN (SELECT value FROM json_each(");
        out.push_bind_param::<Text, String>(self.json.get_or_init(|| json_array(self.values)))?;
        out.push_sql("))");
        Ok(())
    }
}

impl<C: QueryFragment<Pg>> QueryFragment<Pg> for InList<'_, C> {
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, Pg>) -> QueryResult<()> {
        self.column.walk_ast(out.reborrow())?;
        out.push_sql(" = ANY(");
        out.push_bind_param::<Array<Text>, [String]>(self.values)?;
        out.push_sql(")");
        Ok(())
    }
}

/// A LIKE pattern matching `needle` anywhere, with `%`, `_` and the escape `\` taken literally.
pub(crate) fn contains_pattern(needle: &str) -> String {
    let mut pattern = String::with_capacity(needle.len() + 2);
    pattern.push('%');
    for ch in needle.chars() {
        if matches!(ch, '%' | '_' | '\\') {
            pattern.push('\\');
        }
        pattern.push(ch);
    }
    pattern.push('%');
    pattern
}

macro_rules! filter_customers {
    ($query:expr, $filter:expr) => {{
        use $crate::schema::customers as t;
        let f: &::dataport_core::CustomerFilter = $filter;
        let mut q = $query;
        if !f.levels.is_empty() {
            q = q.filter($crate::filter::in_list(t::level, &f.levels));
        }
        if !f.follow_up_statuses.is_empty() {
            q = q.filter($crate::filter::in_list(
                t::follow_up_status,
                &f.follow_up_statuses,
            ));
        }
        if !f.owners.is_empty() {
            q = q.filter($crate::filter::in_list(t::owner, &f.owners));
        }
        if !f.industries.is_empty() {
            q = q.filter($crate::filter::in_list(t::industry, &f.industries));
        }
        if let Some(from) = f.created_at.from {
            q = q.filter(t::created_at.ge(from));
        }
        if let Some(to) = f.created_at.to {
            q = q.filter(t::created_at.le(to));
        }
        if !f.codes.is_empty() {
            q = q.filter($crate::filter::in_list(t::code, &f.codes));
        }
        if let Some(needle) = &f.name_contains {
            q = q.filter(
                t::name
                    .like($crate::filter::contains_pattern(needle))
                    .escape('\\'),
            );
        }
        q
    }};
}

macro_rules! filter_contacts {
    ($query:expr, $filter:expr) => {{
        use $crate::schema::{contacts as t, customers};
        let f: &::dataport_core::ContactFilter = $filter;
        let mut q = $query;
        if !f.customer_codes.is_empty() {
            q = q.filter($crate::filter::in_list(t::customer_code, &f.customer_codes));
        }
        if !f.customer_owners.is_empty() {
            // customer_code IN (SELECT code FROM customers WHERE owner IN (...))
            q = q.filter(
                t::customer_code.eq_any(
                    customers::table
                        .select(customers::code)
                        .filter($crate::filter::in_list(customers::owner, &f.customer_owners)),
                ),
            );
        }
        if let Some(needle) = &f.name_contains {
            q = q.filter(
                t::name
                    .like($crate::filter::contains_pattern(needle))
                    .escape('\\'),
            );
        }
        q
    }};
}

macro_rules! filter_opportunities {
    ($query:expr, $filter:expr) => {{
        use $crate::schema::opportunities as t;
        let f: &::dataport_core::OpportunityFilter = $filter;
        let mut q = $query;
        if !f.customer_codes.is_empty() {
            q = q.filter($crate::filter::in_list(t::customer_code, &f.customer_codes));
        }
        if !f.stages.is_empty() {
            q = q.filter($crate::filter::in_list(t::stage, &f.stages));
        }
        if !f.owners.is_empty() {
            q = q.filter($crate::filter::in_list(t::owner, &f.owners));
        }
        if let Some(from) = f.expected_close_date.from {
            q = q.filter(t::expected_close_date.ge(from));
        }
        if let Some(to) = f.expected_close_date.to {
            q = q.filter(t::expected_close_date.le(to));
        }
        q
    }};
}

pub(crate) use {filter_contacts, filter_customers, filter_opportunities};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn like_metacharacters_are_escaped() {
        assert_eq!(contains_pattern("50%_a\\b"), "%50\\%\\_a\\\\b%");
        assert_eq!(contains_pattern("客户"), "%客户%");
    }

    #[test]
    fn lists_bind_as_one_json_array() {
        let values = vec!["C1".to_owned(), "a\"b\\c".to_owned(), "客户\u{1}".to_owned()];
        assert_eq!(json_array(&values), r#"["C1","a\"b\\c","客户\u0001"]"#);
        assert_eq!(json_array(&[]), "[]");
    }
}
