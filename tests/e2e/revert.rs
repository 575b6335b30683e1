//! RevertImport: an insert job and an upsert job are undone to the exact prior state (every
//! field of every record compared), later changes are conflicts unless forced, referenced
//! customers are kept, a second revert is a no-op, and only the job's own token or admin may
//! revert it.

use dataport_client::{AuthedClient, v1};
use dataport_core::Module;

use crate::harness::{stderr, stdout};
use crate::on_both_backends;
use crate::support::{Import, contact, csv, customer, import, next_within, rows};
use crate::updates::stored;

/// Everything a revert sent back.
#[derive(Debug, Default)]
struct Reverted {
    conflicts: Vec<v1::RevertConflict>,
    progress: Vec<v1::RevertProgress>,
    report: v1::RevertReport,
}

async fn revert(
    client: &mut AuthedClient,
    job_id: i64,
    force: bool,
    dry_run: bool,
) -> Result<Reverted, tonic::Status> {
    let mut stream = client
        .revert_import(v1::RevertImportRequest {
            job_id,
            dry_run,
            force,
            locale: v1::Locale::En as i32,
        })
        .await?
        .into_inner();
    let mut out = Reverted::default();
    while let Some(event) = next_within(&mut stream, "the next revert event").await {
        match event?.event {
            Some(v1::revert_event::Event::Progress(p)) => out.progress.push(p),
            Some(v1::revert_event::Event::Conflict(c)) => out.conflicts.push(c),
            Some(v1::revert_event::Event::Completed(r)) => out.report = r,
            None => {}
        }
    }
    Ok(out)
}

