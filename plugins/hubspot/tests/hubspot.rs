//! The hubspot plugin end to end. Every case is a function over `&dyn Plugin` and runs twice with
//! the same assertions: on the native [`HubSpotPlugin`] and on `libdataport_plugin_hubspot.so`
//! loaded through `dataport-plugin-host` (so options, batches, row errors and file errors cross
//! the C ABI too). The golden files and their conventions are described in
//! `tests/golden/README.md`.

use std::io::{self, Cursor};

use dataport_core::{FieldKind, Module};
use dataport_format_csv::CsvPlugin;
use dataport_format_xlsx::XlsxPlugin;
use dataport_plugin_hubspot::HubSpotPlugin;
use dataport_plugin_sdk::{
    ByteSource, Cell, Column, ErrorKind, Options, Plugin, PluginError, ReadOnly, RowBatch, days_from_ymd,
    read_all,
};
use rust_xlsxwriter::{ExcelDateTime, Format, Workbook};

// ---------------------------------------------------------------------------------------------
// Running a case on both paths

#[path = "../../../crates/vendor-layout/testing/both_paths.rs"]
mod both_paths;

use both_paths::{SharedBuf, errors, golden, rows};

/// Runs `case` on the native plugin and on the loaded shared library; a failure says which.
fn on_both_paths(case: impl Fn(&dyn Plugin)) {
    both_paths::on_both_paths(&HubSpotPlugin, "hubspot", case);
}

// ---------------------------------------------------------------------------------------------
// Objects and golden files

#[derive(Debug, Clone, Copy)]
struct Object {
    /// The golden files' stem.
    name: &'static str,
    module: Module,
}

const OBJECTS: [Object; 3] = [
    Object {
        name: "companies",
        module: Module::Customers,
    },
    Object {
        name: "contacts",
        module: Module::Contacts,
    },
    Object {
        name: "deals",
        module: Module::Opportunities,
    },
];

/// A CSV file's header and rows, as the generic csv reader gives them (empty fields `Null`).
fn csv_table(bytes: &[u8]) -> (Vec<String>, Vec<Vec<Cell>>) {
    let mut reader = CsvPlugin
        .open_reader("csv", &Options::new(), Box::new(Cursor::new(bytes.to_vec())))
        .unwrap();
    let (header, batch) = read_all(&mut *reader, 1000).unwrap();
    assert!(batch.errors.is_empty(), "{:?}", batch.errors);
    (header, batch.rows.into_iter().map(|r| r.cells).collect())
}

fn date(text: &str) -> Cell {
    let (y, rest) = text.split_at(4);
    let (m, d) = (&rest[1..3], &rest[4..6]);
    Cell::Date(days_from_ymd(y.parse().unwrap(), m.parse().unwrap(), d.parse().unwrap()).unwrap())
}

/// A canonical cell typed by its field (see `tests/golden/README.md`).
fn typed(module: Module, key: &str, cell: Cell) -> Cell {
    let Cell::Text(text) = &cell else { return cell };
    match module.field(key).map(|f| f.kind) {
        Some(FieldKind::Date) => date(text),
        Some(FieldKind::Decimal) => Cell::Float(text.parse().unwrap()),
        _ => cell,
    }
}

/// `<object>.expected.csv`: the field keys and the numbered, typed records.
fn expected(o: Object) -> (Vec<String>, Vec<(u64, Vec<Cell>)>) {
    let (header, rows) = csv_table(&golden(&format!("{}.expected.csv", o.name)));
    assert_eq!(header[0], "row");
    let keys = header[1..].to_vec();
    let rows = rows
        .into_iter()
        .map(|cells| {
            let number = cells[0].as_text().unwrap().parse().unwrap();
            let cells = cells[1..]
                .iter()
                .zip(&keys)
                .map(|(c, k)| typed(o.module, k, c.clone()))
                .collect();
            (number, cells)
        })
        .collect();
    (keys, rows)
}

/// `<object>.canonical.csv`: field-key columns and typed rows, as the host hands them over.
fn canonical(o: Object) -> (Vec<Column>, Vec<Vec<Cell>>) {
    let (header, rows) = csv_table(&golden(&format!("{}.canonical.csv", o.name)));
    let rows = rows
        .into_iter()
        .map(|cells| {
            cells
                .into_iter()
                .zip(&header)
                .map(|(c, k)| typed(o.module, k, c))
                .collect()
        })
        .collect();
    (Column::named(header), rows)
}

fn field_keys(module: Module) -> Vec<String> {
    module.fields().iter().map(|f| f.key.to_owned()).collect()
}

fn t(s: &str) -> Cell {
    Cell::text(s)
}

// ---------------------------------------------------------------------------------------------
// Reading and writing

fn options(module: Module, extra: &[(&str, &str)]) -> Options {
    let mut o = Options::new().with("module", module.as_str());
    for (k, v) in extra {
        o = o.with(*k, *v);
    }
    o
}

fn try_read_source(
    plugin: &dyn Plugin,
    format: &str,
    options: &Options,
    source: Box<dyn ByteSource>,
    max_rows: usize,
) -> Result<(Vec<String>, RowBatch), PluginError> {
    let mut reader = plugin.open_reader(format, options, source)?;
    read_all(&mut *reader, max_rows)
}

