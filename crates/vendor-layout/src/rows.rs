//! The plumbing of a layout reader and writer: a batch of the vendor's rows translated into the
//! module's fields, and the field-key columns a writer is given.

use dataport_core::Module;
use dataport_core::header::field_for_label;
use dataport_plugin_sdk::{Cell, Column, ErrorKind, PluginError, RowBatch};

/// The header a layout reader hands out: the module's field keys in template order, every field.
pub fn field_keys(module: Module) -> Vec<String> {
    module.fields().iter().map(|f| f.key.to_owned()).collect()
}

/// A batch of the file format's reader translated row by row: `translate` gives a row's cells in
/// the module's fields, or the messages of its values without a mapping, each of which becomes an
/// `InvalidValue` row error on the row's number (and the row is left out). The format's own row
/// errors come through; all errors end up in file order.
pub fn translate_rows(
    batch: RowBatch,
    mut translate: impl FnMut(&[Cell]) -> Result<Vec<Cell>, Vec<String>>,
) -> RowBatch {
    let mut out = RowBatch {
        rows: Vec::with_capacity(batch.rows.len()),
        errors: batch.errors,
    };
    for row in batch.rows {
        match translate(&row.cells) {
            Ok(cells) => out.push_row(row.number, cells),
            Err(problems) => {
                for message in problems {
                    out.push_error(row.number, ErrorKind::InvalidValue, message);
                }
            }
        }
    }
    // Stable: a row's errors keep their order, the format's come before ours on the same row.
    out.errors.sort_by_key(|e| e.row);
    out
}

/// A batch the host gives a layout writer, translated row by row into the vendor's cells by
/// `translate`; the first row that fails fails the batch (and the export).
pub fn translate_written_rows(
    rows: &RowBatch,
    mut translate: impl FnMut(&[Cell]) -> Result<Vec<Cell>, PluginError>,
) -> Result<RowBatch, PluginError> {
    let mut out = RowBatch::new();
    for row in &rows.rows {
        out.push_row(row.number, translate(&row.cells)?);
    }
    Ok(out)
}

/// The columns a layout writer is given: each a field of the module, named by key or by template
/// label (客户编号, Customer Code), each field at most once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldColumns {
    keys: Vec<&'static str>,
    /// The index of the `code` column, to name the record in messages.
    code: Option<usize>,
}

impl FieldColumns {
    /// The field keys of `columns`. A column that is no field of `module`, or a field given twice,
    /// is `InvalidArgument`; the message names the `writer` (`the salesforce writer takes …`).
    pub fn resolve(module: Module, columns: &[Column], writer: &str) -> Result<FieldColumns, PluginError> {
        let mut keys: Vec<&'static str> = Vec::with_capacity(columns.len());
        for column in columns {
            let Some(field) = field_for_label(module, &column.name) else {
                let known: Vec<&str> = module.fields().iter().map(|f| f.key).collect();
                return Err(invalid(format!(
                    "column `{}` is not a field of {module}; the {writer} writer takes the field keys {}",
                    column.name,
                    known.join(", ")
                )));
            };
            if keys.contains(&field.key) {
                return Err(invalid(format!("field `{}` is given twice", field.key)));
            }
            keys.push(field.key);
        }
        let code = keys.iter().position(|k| *k == "code");
        Ok(FieldColumns { keys, code })
    }

    /// The field key of each column, in the order given.
    pub fn keys(&self) -> &[&'static str] {
        &self.keys
    }

    /// The number of columns.
    pub fn width(&self) -> usize {
        self.keys.len()
    }

    /// The column of the field `key`.
    pub fn position(&self, key: &str) -> Option<usize> {
        self.keys.iter().position(|k| *k == key)
    }

    /// Fails a row whose number of cells is not the number of columns.
    pub fn check_width(&self, cells: &[Cell]) -> Result<(), PluginError> {
        if cells.len() == self.keys.len() {
            Ok(())
        } else {
            Err(invalid(format!(
                "a row has {} cells, the header has {} columns",
                cells.len(),
                self.keys.len()
            )))
        }
    }

    /// The row's record for messages: ` (record C2)` from its `code` cell, empty without one.
    pub fn record(&self, cells: &[Cell]) -> String {
        self.code
            .and_then(|i| cells.get(i))
            .and_then(Cell::as_text)
            .map(|code| format!(" (record {code})"))
            .unwrap_or_default()
    }
}

fn invalid(message: String) -> PluginError {
    PluginError::new(ErrorKind::InvalidArgument, message)
}

/// The error of a cell its field's column cannot hold (a number in a name, a bool in a date).
/// `record` is [`FieldColumns::record`].
pub fn cannot_write(key: &str, cell: &Cell, record: &str) -> PluginError {
    invalid(format!("field {key} cannot be written from {cell:?}{record}"))
}

/// The error of text in a date field that is no date.
pub fn not_a_date(key: &str, text: &str, record: &str) -> PluginError {
    invalid(format!("{key} \"{text}\"{record} is not a date (YYYY-MM-DD)"))
}

/// The error of a value in an amount field that is no amount.
pub fn not_an_amount(key: &str, text: &str, record: &str) -> PluginError {
    invalid(format!("{key} \"{text}\"{record} is not an amount"))
}

