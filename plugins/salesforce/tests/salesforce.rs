//! The salesforce plugin, end to end. Every case is a function over `&dyn Plugin` and runs twice
//! with the same assertions: on the native [`SalesforcePlugin`] and on
//! `libdataport_plugin_salesforce.so` loaded through `dataport-plugin-host` (so the C ABI,
//! batches crossing it, row errors, options and errors are exercised too).
//!
//! The golden files are in `tests/golden/` (see the README there for their form).

use std::io;

use dataport_core::{FieldKind, Module};
use dataport_format_csv::CsvPlugin;
use dataport_plugin_salesforce::SalesforcePlugin;
use dataport_plugin_sdk::{
    Cell, Column, ErrorKind, Options, Plugin, PluginError, ReadOnly, RowBatch, days_from_ymd, read_all,
};

// ---------------------------------------------------------------------------------------------
// Running a case on both paths

#[path = "../../../crates/vendor-layout/testing/both_paths.rs"]
mod both_paths;

use both_paths::{SharedBuf, errors, golden, rows};

/// Runs `case` on the native plugin and on the loaded shared library; a failure says which.
fn on_both_paths(case: impl Fn(&dyn Plugin)) {
    both_paths::on_both_paths(&SalesforcePlugin, "salesforce", case);
}

// ---------------------------------------------------------------------------------------------
// Helpers

fn t(s: &str) -> Cell {
    Cell::text(s)
}

fn date(y: i32, m: u32, d: u32) -> Cell {
    Cell::Date(days_from_ymd(y, m, d).unwrap())
}

fn module_options(module: &str) -> Options {
    Options::new().with("module", module)
}

fn try_read(
    plugin: &dyn Plugin,
    bytes: &[u8],
    options: &Options,
) -> Result<(Vec<String>, RowBatch), PluginError> {
    let mut reader = plugin.open_reader(
        "salesforce",
        options,
        Box::new(ReadOnly(io::Cursor::new(bytes.to_vec()))),
    )?;
    read_all(&mut *reader, 1000)
}

fn read(plugin: &dyn Plugin, bytes: &[u8], options: &Options) -> (Vec<String>, RowBatch) {
    try_read(plugin, bytes, options).unwrap_or_else(|e| panic!("read: {e}"))
}

fn keys(module: Module) -> Vec<String> {
    module.fields().iter().map(|f| f.key.to_owned()).collect()
}

/// A plain CSV file read natively with the csv format (the golden files of canonical data).
fn plain_csv(bytes: &[u8]) -> (Vec<String>, Vec<Vec<Cell>>) {
    let mut reader = CsvPlugin
        .open_reader(
            "csv",
            &Options::new(),
            Box::new(ReadOnly(io::Cursor::new(bytes.to_vec()))),
        )
        .unwrap();
    let (header, batch) = read_all(&mut *reader, 1000).unwrap();
    assert!(batch.errors.is_empty(), "{:?}", batch.errors);
    (header, batch.rows.into_iter().map(|r| r.cells).collect())
}

/// The typed cell of a canonical golden value: date fields hold date cells (written
/// `YYYY-MM-DD`), amount fields floats when `typed_amounts` (as the host's export sends them),
/// everything else text; an empty field is `Null`.
fn typed(module: Module, key: &str, cell: Cell, typed_amounts: bool) -> Cell {
    let Cell::Text(s) = cell else { return cell };
    match module.field(key).map(|f| f.kind) {
        Some(FieldKind::Date) => {
            let p: Vec<u32> = s.split('-').map(|n| n.parse().unwrap()).collect();
            date(p[0] as i32, p[1], p[2])
        }
        Some(FieldKind::Decimal) if typed_amounts => Cell::Float(s.parse().unwrap()),
        _ => Cell::Text(s),
    }
}

/// `<object>.expected.csv`: a `row` column, then the module's field keys.
fn expected_read(module: Module, file: &str) -> Vec<(u64, Vec<Cell>)> {
    let (header, data) = plain_csv(&golden(file));
    assert_eq!(header[0], "row");
    assert_eq!(
        header[1..],
        keys(module),
        "{file}: the header is the module's keys"
    );
    data.into_iter()
        .map(|cells| {
            let number = cells[0].as_text().unwrap().parse().unwrap();
            let cells = header[1..]
                .iter()
                .zip(cells.into_iter().skip(1))
                .map(|(k, c)| typed(module, k, c, false))
                .collect();
            (number, cells)
        })
        .collect()
}

