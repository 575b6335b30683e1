//! Validated records. The store accepts only these.
//!
//! A [`Record`] holds one value slot per field of its module, in the registry's template order
//! ([`Module::fields`]); fields are read and written by key, never by a position written out by
//! hand. Amounts are integer cents (exact, never float). A customer's `created_at` is its
//! 创建时间 (a date); empty on insert means "today", on update it leaves the stored date alone.

use chrono::NaiveDate;

use crate::{FieldKind, Module};

/// One field's value in a record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FieldValue {
    /// Codes, text, phones, e-mails and enum choices.
    Text(String),
    /// Decimal fields, in cents.
    Cents(i64),
    Date(NaiveDate),
    Bool(bool),
}

impl FieldValue {
    /// The value as a user writes it: `1234.50`, `2023-10-01`, 是/否.
    pub fn display(&self) -> String {
        match self {
            FieldValue::Text(s) => s.clone(),
            FieldValue::Cents(c) => format_cents(*c),
            FieldValue::Date(d) => d.format("%Y-%m-%d").to_string(),
            FieldValue::Bool(b) => if *b { "是" } else { "否" }.to_owned(),
        }
    }

    /// Whether this value has the shape of `kind`.
    pub fn fits(&self, kind: FieldKind) -> bool {
        matches!(
            (self, kind),
            (
                FieldValue::Text(_),
                FieldKind::Code | FieldKind::Text | FieldKind::Phone | FieldKind::Email | FieldKind::Enum(_)
            ) | (FieldValue::Cents(_), FieldKind::Decimal)
                | (FieldValue::Date(_), FieldKind::Date)
                | (FieldValue::Bool(_), FieldKind::Bool)
        )
    }
}

/// Cents as `1234.50`.
pub fn format_cents(cents: i64) -> String {
    let sign = if cents < 0 { "-" } else { "" };
    let abs = cents.unsigned_abs();
    format!("{sign}{}.{:02}", abs / 100, abs % 100)
}

/// A field key the module does not have, or a value of the wrong kind (a bug in the caller).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RecordError {
    #[error("{module} have no field '{key}'")]
    UnknownField { module: Module, key: String },
    #[error("{module}.{key} is a {expected:?} field; {found:?} does not fit")]
    WrongKind {
        module: Module,
        key: &'static str,
        expected: FieldKind,
        found: FieldValue,
    },
    #[error("a {found} record cannot join a batch of {expected}")]
    ModuleMismatch { expected: Module, found: Module },
}

/// A validated record of one module: a value slot per field, in template order.
///
/// An empty slot is either *empty* (written as empty) or *kept*: an update of an existing
/// record leaves that field as stored ([`Record::keep_stored`]: a blank cell under
/// [`crate::BlankCells::Keep`], a field a record stream does not name). The store fills kept
/// slots from the stored record ([`Record::merge_stored`]) before it writes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    module: Module,
    values: Vec<Option<FieldValue>>,
    /// Kept slots, one bit per registry position (modules have at most 64 fields).
    keep: u64,
}

impl Record {
    /// A record of `module` with every field empty.
    pub fn new(module: Module) -> Record {
        debug_assert!(module.fields().len() <= 64);
        Record {
            module,
            values: vec![None; module.fields().len()],
            keep: 0,
        }
    }

    /// A record of `module` from `(field key, value)` pairs, each checked as [`Record::set`]
    /// checks it; fields not named stay empty.
    pub fn from_pairs<'k>(
        module: Module,
        pairs: impl IntoIterator<Item = (&'k str, Option<FieldValue>)>,
    ) -> Result<Record, RecordError> {
        let mut record = Record::new(module);
        for (key, value) in pairs {
            record.set(key, value)?;
        }
        Ok(record)
    }

    pub fn module(&self) -> Module {
        self.module
    }

    /// The value of field `key`, if set.
    pub fn get(&self, key: &str) -> Option<&FieldValue> {
        self.module.position(key).and_then(|i| self.at(i))
    }

    /// The value at a registry position (see [`Module::index_of`]).
    pub fn at(&self, index: usize) -> Option<&FieldValue> {
        self.values.get(index).and_then(Option::as_ref)
    }

    /// Text at a registry position; `None` when empty or not text.
    pub fn text_at(&self, index: usize) -> Option<&str> {
        match self.at(index) {
            Some(FieldValue::Text(s)) => Some(s),
            _ => None,
        }
    }

    /// Cents at a registry position.
    pub fn cents_at(&self, index: usize) -> Option<i64> {
        match self.at(index) {
            Some(FieldValue::Cents(c)) => Some(*c),
            _ => None,
        }
    }

