//! The csv plugin, end to end. Every case is a function over `&dyn Plugin` and runs twice with
//! the same assertions: on the native [`CsvPlugin`] and on `libdataport_plugin_csv.so` loaded
//! through `dataport-plugin-host` (so the C ABI, batches crossing it, errors and options are
//! exercised too).

use std::io::{self, Read, Write};
use std::panic::{AssertUnwindSafe, catch_unwind, resume_unwind};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

use dataport_plugin_csv::{CsvPlugin, DEFAULT_MAX_FIELD_BYTES};
use dataport_plugin_host::{LoadedPlugin, built_plugin_path, load_plugin};
use dataport_plugin_sdk::{
    ByteSource, Cell, Column, ColumnKind, ErrorKind, Options, Plugin, PluginError, ReadOnly, RowBatch,
    days_from_ymd, read_all,
};
use encoding_rs::GBK;

#[path = "../../../tests/third_party/harness.rs"]
mod third_party;

// ---------------------------------------------------------------------------------------------
// Running a case on both paths

/// The library cargo built for this test run. It lands in `target/<profile>/deps/`, next to
/// the test binary; the copy in `target/<profile>/` is only refreshed by `cargo build`, so it can
/// be stale while testing, and `built_plugin_path` looks there first. Hence the binary's own
/// directory first.
fn so_path() -> PathBuf {
    let file = format!("libdataport_plugin_csv{}", std::env::consts::DLL_SUFFIX);
    std::env::current_exe()
        .ok()
        .and_then(|exe| exe.parent().map(|dir| dir.join(&file)))
        .filter(|p| p.is_file())
        .or_else(|| built_plugin_path("csv"))
        .expect(
            "libdataport_plugin_csv.so is built with this crate's tests; not found next to the test binary",
        )
}

fn loaded() -> &'static LoadedPlugin {
    static LOADED: OnceLock<LoadedPlugin> = OnceLock::new();
    LOADED.get_or_init(|| load_plugin(&so_path()).unwrap_or_else(|e| panic!("{e}")))
}