/// `<object>.canonical.csv`: columns named by field key and typed rows, as the host exports.
fn canonical_input(module: Module, file: &str) -> (Vec<Column>, Vec<Vec<Cell>>) {
    let (header, data) = plain_csv(&golden(file));
    let rows = data
        .into_iter()
        .map(|cells| {
            header
                .iter()
                .zip(cells)
                .map(|(k, c)| typed(module, k, c, true))
                .collect()
        })
        .collect();
    (Column::named(header), rows)
}

fn batch_of(rows: Vec<Vec<Cell>>) -> RowBatch {
    let mut batch = RowBatch::new();
    for (i, cells) in rows.into_iter().enumerate() {
        batch.push_row(i as u64 + 2, cells);
    }
    batch
}

fn try_write(
    plugin: &dyn Plugin,
    options: &Options,
    columns: &[Column],
    rows: Vec<Vec<Cell>>,
) -> Result<Vec<u8>, PluginError> {
    let buf = SharedBuf::default();
    let mut writer = plugin.open_writer("salesforce", options, Box::new(buf.clone()))?;
    writer.write_header(columns)?;
    writer.write_rows(&batch_of(rows))?;
    writer.finish()?;
    drop(writer);
    let bytes = buf.0.lock().unwrap().clone();
    Ok(bytes)
}

fn write(plugin: &dyn Plugin, options: &Options, columns: &[Column], rows: Vec<Vec<Cell>>) -> Vec<u8> {
    try_write(plugin, options, columns, rows).unwrap_or_else(|e| panic!("write: {e}"))
}

fn text(bytes: &[u8]) -> &str {
    std::str::from_utf8(bytes).unwrap()
}

/// The three objects: module, module option, golden file stem.
const OBJECTS: [(Module, &str, &str); 3] = [
    (Module::Customers, "customers", "account"),
    (Module::Contacts, "contacts", "contact"),
    (Module::Opportunities, "opportunities", "opportunity"),
];

// ---------------------------------------------------------------------------------------------
// Descriptor

#[test]
fn descriptor() {
    on_both_paths(|p| {
        let d = p.descriptor();
        assert_eq!(d.name, "salesforce");
        assert_eq!(d.version, env!("CARGO_PKG_VERSION"));
        assert_eq!(d.formats, ["salesforce"]);
        assert!(d.extensions.is_empty(), "users choose the format explicitly");
        assert!(d.capabilities.read && d.capabilities.write);
        assert!(!d.capabilities.needs_seek && !d.capabilities.sheets);
        assert_eq!(d.modules, ["customers", "contacts", "opportunities"]);
    });
}

// ---------------------------------------------------------------------------------------------
// Golden files, both directions

#[test]
fn golden_vendor_files_read_as_the_expected_records() {
    on_both_paths(|p| {
        for (module, option, stem) in OBJECTS {
            let (header, batch) = read(p, &golden(&format!("{stem}.csv")), &module_options(option));
            assert_eq!(header, keys(module), "{stem}");
            assert_eq!(errors(&batch), [], "{stem}");
            assert_eq!(
                rows(&batch),
                expected_read(module, &format!("{stem}.expected.csv")),
                "{stem}"
            );
        }
    });
}

#[test]
fn golden_vendor_files_read_the_same_one_row_per_batch() {
    on_both_paths(|p| {
        for (module, option, stem) in OBJECTS {
            let mut reader = p
                .open_reader(
                    "salesforce",
                    &module_options(option),
                    Box::new(ReadOnly(io::Cursor::new(golden(&format!("{stem}.csv"))))),
                )
                .unwrap();
            assert_eq!(reader.header().unwrap(), keys(module));
            let mut all = Vec::new();
            while let Some(batch) = reader.next_batch(1).unwrap() {
                assert_eq!(batch.source_rows(), 1, "{stem}");
                all.extend(rows(&batch));
            }
            assert_eq!(
                all,
                expected_read(module, &format!("{stem}.expected.csv")),
                "{stem}"
            );
        }
    });
}

