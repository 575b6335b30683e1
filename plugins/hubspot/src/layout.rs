//! Which HubSpot columns feed which dataport field, per object, in both directions. The README's
//! column tables describe exactly these lists.

use dataport_core::Module;
use dataport_plugin_sdk::ColumnKind;

use crate::mapping::{DEAL_STAGE, INDUSTRY, LEAD_STATUS, ValueMap};

/// Default of the `key_field` option: the column holding the record key (→ `code`).
pub const DEFAULT_KEY_FIELD: &str = "Record ID";
/// Default of the `company_key_field` option: the column of contacts and deals holding the key of
/// their company (→ `customer_code`). HubSpot's exports with associations carry it.
pub const DEFAULT_COMPANY_KEY_FIELD: &str = "Associated Company IDs (Primary)";

/// The configurable column names of one reader or writer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct KeyNames {
    /// The record key column (`key_field`).
    pub key: String,
    /// The company key column (`company_key_field`); unused for customers.
    pub company_key: String,
}

/// How a field is read from a HubSpot file. Column names are matched trimmed and ignoring ASCII
/// case; where several are listed, the first one the file has is used.
#[derive(Debug, Clone, Copy)]
pub(crate) enum ReadRule {
    /// The record key column (`key_field`); required in the file.
    Key,
    /// The company key column (`company_key_field`); required in the file.
    CompanyKey,
    /// Text (numbers as their digits).
    Text(&'static [&'static str]),
    /// The first non-empty of several columns (each with its aliases), as text.
    FirstOf(&'static [&'static [&'static str]]),
    /// A picklist translated through its table.
    Enum(&'static [&'static str], &'static ValueMap),
    /// A date.
    Date(&'static [&'static str]),
    /// An amount.
    Amount(&'static [&'static str]),
    /// `First Name` + `Last Name`.
    Name,
    /// `Street Address`, `Street Address 2`, `City`, `State/Region`, `Postal Code`,
    /// `Country/Region`.
    Address,
    /// HubSpot has no such property: always `Null`.
    Absent,
}

pub(crate) const FIRST_NAME: &[&str] = &["First Name"];
pub(crate) const LAST_NAME: &[&str] = &["Last Name"];
pub(crate) const STREET: &[&str] = &["Street Address"];
pub(crate) const STREET2: &[&str] = &["Street Address 2"];
pub(crate) const CITY: &[&str] = &["City"];
pub(crate) const STATE: &[&str] = &["State/Region", "State"];
pub(crate) const POSTAL_CODE: &[&str] = &["Postal Code"];
pub(crate) const COUNTRY: &[&str] = &["Country/Region", "Country"];

/// How `module`'s field `key` is read.
pub(crate) fn read_rule(module: Module, key: &str) -> ReadRule {
    use ReadRule::*;
    match (module, key) {
        (_, "code") => Key,
        (_, "customer_code") => CompanyKey,
        (Module::Customers, "name") => Text(&["Company name"]),
        (Module::Customers, "industry") => Enum(&["Industry"], &INDUSTRY),
        (Module::Customers, "phone") => Text(&["Phone Number"]),
        (Module::Customers, "owner") => Text(&["Company owner"]),
        (Module::Customers, "follow_up_status") => Enum(&["Lead Status"], &LEAD_STATUS),
        (Module::Customers, "address") => Address,
        (Module::Customers, "contract_amount") => Amount(&["Total Revenue"]),
        (Module::Customers, "remarks") => Text(&["Description"]),
        (Module::Customers, "created_at") => Date(&["Create Date"]),
        (Module::Contacts, "name") => Name,
        (Module::Contacts, "title") => Text(&["Job Title"]),
        (Module::Contacts, "phone") => FirstOf(&[&["Mobile Phone Number"], &["Phone Number"]]),
        (Module::Contacts, "email") => Text(&["Email"]),
        (Module::Opportunities, "name") => Text(&["Deal Name"]),
        (Module::Opportunities, "stage") => Enum(&["Deal Stage"], &DEAL_STAGE),
        (Module::Opportunities, "amount") => Amount(&["Amount"]),
        (Module::Opportunities, "expected_close_date") => Date(&["Close Date"]),
        (Module::Opportunities, "owner") => Text(&["Deal owner"]),
        (Module::Opportunities, "remarks") => Text(&["Deal Description"]),
        // customers: level, follow_up_notes; contacts: is_primary, remarks.
        _ => Absent,
    }
}

/// A written column's header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Header {
    /// The `key_field` option.
    Key,
    /// The `company_key_field` option.
    CompanyKey,
    Fixed(&'static str),
}

