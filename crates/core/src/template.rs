//! What an import template tells its users about each field: the type, whether it is required,
//! the fill-in rule and an example (the guide's "标准数据模板字段说明").

use crate::validate::{MAX_AMOUNT_CENTS, format_cents};
use crate::{FieldDef, FieldKind, FieldValue, Locale, Module, Record};

/// The template file's name without extension, e.g. 客户导入模板.
pub fn template_file_stem(module: Module, locale: Locale) -> String {
    locale.pick(
        format!("{}导入模板", module.label_zh()),
        format!("{}-import-template", module.as_str()),
    )
}

/// The name of the instructions sheet.
pub fn instructions_sheet(locale: Locale) -> &'static str {
    locale.pick("填写说明", "Instructions")
}

/// The file name stem of the workbook template of all modules (`--module all`).
pub fn workbook_template_file_stem(locale: Locale) -> String {
    locale
        .pick("CRM全部模块导入模板", "crm-import-template")
        .to_owned()
}

/// The name of one module's instructions sheet in the workbook template: 客户填写说明.
pub fn module_instructions_sheet(module: Module, locale: Locale) -> String {
    locale.pick(
        format!("{}{}", module.label_zh(), instructions_sheet(locale)),
        format!("{} {}", module.label_en(), instructions_sheet(locale)),
    )
}

/// The instructions sheet's columns.
pub fn instructions_header(locale: Locale) -> [&'static str; 5] {
    locale.pick(
        ["序号", "字段名", "字段类型", "必填", "说明与填写规范"],
        ["No.", "Field", "Type", "Required", "Rules and example"],
    )
}

/// A field's name on the instructions sheet: the Chinese label, in English with it beside.
pub fn instructions_field_name(field: &FieldDef, locale: Locale) -> String {
    locale.pick(
        field.label_zh.to_owned(),
        format!("{} ({})", field.label_en, field.label_zh),
    )
}

/// The instructions sheet's "required" column.
pub fn required_word(required: bool, locale: Locale) -> &'static str {
    match required {
        true => locale.pick("是", "yes"),
        false => locale.pick("否", "no"),
    }
}

/// The kind of a field in words.
pub fn kind_label(kind: FieldKind, locale: Locale) -> &'static str {
    match kind {
        FieldKind::Code => locale.pick("编码（文本）", "code (text)"),
        FieldKind::Text => locale.pick("文本", "text"),
        FieldKind::Phone => locale.pick("电话（文本）", "phone (text)"),
        FieldKind::Email => locale.pick("邮箱", "e-mail"),
        FieldKind::Date => locale.pick("日期", "date"),
        FieldKind::Decimal => locale.pick("金额（数字，2位小数）", "amount (number, 2 decimals)"),
        FieldKind::Enum(_) => locale.pick("下拉选项", "choice"),
        FieldKind::Bool => locale.pick("是/否", "yes/no (是/否)"),
    }
}

