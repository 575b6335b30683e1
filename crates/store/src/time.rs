//! Clock helpers. Timestamps are stored as UTC `TIMESTAMP` without zone on both backends and
//! truncated to microseconds, PostgreSQL's precision, so a value reads back equal everywhere.

use chrono::{DateTime, NaiveDate, NaiveDateTime, Timelike, Utc};

pub(crate) fn now() -> NaiveDateTime {
    let now = Utc::now().naive_utc();
    now.with_nanosecond(now.nanosecond() / 1_000 * 1_000)
        .unwrap_or(now)
}

pub(crate) fn today() -> NaiveDate {
    Utc::now().date_naive()
}

pub(crate) fn to_utc(t: NaiveDateTime) -> DateTime<Utc> {
    t.and_utc()
}