async fn job_status(client: &mut AuthedClient, job_id: i64) -> v1::JobStatus {
    let response = client
        .get_import_job(v1::GetImportJobRequest {
            job_id,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    response.job.unwrap().status()
}

on_both_backends! {
    async fn reverts_restore_the_exact_prior_state(server) {
        let mut client = server.client(&server.admin_token()).await;
        let seed: Vec<Vec<String>> = (1..=5).map(|i| customer(&format!("S{i}"))).collect();
        import(&mut client, &Import::new(Module::Customers, "seed.csv"), &csv(Module::Customers, &rows(&seed))).await;
        let before = stored(&mut client, Module::Customers).await;

        // An upsert that changes S1..S3 (S3 only by clearing a field), leaves S4 as it was and
        // creates N1, N2 (the storage suite covers reverts over several batches).
        let mut changed = Vec::new();
        for (i, code) in ["S1", "S2", "S3", "S4", "N1", "N2"].iter().enumerate() {
            let mut row = customer(code);
            match i {
                0 => row[1] = "改名科技有限公司".into(),
                1 => {
                    row[3] = "13900000000".into();
                    row[8] = "99.99".into();
                }
                2 => row[2] = String::new(),
                _ => {}
            }
            changed.push(row);
        }
        let file = csv(Module::Customers, &rows(&changed));
        let request = Import::new(Module::Customers, "upsert.csv")
            .mode(v1::ImportMode::Upsert)
            .blank_cells(v1::BlankCells::Clear);
        let upsert = import(&mut client, &request, &file).await;
        assert_eq!(upsert.counts(), (2, 4, 0, 0), "{:?}", upsert.errors);
        assert_ne!(stored(&mut client, Module::Customers).await, before);

        // A dry run reports and changes nothing.
        let planned = revert(&mut client, upsert.job_id, false, true).await.unwrap();
        assert_eq!((planned.report.deleted, planned.report.restored, planned.report.conflicts), (2, 3, 0));
        assert_eq!(job_status(&mut client, upsert.job_id).await, v1::JobStatus::Succeeded);

        let done = revert(&mut client, upsert.job_id, false, false).await.unwrap();
        assert_eq!((done.report.deleted, done.report.restored, done.report.conflicts), (2, 3, 0), "{:?}", done.report);
        assert_eq!(done.progress.last().map(|p| (p.done, p.total)), Some((5, 5)));
        assert_eq!(stored(&mut client, Module::Customers).await, before, "every field as before the import");
        assert_eq!(job_status(&mut client, upsert.job_id).await, v1::JobStatus::Reverted);
        assert!(done.report.message.contains("2 created records deleted, 3 updated records restored"), "{}", done.report.message);

        // Again: a no-op that says so.
        let again = revert(&mut client, upsert.job_id, false, false).await.unwrap();
        assert!(again.report.already_reverted, "{:?}", again.report);
        assert!(again.report.message.contains("was reverted already"), "{}", again.report.message);

        // An insert job: its records are deleted; one changed since is a conflict until forced,
        // one that a contact references is kept.
        let fresh: Vec<Vec<String>> = ["I1", "I2", "I3"].iter().map(|c| customer(c)).collect();
        let insert = import(&mut client, &Import::new(Module::Customers, "fair.csv"), &csv(Module::Customers, &rows(&fresh))).await;
        assert_eq!(insert.counts(), (3, 0, 0, 0));
        let mut later = customer("I2");
        later[9] = "展会后已回访".into();
        let update = import(
            &mut client,
            &Import::new(Module::Customers, "later.csv").mode(v1::ImportMode::Update),
            &csv(Module::Customers, &rows(&[later])),
        )
        .await;
        assert_eq!(update.counts(), (0, 1, 0, 0));
        let linked = import(&mut client, &Import::new(Module::Contacts, "c.csv"), &csv(Module::Contacts, &rows(&[contact("P1", "I3")]))).await;
        assert_eq!(linked.counts(), (1, 0, 0, 0));

        let done = revert(&mut client, insert.job_id, false, false).await.unwrap();
        assert_eq!((done.report.deleted, done.report.conflicts), (1, 2));
        let mut conflicts: Vec<(&str, bool)> = done.conflicts.iter().map(|c| (c.code.as_str(), c.forceable)).collect();
        conflicts.sort_unstable();
        assert_eq!(conflicts, [("I2", true), ("I3", false)]);
        let i2 = done.conflicts.iter().find(|c| c.code == "I2").unwrap();
        assert!(i2.reason.contains("changed after the import") && i2.reason.contains("--force"), "{}", i2.reason);
        let i3 = done.conflicts.iter().find(|c| c.code == "I3").unwrap();
        assert!(i3.reason.contains("still referenced by contact P1"), "{}", i3.reason);
        let codes: Vec<String> = stored(&mut client, Module::Customers).await.into_keys().collect();
        assert!(codes.contains(&"I2".to_owned()) && codes.contains(&"I3".to_owned()) && !codes.contains(&"I1".to_owned()));

        // Not forced: a second revert says what it left; forced: I2 goes, I3 stays.
        let again = revert(&mut client, insert.job_id, false, false).await.unwrap();
        assert!(again.report.already_reverted && again.report.message.contains("2 records it left alone"), "{}", again.report.message);
        let forced = revert(&mut client, insert.job_id, true, false).await.unwrap();
        assert_eq!((forced.report.deleted, forced.report.conflicts), (1, 1));
        let codes: Vec<String> = stored(&mut client, Module::Customers).await.into_keys().collect();
        assert!(!codes.contains(&"I2".to_owned()) && codes.contains(&"I3".to_owned()));
    }

    async fn only_the_jobs_own_token_or_admin_may_revert_it(server) {
        let mut own = server.client(&server.create_token("fair-import", "import")).await;
        let mut other = server.client(&server.create_token("ci", "import,export")).await;
        let run = import(&mut own, &Import::new(Module::Customers, "a.csv"), &csv(Module::Customers, &rows(&[customer("O1")]))).await;
        let refused = revert(&mut other, run.job_id, false, false).await.unwrap_err();
        assert_eq!(refused.code(), tonic::Code::NotFound, "{refused:?}");
        let dry = import(&mut own, &Import::new(Module::Customers, "a.csv").dry_run(), &csv(Module::Customers, &rows(&[customer("O2")]))).await;
        let refused = revert(&mut own, dry.job_id, false, false).await.unwrap_err();
        assert_eq!(refused.code(), tonic::Code::InvalidArgument, "{refused:?}");
        assert!(refused.message().contains("dry run"), "{}", refused.message());
        let done = revert(&mut own, run.job_id, false, false).await.unwrap();
        assert_eq!(done.report.deleted, 1);
        let mut admin = server.client(&server.admin_token()).await;
        let again = revert(&mut admin, run.job_id, false, false).await.unwrap();
        assert!(again.report.already_reverted);
    }
}

#[tokio::test]
async fn the_cli_reverts_with_a_dry_run_first() {
    let server = crate::harness::TestServer::start();
    let url = server.url();
    std::fs::write(
        server.dir.path().join("fair.csv"),
        csv(Module::Customers, &rows(&[customer("K1"), customer("K2")])),
    )
    .unwrap();
    let out = server.cli(&["import", "fair.csv", "--module", "customers", "--server", &url]);
    assert!(out.status.success(), "{}", stderr(&out));
    let id = "1";
    let dry = server.cli(&[
        "jobs",
        "revert",
        id,
        "--dry-run",
        "--locale",
        "en",
        "--server",
        &url,
    ]);
    assert!(dry.status.success(), "{}", stderr(&dry));
    assert!(
        stdout(&dry).contains("dry run: would delete 2 created records"),
        "{}",
        stdout(&dry)
    );
    let done = server.cli(&["jobs", "revert", id, "--server", &url]);
    assert!(done.status.success(), "{}", stderr(&done));
    assert!(
        stdout(&done).contains("已撤销导入任务 1：删除 2 条新建记录"),
        "{}",
        stdout(&done)
    );
    let show = server.cli(&["jobs", "show", id, "--server", &url]);
    assert!(stdout(&show).contains("job 1: reverted"), "{}", stdout(&show));
    let count = server.cli(&["count", "--module", "customers", "--server", &url]);
    assert!(stdout(&count).starts_with("共0条"), "{}", stdout(&count));
    // The same import again is a new job, not the reverted one's report replayed.
    let again = server.cli(&["import", "fair.csv", "--module", "customers", "--server", &url]);
    assert!(stdout(&again).contains("job 2: succeeded"), "{}", stdout(&again));
    let count = server.cli(&["count", "--module", "customers", "--server", &url]);
    assert!(stdout(&count).starts_with("共2条"), "{}", stdout(&count));
}
