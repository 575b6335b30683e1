//! The host against real shared libraries: a plugin written in C and compiled here with the
//! system compiler, variants of it that are not plugins or speak another ABI version, two
//! plugins claiming one format, and a Rust plugin that panics on request.

use std::io::{Cursor, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::process::Command;

use dataport_plugin_host::{HostError, LoadedPlugin, PluginRegistry, default_plugin_dirs, load_plugin};
use dataport_plugin_sdk::{ByteSource, Cell, Column, ErrorKind, Options, Plugin, ReadOnly, read_all};

const DLL: &str = std::env::consts::DLL_SUFFIX;

/// Compiles `tests/c/pipe_plugin.c` (or `source` text) into `dir/libdataport_plugin_<name>.so`.
fn compile_c(dir: &Path, name: &str, source: Option<&str>, defines: &[&str]) -> PathBuf {
    let crate_dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    let out = dir.join(format!("libdataport_plugin_{name}{DLL}"));
    let src = match source {
        Some(text) => {
            let file = dir.join(format!("{name}.c"));
            std::fs::write(&file, text).unwrap();
            file
        }
        None => crate_dir.join("tests/c/pipe_plugin.c"),
    };
    let output = Command::new("cc")
        .args([
            "-std=c11", "-Wall", "-Wextra", "-Werror", "-shared", "-fPIC", "-I",
        ])
        .arg(crate_dir.join("../plugin-abi/include"))
        .args(defines)
        .arg("-o")
        .arg(&out)
        .arg(&src)
        .output()
        .expect("run the system C compiler `cc`");
    assert!(
        output.status.success(),
        "cc failed:\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    out
}

fn read_everything(plugin: &dyn Plugin, input: &str) -> (Vec<String>, Vec<(u64, Vec<Cell>)>) {
    let mut reader = plugin
        .open_reader(
            "pipe",
            &Options::new(),
            Box::new(ReadOnly(Cursor::new(input.as_bytes().to_vec()))),
        )
        .expect("open reader");
    let (header, batch) = read_all(&mut *reader, 2).expect("read");
    (
        header,
        batch.rows.into_iter().map(|r| (r.number, r.cells)).collect(),
    )
}

#[test]
fn a_plugin_written_in_c_loads_and_reads() {
    let dir = tempfile::tempdir().unwrap();
    let path = compile_c(dir.path(), "pipe", None, &[]);
    let plugin = load_plugin(&path).unwrap_or_else(|e| panic!("{e}"));
    let d = plugin.descriptor();
    assert_eq!((d.name.as_str(), d.version.as_str()), ("pipe", "0.9.0"));
    assert_eq!(
        (d.formats, d.extensions),
        (vec!["pipe".to_owned()], vec!["psv".to_owned()])
    );
    assert!(d.capabilities.read && !d.capabilities.write);
    // A first-release descriptor: nothing past `capabilities` is read, so it declares nothing.
    assert!(d.options.is_empty() && !d.capabilities.declares_options);
    // It refused v2 naming v1, and was asked again for v1.
    assert_eq!(plugin.abi_version(), 1);

    let (header, rows) = read_everything(&plugin, "客户编号|客户名称\nC1|北京\nC2|\nC3|上海\n");
    assert_eq!(header, ["客户编号", "客户名称"]);
    assert_eq!(
        rows,
        [
            (2, vec![Cell::text("C1"), Cell::text("北京")]),
            (3, vec![Cell::text("C2"), Cell::Null]),
            (4, vec![Cell::text("C3"), Cell::text("上海")]),
        ]
    );
    // Options it does not take are refused with its own message.
    let err = plugin
        .open_reader(
            "pipe",
            &Options::new().with("x", "1"),
            Box::new(Cursor::new(Vec::new())),
        )
        .err()
        .expect("option refused");
    assert_eq!(
        (err.kind, err.message.as_str()),
        (ErrorKind::InvalidOption, "the pipe plugin takes no options")
    );
    // A v1 plugin without reader_checkpoint/reader_resume: its inputs are always sent whole.
    let mut reader = plugin
        .open_reader("pipe", &Options::new(), Box::new(Cursor::new(b"a\n1\n".to_vec())))
        .unwrap();
    assert_eq!(reader.header().unwrap(), ["a"]);
    assert_eq!(reader.checkpoint().unwrap(), None);
    let mut fresh = plugin
        .open_reader("pipe", &Options::new(), Box::new(Cursor::new(Vec::new())))
        .unwrap();
    let at = dataport_plugin_sdk::Checkpoint {
        offset: 2,
        next_row: 2,
        state: vec![1],
    };
    assert_eq!(fresh.resume(&at).unwrap_err().kind, ErrorKind::Unsupported);
    // It cannot write, and the host says so without calling it.
    let err = plugin
        .open_writer("pipe", &Options::new(), Box::new(Vec::new()))
        .err()
        .expect("no writer");
    assert_eq!(err.kind, ErrorKind::Unsupported);

    let registry = PluginRegistry::load_dirs(&[dir.path().to_path_buf()]).unwrap();
    assert_eq!(registry.formats(), ["pipe"]);
    assert_eq!(
        registry.format_for_file_name("名单.PSV", true).as_deref(),
        Some("pipe")
    );
    assert_eq!(
        registry.format_for_file_name("名单.psv", false),
        None,
        "it cannot write"
    );
}

#[test]
fn another_abi_version_is_refused_naming_the_file_and_both_versions() {
    let dir = tempfile::tempdir().unwrap();
    let path = compile_c(dir.path(), "future", None, &["-DPIPE_ABI_VERSION=3u"]);
    let err = load_plugin(&path).unwrap_err();
    assert!(
        matches!(
            err,
            HostError::AbiMismatch {
                expected: 2,
                found: 3,
                ..
            }
        ),
        "{err}"
    );
    let text = err.to_string();
    assert!(text.contains(&path.display().to_string()), "{text}");
    assert!(text.contains("ABI v3") && text.contains("ABI v2"), "{text}");
}

#[test]
fn a_library_without_the_entry_point_is_not_a_plugin() {
    let dir = tempfile::tempdir().unwrap();
    let path = compile_c(
        dir.path(),
        "stranger",
        Some("int answer(void) { return 42; }\n"),
        &[],
    );
    let err = load_plugin(&path).unwrap_err();
    assert!(matches!(err, HostError::NotAPlugin { .. }), "{err}");
    let text = err.to_string();
    assert!(
        text.contains(&path.display().to_string()) && text.contains("dataport_plugin_init"),
        "{text}"
    );
    // Discovery stops on it rather than starting half-configured.
    let err = PluginRegistry::load_dirs(&[dir.path().to_path_buf()]).unwrap_err();
    assert!(matches!(err, HostError::NotAPlugin { .. }), "{err}");
}

#[test]
fn a_failing_init_is_reported() {
    let dir = tempfile::tempdir().unwrap();
    let source = r#"
#include <string.h>
#include "dataport_plugin.h"
DpStatus dataport_plugin_init(uint32_t v, DpPluginVTable *out, DpPluginError *err) {
    (void)v;
    out->abi_version = DP_ABI_VERSION;
    const char *m = "licence file missing";
    size_t n = strlen(m) < err->capacity ? strlen(m) : err->capacity;
    memcpy(err->message, m, n);
    err->len = n;
    return DP_STATUS_INTERNAL;
}
"#;
    let path = compile_c(dir.path(), "broken", Some(source), &[]);
    let err = load_plugin(&path).unwrap_err();
    assert!(matches!(err, HostError::InitFailed { .. }), "{err}");
    assert!(err.to_string().contains("licence file missing"), "{err}");
}

#[test]
fn two_plugins_claiming_one_format_are_refused_naming_both() {
    let dir = tempfile::tempdir().unwrap();
    let first = compile_c(dir.path(), "pipe", None, &[]);
    let second = compile_c(dir.path(), "pipe2", None, &["-DPIPE_NAME=\"pipe2\""]);
    let err = PluginRegistry::load_dirs(&[dir.path().to_path_buf()]).unwrap_err();
    assert!(
        matches!(&err, HostError::DuplicateFormat { format, .. } if format == "pipe"),
        "{err}"
    );
    let text = err.to_string();
    assert!(text.contains(&first.display().to_string()), "{text}");
    assert!(text.contains(&second.display().to_string()), "{text}");
}

#[test]
fn a_plugin_that_opens_without_a_handle_fails_the_call_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let path = compile_c(dir.path(), "pipe", None, &["-DPIPE_NO_HANDLE"]);
    let plugin = load_plugin(&path).unwrap();
    let err = plugin
        .open_reader(
            "pipe",
            &Options::new(),
            Box::new(ReadOnly(Cursor::new(b"a|b\n1|2\n".to_vec()))),
        )
        .err()
        .expect("opening must fail");
    assert_eq!(err.kind, ErrorKind::Internal, "{err}");
    assert!(err.message.contains("returned no reader"), "{err}");
}

/// The faulty test plugin, copied into `dir` under a name discovery accepts.
fn faulty_plugin(dir: &Path) -> LoadedPlugin {
    let file = format!("libdataport_testplugin_faulty{DLL}");
    let exe_dir = std::env::current_exe().unwrap().parent().unwrap().to_path_buf();
    let built = std::iter::once(exe_dir)
        .chain(default_plugin_dirs())
        .map(|d| d.join(&file))
        .find(|p| p.is_file())
        .unwrap_or_else(|| panic!("{file} is not built; run `cargo build -p dataport-testplugin-faulty`"));
    let copy = dir.join(format!("libdataport_plugin_faulty{DLL}"));
    std::fs::copy(&built, &copy).unwrap();
    load_plugin(&copy).unwrap_or_else(|e| panic!("{e}"))
}

fn lines(n: usize) -> Box<dyn ByteSource> {
    let mut text = String::from("a,b\n");
    for i in 0..n {
        text.push_str(&format!("{i},x\n"));
    }
    Box::new(Cursor::new(text.into_bytes()))
}

#[test]
fn a_panicking_plugin_fails_the_call_and_the_process_carries_on() {
    let dir = tempfile::tempdir().unwrap();
    let plugin = faulty_plugin(dir.path());

    // Well-behaved use first.
    let mut reader = plugin.open_reader("faulty", &Options::new(), lines(5)).unwrap();
    let (header, rows) = read_all(&mut *reader, 2).unwrap();
    assert_eq!((header.len(), rows.rows.len()), (2, 5));

    // A panic in the second batch: the first batch arrives, then a PANIC error with the message.
    let options = Options::new().with("panic_in", "batch");
    let mut reader = plugin.open_reader("faulty", &options, lines(10)).unwrap();
    reader.header().unwrap();
    assert_eq!(reader.next_batch(3).unwrap().unwrap().rows.len(), 3);
    let err = reader.next_batch(3).unwrap_err();
    assert_eq!(err.kind, ErrorKind::Panic, "{err}");
    assert!(err.message.contains("asked to panic in batch 2"), "{err}");
    assert!(
        err.message.contains("faulty"),
        "the message names the plugin: {err}"
    );
    // The instance is poisoned: it is not called again, and dropping it is safe.
    let again = reader.next_batch(3).unwrap_err();
    assert_eq!(again.kind, ErrorKind::Panic);
    drop(reader);

    let err = plugin
        .open_reader("faulty", &Options::new().with("panic_in", "open"), lines(1))
        .err()
        .expect("panic in open");
    assert_eq!(err.kind, ErrorKind::Panic, "{err}");

    let mut writer = plugin
        .open_writer(
            "faulty",
            &Options::new().with("panic_in", "write"),
            Box::new(Vec::new()),
        )
        .unwrap();
    writer.write_header(&Column::named(["a"])).unwrap();
    let mut batch = dataport_plugin_sdk::RowBatch::new();
    batch.push_row(2, vec![Cell::text("1")]);
    assert_eq!(writer.write_rows(&batch).unwrap_err().kind, ErrorKind::Panic);
    assert_eq!(writer.finish().unwrap_err().kind, ErrorKind::Panic);

    // The plugin itself still works for new instances.
    let mut reader = plugin.open_reader("faulty", &Options::new(), lines(1)).unwrap();
    assert_eq!(read_all(&mut *reader, 10).unwrap().1.rows.len(), 1);
}

/// A source that fails after some bytes, like a dropped upload.
struct Interrupted {
    data: Cursor<Vec<u8>>,
}

impl Read for Interrupted {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        match self.data.read(buf)? {
            0 => Err(std::io::Error::other("upload interrupted by the client")),
            n => Ok(n),
        }
    }
}

