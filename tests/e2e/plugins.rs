//! Format plugins seen from outside: the loaded list, a plugin built for another ABI version,
//! a plugin that panics mid-job, and hostile xlsx files against the running server.

use crate::harness::OutputWithin;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use dataport_client::v1;
use dataport_core::Module;

use crate::harness::{TestServer, run_cli, stderr, stdout};
use crate::support::{Import, assert_invalid, csv, customer, import, refused_import, rows};

const DLL: &str = std::env::consts::DLL_SUFFIX;

/// A SQLite server that also loads the plugins in `plugins`.
fn server_with_plugins(plugins: &Path) -> TestServer {
    TestServer::start_on(
        crate::harness::Backend::Sqlite,
        &["--plugin-dir", plugins.to_str().unwrap()],
    )
    .unwrap()
}

/// A customers file with the template header and one valid row per code, fields joined by
/// `separator` (the codes and the generated values contain none).
fn customers_file<S: AsRef<str>>(codes: impl IntoIterator<Item = S>, separator: &str) -> String {
    let header = dataport_core::header::template_header(Module::Customers, dataport_core::Locale::ZhCn);
    let mut file = header.join(separator) + "\n";
    for code in codes {
        file.push_str(&customer(code.as_ref()).join(separator));
        file.push('\n');
    }
    file
}

fn target_dir() -> PathBuf {
    Path::new(crate::harness::dataport_bin())
        .parent()
        .unwrap()
        .to_path_buf()
}

#[tokio::test]
async fn formats_lists_the_bundled_plugins_with_their_versions() {
    let server = TestServer::start();
    let out = server.cli(&["formats", "--server", &server.url()]);
    assert!(out.status.success(), "{}", stderr(&out));
    let table = stdout(&out);
    let version = env!("CARGO_PKG_VERSION");
    for expected in ["csv", "xlsx", "salesforce", "hubspot"] {
        let line = table
            .lines()
            .find(|l| l.starts_with(&format!("{expected} ")))
            .unwrap_or_else(|| panic!("no {expected} in:\n{table}"));
        assert!(line.contains(version), "{line}");
    }
    let mut client = server.client(&server.admin_token()).await;
    let formats = client
        .list_formats(v1::ListFormatsRequest {})
        .await
        .unwrap()
        .into_inner()
        .formats;
    let xlsx = formats.iter().find(|f| f.name == "xlsx").unwrap();
    assert!(xlsx.can_read && xlsx.can_write && xlsx.extensions == ["xlsx"]);
    assert!(
        xlsx.path.ends_with(&format!("libdataport_plugin_xlsx{DLL}")),
        "{}",
        xlsx.path
    );
}

