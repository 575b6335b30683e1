//! Row validation: the vendor guide's value rules turn a row of [`Value`]s into a typed
//! [`Record`], or into the list of everything wrong with it.
//!
//! Every cell of a row is checked, so one pass tells the user all problems of the row. Each
//! problem is a [`RowIssue`] with the column label as written in the file, the field, an
//! [`ErrorCode`], the value as read and a message in the requested [`Locale`] that says how to
//! fix it. Checks, per cell, in order: a formula (an xlsx formula cell, or text starting with
//! `=` that is not the export escape `'=`) is FORMULA_NOT_ALLOWED; an empty required field is
//! REQUIRED_MISSING; `!` `` ` `` `#` in codes, names and owners, and control characters anywhere
//! (line breaks are allowed in addresses, notes and remarks) are FORBIDDEN_CHARACTER; then the
//! field kind's format (code characters, dates `YYYY-MM-DD` or real date cells and nothing
//! guessed, amounts exact with at most two decimals and not negative, enum choices, e-mail,
//! phone, 是/否) and the length limit.

use chrono::NaiveDate;

use crate::header::HeaderMapping;
use crate::record::{FieldValue, Record};
use crate::text::{strip_export_escape, was_escaped};
use crate::value::{Value, float_text};
use crate::{ErrorCode, FieldDef, FieldKind, Locale, Module};

pub use crate::record::format_cents;

/// The largest amount accepted, in cents: 9 999 999 999 999.99. Amounts up to 15 significant
/// digits survive a round trip through a spreadsheet's binary floating point exactly.
pub const MAX_AMOUNT_CENTS: i64 = 999_999_999_999_999;

/// One problem in one cell (or, with an empty `field`, in the row as a whole).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RowIssue {
    /// The column's header label as written in the file; empty for row-level problems.
    pub column: String,
    /// The field key; empty for row-level problems.
    pub field: &'static str,
    pub code: ErrorCode,
    /// What is wrong and how to fix it, in the requested locale.
    pub message: String,
    /// The offending value as read.
    pub value: String,
}

/// A field's value after its checks.
#[derive(Debug, Clone, PartialEq)]
enum Parsed {
    Empty,
    Text(String),
    /// The cell's own text, moved out of it.
    Taken,
    Cents(i64),
    Date(NaiveDate),
    Bool(bool),
}

/// Validates the rows of one file against a header mapping.
#[derive(Debug, Clone)]
pub struct RowValidator {
    mapping: HeaderMapping,
    locale: Locale,
    /// Each mapped column's position in the module's fields.
    targets: Vec<usize>,
    /// What a blank cell does to a stored value. A field a record stream does not name (a
    /// column with no index) is kept whatever this says.
    blanks: crate::BlankCells,
    /// Per mapped column: the job's default for an empty value.
    defaults: Vec<Option<Value>>,
}

/// A per-job default that does not fit its field (see [`check_default`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadDefault {
    /// The field as the user named it.
    pub field: String,
    /// What is wrong and how to fix it.
    pub message: String,
}

/// Checks a per-job default (`--default FIELD=VALUE`) for `module`: the field is named by key
/// or template label, is not the business key, and the value passes the field's own rules.
pub fn check_default(
    module: Module,
    field: &str,
    value: &str,
    locale: Locale,
) -> Result<&'static FieldDef, BadDefault> {
    let bad = |message: String| BadDefault {
        field: field.to_owned(),
        message,
    };
    let Some(def) = crate::header::field_for_label(module, field) else {
        let keys: Vec<&str> = module.fields().iter().map(|f| f.key).collect();
        return Err(bad(locale.pick(
            format!("{module}没有字段“{field}”；可用字段：{}", keys.join(", ")),
            format!(
                "{module} have no field '{field}'; the fields are {}",
                keys.join(", ")
            ),
        )));
    };
    if def.kind == FieldKind::Code {
        return Err(bad(locale.pick(
            format!("{}是每条记录的唯一编号，不能设默认值", locale.label(def)),
            format!(
                "{} is each record's unique key and cannot have a default",
                locale.label(def)
            ),
        )));
    }
    let mut cell = Value::Text(value.to_owned());
    if cell.is_blank() {
        return Err(bad(locale.pick(
            format!(
                "{}的默认值为空；请给出一个值，例如“{}”",
                locale.label(def),
                def.example
            ),
            format!(
                "the default for {} is empty; give a value, e.g. \"{}\"",
                locale.label(def),
                def.example
            ),
        )));
    }
    match check_cell(def, locale.label(def), &mut cell, locale) {
        Ok(_) => Ok(def),
        Err(issue) => Err(bad(locale.pick(
            format!("默认值不合规：{}", issue.message),
            format!("the default is not valid: {}", issue.message),
        ))),
    }
}

