//! Header mapping: the file's first row must be the module's template header.
//!
//! The guide's rule: no column deleted, renamed or reordered. Each header cell is recognised by
//! its Chinese label (客户编号), its English label (Customer Code, case-insensitive) or its field
//! key (`code`). One extra column is allowed at the end: the 错误原因 (error reason) column that
//! the error file adds, so that a fixed error file imports again.

use crate::{FieldDef, Locale, Module};

/// The label of the column the error file appends, in Chinese and English.
pub const ERROR_COLUMN_ZH: &str = "错误原因";
pub const ERROR_COLUMN_EN: &str = "Error Reason";

/// One file column mapped to a field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MappedColumn {
    /// 0-based position in the file.
    pub index: usize,
    /// The label as written in the file.
    pub label: String,
    pub field: &'static FieldDef,
}

/// How a file's header maps onto a module's fields: one column per field, in template order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeaderMapping {
    pub module: Module,
    pub columns: Vec<MappedColumn>,
    /// Position of a trailing 错误原因 column, which is ignored.
    pub error_column: Option<usize>,
}

/// What is wrong with a header. [`HeaderProblem::message`] explains it for people.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HeaderProblem {
    /// The file has no header row at all.
    Empty,
    /// A template column is missing (deleted, or the file ends early).
    Missing {
        expected: &'static FieldDef,
        position: usize,
    },
    /// A column label is not a template column (renamed, or extra).
    Unknown {
        label: String,
        position: usize,
        expected: Option<&'static FieldDef>,
    },
    /// A template column is at the wrong place.
    OutOfOrder {
        label: String,
        position: usize,
        field: &'static FieldDef,
        expected: &'static FieldDef,
    },
}

impl HeaderProblem {
    /// The label of the offending column as written in the file, when there is one.
    pub fn column(&self) -> Option<&str> {
        match self {
            HeaderProblem::Empty | HeaderProblem::Missing { .. } => None,
            HeaderProblem::Unknown { label, .. } | HeaderProblem::OutOfOrder { label, .. } => Some(label),
        }
    }

    /// A message that names the column and says how to fix the header. Control characters of
    /// a label (NUL bytes of a misread UTF-16 file) are shown escaped, never as they are.
    pub fn message(&self, module: Module, locale: Locale) -> String {
        let shown = self.shown();
        let this = shown.as_ref().unwrap_or(self);
        let template = template_header(module, locale).join(locale.pick("、", ", "));
        let fix = locale.pick(
            format!("请使用{}导入模板的表头：{template}", module.label_zh()),
            format!("use the {module} import template's header: {template}"),
        );
        let col = |p: usize| p + 1;
        match this {
            HeaderProblem::Empty => locale.pick(
                format!("第1行为空：表头必须在第1行，未导入任何数据。{fix}"),
                format!("row 1 is empty: the header must be in row 1; nothing was imported. Fix: {fix}"),
            ),
            // An empty cell in the middle of the header (trailing ones are not columns).
            HeaderProblem::Unknown { label, position, expected: Some(expected) } if label.is_empty() => {
                locale.pick(
                    format!(
                        "第{}列没有表头（应为“{}”），未导入任何数据。{fix}",
                        col(*position),
                        expected.label_zh
                    ),
                    format!(
                        "column {} has no header (expected \"{}\"); nothing was imported. Fix: {fix}",
                        col(*position),
                        expected.label_en
                    ),
                )
            }
            HeaderProblem::Missing { expected, position } => locale.pick(
                format!(
                    "缺少第{}列“{}”（列被删除？），未导入任何数据。{fix}",
                    col(*position),
                    expected.label_zh
                ),
                format!(
                    "column {} \"{}\" is missing (deleted?); nothing was imported. Fix: {fix}",
                    col(*position),
                    expected.label_en
                ),
            ),
            HeaderProblem::Unknown { label, position, expected } => match expected {
                Some(expected) => locale.pick(
                    format!(
                        "第{}列“{label}”不是模板中的列（应为“{}”，列被改名？），未导入任何数据。{fix}",
                        col(*position),
                        expected.label_zh
                    ),
                    format!(
                        "column {} \"{label}\" is not a template column (expected \"{}\"; renamed?); nothing was imported. Fix: {fix}",
                        col(*position),
                        expected.label_en
                    ),
                ),
                None => locale.pick(
                    format!("第{}列“{label}”是多余的列，未导入任何数据。{fix}", col(*position)),
                    format!(
                        "column {} \"{label}\" is not part of the template (extra column); nothing was imported. Fix: {fix}",
                        col(*position)
                    ),
                ),
            },
            HeaderProblem::OutOfOrder { label, position, field, expected } => locale.pick(
                format!(
                    "第{}列“{label}”位置不对：这里应为“{}”，“{}”应在第{}列（列顺序被调整？），未导入任何数据。{fix}",
                    col(*position),
                    expected.label_zh,
                    field.label_zh,
                    template_position(module, field) + 1
                ),
                format!(
                    "column {} \"{label}\" is out of order: \"{}\" belongs here and \"{}\" belongs in column {} (reordered?); nothing was imported. Fix: {fix}",
                    col(*position),
                    expected.label_en,
                    field.label_en,
                    template_position(module, field) + 1
                ),
            ),
        }
    }
}

