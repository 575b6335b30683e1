//! `dataport migrate --from URL --to URL`: copies modules from one dataport instance to another
//! by piping an Export of typed record batches into an Import, module by module (customers
//! first, so contacts and opportunities find their customers). Nothing touches a disk; memory is
//! bounded by a channel of two batches between the two streams, and HTTP/2 flow control carries
//! the backpressure to the source.

use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use dataport_client::{AuthedClient, convert, v1};
use dataport_core::{ImportMode, Module};
use indicatif::{ProgressBar, ProgressStyle};
use tokio_stream::{StreamExt, wrappers::ReceiverStream};

use crate::table::Table;

/// Record batches buffered between the source's export and the target's import.
const BATCHES_IN_FLIGHT: usize = 2;

/// How one module's copy went.
struct ModuleReport {
    module: Module,
    exported: u64,
    report: v1::ImportJob,
}

/// What `dataport migrate` was asked to do.
pub struct Plan {
    pub modules: Vec<Module>,
    pub mode: ImportMode,
    /// The source, as named in job file names.
    pub from_name: String,
    /// Each module's import has request_id `PREFIX-MODULE`.
    pub request_prefix: String,
    pub retries: u32,
}

/// The default request_id prefix: the same migration (source, target, mode) is the same request.
pub fn derived_prefix(from: &str, to: &str, mode: &str) -> String {
    use sha2::{Digest, Sha256};
    let digest = Sha256::digest(format!("{from}|{to}|{mode}").as_bytes());
    format!("migrate-{}", &hex::encode(digest)[..24])
}

pub async fn run(from: AuthedClient, to: AuthedClient, plan: Plan) -> Result<ExitCode> {
    let mut ordered = plan.modules.clone();
    ordered.sort();
    ordered.dedup();
    let mut reports = Vec::new();
    for module in ordered {
        let request_id = format!("{}-{module}", plan.request_prefix);
        // A lost connection or an interrupted copy is retried; the target resumes the same job
        // past its watermark (the source's export is a snapshot, ordered by code).
        let mut retried = 0;
        let report = loop {
            let wait = Duration::from_secs(1 << retried.min(5)).min(Duration::from_secs(30));
            match copy_module(from.clone(), to.clone(), module, &plan, &request_id).await {
                Ok(r) if r.report.status() == v1::JobStatus::Interrupted && retried < plan.retries => {
                    eprintln!(
                        "{module}: job {} interrupted ({}); retrying in {} s",
                        r.report.id,
                        r.report.error_message,
                        wait.as_secs()
                    );
                }
                Ok(r) => break r,
                Err(e) if crate::import_cmd::retryable(&e, retried > 0) && retried < plan.retries => {
                    eprintln!("{module}: {e:#}; retrying in {} s", wait.as_secs());
                }
                Err(e) => return Err(e),
            }
            tokio::time::sleep(wait).await;
            retried += 1;
        };
        reports.push(report);
    }
    let mut table = Table::new([
        "module", "exported", "read", "created", "updated", "skipped", "failed", "status", "job",
    ]);
    let mut code = ExitCode::SUCCESS;
    for r in &reports {
        let status = r.report.status();
        table.row([
            r.module.to_string(),
            r.exported.to_string(),
            r.report.rows_read.to_string(),
            r.report.rows_created.to_string(),
            r.report.rows_updated.to_string(),
            r.report.rows_skipped.to_string(),
            r.report.rows_failed.to_string(),
            crate::table::enum_word(status.as_str_name(), "JOB_STATUS_"),
            r.report.id.to_string(),
        ]);
        match status {
            v1::JobStatus::Succeeded => {}
            v1::JobStatus::PartiallySucceeded if code == ExitCode::SUCCESS => code = ExitCode::from(2),
            v1::JobStatus::PartiallySucceeded => {}
            _ => code = ExitCode::FAILURE,
        }
    }
    print!("{table}");
    for r in &reports {
        if !r.report.error_message.is_empty() {
            println!("{}: {}", r.module, r.report.error_message);
        }
        if r.report.rows_failed + r.report.rows_skipped > 0 {
            println!(
                "{}: see the rows with `dataport jobs show {} --errors 100` on the target",
                r.module, r.report.id
            );
        }
    }
    Ok(code)
}