    /// A date at a registry position.
    pub fn date_at(&self, index: usize) -> Option<NaiveDate> {
        match self.at(index) {
            Some(FieldValue::Date(d)) => Some(*d),
            _ => None,
        }
    }

    /// A 是/否 value at a registry position.
    pub fn bool_at(&self, index: usize) -> Option<bool> {
        match self.at(index) {
            Some(FieldValue::Bool(b)) => Some(*b),
            _ => None,
        }
    }

    /// Text of field `key`.
    pub fn text(&self, key: &str) -> Option<&str> {
        self.module.position(key).and_then(|i| self.text_at(i))
    }

    /// Sets field `key`, checking that the module has it and that the value fits its kind.
    pub fn set(&mut self, key: &str, value: Option<FieldValue>) -> Result<(), RecordError> {
        let index = self
            .module
            .position(key)
            .ok_or_else(|| RecordError::UnknownField {
                module: self.module,
                key: key.to_owned(),
            })?;
        self.set_at(index, value)
    }

    /// Sets the value at a registry position, checking its kind.
    pub fn set_at(&mut self, index: usize, value: Option<FieldValue>) -> Result<(), RecordError> {
        let field = &self.module.fields()[index];
        if let Some(v) = &value
            && !v.fits(field.kind)
        {
            return Err(RecordError::WrongKind {
                module: self.module,
                key: field.key,
                expected: field.kind,
                found: v.clone(),
            });
        }
        self.values[index] = value;
        self.keep &= !(1 << index);
        Ok(())
    }

    /// Marks the field at a registry position as kept: empty here, left as stored by an update.
    pub fn keep_stored(&mut self, index: usize) {
        self.values[index] = None;
        self.keep |= 1 << index;
    }

    /// Whether the field at a registry position is kept (see [`Record::keep_stored`]).
    pub fn keeps_stored(&self, index: usize) -> bool {
        self.keep & (1 << index) != 0
    }

    /// Whether any field is kept: an update must read the stored record first.
    pub fn keeps_any(&self) -> bool {
        self.keep != 0
    }

    /// Fills the kept fields from `stored` (the same record as the database has it); the
    /// record then keeps nothing and overwrites the stored one exactly where it carries values.
    pub fn merge_stored(&mut self, stored: &Record) {
        if stored.module != self.module {
            return;
        }
        for index in 0..self.values.len() {
            if self.keeps_stored(index) {
                self.values[index] = stored.values[index].clone();
            }
        }
        self.keep = 0;
    }

    /// Like [`Record::set`] for callers that built the value from the field's own kind.
    pub(crate) fn put_at(&mut self, index: usize, value: Option<FieldValue>) {
        debug_assert!(
            value
                .as_ref()
                .is_none_or(|v| v.fits(self.module.fields()[index].kind))
        );
        self.values[index] = value;
        self.keep &= !(1 << index);
    }

    /// Moves the values out, in template order.
    pub fn into_values(self) -> Vec<Option<FieldValue>> {
        self.values
    }

    /// The business key (every module's first field).
    pub fn code(&self) -> &str {
        self.text_at(0).unwrap_or_default()
    }

    /// The referenced customer's code, for modules that reference customers.
    pub fn customer_code(&self) -> Option<&str> {
        self.module.reference().and_then(|(i, _)| self.text_at(i))
    }

    /// Whether the record carries its own 创建时间 (only customers have one).
    pub fn has_created_at(&self) -> bool {
        self.get(CREATED_AT).is_some()
    }

    /// The field values as display text, in template order (previews and error files).
    pub fn display_values(&self) -> Vec<String> {
        self.values
            .iter()
            .map(|v| v.as_ref().map(FieldValue::display).unwrap_or_default())
            .collect()
    }
}

/// The key of the record's own creation date, where a module has one.
pub const CREATED_AT: &str = "created_at";

/// A batch of records of one module: what the store writes and what export pages return.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Records {
    module: Module,
    rows: Vec<Record>,
}

impl Records {
    /// An empty batch of `module`.
    pub fn empty(module: Module) -> Self {
        Records {
            module,
            rows: Vec::new(),
        }
    }

    /// A batch of `module` from records, which must all be of that module.
    pub fn from_vec(module: Module, rows: Vec<Record>) -> Result<Self, RecordError> {
        if let Some(other) = rows.iter().find(|r| r.module != module) {
            return Err(RecordError::ModuleMismatch {
                expected: module,
                found: other.module,
            });
        }
        Ok(Records { module, rows })
    }