#[test]
fn golden_canonical_records_write_the_expected_vendor_files() {
    on_both_paths(|p| {
        for (module, option, stem) in OBJECTS {
            let (columns, data) = canonical_input(module, &format!("{stem}.canonical.csv"));
            let bytes = write(p, &module_options(option), &columns, data);
            assert_eq!(
                text(&bytes),
                text(&golden(&format!("{stem}.written.csv"))),
                "{stem}"
            );
        }
    });
}

/// Every field, as the host asks for by default, named by key.
fn all_columns(module: Module) -> Vec<Column> {
    Column::named(keys(module))
}

#[test]
fn vendor_to_canonical_to_vendor() {
    on_both_paths(|p| {
        for (module, option, stem) in OBJECTS {
            let options = module_options(option);
            let (_, batch) = read(p, &golden(&format!("{stem}.csv")), &options);
            let records: Vec<Vec<Cell>> = batch.rows.into_iter().map(|r| r.cells).collect();
            let bytes = write(p, &options, &all_columns(module), records.clone());
            assert_eq!(
                text(&bytes),
                text(&golden(&format!("{stem}.roundtrip.csv"))),
                "{stem}"
            );

            // And the round-tripped file reads as the same records: translation is a fixpoint
            // after one pass (amounts only gain their two decimals).
            let (_, again) = read(p, &bytes, &options);
            assert_eq!(errors(&again), [], "{stem}");
            let again: Vec<Vec<Cell>> = again.rows.into_iter().map(|r| r.cells).collect();
            assert_eq!(
                normalise_amounts(module, again),
                normalise_amounts(module, records),
                "{stem}"
            );
        }
    });
}

/// Amount text as cents, so that `250000` and `250000.00` compare equal.
fn normalise_amounts(module: Module, rows: Vec<Vec<Cell>>) -> Vec<Vec<Cell>> {
    rows.into_iter()
        .map(|cells| {
            cells
                .into_iter()
                .zip(module.fields())
                .map(|(cell, field)| match (&cell, field.kind) {
                    (Cell::Text(s), FieldKind::Decimal) => {
                        Cell::Int((s.parse::<f64>().unwrap() * 100.0).round() as i64)
                    }
                    (Cell::Float(v), FieldKind::Decimal) => Cell::Int((v * 100.0).round() as i64),
                    _ => cell,
                })
                .collect()
        })
        .collect()
}

#[test]
fn canonical_to_vendor_to_canonical() {
    on_both_paths(|p| {
        for (module, option, stem) in OBJECTS {
            let options = module_options(option);
            let (columns, input) = canonical_input(module, &format!("{stem}.canonical.csv"));
            let bytes = write(p, &options, &columns, input.clone());
            let (_, batch) = read(p, &bytes, &options);
            assert_eq!(errors(&batch), [], "{stem}");
            let back = normalise_amounts(module, batch.rows.into_iter().map(|r| r.cells).collect());
            let mut expected = normalise_amounts(module, input);
            // What does not survive, by design (README: "What a round trip changes"): fields
            // without a Salesforce column, and dictionary values Salesforce has no value for.
            for row in &mut expected {
                for (cell, field) in row.iter_mut().zip(module.fields()) {
                    match field.key {
                        "follow_up_status" | "contract_amount" | "follow_up_notes" | "is_primary" => {
                            *cell = Cell::Null
                        }
                        "industry" => {
                            let merged = match cell.as_text() {
                                Some("互联网") => Some("软件和信息技术服务"),
                                Some("房地产") => Some("其他"),
                                Some("汽车") => Some("制造业"),
                                _ => None,
                            };
                            if let Some(m) = merged {
                                *cell = t(m);
                            }
                        }
                        _ => {}
                    }
                }
            }
            assert_eq!(back, expected, "{stem}");
        }
    });
}

// ---------------------------------------------------------------------------------------------
// Values without a mapping