/// Runs `case` on the native plugin and on the loaded shared library; a failure says which.
fn on_both_paths(case: impl Fn(&dyn Plugin)) {
    let paths: [(&str, &dyn Plugin); 2] = [("native", &CsvPlugin), ("loaded .so", loaded())];
    for (name, plugin) in paths {
        if let Err(panic) = catch_unwind(AssertUnwindSafe(|| case(plugin))) {
            eprintln!("^^^ the failure above is on the {name} path");
            resume_unwind(panic);
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Helpers

fn t(s: &str) -> Cell {
    Cell::text(s)
}

fn open(
    plugin: &dyn Plugin,
    source: impl Read + Send + 'static,
    options: &Options,
) -> Box<dyn dataport_plugin_sdk::Reader> {
    // A source that cannot seek, as the host gives a streaming plugin.
    let source: Box<dyn ByteSource> = Box::new(ReadOnly(source));
    plugin
        .open_reader("csv", options, source)
        .unwrap_or_else(|e| panic!("open_reader: {e}"))
}

fn try_read(
    plugin: &dyn Plugin,
    bytes: &[u8],
    options: &Options,
) -> Result<(Vec<String>, RowBatch), PluginError> {
    let mut reader = open(plugin, io::Cursor::new(bytes.to_vec()), options);
    read_all(&mut *reader, 1000)
}

fn read(plugin: &dyn Plugin, bytes: &[u8], options: &Options) -> (Vec<String>, RowBatch) {
    try_read(plugin, bytes, options).unwrap_or_else(|e| panic!("read: {e}"))
}

fn rows(batch: &RowBatch) -> Vec<(u64, Vec<Cell>)> {
    batch.rows.iter().map(|r| (r.number, r.cells.clone())).collect()
}

fn errors(batch: &RowBatch) -> Vec<(u64, ErrorKind, String)> {
    batch
        .errors
        .iter()
        .map(|e| (e.row, e.kind, e.message.clone()))
        .collect()
}

fn utf16(text: &str, little_endian: bool) -> Vec<u8> {
    let mut out = if little_endian {
        vec![0xFF, 0xFE]
    } else {
        vec![0xFE, 0xFF]
    };
    for unit in text.encode_utf16() {
        out.extend(if little_endian {
            unit.to_le_bytes()
        } else {
            unit.to_be_bytes()
        });
    }
    out
}

fn gbk(text: &str) -> Vec<u8> {
    let (bytes, _, unmappable) = GBK.encode(text);
    assert!(!unmappable);
    bytes.into_owned()
}

const CUSTOMERS: &str = "客户编号,客户名称,负责人\r\nCUST20231001001,北京科技有限公司,张三\r\nCUST20231001002,上海贸易有限公司,\r\n";

fn customers_expected() -> (Vec<String>, Vec<(u64, Vec<Cell>)>) {
    (
        vec!["客户编号".into(), "客户名称".into(), "负责人".into()],
        vec![
            (2, vec![t("CUST20231001001"), t("北京科技有限公司"), t("张三")]),
            (3, vec![t("CUST20231001002"), t("上海贸易有限公司"), Cell::Null]),
        ],
    )
}

/// A sink the test keeps a handle on.
#[derive(Clone, Default)]
struct SharedBuf(Arc<Mutex<Vec<u8>>>);

impl Write for SharedBuf {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

fn batch_of(rows: Vec<Vec<Cell>>) -> RowBatch {
    let mut batch = RowBatch::new();
    for (i, cells) in rows.into_iter().enumerate() {
        batch.push_row(i as u64 + 2, cells);
    }
    batch
}

fn write(plugin: &dyn Plugin, options: &Options, columns: &[Column], rows: Vec<Vec<Cell>>) -> Vec<u8> {
    let buf = SharedBuf::default();
    let mut writer = plugin
        .open_writer("csv", options, Box::new(buf.clone()))
        .unwrap_or_else(|e| panic!("open_writer: {e}"));
    writer.write_header(columns).unwrap();
    writer.write_rows(&batch_of(rows)).unwrap();
    writer.finish().unwrap();
    drop(writer);
    buf.0.lock().unwrap().clone()
}

// ---------------------------------------------------------------------------------------------
// Descriptor and options

#[test]
fn descriptor() {
    on_both_paths(|p| {
        let d = p.descriptor();
        assert_eq!(d.name, "csv");
        assert_eq!(d.version, env!("CARGO_PKG_VERSION"));
        assert_eq!(d.formats, ["csv"]);
        assert_eq!(d.extensions, ["csv", "tsv", "txt"]);
        assert!(d.capabilities.read && d.capabilities.write);
        assert!(!d.capabilities.needs_seek, "the csv reader streams");
        assert!(!d.capabilities.sheets);
        assert!(d.modules.is_empty());
    });
}

#[test]
fn bad_options_are_refused_when_opening() {
    on_both_paths(|p| {
        let open = |o: Options| {
            p.open_reader("csv", &o, Box::new(ReadOnly(io::empty())))
                .err()
                .map(|e| (e.kind, e.message))
        };
        let (kind, message) = open(Options::new().with("delimter", ";")).unwrap();
        assert_eq!(kind, ErrorKind::InvalidOption);
        assert!(message.contains("`delimter`"), "{message}");
        let (kind, message) = open(Options::new().with("encoding", "ebcdic")).unwrap();
        assert_eq!(kind, ErrorKind::InvalidOption);
        assert!(message.contains("`ebcdic`"), "{message}");
        assert_eq!(
            open(Options::new().with("delimiter", "\"")).unwrap().0,
            ErrorKind::InvalidOption
        );
        assert_eq!(
            open(Options::new().with("max_fields", "0")).unwrap().0,
            ErrorKind::InvalidOption
        );
        assert_eq!(
            open(Options::new().with("bom", "true")).unwrap().0,
            ErrorKind::InvalidOption
        );

        let w = p.open_writer(
            "csv",
            &Options::new().with("encoding", "gbk"),
            Box::new(io::sink()),
        );
        assert_eq!(w.err().unwrap().kind, ErrorKind::InvalidOption);
        let w = p.open_writer("csv", &Options::new().with("bom", "maybe"), Box::new(io::sink()));
        assert_eq!(w.err().unwrap().kind, ErrorKind::InvalidOption);
    });
}

#[test]
fn a_csv_writer_has_one_sheet() {
    on_both_paths(|p| {
        let mut w = p
            .open_writer("csv", &Options::new(), Box::new(io::sink()))
            .unwrap();
        w.write_header(&Column::named(["a"])).unwrap();
        assert_eq!(w.start_sheet("more").unwrap_err().kind, ErrorKind::Unsupported);
    });
}

// ---------------------------------------------------------------------------------------------
// Encodings

#[test]
fn utf8_with_and_without_bom() {
    on_both_paths(|p| {
        let (header, batch) = read(p, CUSTOMERS.as_bytes(), &Options::new());
        assert_eq!((header, rows(&batch)), customers_expected());
        assert!(batch.errors.is_empty());

        let with_bom = [b"\xEF\xBB\xBF".as_slice(), CUSTOMERS.as_bytes()].concat();
        let (header, batch) = read(p, &with_bom, &Options::new());
        assert_eq!((header, rows(&batch)), customers_expected());

        // An explicit utf-8 still strips the BOM.
        let (header, _) = read(p, &with_bom, &Options::new().with("encoding", "UTF-8"));
        assert_eq!(header[0], "客户编号");
    });
}

#[test]
fn utf16_le_and_be_with_bom() {
    on_both_paths(|p| {
        for little_endian in [true, false] {
            let (header, batch) = read(p, &utf16(CUSTOMERS, little_endian), &Options::new());
            assert_eq!(
                (header, rows(&batch)),
                customers_expected(),
                "little endian: {little_endian}"
            );
        }
        // Excel's "Unicode text": UTF-16LE, tab-separated.
        let text = CUSTOMERS.replace(',', "\t");
        let (header, batch) = read(p, &utf16(&text, true), &Options::new());
        assert_eq!((header, rows(&batch)), customers_expected());
        // With the matching option the BOM is stripped as well.
        let (header, _) = read(
            p,
            &utf16(CUSTOMERS, false),
            &Options::new().with("encoding", "utf-16be"),
        );
        assert_eq!(header[0], "客户编号");
    });
}

#[test]
fn gbk_is_detected_without_an_option() {
    on_both_paths(|p| {
        let (header, batch) = read(p, &gbk(CUSTOMERS), &Options::new());
        assert_eq!((header, rows(&batch)), customers_expected());
        assert!(batch.errors.is_empty());
        // The same with the option, under either name.
        for name in ["gbk", "gb18030", "GB2312"] {
            let (header, batch) = read(p, &gbk(CUSTOMERS), &Options::new().with("encoding", name));
            assert_eq!((header, rows(&batch)), customers_expected(), "{name}");
        }
    });
}

#[test]
fn the_encoding_option_overrides_detection() {
    on_both_paths(|p| {
        // 70 KiB of ASCII first: the 64 KiB sample looks like UTF-8, so only the option reads the
        // GBK text after it, while auto-detection reports the rows (never replacement characters).
        let mut text = String::from("code,name\r\n");
        let mut row = 2;
        while text.len() < 70 * 1024 {
            text.push_str(&format!("C{row:06},ascii name {row}\r\n"));
            row += 1;
        }
        text.push_str("C999999,北京科技有限公司\r\n");
        let bytes = gbk(&text);
        let (_, auto) = read(p, &bytes, &Options::new());
        assert_eq!(auto.rows.len() as u64, row - 2);
        assert_eq!(
            errors(&auto),
            [(
                row,
                ErrorKind::Encoding,
                "column 2: bytes 0xB1 are not valid UTF-8".to_owned()
            )]
        );
        let (_, forced) = read(p, &bytes, &Options::new().with("encoding", "gbk"));
        assert!(forced.errors.is_empty());
        assert_eq!(forced.rows.len() as u64, row - 1);
        assert_eq!(
            rows(&forced).pop(),
            Some((row, vec![t("C999999"), t("北京科技有限公司")]))
        );

        // Latin-1 text is not UTF-8. (Before issue 15 it was read as GB18030 and failed to
        // decode.) chardetng takes it for windows-1252, and no multi-byte encoding decodes it
        // (0xE9 before CR), so that is sure; the option reads it too.
        let latin = b"name\r\nCaf\xE9\r\n";
        let (_, auto) = read(p, latin, &Options::new());
        assert_eq!(errors(&auto), []);
        assert_eq!(rows(&auto), [(2, vec![t("Café")])]);
        let (_, forced) = read(p, latin, &Options::new().with("encoding", "windows-1252"));
        assert_eq!(rows(&forced), [(2, vec![t("Café")])]);
        // `Müller Zürich` in windows-1252 is also valid GB18030 (`M黮ler Z黵ich`): with so little
        // text the file is refused, naming the likely encodings and the option, never garbled.
        let muller = b"name,city\r\nM\xFCller,Z\xFCrich\r\n";
        let e = try_read(p, muller, &Options::new()).unwrap_err();
        assert_eq!(e.kind, ErrorKind::Encoding);
        assert!(
            e.message.contains("windows-1252")
                && e.message.contains("GBK/GB18030")
                && e.message.contains("-O encoding="),
            "{e}"
        );
        let (_, forced) = read(p, muller, &Options::new().with("encoding", "windows-1252"));
        assert_eq!(rows(&forced), [(2, vec![t("Müller"), t("Zürich")])]);
    });
}

#[test]
fn invalid_bytes_are_a_row_error_and_the_other_rows_import() {
    on_both_paths(|p| {
        let utf8 = b"code,name\r\nC1,ok\r\nC2,bad \xFF byte\r\nC3,\xE5\x8C\x97\r\n";
        let (header, batch) = read(p, utf8, &Options::new().with("encoding", "utf-8"));
        assert_eq!(header, ["code", "name"]);
        assert_eq!(
            rows(&batch),
            [(2, vec![t("C1"), t("ok")]), (4, vec![t("C3"), t("北")])]
        );
        assert_eq!(
            errors(&batch),
            [(
                3,
                ErrorKind::Encoding,
                "column 2: bytes 0xFF are not valid UTF-8".to_owned()
            )]
        );

        // GBK, auto-detected, with a byte that is no GB18030 lead byte on row 4, after a quoted
        // multi-line field on row 3.
        let mut bytes = gbk("客户编号,客户名称\r\nC1,北京\r\nC2,\"上海\r\n浦东\"\r\n");
        bytes.extend_from_slice(b"C3,\xFF\r\n");
        bytes.extend(gbk("C4,广州\r\n"));
        let (_, batch) = read(p, &bytes, &Options::new());
        assert_eq!(
            rows(&batch),
            [
                (2, vec![t("C1"), t("北京")]),
                (3, vec![t("C2"), t("上海\r\n浦东")]),
                (5, vec![t("C4"), t("广州")]),
            ]
        );
        assert_eq!(
            errors(&batch),
            [(
                4,
                ErrorKind::Encoding,
                "column 2: bytes 0xFF are not valid GB18030".to_owned()
            )]
        );
    });
}

#[test]
fn an_undecodable_header_fails_the_file() {
    on_both_paths(|p| {
        let e = try_read(
            p,
            b"code,na\xFFme\r\nC1,x\r\n",
            &Options::new().with("encoding", "utf-8"),
        )
        .unwrap_err();
        assert_eq!(e.kind, ErrorKind::Encoding);
        // Both languages and the fix (issue 15), around the detail.
        assert!(
            e.message
                .contains("row 1 (the header): column 2: bytes 0xFF are not valid UTF-8")
                && e.message.contains("第1行（表头）第2列")
                && e.message.contains("save the file as UTF-8 CSV"),
            "{e}"
        );
    });
}

#[test]
fn invalid_utf16_fails_the_file_naming_the_row() {
    on_both_paths(|p| {
        // Row 3 holds an unpaired high surrogate (U+D800) before `x`.
        let mut bytes = utf16("code,name\r\nC1,ok\r\nC2,", true);
        let offset = bytes.len();
        bytes.extend_from_slice(&[0x00, 0xD8]);
        bytes.extend(utf16("x\r\nC3,later\r\n", true).split_off(2));
        let e = try_read(p, &bytes, &Options::new()).unwrap_err();
        assert_eq!(e.kind, ErrorKind::Encoding);
        assert!(
            e.message.contains(&format!(
                "row 3: bytes 0x00 0xD8 at byte offset {offset} are not valid UTF-16LE"
            )) && e.message.contains("第3行"),
            "{e}"
        );

        // The rows before the bad one are still handed out, then the error comes.
        let mut reader = open(p, io::Cursor::new(bytes), &Options::new());
        assert_eq!(reader.header().unwrap(), ["code", "name"]);
        let first = reader.next_batch(100).unwrap().unwrap();
        assert_eq!(rows(&first), [(2, vec![t("C1"), t("ok")])]);
        let e = reader.next_batch(100).unwrap_err();
        assert!(e.message.contains("row 3: "), "{}", e.message);

        // An odd number of bytes: the last one is half a code unit.
        let mut bytes = utf16("a,b\r\n1,2\r\n\r\n3,", false);
        bytes.push(0x00);
        let e = try_read(p, &bytes, &Options::new()).unwrap_err();
        assert_eq!(e.kind, ErrorKind::Encoding);
        assert!(
            e.message.contains(&format!(
                "row 4: bytes 0x00 at byte offset {} are not valid UTF-16BE",
                bytes.len() - 1
            )),
            "{e}"
        );
    });
}

#[test]
fn gbk_with_a_delimiter_that_can_be_a_trail_byte() {
    on_both_paths(|p| {
        // 0x81 0x7C is one GBK character whose second byte is `|`: splitting the raw bytes on `|`
        // would cut it in two, so the reader transcodes first.
        let (text, _, _) = GBK.decode(&[0x81, 0x7C]);
        let ch = text.into_owned();
        assert_eq!(ch.chars().count(), 1);
        // (Its 13 non-ASCII bytes are too few for the auto encoding to be sure since issue 15,
        // so the encoding is named; the longer file below is detected.)
        let bytes = gbk(&format!("编号|名称\r\nA{ch}B|北京\r\n"));
        let gbk_option = Options::new().with("delimiter", "|").with("encoding", "gbk");
        let (header, batch) = read(p, &bytes, &gbk_option);
        assert_eq!(header, ["编号", "名称"]);
        assert_eq!(rows(&batch), [(2, vec![t(&format!("A{ch}B")), t("北京")])]);
        let bytes = gbk(&format!(
            "客户编号|客户名称|负责人\r\nA{ch}B|北京科技有限公司|张三\r\nC2|上海贸易有限公司|李四\r\n"
        ));
        let (header, batch) = read(p, &bytes, &Options::new().with("delimiter", "|"));
        assert_eq!(header, ["客户编号", "客户名称", "负责人"]);
        assert_eq!(
            rows(&batch)[0],
            (2, vec![t(&format!("A{ch}B")), t("北京科技有限公司"), t("张三")])
        );
    });
}

#[test]
fn third_party_files_import_or_fail_as_the_manifest_says() {
    // tests/third_party/manifest.tsv (made by make.py): Python's csv module in several
    // encodings; each file reads exactly or fails with a clear ENCODING error, never garbled.
    let cases = third_party::cases("csv");
    on_both_paths(|p| {
        let failures: Vec<String> = cases
            .iter()
            .filter_map(|case| {
                let source = Box::new(ReadOnly(io::Cursor::new(case.bytes())));
                third_party::check(p, "csv", case, source)
                    .err()
                    .map(|e| format!("{}: {e}", case.name()))
            })
            .collect();
        assert!(failures.is_empty(), "{}", failures.join("\n"));
    });
}

// ---------------------------------------------------------------------------------------------
// Delimiters, quoting, rows

#[test]
fn delimiter_sniffing_and_option() {
    on_both_paths(|p| {
        // Semicolons (European Excel); the commas inside are decimal commas.
        let (header, batch) = read(p, b"code;amount;note\r\nC1;1,50;\"a;b\"\r\n", &Options::new());
        assert_eq!(header, ["code", "amount", "note"]);
        assert_eq!(rows(&batch), [(2, vec![t("C1"), t("1,50"), t("a;b")])]);

        // Tabs.
        let (header, batch) = read(
            p,
            b"code\tname, full\towner\r\nC1\tACME, Inc.\t\r\n",
            &Options::new(),
        );
        assert_eq!(header, ["code", "name, full", "owner"]);
        assert_eq!(rows(&batch), [(2, vec![t("C1"), t("ACME, Inc."), Cell::Null])]);

        // Delimiters inside quotes do not count.
        let (header, _) = read(p, b"\"a;b;c;d\",e\r\n", &Options::new());
        assert_eq!(header, ["a;b;c;d", "e"]);

        // An explicit delimiter wins over sniffing (`tab`, `\t` and a literal are all accepted).
        let (header, batch) = read(p, b"a;b|c\r\n1;2|3\r\n", &Options::new().with("delimiter", "|"));
        assert_eq!(header, ["a;b", "c"]);
        assert_eq!(rows(&batch), [(2, vec![t("1;2"), t("3")])]);
        for tab in ["tab", "\\t", "\t"] {
            let (header, _) = read(p, b"a,b\tc\r\n", &Options::new().with("delimiter", tab));
            assert_eq!(header, ["a,b", "c"], "{tab:?}");
        }
    });
}

#[test]
fn quoted_fields_keep_excel_row_numbers() {
    on_both_paths(|p| {
        let input = concat!(
            "code,name,notes\r\n",
            "C1,\"Smith, John\",\"He said \"\"hi\"\"\"\r\n",
            "C2,\"two\r\nlines\",\"three\nlines\nhere\"\r\n",
            "C3,\"\",  spaced  \r\n",
            "C4,\"a\r\n\r\nblank line inside\",x",
        );
        let (header, batch) = read(p, input.as_bytes(), &Options::new());
        assert_eq!(header, ["code", "name", "notes"]);
        assert_eq!(
            rows(&batch),
            [
                (2, vec![t("C1"), t("Smith, John"), t("He said \"hi\"")]),
                (3, vec![t("C2"), t("two\r\nlines"), t("three\nlines\nhere")]),
                (4, vec![t("C3"), Cell::Null, t("  spaced  ")]),
                (5, vec![t("C4"), t("a\r\n\r\nblank line inside"), t("x")]),
            ]
        );
        assert!(batch.errors.is_empty());
    });
}

#[test]
fn blank_lines_are_counted_but_not_emitted() {
    on_both_paths(|p| {
        // CRLF, LF and CR line ends, blank lines before the header, between rows and at the end.
        let input = "\r\ncode,name\r\n\r\nC1,a\r\n\r\n\r\nC2,b\n\nC3,c\r\rC4,d\r\n,\r\n\r\n\r\n";
        let (header, batch) = read(p, input.as_bytes(), &Options::new());
        assert_eq!(header, ["code", "name"]);
        assert_eq!(
            rows(&batch),
            [
                (4, vec![t("C1"), t("a")]),
                (7, vec![t("C2"), t("b")]),
                (9, vec![t("C3"), t("c")]),
                (11, vec![t("C4"), t("d")]),
                // A line of delimiters is not blank: a row of empty cells.
                (12, vec![Cell::Null, Cell::Null]),
            ]
        );
    });
}

#[test]
fn ragged_rows_are_reported_per_row() {
    on_both_paths(|p| {
        let input = "a,b,c\r\n1,2,3\r\n1,2\r\n1,2,3,4\r\nonly\r\n4,5,6\r\n";
        let (_, batch) = read(p, input.as_bytes(), &Options::new());
        assert_eq!(
            rows(&batch),
            [
                (2, vec![t("1"), t("2"), t("3")]),
                (6, vec![t("4"), t("5"), t("6")]),
            ]
        );
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
                    ErrorKind::MalformedFile,
                    "4 fields, the header has 3".to_owned()
                ),
                (
                    5,
                    ErrorKind::MalformedFile,
                    "1 fields, the header has 3".to_owned()
                ),
            ]
        );
    });
}

#[test]
fn empty_inputs() {
    on_both_paths(|p| {
        for input in [&b""[..], b"\xEF\xBB\xBF", b"\r\n\r\n", b"\xFF\xFE"] {
            let (header, batch) = read(p, input, &Options::new());
            assert!(header.is_empty(), "{input:?}");
            assert!(batch.is_empty(), "{input:?}");
        }
        let mut reader = open(p, io::empty(), &Options::new());
        assert!(reader.header().unwrap().is_empty());
        assert_eq!(reader.next_batch(10).unwrap(), None);

        // A header alone; no trailing line break.
        let (header, batch) = read(p, b"a,b", &Options::new());
        assert_eq!(header, ["a", "b"]);
        assert!(batch.is_empty());
    });
}

// ---------------------------------------------------------------------------------------------
// Caps

#[test]
fn field_record_and_field_count_caps_fail_the_file() {
    on_both_paths(|p| {
        let input = b"code,name\r\nC1,0123456789\r\nC2,\"0123456789\r\nx\"\r\n";
        let o = Options::new().with("max_field_bytes", "10");
        let e = try_read(p, input, &o).unwrap_err();
        assert_eq!(e.kind, ErrorKind::MalformedFile);
        assert_eq!(
            e.message,
            "row 3: field 2 is longer than 10 bytes (max_field_bytes); raise the option \
             `max_field_bytes` to read it"
        );
        // Raised, it reads.
        let (_, batch) = read(p, input, &Options::new().with("max_field_bytes", "13"));
        assert_eq!(batch.rows.len(), 2);

        let o = Options::new().with("max_record_bytes", "12");
        let e = try_read(p, input, &o).unwrap_err();
        assert_eq!(e.kind, ErrorKind::MalformedFile);
        assert_eq!(
            e.message,
            "row 3: the record is longer than 12 bytes (max_record_bytes); raise the option \
             `max_record_bytes` to read it"
        );

        let input = b"a,b,c\r\n1,2,3\r\n\r\n1,2,3,4,5\r\n";
        let e = try_read(p, input, &Options::new().with("max_fields", "4")).unwrap_err();
        assert_eq!(e.kind, ErrorKind::MalformedFile);
        assert_eq!(
            e.message,
            "row 4: the record has more than 4 fields (max_fields); raise the option `max_fields` \
             to read it"
        );
        // Under a cap a long row is only ragged.
        let (_, batch) = read(p, input, &Options::new().with("max_fields", "5"));
        assert_eq!(batch.errors[0].message, "5 fields, the header has 3");
    });
}

#[test]
fn the_default_field_cap_is_one_mebibyte() {
    on_both_paths(|p| {
        let mut input = b"a,b\r\n1,".to_vec();
        input.extend(std::iter::repeat_n(b'x', DEFAULT_MAX_FIELD_BYTES));
        input.extend_from_slice(b"\r\n2,");
        input.extend(std::iter::repeat_n(b'y', DEFAULT_MAX_FIELD_BYTES + 1));
        input.extend_from_slice(b"\r\n");
        let mut reader = open(p, io::Cursor::new(input), &Options::new());
        reader.header().unwrap();
        let first = reader.next_batch(1).unwrap().unwrap();
        assert_eq!(
            first.rows[0].cells[1].as_text().map(str::len),
            Some(DEFAULT_MAX_FIELD_BYTES)
        );
        let e = reader.next_batch(1).unwrap_err();
        assert_eq!(e.kind, ErrorKind::MalformedFile);
        assert!(
            e.message
                .starts_with("row 3: field 2 is longer than 1048576 bytes (max_field_bytes)"),
            "{}",
            e.message
        );
        // The reader stays failed.
        assert_eq!(reader.next_batch(1).unwrap_err().kind, ErrorKind::MalformedFile);
    });
}

// ---------------------------------------------------------------------------------------------
// Batching and streaming

#[test]
fn batches_cover_every_row_once() {
    on_both_paths(|p| {
        let mut input = String::from("n,v\r\n");
        let mut expected_rows = Vec::new();
        let mut expected_errors = Vec::new();
        for i in 0..40u64 {
            let row = i + 2;
            match i % 7 {
                3 => {
                    input.push_str("ragged\r\n");
                    expected_errors.push(row);
                }
                5 => input.push_str("\r\n"),
                _ => {
                    input.push_str(&format!("{i},\"v\r\n{i}\"\r\n"));
                    expected_rows.push(row);
                }
            }
        }
        for max_rows in [1, 2, 3, 7, 1000] {
            let mut reader = open(p, io::Cursor::new(input.clone().into_bytes()), &Options::new());
            reader.header().unwrap();
            let (mut got_rows, mut got_errors) = (Vec::new(), Vec::new());
            while let Some(batch) = reader.next_batch(max_rows).unwrap() {
                assert!(!batch.is_empty(), "an empty batch");
                assert!(
                    batch.source_rows() <= max_rows,
                    "{} > {max_rows}",
                    batch.source_rows()
                );
                got_rows.extend(batch.rows.iter().map(|r| r.number));
                got_errors.extend(batch.errors.iter().map(|e| e.row));
            }
            assert_eq!(got_rows, expected_rows, "max_rows {max_rows}");
            assert_eq!(got_errors, expected_errors, "max_rows {max_rows}");
            assert_eq!(reader.next_batch(max_rows).unwrap(), None);
        }
    });
}

/// Hands out one byte per `read`, so that every boundary (CRLF, quotes, BOM-less multi-byte
/// characters, UTF-16 code units) falls between two reads somewhere.
struct Trickle(io::Cursor<Vec<u8>>);

impl Read for Trickle {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = buf.len().min(1);
        self.0.read(&mut buf[..n])
    }
}

