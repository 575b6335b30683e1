//! The writer: the module's fields in, Salesforce columns and values out, through a CSV writer.

use dataport_plugin_sdk::{Cell, Column, ErrorKind, PluginError, RowBatch, Writer};
use dataport_vendor_layout::{
    FieldColumns, cannot_write, datetime_day, header_not_written, not_a_date, not_an_amount, parse_decimal,
    translate_written_rows,
};

use crate::convert::{AMOUNTS, format_amount, format_date, format_date_time, parse_date, split_name};
use crate::maps::Picklist;
use crate::objects::{BILLING_COLUMNS, Config, FieldMap};

/// What one output column holds, from input column `usize`.
#[derive(Debug, Clone, Copy)]
enum Out {
    Text(usize),
    Picklist(usize, &'static Picklist),
    Date(usize, bool),
    Amount(usize),
    FirstName(usize),
    LastName(usize),
}

impl Out {
    fn input(self) -> usize {
        match self {
            Out::Text(i)
            | Out::Picklist(i, _)
            | Out::Date(i, _)
            | Out::Amount(i)
            | Out::FirstName(i)
            | Out::LastName(i) => i,
        }
    }
}

/// The output columns and the input's field keys.
struct Plan {
    columns: Vec<(String, Out)>,
    /// The input columns' field keys.
    fields: FieldColumns,
}

impl Plan {
    fn new(config: &Config, columns: &[Column]) -> Result<Plan, PluginError> {
        let module = config.module;
        let fields = FieldColumns::resolve(module, columns, "salesforce")?;
        // The Salesforce columns follow the module's template order, whatever the input order.
        let mut out = Vec::new();
        for field in module.fields() {
            let Some(i) = fields.position(field.key) else {
                continue;
            };
            match FieldMap::of(module, field.key) {
                FieldMap::Key => out.push((config.key_field.clone(), Out::Text(i))),
                FieldMap::AccountKey => out.push((config.account_key_field.clone(), Out::Text(i))),
                FieldMap::Text(columns) => {
                    if let Some(first) = columns.first() {
                        out.push(((*first).to_owned(), Out::Text(i)));
                    }
                }
                FieldMap::Picklist(p) => out.push((p.field.to_owned(), Out::Picklist(i, p))),
                FieldMap::Date { column, date_time } => {
                    out.push((column.to_owned(), Out::Date(i, date_time)))
                }
                FieldMap::Amount(column) => out.push((column.to_owned(), Out::Amount(i))),
                FieldMap::PersonName => {
                    out.push(("FirstName".to_owned(), Out::FirstName(i)));
                    out.push(("LastName".to_owned(), Out::LastName(i)));
                }
                FieldMap::Address => out.push((BILLING_COLUMNS[0].to_owned(), Out::Text(i))),
                FieldMap::Unmapped => {}
            }
        }
        if out.is_empty() {
            return Err(PluginError::new(
                ErrorKind::InvalidArgument,
                format!(
                    "none of the fields {} has a Salesforce {} column; nothing to write",
                    fields.keys().join(", "),
                    config.object
                ),
            ));
        }
        Ok(Plan { columns: out, fields })
    }

