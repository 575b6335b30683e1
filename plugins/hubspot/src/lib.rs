//! The `hubspot` layout plugin: reads and writes HubSpot CRM exports of companies, contacts and
//! deals, in CSV and xlsx, as dataport's customers, contacts and opportunities.
//!
//! Built on [`dataport_format_csv::CsvPlugin`] and [`dataport_format_xlsx::XlsxPlugin`]: their
//! readers and writers do the file format (encodings, quoting, zip-bomb defences, constant-memory
//! sheets), this crate only translates columns and values. The column and value tables are in
//! the crate's `README.md`; the code keeps them in `layout.rs` and `mapping.rs`.
//!
//! # Descriptor
//!
//! Name `hubspot`, formats `hubspot` (CSV) and `hubspot-xlsx` (xlsx), no file extensions (a
//! HubSpot export is an ordinary `.csv`/`.xlsx`, so the format is always chosen explicitly),
//! reads, writes, `needs_seek`, modules `customers`, `contacts` and `opportunities`.
//!
//! # Reading
//!
//! Both formats read either kind of file: a file starting with the zip signature `PK\x03\x04` is
//! read as xlsx (hence `needs_seek`), anything else as CSV. The header is the module's field keys
//! in template order (`code`, `name`, …), every field present; a field the file cannot fill is a
//! column of [`Cell::Null`]s, and columns the plugin does not know are ignored. Row numbers are the
//! HubSpot file's; row errors of the file format (ragged CSV rows, bad bytes) come through
//! unchanged. A HubSpot value without a mapping (an unknown `Industry`, `Deal Stage` or `Lead
//! Status`) is a [`RowError`](dataport_plugin_sdk::RowError) of kind [`ErrorKind::InvalidValue`]
//! naming the value and the column, and the row is left out. A file without the key column (or,
//! for contacts and deals, the company key column) fails with [`ErrorKind::MalformedFile`] naming
//! the column and the option, as does a file with a column the plugin uses twice.
//!
//! # Writing
//!
//! The writer takes columns named by field key (or template label; any subset, any order) with
//! unescaped values, and
//! writes HubSpot's columns in a fixed order per object: CSV through the csv writer (UTF-8 with a
//! BOM by default, as HubSpot's own exports, CRLF), xlsx through the xlsx writer. Dates are
//! `YYYY-MM-DD` in CSV and date cells in xlsx, amounts have two decimals. A dataport value with no
//! HubSpot value (industry 其他) fails the export with [`ErrorKind::InvalidValue`] naming the
//! field, the value and the record, as the salesforce plugin does.
//!
//! # Options
//!
//! | option | applies to | default | meaning |
//! |---|---|---|---|
//! | `module` | all | (the host passes it) | `customers`, `contacts` or `opportunities` |
//! | `key_field` | all | `Record ID` | the column holding the record key (`code`) |
//! | `company_key_field` | contacts, opportunities | `Associated Company IDs (Primary)` | the column holding the company's key (`customer_code`) |
//! | `encoding`, `delimiter` | reading CSV | auto, sniffed | passed to the csv reader |
//! | `bom`, `delimiter` | writing `hubspot` | `true`, `,` | passed to the csv writer |
//! | `encoding` | writing `hubspot` | `utf-8` | only UTF-8 is accepted |
//! | `sheet` | reading xlsx, writing `hubspot-xlsx` | first sheet, `Sheet1` | passed to the xlsx reader/writer |
//!
//! An option that does not apply is an [`ErrorKind::InvalidOption`] error, as is an unknown one.
//!
//! ```
//! use dataport_plugin_sdk::{Cell, Options, Plugin, read_all};
//! use dataport_plugin_hubspot::HubSpotPlugin;
//!
//! let file = "Record ID,Company name,Industry,Company owner,Create Date\r\n\
//!             9876543201,北京星云科技有限公司,COMPUTER_SOFTWARE,张伟,2023-10-01 08:30\r\n";
//! let options = Options::new().with("module", "customers");
//! let source = Box::new(std::io::Cursor::new(file.as_bytes().to_vec()));
//! let mut reader = HubSpotPlugin.open_reader("hubspot", &options, source).unwrap();
//! let (header, rows) = read_all(&mut *reader, 100).unwrap();
//! assert_eq!(header[..3], ["code", "name", "industry"]);
//! assert_eq!(rows.rows[0].number, 2);
//! assert_eq!(rows.rows[0].cells[2], Cell::text("软件和信息技术服务"));
//! assert_eq!(rows.rows[0].cells[11], Cell::date(2023, 10, 1).unwrap());
//! ```

