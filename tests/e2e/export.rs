//! Export, templates and the lossless round trip over real gRPC.

use std::io::{Read, Write};

use dataport_client::v1;
use dataport_core::{Locale, Module, header::template_header, template};
use dataport_plugin_sdk::Cell;

use crate::harness::{TestServer, pg_query, stderr, stdout};
use crate::on_both_backends;
use crate::support::{self, Import, contact, csv, customer, export, import, opportunity, rows};

fn customer_filter(levels: &[&str], statuses: &[&str], owners: &[&str]) -> v1::Filter {
    v1::Filter {
        module_filter: Some(v1::filter::ModuleFilter::Customers(v1::CustomerFilter {
            levels: levels.iter().map(|s| s.to_string()).collect(),
            follow_up_statuses: statuses.iter().map(|s| s.to_string()).collect(),
            owners: owners.iter().map(|s| s.to_string()).collect(),
            ..Default::default()
        })),
    }
}

/// Customers C00..C19: every third VIP, every second 待跟进, owners alternate.
async fn seed_customers(client: &mut dataport_client::AuthedClient) {
    let lines: Vec<Vec<String>> = (0..20)
        .map(|i| {
            let mut row = customer(&format!("C{i:02}"));
            row[5] = ["VIP", "重要", "普通"][i % 3].into();
            row[6] = ["待跟进", "跟进中"][i % 2].into();
            row[4] = ["张伟", "王芳"][(i / 2) % 2].into();
            row
        })
        .collect();
    let run = import(
        client,
        &Import::new(Module::Customers, "c.csv"),
        &csv(Module::Customers, &rows(&lines)),
    )
    .await;
    assert_eq!(run.status(), v1::JobStatus::Succeeded);
}

fn texts(cells: &[Cell]) -> Vec<String> {
    cells
        .iter()
        .map(|c| match c {
            Cell::Null => String::new(),
            Cell::Text(s) => s.clone(),
            other => format!("{other:?}"),
        })
        .collect()
}

on_both_backends! {
    async fn a_filtered_export_announces_its_count_and_writes_the_chosen_fields(server) {
        let mut client = server.client(&server.admin_token()).await;
        seed_customers(&mut client).await;
        let filter = customer_filter(&["VIP"], &["待跟进"], &["张伟"]);
        let count = client
            .count_records(v1::CountRecordsRequest { module: v1::Module::Customers as i32, filter: Some(filter.clone()) })
            .await
            .unwrap()
            .into_inner()
            .count;
        // VIP: 0,3,6,9,12,15,18; 待跟进: even; 张伟: i/2 even → 0, 12.
        assert_eq!(count, 2);
        let mut request = support::export_request(Module::Customers, "csv");
        request.filter = Some(filter.clone());
        request.fields = vec!["code".into(), "name".into(), "phone".into()];
        let file = export(&mut client, request).await;
        assert_eq!((file.total_rows, file.rows), (2, 2));
        let name = &file.file_name;
        assert!(name.starts_with("CRM客户数据_") && name.ends_with(".csv") && name.len() == "CRM客户数据_20240101_120000.csv".len(), "{name}");
        let text = String::from_utf8(file.bytes).unwrap();
        assert_eq!(text, "\u{feff}客户编号,客户名称,联系电话\r\nC00,C00科技有限公司,13812345678\r\nC12,C12科技有限公司,13812345678\r\n");

        // Scope ALL ignores the filter; the default fields are the guide's core set; en labels.
        let mut request = support::export_request(Module::Customers, "csv");
        request.filter = Some(filter);
        request.scope = v1::ExportScope::All as i32;
        request.locale = v1::Locale::En as i32;
        let file = export(&mut client, request).await;
        assert_eq!(file.rows, 20);
        let (header, cells) = support::read_file("csv", file.bytes);
        assert_eq!(header, ["Customer Code", "Customer Name", "Industry", "Phone", "Owner", "Level", "Created At"]);
        assert_eq!(texts(&cells[19])[0], "C19");

        let mut bad = support::export_request(Module::Customers, "csv");
        bad.fields = vec!["wechat".into()];
        let status = client.export(bad).await.unwrap_err();
        assert_eq!(status.code(), tonic::Code::InvalidArgument);
        assert!(status.message().contains("no field 'wechat'"), "{}", status.message());
    }

    async fn export_then_import_into_an_empty_database_is_lossless(server) {
        let mut client = server.client(&server.admin_token()).await;
        import_tricky_records(&mut client).await;

        for format in ["csv", "xlsx"] {
            let second = TestServer::start_on(server_backend(&server), &[]).unwrap();
            let mut target = second.client(&second.admin_token()).await;
            for module in [Module::Customers, Module::Contacts, Module::Opportunities] {
                let mut request = support::export_request(module, format);
                request.fields = support::all_fields(module);
                let file = export(&mut client, request).await;
                let run = import(&mut target, &Import::new(module, &format!("round-trip.{format}")), &file.bytes).await;
                assert_eq!(run.status(), v1::JobStatus::Succeeded, "{module} via {format}: {:?}", run.errors);
            }
            // Both databases, exported the same way, give the same bytes.
            for module in [Module::Customers, Module::Contacts, Module::Opportunities] {
                let mut request = support::export_request(module, "csv");
                request.fields = support::all_fields(module);
                request.file_name = "same.csv".into();
                let original = export(&mut client, request.clone()).await.bytes;
                let copy = export(&mut target, request).await.bytes;
                assert_eq!(String::from_utf8(copy).unwrap(), String::from_utf8(original).unwrap(), "{module} via {format}");
            }
        }
    }
}