fn try_read(
    plugin: &dyn Plugin,
    format: &str,
    module: Module,
    bytes: &[u8],
    extra: &[(&str, &str)],
) -> Result<(Vec<String>, RowBatch), PluginError> {
    let source = Box::new(Cursor::new(bytes.to_vec()));
    try_read_source(plugin, format, &options(module, extra), source, 3)
}

fn read(
    plugin: &dyn Plugin,
    format: &str,
    module: Module,
    bytes: &[u8],
    extra: &[(&str, &str)],
) -> (Vec<String>, RowBatch) {
    try_read(plugin, format, module, bytes, extra).unwrap_or_else(|e| panic!("read: {e}"))
}

fn batch_of(rows: Vec<Vec<Cell>>) -> RowBatch {
    let mut batch = RowBatch::new();
    for cells in rows {
        batch.push_row(0, cells);
    }
    batch
}

fn try_write(
    plugin: &dyn Plugin,
    format: &str,
    options: &Options,
    columns: &[Column],
    rows: Vec<Vec<Cell>>,
) -> Result<Vec<u8>, PluginError> {
    let buf = SharedBuf::default();
    let mut writer = plugin.open_writer(format, options, Box::new(buf.clone()))?;
    writer.write_header(columns)?;
    // Two batches, as the host sends pages.
    let mut rows = rows;
    let tail = rows.split_off(rows.len() / 2);
    writer.write_rows(&batch_of(rows))?;
    writer.write_rows(&batch_of(tail))?;
    writer.finish()?;
    drop(writer);
    Ok(std::mem::take(&mut *buf.0.lock().unwrap()))
}

fn write(
    plugin: &dyn Plugin,
    format: &str,
    module: Module,
    columns: &[Column],
    rows: Vec<Vec<Cell>>,
) -> Vec<u8> {
    try_write(plugin, format, &options(module, &[]), columns, rows).unwrap_or_else(|e| panic!("write: {e}"))
}

/// Writes records the plugin read (field keys, every field) back out.
fn write_back(plugin: &dyn Plugin, format: &str, module: Module, batch: &RowBatch) -> Vec<u8> {
    let columns = Column::named(field_keys(module));
    let rows = batch.rows.iter().map(|r| r.cells.clone()).collect();
    write(plugin, format, module, &columns, rows)
}

/// A workbook read with the generic xlsx reader.
fn xlsx_table(bytes: &[u8]) -> (Vec<String>, Vec<Vec<Cell>>) {
    let mut reader = XlsxPlugin
        .open_reader("xlsx", &Options::new(), Box::new(Cursor::new(bytes.to_vec())))
        .unwrap();
    let (header, batch) = read_all(&mut *reader, 1000).unwrap();
    assert!(batch.errors.is_empty(), "{:?}", batch.errors);
    (header, batch.rows.into_iter().map(|r| r.cells).collect())
}

fn is_date_column(name: &str) -> bool {
    matches!(name, "Create Date" | "Close Date")
}

fn is_amount_column(name: &str) -> bool {
    matches!(name, "Total Revenue" | "Amount")
}

fn is_id_column(name: &str) -> bool {
    matches!(name, "Record ID" | "Associated Company IDs (Primary)")
}

/// `YYYY-MM-DD`, `YYYY-MM-DD HH:MM` or `YYYY-MM-DD HH:MM:SS` as an Excel date-time.
fn excel_datetime(text: &str) -> Option<ExcelDateTime> {
    let num = |s: &str| s.parse::<u16>().ok();
    let (d, time) = text.split_once(' ').unwrap_or((text, ""));
    let parts: Vec<&str> = d.split('-').collect();
    if d.len() != 10 || parts.len() != 3 {
        return None;
    }
    let date = ExcelDateTime::from_ymd(num(parts[0])?, num(parts[1])? as u8, num(parts[2])? as u8).ok()?;
    if time.is_empty() {
        return Some(date);
    }
    let hms: Vec<u16> = time.split(':').map(num).collect::<Option<_>>()?;
    let sec = hms.get(2).copied().unwrap_or(0);
    date.and_hms(hms[0], hms[1] as u8, sec).ok()
}

/// The xlsx variant of a HubSpot CSV file, typed as HubSpot's xlsx exports are (see
/// `tests/golden/README.md`).
fn xlsx_of(csv: &[u8]) -> Vec<u8> {
    let (header, rows) = csv_table(csv);
    let mut workbook = Workbook::new();
    let sheet = workbook.add_worksheet();
    let date_format = Format::new().set_num_format("yyyy-mm-dd hh:mm:ss");
    for (c, name) in header.iter().enumerate() {
        sheet.write_string(0, c as u16, name).unwrap();
    }
    for (r, cells) in rows.iter().enumerate() {
        let r = r as u32 + 1;
        for (c, cell) in cells.iter().enumerate() {
            let c = c as u16;
            let Cell::Text(text) = cell else { continue };
            let name = header[c as usize].as_str();
            if (is_id_column(name) || is_amount_column(name))
                && let Ok(number) = text.parse::<f64>()
            {
                sheet.write_number(r, c, number).unwrap();
            } else if is_date_column(name)
                && let Some(datetime) = excel_datetime(text)
            {
                sheet
                    .write_datetime_with_format(r, c, &datetime, &date_format)
                    .unwrap();
            } else {
                sheet.write_string(r, c, text).unwrap();
            }
        }
    }
    workbook.save_to_buffer().unwrap()
}