#[test]
fn input_arriving_byte_by_byte_reads_the_same() {
    // The first 64 KiB fill the detection buffer; what follows is read byte by byte.
    let mut prefix = String::from("code,name,note\r\n");
    let mut n = 0;
    while prefix.len() < 66_000 {
        prefix.push_str(&format!("P{n},名称{n},\"x\r\ny\"\r\n"));
        n += 1;
    }
    let tricky = concat!(
        "C1,\"quoted, \"\"with\"\" comma\",\r\n",
        "\r\n\n\r",
        "C2,北京科技有限公司,\"multi\r\nline\"\r",
        "\nC3,ragged\r\n",
        "C4,,\"\"\r\n",
        "C5,last,no line end",
    );
    let text = format!("{prefix}{tricky}");
    let inputs: Vec<(&str, Vec<u8>)> = vec![
        ("utf-8", text.clone().into_bytes()),
        (
            "utf-8 bom",
            [b"\xEF\xBB\xBF".as_slice(), text.as_bytes()].concat(),
        ),
        ("gbk", gbk(&text)),
        ("utf-16le", utf16(&text, true)),
        ("utf-16be", utf16(&text, false)),
    ];
    on_both_paths(|p| {
        for (name, bytes) in &inputs {
            let whole = read(p, bytes, &Options::new());
            let mut reader = open(p, Trickle(io::Cursor::new(bytes.clone())), &Options::new());
            let trickled = read_all(&mut *reader, 100).unwrap();
            assert_eq!(trickled, whole, "{name}");
            let (_, batch) = whole;
            assert_eq!(
                rows(&batch)[batch.rows.len() - 4..],
                [
                    (n + 2, vec![t("C1"), t("quoted, \"with\" comma"), Cell::Null]),
                    (n + 6, vec![t("C2"), t("北京科技有限公司"), t("multi\r\nline")]),
                    (n + 8, vec![t("C4"), Cell::Null, Cell::Null]),
                    (n + 9, vec![t("C5"), t("last"), t("no line end")]),
                ],
                "{name}"
            );
            assert_eq!(
                errors(&batch),
                [(
                    n + 7,
                    ErrorKind::MalformedFile,
                    "2 fields, the header has 3".to_owned()
                )],
                "{name}"
            );
        }
    });
}

