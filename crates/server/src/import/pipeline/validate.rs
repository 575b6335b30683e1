//! Validation of a batch: each row through the core's rules, then the in-file duplicate check;
//! what the reader could not decode becomes a row problem of its own.

use std::sync::Arc;

use dataport_core::{ErrorCode, Locale, Module, Records, RowIssue, RowValidator, Value, messages};
use dataport_plugin_sdk::{ErrorKind, RowError};

use super::super::records::{ProblemKind, RecordProblem};
use super::batch::{CheckedBatch, RowProblem};
use super::dedup::CodeTracker;

/// Validates the batches of one file, remembering the codes seen so far.
pub(super) struct Checker {
    module: Module,
    locale: Locale,
    validator: RowValidator,
    tracker: CodeTracker,
    code_label: String,
    /// The file's header labels by template position, for messages about columns.
    labels: Arc<[String]>,
}

impl Checker {
    pub fn new(validator: RowValidator) -> Checker {
        let mapping = validator.mapping();
        let (module, locale) = (mapping.module, validator.locale());
        let code_label = mapping.columns[0].label.clone();
        let labels: Arc<[String]> = mapping.columns.iter().map(|c| c.label.clone()).collect();
        Checker {
            module,
            locale,
            validator,
            tracker: CodeTracker::new(),
            code_label,
            labels,
        }
    }

    /// Checks one batch: the rows the reader could not decode (`errors`) and the rows it read
    /// (spreadsheet row number, values in file order). Returns the batch and how many rows it
    /// counts (blank rows are not data rows).
    pub fn check(
        &mut self,
        errors: &[RowError],
        kept_out: &[RecordProblem],
        rows: impl Iterator<Item = (u64, Vec<Value>)>,
    ) -> (CheckedBatch, u64) {
        let mut checked = CheckedBatch {
            labels: self.labels.clone(),
            records: Records::empty(self.module),
            record_rows: Vec::new(),
            problems: Vec::new(),
            rows: 0,
            last_row: 0,
            resume_point: None,
            sheet: None,
        };
        let mut counted = 0u64;
        for error in errors {
            counted += 1;
            checked.last_row = checked.last_row.max(error.row);
            checked.problems.push(self.unreadable(error));
        }
        for problem in kept_out {
            counted += 1;
            checked.last_row = checked.last_row.max(problem.row);
            checked.problems.push(self.mistyped(problem));
        }
        for (number, values) in rows {
            checked.last_row = checked.last_row.max(number);
            if values.iter().all(Value::is_blank) {
                continue;
            }
            counted += 1;
            match self.validator.validate_owned(values) {
                Ok(record) => match self.tracker.check(record.code(), number) {
                    None => {
                        checked.record_rows.push(number);
                        // The validator builds records of its own module.
                        let _ = checked.records.push(record);
                    }
                    Some(first_row) => checked.problems.push(RowProblem {
                        row: number,
                        issues: vec![RowIssue {
                            column: self.code_label.clone(),
                            field: self.module.fields()[0].key,
                            code: ErrorCode::DuplicateInFile,
                            message: messages::duplicate_in_file(
                                self.module,
                                record.code(),
                                first_row,
                                self.locale,
                            ),
                            value: record.code().to_owned(),
                        }],
                        raw: Some(record.display_values()),
                        skipped: false,
                    }),
                },
                // The row as read, in template order whatever order the source had.
                Err((issues, raw)) => checked.problems.push(RowProblem {
                    row: number,
                    issues,
                    raw: Some(raw),
                    skipped: false,
                }),
            }
        }
        if let Some(warning) = self.tracker.take_warning() {
            tracing::warn!("{warning}");
        }
        checked.rows = counted;
        (checked, counted)
    }

    /// A record whose values do not fit its fields (`records` imports).
    fn mistyped(&self, problem: &RecordProblem) -> RowProblem {
        let (field, message) = match &problem.kind {
            ProblemKind::WrongKind { field, found } => {
                (field.key, messages::wrong_value_kind(field, found, self.locale))
            }
            ProblemKind::UnknownField => (
                "",
                messages::unknown_record_field(self.module, &problem.key, self.locale),
            ),
            ProblemKind::ExtraValues { values, fields } => {
                ("", messages::extra_record_values(*values, *fields, self.locale))
            }
        };
        RowProblem {
            row: problem.row,
            issues: vec![RowIssue {
                column: problem.key.clone(),
                field,
                code: ErrorCode::InvalidFormat,
                message,
                value: String::new(),
            }],
            raw: None,
            skipped: false,
        }
    }

    /// A row the reader could not decode.
    fn unreadable(&self, error: &RowError) -> RowProblem {
        let (code, message) = match error.kind {
            ErrorKind::Encoding => (
                ErrorCode::Encoding,
                messages::encoding(&error.message, self.locale),
            ),
            _ => (
                ErrorCode::MalformedFile,
                messages::malformed_row(&error.message, self.locale),
            ),
        };
        RowProblem {
            row: error.row,
            issues: vec![RowIssue {
                column: String::new(),
                field: "",
                code,
                message,
                value: String::new(),
            }],
            raw: None,
            skipped: false,
        }
    }
}