/// `<object>.written.hubspot.csv` typed as the xlsx writer writes it: dates as date cells,
/// amounts as numbers (whole ones read back as integers), other values as strings.
fn written_xlsx_expected(o: Object) -> (Vec<String>, Vec<Vec<Cell>>) {
    let (header, rows) = csv_table(&golden(&format!("{}.written.hubspot.csv", o.name)));
    let rows = rows
        .into_iter()
        .map(|cells| {
            cells
                .into_iter()
                .zip(&header)
                .map(|(cell, name)| match &cell {
                    Cell::Text(text) if is_date_column(name) => date(text),
                    Cell::Text(text) if is_amount_column(name) => {
                        let v: f64 = text.parse().unwrap();
                        if v.fract() == 0.0 {
                            Cell::Int(v as i64)
                        } else {
                            Cell::Float(v)
                        }
                    }
                    _ => cell,
                })
                .collect()
        })
        .collect();
    (header, rows)
}

// ---------------------------------------------------------------------------------------------
// Descriptor

#[test]
fn descriptor() {
    on_both_paths(|p| {
        let d = p.descriptor();
        assert_eq!(d.name, "hubspot");
        assert_eq!(d.version, env!("CARGO_PKG_VERSION"));
        assert_eq!(d.formats, ["hubspot", "hubspot-xlsx"]);
        assert!(d.extensions.is_empty(), "the format is always chosen explicitly");
        assert!(d.capabilities.read && d.capabilities.write);
        assert!(d.capabilities.needs_seek, "xlsx files are read by seeking");
        assert!(!d.capabilities.sheets);
        assert_eq!(d.modules, ["customers", "contacts", "opportunities"]);
    });
}

// ---------------------------------------------------------------------------------------------
// Golden files

#[test]
fn golden_reads_csv() {
    on_both_paths(|p| {
        for o in OBJECTS {
            let (keys, want) = expected(o);
            assert_eq!(keys, field_keys(o.module), "{}", o.name);
            let (header, batch) = read(
                p,
                "hubspot",
                o.module,
                &golden(&format!("{}.hubspot.csv", o.name)),
                &[],
            );
            assert_eq!(header, keys, "{}", o.name);
            assert_eq!(errors(&batch), [], "{}", o.name);
            assert_eq!(rows(&batch), want, "{}", o.name);
        }
    });
}

#[test]
fn golden_reads_xlsx() {
    on_both_paths(|p| {
        for o in OBJECTS {
            let (keys, want) = expected(o);
            let file = xlsx_of(&golden(&format!("{}.hubspot.csv", o.name)));
            let (header, batch) = read(p, "hubspot-xlsx", o.module, &file, &[]);
            assert_eq!(header, keys, "{}", o.name);
            assert_eq!(errors(&batch), [], "{}", o.name);
            assert_eq!(rows(&batch), want, "{}", o.name);
        }
    });
}

#[test]
fn golden_writes_csv() {
    on_both_paths(|p| {
        for o in OBJECTS {
            let (columns, input) = canonical(o);
            let bytes = write(p, "hubspot", o.module, &columns, input);
            let want = golden(&format!("{}.written.hubspot.csv", o.name));
            assert_eq!(
                String::from_utf8_lossy(&bytes),
                String::from_utf8_lossy(&want),
                "{}",
                o.name
            );
            assert_eq!(bytes, want, "{}", o.name);
        }
    });
}

#[test]
fn golden_writes_xlsx() {
    on_both_paths(|p| {
        for o in OBJECTS {
            let (columns, input) = canonical(o);
            let bytes = write(p, "hubspot-xlsx", o.module, &columns, input);
            assert_eq!(xlsx_table(&bytes), written_xlsx_expected(o), "{}", o.name);
        }
    });
}

#[test]
fn round_trip_csv() {
    on_both_paths(|p| {
        for o in OBJECTS {
            let (_, want) = expected(o);
            let (_, first) = read(
                p,
                "hubspot",
                o.module,
                &golden(&format!("{}.hubspot.csv", o.name)),
                &[],
            );
            let written = write_back(p, "hubspot", o.module, &first);
            let (_, second) = read(p, "hubspot", o.module, &written, &[]);
            assert_eq!(errors(&second), [], "{}", o.name);
            assert_eq!(rows(&second), want, "{}", o.name);
            assert_eq!(write_back(p, "hubspot", o.module, &second), written, "{}", o.name);
        }
    });
}

#[test]
fn round_trip_xlsx() {
    on_both_paths(|p| {
        for o in OBJECTS {
            let (_, want) = expected(o);
            let file = xlsx_of(&golden(&format!("{}.hubspot.csv", o.name)));
            let (_, first) = read(p, "hubspot-xlsx", o.module, &file, &[]);
            let written = write_back(p, "hubspot-xlsx", o.module, &first);
            let (_, second) = read(p, "hubspot-xlsx", o.module, &written, &[]);
            assert_eq!(errors(&second), [], "{}", o.name);
            assert_eq!(rows(&second), want, "{}", o.name);
            let again = write_back(p, "hubspot-xlsx", o.module, &second);
            assert_eq!(xlsx_table(&again), xlsx_table(&written), "{}", o.name);
        }
    });
}

