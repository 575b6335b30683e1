//! What before-images cost: a 1M-row customer upsert through the store's write path with and
//! without them (`WriteTx::write_logged` with and without a job), same build, same data, same
//! run, each on a fresh database holding the same 1M records first, the two alternating. Three
//! files:
//! - every field set and every value different (the worst case: each before-image holds all
//!   eleven fields, as many bytes again as the write itself);
//! - 备注 left blank (kept: both runs read the stored records, as for `gen` files), every other
//!   value different;
//! - a typical 批量更新: every field set, two of them (phone, level) different.
//!
//! ```sh
//! cargo run --release -p dataport-store --example before_images -- [ROWS] [RUNS] [POSTGRES_URL]
//! ```
//!
//! Prints each run and the medians; only the upsert's batches (write and commit) are timed,
//! not building the records. Used for BENCHMARKS.md ("Before-images").

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
    let runs: usize = args.next().map_or(1, |n| n.parse().expect("RUNS is a number"));
    let mut backends = vec![("SQLite", None)];
    if let Some(url) = args.next() {
        backends.push(("PostgreSQL", Some(url)));
    }
    println!("backend      file                    upsert of {rows}: without, with before-images (s)");
    let mut summary = Vec::new();
    for (name, url) in &backends {
        for file in [File::AllChanged, File::RemarksKept, File::TwoChanged] {
            let (mut without, mut with) = (Vec::new(), Vec::new());
            for _ in 0..runs {
                for logged in [false, true] {
                    let (store, _dir) = fresh(url.as_deref());
                    let took = run(&store, rows, file, logged).as_secs_f64();
                    if logged {
                        with.push(took)
                    } else {
                        without.push(took)
                    }
                }
                println!(
                    "{name:<12} {:<23} {:.2}  {:.2}",
                    file.name(),
                    without.last().copied().unwrap_or_default(),
                    with.last().copied().unwrap_or_default()
                );
            }
            let (a, b) = (median(&mut without), median(&mut with));
            summary.push(format!(
                "{name:<12} {:<23} {a:.2}  {b:.2}  {:.3}x",
                file.name(),
                b / a
            ));
        }
    }
    if let Some(url) = backends.iter().find_map(|(_, url)| url.as_deref()) {
        drop_schema(url);
    }
    println!("medians of {runs} runs: without, with, ratio");
    for line in summary {
        println!("{line}");
    }
}

fn median(times: &mut [f64]) -> f64 {
    times.sort_by(f64::total_cmp);
    times[times.len() / 2]
}

/// The upsert file of a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum File {
    AllChanged,
    RemarksKept,
    TwoChanged,
}

impl File {
    fn name(self) -> &'static str {
        match self {
            File::AllChanged => "all 11 fields changed",
            File::RemarksKept => "备注 kept, 10 changed",
            File::TwoChanged => "2 fields changed",
        }
    }
}

/// The schema of this process's runs in the PostgreSQL database.
fn schema() -> String {
    format!("bench_before_images_{}", std::process::id())
}

/// Drops this process's schema (each run recreates it).
fn drop_schema(base: &str) {
    use diesel::{Connection, connection::SimpleConnection};
    let mut admin = diesel::PgConnection::establish(base).expect("connect");
    admin
        .batch_execute(&format!("DROP SCHEMA IF EXISTS {} CASCADE;", schema()))
        .expect("drop schema");
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
            let schema = schema();
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
fn run(store: &Store, rows: usize, file: File, logged: bool) -> Duration {
    write_all(
        store,
        rows,
        ImportMode::Insert,
        |i| customer(i, 0, 0, false),
        None,
    );
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
    let upsert = |i| match file {
        File::AllChanged => customer(i, 1, 1, false),
        File::RemarksKept => customer(i, 1, 1, true),
        File::TwoChanged => customer(i, 0, 1, false),
    };
    let took = write_all(store, rows, ImportMode::Upsert, upsert, job);
    if let Some(id) = job {
        let finish = JobFinish {
            status: JobStatus::Succeeded,
            counts: JobCounts::default(),
            modules: Vec::new(),
            file_size: None,
            sha256: None,
            error_code: None,
            error_message: None,
            committed_watermark: None,
        };
        store.finish_job(id, &finish).expect("finish job");
    }
    took
}

/// Writes `rows` customers in batches, one transaction each; returns the time in the store.
fn write_all(
    store: &Store,
    rows: usize,
    mode: ImportMode,
    record: impl Fn(usize) -> Record,
    job: Option<i64>,
) -> Duration {
    let mut busy = Duration::ZERO;
    for start in (0..rows).step_by(BATCH) {
        let records: Vec<Record> = (start..(start + BATCH).min(rows)).map(&record).collect();
        let records = Records::from_vec(Module::Customers, records).expect("customers");
        let began = Instant::now();
        let mut tx = store.begin_write().expect("begin");
        tx.write_logged(&records, mode, job).expect("write");
        tx.commit().expect("commit");
        busy += began.elapsed();
    }
    busy
}

/// Customer `i`, every field set: phone and level differ per `changed`, the other values per
/// `variant`; 备注 kept with `blank_remarks`.
fn customer(i: usize, variant: usize, changed: usize, blank_remarks: bool) -> Record {
    let text = |s: String| Some(FieldValue::Text(s));
    let levels = ["VIP", "重要", "普通"];
    let statuses = ["待跟进", "跟进中", "已成交", "已流失"];
    let mut record = Record::from_pairs(
        Module::Customers,
        [
            ("code", text(format!("CUST{i:09}"))),
            ("name", text(format!("客户{i}号有限公司{variant}"))),
            ("industry", text(["互联网", "制造业"][variant % 2].to_owned())),
            ("phone", text(format!("138{:08}", (i + changed) % 100_000_000))),
            ("owner", text(["张伟", "李娜"][variant % 2].to_owned())),
            ("level", text(levels[(i + changed) % 3].to_owned())),
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
