//! The three CRM modules and their fields, as the vendor guide's templates define them (§6).

use std::{fmt, str::FromStr};

use crate::CoreError;

/// A CRM data module. Every module has the business key `code`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Module {
    /// 客户
    Customers,
    /// 联系人
    Contacts,
    /// 商机
    Opportunities,
}

/// The kind of value a field holds; drives validation, export cell types and template hints.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldKind {
    /// Business key: letters, digits, `-` and `_`.
    Code,
    /// Free text.
    Text,
    /// A phone number, kept as text so leading zeros and `+86` survive.
    Phone,
    /// An e-mail address.
    Email,
    /// A calendar date, `YYYY-MM-DD`.
    Date,
    /// Money with two decimal places, stored as integer cents; never negative.
    Amount,
    /// One of a fixed list of values.
    Enum(&'static [&'static str]),
    /// 是 / 否.
    YesNo,
}

/// One column of a module's import template.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FieldDef {
    /// Stable field key, also the database column name.
    pub key: &'static str,
    /// Template header in Chinese, e.g. 客户编号.
    pub label_zh: &'static str,
    /// Template header in English, e.g. "Customer Code".
    pub label_en: &'static str,
    pub kind: FieldKind,
    pub required: bool,
    /// Longest accepted value in characters.
    pub max_len: usize,
}

/// 客户等级
pub const CUSTOMER_LEVELS: &[&str] = &["VIP", "重要", "普通"];
/// 跟进状态
pub const FOLLOW_UP_STATUSES: &[&str] = &["待跟进", "跟进中", "已成交", "已流失"];
/// 销售阶段
pub const OPPORTUNITY_STAGES: &[&str] = &["初步接洽", "需求确认", "方案报价", "谈判审核", "赢单", "输单"];
/// The industry dictionary (所属行业) that customer imports are checked against.
pub const INDUSTRIES: &[&str] = &[
    "互联网",
    "软件和信息技术服务",
    "电子制造",
    "金融",
    "保险",
    "房地产",
    "建筑",
    "教育",
    "医疗健康",
    "零售",
    "批发",
    "物流运输",
    "制造业",
    "汽车",
    "能源",
    "化工",
    "农业",
    "餐饮",
    "酒店旅游",
    "文化传媒",
    "政府及公共事业",
    "电信",
    "咨询服务",
    "其他",
];
/// 是否主联系人
pub const YES_NO: &[&str] = &["是", "否"];

const fn field(
    key: &'static str,
    label_zh: &'static str,
    label_en: &'static str,
    kind: FieldKind,
    required: bool,
    max_len: usize,
) -> FieldDef {
    FieldDef {
        key,
        label_zh,
        label_en,
        kind,
        required,
        max_len,
    }
}

const CUSTOMER_FIELDS: &[FieldDef] = &[
    field("code", "客户编号", "Customer Code", FieldKind::Code, true, 64),
    field("name", "客户名称", "Customer Name", FieldKind::Text, true, 200),
    field(
        "industry",
        "所属行业",
        "Industry",
        FieldKind::Enum(INDUSTRIES),
        false,
        64,
    ),
    field("phone", "联系电话", "Phone", FieldKind::Phone, false, 32),
    field("owner", "负责人", "Owner", FieldKind::Text, true, 64),
    field(
        "level",
        "客户等级",
        "Level",
        FieldKind::Enum(CUSTOMER_LEVELS),
        false,
        16,
    ),
    field(
        "follow_up_status",
        "跟进状态",
        "Follow-up Status",
        FieldKind::Enum(FOLLOW_UP_STATUSES),
        false,
        16,
    ),
    field("address", "客户地址", "Address", FieldKind::Text, false, 500),
    field(
        "contract_amount",
        "合同金额",
        "Contract Amount",
        FieldKind::Amount,
        false,
        32,
    ),
    field(
        "follow_up_notes",
        "跟进记录",
        "Follow-up Notes",
        FieldKind::Text,
        false,
        5000,
    ),
    field("remarks", "备注", "Remarks", FieldKind::Text, false, 2000),
    field("created_at", "创建时间", "Created At", FieldKind::Date, false, 10),
];

const CONTACT_FIELDS: &[FieldDef] = &[
    field("code", "联系人编号", "Contact Code", FieldKind::Code, true, 64),
    field(
        "customer_code",
        "客户编号",
        "Customer Code",
        FieldKind::Code,
        true,
        64,
    ),
    field("name", "姓名", "Name", FieldKind::Text, true, 100),
    field("title", "职位", "Title", FieldKind::Text, false, 100),
    field("phone", "手机", "Mobile", FieldKind::Phone, false, 32),
    field("email", "邮箱", "Email", FieldKind::Email, false, 254),
    field(
        "is_primary",
        "是否主联系人",
        "Primary Contact",
        FieldKind::YesNo,
        false,
        1,
    ),
    field("remarks", "备注", "Remarks", FieldKind::Text, false, 2000),
];

