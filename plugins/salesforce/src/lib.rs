//! The `salesforce` layout plugin: reads and writes the CSV files of Salesforce Data Loader and
//! Bulk API 2.0 for **Account**, **Contact** and **Opportunity**, translated to and from
//! dataport's modules (customers ← Account, contacts ← Contact, opportunities ← Opportunity).
//!
//! `plugins/salesforce/README.md` has the complete mapping tables; in short:
//!
//! * **Format.** Format name `salesforce`, no file extensions (a Salesforce export is a `.csv`,
//!   so the caller chooses the format explicitly), reads and writes, modules `customers`,
//!   `contacts`, `opportunities`, streaming (no seek). CSV parsing, encodings and row numbers are
//!   [`dataport_format_csv::CsvPlugin`]'s.
//! * **Options.** `module` (required; the host passes it), `key_field` (the column holding the
//!   record key `code`: default [`DEFAULT_ACCOUNT_KEY_FIELD`] for Account,
//!   [`DEFAULT_CONTACT_KEY_FIELD`] for Contact, [`DEFAULT_OPPORTUNITY_KEY_FIELD`] for
//!   Opportunity), `account_key_field` (contacts and opportunities: the column holding the parent
//!   account's key `customer_code`, default [`DEFAULT_ACCOUNT_KEY_REFERENCE`]), and the CSV
//!   options `encoding` and `delimiter` (reading; writing takes `encoding` = UTF-8 only) and
//!   `bom` (writing, default **false**: Data Loader and Bulk API 2.0 want plain UTF-8).
//! * **Reading.** The header is the module's field keys in template order, every field present;
//!   vendor headers match ignoring ASCII case and surrounding spaces (Data Loader writes
//!   `ACCOUNTNUMBER`); columns the plugin does not map are ignored, fields the file has no column
//!   for are `Null`. A file without the key column (or, for contacts and opportunities, the
//!   account reference column) fails with [`ErrorKind::MalformedFile`](dataport_plugin_sdk::ErrorKind)
//!   naming the column and the option. Rating, Industry and StageName are translated; a value
//!   without a mapping is a row error of kind `InvalidValue` naming the value and the column,
//!   and the row is left out. ISO-8601 dates and dateTimes become date cells (the date part, as
//!   written); other values pass on as text, for the host's own checks. The CSV reader's row
//!   errors pass through; row numbers are the vendor file's.
//! * **Writing.** Columns named by field key (any subset, any order; template labels are
//!   accepted too) become the Salesforce columns of those fields in template order, with
//!   translated values, dates `YYYY-MM-DD` (date fields) or `YYYY-MM-DDT00:00:00.000Z`
//!   (dateTime fields) and amounts with two decimals. A value without a Salesforce mapping fails
//!   the write with `InvalidValue` naming the value, the field and the record.
//!
//! ```
//! use dataport_plugin_salesforce::SalesforcePlugin;
//! use dataport_plugin_sdk::{Cell, Options, Plugin, ReadOnly, read_all};
//!
//! let csv = "\"ACCOUNTNUMBER\",\"NAME\",\"RATING\",\"INDUSTRY\"\r\n\"CUST001\",\"云启科技\",\"Hot\",\"Banking\"\r\n";
//! let options = Options::new().with("module", "customers");
//! let mut reader = SalesforcePlugin
//!     .open_reader("salesforce", &options, Box::new(ReadOnly(csv.as_bytes())))
//!     .unwrap();
//! let (header, rows) = read_all(&mut *reader, 100).unwrap();
//! assert_eq!(&header[..3], ["code", "name", "industry"]);
//! assert_eq!(rows.rows[0].number, 2);
//! assert_eq!(rows.rows[0].cells[2], Cell::text("金融"));
//! assert_eq!(rows.rows[0].cells[5], Cell::text("VIP"));
//! ```

mod convert;
mod maps;
mod objects;
mod reader;
mod writer;