mod layout;
mod mapping;
mod reader;
mod values;
mod writer;

use std::io::{Cursor, ErrorKind as IoErrorKind, Read, Seek, SeekFrom};

use dataport_core::Module;
use dataport_format_csv::CsvPlugin;
use dataport_format_xlsx::XlsxPlugin;
use dataport_plugin_sdk::{
    ByteSink, ByteSource, Descriptor, Direction, ErrorKind, OptionKind, OptionSpec, Options, Plugin,
    PluginError, ReadOnly, Reader, Writer,
};
use dataport_vendor_layout::{
    MODULES, ensure_utf8_writing, module_option, module_spec, pass_through, reuse_specs, served_format,
    utf8_writing_spec,
};

#[cfg(doc)]
use dataport_plugin_sdk::Cell;

pub use layout::{DEFAULT_COMPANY_KEY_FIELD, DEFAULT_KEY_FIELD};

use crate::layout::{Header, KeyNames};
use crate::reader::HubSpotReader;
use crate::writer::HubSpotWriter;

/// The format of HubSpot CSV files.
pub const FORMAT_CSV: &str = "hubspot";
/// The format of HubSpot xlsx files.
pub const FORMAT_XLSX: &str = "hubspot-xlsx";

/// Every option of the hubspot plugin; which ones apply also depends on the file underneath
/// (csv or xlsx, see the crate docs).
pub fn declared_options() -> Vec<OptionSpec> {
    let mut options = vec![
        module_spec(),
        OptionSpec::new(
            "key_field",
            OptionKind::Text,
            "the column holding the record key (code)",
        )
        .reading()
        .writing()
        .default_value(DEFAULT_KEY_FIELD),
        OptionSpec::new(
            "company_key_field",
            OptionKind::Text,
            "contacts and opportunities: the column holding the company's key (customer_code)",
        )
        .reading()
        .writing()
        .default_value(DEFAULT_COMPANY_KEY_FIELD),
    ];
    for mut csv in reuse_specs(
        &dataport_format_csv::declared_options(),
        &["encoding", "delimiter", "bom"],
    ) {
        csv.help = format!("csv files: {}", csv.help);
        options.push(csv);
    }
    options.push(utf8_writing_spec("HubSpot's own exports are UTF-8"));
    for mut xlsx in reuse_specs(&dataport_format_xlsx::declared_options(), &["sheet"]) {
        xlsx.help = format!("xlsx files: {}", xlsx.help);
        options.push(xlsx);
    }
    options
}
const CSV_READ_OPTIONS: &[&str] = &["encoding", "delimiter"];
const XLSX_READ_OPTIONS: &[&str] = &["sheet"];
const CSV_WRITE_OPTIONS: &[&str] = &["bom", "delimiter", "encoding"];
/// The options of [`CSV_WRITE_OPTIONS`] the csv writer itself takes.
const CSV_WRITER_OWN_OPTIONS: &[&str] = &["bom", "delimiter"];
const XLSX_WRITE_OPTIONS: &[&str] = &["sheet"];

/// The start of every zip archive, hence of every xlsx file.
const ZIP_MAGIC: [u8; 4] = *b"PK\x03\x04";

/// The hubspot plugin. See the crate documentation.
#[derive(Debug, Clone, Copy, Default)]
pub struct HubSpotPlugin;

/// The kind of file underneath.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Csv,
    Xlsx,
}

impl Kind {
    fn of_format(format: &str) -> Result<Kind, PluginError> {
        match served_format(format, "hubspot", &[FORMAT_CSV, FORMAT_XLSX])? {
            0 => Ok(Kind::Csv),
            _ => Ok(Kind::Xlsx),
        }
    }

    fn describe(self) -> &'static str {
        match self {
            Kind::Csv => "CSV",
            Kind::Xlsx => "xlsx",
        }
    }
}