#[tokio::test]
async fn declared_options_are_listed_and_refused_before_a_job_starts() {
    let server = TestServer::start();
    let mut client = server.client(&server.admin_token()).await;
    let formats = client
        .list_formats(v1::ListFormatsRequest {})
        .await
        .unwrap()
        .into_inner()
        .formats;
    let option = |plugin: &str, name: &str| {
        let f = formats.iter().find(|f| f.name == plugin).unwrap();
        assert!(f.options_checked, "{plugin} declares its options");
        f.options.iter().find(|o| o.name == name).cloned().unwrap()
    };
    let delimiter = option("csv", "delimiter");
    assert_eq!(delimiter.r#type(), v1::OptionType::Char);
    assert!(delimiter.reading && delimiter.writing && delimiter.default_value == ",");
    let bom = option("csv", "bom");
    assert!(
        bom.r#type() == v1::OptionType::Bool && !bom.reading && bom.writing && bom.default_value == "true"
    );
    assert_eq!(option("xlsx", "max_ratio").default_value, "100");
    assert_eq!(
        option("salesforce", "module").choices,
        ["customers", "contacts", "opportunities"]
    );
    assert!(!option("hubspot", "sheet").help.is_empty());

    // Refused with the spec, before a job exists: unknown keys name the valid ones, bad values
    // name what is expected.
    let refused = |key: &str, value: &str| Import::new(Module::Customers, "a.csv").option(key, value);
    let status = refused_import(&mut client, &refused("delimitr", ";")).await;
    assert_invalid(&status, "spec.options");
    assert!(
        status.message().contains("unknown option `delimitr`"),
        "{}",
        status.message()
    );
    assert!(
        status.message().contains("delimiter, max_field_bytes"),
        "{}",
        status.message()
    );
    let status = refused_import(&mut client, &refused("bom", "yes")).await;
    assert!(
        status.message().contains("options when reading"),
        "{}",
        status.message()
    );
    let status = refused_import(&mut client, &refused("max_fields", "lots")).await;
    assert!(
        status.message().contains("must be a whole number, not `lots`"),
        "{}",
        status.message()
    );
    let jobs = crate::support::jobs(&mut client).await;
    assert!(jobs.is_empty(), "no job was created: {jobs:?}");

    let mut request = crate::support::export_request(Module::Customers, "csv");
    request.options = vec![v1::FormatOption {
        key: "bom".into(),
        value: "maybe".into(),
    }];
    let status = client.export(request).await.expect_err("the export is refused");
    assert_invalid(&status, "options");
    assert!(status.message().contains("true or false"), "{}", status.message());

    let out = server.cli(&["formats", "--server", &server.url()]);
    let table = stdout(&out);
    assert!(
        table
            .lines()
            .any(|l| l.split_whitespace().take(5).collect::<Vec<_>>()
                == ["csv", "bom", "bool", "write", "true"]),
        "{table}"
    );
}

/// The guide's C example, `examples/c/psv_plugin.c`.
fn psv_example() -> String {
    std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/c/psv_plugin.c")).unwrap()
}

/// Compiles C `source` with the guide's command into `plugins/libdataport_plugin_psv.so`.
fn build_psv(plugins: &Path, include: &Path, source: &str) -> PathBuf {
    let file = plugins.join("psv_plugin.c");
    std::fs::write(&file, source).unwrap();
    let so = plugins.join(format!("libdataport_plugin_psv{DLL}"));
    let cc = Command::new("cc")
        .args(["-shared", "-fPIC", "-O2", "-Wall", "-Wextra", "-Werror"])
        .arg(format!("-I{}", include.display()))
        .arg("-o")
        .arg(&so)
        .arg(&file)
        .output_within();
    assert!(cc.status.success(), "{}", String::from_utf8_lossy(&cc.stderr));
    std::fs::remove_file(file).unwrap();
    so
}

/// The example, made to crash on a line starting `CRASH`, to hang on one starting `HANG`, to
/// fail the file on `FATAL` (dropping the rows of its batch) and to fail only its row on a
/// `ROWERR` that starts a batch.
fn fragile_psv() -> String {
    let at = "        uint64_t row = r->line_no;\n";
    let example = psv_example();
    assert!(example.contains(at), "the example changed");
    let hooks = [
        "if (r->line_len >= 5 && memcmp(r->line, \"CRASH\", 5) == 0) *(volatile int *)0 = 1;",
        "if (r->line_len >= 5 && memcmp(r->line, \"PRINT\", 5) == 0) { printf(\"a plugin's debug print\\n\"); fflush(stdout); }",
        "if (r->line_len >= 4 && memcmp(r->line, \"HANG\", 4) == 0) { volatile int spin = 1; while (spin) {} }",
        "if (r->line_len >= 5 && memcmp(r->line, \"FATAL\", 5) == 0) { \
         status = fail_at(err, DP_STATUS_MALFORMED_FILE, \"a FATAL line\", row, r->abi); break; }",
        "if (r->line_len >= 6 && memcmp(r->line, \"ROWERR\", 6) == 0 && b->num_rows == 0 && b->num_errors == 0) { \
         status = fail_at(err, DP_STATUS_MALFORMED_FILE, \"a ROWERR line\", row, r->abi); \
         if (r->abi >= 2) err->flags = DP_ERROR_ROW_ONLY; break; }",
    ];
    let hooks: String = hooks.iter().map(|h| format!("        {h}\n")).collect();
    example.replacen(at, &format!("{at}{hooks}"), 1)
}

/// Imports `bytes` and drains the stream whatever happens (the server may die mid-way).
async fn import_ignoring_failure(client: &mut dataport_client::AuthedClient, request: &Import, bytes: &[u8]) {
    let mut messages = vec![request.spec(bytes.len() as u64)];
    messages.push(v1::ImportRequest {
        message: Some(v1::import_request::Message::Chunk(bytes.to_vec())),
    });
    if let Ok(stream) = client.import(tokio_stream::iter(messages)).await {
        let mut stream = stream.into_inner();
        while let Ok(Some(_)) = tokio::time::timeout(Duration::from_secs(60), stream.message())
            .await
            .unwrap_or(Ok(None))
        {}
    }
}

#[tokio::test]
async fn an_isolated_plugin_that_crashes_or_hangs_fails_only_its_job() {
    let dir = tempfile::tempdir().unwrap();
    let plugins = dir.path().join("plugins");
    std::fs::create_dir(&plugins).unwrap();
    let include = Path::new(env!("CARGO_MANIFEST_DIR")).join("crates/plugin-abi/include");
    build_psv(&plugins, &include, &fragile_psv());
    let dir_arg = plugins.to_str().unwrap();
    let server = TestServer::start_on(
        crate::harness::Backend::Sqlite,
        &["--plugin-dir", dir_arg, "--plugin-timeout-secs", "2"],
    )
    .unwrap();
    let mut client = server.client(&server.admin_token()).await;

    let crash = customers_file(["C1"], "|") + "CRASH|here\n";
    let run = import(
        &mut client,
        &Import::new(Module::Customers, "crash.psv"),
        crash.as_bytes(),
    )
    .await;
    assert_eq!(run.status(), v1::JobStatus::Failed);
    assert_eq!(run.report().error_code(), v1::ErrorCode::PluginError);
    let message = &run.report().error_message;
    assert!(
        message.contains("plugin `psv` 1.0.0 crashed (SIGSEGV) while reading row 2"),
        "{message}"
    );

    let started = Instant::now();
    let hang = customers_file(["H1"], "|") + "HANG|here\n";
    let run = import(
        &mut client,
        &Import::new(Module::Customers, "hang.psv"),
        hang.as_bytes(),
    )
    .await;
    assert_eq!(run.status(), v1::JobStatus::Failed);
    let message = &run.report().error_message;
    assert!(
        message.contains("plugin `psv` 1.0.0 hung (no answer for 2 s"),
        "{message}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(30),
        "{:?}",
        started.elapsed()
    );

    // The server kept serving, and the next job got a fresh worker; a plugin that prints to its
    // stdout does not disturb the pipes (its prints go to stderr).
    let good = customers_file(["G1", "G2"], "|") + "PRINT|x\n";
    let run = import(
        &mut client,
        &Import::new(Module::Customers, "good.psv"),
        good.as_bytes(),
    )
    .await;
    assert_eq!(
        run.counts(),
        (2, 0, 0, 1),
        "the PRINT line is ragged: {:?}",
        run.errors
    );
    drop(server);

    // In-process, the same crash stops the server; the restart names the plugin in the job.
    // (`dataport formats` says how each plugin runs.)
    // (Set for this one plugin: the rest of --plugin-dir would still run in workers.)
    let args = [
        "--plugin-dir",
        dir_arg,
        "--plugin-isolation",
        "process",
        "--plugin-isolation",
        "psv=in-process",
    ];
    let server = TestServer::start_on(crate::harness::Backend::Sqlite, &args).unwrap();
    let mut client = server.client(&server.admin_token()).await;
    import_ignoring_failure(
        &mut client,
        &Import::new(Module::Customers, "crash.psv"),
        crash.as_bytes(),
    )
    .await;
    let (status, data) = server.wait_exit();
    use std::os::unix::process::ExitStatusExt;
    assert_eq!(status.signal(), Some(11), "{status:?}");
    let server = TestServer::start_in(data, &args);
    let mut client = server.client(&server.admin_token()).await;
    let jobs = crate::support::jobs(&mut client).await;
    assert_eq!(jobs.len(), 1, "{jobs:?}");
    assert_eq!(jobs[0].status(), v1::JobStatus::Interrupted);
    let reason = &jobs[0].error_message;
    assert!(
        reason.contains("plugin `psv` 1.0.0") && reason.contains("in-process"),
        "{reason}"
    );
}

/// ABI v2 on both paths (a worker and in-process): a failure that names its row says where
/// reading stopped and which rows the plugin read but never handed over; a row-only failure
/// fails that row and reading goes on; the plugin gets the job's locale.
#[tokio::test]
async fn a_v2_plugin_names_its_rows_and_speaks_the_jobs_language() {
    let dir = tempfile::tempdir().unwrap();
    let plugins = dir.path().join("plugins");
    std::fs::create_dir(&plugins).unwrap();
    let include = Path::new(env!("CARGO_MANIFEST_DIR")).join("crates/plugin-abi/include");
    build_psv(&plugins, &include, &fragile_psv());
    for isolation in ["process", "in-process"] {
        let args = [
            "--plugin-dir",
            plugins.to_str().unwrap(),
            "--plugin-isolation",
            isolation,
        ];
        let server = TestServer::start_on(crate::harness::Backend::Sqlite, &args).unwrap();
        let mut client = server.client(&server.admin_token()).await;

        let fatal = customers_file(["F1", "F2", "F3"], "|") + "FATAL|x\n" + &customer("F4").join("|") + "\n";
        let request = Import::new(Module::Customers, "fatal.psv").locale(v1::Locale::En);
        let run = import(&mut client, &request, fatal.as_bytes()).await;
        assert_eq!(run.status(), v1::JobStatus::Failed, "{isolation}");
        let message = &run.report().error_message;
        assert!(message.contains("a FATAL line"), "{isolation}: {message}");
        assert!(
            message.contains("reading stopped at row 5; no data row was handed over"),
            "{isolation}: {message}"
        );
        assert!(
            message.contains("rows 2–4 were read by the plugin but not handed over"),
            "{isolation}: {message}"
        );

        let row_only = customers_file(Vec::<String>::new(), "|")
            + "ROWERR|x\n"
            + &customer("R1").join("|")
            + "\nR2|too few\n";
        let request = Import::new(Module::Customers, "rowerr.psv").locale(v1::Locale::En);
        let run = import(&mut client, &request, row_only.as_bytes()).await;
        assert_eq!(run.counts(), (1, 0, 0, 2), "{isolation}: {:?}", run.errors);
        let rows: Vec<u64> = run.errors.iter().map(|e| e.row).collect();
        assert_eq!(rows, [2, 4], "{isolation}: {:?}", run.errors);
        assert!(
            run.errors[0].message.contains("a ROWERR line"),
            "{:?}",
            run.errors
        );
        assert!(
            run.errors[1]
                .message
                .contains("line 4 has 2 fields, the header has 12"),
            "{:?}",
            run.errors
        );

        let request = Import::new(Module::Customers, "rowerr.psv").locale(v1::Locale::ZhCn);
        let run = import(&mut client, &request, row_only.as_bytes()).await;
        assert!(
            run.errors
                .iter()
                .any(|e| e.message.contains("第4行有2个字段，表头有12个")),
            "{:?}",
            run.errors
        );
    }
}

/// `dataport plugin-check` on every bundled plugin, as a plugin author would run it: the vendor
/// layouts with one of their golden export files as the sample.
#[test]
fn every_bundled_plugin_passes_plugin_check() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let cases = [
        ("csv", None),
        ("xlsx", None),
        (
            "salesforce",
            Some(root.join("plugins/salesforce/tests/golden/account.csv")),
        ),
        (
            "hubspot",
            Some(root.join("plugins/hubspot/tests/golden/companies.hubspot.csv")),
        ),
    ];
    let dir = tempfile::tempdir().unwrap();
    for (name, sample) in cases {
        // deps/ first: `cargo test` rebuilds plugins there without refreshing the copies above.
        let file = format!("libdataport_plugin_{name}{DLL}");
        let library = [target_dir().join("deps").join(&file), target_dir().join(&file)]
            .into_iter()
            .find(|p| p.is_file())
            .unwrap_or_else(|| panic!("{file} is not built"));
        let mut args = vec!["plugin-check".to_owned(), library.display().to_string()];
        args.extend(sample.map(|s| s.display().to_string()));
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let out = run_cli(dir.path(), &args);
        let report = stdout(&out);
        assert!(
            out.status.success() && report.contains(" 0 failed"),
            "{name}:\n{report}{}",
            stderr(&out)
        );
        let skipped = report.lines().filter(|l| l.starts_with("SKIP")).count();
        assert!(skipped <= 2, "{name} skipped too much:\n{report}");
    }
}

