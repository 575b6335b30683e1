//! Vendor layouts through the running server: the plugins' own golden vendor files import with
//! the expected fields and values, and exports come back in the vendor's headers.

use std::path::Path;

use dataport_client::v1;
use dataport_core::Module;

use crate::harness::TestServer;
use crate::support::{self, Import, import};

fn golden(plugin: &str, file: &str) -> Vec<u8> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("plugins")
        .join(plugin)
        .join("tests/golden")
        .join(file);
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The expected canonical records of a golden file: `row,field…` CSV, as the plugins' tests
/// use them; returns (code, name, a few fields) for comparison with an export.
fn expected(plugin: &str, file: &str) -> Vec<Vec<String>> {
    let (header, rows) = support::read_file("csv", golden(plugin, file));
    assert_eq!(header[0], "row");
    rows.into_iter()
        .map(|r| {
            r.into_iter()
                .skip(1)
                .map(|c| c.as_text().unwrap_or_default().to_owned())
                .collect()
        })
        .collect()
}

async fn export_fields(
    client: &mut dataport_client::AuthedClient,
    module: Module,
    fields: &[&str],
) -> Vec<Vec<String>> {
    let mut request = support::export_request(module, "csv");
    request.fields = fields.iter().map(|f| f.to_string()).collect();
    let file = support::export(client, request).await;
    let (_, rows) = support::read_file("csv", file.bytes);
    rows.into_iter()
        .map(|r| {
            r.into_iter()
                .map(|c| {
                    c.as_text()
                        .unwrap_or_default()
                        .trim_start_matches('\'')
                        .to_owned()
                })
                .collect()
        })
        .collect()
}

#[tokio::test]
async fn a_salesforce_account_export_imports_with_the_right_fields_and_values() {
    let server = TestServer::start();
    let mut client = server.client(&server.admin_token()).await;
    let run = import(
        &mut client,
        &Import::new(Module::Customers, "Account.csv").format("salesforce"),
        &golden("salesforce", "account.csv"),
    )
    .await;
    let expected = expected("salesforce", "account.expected.csv");
    assert_eq!(
        run.report().rows_created,
        expected.len() as u64,
        "{:?}",
        run.errors
    );
    assert_eq!(run.report().format, "salesforce");
    // Code, name, industry, owner, level, created date: translated from Salesforce's values.
    let mut stored = export_fields(
        &mut client,
        Module::Customers,
        &["code", "name", "industry", "owner", "level", "created_at"],
    )
    .await;
    let mut wanted: Vec<Vec<String>> = expected
        .iter()
        .map(|r| {
            vec![
                r[0].clone(),
                r[1].clone(),
                r[2].clone(),
                r[4].clone(),
                r[5].clone(),
                r[11].clone(),
            ]
        })
        .collect();
    stored.sort();
    wanted.sort();
    assert_eq!(stored, wanted);

    // Exported back as Salesforce: Salesforce's API names as the header.
    let mut request = support::export_request(Module::Customers, "salesforce");
    request.scope = v1::ExportScope::All as i32;
    let file = support::export(&mut client, request).await;
    assert!(file.file_name.ends_with(".csv"), "{}", file.file_name);
    let text = String::from_utf8(file.bytes).unwrap();
    let header = text.lines().next().unwrap();
    for column in ["AccountNumber", "Name", "Industry", "Rating"] {
        assert!(header.contains(column), "{header}");
    }
    assert!(
        text.contains("Hot") || text.contains("Warm") || text.contains("Cold"),
        "{text}"
    );
}

#[tokio::test]
async fn a_hubspot_companies_export_imports_and_exports_back() {
    let server = TestServer::start();
    let mut client = server.client(&server.admin_token()).await;
    let run = import(
        &mut client,
        &Import::new(Module::Customers, "hubspot-companies.csv").format("hubspot"),
        &golden("hubspot", "companies.hubspot.csv"),
    )
    .await;
    let expected = expected("hubspot", "companies.expected.csv");
    assert_eq!(
        run.report().rows_created,
        expected.len() as u64,
        "{:?}",
        run.errors
    );
    let mut stored = export_fields(
        &mut client,
        Module::Customers,
        &["code", "name", "industry", "owner"],
    )
    .await;
    let mut wanted: Vec<Vec<String>> = expected
        .iter()
        .map(|r| vec![r[0].clone(), r[1].clone(), r[2].clone(), r[4].clone()])
        .collect();
    stored.sort();
    wanted.sort();
    assert_eq!(stored, wanted);

    for (format, extension) in [("hubspot", "csv"), ("hubspot-xlsx", "xlsx")] {
        let mut request = support::export_request(Module::Customers, format);
        request.scope = v1::ExportScope::All as i32;
        let file = support::export(&mut client, request).await;
        assert!(file.file_name.ends_with(extension), "{}", file.file_name);
        let (header, rows) = support::read_file(extension, file.bytes);
        assert!(header.iter().any(|h| h == "Record ID"), "{header:?}");
        assert!(header.iter().any(|h| h == "Company name"), "{header:?}");
        assert_eq!(rows.len(), expected.len());
    }
}

#[tokio::test]
async fn vendor_layouts_are_never_guessed_and_templates_refuse_them() {
    let server = TestServer::start();
    let mut client = server.client(&server.admin_token()).await;
    // A Salesforce file without the format is a csv file: its header is not the template's.
    let run = import(
        &mut client,
        &Import::new(Module::Customers, "Account.csv"),
        &golden("salesforce", "account.csv"),
    )
    .await;
    assert_eq!(run.report().error_code(), v1::ErrorCode::HeaderMismatch);
    let status = client
        .get_template(v1::GetTemplateRequest {
            module: v1::Module::Customers as i32,
            format: "salesforce".into(),
            locale: 0,
        })
        .await
        .unwrap_err();
    assert_eq!(status.code(), tonic::Code::InvalidArgument);
    assert!(status.message().contains("vendor layout"), "{}", status.message());
}