/// `module`, `key_field` and `company_key_field`.
fn common_options(options: &Options) -> Result<(Module, KeyNames), PluginError> {
    let module = module_option(options, "")?;
    let column = |key: &str, default: &str| match options.get(key) {
        None => Ok(default.to_owned()),
        Some(v) if v.trim().is_empty() => Err(PluginError::invalid_option(format!(
            "option `{key}` is empty; it names a column of the HubSpot file (default `{default}`)"
        ))),
        Some(v) => Ok(v.trim().to_owned()),
    };
    let key = column("key_field", DEFAULT_KEY_FIELD)?;
    let company_key = if module == Module::Customers {
        if options.get("company_key_field").is_some() {
            return Err(PluginError::invalid_option(
                "option `company_key_field` applies to contacts and opportunities (records that belong \
                 to a company), not to customers",
            ));
        }
        String::new()
    } else {
        column("company_key_field", DEFAULT_COMPANY_KEY_FIELD)?
    };
    Ok((module, KeyNames { key, company_key }))
}

/// Refuses the first option of `other` (the options of the other kind of file).
fn refuse_other(options: &Options, other: &[&str], kind: Kind, verb: &str) -> Result<(), PluginError> {
    let other_kind = match kind {
        Kind::Csv => Kind::Xlsx,
        Kind::Xlsx => Kind::Csv,
    };
    match options
        .iter()
        .find(|(k, _)| other.iter().any(|n| n.eq_ignore_ascii_case(k)))
    {
        Some((k, _)) => Err(PluginError::invalid_option(format!(
            "option `{k}` applies to {} files, and this plugin is {verb} {}",
            other_kind.describe(),
            kind.describe()
        ))),
        None => Ok(()),
    }
}