impl Seek for Interrupted {
    fn seek(&mut self, _: SeekFrom) -> std::io::Result<u64> {
        Err(std::io::Error::other("cannot seek"))
    }
}

impl ByteSource for Interrupted {
    fn can_seek(&self) -> bool {
        false
    }
}

#[test]
fn the_hosts_own_io_errors_are_reported_as_such() {
    let dir = tempfile::tempdir().unwrap();
    let path = compile_c(dir.path(), "pipe", None, &[]);
    let plugin = load_plugin(&path).unwrap();
    let source = Interrupted {
        data: Cursor::new(b"a|b\n1|2\n".to_vec()),
    };
    let err = plugin
        .open_reader("pipe", &Options::new(), Box::new(source))
        .err()
        .expect("io error");
    assert_eq!(err.kind, ErrorKind::Io);
    assert_eq!(err.message, "upload interrupted by the client");
}

/// The guide's C example, `examples/c/psv_plugin.c`.
fn psv_example() -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/c/psv_plugin.c");
    std::fs::read_to_string(path).expect("examples/c/psv_plugin.c")
}

fn verdicts(
    results: &[dataport_plugin_host::CheckResult],
) -> Vec<(&'static str, dataport_plugin_host::Verdict)> {
    results.iter().map(|r| (r.name, r.verdict)).collect()
}