#[test]
fn an_unmapped_rating_or_industry_is_a_row_error_and_the_other_rows_come_through() {
    on_both_paths(|p| {
        let csv = "\"ACCOUNTNUMBER\",\"NAME\",\"INDUSTRY\",\"RATING\",\"OWNER.NAME\"\n\
                   \"C1\",\"好公司\",\"Banking\",\"Hot\",\"张伟\"\n\
                   \"C2\",\"Lukewarm Ltd\",\"Retail\",\"Lukewarm\",\"张伟\"\n\
                   \"C3\",\"Aero Inc\",\"Aerospace\",\"Cold\",\"张伟\"\n\
                   \"C4\",\"Both Bad\",\"Mining\",\"Tepid\",\"张伟\"\n\
                   \"C5\",\"Fine\",\" retail \",\"warm\",\"张伟\"\n";
        let (header, batch) = read(p, csv.as_bytes(), &module_options("customers"));
        assert_eq!(header, keys(Module::Customers));
        let ok: Vec<(u64, &str, Cell, Cell)> = batch
            .rows
            .iter()
            .map(|r| {
                (
                    r.number,
                    r.cells[0].as_text().unwrap(),
                    r.cells[2].clone(),
                    r.cells[5].clone(),
                )
            })
            .collect();
        assert_eq!(
            ok,
            [(2, "C1", t("金融"), t("VIP")), (6, "C5", t("零售"), t("重要"))]
        );
        let industries = "Agriculture, Apparel, Banking, Biotechnology, Chemicals, Communications, \
                          Construction, Consulting, Education, Electronics, Energy, Engineering, \
                          Entertainment, Environmental, Finance, Food & Beverage, Government, \
                          Healthcare, Hospitality, Insurance, Machinery, Manufacturing, Media, Not For \
                          Profit, Other, Recreation, Retail, Shipping, Technology, Telecommunications, \
                          Transportation, Utilities";
        assert_eq!(
            errors(&batch),
            [
                (
                    3,
                    ErrorKind::InvalidValue,
                    "RATING \"Lukewarm\" has no mapping; known values: Hot, Warm, Cold".to_owned()
                ),
                (
                    4,
                    ErrorKind::InvalidValue,
                    format!("INDUSTRY \"Aerospace\" has no mapping; known values: {industries}")
                ),
                (
                    5,
                    ErrorKind::InvalidValue,
                    format!("INDUSTRY \"Mining\" has no mapping; known values: {industries}")
                ),
                (
                    5,
                    ErrorKind::InvalidValue,
                    "RATING \"Tepid\" has no mapping; known values: Hot, Warm, Cold".to_owned()
                ),
            ]
        );
    });
}

#[test]
fn an_unmapped_stage_is_a_row_error_naming_the_column_as_the_file_spells_it() {
    on_both_paths(|p| {
        let csv = "Id,Account.AccountNumber,Name,StageName,CloseDate\r\n\
                   006A,C1,Deal A,Closed Won,2024-06-30\r\n\
                   006B,C1,Deal B,Discovery,2024-07-01\r\n\
                   006C,C1,Deal C,,2024-07-02T09:00:00.000Z\r\n";
        let (_, batch) = read(p, csv.as_bytes(), &module_options("opportunities"));
        assert_eq!(
            rows(&batch),
            [
                (
                    2,
                    vec![
                        t("006A"),
                        t("C1"),
                        t("Deal A"),
                        t("赢单"),
                        Cell::Null,
                        date(2024, 6, 30),
                        Cell::Null,
                        Cell::Null
                    ]
                ),
                (
                    4,
                    vec![
                        t("006C"),
                        t("C1"),
                        t("Deal C"),
                        Cell::Null,
                        Cell::Null,
                        date(2024, 7, 2),
                        Cell::Null,
                        Cell::Null
                    ]
                ),
            ]
        );
        assert_eq!(
            errors(&batch),
            [(
                3,
                ErrorKind::InvalidValue,
                "StageName \"Discovery\" has no mapping; known values: Prospecting, Qualification, \
                 Needs Analysis, Value Proposition, Id. Decision Makers, Perception Analysis, \
                 Proposal/Price Quote, Negotiation/Review, Closed Won, Closed Lost"
                    .to_owned()
            )]
        );
    });
}

#[test]
fn the_csv_readers_row_errors_pass_through_in_file_order() {
    on_both_paths(|p| {
        let csv = "AccountNumber,Name,Rating\nC1,A,Hot\nC2,B\nC3,C,Freezing\nC4,\"D\nE\",Cold\n";
        let (_, batch) = read(p, csv.as_bytes(), &module_options("customers"));
        let ok: Vec<(u64, Cell)> = batch
            .rows
            .iter()
            .map(|r| (r.number, r.cells[1].clone()))
            .collect();
        assert_eq!(ok, [(2, t("A")), (5, t("D\nE"))]);
        assert_eq!(
            errors(&batch),
            [
                (
                    3,
                    ErrorKind::MalformedFile,
                    "2 fields, the header has 3".to_owned()
                ),
                (
                    4,
                    ErrorKind::InvalidValue,
                    "Rating \"Freezing\" has no mapping; known values: Hot, Warm, Cold".to_owned()
                ),
            ]
        );
    });
}