// ---------------------------------------------------------------------------------------------
// Values without a mapping

const UNMAPPED_COMPANIES: &str = "Record ID,Company name,Industry,Company owner,Lead Status\r\n\
    1001,Alpha Mining,Space Mining,张伟,New\r\n\
    1002,Beta Soft,Computer Software,李娜,Open\r\n\
    1003,Gamma Bank,Banking,王芳,Hot Lead\r\n\
    1004,Delta Farms,Asteroid Farming,赵磊,Cold\r\n\
    1005,Epsilon,,陈静,\r\n";

const LEAD_STATUSES: &str = "known values: New, Open, In Progress, Open Deal, Unqualified, Attempted to Contact, Connected, Bad Timing (or their internal names)";
const DEAL_STAGES: &str = "known values: Appointment Scheduled, Qualified To Buy, Presentation Scheduled, Decision Maker Bought-In, Contract Sent, Closed Won, Closed Lost (or their internal names)";

/// Rows as `(row number, cells)`.
type NumberedRows = Vec<(u64, Vec<Cell>)>;
/// Row errors as `(row number, kind, message)`.
type RowErrors = Vec<(u64, ErrorKind, String)>;

fn unmapped_companies_expected() -> (NumberedRows, RowErrors) {
    let n = Cell::Null;
    let row = |code: &str, name: &str, industry: Cell, owner: &str, status: Cell| {
        vec![
            t(code),
            t(name),
            industry,
            n.clone(),
            t(owner),
            n.clone(),
            status,
            n.clone(),
            n.clone(),
            n.clone(),
            n.clone(),
            n.clone(),
        ]
    };
    let error = |row: u64, message: &str| (row, ErrorKind::InvalidValue, message.to_owned());
    (
        vec![
            (
                3,
                row("1002", "Beta Soft", t("软件和信息技术服务"), "李娜", t("待跟进")),
            ),
            (6, row("1005", "Epsilon", Cell::Null, "陈静", Cell::Null)),
        ],
        vec![
            error(
                2,
                "Industry \"Space Mining\" has no mapping; see the plugin README for known values",
            ),
            error(
                4,
                &format!("Lead Status \"Hot Lead\" has no mapping; {LEAD_STATUSES}"),
            ),
            error(
                5,
                "Industry \"Asteroid Farming\" has no mapping; see the plugin README for known values",
            ),
            error(
                5,
                &format!("Lead Status \"Cold\" has no mapping; {LEAD_STATUSES}"),
            ),
        ],
    )
}

#[test]
fn unmapped_industry_and_lead_status_are_row_errors_naming_value_and_column() {
    on_both_paths(|p| {
        let (want_rows, want_errors) = unmapped_companies_expected();
        for max_rows in [1, 2, 100] {
            let source = Box::new(Cursor::new(UNMAPPED_COMPANIES.as_bytes().to_vec()));
            let (_, batch) =
                try_read_source(p, "hubspot", &options(Module::Customers, &[]), source, max_rows).unwrap();
            assert_eq!(rows(&batch), want_rows, "max_rows {max_rows}");
            assert_eq!(errors(&batch), want_errors, "max_rows {max_rows}");
        }
        // The same file as xlsx.
        let (_, batch) = read(
            p,
            "hubspot-xlsx",
            Module::Customers,
            &xlsx_of(UNMAPPED_COMPANIES.as_bytes()),
            &[],
        );
        assert_eq!(rows(&batch), want_rows);
        assert_eq!(errors(&batch), want_errors);
    });
}

#[test]
fn unmapped_deal_stages_are_row_errors_naming_value_and_column() {
    on_both_paths(|p| {
        // A stage of another pipeline shows its internal id in exports; the column is named as
        // the file spells it.
        let file = "Record ID,Deal Name,deal stage,Associated Company IDs (Primary)\r\n\
                    7001,Alpha,Negotiation,1001\r\n\
                    7002,Beta,closedwon,1002\r\n\
                    7003,Gamma,12345678,1003\r\n";
        let (_, batch) = read(p, "hubspot", Module::Opportunities, file.as_bytes(), &[]);
        let n = || Cell::Null;
        assert_eq!(
            rows(&batch),
            [(
                3,
                vec![t("7002"), t("1002"), t("Beta"), t("赢单"), n(), n(), n(), n()]
            )]
        );
        assert_eq!(
            errors(&batch),
            [
                (
                    2,
                    ErrorKind::InvalidValue,
                    format!("deal stage \"Negotiation\" has no mapping; {DEAL_STAGES}")
                ),
                (
                    4,
                    ErrorKind::InvalidValue,
                    format!("deal stage \"12345678\" has no mapping; {DEAL_STAGES}")
                ),
            ]
        );
    });
}

