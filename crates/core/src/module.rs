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
    /// One of a fixed list of values.
    Enum(&'static [&'static str]),
    /// Money with two decimal places, stored as integer cents; never negative.
    Decimal,
    /// A calendar date, `YYYY-MM-DD`.
    Date,
    /// 是 / 否.
    Bool,
}

/// One field of a module: the one declaration everything else derives from (header mapping,
/// validation, records, export cells, the store's columns, templates, `describe`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FieldDef {
    /// Stable field key, also the database column name (amounts: `<key>_cents`).
    pub key: &'static str,
    /// Template header in Chinese, e.g. 客户编号.
    pub label_zh: &'static str,
    /// Template header in English, e.g. "Customer Code".
    pub label_en: &'static str,
    pub kind: FieldKind,
    pub required: bool,
    /// Longest accepted value in characters.
    pub max_len: usize,
    /// Whether an export without a field list writes it (the guide's 默认勾选核心字段).
    pub default_export: bool,
    /// A value that passes every rule, shown in the template's notes.
    pub example: &'static str,
    /// Free text where line breaks and tabs are data (addresses, notes, remarks).
    pub multiline: bool,
    /// Names where the guide refuses `!` `` ` `` `#` (codes always refuse them).
    pub plain_name: bool,
    /// The module whose `code` this field must name (contacts' and opportunities' customer).
    pub references: Option<Module>,
}

impl FieldDef {
    const fn new(
        key: &'static str,
        label_zh: &'static str,
        label_en: &'static str,
        kind: FieldKind,
    ) -> FieldDef {
        let max_len = match kind {
            FieldKind::Code | FieldKind::Text => 64,
            FieldKind::Phone | FieldKind::Decimal => 32,
            FieldKind::Email => 254,
            FieldKind::Enum(_) => 64,
            FieldKind::Date => 10,
            FieldKind::Bool => 1,
        };
        FieldDef {
            key,
            label_zh,
            label_en,
            kind,
            required: false,
            max_len,
            default_export: false,
            example: "",
            multiline: false,
            plain_name: false,
            references: None,
        }
    }
    const fn required(mut self) -> Self {
        self.required = true;
        self
    }
    const fn max_len(mut self, max_len: usize) -> Self {
        self.max_len = max_len;
        self
    }
    const fn exported(mut self) -> Self {
        self.default_export = true;
        self
    }
    const fn example(mut self, example: &'static str) -> Self {
        self.example = example;
        self
    }
    const fn multiline(mut self) -> Self {
        self.multiline = true;
        self
    }
    const fn plain_name(mut self) -> Self {
        self.plain_name = true;
        self
    }
    const fn references(mut self, module: Module) -> Self {
        self.references = Some(module);
        self
    }
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

use FieldKind::{Bool, Code, Date, Decimal, Email, Enum, Phone, Text};

const fn field(
    key: &'static str,
    label_zh: &'static str,
    label_en: &'static str,
    kind: FieldKind,
) -> FieldDef {
    FieldDef::new(key, label_zh, label_en, kind)
}

/// 客户, in template order.
const CUSTOMER_FIELDS: &[FieldDef] = &[
    field("code", "客户编号", "Customer Code", Code)
        .required()
        .exported()
        .example("CUST20231001001"),
    field("name", "客户名称", "Customer Name", Text)
        .required()
        .max_len(200)
        .plain_name()
        .exported()
        .example("北京星辰科技有限公司"),
    field("industry", "所属行业", "Industry", Enum(INDUSTRIES))
        .exported()
        .example("互联网"),
    field("phone", "联系电话", "Phone", Phone)
        .exported()
        .example("13812345678"),
    field("owner", "负责人", "Owner", Text)
        .required()
        .plain_name()
        .exported()
        .example("张伟"),
    field("level", "客户等级", "Level", Enum(CUSTOMER_LEVELS))
        .max_len(16)
        .exported()
        .example("VIP"),
    field(
        "follow_up_status",
        "跟进状态",
        "Follow-up Status",
        Enum(FOLLOW_UP_STATUSES),
    )
    .max_len(16)
    .example("待跟进"),
    field("address", "客户地址", "Address", Text)
        .max_len(500)
        .multiline()
        .example("北京市海淀区中关村大街1号"),
    field("contract_amount", "合同金额", "Contract Amount", Decimal).example("128000.50"),
    field("follow_up_notes", "跟进记录", "Follow-up Notes", Text)
        .max_len(5000)
        .multiline()
        .example("首次拜访，客户有采购意向"),
    field("remarks", "备注", "Remarks", Text)
        .max_len(2000)
        .multiline()
        .example("重点客户"),
    field("created_at", "创建时间", "Created At", Date)
        .exported()
        .example("2023-10-01"),
];

/// The customer a contact or an opportunity belongs to: one field, shared by both modules.
const CUSTOMER_REFERENCE: FieldDef = field("customer_code", "客户编号", "Customer Code", Code)
    .required()
    .references(Module::Customers)
    .exported()
    .example("CUST20231001001");

/// 联系人, in template order.
const CONTACT_FIELDS: &[FieldDef] = &[
    field("code", "联系人编号", "Contact Code", Code)
        .required()
        .exported()
        .example("CON20231001001"),
    CUSTOMER_REFERENCE,
    field("name", "姓名", "Name", Text)
        .required()
        .max_len(100)
        .plain_name()
        .exported()
        .example("王芳"),
    field("title", "职位", "Title", Text)
        .max_len(100)
        .exported()
        .example("采购经理"),
    field("phone", "手机", "Mobile", Phone)
        .exported()
        .example("13800138000"),
    field("email", "邮箱", "Email", Email)
        .exported()
        .example("wang.fang@example.com"),
    field("is_primary", "是否主联系人", "Primary Contact", Bool).example("是"),
    field("remarks", "备注", "Remarks", Text)
        .max_len(2000)
        .multiline()
        .example("重点客户"),
];

/// 商机, in template order.
const OPPORTUNITY_FIELDS: &[FieldDef] = &[
    field("code", "商机编号", "Opportunity Code", Code)
        .required()
        .exported()
        .example("OPP20231001001"),
    CUSTOMER_REFERENCE,
    field("name", "商机名称", "Opportunity Name", Text)
        .required()
        .max_len(200)
        .plain_name()
        .exported()
        .example("2024年度办公设备采购"),
    field("stage", "销售阶段", "Stage", Enum(OPPORTUNITY_STAGES))
        .max_len(16)
        .exported()
        .example("方案报价"),
    field("amount", "预计金额", "Expected Amount", Decimal)
        .exported()
        .example("500000.00"),
    field("expected_close_date", "预计成交日期", "Expected Close Date", Date)
        .exported()
        .example("2024-06-30"),
    field("owner", "负责人", "Owner", Text)
        .plain_name()
        .exported()
        .example("张伟"),
    field("remarks", "备注", "Remarks", Text)
        .max_len(2000)
        .multiline()
        .example("重点客户"),
];

/// Byte-wise string equality usable in `const` contexts.
const fn str_eq(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    if a.len() != b.len() {
        return false;
    }
    let mut i = 0;
    while i < a.len() {
        if a[i] != b[i] {
            return false;
        }
        i += 1;
    }
    true
}

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