#[test]
fn the_c_example_passes_every_check() {
    use dataport_plugin_host::{CheckInput, Verdict, check_plugin};
    let dir = tempfile::tempdir().unwrap();
    let path = compile_c(dir.path(), "psv", Some(&psv_example()), &[]);
    let results = check_plugin(&path, &CheckInput::default());
    let report: Vec<String> = results.iter().map(ToString::to_string).collect();
    assert!(results.iter().all(|r| r.verdict == Verdict::Pass), "{report:#?}");
    let names: Vec<&str> = results.iter().map(|r| r.name).collect();
    for expected in [
        "handshake",
        "descriptor",
        "reader options",
        "writer options",
        "short reads",
        "batches",
        "release order",
        "source failure",
        "round trip",
        "sink failure",
    ] {
        assert!(names.contains(&expected), "{names:?}");
    }
    // The options it declares come through the descriptor.
    let plugin = load_plugin(&path).unwrap();
    let d = plugin.descriptor();
    assert!(d.capabilities.declares_options);
    let spec: Vec<(&str, bool, bool, &str)> = d
        .options
        .iter()
        .map(|o| (o.name.as_str(), o.reading, o.writing, o.default.as_str()))
        .collect();
    assert_eq!(
        spec,
        [
            ("delimiter", true, true, "|"),
            ("max_line_bytes", true, false, "1048576")
        ]
    );
}