#[test]
fn several_associated_companies_are_a_row_error() {
    on_both_paths(|p| {
        let file = "Record ID,First Name,Associated Company IDs (Primary)\r\n\
                    1,Ann,1001;1002\r\n\
                    2,Bob,1003\r\n";
        let (_, batch) = read(p, "hubspot", Module::Contacts, file.as_bytes(), &[]);
        assert_eq!(rows(&batch).iter().map(|r| r.0).collect::<Vec<_>>(), [3]);
        assert_eq!(
            errors(&batch),
            [(
                2,
                ErrorKind::InvalidValue,
                "Associated Company IDs (Primary) \"1001;1002\" names more than one company; keep one \
                 company ID per row"
                    .to_owned()
            )]
        );
    });
}

// ---------------------------------------------------------------------------------------------
// Key columns and options

#[test]
fn a_missing_key_column_fails_naming_the_column_and_the_option() {
    on_both_paths(|p| {
        let file = "Company name,Company owner\r\nAlpha,张伟\r\n";
        let err = try_read(p, "hubspot", Module::Customers, file.as_bytes(), &[]).unwrap_err();
        assert_eq!(err.kind, ErrorKind::MalformedFile);
        assert_eq!(
            err.message,
            "the file has no column `Record ID` for the company key (option `key_field`); its columns \
             are: Company name, Company owner. Name the right column with the option `key_field`"
        );

        let file = "Record ID,First Name,Associated Company\r\n1,Ann,Alpha\r\n";
        let err = try_read(p, "hubspot", Module::Contacts, file.as_bytes(), &[]).unwrap_err();
        assert_eq!(err.kind, ErrorKind::MalformedFile);
        assert!(
            err.message.starts_with(
                "the file has no column `Associated Company IDs (Primary)` for the contact's company key \
                 (option `company_key_field`); its columns are: Record ID, First Name, Associated Company."
            ),
            "{}",
            err.message
        );

        let err = try_read(
            p,
            "hubspot",
            Module::Customers,
            b"Record ID\r\n1\r\n",
            &[("key_field", "Customer Code")],
        )
        .unwrap_err();
        assert_eq!(err.kind, ErrorKind::MalformedFile);
        assert!(
            err.message.contains("no column `Customer Code`"),
            "{}",
            err.message
        );

        // An empty file has no key column either; so has an xlsx file without one.
        let err = try_read(p, "hubspot", Module::Opportunities, b"", &[]).unwrap_err();
        assert_eq!(err.kind, ErrorKind::MalformedFile);
        assert!(
            err.message.contains("; the file has no header at all. "),
            "{}",
            err.message
        );
        let xlsx = xlsx_of("Deal Name,Amount\r\nAlpha,5\r\n".as_bytes());
        let err = try_read(p, "hubspot-xlsx", Module::Opportunities, &xlsx, &[]).unwrap_err();
        assert_eq!(err.kind, ErrorKind::MalformedFile);
        assert!(err.message.contains("`Record ID`"), "{}", err.message);
    });
}

#[test]
fn key_field_and_company_key_field_options() {
    on_both_paths(|p| {
        // A custom HubSpot property holding dataport's codes; header matching ignores ASCII case
        // and surrounding blanks.
        let file = "Record ID, customer code ,Company name,Company owner\r\n\
                    9876543201,CUST20231001001,北京星云科技有限公司,张伟\r\n";
        let (_, batch) = read(
            p,
            "hubspot",
            Module::Customers,
            file.as_bytes(),
            &[("key_field", "Customer Code")],
        );
        let cells = &batch.rows[0].cells;
        assert_eq!(cells[..2], [t("CUST20231001001"), t("北京星云科技有限公司")]);

        let file = "Record ID,Deal Name,Associated Company ID,Associated Company IDs (Primary)\r\n\
                    7001,Alpha,CUST1,9876543201\r\n";
        let (_, batch) = read(
            p,
            "hubspot",
            Module::Opportunities,
            file.as_bytes(),
            &[("company_key_field", "Associated Company ID")],
        );
        assert_eq!(batch.rows[0].cells[..3], [t("7001"), t("CUST1"), t("Alpha")]);

        // Writing puts the codes under the configured headers.
        let opts = options(
            Module::Contacts,
            &[
                ("key_field", "Contact Code"),
                ("company_key_field", "Customer Code"),
            ],
        );
        let bytes = try_write(
            p,
            "hubspot",
            &opts.with("bom", "false"),
            &Column::named(["customer_code", "code", "name"]),
            vec![vec![t("CUST1"), t("CONT1"), t("张伟")]],
        )
        .unwrap();
        assert_eq!(
            String::from_utf8(bytes).unwrap(),
            "Contact Code,First Name,Last Name,Customer Code\r\nCONT1,,张伟,CUST1\r\n"
        );
    });
}

#[test]
fn unknown_or_missing_module_is_an_invalid_option() {
    on_both_paths(|p| {
        let source = || -> Box<dyn ByteSource> { Box::new(Cursor::new(b"Record ID\r\n".to_vec())) };
        let open_reader = |o: Options| p.open_reader("hubspot", &o, source()).err().unwrap();
        let open_writer =
            |format: &str, o: Options| p.open_writer(format, &o, Box::new(io::sink())).err().unwrap();

        for err in [
            open_reader(Options::new().with("module", "leads")),
            open_writer("hubspot", Options::new().with("module", "leads")),
            open_writer("hubspot-xlsx", Options::new().with("module", "leads")),
        ] {
            assert_eq!(err.kind, ErrorKind::InvalidOption);
            assert_eq!(
                err.message,
                "option `module` must be one of customers, contacts, opportunities, not `leads`"
            );
        }
        let err = open_reader(Options::new());
        assert_eq!(err.kind, ErrorKind::InvalidOption);
        assert!(err.message.contains("`module` is required"), "{}", err.message);
    });
}