const OPPORTUNITY_FIELDS: &[FieldDef] = &[
    field("code", "商机编号", "Opportunity Code", FieldKind::Code, true, 64),
    field(
        "customer_code",
        "客户编号",
        "Customer Code",
        FieldKind::Code,
        true,
        64,
    ),
    field("name", "商机名称", "Opportunity Name", FieldKind::Text, true, 200),
    field(
        "stage",
        "销售阶段",
        "Stage",
        FieldKind::Enum(OPPORTUNITY_STAGES),
        false,
        16,
    ),
    field(
        "amount",
        "预计金额",
        "Expected Amount",
        FieldKind::Amount,
        false,
        32,
    ),
    field(
        "expected_close_date",
        "预计成交日期",
        "Expected Close Date",
        FieldKind::Date,
        false,
        10,
    ),
    field("owner", "负责人", "Owner", FieldKind::Text, false, 64),
    field("remarks", "备注", "Remarks", FieldKind::Text, false, 2000),
];

impl Module {
    pub const ALL: [Module; 3] = [Module::Customers, Module::Contacts, Module::Opportunities];

    /// The stable name used on the wire, in the CLI and as the table name.
    pub fn as_str(self) -> &'static str {
        match self {
            Module::Customers => "customers",
            Module::Contacts => "contacts",
            Module::Opportunities => "opportunities",
        }
    }

    /// The template's columns, in template order.
    pub fn fields(self) -> &'static [FieldDef] {
        match self {
            Module::Customers => CUSTOMER_FIELDS,
            Module::Contacts => CONTACT_FIELDS,
            Module::Opportunities => OPPORTUNITY_FIELDS,
        }
    }

    /// Looks a field up by key.
    pub fn field(self, key: &str) -> Option<&'static FieldDef> {
        self.fields().iter().find(|f| f.key == key)
    }

    /// Fields an export writes when the caller names none (the guide's 默认勾选核心字段).
    pub fn default_export_fields(self) -> &'static [&'static str] {
        match self {
            Module::Customers => &[
                "code",
                "name",
                "industry",
                "phone",
                "owner",
                "level",
                "created_at",
            ],
            Module::Contacts => &["code", "customer_code", "name", "title", "phone", "email"],
            Module::Opportunities => &[
                "code",
                "customer_code",
                "name",
                "stage",
                "amount",
                "expected_close_date",
                "owner",
            ],
        }
    }

    /// The export file name stem, e.g. `CRM客户数据`.
    pub fn export_file_stem(self) -> &'static str {
        match self {
            Module::Customers => "CRM客户数据",
            Module::Contacts => "CRM联系人数据",
            Module::Opportunities => "CRM商机数据",
        }
    }

    /// The module's Chinese name, as in messages ("客户").
    pub fn label_zh(self) -> &'static str {
        match self {
            Module::Customers => "客户",
            Module::Contacts => "联系人",
            Module::Opportunities => "商机",
        }
    }

    /// Whether records of this module reference a customer through `customer_code`.
    pub fn references_customers(self) -> bool {
        !matches!(self, Module::Customers)
    }
}

impl fmt::Display for Module {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Module {
    type Err = CoreError;
    /// Accepts the key (`customers`), the singular (`customer`) and the Chinese name (客户).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.trim();
        let lower = s.to_ascii_lowercase();
        Module::ALL
            .into_iter()
            .find(|m| lower == m.as_str() || lower == m.as_str().trim_end_matches('s') || s == m.label_zh())
            .ok_or_else(|| CoreError::unknown("module", s, &["customers", "contacts", "opportunities"]))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_module_starts_with_a_required_code() {
        for module in Module::ALL {
            let first = module.fields()[0];
            assert_eq!(
                (first.key, first.kind, first.required),
                ("code", FieldKind::Code, true)
            );
            for key in module.default_export_fields() {
                assert!(
                    module.field(key).is_some(),
                    "{module}: default field {key} unknown"
                );
            }
        }
    }

    #[test]
    fn modules_parse_from_key_singular_and_chinese() {
        assert_eq!("customers".parse::<Module>(), Ok(Module::Customers));
        assert_eq!("Contact".parse::<Module>(), Ok(Module::Contacts));
        assert_eq!("商机".parse::<Module>(), Ok(Module::Opportunities));
        assert!("leads".parse::<Module>().is_err());
    }
}
