//! The xlsx plugin end to end, each case run twice with the same assertions: natively
//! ([`XlsxPlugin`] as an rlib) and through the built `libdataport_plugin_xlsx.so` loaded by the
//! host ([`dataport_plugin_host::load_plugin`]).
//!
//! Inputs are made with rust_xlsxwriter or, for what it cannot write (shared and array
//! formulas, error values, hostile files), as hand-written XML parts zipped with the `zip` crate.

use std::collections::HashMap;
use std::io::{Cursor, Read, Write};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use dataport_plugin_host::{LoadedPlugin, built_plugin_path, load_plugin};
use dataport_plugin_sdk::{
    Cell, Column, ColumnKind, ErrorKind, Options, Plugin, PluginError, Row, RowBatch, Writer, days_from_ymd,
    read_all,
};
use dataport_plugin_xlsx::XlsxPlugin;
use quick_xml::events::Event;
use rust_xlsxwriter::{ExcelDateTime, Format, Formula, Workbook};
use zip::write::SimpleFileOptions;
use zip::{CompressionMethod, ZipArchive, ZipWriter};

#[path = "../../../tests/third_party/harness.rs"]
mod third_party;

// ---- running a case on both paths ----

fn loaded() -> &'static LoadedPlugin {
    static PLUGIN: OnceLock<LoadedPlugin> = OnceLock::new();
    PLUGIN.get_or_init(|| {
        let path = built_plugin_path("xlsx").expect("libdataport_plugin_xlsx.so is built beside the tests");
        load_plugin(&path).unwrap_or_else(|e| panic!("{e}"))
    })
}

/// Runs `case` on the native plugin, then on the loaded one; `case` gets the path's name for
/// its messages.
fn on_both_paths(case: impl Fn(&dyn Plugin, &str)) {
    case(&XlsxPlugin, "native");
    case(loaded(), "loaded");
}

fn options(pairs: &[(&str, &str)]) -> Options {
    pairs.iter().copied().collect()
}

fn read_with(
    plugin: &dyn Plugin,
    file: &[u8],
    opts: &[(&str, &str)],
) -> Result<(Vec<String>, RowBatch), PluginError> {
    let mut reader = plugin.open_reader("xlsx", &options(opts), Box::new(Cursor::new(file.to_vec())))?;
    read_all(&mut *reader, 3)
}

fn read(plugin: &dyn Plugin, file: &[u8]) -> (Vec<String>, RowBatch) {
    read_with(plugin, file, &[]).unwrap_or_else(|e| panic!("{e}"))
}

/// Reads and expects a file-level error, within a second.
fn read_err(plugin: &dyn Plugin, file: &[u8], opts: &[(&str, &str)]) -> PluginError {
    let started = Instant::now();
    let err = read_with(plugin, file, opts).expect_err("reading should fail");
    let elapsed = started.elapsed();
    assert!(elapsed < Duration::from_secs(1), "took {elapsed:?}: {err}");
    err
}

#[derive(Clone, Default)]
struct SharedSink(Arc<Mutex<Vec<u8>>>);