/// Generates `rows` fixed-size CSV rows on the fly and counts the bytes handed out.
struct Generator {
    rows: u64,
    next: u64,
    pending: Vec<u8>,
    produced: Arc<AtomicU64>,
}

const GENERATED_HEADER: &str = "客户编号,客户名称,合同金额\r\n";

fn generated_row(i: u64) -> String {
    format!(
        "CUST{i:010},\"北京科技有限公司, 分部 {i:07}\",{:07}.50\r\n",
        i % 1_000_000
    )
}

impl Read for Generator {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        while self.pending.is_empty() && self.next <= self.rows {
            if self.next == 0 {
                self.pending.extend_from_slice(GENERATED_HEADER.as_bytes());
            } else {
                self.pending
                    .extend_from_slice(generated_row(self.next).as_bytes());
            }
            self.next += 1;
        }
        let n = buf.len().min(self.pending.len());
        buf[..n].copy_from_slice(&self.pending[..n]);
        self.pending.drain(..n);
        self.produced.fetch_add(n as u64, Ordering::Relaxed);
        Ok(n)
    }
}

#[test]
fn a_large_input_is_streamed() {
    const ROWS: u64 = 300_000;
    let row_len = generated_row(1).len() as u64;
    assert_eq!(generated_row(ROWS).len() as u64, row_len);
    on_both_paths(|p| {
        let produced = Arc::new(AtomicU64::new(0));
        let source = Generator {
            rows: ROWS,
            next: 0,
            pending: Vec::new(),
            produced: produced.clone(),
        };
        let mut reader = open(p, source, &Options::new());
        assert_eq!(reader.header().unwrap(), ["客户编号", "客户名称", "合同金额"]);
        let (mut count, mut last) = (0u64, None);
        while let Some(batch) = reader.next_batch(5000).unwrap() {
            assert!(batch.errors.is_empty());
            count += batch.rows.len() as u64;
            last = batch.rows.last().cloned();
            // Never more than a buffer or two ahead of the rows handed out: nothing is slurped.
            let consumed = GENERATED_HEADER.len() as u64 + count * row_len;
            let ahead = produced.load(Ordering::Relaxed) - consumed;
            assert!(
                ahead <= 256 * 1024,
                "read {ahead} bytes ahead of the rows returned"
            );
        }
        assert_eq!(count, ROWS);
        let last = last.unwrap();
        assert_eq!(last.number, ROWS + 1);
        assert_eq!(
            last.cells,
            [
                t(&format!("CUST{ROWS:010}")),
                t(&format!("北京科技有限公司, 分部 {ROWS:07}")),
                t(&format!("{:07}.50", ROWS % 1_000_000)),
            ]
        );
        assert_eq!(
            produced.load(Ordering::Relaxed),
            GENERATED_HEADER.len() as u64 + ROWS * row_len
        );
    });
}