#[test]
fn a_value_without_a_salesforce_mapping_fails_the_write() {
    on_both_paths(|p| {
        let columns = Column::named(["code", "name", "level"]);
        let e = try_write(
            p,
            &module_options("customers"),
            &columns,
            vec![
                vec![t("C1"), t("好"), t("VIP")],
                vec![t("C2"), t("坏"), t("黄金")],
            ],
        )
        .unwrap_err();
        assert_eq!(e.kind, ErrorKind::InvalidValue);
        assert_eq!(
            e.message,
            "level \"黄金\" (record C2) has no Salesforce Rating value; known values: VIP, 重要, 普通"
        );

        let e = try_write(
            p,
            &module_options("opportunities"),
            &Column::named(["stage", "code"]),
            vec![vec![t("搁置"), t("O1")]],
        )
        .unwrap_err();
        assert_eq!(e.kind, ErrorKind::InvalidValue);
        assert!(
            e.message.starts_with(
                "stage \"搁置\" (record O1) has no Salesforce StageName value; known values: 初步接洽, "
            ),
            "{}",
            e.message
        );

        let e = try_write(
            p,
            &module_options("customers"),
            &Column::named(["industry"]),
            vec![vec![t("航天")]],
        )
        .unwrap_err();
        assert_eq!(e.kind, ErrorKind::InvalidValue);
        assert!(
            e.message
                .starts_with("industry \"航天\" has no Salesforce Industry value; known values: 互联网, "),
            "{}",
            e.message
        );

        // Cells of the wrong type are the caller's mistake.
        let e = try_write(
            p,
            &module_options("opportunities"),
            &Column::named(["code", "expected_close_date", "amount"]),
            vec![vec![t("O1"), t("30/06/2024"), Cell::Null]],
        )
        .unwrap_err();
        assert_eq!(
            (e.kind, e.message.as_str()),
            (
                ErrorKind::InvalidArgument,
                "expected_close_date \"30/06/2024\" (record O1) is not a date (YYYY-MM-DD)"
            )
        );
        let e = try_write(
            p,
            &module_options("opportunities"),
            &Column::named(["amount"]),
            vec![vec![t("1e5")]],
        )
        .unwrap_err();
        assert_eq!(
            (e.kind, e.message.as_str()),
            (ErrorKind::InvalidArgument, "amount \"1e5\" is not an amount")
        );
    });
}

// ---------------------------------------------------------------------------------------------
// Key columns and options

#[test]
fn a_file_without_the_key_column_fails_naming_it_and_the_option() {
    on_both_paths(|p| {
        let e = try_read(p, b"Id,Name,Rating\n001,A,Hot\n", &module_options("customers")).unwrap_err();
        assert_eq!(e.kind, ErrorKind::MalformedFile);
        assert_eq!(
            e.message,
            "the file has no column `AccountNumber` for the Account key (option `key_field`); its \
             columns are: Id, Name, Rating. Name the right column with the option `key_field`"
        );

        let e = try_read(
            p,
            b"Id,AccountId,FirstName,LastName\n003,001,A,B\n",
            &module_options("contacts"),
        )
        .unwrap_err();
        assert_eq!(e.kind, ErrorKind::MalformedFile);
        assert!(
            e.message.starts_with(
                "the file has no column `Account.AccountNumber` for the Contact's account reference \
                 (option `account_key_field`)"
            ),
            "{}",
            e.message
        );

        let e = try_read(
            p,
            b"Name,StageName\nX,Closed Won\n",
            &module_options("opportunities"),
        )
        .unwrap_err();
        assert_eq!(e.kind, ErrorKind::MalformedFile);
        assert!(
            e.message
                .contains("no column `Id` for the Opportunity key (option `key_field`)"),
            "{}",
            e.message
        );

        // A column the plan uses may appear once only.
        let e = try_read(
            p,
            b"AccountNumber,Name,accountnumber\nA,B,C\n",
            &module_options("customers"),
        )
        .unwrap_err();
        assert_eq!(
            (e.kind, e.message.as_str()),
            (
                ErrorKind::MalformedFile,
                "the column `AccountNumber` appears more than once (columns 1 and 3); keep one"
            )
        );
    });
}

