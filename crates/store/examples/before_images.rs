//! What before-images cost: a 1M-row customer upsert through the store's write path with and
//! without them (`WriteTx::write_logged` with and without a job), same build, same data, same
//! run, each on a fresh database holding the same 1M records first. Two files: every field
//! set (an upsert that keeps nothing, so only the logged run reads the stored records), and
//! 备注 left blank (kept: both runs read them, as `gen` files and most real 批量更新 files do).
//!
//! ```sh
//! cargo run --release -p dataport-store --example before_images -- [ROWS] [POSTGRES_URL]
//! ```
//!
//! Prints one line per run; only the upsert's batches (write and commit) are timed, not
//! building the records. Used for BENCHMARKS.md ("Before-images").

use std::time::{Duration, Instant};

use chrono::NaiveDate;
use dataport_core::{FieldValue, ImportMode, JobStatus, Module, ModuleScope, OnError, Record, Records};
use dataport_store::{JobCounts, JobFinish, NewImportJob, Store};

const BATCH: usize = 5_000;

fn main() {
    let mut args = std::env::args().skip(1);
    let rows: usize = args
        .next()
        .map_or(1_000_000, |n| n.parse().expect("ROWS is a number"));
    let postgres = args.next();
    let mut backends = vec![("SQLite", None)];
    if let Some(url) = postgres {
        backends.push(("PostgreSQL", Some(url)));
    }
    println!("backend      file              before-images  upsert of {rows} (s)");
    for (name, url) in &backends {
        for blank_remarks in [false, true] {
            let file = if blank_remarks {
                "备注 blank (kept)"
            } else {
                "every field set"
            };
            let mut times = Vec::new();
            for logged in [false, true] {
                let (store, _dir) = fresh(url.as_deref());
                let took = run(&store, rows, blank_remarks, logged);
                times.push(took);
                println!(
                    "{name:<12} {file:<17} {:<14} {:.2}",
                    if logged { "yes" } else { "no" },
                    took.as_secs_f64()
                );
            }
            println!(
                "{name:<12} {file:<17} ratio          {:.3}x",
                times[1].as_secs_f64() / times[0].as_secs_f64()
            );
        }
    }
}

/// A fresh store: a SQLite file in a temp dir, or a new schema of the PostgreSQL database.
fn fresh(url: Option<&str>) -> (Store, Option<tempfile::TempDir>) {
    match url {
        None => {
            let dir = tempfile::tempdir().expect("temp dir");
            let path = dir.path().join("bench.db").to_string_lossy().into_owned();
            (Store::open(&path).expect("open sqlite"), Some(dir))
        }
        Some(base) => {
            use diesel::{Connection, connection::SimpleConnection};
            let schema = format!("bench_before_images_{}", std::process::id());
            let mut admin = diesel::PgConnection::establish(base).expect("connect");
            admin
                .batch_execute(&format!(
                    "DROP SCHEMA IF EXISTS {schema} CASCADE; CREATE SCHEMA {schema};"
                ))
                .expect("create schema");
            let sep = if base.contains('?') { '&' } else { '?' };
            let url = format!("{base}{sep}options=-c%20search_path%3D{schema}");
            (Store::open(&url).expect("open postgres"), None)
        }
    }
}

/// Loads `rows` customers, then times their upsert with other values.
fn run(store: &Store, rows: usize, blank_remarks: bool, logged: bool) -> Duration {
    write_all(store, rows, 0, ImportMode::Insert, false, None);
    let job = logged.then(|| {
        let job = store
            .create_job(&NewImportJob {
                module: ModuleScope::One(Module::Customers),
                format: "csv".into(),
                mode: ImportMode::Upsert,
                on_error: OnError::SkipRow,
                dry_run: false,
                file_name: "bench.csv".into(),
                declared_size: None,
                token_name: "bench".into(),
                request: None,
            })
            .expect("create job");
        job.id
    });
    let took = write_all(store, rows, 1, ImportMode::Upsert, blank_remarks, job);
    if let Some(id) = job {
        let finish = JobFinish {
            status: JobStatus::Succeeded,
            counts: JobCounts::default(),
            modules: Vec::new(),
            file_size: None,
            sha256: None,
            error_code: None,
            error_message: None,
        };
        store.finish_job(id, &finish).expect("finish job");
    }
    took
}

/// Writes `rows` customers in batches, one transaction each; returns the time in the store.
fn write_all(
    store: &Store,
    rows: usize,
    variant: usize,
    mode: ImportMode,
    blank_remarks: bool,
    job: Option<i64>,
) -> Duration {
    let mut busy = Duration::ZERO;
    for start in (0..rows).step_by(BATCH) {
        let records: Vec<Record> = (start..(start + BATCH).min(rows))
            .map(|i| customer(i, variant, blank_remarks))
            .collect();
        let records = Records::from_vec(Module::Customers, records).expect("customers");
        let began = Instant::now();
        let mut tx = store.begin_write().expect("begin");
        tx.write_logged(&records, mode, job).expect("write");
        tx.commit().expect("commit");
        busy += began.elapsed();
    }
    busy
}

/// Customer `i`, every field set (values differ per `variant`); 备注 kept with `blank_remarks`.
fn customer(i: usize, variant: usize, blank_remarks: bool) -> Record {
    let text = |s: String| Some(FieldValue::Text(s));
    let levels = ["VIP", "重要", "普通"];
    let statuses = ["待跟进", "跟进中", "已成交", "已流失"];
    let mut record = Record::from_pairs(
        Module::Customers,
        [
            ("code", text(format!("CUST{i:09}"))),
            ("name", text(format!("客户{i}号有限公司{variant}"))),
            ("industry", text(["互联网", "制造业"][variant % 2].to_owned())),
            ("phone", text(format!("138{:08}", (i + variant) % 100_000_000))),
            ("owner", text(["张伟", "李娜"][variant % 2].to_owned())),
            ("level", text(levels[(i + variant) % 3].to_owned())),
            ("follow_up_status", text(statuses[(i + variant) % 4].to_owned())),
            ("address", text(format!("北京市海淀区{variant}号"))),
            (
                "contract_amount",
                Some(FieldValue::Cents((i * 100 + variant) as i64)),
            ),
            ("follow_up_notes", text(format!("第{variant}次跟进"))),
            ("remarks", text(format!("备注{variant}"))),
            (
                "created_at",
                Some(FieldValue::Date(
                    NaiveDate::from_ymd_opt(2023, 10, 1).expect("a date"),
                )),
            ),
        ],
    )
    .expect("customer fields");
    if blank_remarks {
        let remarks = Module::Customers.position("remarks").expect("remarks");
        record.set_at(remarks, None).expect("remarks");
        record.keep_stored(remarks);
    }
    record
}