// ---------------------------------------------------------------------------------------------
// Writer

fn customer_columns() -> Vec<Column> {
    vec![
        Column::new("客户编号").kind(ColumnKind::Text),
        Column::new("合同金额").kind(ColumnKind::Decimal2),
        Column::new("创建时间").kind(ColumnKind::Date),
        Column::new("updated").kind(ColumnKind::DateTime),
        Column::new("score"),
        Column::new("vip").kind(ColumnKind::Bool),
        Column::new("notes"),
    ]
}

#[test]
fn writer_formats_cells_with_bom_and_crlf() {
    on_both_paths(|p| {
        let day = days_from_ymd(2023, 10, 1).unwrap();
        let micros = i64::from(day) * 86_400_000_000 + (9 * 3600 + 30 * 60 + 5) * 1_000_000 + 250_000;
        let out = write(
            p,
            &Options::new(),
            &customer_columns(),
            vec![
                vec![
                    t("CUST1"),
                    Cell::Float(1234.5),
                    Cell::Date(day),
                    Cell::DateTime(micros),
                    Cell::Float(0.1),
                    Cell::Bool(true),
                    t("plain"),
                ],
                vec![
                    t("CUST2"),
                    Cell::Float(3.0),
                    Cell::Null,
                    Cell::Null,
                    Cell::Int(-7),
                    Cell::Bool(false),
                    t("a, b"),
                ],
                vec![
                    t(" lead"),
                    Cell::Int(12),
                    Cell::Null,
                    Cell::Null,
                    Cell::Float(2.5e-7),
                    Cell::Null,
                    t("say \"hi\"\r\nbye"),
                ],
                vec![
                    t("'=1+1"),
                    Cell::Float(0.005),
                    Cell::Null,
                    Cell::Null,
                    Cell::Null,
                    Cell::Null,
                    Cell::Formula("=SUM(A1:A2)".into()),
                ],
            ],
        );
        let expected = concat!(
            "\u{FEFF}客户编号,合同金额,创建时间,updated,score,vip,notes\r\n",
            "CUST1,1234.50,2023-10-01,2023-10-01 09:30:05,0.1,true,plain\r\n",
            "CUST2,3.00,,,-7,false,\"a, b\"\r\n",
            " lead,12,,,0.00000025,,\"say \"\"hi\"\"\r\nbye\"\r\n",
            "'=1+1,0.01,,,,,=SUM(A1:A2)\r\n",
        );
        assert_eq!(String::from_utf8(out).unwrap(), expected);
    });
}