impl HeaderProblem {
    /// This problem with its label's control characters escaped, if it has any.
    fn shown(&self) -> Option<HeaderProblem> {
        let escape = |label: &str| -> Option<String> {
            label.chars().any(char::is_control).then(|| {
                label
                    .chars()
                    .map(|c| {
                        if c.is_control() {
                            c.escape_unicode().to_string()
                        } else {
                            c.to_string()
                        }
                    })
                    .collect()
            })
        };
        match self {
            HeaderProblem::Unknown {
                label,
                position,
                expected,
            } => escape(label).map(|label| HeaderProblem::Unknown {
                label,
                position: *position,
                expected: *expected,
            }),
            HeaderProblem::OutOfOrder {
                label,
                position,
                field,
                expected,
            } => escape(label).map(|label| HeaderProblem::OutOfOrder {
                label,
                position: *position,
                field,
                expected,
            }),
            HeaderProblem::Empty | HeaderProblem::Missing { .. } => None,
        }
    }
}

/// The template header of `module` in `locale`.
pub fn template_header(module: Module, locale: Locale) -> Vec<&'static str> {
    module.fields().iter().map(|f| locale.label(f)).collect()
}

fn template_position(module: Module, field: &FieldDef) -> usize {
    module
        .fields()
        .iter()
        .position(|f| f.key == field.key)
        .unwrap_or(0)
}

/// The field a header label names (Chinese label, English label or key), if any.
pub fn field_for_label(module: Module, label: &str) -> Option<&'static FieldDef> {
    let label = clean(label);
    module
        .fields()
        .iter()
        .find(|f| label == f.label_zh || label.eq_ignore_ascii_case(f.label_en) || label == f.key)
}

fn clean(label: &str) -> &str {
    label.trim_start_matches('\u{feff}').trim()
}

fn is_error_column(label: &str) -> bool {
    let label = clean(label);
    label == ERROR_COLUMN_ZH || label.eq_ignore_ascii_case(ERROR_COLUMN_EN)
}

/// Maps a file header onto `module`'s template, or says what is wrong with it.
pub fn map_header(module: Module, header: &[String]) -> Result<HeaderMapping, HeaderProblem> {
    // Trailing empty cells are not columns (spreadsheets often carry a few).
    let mut len = header.len();
    while len > 0 && clean(&header[len - 1]).is_empty() {
        len -= 1;
    }
    let header = &header[..len];
    if header.is_empty() {
        return Err(HeaderProblem::Empty);
    }
    let fields = module.fields();
    let mut columns = Vec::with_capacity(fields.len());
    for (position, expected) in fields.iter().enumerate() {
        let Some(label) = header.get(position) else {
            return Err(HeaderProblem::Missing { expected, position });
        };
        match field_for_label(module, label) {
            Some(field) if field.key == expected.key => columns.push(MappedColumn {
                index: position,
                label: clean(label).to_owned(),
                field,
            }),
            Some(field) => {
                // A later template column here means this one was deleted; an earlier one means
                // the columns were reordered.
                let found_at = template_position(module, field);
                if found_at > position
                    && !header
                        .iter()
                        .any(|l| field_for_label(module, l).is_some_and(|f| f.key == expected.key))
                {
                    return Err(HeaderProblem::Missing { expected, position });
                }
                return Err(HeaderProblem::OutOfOrder {
                    label: clean(label).to_owned(),
                    position,
                    field,
                    expected,
                });
            }
            None => {
                return Err(HeaderProblem::Unknown {
                    label: clean(label).to_owned(),
                    position,
                    expected: Some(expected),
                });
            }
        }
    }
    let mut error_column = None;
    for (position, label) in header.iter().enumerate().skip(fields.len()) {
        if position == fields.len() && is_error_column(label) {
            error_column = Some(position);
        } else if !clean(label).is_empty() {
            return Err(HeaderProblem::Unknown {
                label: clean(label).to_owned(),
                position,
                expected: None,
            });
        }
    }
    Ok(HeaderMapping {
        module,
        columns,
        error_column,
    })
}