/// Reads the first bytes: an xlsx file (zip) is rewound for the xlsx reader, which needs to
/// seek; anything else is CSV, and the bytes read are put back in front of the rest.
fn detect(mut source: Box<dyn ByteSource>) -> Result<(Kind, Box<dyn ByteSource>), PluginError> {
    let mut magic = [0u8; 4];
    let mut n = 0;
    while n < magic.len() {
        match source.read(&mut magic[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == IoErrorKind::Interrupted => continue,
            Err(e) => return Err(e.into()),
        }
    }
    if magic[..n] == ZIP_MAGIC {
        if !source.can_seek() {
            return Err(PluginError::new(
                ErrorKind::InvalidArgument,
                "this is an xlsx file, and reading it needs a seekable source (the plugin declares \
                 needs_seek)",
            ));
        }
        source.seek(SeekFrom::Current(-(n as i64)))?;
        Ok((Kind::Xlsx, source))
    } else {
        let prefix = Cursor::new(magic[..n].to_vec());
        Ok((Kind::Csv, Box::new(ReadOnly(prefix.chain(source)))))
    }
}

/// Refuses `key_field`/`company_key_field` values that would give two written columns the same
/// header.
fn check_written_headers(module: Module, names: &KeyNames) -> Result<(), PluginError> {
    let columns = layout::out_columns(module);
    for (i, a) in columns.iter().enumerate() {
        for b in &columns[i + 1..] {
            let (ha, hb) = (names.header(&a.header), names.header(&b.header));
            if a.header == b.header || !ha.eq_ignore_ascii_case(hb) {
                continue;
            }
            let option = |h: &Header| match h {
                Header::Key => Some("key_field"),
                Header::CompanyKey => Some("company_key_field"),
                Header::Fixed(_) => None,
            };
            let message = match (option(&a.header), option(&b.header)) {
                (Some(x), Some(y)) => format!("options `{x}` and `{y}` both name the column `{ha}`"),
                (Some(x), None) => format!(
                    "option `{x}` names the column `{ha}`, which the hubspot writer also writes for \
                     field `{}`",
                    b.field
                ),
                (None, Some(y)) => format!(
                    "option `{y}` names the column `{hb}`, which the hubspot writer also writes for \
                     field `{}`",
                    a.field
                ),
                (None, None) => continue,
            };
            return Err(PluginError::invalid_option(message));
        }
    }
    Ok(())
}

impl Plugin for HubSpotPlugin {
    fn descriptor(&self) -> Descriptor {
        Descriptor::new("hubspot", env!("CARGO_PKG_VERSION"))
            .format(FORMAT_CSV)
            .format(FORMAT_XLSX)
            .reads()
            .writes()
            .needs_seek()
            .modules(MODULES)
            .options(declared_options())
    }

    fn open_reader(
        &self,
        format: &str,
        options: &Options,
        source: Box<dyn ByteSource>,
    ) -> Result<Box<dyn Reader>, PluginError> {
        Kind::of_format(format)?;
        options.check_declared(&declared_options(), Direction::Read)?;
        let (module, names) = common_options(options)?;
        let (kind, source) = detect(source)?;
        let inner = match kind {
            Kind::Csv => {
                refuse_other(options, XLSX_READ_OPTIONS, kind, "reading")?;
                CsvPlugin.open_reader("csv", &pass_through(options, CSV_READ_OPTIONS), source)?
            }
            Kind::Xlsx => {
                refuse_other(options, CSV_READ_OPTIONS, kind, "reading")?;
                XlsxPlugin.open_reader("xlsx", &pass_through(options, XLSX_READ_OPTIONS), source)?
            }
        };
        Ok(Box::new(HubSpotReader::new(inner, module, names)))
    }

    fn open_writer(
        &self,
        format: &str,
        options: &Options,
        sink: Box<dyn ByteSink>,
    ) -> Result<Box<dyn Writer>, PluginError> {
        let kind = Kind::of_format(format)?;
        let (own, other) = match kind {
            Kind::Csv => (CSV_WRITE_OPTIONS, XLSX_WRITE_OPTIONS),
            Kind::Xlsx => (XLSX_WRITE_OPTIONS, CSV_WRITE_OPTIONS),
        };
        refuse_other(options, other, kind, "writing")?;
        // Before the declared check, whose message for this would only list utf-8.
        ensure_utf8_writing(options, |encoding| {
            format!(
                "option `encoding`: the hubspot writer writes UTF-8 only (as HubSpot's own exports), \
                 not `{encoding}`"
            )
        })?;
        options.check_declared(&declared_options(), Direction::Write)?;
        let (module, names) = common_options(options)?;
        check_written_headers(module, &names)?;
        let inner = match kind {
            Kind::Csv => {
                CsvPlugin.open_writer("csv", &pass_through(options, CSV_WRITER_OWN_OPTIONS), sink)?
            }
            Kind::Xlsx => XlsxPlugin.open_writer("xlsx", &pass_through(options, own), sink)?,
        };
        Ok(Box::new(HubSpotWriter::new(inner, module, names)))
    }
}

dataport_plugin_sdk::export_plugin!(HubSpotPlugin);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options_that_do_not_apply_are_refused() {
        let o = |pairs: &[(&str, &str)]| pairs.iter().copied().collect::<Options>();
        assert!(common_options(&o(&[("module", "contacts")])).is_ok());
        let (module, names) =
            common_options(&o(&[("module", "opportunities"), ("key_field", " Deal ID ")])).unwrap();
        assert_eq!(module, Module::Opportunities);
        assert_eq!(names.key, "Deal ID");
        assert_eq!(names.company_key, DEFAULT_COMPANY_KEY_FIELD);
        for (pairs, needle) in [
            (&[][..], "`module` is required"),
            (&[("module", "leads")][..], "not `leads`"),
            (
                &[("module", "customers"), ("company_key_field", "Company ID")][..],
                "`company_key_field`",
            ),
            (
                &[("module", "contacts"), ("key_field", " ")][..],
                "`key_field` is empty",
            ),
        ] {
            let err = common_options(&o(pairs)).unwrap_err();
            assert_eq!(err.kind, ErrorKind::InvalidOption);
            assert!(err.message.contains(needle), "{}", err.message);
        }
    }

    #[test]
    fn written_headers_must_differ() {
        let names = |key: &str, company_key: &str| KeyNames {
            key: key.into(),
            company_key: company_key.into(),
        };
        assert!(check_written_headers(Module::Contacts, &names("Record ID", "Company ID")).is_ok());
        let err = check_written_headers(Module::Contacts, &names("email", "Company ID")).unwrap_err();
        assert!(
            err.message.contains("`key_field` names the column `email`"),
            "{}",
            err.message
        );
        assert!(err.message.contains("field `email`"), "{}", err.message);
        let err = check_written_headers(Module::Opportunities, &names("Record ID", "Deal Name")).unwrap_err();
        assert!(
            err.message
                .contains("`company_key_field` names the column `Deal Name`"),
            "{}",
            err.message
        );
        let err = check_written_headers(Module::Contacts, &names("ID", "id")).unwrap_err();
        assert!(err.message.contains("both name"), "{}", err.message);
    }
}