#[test]
fn writer_bom_off_and_other_delimiter() {
    on_both_paths(|p| {
        let out = write(
            p,
            &Options::new().with("bom", "false").with("delimiter", ";"),
            &Column::named(["a", "b"]),
            vec![vec![t("1,5"), t("x;y")], vec![Cell::Null, Cell::Null]],
        );
        assert_eq!(out, b"a;b\r\n1,5;\"x;y\"\r\n;\r\n");

        // One column: an empty cell is written as "" so that the row is not a blank line.
        let out = write(
            p,
            &Options::new().with("bom", "0"),
            &Column::named(["only"]),
            vec![vec![Cell::Null]],
        );
        assert_eq!(out, b"only\r\n\"\"\r\n");

        // A writer finished without rows still writes its header and BOM.
        let buf = SharedBuf::default();
        let mut w = p
            .open_writer("csv", &Options::new(), Box::new(buf.clone()))
            .unwrap();
        w.write_header(&Column::named(["h"])).unwrap();
        w.finish().unwrap();
        drop(w);
        assert_eq!(buf.0.lock().unwrap().as_slice(), b"\xEF\xBB\xBFh\r\n");
    });
}

#[test]
fn writer_refuses_rows_that_do_not_fit_the_header() {
    on_both_paths(|p| {
        let mut w = p
            .open_writer("csv", &Options::new(), Box::new(io::sink()))
            .unwrap();
        w.write_header(&Column::named(["a", "b"])).unwrap();
        let e = w.write_rows(&batch_of(vec![vec![t("1")]])).unwrap_err();
        assert_eq!(e.kind, ErrorKind::InvalidArgument);
        assert_eq!(e.message, "a row has 1 cells, the header has 2 columns");

        let mut w = p
            .open_writer("csv", &Options::new(), Box::new(io::sink()))
            .unwrap();
        let e = w.write_rows(&batch_of(vec![vec![t("1")]])).unwrap_err();
        assert_eq!(e.kind, ErrorKind::InvalidArgument);
        assert_eq!(e.message, "write_header must be called before write_rows");
    });
}