async fn copy_module(
    mut from: AuthedClient,
    mut to: AuthedClient,
    module: Module,
    plan: &Plan,
    request_id: &str,
) -> Result<ModuleReport> {
    let (mode, from_name) = (plan.mode, plan.from_name.as_str());
    let mut export = from
        .export(v1::ExportRequest {
            module: convert::module_to_proto(module) as i32,
            format: "records".into(),
            scope: v1::ExportScope::All as i32,
            ..Default::default()
        })
        .await
        .map_err(crate::call_failed)
        .with_context(|| format!("exporting {module} from the source"))?
        .into_inner();
    let total = match export.next().await {
        Some(Ok(v1::ExportEvent {
            event: Some(v1::export_event::Event::Started(s)),
        })) => s.total_rows,
        Some(Err(status)) => return Err(crate::call_failed(status)).context("the source refused the export"),
        _ => bail!("the source did not start the {module} export"),
    };

    let (tx, rx) = tokio::sync::mpsc::channel::<v1::ImportRequest>(BATCHES_IN_FLIGHT);
    tx.send(v1::ImportRequest {
        message: Some(v1::import_request::Message::Spec(v1::ImportSpec {
            module: convert::module_to_proto(module) as i32,
            format: "records".into(),
            mode: convert::import_mode_to_proto(mode) as i32,
            file_name: format!("migrate {module} from {from_name}"),
            request_id: request_id.to_owned(),
            ..Default::default()
        })),
    })
    .await
    .context("starting the import")?;
    // The pump: export batches into the import stream. On success it drops its sender, which
    // closes the import normally. On failure it hands the sender back, so that the import is
    // cancelled (its stream dropped) before the sender closes it: a broken source must never
    // look like a complete one to the target.
    let mut pump = tokio::spawn(async move {
        let fail = |e: anyhow::Error, tx| Err::<u64, _>((e, tx));
        while let Some(event) = export.next().await {
            let event = match event {
                Ok(event) => event,
                Err(status) => {
                    return fail(
                        crate::call_failed(status).context("the source's export failed"),
                        tx,
                    );
                }
            };
            match event.event {
                Some(v1::export_event::Event::Records(batch)) => {
                    let message = v1::ImportRequest {
                        message: Some(v1::import_request::Message::Records(batch)),
                    };
                    if tx.send(message).await.is_err() {
                        return fail(anyhow::anyhow!("the target stopped reading the import"), tx);
                    }
                }
                Some(v1::export_event::Event::Completed(done)) => return Ok(done.rows),
                _ => {}
            }
        }
        fail(
            anyhow::anyhow!("the source ended the export before it was complete"),
            tx,
        )
    });

    let bar = ProgressBar::new(total);
    bar.set_style(
        ProgressStyle::with_template("{spinner} {msg} [{bar:30}] {pos}/{len} rows")
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
    );
    bar.set_message(module.to_string());
    bar.enable_steady_tick(Duration::from_millis(200));
    let mut events = to
        .import(ReceiverStream::new(rx))
        .await
        .map_err(crate::call_failed)
        .with_context(|| format!("importing {module} into the target"))?
        .into_inner();
    let mut report = None;
    let mut exported = None;
    loop {
        tokio::select! {
            event = events.next() => match event {
                Some(event) => match event.map_err(crate::call_failed)?.event {
                    Some(v1::import_event::Event::Progress(p)) => bar.set_position(p.rows_read),
                    Some(v1::import_event::Event::Accepted(a)) if a.resumed => bar.suspend(|| {
                        eprintln!(
                            "{module}: 连接中断，从第{row}条继续 / connection lost, resuming at record {row} (job {job})",
                            row = a.resume_after_row + 1,
                            job = a.job_id
                        )
                    }),
                    Some(v1::import_event::Event::Completed(c)) => report = c.report,
                    _ => {}
                },
                None => break,
            },
            result = &mut pump, if exported.is_none() => match result.context("the copy task failed")? {
                Ok(rows) => exported = Some(rows),
                // The target answered at once with an ended job's report (the same request
                // ran before) and stopped reading: nothing more to copy.
                Err(_) if report.is_some() => exported = Some(total),
                Err((error, tx)) => {
                    bar.finish_and_clear();
                    // Cancel the import first, then let go of its sender.
                    drop(events);
                    drop(tx);
                    return Err(error.context(format!("copying {module}; the target's import was cancelled")));
                }
            },
        }
    }
    bar.finish_and_clear();
    let exported = match exported {
        Some(rows) => rows,
        None => match pump.await.context("the copy task failed")? {
            Ok(rows) => rows,
            Err(_) if report.is_some() => total,
            Err((error, _)) => return Err(error.context(format!("copying {module}"))),
        },
    };
    let report = report.context("the target ended the import without a report")?;
    Ok(ModuleReport {
        module,
        exported,
        report,
    })
}