use dataport_format_csv::CsvPlugin;
use dataport_plugin_sdk::{
    ByteSink, ByteSource, Descriptor, Direction, OptionKind, OptionSpec, Options, Plugin, PluginError,
    Reader, Writer,
};
use dataport_vendor_layout::{
    MODULES, ensure_utf8_writing, module_spec, pass_through, reuse_specs, served_format, utf8_writing_spec,
};

use crate::objects::Config;
pub use crate::objects::{
    DEFAULT_ACCOUNT_KEY_FIELD, DEFAULT_ACCOUNT_KEY_REFERENCE, DEFAULT_CONTACT_KEY_FIELD,
    DEFAULT_OPPORTUNITY_KEY_FIELD,
};
use crate::reader::SalesforceReader;
use crate::writer::SalesforceWriter;

/// The one format this plugin serves.
const FORMAT: &str = "salesforce";

/// Every option of the salesforce plugin.
pub fn declared_options() -> Vec<OptionSpec> {
    let mut options = vec![
        module_spec(),
        OptionSpec::new(
            "key_field",
            OptionKind::Text,
            format!(
                "the column holding the record key (code): {DEFAULT_ACCOUNT_KEY_FIELD} for Accounts, \
                 {DEFAULT_CONTACT_KEY_FIELD} for Contacts and Opportunities"
            ),
        )
        .reading()
        .writing(),
        OptionSpec::new(
            "account_key_field",
            OptionKind::Text,
            "contacts and opportunities: the column holding the Account's key (customer_code)",
        )
        .reading()
        .writing()
        .default_value(DEFAULT_ACCOUNT_KEY_REFERENCE),
    ];
    options.extend(reuse_specs(
        &dataport_format_csv::declared_options(),
        &["encoding", "delimiter"],
    ));
    options.push(utf8_writing_spec("Salesforce's importers read UTF-8"));
    options.push(
        OptionSpec::new(
            "bom",
            OptionKind::Bool,
            "start written files with a UTF-8 byte order mark",
        )
        .writing()
        .default_value("false"),
    );
    options
}

/// The salesforce plugin. See the crate documentation.
#[derive(Debug, Clone, Copy, Default)]
pub struct SalesforcePlugin;

fn check_format(format: &str) -> Result<(), PluginError> {
    served_format(format, "salesforce", &[FORMAT]).map(|_| ())
}

impl Plugin for SalesforcePlugin {
    fn descriptor(&self) -> Descriptor {
        Descriptor::new("salesforce", env!("CARGO_PKG_VERSION"))
            .format(FORMAT)
            .reads()
            .writes()
            .modules(MODULES)
            .options(declared_options())
    }

    fn open_reader(
        &self,
        format: &str,
        options: &Options,
        source: Box<dyn ByteSource>,
    ) -> Result<Box<dyn Reader>, PluginError> {
        check_format(format)?;
        options.check_declared(&declared_options(), Direction::Read)?;
        let config = Config::from_options(options)?;
        let csv = CsvPlugin.open_reader("csv", &pass_through(options, &["encoding", "delimiter"]), source)?;
        Ok(Box::new(SalesforceReader::new(config, csv)))
    }

    fn open_writer(
        &self,
        format: &str,
        options: &Options,
        sink: Box<dyn ByteSink>,
    ) -> Result<Box<dyn Writer>, PluginError> {
        check_format(format)?;
        // Before the declared check, whose message for this would only list utf-8.
        ensure_utf8_writing(options, |encoding| {
            format!(
                "option `encoding` cannot be `{encoding}` for writing: Salesforce CSV is written in \
                 UTF-8, which Data Loader and Bulk API 2.0 expect"
            )
        })?;
        options.check_declared(&declared_options(), Direction::Write)?;
        let config = Config::from_options(options)?;
        let bom = options.get_bool("bom")?.unwrap_or(false);
        let csv_options = pass_through(options, &["delimiter"]).with("bom", bom.to_string());
        let csv = CsvPlugin.open_writer("csv", &csv_options, sink)?;
        Ok(Box::new(SalesforceWriter::new(config, csv)))
    }
}

dataport_plugin_sdk::export_plugin!(SalesforcePlugin);