#[test]
fn options_are_checked_when_opening() {
    on_both_paths(|p| {
        let csv = || -> Box<dyn ByteSource> { Box::new(Cursor::new(b"Record ID\r\n1\r\n".to_vec())) };
        let xlsx_bytes = xlsx_of(b"Record ID\r\n1\r\n");
        let xlsx = || -> Box<dyn ByteSource> { Box::new(Cursor::new(xlsx_bytes.clone())) };
        let reader_err = |extra: &[(&str, &str)], source: Box<dyn ByteSource>| {
            let err = p
                .open_reader("hubspot", &options(Module::Customers, extra), source)
                .err()
                .unwrap();
            (err.kind, err.message)
        };
        let writer_err = |format: &str, module: Module, extra: &[(&str, &str)]| {
            let err = p
                .open_writer(format, &options(module, extra), Box::new(io::sink()))
                .err()
                .unwrap();
            (err.kind, err.message)
        };
        let invalid = |message: &str| (ErrorKind::InvalidOption, message.to_owned());

        assert_eq!(
            reader_err(&[("delimter", ";")], csv()),
            invalid(
                "unknown option `delimter`; options when reading: module, key_field, company_key_field, \
                 encoding, delimiter, sheet"
            )
        );
        assert_eq!(
            reader_err(&[("sheet", "Companies")], csv()),
            invalid("option `sheet` applies to xlsx files, and this plugin is reading CSV")
        );
        assert_eq!(
            reader_err(&[("encoding", "gbk")], xlsx()),
            invalid("option `encoding` applies to CSV files, and this plugin is reading xlsx")
        );
        assert_eq!(
            reader_err(&[("company_key_field", "Company ID")], csv()),
            invalid(
                "option `company_key_field` applies to contacts and opportunities (records that belong \
                 to a company), not to customers"
            )
        );
        assert_eq!(
            writer_err("hubspot", Module::Customers, &[("sheet", "x")]),
            invalid("option `sheet` applies to xlsx files, and this plugin is writing CSV")
        );
        assert_eq!(
            writer_err("hubspot-xlsx", Module::Customers, &[("bom", "false")]),
            invalid("option `bom` applies to CSV files, and this plugin is writing xlsx")
        );
        assert_eq!(
            writer_err("hubspot", Module::Customers, &[("encodng", "gbk")]),
            invalid(
                "unknown option `encodng`; options when writing: module, key_field, company_key_field, \
                 delimiter, bom, encoding, sheet"
            )
        );
        assert_eq!(
            writer_err("hubspot", Module::Customers, &[("encoding", "gbk")]),
            invalid(
                "option `encoding`: the hubspot writer writes UTF-8 only (as HubSpot's own exports), not \
                 `gbk`"
            )
        );
        let utf8 = options(Module::Customers, &[("encoding", "UTF-8")]);
        assert!(p.open_writer("hubspot", &utf8, Box::new(io::sink())).is_ok());
        assert_eq!(
            writer_err("hubspot", Module::Contacts, &[("key_field", "Email")]),
            invalid(
                "option `key_field` names the column `Email`, which the hubspot writer also writes for \
                 field `email`"
            )
        );
        assert_eq!(
            writer_err("hubspot", Module::Customers, &[("bom", "maybe")]).0,
            ErrorKind::InvalidOption
        );
        // The readers and writers underneath check their own values.
        assert_eq!(
            reader_err(&[("delimiter", ";;")], csv()).0,
            ErrorKind::InvalidOption
        );
        let (kind, message) = reader_err(&[("sheet", "Nope")], xlsx());
        assert_eq!(kind, ErrorKind::InvalidOption);
        assert!(message.contains("Nope"), "{message}");
        // Formats of other plugins are not served.
        let err = p
            .open_writer("csv", &options(Module::Customers, &[]), Box::new(io::sink()))
            .err()
            .unwrap();
        assert_eq!(err.kind, ErrorKind::Unsupported);
    });
}