/// Maps the field keys of a typed record stream (service-to-service imports): any order, any
/// subset that includes the fields `needed` names (the caller's rule: the key always, required
/// fields when records may be created and no default fills them). A field the stream lacks is mapped to no column
/// (`index == usize::MAX`): it reads as empty and an update keeps it. A key the module does not
/// have is left unmapped; the stream reports the records that set it.
pub fn map_field_keys(
    module: Module,
    keys: &[String],
    needed: impl Fn(&FieldDef) -> bool,
) -> Result<HeaderMapping, HeaderProblem> {
    for (position, key) in keys.iter().enumerate() {
        let repeated = keys[..position].iter().any(|k| k.trim() == key.trim());
        if repeated {
            return Err(HeaderProblem::Unknown {
                label: key.clone(),
                position,
                expected: None,
            });
        }
    }
    let mut columns = Vec::with_capacity(module.fields().len());
    for (position, field) in module.fields().iter().enumerate() {
        match keys.iter().position(|k| k.trim() == field.key) {
            Some(index) => columns.push(MappedColumn {
                index,
                label: field.key.to_owned(),
                field,
            }),
            None if needed(field) => {
                return Err(HeaderProblem::Missing {
                    expected: field,
                    position,
                });
            }
            // Absent: an index no record has, so the value reads as empty.
            None => columns.push(MappedColumn {
                index: usize::MAX,
                label: field.key.to_owned(),
                field,
            }),
        }
    }
    Ok(HeaderMapping {
        module,
        columns,
        error_column: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(labels: &[&str]) -> Vec<String> {
        labels.iter().map(|s| s.to_string()).collect()
    }

    fn customer_header() -> Vec<String> {
        template_header(Module::Customers, Locale::ZhCn)
            .into_iter()
            .map(str::to_owned)
            .collect()
    }

    #[test]
    fn the_template_header_maps_in_any_label_language() {
        let zh = map_header(Module::Customers, &customer_header()).unwrap();
        assert_eq!(zh.columns.len(), 12);
        assert_eq!(zh.columns[0].field.key, "code");
        let en: Vec<String> = template_header(Module::Customers, Locale::En)
            .iter()
            .map(|s| s.to_uppercase())
            .collect();
        assert!(map_header(Module::Customers, &en).is_ok());
        let keys: Vec<String> = Module::Contacts
            .fields()
            .iter()
            .map(|f| f.key.to_owned())
            .collect();
        assert!(map_header(Module::Contacts, &keys).is_ok());
        // A BOM, stray spaces, trailing empty cells and the error file's column are fine.
        let mut h = customer_header();
        h[0] = format!("\u{feff} {}", h[0]);
        h.push("错误原因".into());
        h.push(String::new());
        let mapped = map_header(Module::Customers, &h).unwrap();
        assert_eq!(mapped.error_column, Some(12));
        assert_eq!(mapped.columns[0].label, "客户编号");
    }

    #[test]
    fn record_streams_name_fields_in_any_order() {
        let keys = header(&["name", "code", "owner", "phone"]);
        let mapping = map_field_keys(Module::Customers, &keys, |f| f.required).unwrap();
        assert_eq!(mapping.columns.len(), 12);
        assert_eq!(
            (mapping.columns[0].field.key, mapping.columns[0].index),
            ("code", 1)
        );
        assert_eq!(mapping.columns[2].index, usize::MAX, "industry is absent");
        assert!(matches!(
            map_field_keys(Module::Customers, &header(&["code", "name"]), |f| f.required),
            Err(HeaderProblem::Missing { expected, .. }) if expected.key == "owner"
        ));
        // An update may name only what it changes; unknown keys are left to the stream.
        let update = map_field_keys(Module::Customers, &header(&["code", "phone", "wechat"]), |f| {
            f.kind == crate::FieldKind::Code
        })
        .unwrap();
        assert_eq!(update.columns[1].index, usize::MAX, "name is absent");
        assert_eq!(update.columns[3].index, 1, "phone");
        assert!(matches!(
            map_field_keys(Module::Customers, &header(&["code", "code"]), |f| f.required),
            Err(HeaderProblem::Unknown { .. })
        ));
    }

    #[test]
    fn deleted_renamed_reordered_and_extra_columns_are_named() {
        let mut deleted = customer_header();
        deleted.remove(3); // 联系电话
        let err = map_header(Module::Customers, &deleted).unwrap_err();
        assert!(
            matches!(err, HeaderProblem::Missing { expected, position: 3 } if expected.key == "phone"),
            "{err:?}"
        );
        assert!(
            err.message(Module::Customers, Locale::ZhCn)
                .contains("缺少第4列“联系电话”")
        );

        let mut renamed = customer_header();
        renamed[1] = "公司名称".into();
        let err = map_header(Module::Customers, &renamed).unwrap_err();
        assert_eq!(err.column(), Some("公司名称"));
        let msg = err.message(Module::Customers, Locale::En);
        assert!(
            msg.contains("column 2 \"公司名称\" is not a template column (expected \"Customer Name\""),
            "{msg}"
        );

        let mut reordered = customer_header();
        reordered.swap(4, 5);
        let err = map_header(Module::Customers, &reordered).unwrap_err();
        assert!(
            matches!(&err, HeaderProblem::OutOfOrder { label, .. } if label == "客户等级"),
            "{err:?}"
        );
        assert!(err.message(Module::Customers, Locale::ZhCn).contains("位置不对"));

        let mut extra = customer_header();
        extra.push("微信".into());
        let err = map_header(Module::Customers, &extra).unwrap_err();
        assert_eq!(err.column(), Some("微信"));

        let mut short = customer_header();
        short.truncate(11);
        assert!(matches!(
            map_header(Module::Customers, &short),
            Err(HeaderProblem::Missing { position: 11, .. })
        ));
        assert_eq!(
            map_header(Module::Customers, &header(&["", " "])),
            Err(HeaderProblem::Empty)
        );
    }

    #[test]
    fn an_empty_row_1_an_empty_header_cell_and_control_characters_are_explained() {
        let err = map_header(Module::Customers, &[]).unwrap_err();
        let zh = err.message(Module::Customers, Locale::ZhCn);
        assert!(zh.starts_with("第1行为空：表头必须在第1行"), "{zh}");
        let en = err.message(Module::Customers, Locale::En);
        assert!(
            en.starts_with("row 1 is empty: the header must be in row 1"),
            "{en}"
        );

        let mut gap = customer_header();
        gap[1] = " ".into();
        let err = map_header(Module::Customers, &gap).unwrap_err();
        let zh = err.message(Module::Customers, Locale::ZhCn);
        assert!(zh.starts_with("第2列没有表头（应为“客户名称”）"), "{zh}");
        assert!(!zh.contains("“”"), "{zh}");
        let en = err.message(Module::Customers, Locale::En);
        assert!(
            en.starts_with("column 2 has no header (expected \"Customer Name\")"),
            "{en}"
        );

        let utf16 = header(&["c\0o\0d\0e\0"]);
        let err = map_header(Module::Customers, &utf16).unwrap_err();
        for locale in [Locale::ZhCn, Locale::En] {
            let m = err.message(Module::Customers, locale);
            assert!(!m.contains('\0') && m.contains("c\\u{0}o"), "{m:?}");
        }
    }
}