    /// The module's fields, in template order.
    pub const fn fields(self) -> &'static [FieldDef] {
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

    /// The position of a field in [`Module::fields`], if the module has it.
    pub const fn position(self, key: &str) -> Option<usize> {
        let fields = self.fields();
        let mut i = 0;
        while i < fields.len() {
            if str_eq(fields[i].key, key) {
                return Some(i);
            }
            i += 1;
        }
        None
    }

    /// The position of a field the caller knows exists; in a `const` block a wrong key is a
    /// compile error (`const { Module::Customers.index_of("name") }`).
    pub const fn index_of(self, key: &str) -> usize {
        match self.position(key) {
            Some(i) => i,
            None => panic!("no such field"),
        }
    }

    /// The field that names another module's record (contacts' and opportunities' customer).
    pub fn reference(self) -> Option<(usize, &'static FieldDef)> {
        self.fields()
            .iter()
            .enumerate()
            .find(|(_, f)| f.references.is_some())
    }

    /// Keys of the fields an export writes when the caller names none.
    pub fn default_export_fields(self) -> impl Iterator<Item = &'static str> {
        self.fields().iter().filter(|f| f.default_export).map(|f| f.key)
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

    /// The module's English name ("Customers").
    pub fn label_en(self) -> &'static str {
        match self {
            Module::Customers => "Customers",
            Module::Contacts => "Contacts",
            Module::Opportunities => "Opportunities",
        }
    }

    /// Whether records of this module reference a customer.
    pub fn references_customers(self) -> bool {
        self.reference().is_some()
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
