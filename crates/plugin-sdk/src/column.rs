//! Columns a writer is asked to write: the header label plus how to present the values.

use dataport_plugin_abi as abi;

/// How a writer should present a column's values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum ColumnKind {
    /// No particular type: write cells as they come.
    #[default]
    General,
    /// Text that must stay text (codes, phone numbers): spreadsheet writers format the whole
    /// column as text so leading zeros and long digit strings survive editing.
    Text,
    /// Whole numbers.
    Integer,
    /// Money with exactly two decimal places (`1234.50`).
    Decimal2,
    /// Calendar dates: `YYYY-MM-DD` in text formats, date cells in spreadsheets.
    Date,
    /// Date and time.
    DateTime,
    /// Booleans.
    Bool,
}

impl ColumnKind {
    /// The `COLUMN_*` constant of the ABI.
    pub fn to_abi(self) -> u32 {
        match self {
            ColumnKind::General => abi::COLUMN_GENERAL,
            ColumnKind::Text => abi::COLUMN_TEXT,
            ColumnKind::Integer => abi::COLUMN_INTEGER,
            ColumnKind::Decimal2 => abi::COLUMN_DECIMAL2,
            ColumnKind::Date => abi::COLUMN_DATE,
            ColumnKind::DateTime => abi::COLUMN_DATETIME,
            ColumnKind::Bool => abi::COLUMN_BOOL,
        }
    }

    /// The kind of an ABI constant; unknown values (from a newer host) are `General`.
    pub fn from_abi(kind: u32) -> ColumnKind {
        match kind {
            abi::COLUMN_TEXT => ColumnKind::Text,
            abi::COLUMN_INTEGER => ColumnKind::Integer,
            abi::COLUMN_DECIMAL2 => ColumnKind::Decimal2,
            abi::COLUMN_DATE => ColumnKind::Date,
            abi::COLUMN_DATETIME => ColumnKind::DateTime,
            abi::COLUMN_BOOL => ColumnKind::Bool,
            _ => ColumnKind::General,
        }
    }
}

/// One column of a sheet a writer writes.
///
/// Plain text formats use only `name`. Spreadsheet writers use `kind` for cell formats, and an
/// import template also carries `choices` (a drop-down list), `required` and a `comment` (the
/// fill-in rule, shown as a note on the header cell).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Column {
    /// The header label.
    pub name: String,
    pub kind: ColumnKind,
    /// The column must be filled in.
    pub required: bool,
    /// Allowed values; empty for free input.
    pub choices: Vec<String>,
    /// A note for the header cell; empty for none.
    pub comment: String,
}

impl Column {
    /// A general column called `name`.
    pub fn new(name: impl Into<String>) -> Column {
        Column {
            name: name.into(),
            ..Column::default()
        }
    }

    /// Sets the kind.
    pub fn kind(mut self, kind: ColumnKind) -> Column {
        self.kind = kind;
        self
    }

    /// Plain columns named `names`, for writers of text formats and tests.
    pub fn named<S: Into<String>>(names: impl IntoIterator<Item = S>) -> Vec<Column> {
        names.into_iter().map(Column::new).collect()
    }
}
