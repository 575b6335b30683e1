//! The command-line client against a running server.

use crate::harness::OutputWithin;
use crate::harness::{TestServer, run_cli, stderr, stdout};

#[tokio::test]
async fn count_reads_the_token_file_and_applies_filters() {
    let server = TestServer::start();
    let url = server.url();
    let output = server.cli(&[
        "count",
        "--module",
        "customers",
        "--level",
        "VIP",
        "--owner",
        "张伟",
        "--server",
        &url,
    ]);
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(stdout(&output).starts_with("共0条"), "{}", stdout(&output));

    let misplaced = server.cli(&[
        "count",
        "--module",
        "customers",
        "--stage",
        "赢单",
        "--server",
        &url,
    ]);
    assert!(!misplaced.status.success());
    assert!(
        stderr(&misplaced).contains("--stage cannot filter customers"),
        "{}",
        stderr(&misplaced)
    );

    let bad_date = server.cli(&[
        "count",
        "--module",
        "商机",
        "--close-from",
        "2024/01/01",
        "--server",
        &url,
    ]);
    assert!(!bad_date.status.success());
    assert!(
        stderr(&bad_date).contains("is not a date"),
        "{}",
        stderr(&bad_date)
    );
}

#[tokio::test]
async fn jobs_list_works_with_the_token_from_the_environment() {
    let server = TestServer::start();
    let output = std::process::Command::new(crate::harness::dataport_bin())
        .args([
            "jobs",
            "list",
            "--server",
            &server.url(),
            "--token-file",
            "/nonexistent",
        ])
        .env("DATAPORT_TOKEN", server.admin_token())
        .output_within();
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(stdout(&output).starts_with("id"), "{}", stdout(&output));
}

#[test]
fn client_commands_explain_a_missing_token_and_an_absent_server() {
    let dir = tempfile::tempdir().unwrap();
    let output = run_cli(dir.path(), &["count", "--module", "customers"]);
    assert!(!output.status.success());
    assert!(stderr(&output).contains("no API token"), "{}", stderr(&output));

    let free_port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let output = run_cli(
        dir.path(),
        &[
            "count",
            "--module",
            "customers",
            "--token",
            "dp_x",
            "--server",
            &format!("http://127.0.0.1:{free_port}"),
        ],
    );
    assert!(!output.status.success());
    assert!(
        stderr(&output).contains("is `dataport serve` running there?"),
        "{}",
        stderr(&output)
    );
}
