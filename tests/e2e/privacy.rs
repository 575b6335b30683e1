//! Private jobs and expiring tokens: another token's job is NOT_FOUND on every job RPC (as if
//! it did not exist) while `admin` sees it; a token past `--expires-in` is UNAUTHENTICATED and
//! says it expired; `token list` shows expiry and last use.

use std::time::Duration;

use dataport_client::{AuthedClient, ErrorCode, v1};
use dataport_core::Module;
use tonic::{Code, Status};

use crate::harness::{TestServer, stderr, stdout};
use crate::import::start_and_go_quiet;
use crate::on_both_backends;
use crate::support::{self, Import, completed, csv, customer, import, rows};

/// A customer file with one good row and one that fails (an unknown level), so the job has a
/// row error and an error file.
fn file_with_an_error(code: &str) -> Vec<u8> {
    let mut bad = customer(&format!("{code}-BAD"));
    bad[5] = "SVIP".into();
    csv(Module::Customers, &rows(&[customer(code), bad]))
}

fn ids(response: &v1::ListImportJobsResponse) -> Vec<i64> {
    response.jobs.iter().map(|j| j.id).collect()
}

async fn list(client: &mut AuthedClient, page_size: u32) -> v1::ListImportJobsResponse {
    client
        .list_import_jobs(v1::ListImportJobsRequest {
            page_size,
            ..Default::default()
        })
        .await
        .expect("ListImportJobs")
        .into_inner()
}

/// Every job RPC of `job_id`, each failed with its status (`None` where the call worked).
async fn job_calls(client: &mut AuthedClient, job_id: i64) -> Vec<(&'static str, Option<Status>)> {
    let get = client
        .get_import_job(v1::GetImportJobRequest {
            job_id,
            error_limit: 10,
            ..Default::default()
        })
        .await
        .err();
    let error_file = client
        .get_error_file(v1::GetErrorFileRequest {
            job_id,
            format: "csv".into(),
            locale: 0,
        })
        .await
        .err();
    let watch = client.watch_import(v1::WatchImportRequest { job_id }).await.err();
    let cancel = client
        .cancel_import(v1::CancelImportRequest { job_id })
        .await
        .err();
    vec![
        ("GetImportJob", get),
        ("GetErrorFile", error_file),
        ("WatchImport", watch),
        ("CancelImport", cancel),
    ]
}

/// NOT_FOUND exactly as a job id that does not exist gets it (same code, reason and message
/// but for the id), so the answer tells nothing about the job.
fn assert_not_found_like_a_missing_job(
    rpc: &str,
    hidden: &Status,
    job_id: i64,
    missing: &Status,
    missing_id: i64,
) {
    assert_eq!(hidden.code(), Code::NotFound, "{rpc}: {hidden:?}");
    assert_eq!(missing.code(), Code::NotFound, "{rpc}: {missing:?}");
    assert_eq!(
        dataport_client::error_code(hidden),
        Some(ErrorCode::NotFound),
        "{rpc}"
    );
    assert_eq!(
        dataport_client::error_reason(hidden),
        dataport_client::error_reason(missing),
        "{rpc}"
    );
    assert_eq!(
        hidden.message().replace(&job_id.to_string(), "N"),
        missing.message().replace(&missing_id.to_string(), "N"),
        "{rpc}"
    );
    assert_eq!(
        hidden.message(),
        format!("import job {job_id} does not exist"),
        "{rpc}"
    );
}