impl RowValidator {
    pub fn new(mapping: HeaderMapping, locale: Locale) -> RowValidator {
        let module = mapping.module;
        // Mapped columns are fields of the mapping's module by construction.
        let targets = mapping
            .columns
            .iter()
            .map(|c| module.position(c.field.key).unwrap_or(0))
            .collect();
        let defaults = vec![None; mapping.columns.len()];
        RowValidator {
            mapping,
            locale,
            targets,
            blanks: crate::BlankCells::Clear,
            defaults,
        }
    }

    /// With [`BlankCells::Keep`](crate::BlankCells::Keep), a blank cell marks its field kept,
    /// so that an update leaves the stored value alone.
    pub fn with_blank_cells(mut self, blanks: crate::BlankCells) -> RowValidator {
        self.blanks = blanks;
        self
    }

    /// Fills `field → value` into every row where the field is empty, before the checks (the
    /// values were checked with [`check_default`]).
    pub fn with_defaults<'a>(
        mut self,
        defaults: impl IntoIterator<Item = (&'a str, &'a str)>,
    ) -> RowValidator {
        for (key, value) in defaults {
            if let Some(i) = self.mapping.columns.iter().position(|c| c.field.key == key) {
                self.defaults[i] = Some(Value::Text(value.to_owned()));
            }
        }
        self
    }

    pub fn mapping(&self) -> &HeaderMapping {
        &self.mapping
    }

    pub fn locale(&self) -> Locale {
        self.locale
    }

    /// The typed record of a row (cells in file order), or every problem found in it.
    pub fn validate(&self, cells: &[Value]) -> Result<Record, Vec<RowIssue>> {
        self.validate_owned(cells.to_vec()).map_err(|(issues, _)| issues)
    }

    /// Like [`RowValidator::validate`], but takes the cells, so that text moves into the record
    /// without a copy. On failure it also returns the row as display text in template order
    /// (for the error file).
    pub fn validate_owned(&self, mut cells: Vec<Value>) -> Result<Record, (Vec<RowIssue>, Vec<String>)> {
        let mut issues = Vec::new();
        let mut parsed = Vec::with_capacity(self.mapping.columns.len());
        for (column, default) in self.mapping.columns.iter().zip(&self.defaults) {
            let mut absent = Value::Null;
            let value = match cells.get_mut(column.index) {
                Some(v) => v,
                None => &mut absent,
            };
            if let Some(default) = default
                && value.is_blank()
            {
                *value = default.clone();
            } else if column.index == usize::MAX {
                // A field the record stream does not name: kept, never checked.
                parsed.push(Parsed::Empty);
                continue;
            }
            match check_cell(column.field, &column.label, value, self.locale) {
                Ok(p) => parsed.push(p),
                Err(issue) => {
                    issues.push(issue);
                    parsed.push(Parsed::Empty);
                }
            }
        }
        if !issues.is_empty() {
            let raw = self
                .mapping
                .columns
                .iter()
                .zip(&parsed)
                .map(|(column, p)| match p {
                    Parsed::Text(s) => s.clone(),
                    Parsed::Cents(c) => format_cents(*c),
                    Parsed::Date(d) => d.format("%Y-%m-%d").to_string(),
                    Parsed::Bool(b) => if *b { "是" } else { "否" }.to_owned(),
                    Parsed::Empty | Parsed::Taken => {
                        cells.get(column.index).map(Value::display).unwrap_or_default()
                    }
                })
                .collect();
            return Err((issues, raw));
        }
        Ok(self.build(parsed))
    }

    /// Assembles a record from parsed values, one per mapped column. Required fields were
    /// checked.
    fn build(&self, parsed: Vec<Parsed>) -> Record {
        let mut record = Record::new(self.mapping.module);
        for ((&index, column), p) in self.targets.iter().zip(&self.mapping.columns).zip(parsed) {
            let keep = column.index == usize::MAX || self.blanks == crate::BlankCells::Keep;
            let value = match p {
                Parsed::Text(s) => Some(FieldValue::Text(s)),
                Parsed::Cents(c) => Some(FieldValue::Cents(c)),
                Parsed::Date(d) => Some(FieldValue::Date(d)),
                Parsed::Bool(b) => Some(FieldValue::Bool(b)),
                Parsed::Empty | Parsed::Taken if keep => {
                    record.keep_stored(index);
                    continue;
                }
                Parsed::Empty | Parsed::Taken => None,
            };
            record.put_at(index, value);
        }
        record
    }
}

