//! Row messages that need the database (duplicates, missing records, unknown references) or the
//! reader (encoding, malformed rows). The value rules' messages live beside the rules in
//! [`crate::validate`]; together they are every row message, in zh-CN and en.

use crate::{Locale, Module};

/// The code's label in the module's template, e.g. 客户编号 / Customer Code.
fn code_label(module: Module, locale: Locale) -> &'static str {
    locale.label(&module.fields()[0])
}

/// A code that appears twice in one file (the later row is skipped).
pub fn duplicate_in_file(module: Module, code: &str, first_row: u64, locale: Locale) -> String {
    let label = code_label(module, locale);
    locale.pick(
        format!("{label} {code} 在文件中重复（与第{first_row}行相同），已跳过；请删除重复行或改用不同的编号"),
        format!("{label} {code} appears twice in the file (first in row {first_row}); this row was skipped. Remove the duplicate or give it another code"),
    )
}

/// The `records` value kind a field takes (`text`, `cents`, `date`, `bool`).
pub fn record_value_kind(kind: crate::FieldKind) -> &'static str {
    use crate::FieldKind as K;
    match kind {
        K::Code | K::Text | K::Phone | K::Email | K::Enum(_) => "text",
        K::Decimal => "cents",
        K::Date => "date",
        K::Bool => "bool",
    }
}

/// A `records` value of another kind than its field's.
pub fn wrong_value_kind(field: &crate::FieldDef, found: &str, locale: Locale) -> String {
    let expected = record_value_kind(field.kind);
    let name = locale.label(field);
    locale.pick(
        format!(
            "字段 {}（{name}）需要 {expected} 类型的值，收到的是 {found}；请发送 Value.{expected}",
            field.key
        ),
        format!(
            "field {} ({name}) takes a {expected} value, this record sends {found}; send Value.{expected}",
            field.key
        ),
    )
}

/// A `records` field the module does not have, set in a record.
pub fn unknown_record_field(module: Module, key: &str, locale: Locale) -> String {
    let keys: Vec<&str> = module.fields().iter().map(|f| f.key).collect();
    locale.pick(
        format!("{module}没有字段“{key}”，该值未导入；可用字段：{}（dataport describe {module}）", keys.join(", ")),
        format!("{module} have no field '{key}', so its value cannot be imported; the fields are {} (dataport describe {module})", keys.join(", ")),
    )
}

/// A record with more values than its batch names fields.
pub fn extra_record_values(values: usize, fields: usize, locale: Locale) -> String {
    locale.pick(
        format!("该记录有 {values} 个值，而批次只声明了 {fields} 个字段；请让 values 与 RecordBatch.fields 一一对应"),
        format!("the record has {values} values, the batch names {fields} fields; send one value per field of RecordBatch.fields"),
    )
}

/// INSERT mode: the code exists already (the guide's "客户编号 CUST1001 重复, 已跳过").
pub fn duplicate_key(module: Module, code: &str, locale: Locale) -> String {
    let label = code_label(module, locale);
    locale.pick(
        format!("{label} {code} 重复, 已跳过（系统中已存在；如需更新请使用批量更新模式 upsert）"),
        format!(
            "{label} {code} already exists; skipped. To overwrite existing records, import with mode upsert"
        ),
    )
}

/// UPDATE mode: the code does not exist.
pub fn not_found(module: Module, code: &str, locale: Locale) -> String {
    let label = code_label(module, locale);
    locale.pick(
        format!("{label} {code} 不存在，无法更新；请检查编号，或使用 upsert 模式新建"),
        format!("{label} {code} does not exist, so it cannot be updated; check the code, or import with mode upsert to create it"),
    )
}

/// A contact or opportunity whose customer does not exist.
pub fn unknown_customer(customer_code: &str, locale: Locale) -> String {
    locale.pick(
        format!("客户编号 {customer_code} 不存在；请先导入该客户，或改为已有客户的编号"),
        format!("customer {customer_code} does not exist; import that customer first, or use an existing customer's code"),
    )
}

/// A row the reader could not decode in the file's text encoding.
pub fn encoding(detail: &str, locale: Locale) -> String {
    locale.pick(
        format!("该行含有无法按文件编码解码的字节（{detail}）；请将文件另存为 UTF-8 编码的 CSV，或在导入时指定 encoding 选项"),
        format!("this row holds bytes that are not valid in the file's text encoding ({detail}); save the file as UTF-8 CSV, or pass the encoding option"),
    )
}

/// A row the reader could not parse (ragged row, cell outside the header...).
pub fn malformed_row(detail: &str, locale: Locale) -> String {
    locale.pick(
        format!("该行格式错误（{detail}）；请检查该行的列数与表头一致"),
        format!("this row is malformed ({detail}); make sure it has the same columns as the header"),
    )
}