/// `docs/plugins.md`'s walk-through: the C example builds with the documented command against
/// `dataport plugin-sdk-path`, passes `dataport plugin-check` (under valgrind too, when it is
/// installed; CI installs it), and imports and exports through a server.
#[tokio::test]
async fn the_guides_c_example_builds_passes_plugin_check_and_round_trips_through_the_server() {
    let dir = tempfile::tempdir().unwrap();
    let plugins = dir.path().join("plugins");
    std::fs::create_dir(&plugins).unwrap();
    let sdk = run_cli(dir.path(), &["plugin-sdk-path"]);
    assert!(sdk.status.success(), "{}", stderr(&sdk));
    let include = stdout(&sdk).trim().to_owned();
    assert!(
        Path::new(&include).join("dataport_plugin.h").is_file(),
        "{include}"
    );
    let so = build_psv(&plugins, Path::new(&include), &psv_example());

    let check = run_cli(dir.path(), &["plugin-check", so.to_str().unwrap()]);
    let report = stdout(&check);
    assert!(
        check.status.success() && !report.contains("FAIL"),
        "{report}{}",
        stderr(&check)
    );
    assert!(report.contains("13 passed, 0 failed, 0 skipped"), "{report}");

    let valgrind = Command::new("valgrind").arg("--version").output();
    if valgrind.is_ok_and(|o| o.status.success()) {
        let out = Command::new("valgrind")
            .args([
                "-q",
                "--error-exitcode=99",
                "--leak-check=full",
                "--errors-for-leak-kinds=definite",
            ])
            .arg(crate::harness::dataport_bin())
            .args(["plugin-check", so.to_str().unwrap()])
            .output_within();
        assert!(
            out.status.success(),
            "under valgrind:\n{}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    } else {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI installs valgrind for this test"
        );
    }

    let server = server_with_plugins(&plugins);
    let mut client = server.client(&server.admin_token()).await;
    let file = customers_file(["P1", "P2", "P3"], "|");
    let run = import(
        &mut client,
        &Import::new(Module::Customers, "fair.psv"),
        file.as_bytes(),
    )
    .await;
    assert_eq!(run.counts(), (3, 0, 0, 0), "{:?}", run.errors);
    let mut request = crate::support::export_request(Module::Customers, "psv");
    request.fields = crate::support::all_fields(Module::Customers);
    let exported = crate::support::export(&mut client, request).await;
    assert!(exported.file_name.ends_with(".psv"), "{}", exported.file_name);
    let text = String::from_utf8(exported.bytes.clone()).unwrap();
    assert!(text.lines().count() == 4 && text.contains("P2|"), "{text}");
    // What the plugin wrote, it reads: the same three customers, already there.
    let run = import(
        &mut client,
        &Import::new(Module::Customers, "again.psv"),
        &exported.bytes,
    )
    .await;
    assert_eq!(run.counts(), (0, 0, 3, 0), "{:?}", run.errors);
}