/// Fields where `!` `` ` `` `#` are refused (the guide: codes, names and owners).
fn forbids_specials(field: &FieldDef) -> bool {
    matches!(field.kind, FieldKind::Code) || field.plain_name
}

/// Free-text fields where line breaks and tabs are data.
fn allows_line_breaks(field: &FieldDef) -> bool {
    field.multiline
}

/// Checks one cell for its field.
fn check_cell(
    field: &'static FieldDef,
    label: &str,
    value: &mut Value,
    locale: Locale,
) -> Result<Parsed, RowIssue> {
    let issue = |code: ErrorCode, message: String, raw: String| RowIssue {
        column: label.to_owned(),
        field: field.key,
        code,
        message,
        value: raw,
    };
    let name = locale.label(field);

    // Formulas first: their cached value must never be imported.
    let is_formula = match value {
        Value::Formula(_) => true,
        Value::Text(s) => s.trim_start().starts_with('=') && !was_escaped(s),
        _ => false,
    };
    if is_formula {
        let raw = value.display();
        return Err(issue(
            ErrorCode::FormulaNotAllowed,
            locale.pick(
                format!("{name}是公式“{raw}”，不允许导入公式；请在Excel中复制后“粘贴为数值”再导入"),
                format!("{name} holds the formula \"{raw}\"; formulas are not imported. In Excel, copy the column and paste it back as values"),
            ),
            raw.clone(),
        ));
    }

    if value.is_blank() {
        if field.required {
            return Err(issue(
                ErrorCode::RequiredMissing,
                locale.pick(
                    format!("{name}为必填项，不能为空，请填写"),
                    format!("{name} is required; fill it in"),
                ),
                value.display(),
            ));
        }
        return Ok(Parsed::Empty);
    }

    // The text the checks below look at: the export escape removed, and (except for free text)
    // surrounding blanks trimmed.
    // Moved out of the cell when it needs no change (the common case, and no copy); the
    // cell is restored if a check below fails, so the error shows what was read.
    let (text, moved): (String, bool) = match &mut *value {
        Value::Text(s) => {
            let stripped = strip_export_escape(s);
            let kept = if matches!(field.kind, FieldKind::Text) {
                stripped
            } else {
                stripped.trim()
            };
            if kept.len() == s.len() {
                (std::mem::take(s), true)
            } else {
                (kept.to_owned(), false)
            }
        }
        other => (other.display(), false),
    };
    match check_text(field, name, &text, value, locale) {
        Ok(Parsed::Taken) => Ok(Parsed::Text(text)),
        Ok(parsed) => Ok(parsed),
        Err((code, message)) => {
            if moved {
                *value = Value::Text(text);
            }
            Err(issue(code, message, value.display()))
        }
    }
}