#[test]
fn broken_variants_of_the_c_example_fail_the_check_that_covers_them() {
    use dataport_plugin_host::{CheckInput, Verdict, check_plugin};
    let example = psv_example();
    let broken = |from: &str, to: &str| {
        assert!(example.contains(from), "the example changed: {from}");
        example.replacen(from, to, 1)
    };
    let cases = [
        // Accepts any ABI version.
        (
            "handshake",
            broken(
                "if (abi_version < DP_OLDEST_ABI_VERSION || abi_version > DP_ABI_VERSION) {",
                "if (abi_version == 12345u) {",
            ),
        ),
        // Zeroes *out at the end of data.
        (
            "batches",
            broken(
                "return status != DP_STATUS_OK ? status : DP_STATUS_END_OF_DATA;",
                "if (status == DP_STATUS_OK) memset(out, 0, sizeof *out);\n        return status != DP_STATUS_OK ? status : DP_STATUS_END_OF_DATA;",
            ),
        ),
        // Takes a failing source for the end of the file.
        (
            "source failure",
            broken(
                "!= DP_STATUS_OK) return LINE_IO;",
                "!= DP_STATUS_OK) { r->at_eof = 1; break; }",
            ),
        ),
        // Writes amounts with %g.
        (
            "round trip",
            broken("kind == DP_COLUMN_DECIMAL2 ? \"%.2f\" : \"%.17g\"", "\"%.1f\""),
        ),
        // Ignores a failing sink.
        (
            "sink failure",
            broken(
                "return status == DP_STATUS_OK ? DP_STATUS_OK : DP_STATUS_IO;",
                "(void)status;\n    return DP_STATUS_OK;",
            ),
        ),
        // Accepts unknown options.
        (
            "reader options",
            broken("reading ? \"unknown option;", "0 ? \"unknown option;").replacen(
                "return fail(err, DP_STATUS_INVALID_OPTION,\n                        0 ?",
                "if (0) return fail(err, DP_STATUS_INVALID_OPTION,\n                        0 ?",
                1,
            ),
        ),
    ];
    let dir = tempfile::tempdir().unwrap();
    for (i, (check, source)) in cases.iter().enumerate() {
        let path = compile_c(
            dir.path(),
            &format!("psv{i}"),
            Some(source),
            &["-Wno-unused-parameter"],
        );
        let results = check_plugin(&path, &CheckInput::default());
        let failed: Vec<&str> = results
            .iter()
            .filter(|r| r.verdict == Verdict::Fail)
            .map(|r| r.name)
            .collect();
        assert!(failed.contains(check), "{check}: {:?}", verdicts(&results));
    }
}
