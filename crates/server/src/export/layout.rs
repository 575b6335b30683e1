//! Which columns a file gets and how records become its cells.
//!
//! Codes and phones are text columns (leading zeros and `+86` survive spreadsheets), dates are
//! date cells, amounts are numbers shown with two decimals. Text that a spreadsheet would run
//! as a formula (`= + - @ TAB CR`) gets the `'` prefix (OWASP CSV injection), which import
//! strips again, so export → import is lossless.

use chrono::NaiveDate;
use dataport_core::text::escape_for_export;
use dataport_core::{Contact, Customer, FieldDef, FieldKind, Locale, Module, Opportunity, Records, template};
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
            module
                .default_export_fields()
                .iter()
                .map(|k| (*k).to_owned())
                .collect()
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
                    ServiceError::InvalidArgument(format!(
                        "{module} have no field '{key}'; choose from: {}",
                        known.join(", ")
                    ))
                })?;
            if fields.iter().any(|f| f.key == field.key) {
                return Err(ServiceError::InvalidArgument(format!(
                    "field '{}' is listed twice",
                    field.key
                )));
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
                    FieldKind::Amount => ColumnKind::Decimal2,
                    _ => ColumnKind::General,
                };
                let mut column = Column::new(self.name(f)).kind(kind);
                if template {
                    column.required = f.required;
                    column.comment = template::rule(self.module, f, self.locale);
                    column.choices = match f.kind {
                        FieldKind::Enum(choices) => choices.iter().map(|c| (*c).to_owned()).collect(),
                        FieldKind::YesNo => vec!["是".to_owned(), "否".to_owned()],
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
            .map(|f| {
                self.module
                    .fields()
                    .iter()
                    .position(|t| t.key == f.key)
                    .unwrap_or(usize::MAX)
            })
            .collect();
        let mut batch = RowBatch::new();
        let mut push = |mut all: Vec<Cell>| {
            let row = positions
                .iter()
                .map(|&i| {
                    all.get_mut(i)
                        .map(|c| std::mem::replace(c, Cell::Null))
                        .unwrap_or(Cell::Null)
                })
                .collect();
            batch.push_row(0, row);
        };
        match records {
            Records::Customers(v) => v.into_iter().for_each(|r| push(customer_cells(r, escape))),
            Records::Contacts(v) => v.into_iter().for_each(|r| push(contact_cells(r, escape))),
            Records::Opportunities(v) => v.into_iter().for_each(|r| push(opportunity_cells(r, escape))),
        }
        batch
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

fn owned_opt(text: Option<String>, escape: bool) -> Cell {
    text.map(|t| owned_text(t, escape)).unwrap_or(Cell::Null)
}

/// A customer's cells in template order, moving its text.
fn customer_cells(r: Customer, escape: bool) -> Vec<Cell> {
    vec![
        owned_text(r.code, escape),
        owned_text(r.name, escape),
        owned_opt(r.industry, escape),
        owned_opt(r.phone, escape),
        owned_text(r.owner, escape),
        owned_opt(r.level, escape),
        owned_opt(r.follow_up_status, escape),
        owned_opt(r.address, escape),
        amount(r.contract_amount_cents),
        owned_opt(r.follow_up_notes, escape),
        owned_opt(r.remarks, escape),
        date(r.created_at),
    ]
}

fn contact_cells(r: Contact, escape: bool) -> Vec<Cell> {
    vec![
        owned_text(r.code, escape),
        owned_text(r.customer_code, escape),
        owned_text(r.name, escape),
        owned_opt(r.title, escape),
        owned_opt(r.phone, escape),
        owned_opt(r.email, escape),
        r.is_primary
            .map(|b| Cell::text(if b { "是" } else { "否" }))
            .unwrap_or(Cell::Null),
        owned_opt(r.remarks, escape),
    ]
}

fn opportunity_cells(r: Opportunity, escape: bool) -> Vec<Cell> {
    vec![
        owned_text(r.code, escape),
        owned_text(r.customer_code, escape),
        owned_text(r.name, escape),
        owned_opt(r.stage, escape),
        amount(r.amount_cents),
        date(r.expected_close_date),
        owned_opt(r.owner, escape),
        owned_opt(r.remarks, escape),
    ]
}

/// Typed values of records, for `records` exports (service-to-service streams): text fields as
/// text, amounts as exact cents, dates as `YYYY-MM-DD`, 是/否 as booleans, empty as unset.
pub fn typed_records(layout: &Layout, records: &Records) -> Vec<dataport_proto::v1::Record> {
    use dataport_proto::v1::{Record, Value, value::Kind};
    let text = |s: &str| Value {
        kind: (!s.is_empty()).then(|| Kind::Text(s.to_owned())),
    };
    let opt = |s: &Option<String>| s.as_deref().map(text).unwrap_or_default();
    let cents = |c: Option<i64>| Value {
        kind: c.map(Kind::Cents),
    };
    let date = |d: Option<NaiveDate>| Value {
        kind: d.map(|d| Kind::Date(d.format("%Y-%m-%d").to_string())),
    };
    let row = |value: &dyn Fn(&str) -> Value| Record {
        values: layout.fields.iter().map(|f| value(f.key)).collect(),
    };
    match records {
        Records::Customers(v) => v
            .iter()
            .map(|r| {
                row(&|key| match key {
                    "code" => text(&r.code),
                    "name" => text(&r.name),
                    "industry" => opt(&r.industry),
                    "phone" => opt(&r.phone),
                    "owner" => text(&r.owner),
                    "level" => opt(&r.level),
                    "follow_up_status" => opt(&r.follow_up_status),
                    "address" => opt(&r.address),
                    "contract_amount" => cents(r.contract_amount_cents),
                    "follow_up_notes" => opt(&r.follow_up_notes),
                    "remarks" => opt(&r.remarks),
                    "created_at" => date(r.created_at),
                    _ => Value::default(),
                })
            })
            .collect(),
        Records::Contacts(v) => v
            .iter()
            .map(|r| {
                row(&|key| match key {
                    "code" => text(&r.code),
                    "customer_code" => text(&r.customer_code),
                    "name" => text(&r.name),
                    "title" => opt(&r.title),
                    "phone" => opt(&r.phone),
                    "email" => opt(&r.email),
                    "is_primary" => Value {
                        kind: r.is_primary.map(Kind::Bool),
                    },
                    "remarks" => opt(&r.remarks),
                    _ => Value::default(),
                })
            })
            .collect(),
        Records::Opportunities(v) => v
            .iter()
            .map(|r| {
                row(&|key| match key {
                    "code" => text(&r.code),
                    "customer_code" => text(&r.customer_code),
                    "name" => text(&r.name),
                    "stage" => opt(&r.stage),
                    "amount" => cents(r.amount_cents),
                    "expected_close_date" => date(r.expected_close_date),
                    "owner" => opt(&r.owner),
                    "remarks" => opt(&r.remarks),
                    _ => Value::default(),
                })
            })
            .collect(),
    }
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
        let record = Customer {
            code: "C1".into(),
            name: "=HYPERLINK(\"evil\")".into(),
            phone: Some("+8613812345678".into()),
            owner: "张伟".into(),
            contract_amount_cents: Some(12_345),
            created_at: NaiveDate::from_ymd_opt(2023, 10, 1),
            ..Customer::default()
        };
        let batch = layout.cells(&Records::Customers(vec![record]));
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
