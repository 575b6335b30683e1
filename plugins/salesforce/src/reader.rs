//! The reader: a CSV reader underneath, the vendor header resolved once into a plan, each row
//! translated into the module's fields.

use dataport_plugin_sdk::{Cell, PluginError, Reader, RowBatch};
use dataport_vendor_layout::{ColumnListing, VendorHeader, field_keys, translate_rows};

use crate::convert::{Address, full_name, parse_date};
use crate::maps::Picklist;
use crate::objects::{BILLING_COLUMNS, Config, FieldMap};

/// Where one output field comes from, with column indexes of the vendor file.
#[derive(Debug)]
enum Source {
    /// The file has no column for it.
    Null,
    /// The first of these columns that is not blank, as it is.
    Text(Vec<usize>),
    Picklist(usize, &'static Picklist),
    Date(usize),
    PersonName {
        first: Option<usize>,
        last: Option<usize>,
        full: Option<usize>,
    },
    Address([Option<usize>; 5]),
}

/// The translation of one file.
struct Plan {
    /// The vendor header, for messages (`Rating "Lukewarm" …` names the column as written).
    header: Vec<String>,
    sources: Vec<Source>,
}

impl Plan {
    fn new(config: &Config, names: Vec<String>) -> Result<Plan, PluginError> {
        // Vendor headers match ignoring ASCII case and surrounding spaces (Data Loader writes
        // `ACCOUNTNUMBER`, Bulk API 2.0 `AccountNumber`); a missing column's message lists the
        // columns as the file spells them.
        let header = VendorHeader::new(&names, ColumnListing::AsWritten);
        let mut sources = Vec::new();
        for field in config.module.fields() {
            let source = match FieldMap::of(config.module, field.key) {
                FieldMap::Key => Source::Text(vec![header.required(
                    &config.key_field,
                    "key_field",
                    &format!("{} key", config.object),
                )?]),
                FieldMap::AccountKey => Source::Text(vec![header.required(
                    &config.account_key_field,
                    "account_key_field",
                    &format!("{}'s account reference", config.object),
                )?]),
                FieldMap::Text(columns) => Source::Text(header.find_all(columns)?),
                FieldMap::Picklist(p) => match header.find(p.field)? {
                    Some(i) => Source::Picklist(i, p),
                    None => Source::Null,
                },
                FieldMap::Date { column, .. } => header.find(column)?.map_or(Source::Null, Source::Date),
                // Amounts go on as text; the host checks them (two decimals, not negative).
                FieldMap::Amount(column) => Source::Text(header.find_all(&[column])?),
                FieldMap::PersonName => Source::PersonName {
                    first: header.find("FirstName")?,
                    last: header.find("LastName")?,
                    full: header.find("Name")?,
                },
                FieldMap::Address => {
                    let mut columns = [None; 5];
                    for (slot, name) in columns.iter_mut().zip(BILLING_COLUMNS) {
                        *slot = header.find(name)?;
                    }
                    Source::Address(columns)
                }
                FieldMap::Unmapped => Source::Null,
            };
            sources.push(match source {
                Source::Text(columns) if columns.is_empty() => Source::Null,
                Source::Address(columns) if columns.iter().all(Option::is_none) => Source::Null,
                Source::PersonName {
                    first: None,
                    last: None,
                    full: None,
                } => Source::Null,
                other => other,
            });
        }
        Ok(Plan {
            header: names,
            sources,
        })
    }

    /// The module's cells of one vendor row, or the messages of its untranslatable values.
    fn translate(&self, cells: &[Cell]) -> Result<Vec<Cell>, Vec<String>> {
        let text = |i: &usize| cells.get(*i).and_then(Cell::as_text).unwrap_or("");
        let opt = |i: &Option<usize>| i.as_ref().map_or("", text);
        let mut out = Vec::with_capacity(self.sources.len());
        let mut problems = Vec::new();
        for source in &self.sources {
            let cell = match source {
                Source::Null => Cell::Null,
                Source::Text(columns) => columns
                    .iter()
                    .map(text)
                    .find(|v| !v.trim().is_empty())
                    .map_or(Cell::Null, Cell::text),
                Source::Picklist(i, picklist) => {
                    let value = text(i).trim();
                    if value.is_empty() {
                        Cell::Null
                    } else if let Some(mapped) = picklist.to_dataport(value) {
                        Cell::text(mapped)
                    } else {
                        problems.push(format!(
                            "{} \"{value}\" has no mapping; known values: {}",
                            self.column_name(*i, picklist.field),
                            picklist.salesforce_values()
                        ));
                        Cell::Null
                    }
                }
                Source::Date(i) => {
                    let value = text(i);
                    if value.trim().is_empty() {
                        Cell::Null
                    } else {
                        // Not a date: the text goes on, and the host reports INVALID_DATE for it.
                        parse_date(value).map_or_else(|| Cell::text(value), Cell::Date)
                    }
                }
                Source::PersonName { first, last, full } => full_name(opt(first), opt(last))
                    .or_else(|| {
                        Some(opt(full).trim())
                            .filter(|n| !n.is_empty())
                            .map(str::to_owned)
                    })
                    .map_or(Cell::Null, Cell::Text),
                Source::Address([street, city, state, postal_code, country]) => Address {
                    street: opt(street),
                    city: opt(city),
                    state: opt(state),
                    postal_code: opt(postal_code),
                    country: opt(country),
                }
                .join()
                .map_or(Cell::Null, Cell::Text),
            };
            out.push(cell);
        }
        if problems.is_empty() {
            Ok(out)
        } else {
            Err(problems)
        }
    }

    /// The column `i` as the file spells it (its API name if the header is odd).
    fn column_name<'a>(&'a self, i: usize, api_name: &'a str) -> &'a str {
        self.header
            .get(i)
            .map(|n| n.trim())
            .filter(|n| !n.is_empty())
            .unwrap_or(api_name)
    }
}

/// Reads one Salesforce CSV file as the module's fields.
pub(crate) struct SalesforceReader {
    config: Config,
    csv: Box<dyn Reader>,
    /// Set by `header`; `None` before, and for an empty file.
    plan: Option<Plan>,
    /// The header handed out (the module's field keys), once read.
    header: Option<Vec<String>>,
}

impl SalesforceReader {
    pub(crate) fn new(config: Config, csv: Box<dyn Reader>) -> SalesforceReader {
        SalesforceReader {
            config,
            csv,
            plan: None,
            header: None,
        }
    }
}

impl Reader for SalesforceReader {
    fn header(&mut self) -> Result<Vec<String>, PluginError> {
        if let Some(header) = &self.header {
            return Ok(header.clone());
        }
        let names = self.csv.header()?;
        let header: Vec<String> = if names.is_empty() {
            // An empty file: no header, as the csv format reports it.
            Vec::new()
        } else {
            self.plan = Some(Plan::new(&self.config, names)?);
            field_keys(self.config.module)
        };
        self.header = Some(header.clone());
        Ok(header)
    }

    fn next_batch(&mut self, max_rows: usize) -> Result<Option<RowBatch>, PluginError> {
        if self.header.is_none() {
            self.header()?;
        }
        let Some(plan) = &self.plan else {
            return Ok(None);
        };
        // Each vendor row becomes one row or its errors, so the CSV batch's source rows are ours.
        let Some(csv) = self.csv.next_batch(max_rows)? else {
            return Ok(None);
        };
        // The CSV reader's own errors and ours, in file order.
        Ok(Some(translate_rows(csv, |cells| plan.translate(cells))))
    }
}