#[test]
fn csv_and_xlsx_options_pass_through() {
    on_both_paths(|p| {
        // Reading: a semicolon file; writing: no BOM, semicolons.
        let file = "Record ID;Company name;Total Revenue\r\n1;Alpha, Inc.;12.5\r\n";
        let (_, batch) = read(
            p,
            "hubspot",
            Module::Customers,
            file.as_bytes(),
            &[("delimiter", ";")],
        );
        assert_eq!(batch.rows[0].cells[..2], [t("1"), t("Alpha, Inc.")]);
        assert_eq!(batch.rows[0].cells[8], Cell::Float(12.5));
        let opts = options(Module::Customers, &[("bom", "false"), ("delimiter", ";")]);
        let columns = Column::named(["code", "name", "contract_amount"]);
        let row = vec![t("1"), t("Alpha; Inc."), Cell::Float(12.5)];
        let bytes = try_write(p, "hubspot", &opts, &columns, vec![row.clone()]).unwrap();
        assert_eq!(
            String::from_utf8(bytes).unwrap(),
            "Record ID;Company name;Total Revenue\r\n1;\"Alpha; Inc.\";12.50\r\n"
        );

        // xlsx: the sheet written and read by name.
        let opts = options(Module::Customers, &[("sheet", "Companies")]);
        let bytes = try_write(p, "hubspot-xlsx", &opts, &columns, vec![row]).unwrap();
        let (_, batch) = read(
            p,
            "hubspot-xlsx",
            Module::Customers,
            &bytes,
            &[("sheet", "Companies")],
        );
        assert_eq!(batch.rows[0].cells[..2], [t("1"), t("Alpha; Inc.")]);
        assert_eq!(batch.rows[0].cells[8], Cell::Float(12.5));
    });
}

// ---------------------------------------------------------------------------------------------
// Reading details

#[test]
fn either_format_reads_either_kind_of_file() {
    on_both_paths(|p| {
        let o = OBJECTS[0];
        let (_, want) = expected(o);
        let csv = golden("companies.hubspot.csv");
        let (_, batch) = read(p, "hubspot-xlsx", o.module, &csv, &[]);
        assert_eq!(rows(&batch), want);
        let (_, batch) = read(p, "HubSpot", o.module, &xlsx_of(&csv), &[]);
        assert_eq!(rows(&batch), want);
        // A CSV source need not seek.
        let source = Box::new(ReadOnly(Cursor::new(csv)));
        let (_, batch) = try_read_source(p, "hubspot", &options(o.module, &[]), source, 4).unwrap();
        assert_eq!(rows(&batch), want);
    });
}

#[test]
fn an_xlsx_file_needs_a_seekable_source() {
    // Native only: through the host a plugin declaring needs_seek always gets a seekable source.
    let file = xlsx_of(&golden("companies.hubspot.csv"));
    let source = Box::new(ReadOnly(Cursor::new(file)));
    let err = HubSpotPlugin
        .open_reader("hubspot", &options(Module::Customers, &[]), source)
        .err()
        .unwrap();
    assert_eq!(err.kind, ErrorKind::InvalidArgument);
    assert!(err.message.contains("seekable"), "{}", err.message);
}

#[test]
fn file_format_row_errors_come_through() {
    on_both_paths(|p| {
        let file = "Record ID,Company name,Company owner\r\n1,Alpha,张伟\r\n2,Beta\r\n3,Gamma,李娜\r\n";
        let (_, batch) = read(p, "hubspot", Module::Customers, file.as_bytes(), &[]);
        assert_eq!(batch.rows.iter().map(|r| r.number).collect::<Vec<_>>(), [2, 4]);
        assert_eq!(
            errors(&batch),
            [(
                3,
                ErrorKind::MalformedFile,
                "2 fields, the header has 3".to_owned()
            )]
        );
    });
}

#[test]
fn values_dataport_must_judge_are_passed_on() {
    on_both_paths(|p| {
        // A US-style date and a formatted amount are not guessed at: dataport reports
        // INVALID_DATE / checks the amount. Text starting with `=` stays whole, for
        // FORMULA_NOT_ALLOWED.
        let file = "Record ID,Deal Name,Amount,Close Date,Associated Company IDs (Primary)\r\n\
                    1,=HYPERLINK(\"x\"),\"1,500.00\",10/01/2023,1001\r\n";
        let (_, batch) = read(p, "hubspot", Module::Opportunities, file.as_bytes(), &[]);
        let n = || Cell::Null;
        assert_eq!(
            rows(&batch),
            [(
                2,
                vec![
                    t("1"),
                    t("1001"),
                    t("=HYPERLINK(\"x\")"),
                    n(),
                    t("1,500.00"),
                    t("10/01/2023"),
                    n(),
                    n()
                ]
            )]
        );

        let file = "Record ID,First Name,Last Name,Associated Company IDs (Primary)\r\n\
                    1,=1+1,张,1001\r\n";
        let (_, batch) = read(p, "hubspot", Module::Contacts, file.as_bytes(), &[]);
        assert_eq!(batch.rows[0].cells[2], t("=1+1"));
    });
}

#[test]
fn unmapped_module_fields_are_null_columns() {
    on_both_paths(|p| {
        // Only the key column: every other field is a column of nulls.
        for module in Module::ALL {
            let file: &[u8] = if module == Module::Customers {
                b"Record ID,Unknown Column\r\n42,x\r\n"
            } else {
                b"Record ID,Associated Company IDs (Primary),Unknown Column\r\n42,7,x\r\n"
            };
            let (header, batch) = read(p, "hubspot", module, file, &[]);
            assert_eq!(header, field_keys(module));
            let mut want = vec![Cell::Null; header.len()];
            want[0] = t("42");
            if module != Module::Customers {
                want[1] = t("7");
            }
            assert_eq!(rows(&batch), [(2, want)], "{module}");
        }
    });
}

// ---------------------------------------------------------------------------------------------
// Writing details

