//! A typed value as read from a file, before it is validated for a field.

use chrono::{NaiveDate, NaiveDateTime};

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
/// as 13812345678.0 shows as 13812345678).
pub fn float_text(v: f64) -> String {
    if v.is_finite() && v.fract() == 0.0 && v.abs() < 9.007_199_254_740_992e15 {
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
}
