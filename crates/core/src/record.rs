//! Validated records, one struct per module. The store accepts only these types.
//!
//! Optional template fields are `Option`. Amounts are integer cents (exact, never float).
//! `created_at` is the record's 创建时间 (a date); `None` on insert means "today", on update
//! it leaves the stored date alone.

use chrono::NaiveDate;

use crate::Module;

/// A 客户 record.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Customer {
    pub code: String,
    pub name: String,
    pub industry: Option<String>,
    pub phone: Option<String>,
    pub owner: String,
    pub level: Option<String>,
    pub follow_up_status: Option<String>,
    pub address: Option<String>,
    /// 合同金额 in cents.
    pub contract_amount_cents: Option<i64>,
    pub follow_up_notes: Option<String>,
    pub remarks: Option<String>,
    pub created_at: Option<NaiveDate>,
}

/// A 联系人 record.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Contact {
    pub code: String,
    pub customer_code: String,
    pub name: String,
    pub title: Option<String>,
    pub phone: Option<String>,
    pub email: Option<String>,
    pub is_primary: Option<bool>,
    pub remarks: Option<String>,
    pub created_at: Option<NaiveDate>,
}

/// A 商机 record.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Opportunity {
    pub code: String,
    pub customer_code: String,
    pub name: String,
    pub stage: Option<String>,
    /// 预计金额 in cents.
    pub amount_cents: Option<i64>,
    pub expected_close_date: Option<NaiveDate>,
    pub owner: Option<String>,
    pub remarks: Option<String>,
    pub created_at: Option<NaiveDate>,
}

/// A batch of records of one module: what the store writes and what export pages return.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Records {
    Customers(Vec<Customer>),
    Contacts(Vec<Contact>),
    Opportunities(Vec<Opportunity>),
}

impl Records {
    /// An empty batch of `module`.
    pub fn empty(module: Module) -> Self {
        match module {
            Module::Customers => Records::Customers(Vec::new()),
            Module::Contacts => Records::Contacts(Vec::new()),
            Module::Opportunities => Records::Opportunities(Vec::new()),
        }
    }

    pub fn module(&self) -> Module {
        match self {
            Records::Customers(_) => Module::Customers,
            Records::Contacts(_) => Module::Contacts,
            Records::Opportunities(_) => Module::Opportunities,
        }
    }

    pub fn len(&self) -> usize {
        match self {
            Records::Customers(v) => v.len(),
            Records::Contacts(v) => v.len(),
            Records::Opportunities(v) => v.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The business keys, in batch order.
    pub fn codes(&self) -> Vec<&str> {
        match self {
            Records::Customers(v) => v.iter().map(|r| r.code.as_str()).collect(),
            Records::Contacts(v) => v.iter().map(|r| r.code.as_str()).collect(),
            Records::Opportunities(v) => v.iter().map(|r| r.code.as_str()).collect(),
        }
    }

    /// The referenced customer codes (empty for customers), in batch order.
    pub fn customer_codes(&self) -> Vec<&str> {
        match self {
            Records::Customers(_) => Vec::new(),
            Records::Contacts(v) => v.iter().map(|r| r.customer_code.as_str()).collect(),
            Records::Opportunities(v) => v.iter().map(|r| r.customer_code.as_str()).collect(),
        }
    }

    /// The last code of the batch: the keyset cursor for the next export page.
    pub fn last_code(&self) -> Option<&str> {
        self.codes().last().copied()
    }
}