/// The fill-in rule of a field, with an example: the header note of the template and the
/// instructions sheet's last column.
pub fn rule(field: &FieldDef, locale: Locale) -> String {
    let mut parts: Vec<String> = Vec::new();
    parts.push(if field.required {
        locale.pick("必填".to_owned(), "Required".to_owned())
    } else {
        locale.pick("选填".to_owned(), "Optional".to_owned())
    });
    let specific = match field.kind {
        FieldKind::Code => {
            let unique = if field.references.is_none() {
                locale.pick(
                    "，在文件和系统中唯一（用于重复检测和批量更新）",
                    "; unique in the file and in the system (used to find duplicates and for batch updates)",
                )
            } else {
                locale.pick(
                    "，必须是系统中已有客户的编号（请先导入客户）",
                    "; must be the code of an existing customer (import customers first)",
                )
            };
            locale.pick(
                format!("只能包含字母、数字、“-”和“_”{unique}"),
                format!("letters, digits, '-' and '_' only{unique}"),
            )
        }
        FieldKind::Text if field.plain_name => locale.pick(
            "填写全称；不能包含 ! ` # 等特殊字符".to_owned(),
            "the full name; special characters ! ` # are not allowed".to_owned(),
        ),
        FieldKind::Text if field.multiline => locale.pick(
            "自由文本，可换行".to_owned(),
            "free text; line breaks allowed".to_owned(),
        ),
        FieldKind::Text => locale.pick(
            "自由文本，不可换行".to_owned(),
            "free text on one line".to_owned(),
        ),
        FieldKind::Phone => locale.pick(
            "单元格为文本格式；只能包含数字、空格、+、-、括号".to_owned(),
            "a text cell; digits, spaces, + - ( ) only".to_owned(),
        ),
        FieldKind::Email => locale.pick("有效的邮箱地址".to_owned(), "a valid e-mail address".to_owned()),
        FieldKind::Date => locale.pick(
            "日期单元格，或文本 YYYY-MM-DD；其他写法不会被猜测".to_owned(),
            "a date cell, or text YYYY-MM-DD; other forms are not guessed".to_owned(),
        ),
        FieldKind::Decimal => locale.pick(
            format!(
                "数字，不小于0，最多两位小数，不超过 {}",
                format_cents(MAX_AMOUNT_CENTS)
            ),
            format!(
                "a number ≥ 0 with at most two decimals, up to {}",
                format_cents(MAX_AMOUNT_CENTS)
            ),
        ),
        FieldKind::Enum(choices) => {
            let list = choices.join(locale.pick("、", ", "));
            locale.pick(
                format!("从下拉列表中选择：{list}"),
                format!("pick from the list: {list}"),
            )
        }
        FieldKind::Bool => locale.pick("填“是”或“否”".to_owned(), "是 (yes) or 否 (no)".to_owned()),
    };
    parts.push(specific);
    if !matches!(
        field.kind,
        FieldKind::Enum(_) | FieldKind::Bool | FieldKind::Date | FieldKind::Decimal
    ) {
        parts.push(locale.pick(
            format!("最长 {} 个字符", field.max_len),
            format!("at most {} characters", field.max_len),
        ));
    }
    parts.push(locale.pick(
        format!("例：{}", field.example),
        format!("e.g. {}", field.example),
    ));
    parts.join(locale.pick("；", "; "))
}

/// A record of `module` with every field set to its example: what a filled-in template row
/// imports as (used by tests of every layer).
pub fn example_record(module: Module) -> Record {
    let mut record = Record::new(module);
    for (index, field) in module.fields().iter().enumerate() {
        let value = match field.kind {
            FieldKind::Decimal => {
                FieldValue::Cents(crate::validate::parse_amount(field.example).unwrap_or(0))
            }
            FieldKind::Date => {
                FieldValue::Date(crate::validate::parse_date(field.example).unwrap_or_default())
            }
            FieldKind::Bool => FieldValue::Bool(field.example == "是"),
            _ => FieldValue::Text(field.example.to_owned()),
        };
        record.put_at(index, Some(value));
    }
    record
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_field_has_an_example_and_a_rule() {
        for module in Module::ALL {
            for field in module.fields() {
                assert!(!field.example.is_empty(), "{module}.{}", field.key);
                let zh = rule(field, Locale::ZhCn);
                assert!(
                    zh.starts_with(if field.required { "必填" } else { "选填" }),
                    "{zh}"
                );
            }
        }
        let level = Module::Customers.field("level").unwrap();
        assert_eq!(
            rule(level, Locale::ZhCn),
            "选填；从下拉列表中选择：VIP、重要、普通；例：VIP"
        );
    }

    #[test]
    fn examples_pass_the_rules() {
        use crate::header::{map_header, template_header};
        use crate::{RowValidator, Value};
        for module in Module::ALL {
            let header: Vec<String> = template_header(module, Locale::ZhCn)
                .into_iter()
                .map(str::to_owned)
                .collect();
            let validator = RowValidator::new(map_header(module, &header).unwrap(), Locale::ZhCn);
            let row: Vec<Value> = module
                .fields()
                .iter()
                .map(|f| Value::Text(f.example.to_owned()))
                .collect();
            assert_eq!(validator.validate(&row), Ok(example_record(module)), "{module}");
        }
    }
}