    /// The Salesforce cells of one row.
    fn translate(&self, cells: &[Cell]) -> Result<Vec<Cell>, PluginError> {
        self.fields.check_width(cells)?;
        let record = || self.fields.record(cells);
        let mut out = Vec::with_capacity(self.columns.len());
        for (_, how) in &self.columns {
            let i = how.input();
            let cell = &cells[i];
            let key = self.fields.keys()[i];
            let bad_cell = || cannot_write(key, cell, &record());
            let text = match (how, cell) {
                (_, Cell::Null) => None,
                (Out::Text(_), cell) => plain_text(cell),
                (Out::Picklist(..), Cell::Text(value)) if value.trim().is_empty() => None,
                (Out::Picklist(_, p), Cell::Text(value)) => Some(
                    p.to_salesforce(value)
                        .ok_or_else(|| {
                            PluginError::new(
                                ErrorKind::InvalidValue,
                                format!(
                                    "{key} \"{value}\"{} has no Salesforce {} value; known values: {}",
                                    record(),
                                    p.field,
                                    p.dataport_values()
                                ),
                            )
                        })?
                        .to_owned(),
                ),
                (Out::Date(_, date_time), cell) => {
                    let days = match cell {
                        Cell::Date(days) => Some(*days),
                        Cell::DateTime(micros) => Some(datetime_day(*micros)),
                        Cell::Text(s) if s.trim().is_empty() => None,
                        Cell::Text(s) => Some(parse_date(s).ok_or_else(|| not_a_date(key, s, &record()))?),
                        _ => return Err(bad_cell()),
                    };
                    days.map(|d| {
                        if *date_time {
                            format_date_time(d)
                        } else {
                            format_date(d)
                        }
                    })
                }
                (Out::Amount(_), cell) => match cell {
                    Cell::Float(v) => Some(format_amount(*v).ok_or_else(bad_cell)?),
                    Cell::Int(v) => Some(format!("{v}.00")),
                    Cell::Text(s) if s.trim().is_empty() => None,
                    Cell::Text(s) => Some(amount_text(s).ok_or_else(|| not_an_amount(key, s, &record()))?),
                    _ => return Err(bad_cell()),
                },
                (Out::FirstName(_), Cell::Text(name)) => Some(split_name(name).0),
                (Out::LastName(_), Cell::Text(name)) => Some(split_name(name).1),
                _ => return Err(bad_cell()),
            };
            out.push(text.filter(|t| !t.is_empty()).map_or(Cell::Null, Cell::Text));
        }
        Ok(out)
    }
}

/// The text of a cell for a text column.
fn plain_text(cell: &Cell) -> Option<String> {
    match cell {
        Cell::Null => None,
        Cell::Text(s) | Cell::Formula(s) => Some(s.clone()),
        Cell::Int(v) => Some(v.to_string()),
        Cell::Float(v) => Some(v.to_string()),
        Cell::Bool(v) => Some(v.to_string()),
        Cell::Date(days) => Some(format_date(*days)),
        // The UTC date.
        Cell::DateTime(micros) => Some(format_date(datetime_day(*micros))),
    }
}

/// A plain decimal amount (`1234`, `1234.5`, `-3.10`) with two decimals; `None` otherwise.
fn amount_text(s: &str) -> Option<String> {
    parse_decimal(s, AMOUNTS).and_then(format_amount)
}

/// Writes one Salesforce CSV file.
pub(crate) struct SalesforceWriter {
    config: Config,
    csv: Box<dyn Writer>,
    plan: Option<Plan>,
}

impl SalesforceWriter {
    pub(crate) fn new(config: Config, csv: Box<dyn Writer>) -> SalesforceWriter {
        SalesforceWriter {
            config,
            csv,
            plan: None,
        }
    }
}

impl Writer for SalesforceWriter {
    fn write_header(&mut self, columns: &[Column]) -> Result<(), PluginError> {
        if self.plan.is_some() {
            return Err(PluginError::new(
                ErrorKind::InvalidArgument,
                "the header was already written (a Salesforce CSV file has one header)",
            ));
        }
        let plan = Plan::new(&self.config, columns)?;
        self.csv
            .write_header(&Column::named(plan.columns.iter().map(|(name, _)| name.as_str())))?;
        self.plan = Some(plan);
        Ok(())
    }

    fn write_rows(&mut self, rows: &RowBatch) -> Result<(), PluginError> {
        let plan = self.plan.as_ref().ok_or_else(header_not_written)?;
        self.csv
            .write_rows(&translate_written_rows(rows, |cells| plan.translate(cells))?)
    }

    fn finish(&mut self) -> Result<(), PluginError> {
        self.csv.finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn amounts_from_text() {
        assert_eq!(amount_text("1234.5").as_deref(), Some("1234.50"));
        assert_eq!(amount_text(" 12 ").as_deref(), Some("12.00"));
        assert_eq!(amount_text(".5").as_deref(), Some("0.50"));
        for bad in ["", ".", "1e5", "inf", "NaN", "1,000", "1.2.3", "--1", "¥5"] {
            assert_eq!(amount_text(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn plain_text_of_cells() {
        assert_eq!(plain_text(&Cell::Int(7)).as_deref(), Some("7"));
        assert_eq!(plain_text(&Cell::Date(19_631)).as_deref(), Some("2023-10-01"));
        assert_eq!(plain_text(&Cell::DateTime(-1)).as_deref(), Some("1969-12-31"));
        assert_eq!(plain_text(&Cell::Null), None);
    }
}