/// The checks on a cell's text: characters, the field kind's format, the length.
/// `Parsed::Taken` means "the text itself".
fn check_text(
    field: &'static FieldDef,
    name: &str,
    text: &str,
    value: &Value,
    locale: Locale,
) -> Result<Parsed, (ErrorCode, String)> {
    let issue = |code: ErrorCode, message: String| (code, message);

    if let Some(bad) = text.chars().find(|c| {
        (c.is_control() && !(allows_line_breaks(field) && matches!(c, '\n' | '\r' | '\t')))
            || (forbids_specials(field) && matches!(c, '!' | '`' | '#'))
    }) {
        let shown = if bad.is_control() {
            format!("U+{:04X}", bad as u32)
        } else {
            bad.to_string()
        };
        return Err(issue(
            ErrorCode::ForbiddenCharacter,
            locale.pick(
                format!("{name}含有不允许的字符“{shown}”，请删除该字符"),
                format!("{name} contains the character \"{shown}\", which is not allowed; remove it"),
            ),
        ));
    }

    let parsed = match field.kind {
        FieldKind::Text => Parsed::Taken,
        FieldKind::Code => {
            if !text
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
            {
                return Err(issue(
                    ErrorCode::InvalidFormat,
                    locale.pick(
                        format!("{name}“{text}”只能包含字母、数字、“-”和“_”，例如 CUST20231001001"),
                        format!("{name} \"{text}\" may contain only letters, digits, '-' and '_', e.g. CUST20231001001"),
                    ),
                ));
            }
            Parsed::Taken
        }
        FieldKind::Phone => {
            let digits = text.chars().filter(char::is_ascii_digit).count();
            let allowed = |c: char| c.is_ascii_digit() || matches!(c, ' ' | '+' | '-' | '(' | ')' | '转');
            if !text.chars().all(allowed) || digits < 3 {
                return Err(issue(
                    ErrorCode::InvalidFormat,
                    locale.pick(
                        format!("{name}“{text}”不是有效的电话号码：只能包含数字、空格、+、-、括号和“转”，例如 13812345678 或 010-12345678"),
                        format!("{name} \"{text}\" is not a phone number: use digits, spaces, + - ( ) only, e.g. 13812345678 or +86 10 1234 5678"),
                    ),
                ));
            }
            Parsed::Taken
        }
        FieldKind::Email => {
            let valid = match text.split_once('@') {
                Some((local, domain)) => {
                    !local.is_empty()
                        && domain.contains('.')
                        && !domain.starts_with('.')
                        && !domain.ends_with('.')
                        && !domain.contains('@')
                        && !text.chars().any(char::is_whitespace)
                }
                None => false,
            };
            if !valid {
                return Err(issue(
                    ErrorCode::InvalidFormat,
                    locale.pick(
                        format!("{name}“{text}”不是有效的邮箱地址，例如 zhang.wei@example.com"),
                        format!("{name} \"{text}\" is not an e-mail address, e.g. zhang.wei@example.com"),
                    ),
                ));
            }
            Parsed::Taken
        }
        FieldKind::Enum(choices) => {
            let found = choices.iter().find(|c| c.eq_ignore_ascii_case(text));
            match found {
                Some(choice) => Parsed::Text((*choice).to_owned()),
                None => {
                    let list = choices.join(locale.pick("、", ", "));
                    return Err(issue(
                        ErrorCode::InvalidEnum,
                        locale.pick(
                            format!("{name}“{text}”不是可选值，请从下拉列表中选择：{list}"),
                            format!("{name} \"{text}\" is not one of the allowed values: {list}"),
                        ),
                    ));
                }
            }
        }
        FieldKind::Bool => {
            let yes_no = match value {
                Value::Bool(b) => Some(*b),
                Value::Int(1) => Some(true),
                Value::Int(0) => Some(false),
                _ => match text.to_ascii_lowercase().as_str() {
                    "是" | "y" | "yes" | "true" | "1" => Some(true),
                    "否" | "n" | "no" | "false" | "0" => Some(false),
                    _ => None,
                },
            };
            match yes_no {
                Some(b) => Parsed::Bool(b),
                None => {
                    return Err(issue(
                        ErrorCode::InvalidEnum,
                        locale.pick(
                            format!("{name}“{text}”只能填“是”或“否”"),
                            format!("{name} \"{text}\" must be 是 (yes) or 否 (no)"),
                        ),
                    ));
                }
            }
        }
        FieldKind::Date => match value {
            Value::Date(d) => Parsed::Date(*d),
            Value::DateTime(t) => Parsed::Date(t.date()),
            Value::Text(_) => match parse_date(text) {
                Some(d) => Parsed::Date(d),
                None => {
                    return Err(issue(
                        ErrorCode::InvalidDate,
                        locale.pick(
                            format!("{name}“{text}”不是有效日期，请使用 YYYY-MM-DD 格式，例如 2023-10-01"),
                            format!("{name} \"{text}\" is not a valid date; use YYYY-MM-DD, e.g. 2023-10-01"),
                        ),
                    ));
                }
            },
            _ => {
                return Err(issue(
                    ErrorCode::InvalidDate,
                    locale.pick(
                        format!("{name}“{text}”是数字而不是日期，请把单元格设为日期格式或填写 YYYY-MM-DD"),
                        format!("{name} \"{text}\" is a number, not a date; format the cell as a date or type YYYY-MM-DD"),
                    ),
                ));
            }
        },
        FieldKind::Decimal => {
            let cents = match value {
                Value::Int(v) => v.checked_mul(100).ok_or(AmountProblem::TooLarge),
                Value::Float(v) => parse_amount(&float_text(*v)),
                Value::Text(_) => parse_amount(text),
                _ => Err(AmountProblem::NotANumber),
            }
            .and_then(|c| {
                if c > MAX_AMOUNT_CENTS {
                    Err(AmountProblem::TooLarge)
                } else {
                    Ok(c)
                }
            })
            .and_then(|c| {
                if c < 0 {
                    Err(AmountProblem::Negative)
                } else {
                    Ok(c)
                }
            });
            match cents {
                Ok(c) => Parsed::Cents(c),
                Err(problem) => {
                    let max = format_cents(MAX_AMOUNT_CENTS);
                    let why = match problem {
                        AmountProblem::NotANumber => locale.pick(
                            "不是有效金额，请填写数字，最多两位小数，例如 12800.50".to_owned(),
                            "is not an amount; type a number with at most two decimals, e.g. 12800.50"
                                .to_owned(),
                        ),
                        AmountProblem::TooManyDecimals => locale.pick(
                            "最多只能有两位小数（精确到分）".to_owned(),
                            "has more than two decimals; amounts are exact to the cent".to_owned(),
                        ),
                        AmountProblem::Negative => {
                            locale.pick("不能为负数".to_owned(), "must not be negative".to_owned())
                        }
                        AmountProblem::TooLarge => locale.pick(
                            format!("超过上限 {max}"),
                            format!("is larger than the maximum {max}"),
                        ),
                    };
                    return Err(issue(
                        ErrorCode::InvalidNumber,
                        locale.pick(format!("{name}“{text}”{why}"), format!("{name} \"{text}\" {why}")),
                    ));
                }
            }
        }
    };

    if let Parsed::Taken = &parsed {
        let len = text.chars().count();
        if len > field.max_len {
            let max = field.max_len;
            return Err(issue(
                ErrorCode::ValueTooLong,
                locale.pick(
                    format!("{name}过长：最多 {max} 个字符，当前 {len} 个，请删减"),
                    format!("{name} is too long: at most {max} characters, this one has {len}; shorten it"),
                ),
            ));
        }
    }
    Ok(parsed)
}

