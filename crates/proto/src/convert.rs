//! Conversions between the wire enums/filters and `dataport-core`'s domain types.
//!
//! Proto enum value names equal the core words (`HEADER_MISMATCH`, `IMPORT_MODE_INSERT`, ...),
//! so each conversion is one table; a test checks every value both ways.

use chrono::NaiveDate;
use dataport_core as core;

use crate::v1;

/// A request field that cannot be turned into a domain value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvalidField {
    /// The offending field as a dotted path from the message converted (`module`,
    /// `filter.customers.created_at.from`); [`InvalidField::within`] prefixes the parent.
    pub field: String,
    /// What is wrong and how to fix it, for a person.
    pub message: String,
}

impl InvalidField {
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        InvalidField {
            field: field.into(),
            message: message.into(),
        }
    }

    /// The same error for a message nested in `parent` (e.g. `spec` of an ImportRequest).
    pub fn within(self, parent: &str) -> Self {
        InvalidField {
            field: format!("{parent}.{}", self.field),
            message: self.message,
        }
    }
}

impl std::fmt::Display for InvalidField {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for InvalidField {}

/// Wire module → domain module; UNSPECIFIED or unknown numbers are an error.
pub fn module_from_proto(value: i32) -> Result<core::Module, InvalidField> {
    match v1::Module::try_from(value) {
        Ok(v1::Module::Customers) => Ok(core::Module::Customers),
        Ok(v1::Module::Contacts) => Ok(core::Module::Contacts),
        Ok(v1::Module::Opportunities) => Ok(core::Module::Opportunities),
        Ok(v1::Module::All) => Err(InvalidField::new(
            "module",
            "MODULE_ALL is for imports and templates of a whole workbook; this call takes one module: MODULE_CUSTOMERS, MODULE_CONTACTS or MODULE_OPPORTUNITIES",
        )),
        _ => Err(InvalidField::new(
            "module",
            "module is required: MODULE_CUSTOMERS, MODULE_CONTACTS or MODULE_OPPORTUNITIES",
        )),
    }
}

/// One module, or MODULE_ALL for a workbook with a sheet per module (Import, GetTemplate).
pub fn module_scope_from_proto(value: i32) -> Result<core::ModuleScope, InvalidField> {
    match v1::Module::try_from(value) {
        Ok(v1::Module::All) => Ok(core::ModuleScope::Workbook),
        Ok(v1::Module::Unspecified) | Err(_) => Err(InvalidField::new(
            "module",
            "module is required: MODULE_CUSTOMERS, MODULE_CONTACTS, MODULE_OPPORTUNITIES or MODULE_ALL (a workbook with a sheet per module)",
        )),
        Ok(_) => module_from_proto(value).map(core::ModuleScope::One),
    }
}

pub fn module_scope_to_proto(scope: core::ModuleScope) -> v1::Module {
    match scope {
        core::ModuleScope::One(module) => module_to_proto(module),
        core::ModuleScope::Workbook => v1::Module::All,
    }
}

pub fn module_to_proto(module: core::Module) -> v1::Module {
    match module {
        core::Module::Customers => v1::Module::Customers,
        core::Module::Contacts => v1::Module::Contacts,
        core::Module::Opportunities => v1::Module::Opportunities,
    }
}

/// UNSPECIFIED means the default, INSERT.
pub fn import_mode_from_proto(value: i32) -> Result<core::ImportMode, InvalidField> {
    match v1::ImportMode::try_from(value) {
        Ok(v1::ImportMode::Unspecified | v1::ImportMode::Insert) => Ok(core::ImportMode::Insert),
        Ok(v1::ImportMode::Update) => Ok(core::ImportMode::Update),
        Ok(v1::ImportMode::Upsert) => Ok(core::ImportMode::Upsert),
        Err(_) => Err(InvalidField::new("mode", format!("unknown import mode {value}"))),
    }
}

pub fn import_mode_to_proto(mode: core::ImportMode) -> v1::ImportMode {
    match mode {
        core::ImportMode::Insert => v1::ImportMode::Insert,
        core::ImportMode::Update => v1::ImportMode::Update,
        core::ImportMode::Upsert => v1::ImportMode::Upsert,
    }
}

/// UNSPECIFIED means the default, SKIP_ROW.
pub fn on_error_from_proto(value: i32) -> Result<core::OnError, InvalidField> {
    match v1::OnError::try_from(value) {
        Ok(v1::OnError::Unspecified | v1::OnError::SkipRow) => Ok(core::OnError::SkipRow),
        Ok(v1::OnError::AllOrNothing) => Ok(core::OnError::AllOrNothing),
        Err(_) => Err(InvalidField::new("on_error", format!("unknown on_error {value}"))),
    }
}

/// A module's fields as `DescribeModule` returns them, from the registry.
pub fn describe_module(module: core::Module) -> v1::DescribeModuleResponse {
    use core::FieldKind as K;
    let fields = module
        .fields()
        .iter()
        .map(|f| {
            let (kind, choices) = match f.kind {
                K::Code => (v1::FieldKind::Code, &[][..]),
                K::Text => (v1::FieldKind::Text, &[][..]),
                K::Phone => (v1::FieldKind::Phone, &[][..]),
                K::Email => (v1::FieldKind::Email, &[][..]),
                K::Enum(choices) => (v1::FieldKind::Enum, choices),
                K::Decimal => (v1::FieldKind::Decimal, &[][..]),
                K::Date => (v1::FieldKind::Date, &[][..]),
                K::Bool => (v1::FieldKind::Bool, &[][..]),
            };
            v1::FieldDescription {
                key: f.key.to_owned(),
                label_zh: f.label_zh.to_owned(),
                label_en: f.label_en.to_owned(),
                kind: kind as i32,
                required: f.required,
                max_length: u32::try_from(f.max_len).unwrap_or(u32::MAX),
                choices: choices.iter().map(|c| (*c).to_owned()).collect(),
                exported_by_default: f.default_export,
                references: f.references.map_or(v1::Module::Unspecified, module_to_proto) as i32,
                example: f.example.to_owned(),
            }
        })
        .collect();
    v1::DescribeModuleResponse {
        module: module_to_proto(module) as i32,
        key: module.as_str().to_owned(),
        label_zh: module.label_zh().to_owned(),
        label_en: module.label_en().to_owned(),
        fields,
    }
}

pub fn blank_cells_from_proto(value: i32) -> Result<core::BlankCells, InvalidField> {
    match v1::BlankCells::try_from(value) {
        Ok(v1::BlankCells::Unspecified | v1::BlankCells::Keep) => Ok(core::BlankCells::Keep),
        Ok(v1::BlankCells::Clear) => Ok(core::BlankCells::Clear),
        Err(_) => Err(InvalidField::new(
            "blank_cells",
            format!("unknown blank_cells {value}; use BLANK_CELLS_KEEP or BLANK_CELLS_CLEAR"),
        )),
    }
}

pub fn blank_cells_to_proto(blanks: core::BlankCells) -> v1::BlankCells {
    match blanks {
        core::BlankCells::Keep => v1::BlankCells::Keep,
        core::BlankCells::Clear => v1::BlankCells::Clear,
    }
}

pub fn on_error_to_proto(on_error: core::OnError) -> v1::OnError {
    match on_error {
        core::OnError::SkipRow => v1::OnError::SkipRow,
        core::OnError::AllOrNothing => v1::OnError::AllOrNothing,
    }
}

/// UNSPECIFIED means "any status" and maps to `None`.
pub fn job_status_from_proto(value: i32) -> Result<Option<core::JobStatus>, InvalidField> {
    Ok(match v1::JobStatus::try_from(value) {
        Ok(v1::JobStatus::Unspecified) => None,
        Ok(v1::JobStatus::Running) => Some(core::JobStatus::Running),
        Ok(v1::JobStatus::Succeeded) => Some(core::JobStatus::Succeeded),
        Ok(v1::JobStatus::PartiallySucceeded) => Some(core::JobStatus::PartiallySucceeded),
        Ok(v1::JobStatus::Failed) => Some(core::JobStatus::Failed),
        Ok(v1::JobStatus::Cancelled) => Some(core::JobStatus::Cancelled),
        Ok(v1::JobStatus::Interrupted) => Some(core::JobStatus::Interrupted),
        Ok(v1::JobStatus::Reverted) => Some(core::JobStatus::Reverted),
        Err(_) => return Err(InvalidField::new("status", format!("unknown job status {value}"))),
    })
}

pub fn job_status_to_proto(status: core::JobStatus) -> v1::JobStatus {
    match status {
        core::JobStatus::Running => v1::JobStatus::Running,
        core::JobStatus::Succeeded => v1::JobStatus::Succeeded,
        core::JobStatus::PartiallySucceeded => v1::JobStatus::PartiallySucceeded,
        core::JobStatus::Failed => v1::JobStatus::Failed,
        core::JobStatus::Cancelled => v1::JobStatus::Cancelled,
        core::JobStatus::Interrupted => v1::JobStatus::Interrupted,
        core::JobStatus::Reverted => v1::JobStatus::Reverted,
    }
}

pub fn error_code_to_proto(code: core::ErrorCode) -> v1::ErrorCode {
    // The proto names are the core names by construction (see the test below).
    v1::ErrorCode::from_str_name(code.as_str()).unwrap_or(v1::ErrorCode::Internal)
}

pub fn error_code_from_proto(value: i32) -> Option<core::ErrorCode> {
    v1::ErrorCode::try_from(value)
        .ok()
        .and_then(|c| core::ErrorCode::parse(c.as_str_name()))
}

/// Wire locale → domain locale; UNSPECIFIED (and unknown values) is zh-CN.
pub fn locale_from_proto(value: i32) -> core::Locale {
    match v1::Locale::try_from(value) {
        Ok(v1::Locale::En) => core::Locale::En,
        _ => core::Locale::ZhCn,
    }
}

pub fn locale_to_proto(locale: core::Locale) -> v1::Locale {
    match locale {
        core::Locale::ZhCn => v1::Locale::ZhCn,
        core::Locale::En => v1::Locale::En,
    }
}

fn date(field: &str, text: &str) -> Result<Option<NaiveDate>, InvalidField> {
    if text.trim().is_empty() {
        return Ok(None);
    }
    NaiveDate::parse_from_str(text.trim(), "%Y-%m-%d")
        .map(Some)
        .map_err(|_| {
            InvalidField::new(
                field,
                format!("{field}: '{text}' is not a date; write YYYY-MM-DD, e.g. 2023-10-01"),
            )
        })
}

fn date_range(field: &str, range: Option<&v1::DateRange>) -> Result<core::DateRange, InvalidField> {
    let Some(range) = range else {
        return Ok(core::DateRange::default());
    };
    let parsed = core::DateRange {
        from: date(&format!("{field}.from"), &range.from)?,
        to: date(&format!("{field}.to"), &range.to)?,
    };
    if let (Some(from), Some(to)) = (parsed.from, parsed.to)
        && from > to
    {
        return Err(InvalidField::new(
            field,
            format!("{field}: from {from} is after to {to}"),
        ));
    }
    Ok(parsed)
}

fn non_empty(text: &str) -> Option<String> {
    let text = text.trim();
    (!text.is_empty()).then(|| text.to_owned())
}

impl From<core::limits::Violation> for InvalidField {
    fn from(v: core::limits::Violation) -> Self {
        InvalidField::new(v.field, v.message)
    }
}

/// Every list and text of a filter within [`core::limits`]: lists of at most
/// `MAX_FILTER_VALUES` short printable values, `name_contains` of at most
/// `MAX_NAME_CONTAINS_CHARS` characters.
fn check_filter_limits(filter: &v1::filter::ModuleFilter) -> Result<(), InvalidField> {
    use core::limits::{MAX_NAME_CONTAINS_CHARS, filter_list, filter_text};
    use v1::filter::ModuleFilter;
    match filter {
        ModuleFilter::Customers(f) => {
            filter_list("filter.customers.levels", &f.levels)?;
            filter_list("filter.customers.follow_up_statuses", &f.follow_up_statuses)?;
            filter_list("filter.customers.owners", &f.owners)?;
            filter_list("filter.customers.industries", &f.industries)?;
            filter_list("filter.customers.codes", &f.codes)?;
            filter_text(
                "filter.customers.name_contains",
                &f.name_contains,
                MAX_NAME_CONTAINS_CHARS,
            )?;
        }
        ModuleFilter::Contacts(f) => {
            filter_list("filter.contacts.customer_codes", &f.customer_codes)?;
            filter_list("filter.contacts.customer_owners", &f.customer_owners)?;
            filter_text(
                "filter.contacts.name_contains",
                &f.name_contains,
                MAX_NAME_CONTAINS_CHARS,
            )?;
        }
        ModuleFilter::Opportunities(f) => {
            filter_list("filter.opportunities.customer_codes", &f.customer_codes)?;
            filter_list("filter.opportunities.stages", &f.stages)?;
            filter_list("filter.opportunities.owners", &f.owners)?;
        }
    }
    Ok(())
}

/// Every value of a list over an enum field is one of the field's choices: a filter that
/// can never match (`--level 钻石`) is an error naming the valid ones, not a silent 0.
fn check_filter_choices(filter: &v1::filter::ModuleFilter) -> Result<(), InvalidField> {
    use v1::filter::ModuleFilter;
    let check = |module: core::Module,
                 key: &str,
                 path: &str,
                 values: &[String]|
     -> Result<(), InvalidField> {
        let Some(core::FieldKind::Enum(choices)) = module.field(key).map(|f| f.kind) else {
            return Ok(());
        };
        match values.iter().find(|v| !choices.contains(&v.trim())) {
            None => Ok(()),
            Some(unknown) => Err(InvalidField::new(
                path,
                format!(
                    "'{unknown}' is not a valid {key} of {module}, so the filter could never match; valid values: {}",
                    choices.join(", ")
                ),
            )),
        }
    };
    match filter {
        ModuleFilter::Customers(f) => {
            check(
                core::Module::Customers,
                "level",
                "filter.customers.levels",
                &f.levels,
            )?;
            check(
                core::Module::Customers,
                "follow_up_status",
                "filter.customers.follow_up_statuses",
                &f.follow_up_statuses,
            )?;
            check(
                core::Module::Customers,
                "industry",
                "filter.customers.industries",
                &f.industries,
            )?;
        }
        ModuleFilter::Contacts(_) => {}
        ModuleFilter::Opportunities(f) => {
            check(
                core::Module::Opportunities,
                "stage",
                "filter.opportunities.stages",
                &f.stages,
            )?;
        }
    }
    Ok(())
}

/// Builds the domain filter for `module` from an optional wire filter. A filter of another
/// module is an error rather than being ignored, so a caller never exports more than asked.
pub fn filter_from_proto(
    module: core::Module,
    filter: Option<&v1::Filter>,
) -> Result<core::Filter, InvalidField> {
    use v1::filter::ModuleFilter;
    let Some(inner) = filter.and_then(|f| f.module_filter.as_ref()) else {
        return Ok(core::Filter::all(module));
    };
    check_filter_limits(inner)?;
    check_filter_choices(inner)?;
    let parsed = match inner {
        ModuleFilter::Customers(f) => core::Filter::Customers(core::CustomerFilter {
            levels: f.levels.clone(),
            follow_up_statuses: f.follow_up_statuses.clone(),
            owners: f.owners.clone(),
            industries: f.industries.clone(),
            created_at: date_range("filter.customers.created_at", f.created_at.as_ref())?,
            codes: f.codes.clone(),
            name_contains: non_empty(&f.name_contains),
        }),
        ModuleFilter::Contacts(f) => core::Filter::Contacts(core::ContactFilter {
            customer_codes: f.customer_codes.clone(),
            customer_owners: f.customer_owners.clone(),
            name_contains: non_empty(&f.name_contains),
        }),
        ModuleFilter::Opportunities(f) => core::Filter::Opportunities(core::OpportunityFilter {
            customer_codes: f.customer_codes.clone(),
            stages: f.stages.clone(),
            owners: f.owners.clone(),
            expected_close_date: date_range(
                "filter.opportunities.expected_close_date",
                f.expected_close_date.as_ref(),
            )?,
        }),
    };
    if parsed.module() != module {
        return Err(InvalidField::new(
            "filter",
            format!(
                "filter is for {} but the request's module is {}",
                parsed.module(),
                module
            ),
        ));
    }
    Ok(parsed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_filter_value_outside_the_choices_names_the_valid_ones() {
        let customers = |f: v1::CustomerFilter| v1::Filter {
            module_filter: Some(v1::filter::ModuleFilter::Customers(f)),
        };
        let bad = customers(v1::CustomerFilter {
            levels: vec!["VIP".into(), "钻石".into()],
            ..Default::default()
        });
        let err = filter_from_proto(core::Module::Customers, Some(&bad)).unwrap_err();
        assert_eq!(err.field, "filter.customers.levels");
        assert!(
            err.message.contains("'钻石'") && err.message.contains("VIP, 重要, 普通"),
            "{}",
            err.message
        );
        let good = customers(v1::CustomerFilter {
            levels: vec!["VIP".into(), "普通".into()],
            follow_up_statuses: vec!["待跟进".into()],
            ..Default::default()
        });
        assert!(filter_from_proto(core::Module::Customers, Some(&good)).is_ok());
        let stages = v1::Filter {
            module_filter: Some(v1::filter::ModuleFilter::Opportunities(v1::OpportunityFilter {
                stages: vec!["赢单啦".into()],
                ..Default::default()
            })),
        };
        let err = filter_from_proto(core::Module::Opportunities, Some(&stages)).unwrap_err();
        assert_eq!(err.field, "filter.opportunities.stages");
    }

    #[test]
    fn every_error_code_has_the_same_name_on_the_wire() {
        for code in core::ErrorCode::ALL {
            let wire = error_code_to_proto(code);
            assert_eq!(wire.as_str_name(), code.as_str());
            assert_eq!(error_code_from_proto(wire as i32), Some(code));
        }
        // And the other way: every wire code but UNSPECIFIED is a core code.
        let wire: Vec<v1::ErrorCode> = (1..1000)
            .filter_map(|n| v1::ErrorCode::try_from(n).ok())
            .collect();
        assert_eq!(wire.len(), core::ErrorCode::ALL.len());
        for code in wire {
            assert!(core::ErrorCode::parse(code.as_str_name()).is_some(), "{code:?}");
        }
    }

    #[test]
    fn enums_round_trip() {
        for module in core::Module::ALL {
            assert_eq!(module_from_proto(module_to_proto(module) as i32), Ok(module));
            let one = core::ModuleScope::One(module);
            assert_eq!(
                module_scope_from_proto(module_scope_to_proto(one) as i32),
                Ok(one)
            );
        }
        let all = module_scope_to_proto(core::ModuleScope::Workbook) as i32;
        assert_eq!(module_scope_from_proto(all), Ok(core::ModuleScope::Workbook));
        // A one-module call says why MODULE_ALL is not for it.
        assert!(module_from_proto(all).unwrap_err().message.contains("MODULE_ALL"));
        assert!(module_scope_from_proto(0).is_err());
        for mode in core::ImportMode::ALL {
            assert_eq!(
                import_mode_from_proto(import_mode_to_proto(*mode) as i32),
                Ok(*mode)
            );
        }
        for status in core::JobStatus::ALL {
            assert_eq!(
                job_status_from_proto(job_status_to_proto(*status) as i32),
                Ok(Some(*status))
            );
        }
        assert_eq!(
            module_from_proto(0).unwrap_err().within("spec").field,
            "spec.module"
        );
        assert_eq!(on_error_from_proto(0), Ok(core::OnError::SkipRow));
    }

    #[test]
    fn filters_are_bounded() {
        let customers = |f: v1::CustomerFilter| v1::Filter {
            module_filter: Some(v1::filter::ModuleFilter::Customers(f)),
        };
        let long = customers(v1::CustomerFilter {
            name_contains: "x".repeat(core::limits::MAX_NAME_CONTAINS_CHARS + 1),
            ..Default::default()
        });
        let err = filter_from_proto(core::Module::Customers, Some(&long)).unwrap_err();
        assert_eq!(err.field, "filter.customers.name_contains");
        let nul = customers(v1::CustomerFilter {
            codes: vec!["a\0".into()],
            ..Default::default()
        });
        let err = filter_from_proto(core::Module::Customers, Some(&nul)).unwrap_err();
        assert_eq!(err.field, "filter.customers.codes");
        let stages = v1::Filter {
            module_filter: Some(v1::filter::ModuleFilter::Opportunities(v1::OpportunityFilter {
                stages: vec!["s".repeat(core::limits::MAX_FILTER_VALUE_CHARS + 1)],
                ..Default::default()
            })),
        };
        let err = filter_from_proto(core::Module::Opportunities, Some(&stages)).unwrap_err();
        assert_eq!(err.field, "filter.opportunities.stages");
    }

    #[test]
    fn filters_are_checked() {
        let wire = v1::Filter {
            module_filter: Some(v1::filter::ModuleFilter::Customers(v1::CustomerFilter {
                levels: vec!["VIP".into()],
                created_at: Some(v1::DateRange {
                    from: "2023-10-01".into(),
                    to: String::new(),
                }),
                name_contains: "  ".into(),
                ..Default::default()
            })),
        };
        let core::Filter::Customers(parsed) =
            filter_from_proto(core::Module::Customers, Some(&wire)).unwrap()
        else {
            panic!("wrong module");
        };
        assert_eq!(parsed.levels, vec!["VIP".to_string()]);
        assert_eq!(parsed.created_at.from, NaiveDate::from_ymd_opt(2023, 10, 1));
        assert_eq!(parsed.name_contains, None);

        let err = filter_from_proto(core::Module::Contacts, Some(&wire)).unwrap_err();
        assert_eq!(
            err.message,
            "filter is for customers but the request's module is contacts"
        );
        assert_eq!(err.field, "filter");

        let bad_date = v1::Filter {
            module_filter: Some(v1::filter::ModuleFilter::Opportunities(v1::OpportunityFilter {
                expected_close_date: Some(v1::DateRange {
                    from: "2023/10/01".into(),
                    to: String::new(),
                }),
                ..Default::default()
            })),
        };
        let err = filter_from_proto(core::Module::Opportunities, Some(&bad_date)).unwrap_err();
        assert!(err.message.contains("'2023/10/01' is not a date"), "{err}");
        assert_eq!(err.field, "filter.opportunities.expected_close_date.from");
        assert_eq!(
            filter_from_proto(core::Module::Contacts, None),
            Ok(core::Filter::all(core::Module::Contacts))
        );
    }
}
