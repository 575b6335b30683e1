//! The writer: dataport's field-key columns in, HubSpot's columns and values out, through a csv
//! or xlsx writer underneath.

use dataport_core::Module;
use dataport_plugin_sdk::{Cell, Column, ErrorKind, PluginError, RowBatch, Writer};
use dataport_vendor_layout::{
    FieldColumns, cannot_write, header_not_written, not_a_date, not_an_amount, translate_written_rows,
};

use crate::layout::{self, KeyNames, OutColumn, WriteRule};
use crate::mapping::SALES_PIPELINE;
use crate::values;

/// The written columns, each with the index of its source field among the given columns.
struct WritePlan {
    /// The given columns' field keys.
    fields: FieldColumns,
    columns: Vec<(usize, OutColumn)>,
}

impl WritePlan {
    /// The HubSpot cells of one row.
    fn translate(&self, cells: &[Cell]) -> Result<Vec<Cell>, PluginError> {
        self.fields.check_width(cells)?;
        let record = || self.fields.record(cells);
        self.columns
            .iter()
            .map(|(i, column)| convert(column, &cells[*i], &record))
            .collect()
    }
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
        // Field keys; the template's labels (客户编号, Customer Code) are understood too.
        let fields = FieldColumns::resolve(self.module, columns, "hubspot")?;
        let written: Vec<(usize, OutColumn)> = layout::out_columns(self.module)
            .iter()
            .filter_map(|out| fields.position(out.field).map(|i| (i, *out)))
            .collect();
        if written.is_empty() {
            return Err(invalid(format!(
                "none of the fields {} has a HubSpot column; nothing to write",
                fields.keys().join(", ")
            )));
        }
        Ok(WritePlan {
            fields,
            columns: written,
        })
    }
}

/// The HubSpot cell of one written column, from its field's cell. `record` names the row's
/// record for messages (` (record C2)`).
fn convert(out: &OutColumn, cell: &Cell, record: &dyn Fn() -> String) -> Result<Cell, PluginError> {
    let key = out.field;
    let bad_cell = || cannot_write(key, cell, &record());
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
        (WriteRule::Date, Cell::Text(s)) => {
            Cell::Date(values::parse_date(s).ok_or_else(|| not_a_date(key, s, &record()))?)
        }
        // Numbers and plain decimal texts as floats, which the writers show with two decimals.
        (WriteRule::Amount, Cell::Float(v)) if v.is_finite() => cell.clone(),
        (WriteRule::Amount, Cell::Int(_) | Cell::Text(_)) => match values::amount_cell(cell) {
            amount @ Cell::Float(_) => amount,
            _ => return Err(not_an_amount(key, &values::display(cell), &record())),
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
        let plan = self.plan.as_ref().ok_or_else(header_not_written)?;
        self.inner
            .write_rows(&translate_written_rows(rows, |cells| plan.translate(cells))?)
    }

    fn finish(&mut self) -> Result<(), PluginError> {
        self.inner.finish()
    }
}