#[test]
fn a_plugin_built_for_another_abi_version_stops_the_server_naming_file_and_versions() {
    let dir = tempfile::tempdir().unwrap();
    let plugins = dir.path().join("plugins");
    std::fs::create_dir(&plugins).unwrap();
    let so = plugins.join(format!("libdataport_plugin_future{DLL}"));
    let source = Path::new(env!("CARGO_MANIFEST_DIR")).join("crates/plugin-host/tests/c/pipe_plugin.c");
    let include = Path::new(env!("CARGO_MANIFEST_DIR")).join("crates/plugin-abi/include");
    let cc = Command::new("cc")
        .args(["-shared", "-fPIC", "-DPIPE_ABI_VERSION=3u", "-I"])
        .arg(&include)
        .arg("-o")
        .arg(&so)
        .arg(&source)
        .output_within();
    assert!(cc.status.success(), "{}", String::from_utf8_lossy(&cc.stderr));
    let out = run_cli(
        dir.path(),
        &[
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--plugin-dir",
            plugins.to_str().unwrap(),
        ],
    );
    assert!(!out.status.success(), "the server must not start");
    let message = stderr(&out);
    assert!(message.contains(&so.display().to_string()), "{message}");
    assert!(
        message.contains("ABI v3") && message.contains("ABI v2"),
        "{message}"
    );
}

