//! Which Salesforce object serves which module, how each dataport field maps to its columns,
//! and the options that choose the key columns.

use std::fmt;

use dataport_core::Module;
use dataport_plugin_sdk::{Options, PluginError};
use dataport_vendor_layout::module_option;

use crate::maps::{INDUSTRY, Picklist, RATING, STAGE};

/// Default of `key_field` for Account (customers): the standard Account Number field.
pub const DEFAULT_ACCOUNT_KEY_FIELD: &str = "AccountNumber";
/// Default of `key_field` for Contact (contacts): the Salesforce record Id, which every export has.
pub const DEFAULT_CONTACT_KEY_FIELD: &str = "Id";
/// Default of `key_field` for Opportunity (opportunities): the Salesforce record Id.
pub const DEFAULT_OPPORTUNITY_KEY_FIELD: &str = "Id";
/// Default of `account_key_field` (contacts and opportunities): the relationship column Data
/// Loader exports when you select the parent Account's Account Number, matching the Account
/// default key.
pub const DEFAULT_ACCOUNT_KEY_REFERENCE: &str = "Account.AccountNumber";

/// The Salesforce object of a module.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SObject {
    Account,
    Contact,
    Opportunity,
}

impl SObject {
    pub(crate) fn of(module: Module) -> SObject {
        match module {
            Module::Customers => SObject::Account,
            Module::Contacts => SObject::Contact,
            Module::Opportunities => SObject::Opportunity,
        }
    }

    fn default_key_field(self) -> &'static str {
        match self {
            SObject::Account => DEFAULT_ACCOUNT_KEY_FIELD,
            SObject::Contact => DEFAULT_CONTACT_KEY_FIELD,
            SObject::Opportunity => DEFAULT_OPPORTUNITY_KEY_FIELD,
        }
    }
}

impl fmt::Display for SObject {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            SObject::Account => "Account",
            SObject::Contact => "Contact",
            SObject::Opportunity => "Opportunity",
        })
    }
}

/// The Billing* columns of an Account, in the order of [`crate::convert::Address`]'s parts.
pub(crate) const BILLING_COLUMNS: [&str; 5] = [
    "BillingStreet",
    "BillingCity",
    "BillingState",
    "BillingPostalCode",
    "BillingCountry",
];

/// How one dataport field maps to Salesforce columns.
#[derive(Debug, Clone, Copy)]
pub(crate) enum FieldMap {
    /// The record's key column (option `key_field`).
    Key,
    /// The parent Account's key column (option `account_key_field`).
    AccountKey,
    /// Text: read from the first of these columns that is not blank, written to the first.
    Text(&'static [&'static str]),
    /// A translated picklist.
    Picklist(&'static Picklist),
    /// A date; `date_time` for a Salesforce `dateTime` field (written at midnight UTC).
    Date { column: &'static str, date_time: bool },
    /// A currency amount.
    Amount(&'static str),
    /// FirstName + LastName (or Name when both are blank), written as FirstName and LastName.
    PersonName,
    /// The Billing* compound address, joined on reading, written to BillingStreet.
    Address,
    /// No standard Salesforce field: read as a column of nulls, not written.
    Unmapped,
}

impl FieldMap {
    /// The mapping of `module`'s field `key`.
    pub(crate) fn of(module: Module, key: &str) -> FieldMap {
        match (module, key) {
            (_, "code") => FieldMap::Key,
            (Module::Contacts | Module::Opportunities, "customer_code") => FieldMap::AccountKey,
            (Module::Customers | Module::Opportunities, "name") => FieldMap::Text(&["Name"]),
            (Module::Customers, "industry") => FieldMap::Picklist(&INDUSTRY),
            (Module::Customers, "phone") => FieldMap::Text(&["Phone"]),
            (Module::Customers | Module::Opportunities, "owner") => FieldMap::Text(&["Owner.Name"]),
            (Module::Customers, "level") => FieldMap::Picklist(&RATING),
            (Module::Customers, "address") => FieldMap::Address,
            (Module::Customers, "created_at") => FieldMap::Date {
                column: "CreatedDate",
                date_time: true,
            },
            (Module::Contacts, "name") => FieldMap::PersonName,
            (Module::Contacts, "title") => FieldMap::Text(&["Title"]),
            (Module::Contacts, "phone") => FieldMap::Text(&["MobilePhone", "Phone"]),
            (Module::Contacts, "email") => FieldMap::Text(&["Email"]),
            (Module::Opportunities, "stage") => FieldMap::Picklist(&STAGE),
            (Module::Opportunities, "amount") => FieldMap::Amount("Amount"),
            (Module::Opportunities, "expected_close_date") => FieldMap::Date {
                column: "CloseDate",
                date_time: false,
            },
            (_, "remarks") => FieldMap::Text(&["Description"]),
            _ => FieldMap::Unmapped,
        }
    }

    /// Every Salesforce column this mapping reads or writes (not the configurable keys).
    fn columns(self) -> Vec<&'static str> {
        match self {
            FieldMap::Key | FieldMap::AccountKey | FieldMap::Unmapped => Vec::new(),
            FieldMap::Text(columns) => columns.to_vec(),
            FieldMap::Picklist(p) => vec![p.field],
            FieldMap::Date { column, .. } | FieldMap::Amount(column) => vec![column],
            FieldMap::PersonName => vec!["FirstName", "LastName", "Name"],
            FieldMap::Address => BILLING_COLUMNS.to_vec(),
        }
    }
}

/// The options shared by readers and writers, validated.
#[derive(Debug, Clone)]
pub(crate) struct Config {
    pub(crate) module: Module,
    pub(crate) object: SObject,
    /// The column holding the record key (`code`).
    pub(crate) key_field: String,
    /// The column holding the parent Account's key (`customer_code`); empty for Account.
    pub(crate) account_key_field: String,
}

impl Config {
    /// Reads `module`, `key_field` and `account_key_field` (the caller has checked the keys).
    pub(crate) fn from_options(options: &Options) -> Result<Config, PluginError> {
        let module = module_option(options, " (the dataport server passes it for layout plugins)")?;
        let object = SObject::of(module);
        let key_field = column_option(options, "key_field")?.unwrap_or(object.default_key_field());
        let account_key_field = match (object, column_option(options, "account_key_field")?) {
            (SObject::Account, Some(_)) => {
                return Err(PluginError::invalid_option(
                    "option `account_key_field` applies to contacts and opportunities only; \
                     Account records have no parent account (use `key_field` for their key)",
                ));
            }
            (SObject::Account, None) => "",
            (_, Some(v)) => v,
            (_, None) => DEFAULT_ACCOUNT_KEY_REFERENCE,
        };
        let config = Config {
            module,
            object,
            key_field: key_field.to_owned(),
            account_key_field: account_key_field.to_owned(),
        };
        config.check_columns_are_distinct()?;
        Ok(config)
    }

    /// Refuses a key column that another field already uses (`key_field=Name`): on writing it
    /// would be a second column of the same name.
    fn check_columns_are_distinct(&self) -> Result<(), PluginError> {
        let mapped: Vec<&str> = self
            .module
            .fields()
            .iter()
            .flat_map(|f| FieldMap::of(self.module, f.key).columns())
            .collect();
        for (option, value) in [
            ("key_field", self.key_field.as_str()),
            ("account_key_field", self.account_key_field.as_str()),
        ] {
            if let Some(taken) = mapped.iter().find(|c| c.eq_ignore_ascii_case(value)) {
                return Err(PluginError::invalid_option(format!(
                    "option `{option}` cannot be `{value}`: the plugin maps the {} column \
                     `{taken}` to another field",
                    self.object
                )));
            }
        }
        if self.key_field.eq_ignore_ascii_case(&self.account_key_field) {
            return Err(PluginError::invalid_option(format!(
                "options `key_field` and `account_key_field` must name different columns, both \
                 are `{}`",
                self.key_field
            )));
        }
        Ok(())
    }
}

/// A column-name option: trimmed, not empty, no line breaks or quotes.
fn column_option<'a>(options: &'a Options, key: &str) -> Result<Option<&'a str>, PluginError> {
    let Some(value) = options.get(key) else {
        return Ok(None);
    };
    let name = value.trim();
    if name.is_empty() || name.contains(['\r', '\n', '"']) {
        return Err(PluginError::invalid_option(format!(
            "option `{key}` must name a column (e.g. `External_Id__c`), not `{value}`"
        )));
    }
    Ok(Some(name))
}