/// Records that exercise every rule of a file's cells: quotes, commas and line breaks inside
/// values, text that must be (or already is) escaped against formulas, empty optional fields,
/// the largest and smallest amounts, dates and 是/否, in every module.
async fn import_tricky_records(client: &mut dataport_client::AuthedClient) {
    let tricky_customers = vec![
        vec![
            "RT-001",
            "北京\"引号\",逗号 有限公司",
            "金融",
            "'+86 010-1234 5678",
            "张伟",
            "VIP",
            "已成交",
            "北京市\n海淀区",
            "9999999999999.99",
            "第一行\n第二行, 含逗号",
            "'=SUM(A1:A3)",
            "2023-10-01",
        ],
        vec![
            "RT_002",
            "上海（测试）公司",
            "",
            "",
            "王芳",
            "",
            "",
            "",
            "",
            "",
            "",
            "",
        ],
        vec![
            "RT-003",
            "'=HYPERLINK(\"http://x\")",
            "其他",
            "'-12345",
            "李娜",
            "普通",
            "待跟进",
            "'@地址",
            "0.01",
            "'+notes",
            "\"quoted\"",
            "1999-12-31",
        ],
        vec![
            "RT-004",
            "'''=x",
            "",
            "",
            "赵敏",
            "",
            "",
            "",
            "0",
            "",
            "'''",
            "2000-02-29",
        ],
    ];
    let contacts = vec![
        vec![
            "K-1",
            "RT-001",
            "王芳",
            "采购经理",
            "'+8613800138000",
            "wang@example.com",
            "是",
            "备注,带逗号\n和换行",
        ],
        vec!["K-2", "RT_002", "Li \"Lee\" Na", "", "", "", "否", ""],
        vec!["K-3", "RT-003", "赵敏", "", "", "", "", "'=1+1"],
    ];
    let opportunities = vec![
        vec![
            "O-1",
            "RT-001",
            "年度框架, \"大单\"",
            "赢单",
            "9999999999999.99",
            "2024-12-31",
            "张伟",
            "多行\n备注",
        ],
        vec!["O-2", "RT_002", "小单", "", "", "", "", ""],
    ];
    // In dependency order: contacts and opportunities name the customers.
    for (module, name, rows) in [
        (Module::Customers, "c.csv", tricky_customers),
        (Module::Contacts, "k.csv", contacts),
        (Module::Opportunities, "o.csv", opportunities),
    ] {
        let run = import(client, &Import::new(module, name), &csv(module, &rows)).await;
        assert_eq!(
            run.status(),
            v1::JobStatus::Succeeded,
            "{module}: {:?}",
            run.errors
        );
    }
}

/// The backend a server runs on, so a test can start a second one like it.
fn server_backend(server: &TestServer) -> crate::harness::Backend {
    if server.banner.iter().any(|l| l.contains("postgres")) {
        crate::harness::Backend::Postgres
    } else {
        crate::harness::Backend::Sqlite
    }
}

#[tokio::test]
async fn exports_type_their_cells_and_neutralise_formulas() {
    let server = TestServer::start();
    let mut client = server.client(&server.admin_token()).await;
    let mut row = customer("00123");
    row[1] = "'=HYPERLINK(\"evil\")".into();
    row[3] = "'+8613812345678".into();
    row[8] = "1234.5".into();
    let run = import(
        &mut client,
        &Import::new(Module::Customers, "c.csv"),
        &csv(Module::Customers, &rows(&[row])),
    )
    .await;
    assert_eq!(run.status(), v1::JobStatus::Succeeded, "{:?}", run.errors);

    let mut request = support::export_request(Module::Customers, "xlsx");
    request.fields = support::all_fields(Module::Customers);
    let file = export(&mut client, request).await;
    assert!(file.file_name.ends_with(".xlsx"));
    let (header, cells) = support::read_file("xlsx", file.bytes);
    assert_eq!(header, template_header(Module::Customers, Locale::ZhCn));
    let row = &cells[0];
    assert_eq!(
        row[0],
        Cell::text("00123"),
        "codes are text: leading zeros survive"
    );
    assert_eq!(row[1], Cell::text("'=HYPERLINK(\"evil\")"));
    assert_eq!(row[3], Cell::text("'+8613812345678"));
    assert_eq!(row[8], Cell::Float(1234.5), "amounts are numbers");
    assert_eq!(row[11], Cell::date(2023, 10, 1).unwrap(), "dates are date cells");

    let mut request = support::export_request(Module::Customers, "csv");
    request.fields = vec!["name".into(), "phone".into(), "contract_amount".into()];
    let text = String::from_utf8(export(&mut client, request).await.bytes).unwrap();
    assert!(
        text.contains("\"'=HYPERLINK(\"\"evil\"\")\",'+8613812345678,1234.50"),
        "{text}"
    );
}