/// A plugin directory holding the faulty test plugin under a name discovery accepts.
fn faulty_plugin_dir(dir: &Path) -> PathBuf {
    let plugins = dir.join("faulty-plugins");
    std::fs::create_dir_all(&plugins).unwrap();
    let file = format!("libdataport_testplugin_faulty{DLL}");
    let built = [target_dir().join("deps").join(&file), target_dir().join(&file)]
        .into_iter()
        .find(|p| p.is_file())
        .unwrap_or_else(|| panic!("{file} is not built; run `cargo build -p dataport-testplugin-faulty`"));
    std::fs::copy(built, plugins.join(format!("libdataport_plugin_faulty{DLL}"))).unwrap();
    plugins
}

#[tokio::test]
async fn a_panicking_plugin_fails_its_job_and_the_server_keeps_serving() {
    let outside = tempfile::tempdir().unwrap();
    let plugins = faulty_plugin_dir(outside.path());
    let server = server_with_plugins(&plugins);
    let mut client = server.client(&server.admin_token()).await;
    let text = customers_file((0..50).map(|i| format!("F{i}")), ",");
    // The plugin panics when asked for its second batch (the server reads 5000 rows a batch).
    let request = Import::new(Module::Customers, "boom.faulty").option("panic_in", "batch");
    let big: String = text.clone()
        + &(50..12_000)
            .map(|i| customer(&format!("F{i}")).join(",") + "\n")
            .collect::<String>();
    let run = import(&mut client, &request, big.as_bytes()).await;
    // The first batch was committed, so the job is INTERRUPTED (FAILED means nothing was).
    assert_eq!(run.status(), v1::JobStatus::Interrupted);
    assert_eq!(run.report().error_code(), v1::ErrorCode::PluginError);
    assert!(
        run.report().error_message.contains("asked to panic in batch 2"),
        "{}",
        run.report().error_message
    );
    // The first batch was committed before the panic; the report says so, in its numbers and in
    // its message (the job's language, zh-CN here).
    assert_eq!(run.report().rows_created, 5000);
    assert!(
        run.report().error_message.contains("第5001行及之前已交出"),
        "{}",
        run.report().error_message
    );

    let run = import(
        &mut client,
        &Import::new(Module::Customers, "boom.faulty").option("panic_in", "header"),
        text.as_bytes(),
    )
    .await;
    assert_eq!(run.report().error_code(), v1::ErrorCode::PluginError);

    // The server is fine: the same plugin and the others still work.
    let run = import(
        &mut client,
        &Import::new(Module::Customers, "ok.faulty"),
        text.as_bytes(),
    )
    .await;
    assert_eq!(run.counts(), (0, 0, 50, 0), "already imported rows are skipped");
    let run = import(
        &mut client,
        &Import::new(Module::Customers, "ok.csv"),
        &csv(Module::Customers, &rows(&[customer("Z")])),
    )
    .await;
    assert_eq!(run.status(), v1::JobStatus::Succeeded);
}

