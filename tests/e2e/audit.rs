//! The audit log: what a day of work leaves in it (token changes, an import's start and end,
//! an error-file and a template download, an export with its exact filter and count, a burst
//! of wrong tokens), read back with `dataport audit list` by an admin and refused to others.

use std::time::{Duration, Instant};

use dataport_client::{ErrorCode, v1};
use dataport_core::Module;
use tonic::Code;

use crate::harness::{stderr, stdout};
use crate::on_both_backends;
use crate::support::{self, Import, csv, customer, import, rows};

/// Polls `audit list --json` until `done` holds for its entries (they are written a moment
/// after the call that causes them).
fn audit_entries(
    server: &crate::harness::TestServer,
    done: impl Fn(&[serde_json::Value]) -> bool,
) -> Vec<serde_json::Value> {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let out = server.cli(&[
            "audit",
            "list",
            "--json",
            "--limit",
            "1000",
            "--server",
            &server.url(),
        ]);
        assert!(out.status.success(), "{}", stderr(&out));
        let listed: serde_json::Value = serde_json::from_str(&stdout(&out)).expect("proto3 JSON");
        let entries = listed["entries"].as_array().cloned().unwrap_or_default();
        if done(&entries) {
            return entries;
        }
        assert!(
            Instant::now() < deadline,
            "audit entries never arrived: {entries:#?}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn with_event<'a>(entries: &'a [serde_json::Value], event: &str) -> Vec<&'a serde_json::Value> {
    entries.iter().filter(|e| e["event"] == event).collect()
}

/// proto3 JSON writes 64-bit integers as strings.
fn number(value: &serde_json::Value) -> u64 {
    value
        .as_str()
        .map_or_else(|| value.as_u64().unwrap_or(0), |s| s.parse().unwrap_or(0))
}

on_both_backends! {
    async fn imports_exports_downloads_tokens_and_failed_logins_are_audited(server) {
        // The start-up banner names the database without its password.
        if let Some(password) = server
            .database_url()
            .and_then(|u| u.split_once("://"))
            .and_then(|(_, rest)| rest.split_once('@'))
            .and_then(|(user, _)| user.split_once(':'))
            .map(|(_, password)| password.to_owned())
        {
            let banner = server.banner.join("\n");
            assert!(banner.contains(":***@") && !banner.contains(&format!(":{password}@")), "{banner}");
        }
        let fair = server.create_token("fair-import", "import");
        let bi = server.create_token("bi", "export");
        let mut importer = server.client(&fair).await;

        // An import with one bad row, its error file and a template.
        let mut bad = customer("A2");
        bad[5] = "SVIP".into();
        let file = csv(Module::Customers, &rows(&[customer("A1"), bad, customer("A3")]));
        let run = import(&mut importer, &Import::new(Module::Customers, "展会名单.csv"), &file).await;
        assert_eq!(run.counts(), (2, 0, 0, 1));
        let errors = importer
            .get_error_file(v1::GetErrorFileRequest { job_id: run.job_id, format: "csv".into(), locale: 0 })
            .await
            .unwrap()
            .into_inner();
        let (_, error_bytes) = support::file(errors).await;
        let template = importer
            .get_template(v1::GetTemplateRequest { module: v1::Module::Contacts as i32, format: "csv".into(), locale: 0 })
            .await
            .unwrap()
            .into_inner();
        let (_, template_bytes) = support::file(template).await;

        // An export with a filter, through the CLI.
        let out = server.cli(&[
            "export", "--module", "customers", "--owner", "张伟", "--name-contains", "A1",
            "--format", "csv", "-o", "bi.csv", "--token", &bi, "--server", &server.url(),
        ]);
        assert!(out.status.success(), "{}", stderr(&out));

        // Wrong tokens: the first failure of a peer is logged (and audited) at once.
        let mut stranger = server.client("dp_not_a_token").await;
        for _ in 0..3 {
            let refused = stranger.list_formats(v1::ListFormatsRequest {}).await.unwrap_err();
            assert_eq!(refused.code(), Code::Unauthenticated);
        }

        // Only admins read the log.
        let denied = server.cli(&["audit", "list", "--token", &bi, "--server", &server.url()]);
        assert!(!denied.status.success());
        assert!(stderr(&denied).contains("[PERMISSION_DENIED]") && stderr(&denied).contains("admin"), "{}", stderr(&denied));
        let mut client = server.client(&bi).await;
        let status = client.list_audit_log(v1::ListAuditLogRequest::default()).await.unwrap_err();
        assert_eq!(dataport_client::error_code(&status), Some(ErrorCode::PermissionDenied));

        let entries = audit_entries(&server, |e| {
            !with_event(e, "export").is_empty() && !with_event(e, "auth.failure").is_empty() && !with_event(e, "import.end").is_empty()
        });

        let created: Vec<&str> = with_event(&entries, "token.create").iter().filter_map(|e| e["tokenName"].as_str()).collect();
        // The first start's admin token is in the log too.
        assert_eq!(created, ["admin", "fair-import", "bi"], "{entries:#?}");
        assert!(with_event(&entries, "token.create").iter().all(|e| e["peer"] == "local"));

        let job_id = run.job_id.to_string();
        let start = with_event(&entries, "import.start");
        let end = with_event(&entries, "import.end");
        assert_eq!((start.len(), end.len()), (1, 1), "{entries:#?}");
        for e in [start[0], end[0]] {
            assert_eq!((e["tokenName"].as_str(), e["peer"].as_str(), e["rpc"].as_str()), (Some("fair-import"), Some("127.0.0.1"), Some("Import")));
            assert_eq!((e["module"].as_str(), e["jobId"].as_str()), (Some("customers"), Some(job_id.as_str())));
        }
        assert!(start[0]["detail"].as_str().unwrap().contains("展会名单.csv"), "{:?}", start[0]);
        assert_eq!(number(&end[0]["rows"]), 2);
        assert_eq!(number(&end[0]["bytes"]), file.len() as u64);
        assert!(end[0]["detail"].as_str().unwrap().starts_with("partially_succeeded: 2 created, 0 updated, 0 skipped, 1 failed"), "{:?}", end[0]);

        let error_file = with_event(&entries, "error_file");
        assert_eq!(error_file.len(), 1);
        assert_eq!((error_file[0]["jobId"].as_str(), number(&error_file[0]["bytes"])), (Some(job_id.as_str()), error_bytes.len() as u64));
        let template = with_event(&entries, "template");
        assert_eq!((template[0]["module"].as_str(), number(&template[0]["bytes"])), (Some("contacts"), template_bytes.len() as u64));

        // The export: its exact filter as received, the count of rows it wrote.
        let export = with_event(&entries, "export");
        assert_eq!(export.len(), 1);
        let export = export[0];
        assert_eq!((export["tokenName"].as_str(), export["rpc"].as_str()), (Some("bi"), Some("Export")));
        let filter: serde_json::Value = serde_json::from_str(export["filter"].as_str().unwrap()).unwrap();
        assert_eq!(filter["filter"]["customers"]["owners"], serde_json::json!(["张伟"]), "{filter}");
        assert_eq!(filter["filter"]["customers"]["nameContains"], "A1", "{filter}");
        assert_eq!(number(&export["rows"]), 1);
        let saved = std::fs::read(server_path(&server, "bi.csv")).unwrap();
        assert_eq!(number(&export["bytes"]), saved.len() as u64);
        assert!(export["detail"].as_str().unwrap().starts_with("completed"), "{export:?}");

        let burst = with_event(&entries, "auth.failure");
        assert_eq!(burst[0]["peer"], "127.0.0.1");
        assert!(burst[0]["detail"].as_str().unwrap().contains("unknown or revoked API token"), "{:?}", burst[0]);
        assert!(burst[0].get("tokenName").is_none_or(|t| t == ""), "{:?}", burst[0]);

        // Ids grow with time; the table shows the same, and --since bounds it.
        let ids: Vec<u64> = entries.iter().map(|e| number(&e["id"])).collect();
        assert!(ids.windows(2).all(|w| w[0] < w[1]), "{ids:?}");
        let table = server.cli(&["audit", "list", "--since", "1h", "--server", &server.url()]);
        assert!(table.status.success(), "{}", stderr(&table));
        let table = stdout(&table);
        assert!(table.lines().next().unwrap().starts_with("id"), "{table}");
        assert!(table.contains("export") && table.contains("张伟") && table.contains("auth.failure"), "{table}");
        let later = server.cli(&["audit", "list", "--since", "2999-01-01", "--json", "--server", &server.url()]);
        assert_eq!(stdout(&later).trim(), "{}", "{}", stderr(&later));
        let junk = server.cli(&["audit", "list", "--since", "yesterday", "--server", &server.url()]);
        assert!(!junk.status.success() && stderr(&junk).contains("24h"), "{}", stderr(&junk));
    }
}

fn server_path(server: &crate::harness::TestServer, name: &str) -> std::path::PathBuf {
    server.token_file().with_file_name(name)
}