#[tokio::test]
async fn a_large_export_streams_in_chunks_with_progress() {
    let server = TestServer::start();
    let mut client = server.client(&server.admin_token()).await;
    let out = server.cli(&["gen", "--module", "customers", "--rows", "20000", "big.csv"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let bytes = std::fs::read(server.dir.path().join("big.csv")).unwrap();
    let run = import(&mut client, &Import::new(Module::Customers, "big.csv"), &bytes).await;
    assert_eq!(run.counts(), (20_000, 0, 0, 0));
    let mut request = support::export_request(Module::Customers, "csv");
    request.fields = support::all_fields(Module::Customers);
    let mut stream = client.export(request).await.unwrap().into_inner();
    let mut chunks = 0;
    let mut progress = Vec::new();
    let mut size = 0;
    while let Some(event) = crate::support::next_within(&mut stream, "the next export event").await {
        match event.unwrap().event {
            Some(v1::export_event::Event::Chunk(c)) => {
                assert!(c.len() <= 256 * 1024);
                size += c.len();
                chunks += 1;
            }
            Some(v1::export_event::Event::Progress(p)) => progress.push(p.rows_written),
            Some(v1::export_event::Event::Completed(done)) => assert_eq!(done.rows, 20_000),
            _ => {}
        }
    }
    assert!(chunks >= size / (256 * 1024), "{chunks} chunks for {size} bytes");
    assert!(chunks > 5, "{chunks}");
    assert_eq!(progress, [5_000, 10_000, 15_000, 20_000]);
    // The export is byte-for-byte what was imported (the generator writes the same layout).
    assert_eq!(size, bytes.len());
}

/// Appends rows to the data sheet of an xlsx template, the way a user fills it in Excel
/// (every other part of the workbook — validations, notes, the instructions sheet — stays).
fn fill_xlsx(template: &[u8], values: &[Vec<String>]) -> Vec<u8> {
    let mut archive = zip::ZipArchive::new(std::io::Cursor::new(template)).unwrap();
    let mut out = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    for i in 0..archive.len() {
        let mut entry = archive.by_index(i).unwrap();
        let name = entry.name().unwrap().into_owned();
        let mut content = Vec::new();
        entry.read_to_end(&mut content).unwrap();
        if name.as_str() == "xl/worksheets/sheet1.xml" {
            let mut xml = String::from_utf8(content).unwrap();
            let mut rows_xml = String::new();
            for (r, row) in values.iter().enumerate() {
                let r = r + 2;
                rows_xml.push_str(&format!("<row r=\"{r}\">"));
                for (c, value) in row.iter().enumerate() {
                    let col = (b'A' + c as u8) as char;
                    let escaped = value
                        .replace('&', "&amp;")
                        .replace('<', "&lt;")
                        .replace('>', "&gt;");
                    rows_xml.push_str(&format!(
                        "<c r=\"{col}{r}\" t=\"inlineStr\"><is><t>{escaped}</t></is></c>"
                    ));
                }
                rows_xml.push_str("</row>");
            }
            let end = xml.find("</sheetData>").expect("sheetData");
            xml.insert_str(end, &rows_xml);
            content = xml.into_bytes();
        }
        out.start_file(name, zip::write::SimpleFileOptions::default())
            .unwrap();
        out.write_all(&content).unwrap();
    }
    out.finish().unwrap().into_inner()
}

#[tokio::test]
async fn templates_filled_with_valid_rows_import_cleanly() {
    let server = TestServer::start();
    let mut client = server.client(&server.admin_token()).await;
    for format in ["xlsx", "csv"] {
        for module in [Module::Customers, Module::Contacts, Module::Opportunities] {
            let stream = client
                .get_template(v1::GetTemplateRequest {
                    module: dataport_client::convert::module_to_proto(module) as i32,
                    format: format.into(),
                    locale: 0,
                })
                .await
                .unwrap()
                .into_inner();
            let (name, bytes) = support::file(stream).await;
            assert_eq!(
                name,
                format!("{}.{format}", template::template_file_stem(module, Locale::ZhCn))
            );
            let (header, cells) = support::read_file(format, bytes.clone());
            assert_eq!(header, template_header(module, Locale::ZhCn));
            assert!(cells.is_empty());
            // Valid rows, taking each field's documented example; codes made unique.
            let filled: Vec<Vec<String>> = (0..3)
                .map(|i| {
                    module
                        .fields()
                        .iter()
                        .map(|f| match f.key {
                            "code" => format!("{}{format}{i}", module.as_str().to_uppercase()),
                            "customer_code" => format!("CUSTOMERS{format}0"),
                            _ => f.example.to_owned(),
                        })
                        .collect()
                })
                .collect();
            let file = match format {
                "xlsx" => {
                    let xml = zip_entry(&bytes, "xl/worksheets/sheet1.xml");
                    assert!(xml.contains("<dataValidation"), "drop-downs and date rules");
                    assert!(xml.contains("state=\"frozen\""), "frozen header");
                    let workbook = zip_entry(&bytes, "xl/workbook.xml");
                    assert!(workbook.contains("填写说明"), "{workbook}");
                    assert!(
                        zip_names(&bytes).iter().any(|n| n.starts_with("xl/comments")),
                        "header notes"
                    );
                    fill_xlsx(&bytes, &filled)
                }
                _ => {
                    assert!(bytes.starts_with("\u{feff}".as_bytes()), "UTF-8 with BOM");
                    let mut text = String::from_utf8(bytes).unwrap();
                    for row in &filled {
                        text.push_str(&row.join(","));
                        text.push_str("\r\n");
                    }
                    text.into_bytes()
                }
            };
            let run = import(
                &mut client,
                &Import::new(module, &format!("filled.{format}")),
                &file,
            )
            .await;
            assert_eq!(
                run.status(),
                v1::JobStatus::Succeeded,
                "{module} {format}: {:?}",
                run.errors
            );
            assert_eq!(run.counts(), (3, 0, 0, 0));
        }
    }
}

fn zip_names(bytes: &[u8]) -> Vec<String> {
    let archive = zip::ZipArchive::new(std::io::Cursor::new(bytes)).unwrap();
    archive.file_names().map(|n| n.unwrap().into_owned()).collect()
}

fn zip_entry(bytes: &[u8], name: &str) -> String {
    let mut archive = zip::ZipArchive::new(std::io::Cursor::new(bytes)).unwrap();
    let mut text = String::new();
    archive.by_name(name).unwrap().read_to_string(&mut text).unwrap();
    text
}

#[tokio::test]
async fn the_cli_exports_counts_first_and_saves_templates() {
    let server = TestServer::start();
    let mut client = server.client(&server.admin_token()).await;
    seed_customers(&mut client).await;
    let url = server.url();
    let out = server.cli(&[
        "export",
        "--module",
        "customers",
        "--level",
        "VIP",
        "--status",
        "待跟进",
        "--owner",
        "张伟",
        "--fields",
        "code,name,phone",
        "--format",
        "xlsx",
        "-o",
        ".",
        "--server",
        &url,
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let printed = stdout(&out);
    assert!(printed.starts_with("共2条"), "{printed}");
    assert!(printed.contains("verified"), "{printed}");
    let saved: Vec<_> = std::fs::read_dir(server.dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("CRM客户数据_") && n.ends_with(".xlsx"))
        .collect();
    assert_eq!(saved.len(), 1, "{saved:?}");
    let (header, cells) =
        support::read_file("xlsx", std::fs::read(server.dir.path().join(&saved[0])).unwrap());
    assert_eq!(header, ["客户编号", "客户名称", "联系电话"]);
    assert_eq!(cells.len(), 2);

    let out = server.cli(&[
        "export",
        "--module",
        "customers",
        "--all",
        "--all-fields",
        "-o",
        "all.csv",
        "--server",
        &url,
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&out).starts_with("共20条"), "{}", stdout(&out));

    let out = server.cli(&[
        "template", "contacts", "--format", "xlsx", "-o", ".", "--server", &url,
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(server.dir.path().join("联系人导入模板.xlsx").exists());

    // Import through the CLI: exit code 2 when some rows fail, with the failed rows saved.
    let mut bad = customer("Z1");
    bad[5] = "SVIP".into();
    std::fs::write(
        server.dir.path().join("some-bad.csv"),
        csv(Module::Customers, &rows(&[customer("Z0"), bad])),
    )
    .unwrap();
    let out = server.cli(&[
        "import",
        "some-bad.csv",
        "--module",
        "customers",
        "--errors-out",
        "fix-me.xlsx",
        "--server",
        &url,
    ]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stdout(&out).contains("INVALID_ENUM"), "{}", stdout(&out));
    assert!(server.dir.path().join("fix-me.xlsx").exists());
    // A dry run prints the preview table and exits 0.
    std::fs::write(
        server.dir.path().join("good.csv"),
        csv(Module::Customers, &rows(&[customer("Y1")])),
    )
    .unwrap();
    let out = server.cli(&[
        "import",
        "good.csv",
        "--module",
        "customers",
        "--dry-run",
        "--server",
        &url,
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(
        stdout(&out).contains("preview") && stdout(&out).contains("Y1"),
        "{}",
        stdout(&out)
    );
    // A header that is not the template's: exit code 1.
    std::fs::write(server.dir.path().join("wrong.csv"), "a,b\n1,2\n").unwrap();
    let out = server.cli(&["import", "wrong.csv", "--module", "customers", "--server", &url]);
    assert_eq!(out.status.code(), Some(1), "{}", stdout(&out));
    assert!(stdout(&out).contains("HEADER_MISMATCH"), "{}", stdout(&out));
}

#[tokio::test]
async fn contacts_and_opportunities_export_with_their_filters() {
    let server = TestServer::start();
    let mut client = server.client(&server.admin_token()).await;
    let mut a = customer("A");
    a[4] = "张伟".into();
    let mut b = customer("B");
    b[4] = "王芳".into();
    import(
        &mut client,
        &Import::new(Module::Customers, "c.csv"),
        &csv(Module::Customers, &rows(&[a, b])),
    )
    .await;
    import(
        &mut client,
        &Import::new(Module::Contacts, "k.csv"),
        &csv(Module::Contacts, &rows(&[contact("K1", "A"), contact("K2", "B")])),
    )
    .await;
    let mut o2 = opportunity("O2", "B");
    o2[3] = "赢单".into();
    import(
        &mut client,
        &Import::new(Module::Opportunities, "o.csv"),
        &csv(Module::Opportunities, &rows(&[opportunity("O1", "A"), o2])),
    )
    .await;

    let mut request = support::export_request(Module::Contacts, "csv");
    request.filter = Some(v1::Filter {
        module_filter: Some(v1::filter::ModuleFilter::Contacts(v1::ContactFilter {
            customer_owners: vec!["王芳".into()],
            ..Default::default()
        })),
    });
    let file = export(&mut client, request).await;
    assert!(file.file_name.starts_with("CRM联系人数据_"), "{}", file.file_name);
    assert_eq!(file.rows, 1);
    let (_, cells) = support::read_file("csv", file.bytes);
    assert_eq!(texts(&cells[0])[0], "K2");

    let mut request = support::export_request(Module::Opportunities, "xlsx");
    request.filter = Some(v1::Filter {
        module_filter: Some(v1::filter::ModuleFilter::Opportunities(v1::OpportunityFilter {
            stages: vec!["赢单".into()],
            ..Default::default()
        })),
    });
    let file = export(&mut client, request).await;
    assert!(file.file_name.starts_with("CRM商机数据_"), "{}", file.file_name);
    assert_eq!(file.rows, 1);
}

/// A csv of valid customers with these codes.
fn customers_csv(codes: impl Iterator<Item = String>) -> Vec<u8> {
    let lines: Vec<Vec<String>> = codes.map(|code| customer(&code)).collect();
    csv(Module::Customers, &rows(&lines))
}

/// A client with 64 KiB HTTP/2 windows: a download it stops reading stops the server after a
/// few MiB (its event queue and send buffer), instead of all of it crossing the wire.
async fn slow_reader(server: &TestServer) -> dataport_client::AuthedClient {
    let channel = tonic::transport::Endpoint::from_shared(server.url())
        .expect("endpoint")
        .initial_stream_window_size(64 * 1024)
        .initial_connection_window_size(64 * 1024)
        .connect()
        .await
        .expect("connect");
    let auth = dataport_client::BearerAuth::new(&server.admin_token()).expect("token");
    v1::data_port_client::DataPortClient::with_interceptor(channel, auth).max_decoding_message_size(8 << 20)
}

/// The codes (first column) of a csv export, header skipped.
fn csv_codes(bytes: Vec<u8>) -> Vec<String> {
    let (_, cells) = support::read_file("csv", bytes);
    cells.iter().map(|row| texts(row)[0].clone()).collect()
}

on_both_backends! {
    async fn an_export_is_a_snapshot_even_while_an_import_commits(server) {
        // 100k customers: far more than the server buffers ahead of a reader that stops (the
        // event queue, the send buffer, a few pages), so most pages are read after the import.
        const BASE: usize = 100_000;
        let mut client = server.client(&server.admin_token()).await;
        let base = customers_csv((0..BASE).map(|i| format!("S{i:06}")));
        let run = import(&mut client, &Import::new(Module::Customers, "base.csv"), &base).await;
        assert_eq!(run.counts(), (BASE as u64, 0, 0, 0));

        let mut reader = slow_reader(&server).await;
        let mut request = support::export_request(Module::Customers, "csv");
        request.fields = support::all_fields(Module::Customers);
        let mut stream = reader.export(request).await.unwrap().into_inner();
        let started = match support::next_within(&mut stream, "Started").await.unwrap().unwrap().event {
            Some(v1::export_event::Event::Started(started)) => started,
            other => panic!("expected Started, got {other:?}"),
        };
        assert_eq!(started.total_rows, BASE as u64, "共N条");
        // And a typed record stream, paused the same way.
        let mut records_reader = slow_reader(&server).await;
        let mut records_stream = records_reader
            .export(support::export_request(Module::Customers, "records"))
            .await
            .unwrap()
            .into_inner();
        match support::next_within(&mut records_stream, "Started").await.unwrap().unwrap().event {
            Some(v1::export_event::Event::Started(started)) => assert_eq!(started.total_rows, BASE as u64),
            other => panic!("expected Started, got {other:?}"),
        }

        // The reader pauses while an import commits codes that sort between the exported ones
        // (S000000 < S000000X < S000001), one after every fifth: some in every page still to
        // be read.
        let extra = customers_csv((0..BASE).step_by(5).map(|i| format!("S{i:06}X")));
        let run = import(&mut client, &Import::new(Module::Customers, "extra.csv"), &extra).await;
        assert_eq!(run.counts(), ((BASE / 5) as u64, 0, 0, 0));
        let now = client
            .count_records(v1::CountRecordsRequest { module: v1::Module::Customers as i32, filter: None })
            .await
            .unwrap()
            .into_inner()
            .count;
        assert_eq!(now, (BASE + BASE / 5) as u64, "the import committed during the export");

        // Then it reads the rest, slowly: a short pause every 16 chunks (bounded by the file).
        let (mut bytes, mut completed, mut chunks) = (Vec::new(), None, 0u32);
        while let Some(event) = support::next_within(&mut stream, "the next export event").await {
            match event.unwrap().event {
                Some(v1::export_event::Event::Chunk(chunk)) => {
                    bytes.extend(chunk);
                    chunks += 1;
                    if chunks % 16 == 0 {
                        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
                    }
                }
                Some(v1::export_event::Event::Completed(done)) => completed = Some(done),
                _ => {}
            }
        }
        let done = completed.expect("the export completed");
        assert_eq!(done.bytes, bytes.len() as u64);
        let codes = csv_codes(bytes);
        assert_eq!(codes.len() as u64, started.total_rows, "rows written = rows announced");
        assert_eq!(done.rows, started.total_rows);
        assert!(codes.iter().all(|c| !c.ends_with('X')), "no row committed after the export began");
        let expected: Vec<String> = (0..BASE).map(|i| format!("S{i:06}")).collect();
        assert_eq!(codes, expected);

        let (mut codes, mut written) = (Vec::new(), None);
        while let Some(event) = support::next_within(&mut records_stream, "the next records event").await {
            match event.unwrap().event {
                Some(v1::export_event::Event::Records(batch)) => {
                    let at = batch.fields.iter().position(|f| f == "code").expect("a code field");
                    for record in batch.records {
                        match &record.values[at].kind {
                            Some(v1::value::Kind::Text(code)) => codes.push(code.clone()),
                            other => panic!("a code as text, not {other:?}"),
                        }
                    }
                }
                Some(v1::export_event::Event::Completed(done)) => written = Some(done.rows),
                _ => {}
            }
        }
        assert_eq!(written, Some(BASE as u64), "records written = records announced");
        assert_eq!(codes, expected);

        // A new export sees the imported rows.
        let file = export(&mut client, support::export_request(Module::Customers, "csv")).await;
        assert_eq!((file.total_rows, file.rows), (now, now));
    }

    async fn after_code_starts_an_export_after_a_code(server) {
        let mut client = server.client(&server.admin_token()).await;
        seed_customers(&mut client).await;
        let mut request = support::export_request(Module::Customers, "csv");
        request.fields = vec!["code".into(), "name".into()];
        let everything = csv_codes(export(&mut client, request.clone()).await.bytes);
        assert_eq!(everything.len(), 20);

        // An export that broke off after C09 finishes with the rest: every record exactly once.
        request.after_code = Some("C09".into());
        let rest = export(&mut client, request.clone()).await;
        assert_eq!((rest.total_rows, rest.rows), (10, 10));
        let mut resumed = everything[..10].to_vec();
        resumed.extend(csv_codes(rest.bytes));
        assert_eq!(resumed, everything);

        // Strictly after; a start that is no record's code; filters and the start together.
        for (after, expected) in [("C14", 5), ("C145", 5), ("C19", 0), ("", 20), ("A", 20)] {
            request.after_code = Some(after.into());
            let file = export(&mut client, request.clone()).await;
            assert_eq!((file.total_rows, file.rows), (expected, expected), "after {after:?}");
        }
        request.after_code = Some("C14".into());
        assert_eq!(csv_codes(export(&mut client, request.clone()).await.bytes), ["C15", "C16", "C17", "C18", "C19"]);
        let mut vip = request.clone();
        vip.filter = Some(customer_filter(&["VIP"], &[], &[]));
        vip.after_code = Some("C09".into());
        let file = export(&mut client, vip).await;
        assert_eq!(file.total_rows, 3);
        assert_eq!(csv_codes(file.bytes), ["C12", "C15", "C18"]);

        // Typed record streams start after it too.
        let mut records = support::export_request(Module::Customers, "records");
        records.fields = vec!["code".into()];
        records.after_code = Some("C17".into());
        let mut stream = client.export(records).await.unwrap().into_inner();
        let (mut total, mut codes, mut done_rows) = (None, Vec::new(), None);
        while let Some(event) = support::next_within(&mut stream, "the next export event").await {
            match event.unwrap().event {
                Some(v1::export_event::Event::Started(s)) => total = Some(s.total_rows),
                Some(v1::export_event::Event::Records(batch)) => {
                    for record in batch.records {
                        match &record.values[0].kind {
                            Some(v1::value::Kind::Text(code)) => codes.push(code.clone()),
                            other => panic!("a code as text, not {other:?}"),
                        }
                    }
                }
                Some(v1::export_event::Event::Completed(done)) => done_rows = Some(done.rows),
                _ => {}
            }
        }
        assert_eq!((total, done_rows), (Some(2), Some(2)));
        assert_eq!(codes, ["C18", "C19"]);

        // Longer than a code may be: INVALID_ARGUMENT naming the field. At the limit: fine.
        request.after_code = Some("Z".repeat(65));
        let status = client.export(request.clone()).await.unwrap_err();
        assert_eq!(status.code(), tonic::Code::InvalidArgument);
        assert_eq!(dataport_client::bad_request_field(&status).as_deref(), Some("after_code"));
        assert!(status.message().contains("at most 64"), "{}", status.message());
        request.after_code = Some("Z".repeat(64));
        assert_eq!(export(&mut client, request).await.total_rows, 0);

        // The CLI: --after-code, and the count it prints respects it.
        let out = server.cli(&[
            "export", "--module", "customers", "--all", "--after-code", "C17", "--fields", "code",
            "-o", "rest.csv", "--server", &server.url(),
        ]);
        assert!(out.status.success(), "{}", stderr(&out));
        assert!(stdout(&out).starts_with("共2条"), "{}", stdout(&out));
        assert!(stdout(&out).contains("exported 2 rows"), "{}", stdout(&out));
        let saved = std::fs::read(server.dir.path().join("rest.csv")).unwrap();
        assert_eq!(csv_codes(saved), ["C18", "C19"]);
    }
}

/// The PostgreSQL csv export path (`COPY … TO STDOUT`, rewritten by the server) writes exactly
/// the bytes of the page path through the csv plugin, which SQLite always takes: the same
/// records, exported the same ways from both, are the same files.
#[tokio::test]
#[cfg_attr(
    not(dataport_postgres_tests),
    ignore = "set DATAPORT_TEST_DATABASE_URL to run the PostgreSQL end-to-end tests"
)]
async fn a_postgres_csv_export_is_the_sqlite_export_byte_for_byte() {
    let sqlite = TestServer::start_on(crate::harness::Backend::Sqlite, &[]).unwrap();
    let postgres =
        TestServer::start_on(crate::harness::Backend::Postgres, &[]).expect("PostgreSQL configured");
    let mut on_sqlite = sqlite.client(&sqlite.admin_token()).await;
    let mut on_postgres = postgres.client(&postgres.admin_token()).await;
    import_tricky_records(&mut on_sqlite).await;
    import_tricky_records(&mut on_postgres).await;
    let no_bom = v1::FormatOption {
        key: "bom".into(),
        value: "false".into(),
    };
    for module in [Module::Customers, Module::Contacts, Module::Opportunities] {
        let all = support::all_fields(module);
        // Every field; the default set; one optional field (a NULL is an empty line in COPY);
        // the fields reversed, code last.
        let reversed: Vec<String> = all.iter().rev().cloned().collect();
        let last_optional = vec![all.last().unwrap().clone()];
        let first_code = match module {
            Module::Customers => "RT-001",
            Module::Contacts => "K-1",
            Module::Opportunities => "O-1",
        };
        // A filter that selects some records of each module (contacts by their customers'
        // owner: a join).
        use v1::filter::ModuleFilter;
        let selection = match module {
            Module::Customers => ModuleFilter::Customers(v1::CustomerFilter {
                owners: vec!["张伟".into(), "李娜".into()],
                ..Default::default()
            }),
            Module::Contacts => ModuleFilter::Contacts(v1::ContactFilter {
                customer_owners: vec!["张伟".into()],
                ..Default::default()
            }),
            Module::Opportunities => ModuleFilter::Opportunities(v1::OpportunityFilter {
                stages: vec!["赢单".into()],
                ..Default::default()
            }),
        };
        let filter = v1::Filter {
            module_filter: Some(selection),
        };
        for (fields, locale, options, after, filter) in [
            (all.clone(), v1::Locale::ZhCn, vec![], None, None),
            (vec![], v1::Locale::En, vec![no_bom.clone()], None, None),
            (last_optional, v1::Locale::ZhCn, vec![], None, None),
            (
                reversed,
                v1::Locale::En,
                vec![],
                Some(first_code.to_owned()),
                None,
            ),
            (all.clone(), v1::Locale::ZhCn, vec![], None, Some(filter.clone())),
            (
                all.clone(),
                v1::Locale::ZhCn,
                vec![],
                Some(first_code.to_owned()),
                Some(filter),
            ),
        ] {
            let mut request = support::export_request(module, "csv");
            request.filter = filter;
            request.fields = fields;
            request.locale = locale as i32;
            request.options = options;
            request.after_code = after;
            request.file_name = "same.csv".into();
            let expected = export(&mut on_sqlite, request.clone()).await;
            let copied = export(&mut on_postgres, request.clone()).await;
            assert!(
                expected.rows > 0 || request.after_code.is_some(),
                "{module}: {request:?}"
            );
            assert_eq!(
                (copied.total_rows, copied.rows),
                (expected.total_rows, expected.rows)
            );
            assert_eq!(
                String::from_utf8(copied.bytes).unwrap(),
                String::from_utf8(expected.bytes).unwrap(),
                "{module}: {request:?}"
            );
        }
    }
}

/// A client that drops an export during its `COPY` stops it, and a PostgreSQL session ended
/// during one (as a failover or an administrator would end it) fails that export with
/// UNAVAILABLE instead of completing a short file; after each, the next export gets a working
/// connection (the one left mid-COPY is discarded, not reused).
#[tokio::test]
#[cfg_attr(
    not(dataport_postgres_tests),
    ignore = "set DATAPORT_TEST_DATABASE_URL to run the PostgreSQL end-to-end tests"
)]
async fn a_postgres_export_copy_survives_a_dropped_client_and_a_killed_session() {
    const ROWS: usize = 100_000;
    let server = TestServer::start_on(crate::harness::Backend::Postgres, &[]).expect("PostgreSQL configured");
    let (base, schema) = server
        .pg_schema()
        .map(|(b, s)| (b.to_owned(), s.to_owned()))
        .unwrap();
    let mut client = server.client(&server.admin_token()).await;
    let codes = (0..ROWS).map(|i| format!("S{i:06}"));
    let run = import(
        &mut client,
        &Import::new(Module::Customers, "base.csv"),
        &customers_csv(codes),
    )
    .await;
    assert_eq!(run.counts(), (ROWS as u64, 0, 0, 0));

    let mut request = support::export_request(Module::Customers, "csv");
    request.fields = support::all_fields(Module::Customers);

    // A client that goes away after its first chunk.
    let mut dropped = slow_reader(&server).await;
    let mut stream = dropped.export(request.clone()).await.unwrap().into_inner();
    loop {
        match support::next_within(&mut stream, "a chunk")
            .await
            .unwrap()
            .unwrap()
            .event
        {
            Some(v1::export_event::Event::Chunk(_)) => break,
            Some(v1::export_event::Event::Completed(_)) => panic!("completed before the client left"),
            _ => {}
        }
    }
    drop(stream);
    drop(dropped);
    let file = export(&mut client, request.clone()).await;
    assert_eq!((file.total_rows, file.rows), (ROWS as u64, ROWS as u64));

    // A reader that stops after Started: the COPY stays open, blocked on the client.
    let mut reader = slow_reader(&server).await;
    let mut stream = reader.export(request.clone()).await.unwrap().into_inner();
    match support::next_within(&mut stream, "Started")
        .await
        .unwrap()
        .unwrap()
        .event
    {
        Some(v1::export_event::Event::Started(started)) => assert_eq!(started.total_rows, ROWS as u64),
        other => panic!("expected Started, got {other:?}"),
    }
    let copying = format!(
        "SELECT pid FROM pg_stat_activity WHERE application_name = '{schema}' AND query LIKE 'COPY (SELECT%'"
    );
    let mut pids = String::new();
    for _ in 0..200 {
        pids = pg_query(&base, &copying);
        if !pids.trim().is_empty() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert!(!pids.trim().is_empty(), "the export runs as a COPY");
    for pid in pids.lines() {
        pg_query(&base, &format!("SELECT pg_terminate_backend({pid})"));
    }

    // The rest of the stream: chunks, then an error, never Completed.
    let mut failure = None;
    while let Some(event) = support::next_within(&mut stream, "the next export event").await {
        match event {
            Ok(v1::ExportEvent {
                event: Some(v1::export_event::Event::Completed(done)),
            }) => {
                panic!("a broken copy completed: {done:?}")
            }
            Ok(_) => {}
            Err(status) => {
                failure = Some(status);
                break;
            }
        }
    }
    let status = failure.expect("the export failed");
    assert_eq!(status.code(), tonic::Code::Unavailable, "{status:?}");
    assert!(status.message().contains("after_code"), "{}", status.message());

    // The only export connection was discarded, not reused broken.
    let file = export(&mut client, request).await;
    assert_eq!((file.total_rows, file.rows), (ROWS as u64, ROWS as u64));
    assert_eq!(csv_codes(file.bytes).len(), ROWS);
}