/// Peak resident memory of a process, in KiB.
fn peak_rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

/// A minimal xlsx whose sheet is `sheet_xml` (and optional shared strings), compressed.
fn xlsx_with(sheet: impl FnOnce(&mut dyn Write), shared_strings: Option<&str>) -> Vec<u8> {
    let mut zip = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let options =
        zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Deflated);
    let parts = [
        (
            "[Content_Types].xml",
            r#"<?xml version="1.0" encoding="UTF-8"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types"><Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/><Default Extension="xml" ContentType="application/xml"/><Override PartName="/xl/workbook.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/><Override PartName="/xl/worksheets/sheet1.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/></Types>"#,
        ),
        (
            "_rels/.rels",
            r#"<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument" Target="xl/workbook.xml"/></Relationships>"#,
        ),
        (
            "xl/workbook.xml",
            r#"<?xml version="1.0" encoding="UTF-8"?><workbook xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships"><sheets><sheet name="Sheet1" sheetId="1" r:id="rId1"/></sheets></workbook>"#,
        ),
        (
            "xl/_rels/workbook.xml.rels",
            r#"<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/worksheet" Target="worksheets/sheet1.xml"/><Relationship Id="rId2" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/sharedStrings" Target="sharedStrings.xml"/></Relationships>"#,
        ),
    ];
    for (name, content) in parts {
        zip.start_file(name, options).unwrap();
        zip.write_all(content.as_bytes()).unwrap();
    }
    if let Some(sst) = shared_strings {
        zip.start_file("xl/sharedStrings.xml", options).unwrap();
        zip.write_all(sst.as_bytes()).unwrap();
    }
    zip.start_file("xl/worksheets/sheet1.xml", options).unwrap();
    sheet(&mut zip);
    zip.finish().unwrap().into_inner()
}