#[test]
fn writer_without_columns_writes_only_the_bom() {
    on_both_paths(|p| {
        let out = write(p, &Options::new(), &[], vec![vec![], vec![]]);
        assert_eq!(out, b"\xEF\xBB\xBF");
        let (header, batch) = read(p, &out, &Options::new());
        assert!(header.is_empty() && batch.is_empty());
    });
}

#[test]
fn awkward_text_round_trips() {
    on_both_paths(|p| {
        let header = ["客户编号", "客户名称", "备注", "x"];
        let data = vec![
            vec![
                t("CUST-001"),
                t("北京科技有限公司"),
                t("含有,逗号"),
                t("'=HYPERLINK(\"x\")"),
            ],
            vec![t("\"quoted\""), t("line1\r\nline2"), t("lf\nonly"), t("cr\ronly")],
            vec![t("  spaces  "), Cell::Null, t("tab\there"), t("semi;colon")],
            vec![t("'+1"), t("'-2"), t("'@sum"), t("\u{FEFF}bom-like")],
            vec![t("🙂 emoji"), t("ß é ñ"), t("\"\""), t(",")],
        ];
        for options in [
            Options::new(),
            Options::new().with("bom", "false").with("delimiter", "\t"),
        ] {
            let out = write(p, &options, &Column::named(header), data.clone());
            let (got_header, batch) = read(p, &out, &Options::new());
            assert_eq!(got_header, header);
            assert!(batch.errors.is_empty(), "{:?}", batch.errors);
            let got: Vec<Vec<Cell>> = batch.rows.iter().map(|r| r.cells.clone()).collect();
            assert_eq!(got, data);
            // One row per record, whatever the embedded line breaks.
            let numbers: Vec<u64> = batch.rows.iter().map(|r| r.number).collect();
            assert_eq!(numbers, [2, 3, 4, 5, 6]);
        }
    });
}
