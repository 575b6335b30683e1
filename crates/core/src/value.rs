//! A typed value as read from a file, before it is validated for a field.

use chrono::{DateTime, NaiveDate, NaiveDateTime};

/// chrono's day number (from 0001-01-01 as day 1) of 1970-01-01.
const UNIX_EPOCH_DAY_FROM_CE: i32 = 719_163;

/// One cell of an imported row. Readers produce the most specific type the format knows (an
/// xlsx date cell is a [`Value::Date`], a CSV field is always [`Value::Text`]); validation
/// decides what it means for a field.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Null,
    Text(String),
    Int(i64),
    Float(f64),
    Bool(bool),
    Date(NaiveDate),
    DateTime(NaiveDateTime),
    /// A spreadsheet formula (refused by imports), with its text.
    Formula(String),
}

impl Value {
    /// A date sent as days since 1970-01-01 (a plugin's date cell). Plugin values are untrusted:
    /// a day count beyond the calendar becomes the number as text, which validation reports as
    /// INVALID_DATE for that row and column, instead of an overflow.
    pub fn from_epoch_days(days: i32) -> Value {
        days.checked_add(UNIX_EPOCH_DAY_FROM_CE)
            .and_then(NaiveDate::from_num_days_from_ce_opt)
            .map_or_else(|| Value::Text(days.to_string()), Value::Date)
    }

    /// An instant sent as microseconds since 1970-01-01T00:00:00Z (a plugin's date-time cell);
    /// out of range, the number as text, as for [`Value::from_epoch_days`].
    pub fn from_epoch_micros(micros: i64) -> Value {
        DateTime::from_timestamp_micros(micros).map_or_else(
            || Value::Text(micros.to_string()),
            |t| Value::DateTime(t.naive_utc()),
        )
    }

    /// The value as a person would read it in the file: used in row errors, previews and the
    /// error file, so that a fixed error file imports again.
    pub fn display(&self) -> String {
        match self {
            Value::Null => String::new(),
            Value::Text(s) | Value::Formula(s) => s.clone(),
            Value::Int(v) => v.to_string(),
            Value::Float(v) => float_text(*v),
            Value::Bool(true) => "TRUE".to_owned(),
            Value::Bool(false) => "FALSE".to_owned(),
            Value::Date(d) => d.format("%Y-%m-%d").to_string(),
            Value::DateTime(t) => t.format("%Y-%m-%d %H:%M:%S").to_string(),
        }
    }

    /// Whether the cell holds nothing (null, or text that is only white space).
    pub fn is_blank(&self) -> bool {
        match self {
            Value::Null => true,
            Value::Text(s) => s.trim().is_empty(),
            _ => false,
        }
    }
}

/// A float as its shortest exact decimal text; whole numbers without `.0` (a phone number read
/// as 13812345678.0 shows as 13812345678). NaN and infinities show as `NaN`, `inf`, `-inf`.
pub fn float_text(v: f64) -> String {
    if v.is_finite() && v.fract() == 0.0 && v.abs() < 9.007_199_254_740_992e15 {
        // Exact: a whole number below 2^53 (checked just above) fits an i64 without rounding.
        format!("{}", v as i64)
    } else {
        format!("{v}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_is_what_the_user_typed() {
        assert_eq!(Value::Float(13_812_345_678.0).display(), "13812345678");
        assert_eq!(Value::Float(1234.5).display(), "1234.5");
        assert_eq!(Value::Float(0.1 + 0.2).display(), "0.30000000000000004");
        assert_eq!(
            Value::Date(NaiveDate::from_ymd_opt(2023, 10, 1).unwrap()).display(),
            "2023-10-01"
        );
        assert!(Value::Text(" \t".into()).is_blank());
        assert!(!Value::Int(0).is_blank());
    }

    #[test]
    fn epoch_days_and_micros_become_dates() {
        let oct1 = NaiveDate::from_ymd_opt(2023, 10, 1).unwrap();
        assert_eq!(Value::from_epoch_days(19_631), Value::Date(oct1));
        assert_eq!(
            Value::from_epoch_days(0),
            Value::Date(NaiveDate::from_ymd_opt(1970, 1, 1).unwrap())
        );
        assert_eq!(
            Value::from_epoch_days(-1),
            Value::Date(NaiveDate::from_ymd_opt(1969, 12, 31).unwrap())
        );
        let noon = oct1.and_hms_opt(12, 0, 0).unwrap();
        assert_eq!(
            Value::from_epoch_micros(noon.and_utc().timestamp_micros()),
            Value::DateTime(noon)
        );
    }

    #[test]
    fn out_of_range_epoch_values_become_their_number_as_text() {
        for days in [i32::MIN, i32::MIN + 1, i32::MAX - 719_162, i32::MAX] {
            assert_eq!(
                Value::from_epoch_days(days),
                Value::Text(days.to_string()),
                "{days}"
            );
        }
        for micros in [i64::MIN, i64::MAX] {
            assert_eq!(
                Value::from_epoch_micros(micros),
                Value::Text(micros.to_string()),
                "{micros}"
            );
        }
    }

    #[test]
    fn non_finite_and_huge_floats_display_without_panicking() {
        assert_eq!(Value::Float(f64::NAN).display(), "NaN");
        assert_eq!(Value::Float(f64::INFINITY).display(), "inf");
        assert_eq!(Value::Float(f64::NEG_INFINITY).display(), "-inf");
        assert_eq!(Value::Float(-0.0).display(), "0");
        assert!(Value::Float(f64::MAX).display().starts_with("17976931348623157"));
        assert_eq!(
            Value::Float(9.007_199_254_740_992e15).display(),
            "9007199254740992"
        );
    }

    /// What validation makes of extreme plugin values: a problem of that row and column.
    mod validation {
        use super::*;
        use crate::header::{map_header, template_header};
        use crate::{ErrorCode, Locale, Module, RowValidator};

        /// The error code validation gives `value` in the customer field `field`.
        fn code_for(field: &str, value: Value) -> Option<ErrorCode> {
            let module = Module::Customers;
            let header: Vec<String> = template_header(module, Locale::ZhCn)
                .into_iter()
                .map(str::to_owned)
                .collect();
            let validator = RowValidator::new(map_header(module, &header).unwrap(), Locale::En);
            let mut row = vec![Value::Null; header.len()];
            let index = module.index_of(field);
            row[index] = value;
            let issues = validator.validate(&row).unwrap_err();
            issues
                .iter()
                .find(|issue| issue.field == field)
                .map(|issue| issue.code)
        }

        #[test]
        fn out_of_range_dates_are_invalid_date_row_errors() {
            for days in [i32::MIN, i32::MAX] {
                let value = Value::from_epoch_days(days);
                assert_eq!(
                    code_for("created_at", value),
                    Some(ErrorCode::InvalidDate),
                    "{days}"
                );
            }
            for micros in [i64::MIN, i64::MAX] {
                let value = Value::from_epoch_micros(micros);
                assert_eq!(
                    code_for("created_at", value),
                    Some(ErrorCode::InvalidDate),
                    "{micros}"
                );
            }
        }

        #[test]
        fn non_finite_and_huge_floats_are_row_errors() {
            for v in [f64::NAN, f64::INFINITY, f64::NEG_INFINITY, f64::MAX, 1e300] {
                assert_eq!(
                    code_for("contract_amount", Value::Float(v)),
                    Some(ErrorCode::InvalidNumber),
                    "{v}"
                );
                assert_eq!(
                    code_for("created_at", Value::Float(v)),
                    Some(ErrorCode::InvalidDate),
                    "{v}"
                );
            }
        }
    }
}
