//! The reader: a csv or xlsx reader underneath, its header turned into a plan (which file column
//! feeds which field), its rows translated by the plan.

use dataport_core::Module;
use dataport_plugin_sdk::{Cell, ErrorKind, PluginError, Reader, RowBatch};
use dataport_vendor_layout::{ColumnListing, VendorHeader, field_keys, translate_rows};

use crate::layout::{self, KeyNames, ReadRule};
use crate::mapping::ValueMap;
use crate::values;

/// How one output field is made from the file's cells.
#[derive(Debug)]
enum Plan {
    Null,
    Text(usize),
    FirstOf(Vec<usize>),
    /// A key column: text, and, for the company key, one ID only (HubSpot separates several
    /// associated IDs with `;`).
    Key {
        col: usize,
        column: String,
        single: bool,
    },
    Enum {
        col: usize,
        column: String,
        map: &'static ValueMap,
    },
    Date(usize),
    Amount(usize),
    Name {
        first: Option<usize>,
        last: Option<usize>,
    },
    /// Street, street 2, city, state, postal code, country.
    Address([Option<usize>; 6]),
}

fn plan(module: Module, names: &KeyNames, header: &[String]) -> Result<Vec<Plan>, PluginError> {
    // Trimmed, ASCII case ignored; a missing column's message lists the columns trimmed.
    let columns = VendorHeader::new(header, ColumnListing::Trimmed);
    let object = match module {
        Module::Customers => "company",
        Module::Contacts => "contact",
        Module::Opportunities => "deal",
    };
    module
        .fields()
        .iter()
        .map(|field| {
            Ok(match layout::read_rule(module, field.key) {
                ReadRule::Key => {
                    let col = columns.required(&names.key, "key_field", &format!("{object} key"))?;
                    Plan::Key {
                        col,
                        column: columns.name(col).to_owned(),
                        single: false,
                    }
                }
                ReadRule::CompanyKey => {
                    let what = format!("{object}'s company key");
                    let col = columns.required(&names.company_key, "company_key_field", &what)?;
                    Plan::Key {
                        col,
                        column: columns.name(col).to_owned(),
                        single: true,
                    }
                }
                ReadRule::Text(names) => columns.find_any(names)?.map_or(Plan::Null, Plan::Text),
                ReadRule::FirstOf(list) => {
                    let mut found = Vec::new();
                    for names in list {
                        found.extend(columns.find_any(names)?);
                    }
                    if found.is_empty() {
                        Plan::Null
                    } else {
                        Plan::FirstOf(found)
                    }
                }
                ReadRule::Enum(names, map) => columns.find_any(names)?.map_or(Plan::Null, |col| Plan::Enum {
                    col,
                    column: columns.name(col).to_owned(),
                    map,
                }),
                ReadRule::Date(names) => columns.find_any(names)?.map_or(Plan::Null, Plan::Date),
                ReadRule::Amount(names) => columns.find_any(names)?.map_or(Plan::Null, Plan::Amount),
                ReadRule::Name => match (
                    columns.find_any(layout::FIRST_NAME)?,
                    columns.find_any(layout::LAST_NAME)?,
                ) {
                    (None, None) => Plan::Null,
                    (first, last) => Plan::Name { first, last },
                },
                ReadRule::Address => {
                    let mut parts = [None; 6];
                    let names = [
                        layout::STREET,
                        layout::STREET2,
                        layout::CITY,
                        layout::STATE,
                        layout::POSTAL_CODE,
                        layout::COUNTRY,
                    ];
                    for (slot, names) in parts.iter_mut().zip(names) {
                        *slot = columns.find_any(names)?;
                    }
                    if parts.iter().all(Option::is_none) {
                        Plan::Null
                    } else {
                        Plan::Address(parts)
                    }
                }
                ReadRule::Absent => Plan::Null,
            })
        })
        .collect()
}

/// Translates one row; `Err` holds the messages of its values without a mapping.
fn translate(plans: &[Plan], cells: &[Cell]) -> Result<Vec<Cell>, Vec<String>> {
    let cell = |col: usize| cells.get(col).unwrap_or(&Cell::Null);
    let opt = |col: Option<usize>| col.map(cell);
    let mut problems = Vec::new();
    let out = plans
        .iter()
        .map(|plan| match plan {
            Plan::Null => Cell::Null,
            Plan::Text(col) => values::text_cell(cell(*col)),
            Plan::FirstOf(cols) => cols
                .iter()
                .map(|c| cell(*c))
                .find(|c| !values::is_blank(c))
                .map_or(Cell::Null, values::text_cell),
            Plan::Key { col, column, single } => {
                let value = values::text_cell(cell(*col));
                if let Cell::Text(s) = &value
                    && *single
                    && s.contains(';')
                {
                    problems.push(format!(
                        "{column} \"{s}\" names more than one company; keep one company ID per row"
                    ));
                }
                value
            }
            Plan::Enum { col, column, map } => {
                let value = cell(*col);
                match value {
                    _ if values::is_blank(value) => Cell::Null,
                    // Formulas go on as they are, for dataport to refuse.
                    Cell::Formula(_) => value.clone(),
                    _ => {
                        let text = values::display(value);
                        match map.to_canonical(&text) {
                            Some(canonical) => Cell::text(canonical),
                            None => {
                                problems.push(format!(
                                    "{column} \"{}\" has no mapping; {}",
                                    text.trim(),
                                    map.known_vendor_values()
                                ));
                                Cell::Null
                            }
                        }
                    }
                }
            }
            Plan::Date(col) => values::date_cell(cell(*col)),
            Plan::Amount(col) => values::amount_cell(cell(*col)),
            Plan::Name { first, last } => values::compose_name(opt(*first), opt(*last)),
            Plan::Address([street, street2, city, state, postal_code, country]) => {
                values::compose_address(values::AddressCells {
                    street: opt(*street),
                    street2: opt(*street2),
                    city: opt(*city),
                    state: opt(*state),
                    postal_code: opt(*postal_code),
                    country: opt(*country),
                })
            }
        })
        .collect();
    if problems.is_empty() {
        Ok(out)
    } else {
        Err(problems)
    }
}

/// The [`Reader`] of the plugin.
pub(crate) struct HubSpotReader {
    inner: Box<dyn Reader>,
    module: Module,
    names: KeyNames,
    /// Set by `header`.
    plans: Option<Vec<Plan>>,
}

impl HubSpotReader {
    pub(crate) fn new(inner: Box<dyn Reader>, module: Module, names: KeyNames) -> HubSpotReader {
        HubSpotReader {
            inner,
            module,
            names,
            plans: None,
        }
    }
}

impl Reader for HubSpotReader {
    fn header(&mut self) -> Result<Vec<String>, PluginError> {
        let file_header = self.inner.header()?;
        self.plans = Some(plan(self.module, &self.names, &file_header)?);
        Ok(field_keys(self.module))
    }

    fn next_batch(&mut self, max_rows: usize) -> Result<Option<RowBatch>, PluginError> {
        let Some(plans) = &self.plans else {
            return Err(PluginError::new(
                ErrorKind::InvalidArgument,
                "header must be read before the rows",
            ));
        };
        let Some(batch) = self.inner.next_batch(max_rows)? else {
            return Ok(None);
        };
        // Row errors of the file format (ragged rows, bad bytes) come through as they are.
        Ok(Some(translate_rows(batch, |cells| translate(plans, cells))))
    }
}