#[test]
fn the_key_field_options_choose_the_key_columns() {
    on_both_paths(|p| {
        let options = module_options("customers").with("key_field", "External_Id__c");
        let csv = "Id,external_id__c,AccountNumber,Name\n001A,EXT-1,AN-1,A公司\n";
        let (_, batch) = read(p, csv.as_bytes(), &options);
        assert_eq!(batch.rows[0].cells[..2], [t("EXT-1"), t("A公司")]);
        let bytes = write(
            p,
            &options,
            &Column::named(["name", "code"]),
            vec![vec![t("A公司"), t("EXT-1")]],
        );
        assert_eq!(text(&bytes), "External_Id__c,Name\r\nEXT-1,A公司\r\n");

        let options = module_options("contacts")
            .with("key_field", "Contact_Code__c")
            .with("account_key_field", "Account.External_Id__c");
        let csv =
            "Id,AccountId,Account.External_Id__c,Contact_Code__c,LastName\n003A,001A,EXT-1,CON-1,李雷\n";
        let (_, batch) = read(p, csv.as_bytes(), &options);
        assert_eq!(batch.rows[0].cells[..3], [t("CON-1"), t("EXT-1"), t("李雷")]);
        let bytes = write(
            p,
            &options,
            &Column::named(["code", "customer_code", "name"]),
            vec![vec![t("CON-1"), t("EXT-1"), t("李雷")]],
        );
        assert_eq!(
            text(&bytes),
            "Contact_Code__c,Account.External_Id__c,FirstName,LastName\r\nCON-1,EXT-1,,李雷\r\n"
        );

        // AccountId as the reference works too (customers then need Id as their key).
        let options = module_options("opportunities").with("account_key_field", "AccountId");
        let (_, batch) = read(p, b"Id,AccountId,Name\n006A,001A,Deal\n", &options);
        assert_eq!(batch.rows[0].cells[..3], [t("006A"), t("001A"), t("Deal")]);
    });
}

#[test]
fn options_are_checked_when_opening() {
    on_both_paths(|p| {
        let reader_error = |o: Options| {
            p.open_reader("salesforce", &o, Box::new(ReadOnly(io::empty())))
                .err()
                .map(|e| (e.kind, e.message))
                .expect("refused")
        };
        let writer_error = |o: Options| {
            p.open_writer("salesforce", &o, Box::new(io::sink()))
                .err()
                .map(|e| (e.kind, e.message))
                .expect("refused")
        };
        let both: [&dyn Fn(Options) -> (ErrorKind, String); 2] = [&reader_error, &writer_error];
        for error in both {
            let (kind, message) = error(module_options("leads"));
            assert_eq!(kind, ErrorKind::InvalidOption);
            assert_eq!(
                message,
                "option `module` must be one of customers, contacts, opportunities, not `leads`"
            );
            let (kind, message) = error(Options::new());
            assert_eq!(kind, ErrorKind::InvalidOption);
            assert!(message.starts_with("option `module` is required"), "{message}");
            let (kind, message) = error(module_options("customers").with("keyfield", "X"));
            assert_eq!(kind, ErrorKind::InvalidOption);
            assert!(message.contains("unknown option `keyfield`"), "{message}");
            let (kind, message) = error(module_options("customers").with("account_key_field", "AccountId"));
            assert_eq!(kind, ErrorKind::InvalidOption);
            assert!(message.contains("contacts and opportunities only"), "{message}");
            let (kind, message) = error(module_options("customers").with("key_field", "Name"));
            assert_eq!(kind, ErrorKind::InvalidOption);
            assert!(message.contains("`key_field` cannot be `Name`"), "{message}");
            let (kind, _) = error(module_options("customers").with("delimiter", "\""));
            assert_eq!(kind, ErrorKind::InvalidOption);
        }
        // Reading only: `bom` is a writer option, an unknown encoding is refused.
        assert_eq!(
            reader_error(module_options("customers").with("bom", "true")).0,
            ErrorKind::InvalidOption
        );
        let (kind, message) = reader_error(module_options("customers").with("encoding", "ebcdic"));
        assert_eq!(kind, ErrorKind::InvalidOption);
        assert!(message.contains("`ebcdic`"), "{message}");
        // Writing only: UTF-8, and a boolean `bom`.
        let (kind, message) = writer_error(module_options("customers").with("encoding", "gbk"));
        assert_eq!(kind, ErrorKind::InvalidOption);
        assert!(message.contains("UTF-8"), "{message}");
        assert_eq!(
            writer_error(module_options("customers").with("bom", "maybe")).0,
            ErrorKind::InvalidOption
        );

        let e = p.open_reader(
            "csv",
            &module_options("customers"),
            Box::new(ReadOnly(io::empty())),
        );
        assert_eq!(e.err().map(|e| e.kind), Some(ErrorKind::Unsupported));
    });
}