on_both_backends! {
    async fn another_tokens_job_is_not_found_and_admin_sees_it(server) {
        let mut a = server.client(&server.create_token("fair-import", "import")).await;
        let mut b = server.client(&server.create_token("ci", "import,export")).await;
        let mut admin = server.client(&server.admin_token()).await;

        let first = import(&mut a, &Import::new(Module::Customers, "a1.csv"), &file_with_an_error("A1")).await;
        assert_eq!(first.counts(), (1, 0, 0, 1));
        let own = import(&mut b, &Import::new(Module::Customers, "b.csv"), &csv(Module::Customers, &rows(&[customer("B1")]))).await;
        let second = import(&mut a, &Import::new(Module::Customers, "a2.csv"), &file_with_an_error("A2")).await;
        let job_id = first.job_id;

        // The owner reads its job, its row errors and its error file.
        let report = a
            .get_import_job(v1::GetImportJobRequest { job_id, error_limit: 10, ..Default::default() })
            .await
            .unwrap()
            .into_inner();
        assert_eq!((report.total_errors, report.job.unwrap().token_name.as_str()), (1, "fair-import"));
        let errors = a
            .get_error_file(v1::GetErrorFileRequest { job_id, format: "csv".into(), locale: 0 })
            .await
            .unwrap()
            .into_inner();
        let (_, bytes) = support::file(errors).await;
        assert!(String::from_utf8_lossy(&bytes).contains("A1-BAD"));

        // Another token, even one that may import and export, finds nothing there: the same
        // NOT_FOUND as for a job that was never created.
        let missing_id = second.job_id + 1000;
        let hidden = job_calls(&mut b, job_id).await;
        let missing = job_calls(&mut b, missing_id).await;
        for ((rpc, hidden), (_, missing)) in hidden.iter().zip(&missing) {
            let hidden = hidden.as_ref().unwrap_or_else(|| panic!("{rpc} of another token's job worked"));
            let missing = missing.as_ref().unwrap_or_else(|| panic!("{rpc} of a missing job worked"));
            assert_not_found_like_a_missing_job(rpc, hidden, job_id, missing, missing_id);
        }
        // For the owner, cancelling the ended job says so (which would leak to others).
        let ended = a.cancel_import(v1::CancelImportRequest { job_id }).await.unwrap_err();
        assert_eq!(dataport_client::error_code(&ended), Some(ErrorCode::JobNotRunning), "{ended:?}");

        // Listings hold only the caller's jobs, and pages are full pages of those.
        assert_eq!(ids(&list(&mut b, 0).await), [own.job_id]);
        let page = list(&mut b, 1).await;
        assert_eq!((ids(&page), page.next_page_token.as_str()), (vec![own.job_id], ""));
        assert_eq!(ids(&list(&mut a, 0).await), [second.job_id, first.job_id]);
        let page = list(&mut a, 1).await;
        assert_eq!(ids(&page), [second.job_id]);
        let rest = a
            .list_import_jobs(v1::ListImportJobsRequest { page_size: 1, page_token: page.next_page_token, ..Default::default() })
            .await
            .unwrap()
            .into_inner();
        assert_eq!((ids(&rest), rest.next_page_token.as_str()), (vec![first.job_id], ""));

        // Admin sees every job, and each of the owner's.
        assert_eq!(ids(&list(&mut admin, 0).await), [second.job_id, own.job_id, first.job_id]);
        for (rpc, status) in job_calls(&mut admin, job_id).await {
            match rpc {
                "CancelImport" => assert_eq!(
                    status.as_ref().and_then(dataport_client::error_code),
                    Some(ErrorCode::JobNotRunning),
                    "{status:?}"
                ),
                _ => assert!(status.is_none(), "{rpc}: {status:?}"),
            }
        }

        // The CLI says the same to the other token.
        let secret = server.create_token("ci-cli", "import");
        let out = server.cli(&["jobs", "show", &job_id.to_string(), "--token", &secret, "--server", &server.url()]);
        assert!(!out.status.success());
        assert!(stderr(&out).contains(&format!("[NOT_FOUND]: import job {job_id} does not exist")), "{}", stderr(&out));
    }
}

#[tokio::test]
async fn a_running_job_cannot_be_cancelled_or_watched_by_another_token() {
    let server = TestServer::start();
    let mut a = server.client(&server.create_token("fair-import", "import")).await;
    let mut b = server.client(&server.create_token("ci", "import")).await;
    let (job_id, _tx, mut stream) = start_and_go_quiet(&mut a).await;

    for (rpc, status) in job_calls(&mut b, job_id).await {
        let status = status.unwrap_or_else(|| panic!("{rpc} of another token's running job worked"));
        assert_eq!(status.code(), Code::NotFound, "{rpc}: {status:?}");
        assert_eq!(
            status.message(),
            format!("import job {job_id} does not exist"),
            "{rpc}"
        );
    }
    // The job ran on: its owner cancels it.
    let cancelled = a
        .cancel_import(v1::CancelImportRequest { job_id })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(cancelled.job.unwrap().id, job_id);
    let report = completed(&mut stream).await;
    assert_eq!(report.status(), v1::JobStatus::Cancelled, "{report:?}");
    assert!(
        report.error_message.contains("token fair-import"),
        "{}",
        report.error_message
    );
}