#[test]
fn a_canonical_value_without_a_hubspot_value_fails_naming_value_field_and_record() {
    on_both_paths(|p| {
        let columns = Column::named(["code", "name", "industry", "owner"]);
        let rows = vec![
            vec![t("C1"), t("Alpha"), t("金融"), t("张伟")],
            vec![t("C2"), t("Beta"), t("其他"), t("李娜")],
        ];
        let err = try_write(p, "hubspot", &options(Module::Customers, &[]), &columns, rows).unwrap_err();
        assert_eq!(err.kind, ErrorKind::InvalidValue);
        assert_eq!(
            err.message,
            "industry \"其他\" (record C2) has no HubSpot Industry value; known values: 互联网, \
             软件和信息技术服务, 电子制造, 金融, 保险, 房地产, 建筑, 教育, 医疗健康, 零售, 批发, 物流运输, 制造业, \
             汽车, 能源, 化工, 农业, 餐饮, 酒店旅游, 文化传媒, 政府及公共事业, 电信, 咨询服务"
        );

        let columns = Column::named(["code", "stage"]);
        let err = try_write(
            p,
            "hubspot-xlsx",
            &options(Module::Opportunities, &[]),
            &columns,
            vec![vec![t("O1"), t("谈判")]],
        )
        .unwrap_err();
        assert_eq!(err.kind, ErrorKind::InvalidValue);
        assert_eq!(
            err.message,
            "stage \"谈判\" (record O1) has no HubSpot Deal Stage value; known values: 初步接洽, 需求确认, \
             方案报价, 谈判审核, 赢单, 输单"
        );

        // Dates and amounts the host never sends as such text are refused, not guessed.
        let columns = Column::named(["code", "created_at", "contract_amount"]);
        let write = |row: Vec<Cell>| {
            try_write(
                p,
                "hubspot",
                &options(Module::Customers, &[]),
                &columns,
                vec![row],
            )
            .unwrap_err()
        };
        let err = write(vec![t("C1"), t("10/01/2023"), Cell::Null]);
        assert_eq!(err.kind, ErrorKind::InvalidArgument);
        assert_eq!(
            err.message,
            "created_at \"10/01/2023\" (record C1) is not a date (YYYY-MM-DD)"
        );
        let err = write(vec![t("C1"), Cell::Null, t("1,500")]);
        assert_eq!(
            err.message,
            "contract_amount \"1,500\" (record C1) is not an amount"
        );
        let err = write(vec![t("C1"), Cell::Bool(true), Cell::Null]);
        assert_eq!(
            err.message,
            "field created_at cannot be written from Bool(true) (record C1)"
        );
    });
}

#[test]
fn the_writer_takes_any_subset_of_fields_in_any_order() {
    on_both_paths(|p| {
        // Field keys or the template's labels, in any order; fields without a HubSpot column
        // (level) are not written; dates as date cells or YYYY-MM-DD text, amounts as numbers.
        let columns = Column::named(["Created At", "客户名称", "code", "level", "contract_amount"]);
        let rows = vec![
            vec![date("2023-10-01"), t("Alpha"), t("C1"), t("VIP"), Cell::Int(7)],
            vec![t("2023-10-02"), t("Beta"), t("C2"), Cell::Null, t("8.5")],
        ];
        let bytes = try_write(
            p,
            "hubspot",
            &options(Module::Customers, &[("bom", "false")]),
            &columns,
            rows,
        )
        .unwrap();
        assert_eq!(
            String::from_utf8(bytes).unwrap(),
            "Record ID,Company name,Total Revenue,Create Date\r\nC1,Alpha,7.00,2023-10-01\r\n\
             C2,Beta,8.50,2023-10-02\r\n"
        );

        let header_err = |names: &[&str]| {
            let columns = Column::named(names.iter().copied());
            try_write(p, "hubspot", &options(Module::Customers, &[]), &columns, vec![]).unwrap_err()
        };
        let err = header_err(&["code", "错误原因"]);
        assert_eq!(err.kind, ErrorKind::InvalidArgument);
        assert!(
            err.message
                .starts_with("column `错误原因` is not a field of customers"),
            "{}",
            err.message
        );
        assert_eq!(
            header_err(&["code", "客户编号"]).message,
            "field `code` is given twice"
        );
        assert_eq!(
            header_err(&["level", "follow_up_notes"]).message,
            "none of the fields level, follow_up_notes has a HubSpot column; nothing to write"
        );
    });
}

#[test]
fn a_used_column_twice_fails_the_file() {
    on_both_paths(|p| {
        let file = "Record ID,Industry,Company name, industry ,Notes,Notes\r\n1,Banking,Alpha,Retail,a,b\r\n";
        let err = try_read(p, "hubspot", Module::Customers, file.as_bytes(), &[]).unwrap_err();
        assert_eq!(err.kind, ErrorKind::MalformedFile);
        assert_eq!(
            err.message,
            "the column `Industry` appears more than once (columns 2 and 4); keep one"
        );
        // Columns the plugin does not use may repeat.
        let file = "Record ID,Company name,Notes,Notes\r\n1,Alpha,a,b\r\n";
        let (_, batch) = read(p, "hubspot", Module::Customers, file.as_bytes(), &[]);
        assert_eq!(batch.rows[0].cells[..2], [t("1"), t("Alpha")]);
    });
}
