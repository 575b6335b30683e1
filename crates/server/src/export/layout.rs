//! Which columns a file gets and how records become its cells.
//!
//! Codes and phones are text columns (leading zeros and `+86` survive spreadsheets), dates are
//! date cells, amounts are numbers shown with two decimals. Text that a spreadsheet would run
//! as a formula (`= + - @ TAB CR`) gets the `'` prefix (OWASP CSV injection), which import
//! strips again, so export → import is lossless.

use chrono::NaiveDate;
use dataport_core::text::escape_for_export;
use dataport_core::{FieldDef, FieldKind, FieldValue, Locale, Module, Records, template};
use dataport_plugin_sdk::{Cell, Column, ColumnKind, RowBatch, days_from_ymd};

use crate::error::ServiceError;

/// The fields of a file, in order.
#[derive(Debug, Clone)]
pub struct Layout {
    pub module: Module,
    pub fields: Vec<&'static FieldDef>,
    pub locale: Locale,
    /// For layout plugins (salesforce, hubspot): columns are named by field key and values go
    /// out unescaped; the plugin writes the vendor's own headers and values.
    pub for_layout_plugin: bool,
}

impl Layout {
    /// Every template field, in template order (what import expects).
    pub fn all(module: Module, locale: Locale) -> Layout {
        Layout {
            module,
            fields: module.fields().iter().collect(),
            locale,
            for_layout_plugin: false,
        }
    }

    /// The requested fields in the requested order; none means the guide's default core set.
    pub fn for_export(module: Module, keys: &[String], locale: Locale) -> Result<Layout, ServiceError> {
        let keys: Vec<String> = if keys.is_empty() {
            module.default_export_fields().map(str::to_owned).collect()
        } else {
            keys.iter().map(|k| k.trim().to_owned()).collect()
        };
        let mut fields: Vec<&'static FieldDef> = Vec::with_capacity(keys.len());
        for key in &keys {
            let field = module
                .field(key)
                .or_else(|| dataport_core::header::field_for_label(module, key))
                .ok_or_else(|| {
                    let known: Vec<&str> = module.fields().iter().map(|f| f.key).collect();
                    ServiceError::invalid(
                        "fields",
                        format!(
                            "{module} have no field '{key}'; choose from: {}",
                            known.join(", ")
                        ),
                    )
                })?;
            if fields.iter().any(|f| f.key == field.key) {
                return Err(ServiceError::invalid(
                    "fields",
                    format!("field '{}' is listed twice", field.key),
                ));
            }
            fields.push(field);
        }
        Ok(Layout {
            module,
            fields,
            locale,
            for_layout_plugin: false,
        })
    }

    /// For a layout plugin: every field unless some were chosen, named by key, unescaped.
    pub fn for_layout_plugin(mut self, chosen_fields: bool) -> Layout {
        if !chosen_fields {
            self.fields = self.module.fields().iter().collect();
        }
        self.for_layout_plugin = true;
        self
    }

    fn name(&self, field: &FieldDef) -> &'static str {
        if self.for_layout_plugin {
            field.key
        } else {
            self.locale.label(field)
        }
    }

    pub fn labels(&self) -> Vec<String> {
        self.fields.iter().map(|f| self.name(f).to_owned()).collect()
    }

    /// The writer's columns; a `template` also carries drop-down choices, the required mark and
    /// the fill-in rule as a header note.
    pub fn columns(&self, template: bool) -> Vec<Column> {
        self.fields
            .iter()
            .map(|f| {
                let kind = match f.kind {
                    FieldKind::Code | FieldKind::Phone => ColumnKind::Text,
                    FieldKind::Date => ColumnKind::Date,
                    FieldKind::Decimal => ColumnKind::Decimal2,
                    _ => ColumnKind::General,
                };
                let mut column = Column::new(self.name(f)).kind(kind);
                if template {
                    column.required = f.required;
                    column.comment = template::rule(f, self.locale);
                    column.choices = match f.kind {
                        FieldKind::Enum(choices) => choices.iter().map(|c| (*c).to_owned()).collect(),
                        FieldKind::Bool => dataport_core::module::YES_NO
                            .iter()
                            .map(|c| (*c).to_owned())
                            .collect(),
                        _ => Vec::new(),
                    };
                }
                column
            })
            .collect()
    }

    /// The records as rows of cells in this layout.
    pub fn cells(&self, records: &Records) -> RowBatch {
        self.into_cells(records.clone())
    }

    /// The records as rows of cells, consuming them: text moves into the cells instead of
    /// being copied (the export path, where a page is written once and dropped).
    pub fn into_cells(&self, records: Records) -> RowBatch {
        let escape = !self.for_layout_plugin;
        let positions: Vec<usize> = self
            .fields
            .iter()
            .map(|f| self.module.position(f.key).unwrap_or(usize::MAX))
            .collect();
        let mut batch = RowBatch::new();
        for record in records {
            let mut values = record.into_values();
            let row = positions
                .iter()
                .map(|&i| {
                    let value = values.get_mut(i).and_then(Option::take);
                    value_cell(value, escape)
                })
                .collect();
            batch.push_row(0, row);
        }
        batch
    }
}