/// The error of `write_rows` before `write_header`.
pub fn header_not_written() -> PluginError {
    invalid("write_header must be called before write_rows".to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn field_keys_are_the_template_order() {
        let keys = field_keys(Module::Contacts);
        assert_eq!(keys[0], "code");
        assert_eq!(keys.len(), Module::Contacts.fields().len());
    }

    #[test]
    fn rows_become_cells_or_invalid_value_errors_in_file_order() {
        let mut batch = RowBatch::new();
        batch.push_row(2, vec![Cell::text("a")]);
        batch.push_row(3, vec![Cell::text("bad"), Cell::text("worse")]);
        batch.push_error(3, ErrorKind::MalformedFile, "ragged");
        batch.push_row(5, vec![Cell::text("c")]);
        batch.push_error(4, ErrorKind::Encoding, "bytes");
        let out = translate_rows(batch, |cells| {
            let bad: Vec<String> = cells
                .iter()
                .filter_map(Cell::as_text)
                .filter(|t| t.contains("bad") || t.contains("worse"))
                .map(|t| format!("{t}!"))
                .collect();
            if bad.is_empty() {
                Ok(vec![Cell::text(cells[0].as_text().unwrap().to_uppercase())])
            } else {
                Err(bad)
            }
        });
        let rows: Vec<(u64, Vec<Cell>)> = out.rows.iter().map(|r| (r.number, r.cells.clone())).collect();
        assert_eq!(rows, [(2, vec![Cell::text("A")]), (5, vec![Cell::text("C")])]);
        let errors: Vec<(u64, ErrorKind, &str)> = out
            .errors
            .iter()
            .map(|e| (e.row, e.kind, e.message.as_str()))
            .collect();
        assert_eq!(
            errors,
            [
                (3, ErrorKind::MalformedFile, "ragged"),
                (3, ErrorKind::InvalidValue, "bad!"),
                (3, ErrorKind::InvalidValue, "worse!"),
                (4, ErrorKind::Encoding, "bytes"),
            ]
        );
    }

    #[test]
    fn written_rows_keep_their_numbers_and_the_first_failure_fails() {
        let mut rows = RowBatch::new();
        rows.push_row(7, vec![Cell::Int(1)]);
        rows.push_row(9, vec![Cell::Int(2)]);
        let out =
            translate_written_rows(&rows, |cells| Ok(vec![Cell::text(format!("{:?}", cells[0]))])).unwrap();
        let numbered: Vec<(u64, &Cell)> = out.rows.iter().map(|r| (r.number, &r.cells[0])).collect();
        assert_eq!(numbered, [(7, &Cell::text("Int(1)")), (9, &Cell::text("Int(2)"))]);
        assert!(out.errors.is_empty());
        let mut seen = 0;
        let e = translate_written_rows(&rows, |_| {
            seen += 1;
            Err(header_not_written())
        })
        .unwrap_err();
        assert_eq!((e.kind, seen), (ErrorKind::InvalidArgument, 1));
    }

    #[test]
    fn field_columns_by_key_or_label() {
        let columns = Column::named(["name", "客户编号", "Phone"]);
        let f = FieldColumns::resolve(Module::Customers, &columns, "test").unwrap();
        assert_eq!(f.keys(), ["name", "code", "phone"]);
        assert_eq!(
            (f.width(), f.position("code"), f.position("owner")),
            (3, Some(1), None)
        );
        let row = [Cell::text("A"), Cell::text("C2"), Cell::Null];
        assert_eq!(f.record(&row), " (record C2)");
        assert_eq!(f.record(&[Cell::text("A"), Cell::Null, Cell::Null]), "");
        assert!(f.check_width(&row).is_ok());
        let e = f.check_width(&row[..2]).unwrap_err();
        assert_eq!(e.kind, ErrorKind::InvalidArgument);
        assert_eq!(e.message, "a row has 2 cells, the header has 3 columns");
        let without_code =
            FieldColumns::resolve(Module::Customers, &Column::named(["name"]), "test").unwrap();
        assert_eq!(without_code.record(&[Cell::text("A")]), "");
    }

    #[test]
    fn unknown_and_repeated_columns_are_refused() {
        let e = FieldColumns::resolve(Module::Customers, &Column::named(["code", "nope"]), "salesforce")
            .unwrap_err();
        assert_eq!(e.kind, ErrorKind::InvalidArgument);
        let keys = field_keys(Module::Customers).join(", ");
        let expected = format!(
            "column `nope` is not a field of customers; the salesforce writer takes the field keys {keys}"
        );
        assert_eq!(e.message, expected);
        let e =
            FieldColumns::resolve(Module::Customers, &Column::named(["code", "客户编号"]), "x").unwrap_err();
        assert_eq!(e.message, "field `code` is given twice");
    }

    #[test]
    fn messages() {
        assert_eq!(
            cannot_write("name", &Cell::Bool(true), " (record C1)").message,
            "field name cannot be written from Bool(true) (record C1)"
        );
        assert_eq!(
            not_a_date("created_at", "10/01/2023", "").message,
            "created_at \"10/01/2023\" is not a date (YYYY-MM-DD)"
        );
        assert_eq!(
            not_an_amount("amount", "¥5", "").message,
            "amount \"¥5\" is not an amount"
        );
        let e = header_not_written();
        assert_eq!(
            (e.kind, e.message.as_str()),
            (
                ErrorKind::InvalidArgument,
                "write_header must be called before write_rows"
            )
        );
    }
}
