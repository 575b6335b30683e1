//! The writer: dataport's field-key columns in, HubSpot's columns and values out, through a csv
//! or xlsx writer underneath.

use dataport_core::Module;
use dataport_core::header::field_for_label;
use dataport_plugin_sdk::{Cell, Column, ErrorKind, PluginError, RowBatch, Writer};

use crate::layout::{self, KeyNames, OutColumn, WriteRule};
use crate::mapping::SALES_PIPELINE;
use crate::values;

/// The written columns, each with the index of its source field among the given columns.
struct WritePlan {
    width: usize,
    columns: Vec<(usize, OutColumn)>,
    /// The index of the `code` column, to name the record in messages.
    code: Option<usize>,
}

/// The [`Writer`] of the plugin.
pub(crate) struct HubSpotWriter {
    inner: Box<dyn Writer>,
    module: Module,
    names: KeyNames,
    plan: Option<WritePlan>,
}

fn invalid(message: String) -> PluginError {
    PluginError::new(ErrorKind::InvalidArgument, message)
}

impl HubSpotWriter {
    pub(crate) fn new(inner: Box<dyn Writer>, module: Module, names: KeyNames) -> HubSpotWriter {
        HubSpotWriter {
            inner,
            module,
            names,
            plan: None,
        }
    }

    fn plan(&self, columns: &[Column]) -> Result<WritePlan, PluginError> {
        let module = self.module;
        let mut keys: Vec<&'static str> = Vec::with_capacity(columns.len());
        for column in columns {
            // Field keys; the template's labels (客户编号, Customer Code) are understood too.
            let Some(field) = field_for_label(module, &column.name) else {
                let known: Vec<&str> = module.fields().iter().map(|f| f.key).collect();
                return Err(invalid(format!(
                    "column `{}` is not a field of {module}; the hubspot writer takes the field keys {}",
                    column.name,
                    known.join(", ")
                )));
            };
            if keys.contains(&field.key) {
                return Err(invalid(format!("field `{}` is given twice", field.key)));
            }
            keys.push(field.key);
        }
        let written: Vec<(usize, OutColumn)> = layout::out_columns(module)
            .iter()
            .filter_map(|out| keys.iter().position(|k| *k == out.field).map(|i| (i, *out)))
            .collect();
        if written.is_empty() {
            return Err(invalid(format!(
                "none of the fields {} has a HubSpot column; nothing to write",
                keys.join(", ")
            )));
        }
        Ok(WritePlan {
            width: keys.len(),
            columns: written,
            code: keys.iter().position(|k| *k == "code"),
        })
    }
}

/// The HubSpot cell of one written column, from its field's cell. `record` names the row's
/// record for messages (` (record C2)`).
fn convert(out: &OutColumn, cell: &Cell, record: &dyn Fn() -> String) -> Result<Cell, PluginError> {
    let key = out.field;
    let bad_cell = || invalid(format!("field {key} cannot be written from {cell:?}{}", record()));
    if values::is_blank(cell) {
        return Ok(match out.rule {
            // Blank text stays as it is in a text column, like any other text.
            WriteRule::Text => cell.clone(),
            _ => Cell::Null,
        });
    }
    Ok(match (out.rule, cell) {
        (WriteRule::Text, _) => cell.clone(),
        (WriteRule::Enum(map), Cell::Text(value)) => match map.to_vendor(value) {
            Some(label) => Cell::text(label),
            None => {
                return Err(PluginError::new(
                    ErrorKind::InvalidValue,
                    format!(
                        "{key} \"{}\"{} has no HubSpot {} value; {}",
                        value.trim(),
                        record(),
                        map.property,
                        map.known_canonical_values()
                    ),
                ));
            }
        },
        (WriteRule::Date, Cell::Date(_)) => cell.clone(),
        (WriteRule::Date, Cell::DateTime(t)) => Cell::Date(values::datetime_day(*t)),
        (WriteRule::Date, Cell::Text(s)) => Cell::Date(
            values::parse_date(s)
                .ok_or_else(|| invalid(format!("{key} \"{s}\"{} is not a date (YYYY-MM-DD)", record())))?,
        ),
        // Numbers and plain decimal texts as floats, which the writers show with two decimals.
        (WriteRule::Amount, Cell::Float(v)) if v.is_finite() => cell.clone(),
        (WriteRule::Amount, Cell::Int(_) | Cell::Text(_)) => match values::amount_cell(cell) {
            amount @ Cell::Float(_) => amount,
            _ => {
                return Err(invalid(format!(
                    "{key} \"{}\"{} is not an amount",
                    values::display(cell),
                    record()
                )));
            }
        },
        (WriteRule::FirstName, Cell::Text(name)) => values::split_name(name).0.map_or(Cell::Null, Cell::Text),
        (WriteRule::LastName, Cell::Text(name)) => values::split_name(name).1.map_or(Cell::Null, Cell::Text),
        (WriteRule::Pipeline, _) => Cell::text(SALES_PIPELINE),
        _ => return Err(bad_cell()),
    })
}

impl Writer for HubSpotWriter {
    fn write_header(&mut self, columns: &[Column]) -> Result<(), PluginError> {
        if self.plan.is_some() {
            return Err(invalid(
                "the header was already written (a HubSpot file has one sheet)".to_owned(),
            ));
        }
        let plan = self.plan(columns)?;
        let header: Vec<Column> = plan
            .columns
            .iter()
            .map(|(_, out)| Column::new(self.names.header(&out.header)).kind(out.kind))
            .collect();
        self.inner.write_header(&header)?;
        self.plan = Some(plan);
        Ok(())
    }

    fn write_rows(&mut self, rows: &RowBatch) -> Result<(), PluginError> {
        let Some(plan) = &self.plan else {
            return Err(invalid(
                "write_header must be called before write_rows".to_owned(),
            ));
        };
        let mut out = RowBatch::new();
        for row in &rows.rows {
            if row.cells.len() != plan.width {
                return Err(invalid(format!(
                    "a row has {} cells, the header has {} columns",
                    row.cells.len(),
                    plan.width
                )));
            }
            let record = || {
                plan.code
                    .and_then(|i| row.cells[i].as_text())
                    .map(|code| format!(" (record {code})"))
                    .unwrap_or_default()
            };
            let cells = plan
                .columns
                .iter()
                .map(|(i, column)| convert(column, &row.cells[*i], &record))
                .collect::<Result<Vec<Cell>, PluginError>>()?;
            out.push_row(row.number, cells);
        }
        self.inner.write_rows(&out)
    }

    fn finish(&mut self) -> Result<(), PluginError> {
        self.inner.finish()
    }
}