/// How a written column's cells come from its field's cells.
#[derive(Debug, Clone, Copy)]
pub(crate) enum WriteRule {
    /// As given.
    Text,
    /// Through the table (a value without a HubSpot value fails the export).
    Enum(&'static ValueMap),
    /// A date cell (`YYYY-MM-DD` in CSV, a date cell in xlsx).
    Date,
    /// A number with two decimals.
    Amount,
    /// The given name of the contact's name.
    FirstName,
    /// The family name of the contact's name.
    LastName,
    /// [`crate::mapping::SALES_PIPELINE`] where the field (the stage) has a value.
    Pipeline,
}

/// One column a writer writes: header, source field, conversion, column kind.
#[derive(Debug, Clone, Copy)]
pub(crate) struct OutColumn {
    pub header: Header,
    pub field: &'static str,
    pub rule: WriteRule,
    pub kind: ColumnKind,
}

const fn out(header: Header, field: &'static str, rule: WriteRule, kind: ColumnKind) -> OutColumn {
    OutColumn {
        header,
        field,
        rule,
        kind,
    }
}

use ColumnKind as K;
use Header::{CompanyKey, Fixed, Key};
use WriteRule as W;

const COMPANY_COLUMNS: &[OutColumn] = &[
    out(Key, "code", W::Text, K::Text),
    out(Fixed("Company name"), "name", W::Text, K::General),
    out(Fixed("Industry"), "industry", W::Enum(&INDUSTRY), K::General),
    out(Fixed("Phone Number"), "phone", W::Text, K::Text),
    out(Fixed("Company owner"), "owner", W::Text, K::General),
    out(
        Fixed("Lead Status"),
        "follow_up_status",
        W::Enum(&LEAD_STATUS),
        K::General,
    ),
    out(Fixed("Street Address"), "address", W::Text, K::General),
    out(Fixed("Total Revenue"), "contract_amount", W::Amount, K::Decimal2),
    out(Fixed("Description"), "remarks", W::Text, K::General),
    out(Fixed("Create Date"), "created_at", W::Date, K::Date),
];

const CONTACT_COLUMNS: &[OutColumn] = &[
    out(Key, "code", W::Text, K::Text),
    out(Fixed("First Name"), "name", W::FirstName, K::General),
    out(Fixed("Last Name"), "name", W::LastName, K::General),
    out(Fixed("Job Title"), "title", W::Text, K::General),
    out(Fixed("Mobile Phone Number"), "phone", W::Text, K::Text),
    out(Fixed("Email"), "email", W::Text, K::General),
    out(CompanyKey, "customer_code", W::Text, K::Text),
];

const DEAL_COLUMNS: &[OutColumn] = &[
    out(Key, "code", W::Text, K::Text),
    out(Fixed("Deal Name"), "name", W::Text, K::General),
    out(Fixed("Pipeline"), "stage", W::Pipeline, K::General),
    out(Fixed("Deal Stage"), "stage", W::Enum(&DEAL_STAGE), K::General),
    out(Fixed("Amount"), "amount", W::Amount, K::Decimal2),
    out(Fixed("Close Date"), "expected_close_date", W::Date, K::Date),
    out(Fixed("Deal owner"), "owner", W::Text, K::General),
    out(Fixed("Deal Description"), "remarks", W::Text, K::General),
    out(CompanyKey, "customer_code", W::Text, K::Text),
];

/// The columns written for `module`, in file order.
pub(crate) fn out_columns(module: Module) -> &'static [OutColumn] {
    match module {
        Module::Customers => COMPANY_COLUMNS,
        Module::Contacts => CONTACT_COLUMNS,
        Module::Opportunities => DEAL_COLUMNS,
    }
}

impl KeyNames {
    /// The header text of a written column.
    pub fn header<'a>(&'a self, header: &Header) -> &'a str {
        match header {
            Header::Key => &self.key,
            Header::CompanyKey => &self.company_key,
            Header::Fixed(name) => name,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_field_has_a_rule_and_written_fields_exist() {
        for module in Module::ALL {
            for column in out_columns(module) {
                assert!(module.field(column.field).is_some(), "{module}.{}", column.field);
            }
            for field in module.fields() {
                let _ = read_rule(module, field.key);
            }
        }
        assert!(matches!(read_rule(Module::Customers, "level"), ReadRule::Absent));
        assert!(matches!(
            read_rule(Module::Contacts, "customer_code"),
            ReadRule::CompanyKey
        ));
    }
}