/// `YYYY-MM-DD` exactly, and a real calendar date.
pub(crate) fn parse_date(s: &str) -> Option<NaiveDate> {
    let b = s.as_bytes();
    if b.len() != 10 || b[4] != b'-' || b[7] != b'-' {
        return None;
    }
    let num = |r: std::ops::Range<usize>| -> Option<u32> {
        let part = &s[r];
        part.bytes()
            .all(|c| c.is_ascii_digit())
            .then(|| part.parse().ok())
            .flatten()
    };
    NaiveDate::from_ymd_opt(num(0..4)? as i32, num(5..7)?, num(8..10)?)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum AmountProblem {
    NotANumber,
    TooManyDecimals,
    Negative,
    TooLarge,
}

/// An exact decimal amount in cents: `12800`, `12800.5`, `12,800.50`, `¥12,800.50`. No exponent,
/// no guessing.
pub(crate) fn parse_amount(s: &str) -> Result<i64, AmountProblem> {
    let s = s.trim();
    let s = s.strip_prefix(['¥', '￥']).unwrap_or(s).trim_start();
    let (negative, s) = match s.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, s.strip_prefix('+').unwrap_or(s)),
    };
    let (int_part, frac_part) = match s.split_once('.') {
        Some((i, f)) => (i, Some(f)),
        None => (s, None),
    };
    let int_digits: String = if int_part.contains(',') {
        // Thousands separators must be real ones: 1,234,567.
        let groups: Vec<&str> = int_part.split(',').collect();
        let well_formed =
            !groups[0].is_empty() && groups[0].len() <= 3 && groups[1..].iter().all(|g| g.len() == 3);
        if !well_formed {
            return Err(AmountProblem::NotANumber);
        }
        groups.concat()
    } else {
        int_part.to_owned()
    };
    let frac = frac_part.unwrap_or("");
    let digits_ok = |d: &str| d.bytes().all(|c| c.is_ascii_digit());
    if (int_digits.is_empty() && frac.is_empty()) || !digits_ok(&int_digits) || !digits_ok(frac) {
        return Err(AmountProblem::NotANumber);
    }
    if frac_part.is_some_and(str::is_empty) && int_digits.is_empty() {
        return Err(AmountProblem::NotANumber);
    }
    // Trailing zeros beyond the cents are exact: 1.500 is 1.50.
    let frac = frac.trim_end_matches('0');
    if frac.len() > 2 {
        return Err(AmountProblem::TooManyDecimals);
    }
    let int_value: i64 = if int_digits.is_empty() {
        0
    } else {
        int_digits.trim_start_matches('0').parse::<i64>().or_else(|_| {
            if int_digits.trim_start_matches('0').is_empty() {
                Ok(0)
            } else {
                Err(AmountProblem::TooLarge)
            }
        })?
    };
    let frac_value: i64 = format!("{frac:0<2}")
        .parse()
        .map_err(|_| AmountProblem::NotANumber)?;
    let cents = int_value
        .checked_mul(100)
        .and_then(|c| c.checked_add(frac_value))
        .ok_or(AmountProblem::TooLarge)?;
    if negative && cents != 0 {
        return Err(AmountProblem::Negative);
    }
    Ok(cents)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::header::{map_header, template_header};

    fn validator(module: Module, locale: Locale) -> RowValidator {
        let header: Vec<String> = template_header(module, Locale::ZhCn)
            .into_iter()
            .map(str::to_owned)
            .collect();
        RowValidator::new(map_header(module, &header).unwrap(), locale)
    }

    fn text(s: &str) -> Value {
        if s.is_empty() {
            Value::Null
        } else {
            Value::Text(s.to_owned())
        }
    }

    fn customer_row(cells: [&str; 12]) -> Vec<Value> {
        cells.iter().map(|s| text(s)).collect()
    }

    const GOOD: [&str; 12] = [
        "CUST20231001001",
        "北京星辰科技有限公司",
        "互联网",
        "13812345678",
        "张伟",
        "VIP",
        "待跟进",
        "北京市海淀区中关村大街1号",
        "128000.50",
        "首次拜访，对方有采购意向",
        "",
        "2023-10-01",
    ];

    #[test]
    fn blank_cells_keep_or_clear_and_defaults_fill_them() {
        let mut row = GOOD;
        row[2] = ""; // 所属行业
        row[4] = ""; // 负责人 (required)
        let industry = Module::Customers.index_of("industry");
        // Without a default the required owner is missing.
        assert!(
            validator(Module::Customers, Locale::En)
                .validate(&customer_row(row))
                .is_err()
        );
        let with_owner = || validator(Module::Customers, Locale::En).with_defaults([("owner", "李娜")]);
        let cleared = with_owner().validate(&customer_row(row)).unwrap();
        assert_eq!(cleared.text("owner"), Some("李娜"));
        assert!(
            !cleared.keeps_stored(industry),
            "blank cells clear unless the job keeps them"
        );
        let kept = with_owner()
            .with_blank_cells(crate::BlankCells::Keep)
            .validate(&customer_row(row))
            .unwrap();
        assert!(kept.keeps_stored(industry));
        // A filled cell is never replaced by the default.
        let full = with_owner().validate(&customer_row(GOOD)).unwrap();
        assert_eq!(full.text("owner"), Some("张伟"));
    }

    #[test]
    fn defaults_are_checked_against_their_field() {
        let m = Module::Customers;
        assert_eq!(
            check_default(m, "owner", "张伟", Locale::En).unwrap().key,
            "owner"
        );
        assert_eq!(
            check_default(m, "客户等级", "VIP", Locale::En).unwrap().key,
            "level"
        );
        let bad = check_default(m, "level", "钻石", Locale::En).unwrap_err();
        assert!(bad.message.contains("VIP"), "{bad:?}");
        let unknown = check_default(m, "wechat", "x", Locale::En).unwrap_err();
        assert!(
            unknown.message.contains("the fields are code, name"),
            "{unknown:?}"
        );
        assert!(check_default(m, "code", "C1", Locale::En).is_err());
        assert!(check_default(m, "owner", " ", Locale::En).is_err());
        assert!(check_default(m, "contract_amount", "-1", Locale::En).is_err());
    }

    #[test]
    fn a_good_customer_row_becomes_a_typed_record() {
        let record = validator(Module::Customers, Locale::ZhCn)
            .validate(&customer_row(GOOD))
            .unwrap();
        assert_eq!(record.code(), "CUST20231001001");
        assert_eq!(
            record.get("contract_amount"),
            Some(&FieldValue::Cents(12_800_050))
        );
        assert_eq!(
            record.get("created_at"),
            NaiveDate::from_ymd_opt(2023, 10, 1)
                .map(FieldValue::Date)
                .as_ref()
        );
        assert_eq!(record.get("remarks"), None);
        assert_eq!(
            record.display_values()[Module::Customers.index_of("contract_amount")],
            "128000.50"
        );
    }

    fn issues(module: Module, locale: Locale, cells: Vec<Value>) -> Vec<RowIssue> {
        validator(module, locale).validate(&cells).unwrap_err()
    }

    fn one_issue(cells: Vec<Value>) -> RowIssue {
        let mut all = issues(Module::Customers, Locale::ZhCn, cells);
        assert_eq!(all.len(), 1, "{all:?}");
        all.remove(0)
    }

    fn with(index: usize, value: Value) -> Vec<Value> {
        let mut row = customer_row(GOOD);
        row[index] = value;
        row
    }

    #[test]
    fn every_rule_has_its_code_and_a_message_that_says_how_to_fix_it() {
        let cases: Vec<(usize, Value, ErrorCode, &str)> = vec![
            (0, Value::Null, ErrorCode::RequiredMissing, "客户编号为必填项"),
            (4, text("   "), ErrorCode::RequiredMissing, "负责人为必填项"),
            (0, text("CUST 1"), ErrorCode::InvalidFormat, "只能包含字母、数字"),
            (
                0,
                text("CUST#1"),
                ErrorCode::ForbiddenCharacter,
                "不允许的字符“#”",
            ),
            (1, text("星辰!科技"), ErrorCode::ForbiddenCharacter, "“!”"),
            (4, text("张`伟"), ErrorCode::ForbiddenCharacter, "“`”"),
            (1, text("星辰\u{7}科技"), ErrorCode::ForbiddenCharacter, "U+0007"),
            (1, text("星辰\n科技"), ErrorCode::ForbiddenCharacter, "U+000A"),
            (2, text("航天"), ErrorCode::InvalidEnum, "请从下拉列表中选择"),
            (5, text("SVIP"), ErrorCode::InvalidEnum, "VIP、重要、普通"),
            (6, text("已签约"), ErrorCode::InvalidEnum, "待跟进"),
            (3, text("138-abc"), ErrorCode::InvalidFormat, "不是有效的电话号码"),
            (8, text("12.345"), ErrorCode::InvalidNumber, "最多只能有两位小数"),
            (8, text("-5"), ErrorCode::InvalidNumber, "不能为负数"),
            (8, text("一万"), ErrorCode::InvalidNumber, "不是有效金额"),
            (8, text("1,00.00"), ErrorCode::InvalidNumber, "不是有效金额"),
            (
                8,
                text("10000000000000.00"),
                ErrorCode::InvalidNumber,
                "超过上限 9999999999999.99",
            ),
            (8, Value::Float(0.1 + 0.2), ErrorCode::InvalidNumber, "两位小数"),
            (11, text("2023/10/01"), ErrorCode::InvalidDate, "YYYY-MM-DD"),
            (11, text("2023-02-30"), ErrorCode::InvalidDate, "不是有效日期"),
            (11, text("01-10-2023"), ErrorCode::InvalidDate, "不是有效日期"),
            (11, Value::Int(45200), ErrorCode::InvalidDate, "是数字而不是日期"),
            (
                1,
                text("=HYPERLINK(\"x\")"),
                ErrorCode::FormulaNotAllowed,
                "粘贴为数值",
            ),
            (
                9,
                Value::Formula("=A1".into()),
                ErrorCode::FormulaNotAllowed,
                "不允许导入公式",
            ),
            (
                1,
                text(&"长".repeat(201)),
                ErrorCode::ValueTooLong,
                "最多 200 个字符，当前 201 个",
            ),
        ];
        for (index, value, code, fragment) in cases {
            let issue = one_issue(with(index, value.clone()));
            assert_eq!(issue.code, code, "{value:?}: {issue:?}");
            assert!(issue.message.contains(fragment), "{value:?}: {}", issue.message);
            assert_eq!(issue.column, Module::Customers.fields()[index].label_zh);
            assert_eq!(issue.value, value.display());
        }
    }

    #[test]
    fn english_messages() {
        let all = issues(Module::Customers, Locale::En, with(5, text("Gold")));
        assert_eq!(
            all[0].message,
            "Level \"Gold\" is not one of the allowed values: VIP, 重要, 普通"
        );
        let all = issues(Module::Customers, Locale::En, with(0, Value::Null));
        assert_eq!(all[0].message, "Customer Code is required; fill it in");
    }

    #[test]
    fn all_problems_of_a_row_are_reported_together() {
        let mut row = customer_row(GOOD);
        row[0] = Value::Null;
        row[5] = text("SVIP");
        row[11] = text("tomorrow");
        let all = issues(Module::Customers, Locale::ZhCn, row);
        let codes: Vec<ErrorCode> = all.iter().map(|i| i.code).collect();
        assert_eq!(
            codes,
            [
                ErrorCode::RequiredMissing,
                ErrorCode::InvalidEnum,
                ErrorCode::InvalidDate
            ]
        );
    }

    #[test]
    fn typed_cells_and_lenient_but_exact_forms() {
        let v = validator(Module::Customers, Locale::ZhCn);
        let mut row = customer_row(GOOD);
        row[0] = Value::Int(1001); // a code Excel turned into a number
        row[3] = Value::Float(13_812_345_678.0); // a phone number read as a float
        row[5] = text(" vip ");
        row[8] = Value::Float(1234.5);
        row[11] = Value::Date(NaiveDate::from_ymd_opt(2024, 2, 29).unwrap());
        let c = v.validate(&row).unwrap();
        assert_eq!(c.code(), "1001");
        assert_eq!(c.text("phone"), Some("13812345678"));
        assert_eq!(c.text("level"), Some("VIP"));
        assert_eq!(c.get("contract_amount"), Some(&FieldValue::Cents(123_450)));

        for (input, cents) in [
            ("0", 0),
            ("12,800.50", 1_280_050),
            ("¥1,234", 123_400),
            ("1.500", 150),
            (".5", 50),
            ("9999999999999.99", MAX_AMOUNT_CENTS),
        ] {
            assert_eq!(parse_amount(input), Ok(cents), "{input}");
        }
        assert_eq!(parse_amount("1e5"), Err(AmountProblem::NotANumber));
        assert_eq!(parse_amount("."), Err(AmountProblem::NotANumber));
        assert_eq!(parse_amount("99999999999999999999"), Err(AmountProblem::TooLarge));
        assert_eq!(format_cents(MAX_AMOUNT_CENTS), "9999999999999.99");
        assert_eq!(format_cents(5), "0.05");
    }

    #[test]
    fn the_export_escape_is_stripped_and_escaped_text_is_not_a_formula() {
        let v = validator(Module::Customers, Locale::ZhCn);
        let mut row = customer_row(GOOD);
        row[3] = text("'+86 138 1234 5678");
        row[9] = text("'=SUM(A1:A3) is what they typed");
        row[10] = text("''=kept quote");
        row[7] = text("第一行\n第二行");
        let c = v.validate(&row).unwrap();
        assert_eq!(c.text("phone"), Some("+86 138 1234 5678"));
        assert_eq!(c.text("follow_up_notes"), Some("=SUM(A1:A3) is what they typed"));
        assert_eq!(c.text("remarks"), Some("'=kept quote"));
        assert_eq!(c.text("address"), Some("第一行\n第二行"));
    }

    #[test]
    fn contact_and_opportunity_rules() {
        let v = validator(Module::Contacts, Locale::ZhCn);
        let row = |email: &str, primary: Value| {
            vec![
                text("CON1"),
                text("CUST1"),
                text("王芳"),
                Value::Null,
                text("13800000000"),
                text(email),
                primary,
                Value::Null,
            ]
        };
        let c = v.validate(&row("wang@example.com", text("是"))).unwrap();
        assert_eq!(c.get("is_primary"), Some(&FieldValue::Bool(true)));
        let c = v.validate(&row("", Value::Bool(false))).unwrap();
        assert_eq!(
            (c.get("email"), c.get("is_primary")),
            (None, Some(&FieldValue::Bool(false)))
        );
        let all = v.validate(&row("wang@", text("也许"))).unwrap_err();
        assert_eq!(
            all.iter().map(|i| i.code).collect::<Vec<_>>(),
            [ErrorCode::InvalidFormat, ErrorCode::InvalidEnum]
        );
        assert!(all[1].message.contains("只能填“是”或“否”"));

        let v = validator(Module::Opportunities, Locale::En);
        let row = vec![
            text("OPP1"),
            Value::Null,
            text("年度采购"),
            text("赢单"),
            text("5000"),
            text("2024-12-31"),
            Value::Null,
            Value::Null,
        ];
        let all = v.validate(&row).unwrap_err();
        assert_eq!(all.len(), 1);
        assert_eq!(
            (all[0].code, all[0].field),
            (ErrorCode::RequiredMissing, "customer_code")
        );
        assert_eq!(all[0].message, "Customer Code is required; fill it in");
    }
}
