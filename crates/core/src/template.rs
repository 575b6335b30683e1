//! What an import template tells its users about each field: the type, whether it is required,
//! the fill-in rule and an example (the guide's "标准数据模板字段说明").

use crate::validate::{MAX_AMOUNT_CENTS, format_cents};
use crate::{FieldDef, FieldKind, Locale, Module};

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

/// The instructions sheet's columns.
pub fn instructions_header(locale: Locale) -> [&'static str; 5] {
    locale.pick(
        ["序号", "字段名", "字段类型", "必填", "说明与填写规范"],
        ["No.", "Field", "Type", "Required", "Rules and example"],
    )
}

/// The kind of a field in words.
pub fn kind_label(kind: FieldKind, locale: Locale) -> &'static str {
    match kind {
        FieldKind::Code => locale.pick("编码（文本）", "code (text)"),
        FieldKind::Text => locale.pick("文本", "text"),
        FieldKind::Phone => locale.pick("电话（文本）", "phone (text)"),
        FieldKind::Email => locale.pick("邮箱", "e-mail"),
        FieldKind::Date => locale.pick("日期", "date"),
        FieldKind::Amount => locale.pick("金额（数字，2位小数）", "amount (number, 2 decimals)"),
        FieldKind::Enum(_) => locale.pick("下拉选项", "choice"),
        FieldKind::YesNo => locale.pick("是/否", "yes/no (是/否)"),
    }
}

/// An example value for a field.
pub fn example(module: Module, field: &FieldDef) -> &'static str {
    match (module, field.key) {
        (Module::Customers, "code") => "CUST20231001001",
        (Module::Contacts, "code") => "CON20231001001",
        (Module::Opportunities, "code") => "OPP20231001001",
        (_, "customer_code") => "CUST20231001001",
        (Module::Customers, "name") => "北京星辰科技有限公司",
        (Module::Contacts, "name") => "王芳",
        (Module::Opportunities, "name") => "2024年度办公设备采购",
        (_, "industry") => "互联网",
        (Module::Contacts, "phone") => "13800138000",
        (_, "phone") => "13812345678",
        (_, "owner") => "张伟",
        (_, "level") => "VIP",
        (_, "follow_up_status") => "待跟进",
        (_, "address") => "北京市海淀区中关村大街1号",
        (_, "contract_amount") => "128000.50",
        (_, "amount") => "500000.00",
        (_, "follow_up_notes") => "首次拜访，客户有采购意向",
        (_, "remarks") => "重点客户",
        (_, "created_at") => "2023-10-01",
        (_, "expected_close_date") => "2024-06-30",
        (_, "title") => "采购经理",
        (_, "email") => "wang.fang@example.com",
        (_, "is_primary") => "是",
        (_, "stage") => "方案报价",
        _ => "",
    }
}

/// The fill-in rule of a field, with an example: the header note of the template and the
/// instructions sheet's last column.
pub fn rule(module: Module, field: &FieldDef, locale: Locale) -> String {
    let mut parts: Vec<String> = Vec::new();
    parts.push(if field.required {
        locale.pick("必填".to_owned(), "Required".to_owned())
    } else {
        locale.pick("选填".to_owned(), "Optional".to_owned())
    });
    let specific = match field.kind {
        FieldKind::Code => {
            let unique = if field.key == "code" {
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
        FieldKind::Text if matches!(field.key, "name" | "owner") => locale.pick(
            "填写全称；不能包含 ! ` # 等特殊字符".to_owned(),
            "the full name; special characters ! ` # are not allowed".to_owned(),
        ),
        FieldKind::Text => locale.pick(
            "自由文本，可换行".to_owned(),
            "free text; line breaks allowed".to_owned(),
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
        FieldKind::Amount => locale.pick(
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
        FieldKind::YesNo => locale.pick("填“是”或“否”".to_owned(), "是 (yes) or 否 (no)".to_owned()),
    };
    parts.push(specific);
    if !matches!(
        field.kind,
        FieldKind::Enum(_) | FieldKind::YesNo | FieldKind::Date | FieldKind::Amount
    ) {
        parts.push(locale.pick(
            format!("最长 {} 个字符", field.max_len),
            format!("at most {} characters", field.max_len),
        ));
    }
    parts.push(locale.pick(
        format!("例：{}", example(module, field)),
        format!("e.g. {}", example(module, field)),
    ));
    parts.join(locale.pick("；", "; "))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_field_has_an_example_and_a_rule() {
        for module in Module::ALL {
            for field in module.fields() {
                assert!(!example(module, field).is_empty(), "{module}.{}", field.key);
                let zh = rule(module, field, Locale::ZhCn);
                assert!(
                    zh.starts_with(if field.required { "必填" } else { "选填" }),
                    "{zh}"
                );
            }
        }
        let level = Module::Customers.field("level").unwrap();
        assert_eq!(
            rule(Module::Customers, level, Locale::ZhCn),
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
                .map(|f| Value::Text(example(module, f).to_owned()))
                .collect();
            assert!(
                validator.validate(&row).is_ok(),
                "{module}: {:?}",
                validator.validate(&row)
            );
        }
    }
}