const SHEET_START: &str = r#"<?xml version="1.0" encoding="UTF-8"?><worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">"#;

#[tokio::test]
async fn hostile_xlsx_files_fail_fast_in_bounded_memory() {
    let server = TestServer::start();
    let mut client = server.client(&server.admin_token()).await;
    let bomb = xlsx_with(
        |w| {
            w.write_all(SHEET_START.as_bytes()).unwrap();
            w.write_all(b"<sheetData>").unwrap();
            let spaces = vec![b' '; 1 << 20];
            for _ in 0..400 {
                w.write_all(&spaces).unwrap();
            }
            w.write_all(b"</sheetData></worksheet>").unwrap();
        },
        None,
    );
    assert!(bomb.len() < 2 << 20, "the bomb is small: {} bytes", bomb.len());
    let far_cells = xlsx_with(
        |w| {
            w.write_all(SHEET_START.as_bytes()).unwrap();
            w.write_all(br#"<dimension ref="A1:XFD1048576"/><sheetData><row r="1"><c r="A1" t="inlineStr"><is><t>x</t></is></c></row><row r="1048576"><c r="XFD1048576" t="inlineStr"><is><t>y</t></is></c></row></sheetData></worksheet>"#).unwrap();
        },
        None,
    );
    let huge_sst = xlsx_with(
        |w| {
            w.write_all(SHEET_START.as_bytes()).unwrap();
            w.write_all(
                br#"<sheetData><row r="1"><c r="A1" t="s"><v>0</v></c></row></sheetData></worksheet>"#,
            )
            .unwrap();
        },
        Some(
            r#"<?xml version="1.0" encoding="UTF-8"?><sst xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" count="1000000000000" uniqueCount="1000000000000"><si><t>x</t></si></sst>"#,
        ),
    );
    let before = peak_rss_kib(server.pid());
    // A declared dimension is only a hint (LibreOffice and Gnumeric claim the whole grid): the
    // sparse file is read cell by cell, in bounded time and memory, and its header "x" is wrong.
    for (name, bytes, expected) in [
        ("bomb.xlsx", bomb, v1::ErrorCode::MalformedFile),
        ("far.xlsx", far_cells, v1::ErrorCode::HeaderMismatch),
        ("sst.xlsx", huge_sst, v1::ErrorCode::MalformedFile),
    ] {
        let started = Instant::now();
        let run = import(&mut client, &Import::new(Module::Customers, name), &bytes).await;
        let elapsed = started.elapsed();
        assert_eq!(run.report().error_code(), expected, "{name}: {:?}", run.report());
        assert!(elapsed < Duration::from_secs(1), "{name} took {elapsed:?}");
    }
    let after = peak_rss_kib(server.pid());
    assert!(after > 0, "cannot read the server's memory use");
    assert!(
        after < before + 100 * 1024,
        "peak RSS grew from {before} KiB to {after} KiB"
    );
}