    pub fn module(&self) -> Module {
        self.module
    }

    pub fn len(&self) -> usize {
        self.rows.len()
    }

    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    /// Appends a record of this batch's module.
    pub fn push(&mut self, record: Record) -> Result<(), RecordError> {
        if record.module != self.module {
            return Err(RecordError::ModuleMismatch {
                expected: self.module,
                found: record.module,
            });
        }
        self.rows.push(record);
        Ok(())
    }

    pub fn get(&self, index: usize) -> Option<&Record> {
        self.rows.get(index)
    }

    pub fn iter(&self) -> std::slice::Iter<'_, Record> {
        self.rows.iter()
    }

    pub fn as_slice(&self) -> &[Record] {
        &self.rows
    }

    pub fn into_vec(self) -> Vec<Record> {
        self.rows
    }

    /// The business keys, in batch order.
    pub fn codes(&self) -> Vec<&str> {
        self.rows.iter().map(Record::code).collect()
    }

    /// The referenced customer codes (empty for customers), in batch order.
    pub fn customer_codes(&self) -> Vec<&str> {
        self.rows.iter().filter_map(Record::customer_code).collect()
    }

    /// The last code of the batch: the keyset cursor for the next export page.
    pub fn last_code(&self) -> Option<&str> {
        self.rows.last().map(Record::code)
    }
}

impl IntoIterator for Records {
    type Item = Record;
    type IntoIter = std::vec::IntoIter<Record>;
    fn into_iter(self) -> Self::IntoIter {
        self.rows.into_iter()
    }
}

impl<'a> IntoIterator for &'a Records {
    type Item = &'a Record;
    type IntoIter = std::slice::Iter<'a, Record>;
    fn into_iter(self) -> Self::IntoIter {
        self.rows.iter()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_are_set_and_read_by_key_with_their_kind_checked() {
        let mut r = Record::new(Module::Customers);
        r.set("code", Some(FieldValue::Text("C1".into()))).unwrap();
        r.set("contract_amount", Some(FieldValue::Cents(12_345))).unwrap();
        assert_eq!(r.code(), "C1");
        assert_eq!(r.get("contract_amount"), Some(&FieldValue::Cents(12_345)));
        assert!(matches!(
            r.set("contract_amount", Some(FieldValue::Text("x".into()))),
            Err(RecordError::WrongKind { .. })
        ));
        assert!(matches!(
            r.set("wechat", None),
            Err(RecordError::UnknownField { .. })
        ));
        assert_eq!(r.customer_code(), None);
        let mut c = Record::new(Module::Contacts);
        c.set("customer_code", Some(FieldValue::Text("C1".into())))
            .unwrap();
        assert_eq!(c.customer_code(), Some("C1"));
        let mut batch = Records::empty(Module::Customers);
        assert!(batch.push(c).is_err());
        batch.push(r).unwrap();
        assert_eq!(batch.codes(), ["C1"]);
    }

    #[test]
    fn kept_fields_take_the_stored_value_and_only_those() {
        let text = |s: &str| Some(FieldValue::Text(s.into()));
        let stored = Record::from_pairs(
            Module::Customers,
            [
                ("code", text("C1")),
                ("name", text("旧")),
                ("phone", text("1")),
                ("remarks", text("r")),
            ],
        )
        .unwrap();
        let mut update =
            Record::from_pairs(Module::Customers, [("code", text("C1")), ("name", text("新"))]).unwrap();
        let phone = Module::Customers.index_of("phone");
        update.keep_stored(phone);
        assert!(update.keeps_any() && update.keeps_stored(phone));
        update.merge_stored(&stored);
        assert!(!update.keeps_any());
        assert_eq!(update.text("name"), Some("新"));
        assert_eq!(update.text("phone"), Some("1"));
        // Not kept: written empty.
        assert_eq!(update.text("remarks"), None);
        // Setting a value ends keeping it.
        let mut r = Record::new(Module::Customers);
        r.keep_stored(phone);
        r.set("phone", text("2")).unwrap();
        assert!(!r.keeps_any());
        assert!(Module::ALL.iter().all(|m| m.fields().len() <= 64));
    }

    #[test]
    fn display_values_follow_the_registry() {
        let mut r = Record::new(Module::Contacts);
        r.set("is_primary", Some(FieldValue::Bool(true))).unwrap();
        let shown = r.display_values();
        assert_eq!(shown.len(), Module::Contacts.fields().len());
        assert_eq!(shown[Module::Contacts.index_of("is_primary")], "是");
        assert_eq!(format_cents(-5), "-0.05");
    }
}
