//! `dataport jobs revert ID`: undoes an ended import with a progress bar, lists what it left
//! alone, and exits 0 (everything reverted), 2 (some records were left alone) or 1 (failed).

use std::process::ExitCode;

use anyhow::{Context, Result};
use dataport_client::{AuthedClient, convert, v1};
use dataport_core::Locale;
use indicatif::{ProgressBar, ProgressStyle};
use tokio_stream::StreamExt;

use crate::table::Table;

/// Conflicts printed in full; the rest are counted.
const CONFLICTS_SHOWN: usize = 20;

pub async fn run(
    mut client: AuthedClient,
    job_id: i64,
    dry_run: bool,
    force: bool,
    locale: Locale,
) -> Result<ExitCode> {
    let mut events = client
        .revert_import(v1::RevertImportRequest {
            job_id,
            dry_run,
            force,
            locale: convert::locale_to_proto(locale) as i32,
        })
        .await
        .map_err(crate::call_failed)?
        .into_inner();
    let bar = ProgressBar::new(0);
    bar.set_style(
        ProgressStyle::with_template("{spinner} job {msg} [{bar:30}] {pos}/{len} records ({eta})")
            .context("progress template")?
            .progress_chars("=> "),
    );
    bar.set_message(job_id.to_string());
    let mut conflicts = Table::new(["code", "left alone because"]);
    let mut shown = 0;
    while let Some(event) = events.next().await {
        match event.map_err(crate::call_failed)?.event {
            Some(v1::revert_event::Event::Progress(p)) => {
                bar.set_length(p.total);
                bar.set_position(p.done);
            }
            Some(v1::revert_event::Event::Conflict(c)) => {
                if shown < CONFLICTS_SHOWN {
                    conflicts.row([c.code, c.reason]);
                }
                shown += 1;
            }
            Some(v1::revert_event::Event::Completed(report)) => {
                bar.finish_and_clear();
                println!("{}", report.message);
                if report.conflicts > 0 {
                    print!("{conflicts}");
                    if report.conflicts > CONFLICTS_SHOWN as u64 {
                        println!("… and {} more", report.conflicts - CONFLICTS_SHOWN as u64);
                    }
                    return Ok(ExitCode::from(2));
                }
                return Ok(ExitCode::SUCCESS);
            }
            None => {}
        }
    }
    bar.finish_and_clear();
    anyhow::bail!("the server ended the revert of job {job_id} without its report")
}