#[tokio::test]
async fn an_expired_token_is_unauthenticated_and_says_so() {
    let server = TestServer::start();
    let create = |name: &str, expires_in: Option<&str>| {
        let mut args = vec!["token", "create", "--name", name, "--permissions", "import"];
        if let Some(lifetime) = expires_in {
            args.extend(["--expires-in", lifetime]);
        }
        let out = server.cli(&args);
        assert!(out.status.success(), "{}", stderr(&out));
        (stdout(&out).trim().to_owned(), stderr(&out))
    };
    let (short, said) = create("short-lived", Some("1s"));
    assert!(said.contains("expiring 20"), "{said}");
    let (day, _) = create("daily", Some("24h"));
    let (_, said) = create("forever", None);
    assert!(said.contains("never expiring"), "{said}");

    // Junk and zero lifetimes are refused with the accepted forms.
    for junk in ["0d", "90", "5x", "-1h", "1.5h"] {
        let out = server.cli(&[
            "token",
            "create",
            "--name",
            "junk",
            "--permissions",
            "import",
            &format!("--expires-in={junk}"),
        ]);
        assert!(!out.status.success(), "--expires-in {junk} was accepted");
        assert!(
            stderr(&out).contains("90d, 12h, 30m, 30s") || stderr(&out).contains("longer than 0"),
            "{junk}: {}",
            stderr(&out)
        );
    }

    let mut daily = server.client(&day).await;
    list(&mut daily, 0).await;

    tokio::time::sleep(Duration::from_millis(2100)).await;
    let mut expired = server.client(&short).await;
    let status = expired
        .list_import_jobs(v1::ListImportJobsRequest::default())
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::Unauthenticated, "{status:?}");
    assert_eq!(
        dataport_client::error_code(&status),
        Some(ErrorCode::Unauthenticated)
    );
    for part in ["'short-lived' expired at 20", "UTC", "token create"] {
        assert!(status.message().contains(part), "{part}: {}", status.message());
    }
    // The CLI prints it as any failed call.
    let out = server.cli(&["jobs", "list", "--token", &short, "--server", &server.url()]);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("[UNAUTHENTICATED]") && stderr(&out).contains("expired"),
        "{}",
        stderr(&out)
    );

    // `token list` shows when each expires (and that one has) and when each was last used.
    let out = server.cli(&["token", "list"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let table = stdout(&out);
    // Columns are separated by at least two spaces; a date and its time by one.
    let cells = |line: &str| -> Vec<String> {
        line.split("  ")
            .map(str::trim)
            .filter(|c| !c.is_empty())
            .map(str::to_owned)
            .collect()
    };
    let header = cells(table.lines().next().unwrap());
    assert_eq!(
        header,
        [
            "name",
            "permissions",
            "created",
            "expires",
            "last used",
            "revoked"
        ],
        "{table}"
    );
    let row = |name: &str| {
        let line = table
            .lines()
            .find(|l| l.starts_with(&format!("{name} ")))
            .unwrap_or_else(|| panic!("no row for {name}: {table}"));
        let row = cells(line);
        assert_eq!(row.len(), 6, "{table}");
        row
    };
    let is_time = |cell: &str| chrono::NaiveDateTime::parse_from_str(cell, "%Y-%m-%d %H:%M:%S").is_ok();
    let short_lived = row("short-lived");
    assert!(
        short_lived[3].ends_with(" (expired)") && is_time(short_lived[3].trim_end_matches(" (expired)")),
        "{table}"
    );
    assert_eq!(
        short_lived[4], "-",
        "an expired token's failed use is no use: {table}"
    );
    let daily = row("daily");
    assert!(
        is_time(&daily[3]) && is_time(&daily[4]),
        "expires, last used: {table}"
    );
    assert_eq!(daily[5], "-", "{table}");
    let forever = row("forever");
    assert_eq!(
        (forever[3].as_str(), forever[4].as_str()),
        ("never", "-"),
        "{table}"
    );
}
