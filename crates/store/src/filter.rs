//! Typed filters as diesel boxed queries: no SQL is ever built from filter text.
//!
//! The macros take any boxed query over the module's table (a count or a page) and add one
//! condition per non-empty filter field; the backend is inferred where the query is run.

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
            q = q.filter(t::level.eq_any(&f.levels));
        }
        if !f.follow_up_statuses.is_empty() {
            q = q.filter(t::follow_up_status.eq_any(&f.follow_up_statuses));
        }
        if !f.owners.is_empty() {
            q = q.filter(t::owner.eq_any(&f.owners));
        }
        if !f.industries.is_empty() {
            q = q.filter(t::industry.eq_any(&f.industries));
        }
        if let Some(from) = f.created_at.from {
            q = q.filter(t::created_at.ge(from));
        }
        if let Some(to) = f.created_at.to {
            q = q.filter(t::created_at.le(to));
        }
        if !f.codes.is_empty() {
            q = q.filter(t::code.eq_any(&f.codes));
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
            q = q.filter(t::customer_code.eq_any(&f.customer_codes));
        }
        if !f.customer_owners.is_empty() {
            // customer_code IN (SELECT code FROM customers WHERE owner IN (...))
            q = q.filter(
                t::customer_code.eq_any(
                    customers::table
                        .select(customers::code)
                        .filter(customers::owner.eq_any(&f.customer_owners)),
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
            q = q.filter(t::customer_code.eq_any(&f.customer_codes));
        }
        if !f.stages.is_empty() {
            q = q.filter(t::stage.eq_any(&f.stages));
        }
        if !f.owners.is_empty() {
            q = q.filter(t::owner.eq_any(&f.owners));
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
}