#[test]
fn csv_options_pass_through() {
    on_both_paths(|p| {
        // A semicolon file in GBK, as Excel on Chinese Windows saves it.
        let gbk: &[u8] = b"AccountNumber;Name;Rating\r\nC1;\xb1\xb1\xbe\xa9;Hot\r\n";
        let options = module_options("customers")
            .with("encoding", "gbk")
            .with("delimiter", ";");
        let (_, batch) = read(p, gbk, &options);
        assert_eq!(batch.rows[0].cells[..2], [t("C1"), t("北京")]);
        assert_eq!(batch.rows[0].cells[5], t("VIP"));

        let columns = Column::named(["code", "name"]);
        let data = || vec![vec![t("C1"), t("北京; 上海")]];
        let plain = write(p, &module_options("customers"), &columns, data());
        assert_eq!(
            plain,
            "AccountNumber,Name\r\nC1,北京; 上海\r\n".as_bytes(),
            "no BOM by default"
        );
        let with_bom = write(
            p,
            &module_options("customers").with("bom", "true"),
            &columns,
            data(),
        );
        assert_eq!(
            with_bom,
            "\u{feff}AccountNumber,Name\r\nC1,北京; 上海\r\n".as_bytes()
        );
        let semicolons = write(
            p,
            &module_options("customers")
                .with("delimiter", ";")
                .with("encoding", "UTF-8"),
            &columns,
            data(),
        );
        assert_eq!(text(&semicolons), "AccountNumber;Name\r\nC1;\"北京; 上海\"\r\n");
    });
}

// ---------------------------------------------------------------------------------------------
// Reading details

#[test]
fn headers_match_ignoring_case_and_spaces_and_extra_columns_are_ignored() {
    on_both_paths(|p| {
        let csv = " accountnumber ,NAME,Some_Custom__c,owner.name\nC1,A,ignored,张伟\n";
        let (header, batch) = read(p, csv.as_bytes(), &module_options("customers"));
        assert_eq!(header, keys(Module::Customers));
        let mut expected = vec![Cell::Null; 12];
        expected[0] = t("C1");
        expected[1] = t("A");
        expected[4] = t("张伟");
        assert_eq!(rows(&batch), [(2, expected)]);
    });
}

#[test]
fn dates_and_date_times_become_date_cells_and_other_text_goes_on() {
    on_both_paths(|p| {
        let csv = "AccountNumber,CreatedDate\n\
                   C1,2023-10-01T08:30:00.000Z\n\
                   C2,2023-10-01T08:30:00Z\n\
                   C3,2023-10-01T23:30:00.000+08:00\n\
                   C4,2024-06-30\n\
                   C5,30/06/2024\n\
                   C6,2023-02-29T00:00:00.000Z\n\
                   C7,\n";
        let (_, batch) = read(p, csv.as_bytes(), &module_options("customers"));
        let created: Vec<(u64, Cell)> = batch
            .rows
            .iter()
            .map(|r| (r.number, r.cells[11].clone()))
            .collect();
        assert_eq!(
            created,
            [
                (2, date(2023, 10, 1)),
                (3, date(2023, 10, 1)),
                (4, date(2023, 10, 1)),
                (5, date(2024, 6, 30)),
                // Not ISO-8601 or not a real date: the host reports INVALID_DATE for the text.
                (6, t("30/06/2024")),
                (7, t("2023-02-29T00:00:00.000Z")),
                (8, Cell::Null),
            ]
        );
        assert_eq!(errors(&batch), []);
    });
}