/// The upload passed the server's byte limit.
pub fn upload_too_large(limit: u64, locale: Locale) -> String {
    locale.pick(
        format!("文件超过上传上限 {limit} 字节（服务器设置 --max-upload-bytes）"),
        format!(
            "the file is larger than the upload limit of {limit} bytes (server setting --max-upload-bytes)"
        ),
    )
}

/// The file has more data rows than one import may.
pub fn too_many_rows(limit: u64, locale: Locale) -> String {
    locale.pick(
        format!("文件超过 {limit} 行的导入上限（服务器设置 --max-import-rows），超出部分未导入；请拆分文件"),
        format!(
            "the file has more than {limit} data rows, the import limit (server setting --max-import-rows); the rest was not imported. Split the file"
        ),
    )
}

/// Appended to a plugin's failure: where reading stopped, if the plugin said (`row`, ABI v2),
/// the last row handed over before, and the rows (`lost`: first, last) the plugin read but never
/// handed over.
pub fn reading_stopped(row: Option<u64>, last_row: u64, lost: Option<(u64, u64)>, locale: Locale) -> String {
    let lost_zh = lost
        .map(|(a, b)| format!("；第{a}–{b}行已被插件读取但未交出，未导入"))
        .unwrap_or_default();
    let lost_en = lost
        .map(|(a, b)| {
            format!("; rows {a}–{b} were read by the plugin but not handed over, so they were not imported")
        })
        .unwrap_or_default();
    let (handed_zh, handed_en) = if last_row <= 1 {
        (
            "尚未交出任何数据行".to_owned(),
            "no data row was handed over".to_owned(),
        )
    } else {
        (
            format!("第{last_row}行及之前已交出，见计数"),
            format!("rows up to {last_row} were handed over, see the counts"),
        )
    };
    match row {
        Some(row) => locale.pick(
            format!("（读取停在第{row}行；{handed_zh}{lost_zh}）"),
            format!(" (reading stopped at row {row}; {handed_en}{lost_en})"),
        ),
        None => locale.pick(
            format!("（{handed_zh}；插件未说明停在哪一行）"),
            format!(" ({handed_en}; the plugin did not say where it stopped)"),
        ),
    }
}

/// An all-or-nothing import with failed rows committed nothing.
pub fn all_or_nothing_failed(failed: u64, locale: Locale) -> String {
    locale.pick(
        format!("{failed} 行有错误，按“全部成功才导入”规则，未导入任何数据"),
        format!("{failed} rows failed, so nothing was imported (all-or-nothing); fix them and import again"),
    )
}

/// The error file's name after the module stem, before the job id: `CRM客户数据_导入错误_任务12`.
pub fn error_file_infix(locale: Locale) -> &'static str {
    locale.pick("导入错误_任务", "import-errors_job")
}

/// The error file's sheet name.
pub fn error_sheet(locale: Locale) -> &'static str {
    locale.pick("错误数据", "errors")
}

/// A workbook (`--module all`) with none of the module sheets.
pub fn workbook_without_module_sheets(sheets: &[[&str; 3]], locale: Locale) -> String {
    let names: Vec<String> = sheets.iter().map(|names| names.join(" / ")).collect();
    locale.pick(
        format!(
            "工作簿中没有可导入的工作表：按模块导入整个工作簿时，工作表须命名为 {}（dataport template all 可下载该工作簿模板）",
            names.join("、")
        ),
        format!(
            "the workbook has no sheet to import: a workbook of all modules names its sheets {} (dataport template all gives that workbook)",
            names.join(", ")
        ),
    )
}

/// A job-level problem of one sheet of a workbook, e.g. its header: the message, prefixed with
/// the sheet.
pub fn in_sheet(sheet: &str, message: &str, locale: Locale) -> String {
    locale.pick(
        format!("工作表「{sheet}」：{message}"),
        format!("sheet '{sheet}': {message}"),
    )
}

/// The 错误原因 cell of a failed row: every problem of the row.
pub fn error_reason(row: i64, reasons: &[&str], locale: Locale) -> String {
    locale.pick(
        format!("第{row}行：{}", reasons.join("；")),
        format!("row {row}: {}", reasons.join("; ")),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_guides_duplicate_message() {
        let zh = duplicate_key(Module::Customers, "CUST1001", Locale::ZhCn);
        assert!(zh.starts_with("客户编号 CUST1001 重复, 已跳过"), "{zh}");
        let en = duplicate_in_file(Module::Contacts, "CON7", 5, Locale::En);
        assert!(
            en.starts_with("Contact Code CON7 appears twice in the file (first in row 5)"),
            "{en}"
        );
    }
}
