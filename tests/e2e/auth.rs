//! Tokens and permissions over real gRPC calls.

use dataport_client::{ErrorCode, v1};
use tonic::Code;

use crate::harness::{TestServer, stderr, stdout};

fn count_request() -> v1::CountRecordsRequest {
    v1::CountRecordsRequest {
        module: v1::Module::Customers as i32,
        filter: None,
    }
}

fn import_spec() -> v1::ImportRequest {
    v1::ImportRequest {
        message: Some(v1::import_request::Message::Spec(v1::ImportSpec {
            module: v1::Module::Customers as i32,
            format: "csv".into(),
            file_name: "customers.csv".into(),
            ..Default::default()
        })),
    }
}

#[tokio::test]
async fn calls_without_a_valid_token_are_unauthenticated() {
    let server = TestServer::start();
    let mut anonymous = server.anonymous_client().await;
    let status = anonymous.count_records(count_request()).await.unwrap_err();
    assert_eq!(status.code(), Code::Unauthenticated);
    assert_eq!(
        dataport_client::error_code(&status),
        Some(ErrorCode::Unauthenticated)
    );
    assert_eq!(
        dataport_client::error_reason(&status).as_deref(),
        Some("UNAUTHENTICATED")
    );
    assert!(
        status.message().contains("missing API token"),
        "{}",
        status.message()
    );

    let status = anonymous
        .list_formats(v1::ListFormatsRequest {})
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::Unauthenticated);

    let mut wrong = server.client("dp_0000000000000000000000000000000000000000").await;
    let status = wrong.count_records(count_request()).await.unwrap_err();
    assert_eq!(status.code(), Code::Unauthenticated);
    assert!(
        status.message().contains("unknown or revoked"),
        "{}",
        status.message()
    );
}

#[tokio::test]
async fn an_export_only_token_cannot_import() {
    let server = TestServer::start();
    let export_token = server.create_token("bi-export", "export");
    let mut client = server.client(&export_token).await;

    let status = client
        .import(tokio_stream::iter([import_spec()]))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::PermissionDenied);
    assert_eq!(
        dataport_client::error_code(&status),
        Some(ErrorCode::PermissionDenied)
    );
    assert!(
        status.message().contains("'import' permission"),
        "{}",
        status.message()
    );

    // Job reports belong to importers too.
    let status = client
        .list_import_jobs(v1::ListImportJobsRequest::default())
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::PermissionDenied);

    // What the token does allow works.
    let count = client.count_records(count_request()).await.unwrap();
    assert_eq!(count.get_ref().count, 0);
}

#[tokio::test]
async fn an_import_only_token_cannot_export_or_count() {
    let server = TestServer::start();
    let import_token = server.create_token("fair-import", "import");
    let mut client = server.client(&import_token).await;
    let status = client.count_records(count_request()).await.unwrap_err();
    assert_eq!(status.code(), Code::PermissionDenied);
    assert!(
        status.message().contains("'export' permission"),
        "{}",
        status.message()
    );
    let export = v1::ExportRequest {
        module: v1::Module::Customers as i32,
        ..Default::default()
    };
    assert_eq!(
        client.export(export).await.unwrap_err().code(),
        Code::PermissionDenied
    );
    client
        .list_import_jobs(v1::ListImportJobsRequest::default())
        .await
        .unwrap();
}

#[tokio::test]
async fn a_revoked_token_stops_working() {
    let server = TestServer::start();
    let token = server.create_token("temp", "export");
    let mut client = server.client(&token).await;
    client.count_records(count_request()).await.unwrap();

    let output = server.cli(&["token", "revoke", "--name", "temp"]);
    assert!(output.status.success(), "{}", stderr(&output));
    let status = client.count_records(count_request()).await.unwrap_err();
    assert_eq!(status.code(), Code::Unauthenticated);

    let again = server.cli(&["token", "revoke", "--name", "temp"]);
    assert!(!again.status.success());
    assert!(
        stderr(&again).contains("no active token is named 'temp'"),
        "{}",
        stderr(&again)
    );
}

#[tokio::test]
async fn token_list_shows_names_and_permissions_but_never_secrets() {
    let server = TestServer::start();
    let secret = server.create_token("ci", "import,export");
    let listing = stdout(&server.cli(&["token", "list"]));
    assert!(listing.contains("admin") && listing.contains("ci"), "{listing}");
    assert!(listing.contains("import,export"), "{listing}");
    assert!(!listing.contains(&secret), "token list must not print secrets");
    assert!(
        !listing.contains(&server.admin_token()),
        "token list must not print secrets"
    );

    let duplicate = server.cli(&["token", "create", "--name", "ci", "--permissions", "export"]);
    assert!(!duplicate.status.success());
    assert!(
        stderr(&duplicate).contains("'ci' already exists"),
        "{}",
        stderr(&duplicate)
    );

    let bad = server.cli(&["token", "create", "--name", "x", "--permissions", "import,root"]);
    assert!(!bad.status.success());
    assert!(
        stderr(&bad).contains("unknown permission 'root'"),
        "{}",
        stderr(&bad)
    );
}

#[tokio::test]
async fn job_reads_and_counts_validate_their_arguments() {
    let server = TestServer::start();
    let mut client = server.client(&server.admin_token()).await;
    let status = client
        .get_import_job(v1::GetImportJobRequest {
            job_id: 42,
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::NotFound);
    assert_eq!(status.message(), "import job 42 does not exist");
    assert_eq!(dataport_client::error_code(&status), Some(ErrorCode::NotFound));

    let status = client
        .list_import_jobs(v1::ListImportJobsRequest {
            page_token: "abc".into(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument);
    assert_eq!(
        dataport_client::error_code(&status),
        Some(ErrorCode::InvalidArgument)
    );
    assert_eq!(
        dataport_client::bad_request_field(&status).as_deref(),
        Some("page_token")
    );

    let status = client
        .count_records(v1::CountRecordsRequest::default())
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument);
    assert_eq!(
        dataport_client::bad_request_field(&status).as_deref(),
        Some("module")
    );
    assert!(
        status.message().contains("module is required"),
        "{}",
        status.message()
    );
}