#[test]
fn contact_names_and_phones() {
    on_both_paths(|p| {
        let csv = "Id,Account.AccountNumber,FirstName,LastName,Name,Phone,MobilePhone\n\
                   1,A,伟,王,王伟,010-1,138\n\
                   2,A,Mary,Smith,,010-2,\n\
                   3,A,,,Full Name Only,,\n\
                   4,A,,,,,\n";
        let (_, batch) = read(p, csv.as_bytes(), &module_options("contacts"));
        let got: Vec<(Cell, Cell)> = batch
            .rows
            .iter()
            .map(|r| (r.cells[2].clone(), r.cells[4].clone()))
            .collect();
        assert_eq!(
            got,
            [
                (t("王伟"), t("138")),
                (t("Mary Smith"), t("010-2")),
                (t("Full Name Only"), Cell::Null),
                (Cell::Null, Cell::Null),
            ]
        );
    });
}

#[test]
fn an_empty_file_has_an_empty_header_and_no_rows() {
    on_both_paths(|p| {
        let (header, batch) = read(p, b"", &module_options("customers"));
        assert!(header.is_empty());
        assert!(batch.is_empty());
        // A header without rows is a file of no records.
        let (header, batch) = read(p, b"AccountNumber,Name\r\n", &module_options("customers"));
        assert_eq!(header, keys(Module::Customers));
        assert!(batch.is_empty());
    });
}

// ---------------------------------------------------------------------------------------------
// Writing details

#[test]
fn the_writer_takes_any_subset_in_any_order_and_writes_the_fixed_order() {
    on_both_paths(|p| {
        let columns = Column::named(["created_at", "follow_up_status", "level", "code"]);
        let bytes = write(
            p,
            &module_options("customers"),
            &columns,
            vec![
                vec![date(2024, 2, 29), t("跟进中"), t("重要"), t("C1")],
                vec![Cell::Null, Cell::Null, Cell::Null, t("C2")],
            ],
        );
        assert_eq!(
            text(&bytes),
            "AccountNumber,Rating,CreatedDate\r\nC1,Warm,2024-02-29T00:00:00.000Z\r\nC2,,\r\n"
        );

        // Template labels name the fields too (the host's template and error-file paths).
        let bytes = write(
            p,
            &module_options("opportunities"),
            &Column::named(["预计金额", "Opportunity Code", "预计成交日期"]),
            vec![vec![Cell::Int(5), t("O1"), date(2024, 6, 30)]],
        );
        assert_eq!(text(&bytes), "Id,Amount,CloseDate\r\nO1,5.00,2024-06-30\r\n");
    });
}

#[test]
fn the_writer_refuses_unknown_columns_and_misuse() {
    on_both_paths(|p| {
        let open = || {
            p.open_writer("salesforce", &module_options("contacts"), Box::new(io::sink()))
                .unwrap()
        };
        let e = open()
            .write_header(&Column::named(["code", "wechat"]))
            .unwrap_err();
        assert_eq!(e.kind, ErrorKind::InvalidArgument);
        assert!(
            e.message
                .starts_with("column `wechat` is not a field of contacts"),
            "{}",
            e.message
        );
        let e = open()
            .write_header(&Column::named(["code", "联系人编号"]))
            .unwrap_err();
        assert_eq!(
            (e.kind, e.message.as_str()),
            (ErrorKind::InvalidArgument, "field `code` is given twice")
        );
        let e = open().write_header(&Column::named(["is_primary"])).unwrap_err();
        assert_eq!(e.kind, ErrorKind::InvalidArgument);
        assert!(e.message.contains("nothing to write"), "{}", e.message);

        let mut w = open();
        assert_eq!(
            w.write_rows(&RowBatch::new()).unwrap_err().kind,
            ErrorKind::InvalidArgument
        );
        w.write_header(&Column::named(["code"])).unwrap();
        assert_eq!(
            w.write_header(&Column::named(["code"])).unwrap_err().kind,
            ErrorKind::InvalidArgument
        );
        let e = w.write_rows(&batch_of(vec![vec![t("a"), t("b")]])).unwrap_err();
        assert_eq!(e.kind, ErrorKind::InvalidArgument);
        assert_eq!(w.start_sheet("more").unwrap_err().kind, ErrorKind::Unsupported);
    });
}
