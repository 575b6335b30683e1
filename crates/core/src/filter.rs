//! Typed export/count filters, one per module. Lists mean "any of"; empty lists and `None`
//! mean "no condition". There is no way to pass SQL through a filter.

use chrono::NaiveDate;

use crate::Module;

/// An inclusive date range; either end may be open.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DateRange {
    pub from: Option<NaiveDate>,
    pub to: Option<NaiveDate>,
}

impl DateRange {
    pub fn is_open(&self) -> bool {
        self.from.is_none() && self.to.is_none()
    }
}

/// Customer filter: the guide's 客户等级 / 跟进状态 / 负责人 combination and more.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CustomerFilter {
    pub levels: Vec<String>,
    pub follow_up_statuses: Vec<String>,
    pub owners: Vec<String>,
    pub industries: Vec<String>,
    pub created_at: DateRange,
    pub codes: Vec<String>,
    /// Substring of the name; `%` and `_` are matched literally.
    pub name_contains: Option<String>,
}

/// Contact filter.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ContactFilter {
    pub customer_codes: Vec<String>,
    /// Owners of the contact's customer.
    pub customer_owners: Vec<String>,
    pub name_contains: Option<String>,
}

/// Opportunity filter.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OpportunityFilter {
    pub customer_codes: Vec<String>,
    pub stages: Vec<String>,
    pub owners: Vec<String>,
    pub expected_close_date: DateRange,
}

/// A filter over one module.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Filter {
    Customers(CustomerFilter),
    Contacts(ContactFilter),
    Opportunities(OpportunityFilter),
}

impl Filter {
    /// The filter that matches every record of `module` (the guide's 全部数据 scope).
    pub fn all(module: Module) -> Self {
        match module {
            Module::Customers => Filter::Customers(CustomerFilter::default()),
            Module::Contacts => Filter::Contacts(ContactFilter::default()),
            Module::Opportunities => Filter::Opportunities(OpportunityFilter::default()),
        }
    }

    pub fn module(&self) -> Module {
        match self {
            Filter::Customers(_) => Module::Customers,
            Filter::Contacts(_) => Module::Contacts,
            Filter::Opportunities(_) => Module::Opportunities,
        }
    }
}