/// One field's value as a file cell, moving its text: codes, phones and text as (escaped)
/// text, amounts as numbers, dates as date cells, booleans as 是/否.
fn value_cell(value: Option<FieldValue>, escape: bool) -> Cell {
    match value {
        None => Cell::Null,
        Some(FieldValue::Text(text)) => owned_text(text, escape),
        Some(FieldValue::Cents(cents)) => amount(Some(cents)),
        Some(FieldValue::Date(d)) => date(Some(d)),
        Some(FieldValue::Bool(b)) => Cell::text(FieldValue::Bool(b).display()),
    }
}

/// Text for a file: escaped against formula injection; empty text is an empty cell.
pub fn text_cell(text: &str) -> Cell {
    if text.is_empty() {
        Cell::Null
    } else {
        Cell::Text(escape_for_export(text).into_owned())
    }
}

fn amount(cents: Option<i64>) -> Cell {
    // Exact: every accepted amount has at most 15 significant digits.
    cents.map(|c| Cell::Float(c as f64 / 100.0)).unwrap_or(Cell::Null)
}

fn date(d: Option<NaiveDate>) -> Cell {
    use chrono::Datelike;
    d.and_then(|d| days_from_ymd(d.year(), d.month(), d.day()))
        .map(Cell::Date)
        .unwrap_or(Cell::Null)
}

/// Owned text for a file: moved, and escaped only when it must be.
fn owned_text(text: String, escape: bool) -> Cell {
    if text.is_empty() {
        Cell::Null
    } else if escape {
        match escape_for_export(&text) {
            std::borrow::Cow::Borrowed(_) => Cell::Text(text),
            std::borrow::Cow::Owned(escaped) => Cell::Text(escaped),
        }
    } else {
        Cell::Text(text)
    }
}

/// Typed values of records, for `records` exports (service-to-service streams): text fields as
/// text, amounts as exact cents, dates as `YYYY-MM-DD`, 是/否 as booleans, empty as unset.
pub fn typed_records(layout: &Layout, records: &Records) -> Vec<dataport_proto::v1::Record> {
    use dataport_proto::v1::{Record, Value, value::Kind};
    let positions: Vec<Option<usize>> = layout
        .fields
        .iter()
        .map(|f| layout.module.position(f.key))
        .collect();
    let value = |v: Option<&FieldValue>| Value {
        kind: v.and_then(|v| match v {
            FieldValue::Text(s) => (!s.is_empty()).then(|| Kind::Text(s.clone())),
            FieldValue::Cents(c) => Some(Kind::Cents(*c)),
            FieldValue::Date(d) => Some(Kind::Date(d.format("%Y-%m-%d").to_string())),
            FieldValue::Bool(b) => Some(Kind::Bool(*b)),
        }),
    };
    records
        .iter()
        .map(|r| Record {
            values: positions.iter().map(|p| value(p.and_then(|i| r.at(i)))).collect(),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_and_chosen_fields() {
        let default = Layout::for_export(Module::Customers, &[], Locale::ZhCn).unwrap();
        assert_eq!(
            default.labels(),
            [
                "客户编号",
                "客户名称",
                "所属行业",
                "联系电话",
                "负责人",
                "客户等级",
                "创建时间"
            ]
        );
        let chosen = Layout::for_export(
            Module::Customers,
            &["phone".into(), "客户名称".into()],
            Locale::En,
        )
        .unwrap();
        assert_eq!(chosen.labels(), ["Phone", "Customer Name"]);
        let err = Layout::for_export(Module::Customers, &["wechat".into()], Locale::ZhCn).unwrap_err();
        assert!(err.to_string().contains("no field 'wechat'"), "{err}");
        assert!(
            Layout::for_export(Module::Customers, &["code".into(), "code".into()], Locale::ZhCn).is_err()
        );
    }

    #[test]
    fn records_become_typed_escaped_cells() {
        let layout = Layout::all(Module::Customers, Locale::ZhCn);
        let record = dataport_core::Record::from_pairs(
            Module::Customers,
            [
                ("code", FieldValue::Text("C1".into())),
                ("name", FieldValue::Text("=HYPERLINK(\"evil\")".into())),
                ("phone", FieldValue::Text("+8613812345678".into())),
                ("owner", FieldValue::Text("张伟".into())),
                ("contract_amount", FieldValue::Cents(12_345)),
                (
                    "created_at",
                    FieldValue::Date(NaiveDate::from_ymd_opt(2023, 10, 1).unwrap()),
                ),
            ]
            .map(|(key, value)| (key, Some(value))),
        )
        .unwrap();
        let batch = layout.cells(&Records::from_vec(Module::Customers, vec![record]).unwrap());
        let cells = &batch.rows[0].cells;
        assert_eq!(cells[1], Cell::text("'=HYPERLINK(\"evil\")"));
        assert_eq!(cells[3], Cell::text("'+8613812345678"));
        assert_eq!(cells[2], Cell::Null);
        assert_eq!(cells[8], Cell::Float(123.45));
        assert_eq!(cells[11], Cell::Date(19_631));
        let columns = layout.columns(true);
        assert_eq!(columns[0].kind, ColumnKind::Text);
        assert!(columns[0].required && columns[0].comment.starts_with("必填"));
        assert_eq!(columns[5].choices, ["VIP", "重要", "普通"]);
        assert!(layout.columns(false)[5].choices.is_empty());
    }
}