impl Write for SharedSink {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Writes with `plugin` and returns the file.
fn write_with(
    plugin: &dyn Plugin,
    opts: &[(&str, &str)],
    body: impl FnOnce(&mut dyn Writer) -> Result<(), PluginError>,
) -> Result<Vec<u8>, PluginError> {
    let sink = SharedSink::default();
    let mut writer = plugin.open_writer("xlsx", &options(opts), Box::new(sink.clone()))?;
    body(&mut *writer)?;
    writer.finish()?;
    drop(writer);
    Ok(std::mem::take(&mut *sink.0.lock().unwrap()))
}

fn batch(rows: Vec<Vec<Cell>>) -> RowBatch {
    RowBatch {
        rows: rows.into_iter().map(|cells| Row { number: 0, cells }).collect(),
        errors: Vec::new(),
    }
}

fn date(y: i32, m: u32, d: u32) -> i32 {
    days_from_ymd(y, m, d).unwrap()
}

fn text(s: &str) -> Cell {
    Cell::text(s)
}

// ---- building inputs ----

fn zip_parts(parts: &[(&str, &[u8])]) -> Vec<u8> {
    let mut zip = ZipWriter::new(Cursor::new(Vec::new()));
    let deflated = SimpleFileOptions::default().compression_method(CompressionMethod::Deflated);
    for (name, data) in parts {
        zip.start_file(*name, deflated).unwrap();
        zip.write_all(data).unwrap();
    }
    zip.finish().unwrap().into_inner()
}

const RELS: &str = r#"<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument" Target="xl/workbook.xml"/></Relationships>"#;

const WORKBOOK: &str = r#"<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<workbook xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships"><sheets><sheet name="Sheet1" sheetId="1" r:id="rId1"/></sheets></workbook>"#;

const WORKBOOK_RELS: &str = r#"<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/worksheet" Target="worksheets/sheet1.xml"/><Relationship Id="rId2" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/sharedStrings" Target="sharedStrings.xml"/></Relationships>"#;

fn sheet_xml(dimension: Option<&str>, rows: &str) -> String {
    let dimension = dimension
        .map(|d| format!(r#"<dimension ref="{d}"/>"#))
        .unwrap_or_default();
    format!(
        r#"<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">{dimension}<sheetData>{rows}</sheetData></worksheet>"#
    )
}

/// A minimal hand-written workbook of one sheet, with shared strings if given.
fn handmade(sheet: &str, shared_strings: Option<&str>) -> Vec<u8> {
    let mut parts: Vec<(&str, &[u8])> = vec![
        ("_rels/.rels", RELS.as_bytes()),
        ("xl/workbook.xml", WORKBOOK.as_bytes()),
        ("xl/_rels/workbook.xml.rels", WORKBOOK_RELS.as_bytes()),
        ("xl/worksheets/sheet1.xml", sheet.as_bytes()),
    ];
    if let Some(sst) = shared_strings {
        parts.push(("xl/sharedStrings.xml", sst.as_bytes()));
    }
    zip_parts(&parts)
}

/// A workbook with every kind of cell, rows 2, 3, 5 and 7 holding data and rows 4 and 6 empty
/// (row 6 has formatted blank cells), and a second sheet `Other`.
fn typed_workbook() -> Vec<u8> {
    let mut wb = Workbook::new();
    let date_format = Format::new().set_num_format("yyyy-mm-dd");
    let datetime_format = Format::new().set_num_format("yyyy-mm-dd hh:mm:ss");
    let ws = wb.add_worksheet();
    ws.set_name("客户").unwrap();
    for (col, name) in [
        "编号", "名称", "数量", "金额", "启用", "日期", "时间", "合计", "电话",
    ]
    .iter()
    .enumerate()
    {
        ws.write_string(0, col as u16, *name).unwrap();
    }
    ws.write_string(1, 0, "00123").unwrap();
    ws.write_string(1, 1, " 张三 有限公司").unwrap();
    ws.write_number(1, 2, 42).unwrap();
    ws.write_number(1, 3, 1234.5).unwrap();
    ws.write_boolean(1, 4, true).unwrap();
    ws.write_datetime_with_format(1, 5, ExcelDateTime::from_ymd(2024, 3, 1).unwrap(), &date_format)
        .unwrap();
    let dt = ExcelDateTime::from_ymd(2024, 3, 1)
        .unwrap()
        .and_hms(10, 30, 15)
        .unwrap();
    ws.write_datetime_with_format(1, 6, dt, &datetime_format).unwrap();
    ws.write_formula(1, 7, Formula::new("=SUM(C2:D2)").set_result("1276.5"))
        .unwrap();
    ws.write_number(1, 8, 13_812_345_678.0).unwrap();
    ws.write_string(2, 1, "李四").unwrap();
    ws.write_number(2, 2, -7).unwrap();
    ws.write_string(4, 0, "A-5").unwrap();
    ws.write_blank(5, 0, &date_format).unwrap();
    ws.write_blank(5, 3, &date_format).unwrap();
    ws.write_string(6, 8, "row 7").unwrap();
    let other = wb.add_worksheet();
    other.set_name("Other").unwrap();
    other.write_string(0, 0, "only").unwrap();
    other.write_number(1, 0, 1).unwrap();
    wb.save_to_buffer().unwrap()
}

// ---- reading ----

#[test]
fn descriptor() {
    on_both_paths(|plugin, path| {
        let d = plugin.descriptor();
        assert_eq!(d.name, "xlsx", "{path}");
        assert_eq!(d.version, env!("CARGO_PKG_VERSION"));
        assert_eq!(
            (d.formats, d.extensions),
            (vec!["xlsx".to_owned()], vec!["xlsx".to_owned()])
        );
        let c = d.capabilities;
        assert!(c.read && c.write && c.needs_seek && c.sheets, "{path}: {c:?}");
    });
}

#[test]
fn typed_cells_rows_and_numbers() {
    let file = typed_workbook();
    on_both_paths(|plugin, path| {
        let (header, rows) = read(plugin, &file);
        assert_eq!(
            header,
            [
                "编号", "名称", "数量", "金额", "启用", "日期", "时间", "合计", "电话"
            ],
            "{path}"
        );
        assert_eq!(rows.errors, [], "{path}");
        let numbers: Vec<u64> = rows.rows.iter().map(|r| r.number).collect();
        assert_eq!(numbers, [2, 3, 5, 7], "{path}: empty rows 4 and 6 are skipped");
        let micros = i64::from(date(2024, 3, 1)) * 86_400_000_000 + (10 * 3600 + 30 * 60 + 15) * 1_000_000;
        assert_eq!(
            rows.rows[0].cells,
            [
                text("00123"),
                text(" 张三 有限公司"),
                Cell::Int(42),
                Cell::Float(1234.5),
                Cell::Bool(true),
                Cell::Date(date(2024, 3, 1)),
                Cell::DateTime(micros),
                Cell::Formula("=SUM(C2:D2)".into()),
                Cell::Int(13_812_345_678),
            ],
            "{path}"
        );
        let mut row3 = vec![Cell::Null; 9];
        row3[1] = text("李四");
        row3[2] = Cell::Int(-7);
        assert_eq!(rows.rows[1].cells, row3, "{path}");
        assert_eq!(rows.rows[2].cells[0], text("A-5"), "{path}");
        assert!(rows.rows[2].cells[1..].iter().all(Cell::is_null), "{path}");
        assert_eq!(rows.rows[3].cells[8], text("row 7"), "{path}");
    });
}

#[test]
fn batches_respect_max_rows() {
    let file = typed_workbook();
    on_both_paths(|plugin, path| {
        let mut reader = plugin
            .open_reader("xlsx", &Options::new(), Box::new(Cursor::new(file.clone())))
            .unwrap();
        reader.header().unwrap();
        let mut sizes = Vec::new();
        while let Some(batch) = reader.next_batch(3).unwrap() {
            sizes.push(batch.rows.len());
        }
        assert_eq!(sizes, [3, 1], "{path}");
        assert_eq!(reader.next_batch(3).unwrap(), None, "{path}");
    });
}

#[test]
fn handmade_formulas_errors_and_inline_strings() {
    let sst = r#"<sst xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" count="3" uniqueCount="3"><si><t>a</t></si><si><t>b</t></si><si><r><t>ri</t></r><r><rPr><b/></rPr><t>ch</t></r></si></sst>"#;
    let rows = r#"
<row r="1"><c r="A1" t="s"><v>0</v></c><c r="B1" t="s"><v>1</v></c><c r="C1" t="inlineStr"><is><t>sum</t></is></c><c r="D1"><v>2024</v></c></row>
<row r="2"><c r="A2"><v>1</v></c><c r="B2"><v>2</v></c><c r="C2"><f t="shared" ref="C2:C4" si="0">A2+B2</f><v>3</v></c><c r="D2"><f t="array" ref="D2:D4">A2:A4*2</f><v>2</v></c></row>
<row r="3"><c r="A3"><v>3</v></c><c r="B3" t="e"><v>#N/A</v></c><c r="C3"><f t="shared" si="0"/><v>7</v></c><c r="D3"><v>6</v></c></row>
<row r="4"><c r="A4" t="s"><v>2</v></c><c r="B4" t="str"><v>x</v></c><c r="C4"><f t="shared" si="0"/><v>0</v></c><c r="D4"><v>0</v></c></row>
<row r="5"><c r="A5" t="b"><v>0</v></c><c r="B5"><f>"lit"&amp;"eral"</f><v>literal</v></c></row>"#;
    let file = handmade(&sheet_xml(Some("A1:D5"), rows), Some(sst));
    on_both_paths(|plugin, path| {
        let (header, rows) = read(plugin, &file);
        assert_eq!(header, ["a", "b", "sum", "2024"], "{path}");
        assert_eq!(rows.errors, [], "{path}");
        let f = |s: &str| Cell::Formula(s.to_owned());
        let cells: Vec<&[Cell]> = rows.rows.iter().map(|r| r.cells.as_slice()).collect();
        assert_eq!(
            cells[0],
            [Cell::Int(1), Cell::Int(2), f("=A2+B2"), f("=A2:A4*2")],
            "{path}"
        );
        assert_eq!(
            cells[1],
            [Cell::Int(3), text("#N/A"), f("=A3+B3"), f("=A2:A4*2")],
            "{path}"
        );
        assert_eq!(
            cells[2],
            [text("rich"), text("x"), f("=A4+B4"), f("=A2:A4*2")],
            "{path}"
        );
        assert_eq!(
            cells[3],
            [Cell::Bool(false), f(r#"="lit"&"eral""#), Cell::Null, Cell::Null],
            "{path}"
        );
    });
}

#[test]
fn sheets_by_name_and_number() {
    let file = typed_workbook();
    on_both_paths(|plugin, path| {
        for choice in ["Other", "2"] {
            let (header, rows) = read_with(plugin, &file, &[("sheet", choice)]).unwrap();
            assert_eq!(header, ["only"], "{path} {choice}");
            assert_eq!(
                rows.rows,
                [Row {
                    number: 2,
                    cells: vec![Cell::Int(1)]
                }],
                "{path}"
            );
        }
        let (header, _) = read_with(plugin, &file, &[("sheet", "1")]).unwrap();
        assert_eq!(header[0], "编号", "{path}");
        for missing in ["Nope", "3", "0"] {
            let err = read_with(plugin, &file, &[("sheet", missing)]).unwrap_err();
            assert_eq!(err.kind, ErrorKind::InvalidOption, "{path}: {err}");
            assert!(
                err.message.contains(&format!("no sheet `{missing}`"))
                    && err.message.contains("`客户`, `Other`"),
                "{path}: {err}"
            );
        }
        let err = read_with(plugin, &file, &[("sheets", "1")]).unwrap_err();
        assert_eq!(err.kind, ErrorKind::InvalidOption, "{path}: {err}");
    });
}

#[test]
fn a_cell_beyond_the_header_fails_its_row() {
    let rows = r#"<row r="1"><c r="A1" t="inlineStr"><is><t>a</t></is></c><c r="B1" t="inlineStr"><is><t>b</t></is></c><c r="C1" t="inlineStr"><is><t>c</t></is></c><c r="D1"/></row>
<row r="2"><c r="A2"><v>1</v></c></row>
<row r="5"><c r="A5"><v>5</v></c><c r="E5"><v>9</v></c></row>
<row r="6"><c r="C6"><v>6</v></c><c r="F6"/></row>"#;
    let file = handmade(&sheet_xml(None, rows), None);
    on_both_paths(|plugin, path| {
        let (header, rows) = read(plugin, &file);
        assert_eq!(header, ["a", "b", "c"], "{path}");
        assert_eq!(
            rows.rows.iter().map(|r| r.number).collect::<Vec<_>>(),
            [2, 6],
            "{path}"
        );
        assert_eq!(
            rows.rows[1].cells,
            [Cell::Null, Cell::Null, Cell::Int(6)],
            "{path}"
        );
        assert_eq!(rows.errors.len(), 1, "{path}");
        let e = &rows.errors[0];
        assert_eq!((e.row, e.kind), (5, ErrorKind::MalformedFile), "{path}");
        assert_eq!(e.message, "cell E5 is outside the header's 3 columns", "{path}");
    });
}

#[test]
fn cells_far_away_without_a_dimension_cost_nothing() {
    // The same hostile layout as below, but without a dimension claiming the area: streaming
    // handles it, the far cell is a row error.
    let rows =
        r#"<row r="1"><c r="A1"><v>1</v></c></row><row r="1048576"><c r="XFD1048576"><v>2</v></c></row>"#;
    let file = handmade(&sheet_xml(None, rows), None);
    on_both_paths(|plugin, path| {
        let started = Instant::now();
        let (header, rows) = read(plugin, &file);
        assert!(started.elapsed() < Duration::from_secs(1), "{path}");
        assert_eq!(header, ["1"], "{path}");
        assert_eq!(rows.rows, [], "{path}");
        assert_eq!(rows.errors[0].row, 1_048_576, "{path}");
        assert_eq!(
            rows.errors[0].message,
            "cell XFD1048576 is outside the header's 1 columns"
        );
    });
}

// ---- hostile and broken files ----

/// A sheet of `<sheetData>` followed by `size` zero bytes: a few hundred KB compressed.
fn zip_bomb(size: usize) -> Vec<u8> {
    let mut zip = ZipWriter::new(Cursor::new(Vec::new()));
    let deflated = SimpleFileOptions::default()
        .compression_method(CompressionMethod::Deflated)
        .large_file(true);
    for (name, data) in [
        ("_rels/.rels", RELS),
        ("xl/workbook.xml", WORKBOOK),
        ("xl/_rels/workbook.xml.rels", WORKBOOK_RELS),
    ] {
        zip.start_file(name, deflated).unwrap();
        zip.write_all(data.as_bytes()).unwrap();
    }
    zip.start_file("xl/worksheets/sheet1.xml", deflated).unwrap();
    zip.write_all(b"<worksheet><sheetData><row r=\"1\"><c r=\"A1\"><v>")
        .unwrap();
    let zeros = vec![0u8; 1 << 20];
    for _ in 0..size >> 20 {
        zip.write_all(&zeros).unwrap();
    }
    zip.write_all(b"</v></c></row></sheetData></worksheet>").unwrap();
    zip.finish().unwrap().into_inner()
}

#[test]
fn a_zip_bomb_is_stopped_early() {
    let file = zip_bomb(300 << 20);
    assert!(file.len() < 1 << 20, "{} bytes", file.len());
    on_both_paths(|plugin, path| {
        let err = read_err(plugin, &file, &[]);
        assert_eq!(err.kind, ErrorKind::MalformedFile, "{path}: {err}");
        assert!(
            err.message.contains("xl/worksheets/sheet1.xml")
                && err.message.contains("100-fold")
                && err.message.contains("`max_ratio`"),
            "{path}: {err}"
        );
        // With the ratio relaxed, the per-part budget stops it instead.
        let err = read_err(plugin, &file, &[("max_ratio", "100000"), ("max_entry_mib", "16")]);
        assert!(
            err.message.contains("more than 16 MiB") && err.message.contains("`max_entry_mib`"),
            "{path}: {err}"
        );
    });
}

#[test]
fn a_dimension_claiming_the_whole_grid_is_only_a_hint() {
    // Until issue 15 this was refused ("declares its size as 17179869184 cells"); Gnumeric
    // writes `A1:XFD1048576` on ordinary sheets. The cells that exist are read, as without a
    // dimension, in bounded memory and time.
    let rows =
        r#"<row r="1"><c r="A1"><v>1</v></c></row><row r="1048576"><c r="XFD1048576"><v>2</v></c></row>"#;
    let file = handmade(&sheet_xml(Some("A1:XFD1048576"), rows), None);
    on_both_paths(|plugin, path| {
        let started = Instant::now();
        let (header, rows) = read(plugin, &file);
        assert!(started.elapsed() < Duration::from_secs(1), "{path}");
        assert_eq!(header, ["1"], "{path}");
        assert_eq!(rows.rows, [], "{path}");
        assert_eq!(
            rows.errors[0].message, "cell XFD1048576 is outside the header's 1 columns",
            "{path}"
        );
    });
}

#[test]
fn case_duplicates_doctype_truncated_xml_and_empty_sheets_are_named() {
    let rows = r#"<row r="1"><c r="A1" t="inlineStr"><is><t>a</t></is></c></row><row r="2"><c r="A2"><v>1</v></c></row>"#;
    let sheet = sheet_xml(None, rows);
    let duplicated = zip_parts(&[
        ("_rels/.rels", RELS.as_bytes()),
        ("xl/workbook.xml", WORKBOOK.as_bytes()),
        ("xl/_rels/workbook.xml.rels", WORKBOOK_RELS.as_bytes()),
        ("xl/worksheets/sheet1.xml", sheet.as_bytes()),
        ("xl/worksheets/Sheet1.xml", b""),
    ]);
    let laughs = r#"<?xml version="1.0"?><!DOCTYPE sst [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">]><sst xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" count="1" uniqueCount="1"><si><t>&lol2;</t></si></sst>"#;
    let doctype = handmade(
        &sheet_xml(None, r#"<row r="1"><c r="A1" t="s"><v>0</v></c></row>"#),
        Some(laughs),
    );
    let truncated = handmade(&sheet[..sheet.len() - 30], None);
    let empty = handmade(
        &sheet_xml(
            Some("A1:AH65536"),
            r#"<row r="1048576"><c r="A1048576" s="1"/></row>"#,
        ),
        None,
    );
    let cases: [(&str, &[u8], &[&str]); 4] = [
        (
            "case duplicates",
            &duplicated,
            &[
                "differ only in case",
                "`xl/worksheets/sheet1.xml`",
                "`xl/worksheets/Sheet1.xml`",
                "仅大小写不同",
            ],
        ),
        (
            "doctype",
            &doctype,
            &[
                "the workbook declares XML entities (DOCTYPE), which spreadsheets never need; refused as a possible XML bomb",
                "xl/sharedStrings.xml",
            ],
        ),
        (
            "truncated",
            &truncated,
            &[
                "`xl/worksheets/sheet1.xml`",
                "ends before its XML is complete",
                "被截断",
            ],
        ),
        (
            "empty sheet",
            &empty,
            &[
                "sheet 1 「Sheet1」 is empty; choose another with -O sheet=NAME",
                "第1个工作表「Sheet1」是空的",
            ],
        ),
    ];
    on_both_paths(|plugin, path| {
        for (what, file, fragments) in &cases {
            let err = read_err(plugin, file, &[]);
            assert_eq!(err.kind, ErrorKind::MalformedFile, "{path} {what}: {err}");
            for fragment in *fragments {
                assert!(err.message.contains(fragment), "{path} {what}: {err}");
            }
            assert!(!err.message.contains("Xml error"), "{path} {what}: {err}");
        }
    });
}

#[test]
fn references_beyond_excel_are_refused() {
    for (what, rows, dimension) in [
        (
            "a cell at `A99999999999`",
            r#"<row r="1"><c r="A99999999999"><v>1</v></c></row>"#,
            None,
        ),
        (
            "a cell at `XFE1`",
            r#"<row r="1"><c r="XFE1"><v>1</v></c></row>"#,
            None,
        ),
        ("a row numbered `0`", r#"<row r="0"><c><v>1</v></c></row>"#, None),
        (
            "the dimension `B2:A1`",
            r#"<row r="1"><c r="A1"><v>1</v></c></row>"#,
            Some("B2:A1"),
        ),
        (
            "a formula over `C3:C2`",
            r#"<row r="1"><c r="A1"><f t="shared" ref="C3:C2" si="0">1</f></c></row>"#,
            None,
        ),
    ] {
        let file = handmade(&sheet_xml(dimension, rows), None);
        on_both_paths(|plugin, path| {
            let err = read_err(plugin, &file, &[]);
            assert_eq!(err.kind, ErrorKind::MalformedFile, "{path}: {err}");
            assert!(
                err.message.contains(what) && err.message.contains("16384 columns"),
                "{path}: {err}"
            );
        });
    }
}

#[test]
fn a_huge_shared_strings_count_is_refused() {
    let sst = r#"<sst xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" count="1000000000000" uniqueCount="1000000000000"><si><t>a</t></si></sst>"#;
    let rows = r#"<row r="1"><c r="A1" t="s"><v>0</v></c></row>"#;
    let file = handmade(&sheet_xml(None, rows), Some(sst));
    on_both_paths(|plugin, path| {
        let err = read_err(plugin, &file, &[]);
        assert_eq!(err.kind, ErrorKind::MalformedFile, "{path}: {err}");
        assert!(
            err.message
                .contains("sharedStrings.xml` claims 1000000000000 unique strings"),
            "{path}: {err}"
        );
    });
    // An honest count reads fine.
    let sst = sst.replace("1000000000000", "1");
    let file = handmade(&sheet_xml(None, rows), Some(&sst));
    on_both_paths(|plugin, path| assert_eq!(read(plugin, &file).0, ["a"], "{path}"));
}

/// A sheet of `n` rows of varied numbers, so that it compresses only a few times.
fn numbers_sheet(n: usize) -> String {
    let mut rows = String::from(r#"<row r="1"><c r="A1" t="inlineStr"><is><t>n</t></is></c></row>"#);
    let mut x: u64 = 0x2545_F491_4F6C_DD1D;
    for r in 2..n + 2 {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        rows.push_str(&format!(
            r#"<row r="{r}"><c r="A{r}"><v>{}</v></c></row>"#,
            x % 1_000_000_007
        ));
    }
    sheet_xml(None, &rows)
}

/// Sets the declared uncompressed size of `name` to `size` in both its local and central headers.
fn lie_about_size(file: &mut [u8], name: &str, size: u32) {
    let mut patched = 0;
    for i in 0..file.len().saturating_sub(46) {
        let (sig, name_at, size_at) = match &file[i..i + 4] {
            b"PK\x03\x04" => ("local", 30, 22),
            b"PK\x01\x02" => ("central", 46, 24),
            _ => continue,
        };
        let len_at = if sig == "local" { 26 } else { 28 };
        let len = u16::from_le_bytes([file[i + len_at], file[i + len_at + 1]]) as usize;
        if file.get(i + name_at..i + name_at + len) == Some(name.as_bytes()) {
            file[i + size_at..i + size_at + 4].copy_from_slice(&size.to_le_bytes());
            patched += 1;
        }
    }
    assert_eq!(patched, 2);
}

#[test]
fn budgets_name_their_options_and_a_lie_about_sizes_stops_at_the_declared_size() {
    let sheet = numbers_sheet(100_000);
    assert!(sheet.len() > 3 << 20);
    let honest = handmade(&sheet, None);
    let mut lying = honest.clone();
    lie_about_size(&mut lying, "xl/worksheets/sheet1.xml", 100);
    on_both_paths(|plugin, path| {
        let err = read_err(plugin, &honest, &[("max_entry_mib", "1")]);
        assert_eq!(err.kind, ErrorKind::MalformedFile, "{path}: {err}");
        assert!(
            err.message
                .contains("`xl/worksheets/sheet1.xml` decompresses to more than 1 MiB")
                && err.message.contains("option `max_entry_mib` raises it"),
            "{path}: {err}"
        );
        let err = read_err(plugin, &honest, &[("max_total_mib", "2")]);
        assert!(
            err.message.contains("more than 2 MiB in total") && err.message.contains("`max_total_mib`"),
            "{path}: {err}"
        );
        let err = read_err(plugin, &honest, &[("max_zip_entries", "3")]);
        assert!(
            err.message.contains("4 entries") && err.message.contains("`max_zip_entries`"),
            "{path}: {err}"
        );
        // A part that declares 100 bytes is read no further than that, whatever the budgets:
        // a lie cannot get more past them than the truth.
        for options in [&[][..], &[("max_entry_mib", "1")][..]] {
            let err = read_with(plugin, &lying, options).unwrap_err();
            assert_eq!(err.kind, ErrorKind::MalformedFile, "{path}: {err}");
            assert!(
                err.message.contains("larger than its declared uncompressed size")
                    && err.message.contains("100 declared"),
                "{path}: {err}"
            );
        }
    });
}

#[test]
fn a_declared_entry_count_over_the_limit_is_refused_before_parsing() {
    let mut file = typed_workbook();
    let eocd = file.windows(4).rposition(|w| w == b"PK\x05\x06").unwrap();
    for at in [eocd + 8, eocd + 10] {
        file[at..at + 2].copy_from_slice(&50_000u16.to_le_bytes());
    }
    on_both_paths(|plugin, path| {
        let err = read_err(plugin, &file, &[]);
        assert_eq!(err.kind, ErrorKind::MalformedFile, "{path}: {err}");
        assert!(
            err.message
                .contains("has 50000 entries, more than the limit of 10000")
                && err.message.contains("`max_zip_entries`"),
            "{path}: {err}"
        );
    });
}

#[test]
fn not_an_xlsx_file() {
    let valid = typed_workbook();
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        (
            "garbage",
            b"name,phone\n\xff\xfe garbage".to_vec(),
            "does not start with a zip header",
        ),
        ("empty", Vec::new(), "empty"),
        (
            "ole2",
            [&[0xD0, 0xCF, 0x11, 0xE0][..], &[0u8; 600][..]].concat(),
            "legacy .xls",
        ),
        (
            "truncated",
            valid[..valid.len() / 2].to_vec(),
            "not an xlsx file (zip archive)",
        ),
        (
            "another kind of zip",
            zip_parts(&[("hello.txt", b"hi")]),
            "not an xlsx file (zip archive): the archive has no workbook part `xl/workbook.xml`",
        ),
    ];
    on_both_paths(|plugin, path| {
        for (what, bytes, expected) in &cases {
            let err = read_err(plugin, bytes, &[]);
            assert_eq!(err.kind, ErrorKind::MalformedFile, "{path} {what}: {err}");
            assert!(err.message.contains(expected), "{path} {what}: {err}");
        }
    });
}

#[test]
fn third_party_files_import_or_fail_as_the_manifest_says() {
    // tests/third_party/manifest.tsv (made by make.py): files written by openpyxl, XlsxWriter,
    // LibreOffice and by hand in other writers' layouts, and hostile files, which must fail
    // within a second.
    let cases = third_party::cases("xlsx");
    on_both_paths(|plugin, path| {
        let failures: Vec<String> = cases
            .iter()
            .filter_map(|case| {
                let source = Box::new(Cursor::new(case.bytes()));
                third_party::check(plugin, "xlsx", case, source)
                    .err()
                    .map(|e| format!("{path} {}: {e}", case.name()))
            })
            .collect();
        assert!(failures.is_empty(), "{}", failures.join("\n"));
    });
}

// ---- writing ----

fn template_columns() -> Vec<Column> {
    let mut code = Column::new("客户编号").kind(ColumnKind::Text);
    code.required = true;
    code.comment = "必填，唯一".into();
    let mut founded = Column::new("成立日期").kind(ColumnKind::Date);
    founded.comment = "格式 yyyy-mm-dd".into();
    let mut level = Column::new("级别");
    level.choices = vec!["A".into(), "B".into(), "C".into()];
    let mut industry = Column::new("行业");
    industry.choices = (1..=40).map(|i| format!("行业分类{i:02}")).collect();
    vec![
        code,
        Column::new("客户名称"),
        founded,
        Column::new("金额").kind(ColumnKind::Decimal2),
        level,
        Column::new("电话").kind(ColumnKind::Text),
        Column::new("备注"),
        Column::new("数量").kind(ColumnKind::Integer),
        Column::new("更新时间").kind(ColumnKind::DateTime),
        Column::new("有效").kind(ColumnKind::Bool),
        industry,
    ]
}

fn template_rows() -> RowBatch {
    let updated = i64::from(date(2024, 5, 6)) * 86_400_000_000 + 3_723_000_000; // 01:02:03
    batch(vec![
        vec![
            text("00123"),
            text("上海某某贸易有限公司"),
            Cell::Date(date(2019, 12, 31)),
            Cell::Float(1234.5),
            text("A"),
            text("01012345678"),
            Cell::Formula("=SUM(A1:A2)".into()),
            Cell::Int(42),
            Cell::DateTime(updated),
            Cell::Bool(true),
            text("行业分类07"),
        ],
        vec![
            text("007"),
            text("Ünïcödé & <xml>"),
            Cell::Null,
            Cell::Int(99),
            Cell::Null,
            Cell::Int(13_812_345_678),
            Cell::Int(9_007_199_254_740_993),
            Cell::Float(2.5),
            Cell::Date(date(2024, 1, 2)),
            Cell::Bool(false),
            Cell::Null,
        ],
    ])
}

fn write_template(plugin: &dyn Plugin) -> Vec<u8> {
    write_with(plugin, &[("sheet", "客户")], |w| {
        w.write_header(&template_columns())?;
        w.write_rows(&template_rows())?;
        w.start_sheet("填写说明")?;
        w.write_header(&Column::named(["字段", "说明"]))?;
        w.write_rows(&batch(vec![vec![text("客户编号"), text("必填")]]))
    })
    .unwrap_or_else(|e| panic!("{e}"))
}

#[test]
fn round_trip_keeps_text_dates_amounts_and_formula_text() {
    on_both_paths(|plugin, path| {
        let file = write_template(plugin);
        let (header, rows) = read(plugin, &file);
        let names: Vec<String> = template_columns().into_iter().map(|c| c.name).collect();
        assert_eq!(header, names, "{path}");
        assert_eq!(rows.errors, [], "{path}");
        assert_eq!(
            rows.rows.iter().map(|r| r.number).collect::<Vec<_>>(),
            [2, 3],
            "{path}"
        );
        let updated = i64::from(date(2024, 5, 6)) * 86_400_000_000 + 3_723_000_000;
        assert_eq!(
            rows.rows[0].cells,
            [
                text("00123"),
                text("上海某某贸易有限公司"),
                Cell::Date(date(2019, 12, 31)),
                Cell::Float(1234.5),
                text("A"),
                text("01012345678"),
                text("=SUM(A1:A2)"),
                Cell::Int(42),
                Cell::DateTime(updated),
                Cell::Bool(true),
                text("行业分类07"),
            ],
            "{path}"
        );
        assert_eq!(
            rows.rows[1].cells,
            [
                text("007"),
                text("Ünïcödé & <xml>"),
                Cell::Null,
                Cell::Int(99),
                Cell::Null,
                text("13812345678"),
                text("9007199254740993"),
                Cell::Float(2.5),
                Cell::Date(date(2024, 1, 2)),
                Cell::Bool(false),
                Cell::Null,
            ],
            "{path}"
        );
        let (header, rows) = read_with(plugin, &file, &[("sheet", "填写说明")]).unwrap();
        assert_eq!(header, ["字段", "说明"], "{path}");
        assert_eq!(rows.rows[0].cells, [text("客户编号"), text("必填")], "{path}");
    });
}

/// The archive's parts by name.
fn parts(file: &[u8]) -> HashMap<String, String> {
    let mut zip = ZipArchive::new(Cursor::new(file)).unwrap();
    let mut out = HashMap::new();
    for i in 0..zip.len() {
        let mut f = zip.by_index(i).unwrap();
        let mut s = String::new();
        f.read_to_string(&mut s).unwrap();
        out.insert(f.name().unwrap().into_owned(), s);
    }
    out
}

/// Every element `name` of `xml` as its attributes, in order.
fn elements(xml: &str, name: &str) -> Vec<HashMap<String, String>> {
    let mut reader = quick_xml::Reader::from_str(xml);
    let mut out = Vec::new();
    loop {
        match reader.read_event().unwrap() {
            Event::Start(e) | Event::Empty(e) if e.local_name().as_ref() == name => out.push(
                e.attributes()
                    .map(|a| {
                        let a = a.unwrap();
                        (
                            String::from_utf8_lossy(a.key.as_ref().as_bytes()).into_owned(),
                            a.value.into_owned(),
                        )
                    })
                    .collect(),
            ),
            Event::Eof => return out,
            _ => {}
        }
    }
}

/// The cell formats of `styles.xml`: number formats and fonts by `s` index.
struct Styles {
    num_fmts: HashMap<String, String>,
    xfs: Vec<HashMap<String, String>>,
    fonts: Vec<String>,
}

impl Styles {
    fn new(styles: &str) -> Styles {
        let cell_xfs = styles
            .split("<cellXfs")
            .nth(1)
            .unwrap()
            .split("</cellXfs>")
            .next()
            .unwrap();
        let fonts = styles
            .split("<fonts")
            .nth(1)
            .unwrap()
            .split("</fonts>")
            .next()
            .unwrap();
        Styles {
            num_fmts: elements(styles, "numFmt")
                .into_iter()
                .map(|f| (f["numFmtId"].clone(), f["formatCode"].clone()))
                .collect(),
            xfs: elements(&format!("<cellXfs{cell_xfs}</cellXfs>"), "xf"),
            fonts: fonts.split("<font>").skip(1).map(str::to_owned).collect(),
        }
    }
    fn xf(&self, index: &str) -> &HashMap<String, String> {
        &self.xfs[index.parse::<usize>().unwrap()]
    }
    /// The number format code of cell format `xf`.
    fn num_format(&self, xf: &str) -> String {
        let id = &self.xf(xf)["numFmtId"];
        match id.as_str() {
            "0" => "General".to_owned(),
            "49" => "@".to_owned(),
            _ => self.num_fmts[id].clone(),
        }
    }
    fn font(&self, xf: &str) -> &str {
        &self.fonts[self.xf(xf)["fontId"].parse::<usize>().unwrap()]
    }
}

#[test]
fn written_template_has_formats_validations_notes_and_sheets() {
    on_both_paths(|plugin, path| {
        let file = write_template(plugin);
        let parts = parts(&file);
        let workbook = &parts["xl/workbook.xml"];
        let sheets = elements(workbook, "sheet");
        let names: Vec<&str> = sheets.iter().map(|s| s["name"].as_str()).collect();
        assert_eq!(names, ["客户", "填写说明", "_lists"], "{path}");
        assert_eq!(sheets[1].get("state"), None, "{path}");
        assert_eq!(
            sheets[2].get("state").map(String::as_str),
            Some("hidden"),
            "{path}"
        );

        let sheet = &parts["xl/worksheets/sheet1.xml"];
        let styles = Styles::new(&parts["xl/styles.xml"]);
        // Header: bold, required in red, frozen below row 1.
        let pane = &elements(sheet, "pane")[0];
        assert_eq!(
            (pane["state"].as_str(), pane["ySplit"].as_str()),
            ("frozen", "1"),
            "{path}"
        );
        assert_eq!(pane["topLeftCell"], "A2", "{path}");
        let cells = elements(sheet, "c");
        let style_of = |r: &str| cells.iter().find(|c| c["r"] == r).unwrap()["s"].clone();
        assert!(styles.font(&style_of("B1")).contains("<b/>"), "{path}");
        let required = styles.font(&style_of("A1"));
        assert!(
            required.contains("<b/>") && required.contains("FFC00000"),
            "{path}: {required}"
        );
        assert!(!styles.font(&style_of("B1")).contains("FFC00000"), "{path}");
        // The text columns (A, F) carry the text format `@`, cells and column.
        assert_eq!(styles.num_format(&style_of("A2")), "@", "{path}");
        assert_eq!(styles.num_format(&style_of("F3")), "@", "{path}");
        assert_eq!(
            styles.num_format(&style_of("G2")),
            "@",
            "{path}: the formula's text"
        );
        let cols = elements(sheet, "col");
        let text_col = cols.iter().find(|c| c["min"] == "1").unwrap();
        assert_eq!(styles.num_format(&text_col["style"]), "@", "{path}");
        assert_eq!(styles.num_format(&style_of("D2")), "#,##0.00", "{path}");
        assert_eq!(
            styles.num_format(&style_of("I2")),
            "yyyy-mm-dd hh:mm:ss",
            "{path}"
        );
        let width = |min: &str| {
            cols.iter().find(|c| c["min"] == min).unwrap()["width"]
                .parse::<f64>()
                .unwrap()
        };
        assert!(
            width("1") > width("3"),
            "{path}: a code column is wider than a date column"
        );
        // Constant-memory sheets store their strings inline.
        assert!(sheet.contains(r#"t="inlineStr""#), "{path}");
        assert!(
            parts["xl/worksheets/sheet2.xml"].contains(r#"t="inlineStr""#),
            "{path}"
        );
        // A formula written as a string, never as a formula.
        assert!(!sheet.contains("<f>") && !sheet.contains("<f "), "{path}");
        // Validations: the short list inline, the long one on the hidden sheet, the date.
        let validations = elements(sheet, "dataValidation");
        let by_range: HashMap<&str, &HashMap<String, String>> =
            validations.iter().map(|v| (v["sqref"].as_str(), v)).collect();
        assert_eq!(by_range["E2:E1048576"]["type"], "list", "{path}");
        assert_eq!(by_range["K2:K1048576"]["type"], "list", "{path}");
        assert_eq!(by_range["C2:C1048576"]["type"], "date", "{path}");
        assert!(sheet.contains("<formula1>\"A,B,C\"</formula1>"), "{path}");
        assert!(
            sheet.contains("<formula1>'_lists'!$A$1:$A$40</formula1>"),
            "{path}"
        );
        assert_eq!(
            validations.len(),
            3,
            "{path}: no validation on the DateTime column"
        );
        // Notes on the header cells with a comment.
        let comments = parts
            .iter()
            .find(|(n, _)| n.starts_with("xl/comments"))
            .map(|(_, c)| c);
        let comments = comments.unwrap_or_else(|| panic!("{path}: no comments part"));
        assert!(
            comments.contains("必填，唯一") && comments.contains("格式 yyyy-mm-dd"),
            "{path}"
        );
        let refs: Vec<String> = elements(comments, "comment")
            .into_iter()
            .map(|c| c["ref"].clone())
            .collect();
        assert_eq!(refs, ["A1", "C1"], "{path}");
        // The notes' author is dataport, not rust_xlsxwriter's default, and the note text is
        // the guidance alone (issue 15).
        assert!(
            comments.contains("<author>dataport</author>"),
            "{path}: {comments}"
        );
        assert!(!comments.contains("Author"), "{path}: {comments}");
        // Date cells are dates: the column's number format.
        assert_eq!(styles.num_format(&style_of("C2")), "yyyy-mm-dd", "{path}");
    });
}

#[test]
fn writer_limits_and_misuse_are_errors() {
    on_both_paths(|plugin, path| {
        // Text longer than a cell holds: the place is named.
        let err = write_with(plugin, &[], |w| {
            w.write_header(&Column::named(["编号", "备注"]))?;
            w.write_rows(&batch(vec![vec![text("1"), text("ok")]]))?;
            w.write_rows(&batch(vec![vec![text("2"), Cell::Text("长".repeat(32_768))]]))
        })
        .unwrap_err();
        assert_eq!(err.kind, ErrorKind::Unsupported, "{path}: {err}");
        assert!(
            err.message.contains("row 3, column `备注` of sheet `Sheet1`") && err.message.contains("32767"),
            "{path}: {err}"
        );
        let err = write_with(plugin, &[("sheet", "a/b")], |_| Ok(())).unwrap_err();
        assert_eq!(err.kind, ErrorKind::InvalidOption, "{path}: {err}");
        let err = write_with(plugin, &[("delimiter", ";")], |_| Ok(())).unwrap_err();
        assert_eq!(err.kind, ErrorKind::InvalidOption, "{path}: {err}");
        let err = write_with(plugin, &[], |w| w.write_rows(&batch(vec![vec![text("x")]]))).unwrap_err();
        assert_eq!(err.kind, ErrorKind::InvalidArgument, "{path}: {err}");
        let err = write_with(plugin, &[], |w| {
            w.write_header(&Column::named(["a"]))?;
            w.start_sheet("SHEET1")
        })
        .unwrap_err();
        assert!(
            err.message.contains("already has a sheet named `SHEET1`"),
            "{path}: {err}"
        );
        // A header alone is a valid file.
        let file = write_with(plugin, &[], |w| w.write_header(&Column::named(["a", "b"]))).unwrap();
        assert_eq!(
            read(plugin, &file),
            (vec!["a".to_owned(), "b".to_owned()], RowBatch::new()),
            "{path}"
        );
    });
}

#[test]
fn more_rows_than_a_sheet_holds_is_an_error() {
    // Rows without cells keep this fast; they count all the same.
    let chunk = RowBatch {
        rows: vec![Row::default(); 1 << 16],
        errors: Vec::new(),
    };
    on_both_paths(|plugin, path| {
        let err = write_with(plugin, &[], |w| {
            w.write_header(&Column::named(["a"]))?;
            for _ in 0..16 {
                w.write_rows(&chunk)?;
            }
            Ok(())
        })
        .unwrap_err();
        assert_eq!(err.kind, ErrorKind::Unsupported, "{path}: {err}");
        assert!(
            err.message
                .contains("at most 1048576 rows per sheet (1048575 under the header)")
                && err.message.contains("export as csv"),
            "{path}: {err}"
        );
    });
}