#[cfg(test)]
mod tests {
    use dataport_plugin_sdk::ErrorKind;

    use super::*;

    fn config(pairs: &[(&str, &str)]) -> Result<Config, PluginError> {
        Config::from_options(&pairs.iter().copied().collect())
    }

    #[test]
    fn defaults() {
        let c = config(&[("module", "customers")]).unwrap();
        assert_eq!(
            (c.object, c.key_field.as_str(), c.account_key_field.as_str()),
            (SObject::Account, "AccountNumber", "")
        );
        let c = config(&[("module", "contacts")]).unwrap();
        assert_eq!(
            (c.object, c.key_field.as_str(), c.account_key_field.as_str()),
            (SObject::Contact, "Id", "Account.AccountNumber")
        );
        let c = config(&[("MODULE", "opportunities"), ("key_field", " External_Id__c ")]).unwrap();
        assert_eq!(
            (c.object, c.key_field.as_str()),
            (SObject::Opportunity, "External_Id__c")
        );
    }

    #[test]
    fn bad_options() {
        let message = |pairs: &[(&str, &str)]| {
            let e = config(pairs).unwrap_err();
            assert_eq!(e.kind, ErrorKind::InvalidOption);
            e.message
        };
        assert!(message(&[]).contains("`module` is required"));
        assert!(message(&[("module", "leads")]).contains("not `leads`"));
        assert!(message(&[("module", "customers"), ("key_field", " ")]).contains("must name a column"));
        assert!(
            message(&[("module", "customers"), ("account_key_field", "AccountId")])
                .contains("contacts and opportunities only")
        );
        assert!(message(&[("module", "customers"), ("key_field", "name")]).contains("`Name`"));
        assert!(message(&[("module", "contacts"), ("key_field", "Email")]).contains("`Email`"));
        assert!(message(&[("module", "contacts"), ("account_key_field", "LastName")]).contains("`LastName`"));
        assert!(
            message(&[
                ("module", "contacts"),
                ("key_field", "X__c"),
                ("account_key_field", "x__C")
            ])
            .contains("different columns")
        );
    }

    #[test]
    fn every_field_has_a_mapping_decision() {
        let unmapped: Vec<(Module, &str)> = Module::ALL
            .into_iter()
            .flat_map(|m| m.fields().iter().map(move |f| (m, f.key)))
            .filter(|(m, k)| matches!(FieldMap::of(*m, k), FieldMap::Unmapped))
            .collect();
        assert_eq!(
            unmapped,
            [
                (Module::Customers, "follow_up_status"),
                (Module::Customers, "contract_amount"),
                (Module::Customers, "follow_up_notes"),
                (Module::Contacts, "is_primary"),
            ]
        );
    }
}
