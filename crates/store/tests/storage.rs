//! The storage suite: every test runs against SQLite and against PostgreSQL.
//!
//! `backend_suite!` instantiates each test once per backend, as `sqlite::NAME` and
//! `postgres::NAME`, so the test output shows both. SQLite tests use a fresh file in a temp
//! dir. PostgreSQL tests run when `DATAPORT_TEST_DATABASE_URL` is set; each gets its own schema
//! (through libpq's `options=-c search_path=…`), so they run in parallel. Without it they show
//! as ignored (`build.rs`); in CI (`CI` set) a missing `DATAPORT_TEST_DATABASE_URL` fails them.

use std::collections::HashSet;
use std::io::BufRead;
use std::sync::atomic::{AtomicU32, Ordering};

use chrono::{NaiveDate, TimeZone, Utc};
use dataport_core::{
    ContactFilter, CustomerFilter, DateRange, ErrorCode, FieldValue, Filter, ImportMode, JobStatus, Module,
    OnError, OpportunityFilter, PermissionSet, Record, Records,
};
use dataport_store::{
    AuditEvent, AuditQuery, Authentication, Backend, JobAdvance, JobCounts, JobFinish, JobQuery,
    NewAuditEntry, NewImportJob, ResumePoint, RevertConflict, RowErrorRecord, Store, StoreError,
    StoreOptions,
};
use diesel::Connection;
use diesel::connection::SimpleConnection;

/// A store on a fresh database, plus whatever keeps that database alive.
struct TestDb {
    store: Store,
    url: String,
    _dir: Option<tempfile::TempDir>,
    /// PostgreSQL: the admin URL and the test's schema, dropped at the end.
    schema: Option<(String, String)>,
}

impl Drop for TestDb {
    fn drop(&mut self) {
        if let Some((base, schema)) = &self.schema
            && let Ok(mut admin) = diesel::PgConnection::establish(base)
        {
            let _ = admin.batch_execute(&format!(
                "SET client_min_messages = warning; DROP SCHEMA IF EXISTS {schema} CASCADE;"
            ));
        }
    }
}

impl TestDb {
    fn reopen(&self) -> Store {
        Store::open(&self.url).expect("reopen")
    }

    /// Another replica on the same database, with its own identity and lease.
    fn replica(&self, job_lease: std::time::Duration) -> Store {
        let options = StoreOptions {
            max_connections: 4,
            job_lease,
            ..StoreOptions::default()
        };
        Store::open_with(&self.url, &options).expect("open a second store")
    }
}

fn sqlite() -> TestDb {
    let dir = tempfile::tempdir().expect("temp dir");
    let url = dir.path().join("test.db").to_string_lossy().into_owned();
    let store = Store::open(&url).expect("open sqlite");
    assert_eq!(store.backend(), Backend::Sqlite);
    TestDb {
        store,
        url,
        _dir: Some(dir),
        schema: None,
    }
}

/// The PostgreSQL store of a test that runs only when the database is configured (see
/// `build.rs`); a missing database here is a failure, never a silent pass.
fn postgres() -> TestDb {
    let base = std::env::var("DATAPORT_TEST_DATABASE_URL")
        .ok()
        .filter(|u| !u.trim().is_empty())
        .expect("DATAPORT_TEST_DATABASE_URL must name the PostgreSQL test database (CI is set)");
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let schema = format!("t{}_{}", std::process::id(), NEXT.fetch_add(1, Ordering::SeqCst));
    let mut admin = diesel::PgConnection::establish(&base).expect("connect to DATAPORT_TEST_DATABASE_URL");
    admin
        .batch_execute(&format!(
            "DROP SCHEMA IF EXISTS {schema} CASCADE; CREATE SCHEMA {schema};"
        ))
        .expect("create schema");
    let sep = if base.contains('?') { '&' } else { '?' };
    let url = format!("{base}{sep}options=-c%20search_path%3D{schema}");
    let store = Store::open_with(
        &url,
        &StoreOptions {
            max_connections: 4,
            ..StoreOptions::default()
        },
    )
    .expect("open postgres");
    assert_eq!(store.backend(), Backend::Postgres);
    TestDb {
        store,
        url,
        _dir: None,
        schema: Some((base, schema)),
    }
}

macro_rules! backend_suite {
    ($($(#[$meta:meta])* fn $name:ident($db:ident) $body:block)*) => {
        $( $(#[$meta])* fn $name($db: TestDb) $body )*

        mod sqlite {
            $( #[test] fn $name() { super::$name(super::sqlite()) } )*
        }

        mod postgres {
            $(
                #[test]
                #[cfg_attr(
                    not(dataport_postgres_tests),
                    ignore = "set DATAPORT_TEST_DATABASE_URL to run the PostgreSQL storage tests"
                )]
                fn $name() { super::$name(super::postgres()) }
            )*
        }
    };
}

fn date(y: i32, m: u32, d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, d).unwrap()
}

/// Sets field `key` of a test record (text, dates, cents and booleans by their Rust type).
fn set(record: &mut Record, key: &str, value: Option<FieldValue>) {
    record
        .set(key, value)
        .expect("a field of the module, of its kind");
}

fn text(s: impl Into<String>) -> Option<FieldValue> {
    Some(FieldValue::Text(s.into()))
}

fn on(d: NaiveDate) -> Option<FieldValue> {
    Some(FieldValue::Date(d))
}

fn record(module: Module, fields: &[(&str, Option<FieldValue>)]) -> Record {
    Record::from_pairs(module, fields.iter().cloned()).expect("fields of the module, of their kinds")
}

fn customer(code: &str) -> Record {
    record(
        Module::Customers,
        &[
            ("code", text(code)),
            ("name", text(format!("{code} 有限公司"))),
            ("owner", text("张伟")),
        ],
    )
}

fn contact(code: &str, customer_code: &str) -> Record {
    record(
        Module::Contacts,
        &[
            ("code", text(code)),
            ("customer_code", text(customer_code)),
            ("name", text("李娜")),
        ],
    )
}

fn opportunity(code: &str, customer_code: &str) -> Record {
    record(
        Module::Opportunities,
        &[
            ("code", text(code)),
            ("customer_code", text(customer_code)),
            ("name", text("年度采购")),
        ],
    )
}

fn batch(module: Module, records: Vec<Record>) -> Records {
    Records::from_vec(module, records).expect("records of one module")
}

fn customers(codes: &[&str]) -> Records {
    batch(Module::Customers, codes.iter().map(|c| customer(c)).collect())
}

fn all_customers(store: &Store) -> Vec<Record> {
    store
        .page(&Filter::all(Module::Customers), None, 1_000_000)
        .unwrap()
        .into_vec()
}

fn new_job(module: Module, token: &str) -> NewImportJob {
    NewImportJob {
        module: dataport_core::ModuleScope::One(module),
        format: "csv".into(),
        mode: ImportMode::Insert,
        on_error: OnError::SkipRow,
        dry_run: false,
        file_name: "客户.csv".into(),
        declared_size: Some(123),
        token_name: token.into(),
        request: None,
    }
}

fn row_error(row: i64, field: &str) -> RowErrorRecord {
    RowErrorRecord {
        row,
        column: "客户编号".into(),
        field: field.into(),
        code: ErrorCode::RequiredMissing,
        message: format!("第{row}行: 客户编号 不能为空"),
        raw_value: Some(String::new()),
        row_data: Some(format!("[\"row {row}\"]")),
    }
}

backend_suite! {
    fn migrations_apply_once_and_reopening_keeps_data(db) {
        db.store.write(&customers(&["C1"]), ImportMode::Insert).unwrap();
        let again = db.reopen();
        assert_eq!(again.count(&Filter::all(Module::Customers)).unwrap(), 1);
    }

    fn every_field_round_trips_exactly(db) {
        let full = record(Module::Customers, &[
            ("code", text("CUST20231001001")),
            ("name", text("北京\"引号\", 逗号\n换行 有限公司")),
            ("industry", text("互联网")),
            ("phone", text("+86 010-12345678")),
            ("owner", text("张伟")),
            ("level", text("VIP")),
            ("follow_up_status", text("待跟进")),
            ("address", text("北京市海淀区")),
            // The largest amount the service accepts, in cents.
            ("contract_amount", Some(FieldValue::Cents(999_999_999_999_999))),
            ("follow_up_notes", text("=SUM(A1) is text here")),
            ("remarks", text("😀 emoji")),
            ("created_at", on(date(2023, 10, 1))),
        ]);
        db.store.write(&batch(Module::Customers, vec![full.clone()]), ImportMode::Insert).unwrap();
        assert_eq!(all_customers(&db.store), vec![full]);

        db.store.write(&customers(&["P1"]), ImportMode::Insert).unwrap();
        let c = record(Module::Contacts, &[
            ("code", text("CON1")),
            ("customer_code", text("P1")),
            ("name", text("王芳")),
            ("title", text("采购经理")),
            ("phone", text("13812345678")),
            ("email", text("wang@example.com")),
            ("is_primary", Some(FieldValue::Bool(true))),
            ("remarks", None),
        ]);
        db.store.write(&batch(Module::Contacts, vec![c.clone()]), ImportMode::Insert).unwrap();
        assert_eq!(db.store.page(&Filter::all(Module::Contacts), None, 10).unwrap(), batch(Module::Contacts, vec![c]));

        let o = record(Module::Opportunities, &[
            ("code", text("OPP1")),
            ("customer_code", text("P1")),
            ("name", text("年度框架协议")),
            ("stage", text("方案报价")),
            ("amount", Some(FieldValue::Cents(0))),
            ("expected_close_date", on(date(2025, 12, 31))),
            ("owner", text("张伟")),
            ("remarks", text("")),
        ]);
        db.store.write(&batch(Module::Opportunities, vec![o.clone()]), ImportMode::Insert).unwrap();
        assert_eq!(
            db.store.page(&Filter::all(Module::Opportunities), None, 10).unwrap(),
            batch(Module::Opportunities, vec![o])
        );
    }

    /// Every registry field of every module survives a write and a read on each backend: the
    /// store's column mapping is pinned to the field registry.
    fn every_registry_field_round_trips(db) {
        db.store.write(&batch(Module::Customers, vec![dataport_core::template::example_record(Module::Customers)]), ImportMode::Insert).unwrap();
        for module in Module::ALL {
            let example = dataport_core::template::example_record(module);
            assert!(example.display_values().iter().all(|v| !v.is_empty()), "{module}: every field set");
            if module != Module::Customers {
                db.store.write(&batch(module, vec![example.clone()]), ImportMode::Insert).unwrap();
            }
            assert_eq!(db.store.page(&Filter::all(module), None, 10).unwrap().into_vec(), vec![example], "{module}");
        }
    }

    fn insert_skips_existing_and_repeated_codes(db) {
        db.store.write(&customers(&["A", "B"]), ImportMode::Insert).unwrap();
        let mut rows = customers(&["B", "C", "C", "D"]).into_vec();
        set(&mut rows[1], "name", text("first C"));
        set(&mut rows[2], "name", text("second C"));
        let outcome = db.store.write(&batch(Module::Customers, rows), ImportMode::Insert).unwrap();
        assert_eq!((outcome.created, outcome.updated), (2, 0));
        assert_eq!(outcome.skipped_existing, ["B", "C"]);
        let stored = all_customers(&db.store);
        assert_eq!(stored.iter().map(|c| c.code()).collect::<Vec<_>>(), ["A", "B", "C", "D"]);
        assert_eq!(stored[2].text("name"), Some("first C"));
        // A batch of only existing codes creates nothing and names each.
        let again = db.store.write(&customers(&["D", "A"]), ImportMode::Insert).unwrap();
        assert_eq!((again.created, again.skipped_existing), (0, vec!["D".to_owned(), "A".to_owned()]));
    }

    fn update_touches_only_existing_codes_and_keeps_created_at(db) {
        let mut a = customer("A");
        set(&mut a, "created_at", on(date(2020, 1, 1)));
        set(&mut a, "level", text("普通"));
        db.store.write(&batch(Module::Customers, vec![a]), ImportMode::Insert).unwrap();

        let mut changed = customer("A");
        set(&mut changed, "level", text("VIP"));
        set(&mut changed, "created_at", None);
        let outcome = db
            .store
            .write(&batch(Module::Customers, vec![changed, customer("NEW")]), ImportMode::Update)
            .unwrap();
        assert_eq!((outcome.created, outcome.updated), (0, 1));
        assert_eq!(outcome.not_found, ["NEW"]);
        let stored = all_customers(&db.store);
        assert_eq!(stored.len(), 1);
        assert_eq!(stored[0].text("level"), Some("VIP"));
        assert_eq!(stored[0].get("created_at"), on(date(2020, 1, 1)).as_ref(), "an update without a date keeps the stored one");
    }

    fn upsert_creates_and_overwrites(db) {
        let mut a = customer("A");
        set(&mut a, "phone", text("010-1"));
        db.store.write(&batch(Module::Customers, vec![a]), ImportMode::Insert).unwrap();
        let mut a2 = customer("A");
        set(&mut a2, "phone", None);
        set(&mut a2, "created_at", on(date(2019, 5, 4)));
        let outcome = db.store.write(&batch(Module::Customers, vec![a2, customer("B")]), ImportMode::Upsert).unwrap();
        assert_eq!((outcome.created, outcome.updated), (1, 1));
        let stored = all_customers(&db.store);
        assert_eq!(stored[0].get("phone"), None, "upsert overwrites every field, empty ones included");
        assert_eq!(stored[0].get("created_at"), on(date(2019, 5, 4)).as_ref());
        assert_eq!(stored[1].code(), "B");

        // Without a date, an upsert keeps the stored one and a new record gets today's; one
        // batch may mix dated and undated records.
        let mut undated = customer("A");
        set(&mut undated, "created_at", None);
        let mut fresh = customer("C");
        set(&mut fresh, "created_at", None);
        let mut dated = customer("B");
        set(&mut dated, "created_at", on(date(2018, 2, 3)));
        let outcome = db
            .store
            .write(&batch(Module::Customers, vec![undated, fresh, dated]), ImportMode::Upsert)
            .unwrap();
        assert_eq!((outcome.created, outcome.updated), (1, 2));
        let stored = all_customers(&db.store);
        assert_eq!(stored[0].get("created_at"), on(date(2019, 5, 4)).as_ref(), "kept");
        assert_eq!(stored[1].get("created_at"), on(date(2018, 2, 3)).as_ref(), "replaced");
        assert_eq!(stored[2].get("created_at"), on(Utc::now().date_naive()).as_ref(), "today");
    }

    fn kept_fields_keep_their_stored_values_on_update_and_upsert(db) {
        let mut a = customer("A");
        set(&mut a, "phone", text("010-1"));
        set(&mut a, "remarks", text("旧备注"));
        set(&mut a, "contract_amount", Some(FieldValue::Cents(12_345)));
        let mut contact_a = contact("P1", "A");
        set(&mut contact_a, "is_primary", Some(FieldValue::Bool(true)));
        db.store.write(&batch(Module::Customers, vec![a]), ImportMode::Insert).unwrap();
        db.store.write(&batch(Module::Contacts, vec![contact_a]), ImportMode::Insert).unwrap();

        let keep = |record: &mut Record, key: &str| record.keep_stored(record.module().index_of(key));
        // UPDATE: a new phone, remarks and amount kept, level cleared.
        let mut changed = customer("A");
        set(&mut changed, "phone", text("010-2"));
        set(&mut changed, "level", None);
        keep(&mut changed, "remarks");
        keep(&mut changed, "contract_amount");
        db.store.write(&batch(Module::Customers, vec![changed]), ImportMode::Update).unwrap();
        let stored = &all_customers(&db.store)[0];
        assert_eq!(stored.text("phone"), Some("010-2"));
        assert_eq!(stored.text("remarks"), Some("旧备注"), "kept");
        assert_eq!(stored.get("contract_amount"), Some(&FieldValue::Cents(12_345)), "kept");
        assert_eq!(stored.get("level"), None, "cleared");

        // UPSERT: the existing record keeps, a new one is written with the field empty.
        let mut again = customer("A");
        keep(&mut again, "phone");
        let mut fresh = customer("B");
        keep(&mut fresh, "phone");
        let outcome = db
            .store
            .write(&batch(Module::Customers, vec![again, fresh]), ImportMode::Upsert)
            .unwrap();
        assert_eq!((outcome.created, outcome.updated), (1, 1));
        let stored = all_customers(&db.store);
        assert_eq!(stored[0].text("phone"), Some("010-2"));
        assert_eq!(stored[1].get("phone"), None);

        // Other modules, and a bool kept.
        let mut contact_a = contact("P1", "A");
        keep(&mut contact_a, "is_primary");
        set(&mut contact_a, "title", text("经理"));
        db.store.write(&batch(Module::Contacts, vec![contact_a]), ImportMode::Upsert).unwrap();
        let contacts = db.store.page(&Filter::all(Module::Contacts), None, 10).unwrap();
        let stored = contacts.get(0).unwrap();
        assert_eq!(stored.get("is_primary"), Some(&FieldValue::Bool(true)));
        assert_eq!(stored.text("title"), Some("经理"));
    }

    fn kept_and_cleared_fields_mix_in_one_batch(db) {
        let mut a = customer("A");
        set(&mut a, "phone", text("010-1"));
        set(&mut a, "remarks", text("甲"));
        let mut b = customer("B");
        set(&mut b, "phone", text("020-1"));
        set(&mut b, "remarks", text("乙"));
        db.store.write(&batch(Module::Customers, vec![a, b]), ImportMode::Insert).unwrap();
        let keep = |record: &mut Record, key: &str| record.keep_stored(record.module().index_of(key));

        // One record keeps 备注, the other clears it: the write cannot keep it by itself, so
        // the stored records are read and merged.
        let mut a = customer("A");
        keep(&mut a, "remarks");
        keep(&mut a, "phone");
        let mut b = customer("B");
        set(&mut b, "remarks", None);
        keep(&mut b, "phone");
        db.store.write(&batch(Module::Customers, vec![a, b]), ImportMode::Upsert).unwrap();
        let stored = all_customers(&db.store);
        assert_eq!((stored[0].text("remarks"), stored[1].get("remarks")), (Some("甲"), None));
        assert_eq!((stored[0].text("phone"), stored[1].text("phone")), (Some("010-1"), Some("020-1")));

        // Uniform: a NULL in a kept column always keeps (the write keeps it by itself), and a
        // value in it overwrites.
        let mut a = customer("A");
        keep(&mut a, "phone");
        set(&mut a, "level", text("VIP"));
        keep(&mut a, "remarks");
        let mut b = customer("B");
        set(&mut b, "phone", text("020-2"));
        keep(&mut b, "level");
        set(&mut b, "remarks", text("乙2"));
        db.store.write(&batch(Module::Customers, vec![a, b]), ImportMode::Update).unwrap();
        let stored = all_customers(&db.store);
        assert_eq!((stored[0].text("phone"), stored[1].text("phone")), (Some("010-1"), Some("020-2")));
        assert_eq!((stored[0].text("level"), stored[1].get("level")), (Some("VIP"), None));
        assert_eq!((stored[0].text("remarks"), stored[1].text("remarks")), (Some("甲"), Some("乙2")));

        // A required field kept (a partial record without the name): read and merged, since
        // the proposed row could not carry its NULL.
        let mut a = customer("A");
        keep(&mut a, "name");
        set(&mut a, "industry", text("制造业"));
        db.store.write(&batch(Module::Customers, vec![a]), ImportMode::Upsert).unwrap();
        let stored = all_customers(&db.store);
        assert_eq!((stored[0].text("name"), stored[0].text("industry")), (Some("A 有限公司"), Some("制造业")));
    }

    fn before_images_restore_every_kind_of_value(db) {
        // Twice: records that keep nothing (the database compares), and records that keep
        // remarks: the opportunity alone, kept by the write itself (the database compares);
        // the contacts mixed with one that clears it (their stored records are read, and
        // compared in Rust).
        for (job, keeps) in [(41, false), (42, true)] {
            let all = |store: &Store, module| store.page(&Filter::all(module), None, 100).unwrap().into_vec();
            let code = |c: &str| format!("{c}-{job}");
            db.store.write(&customers(&[&code("A"), &code("B")]), ImportMode::Insert).unwrap();
            let mut p1 = contact(&code("P1"), &code("A"));
            set(&mut p1, "title", text("经理 \"甲\"\n二行"));
            set(&mut p1, "is_primary", Some(FieldValue::Bool(true)));
            set(&mut p1, "remarks", text("保留"));
            let mut o1 = opportunity(&code("O1"), &code("A"));
            set(&mut o1, "amount", Some(FieldValue::Cents(-12_345)));
            set(&mut o1, "expected_close_date", on(date(2027, 3, 31)));
            db.store.write(&batch(Module::Contacts, vec![p1]), ImportMode::Insert).unwrap();
            db.store.write(&batch(Module::Opportunities, vec![o1]), ImportMode::Insert).unwrap();
            let before = (all(&db.store, Module::Contacts), all(&db.store, Module::Opportunities));

            // Every kind changes: text to text and to empty, empty to text, a bool, a
            // reference, cents, a date.
            let mut p1 = contact(&code("P1"), &code("B"));
            set(&mut p1, "title", None);
            set(&mut p1, "email", text("new@example.com"));
            set(&mut p1, "is_primary", Some(FieldValue::Bool(false)));
            let mut o1 = opportunity(&code("O1"), &code("A"));
            set(&mut o1, "amount", None);
            set(&mut o1, "expected_close_date", on(date(2028, 1, 1)));
            set(&mut o1, "owner", text("王五's \\ 'quote'"));
            if keeps {
                p1.keep_stored(Module::Contacts.index_of("remarks"));
                o1.keep_stored(Module::Opportunities.index_of("remarks"));
            }
            let mut tx = db.store.begin_write().unwrap();
            let contacts = batch(Module::Contacts, vec![p1, contact(&code("P2"), &code("A"))]);
            tx.write_logged(&contacts, ImportMode::Upsert, Some(job)).unwrap();
            tx.write_logged(&batch(Module::Opportunities, vec![o1]), ImportMode::Upsert, Some(job)).unwrap();
            tx.commit().unwrap();
            assert_eq!(db.store.revert_remaining(job).unwrap(), 3, "P1 and O1 updated, P2 created");
            assert_ne!(all(&db.store, Module::Contacts), before.0);

            let mut below = i64::MAX;
            while let Some(step) = db.store.revert_step(job, below, false, false).unwrap() {
                assert!(step.conflicts.is_empty(), "{:?}", step.conflicts);
                below = step.change_id;
            }
            assert_eq!((all(&db.store, Module::Contacts), all(&db.store, Module::Opportunities)), before, "keeps: {keeps}");
        }
    }

    fn a_logged_import_reverts_to_the_exact_prior_state(db) {
        let logged = |store: &Store, records: Records, mode: ImportMode, job: i64| {
            let mut tx = store.begin_write().unwrap();
            let outcome = tx.write_logged(&records, mode, Some(job)).unwrap();
            tx.commit().unwrap();
            outcome
        };
        let revert = |store: &Store, job: i64, force: bool, dry_run: bool| {
            let mut steps = Vec::new();
            let mut below = i64::MAX;
            while let Some(step) = store.revert_step(job, below, force, dry_run).unwrap() {
                below = step.change_id;
                steps.push(step);
            }
            steps
        };
        let mut a = customer("A");
        set(&mut a, "phone", text("010-1"));
        set(&mut a, "contract_amount", Some(FieldValue::Cents(100)));
        db.store.write(&batch(Module::Customers, vec![a, customer("B"), customer("C")]), ImportMode::Insert).unwrap();
        let before = all_customers(&db.store);

        // Job 1 upserts A (two fields change), B (nothing changes), creates N1 and N2 in two
        // batches; N1 gets a contact.
        let mut a2 = customer("A");
        set(&mut a2, "phone", text("010-2"));
        set(&mut a2, "contract_amount", None);
        logged(&db.store, batch(Module::Customers, vec![a2, customer("B"), customer("N1")]), ImportMode::Upsert, 1);
        logged(&db.store, batch(Module::Customers, vec![customer("N2"), customer("N3")]), ImportMode::Upsert, 1);
        db.store.write(&batch(Module::Contacts, vec![contact("P1", "N1")]), ImportMode::Insert).unwrap();
        // Changed after the import: N3 by someone else.
        let mut n3 = customer("N3");
        set(&mut n3, "remarks", text("later"));
        db.store.write(&batch(Module::Customers, vec![n3]), ImportMode::Update).unwrap();
        assert_eq!(db.store.revert_remaining(1).unwrap(), 4, "A, N1, N2, N3 and nothing for B");

        // A dry run says what would happen and changes nothing.
        let planned = revert(&db.store, 1, false, true);
        assert_eq!(planned.iter().map(|s| (s.deleted, s.restored)).fold((0, 0), |t, s| (t.0 + s.0, t.1 + s.1)), (1, 1));
        assert_eq!(all_customers(&db.store).len(), 6);

        let steps = revert(&db.store, 1, false, false);
        let (deleted, restored) = steps.iter().fold((0, 0), |t, s| (t.0 + s.deleted, t.1 + s.restored));
        assert_eq!((deleted, restored), (1, 1), "N2 deleted, A restored");
        let conflicts: Vec<(String, &'static str)> = steps
            .iter()
            .flat_map(|s| s.conflicts.iter())
            .map(|(code, why)| {
                (code.clone(), match why {
                    RevertConflict::ChangedSince { .. } => "changed",
                    RevertConflict::Referenced { by: Module::Contacts, code } if code == "P1" => "referenced",
                    other => panic!("{other:?}"),
                })
            })
            .collect();
        assert_eq!(conflicts, [("N3".to_owned(), "changed"), ("N1".to_owned(), "referenced")]);
        let after = all_customers(&db.store);
        assert_eq!(after.iter().map(|c| c.code()).collect::<Vec<_>>(), ["A", "B", "C", "N1", "N3"]);
        assert_eq!(after[..3], before[..], "A, B and C exactly as before the import");
        assert_eq!(db.store.revert_remaining(1).unwrap(), 2, "what was left alone can still be forced");

        // Forced: N3 goes; N1 stays while P1 references it.
        let steps = revert(&db.store, 1, true, false);
        assert_eq!(steps.iter().map(|s| s.deleted).sum::<u64>(), 1);
        assert_eq!(all_customers(&db.store).len(), 4);
        assert_eq!(db.store.revert_remaining(1).unwrap(), 1);

        // Undoing newest first meets no conflict of its own making: a restore puts back the
        // record's updated_at as well.
        logged(&db.store, customers(&["U1"]), ImportMode::Insert, 3);
        let mut u1 = customer("U1");
        set(&mut u1, "remarks", text("job 4"));
        logged(&db.store, batch(Module::Customers, vec![u1]), ImportMode::Update, 4);
        let undo4 = revert(&db.store, 4, false, false);
        assert_eq!((undo4[0].restored, undo4[0].conflicts.len()), (1, 0));
        let undo3 = revert(&db.store, 3, false, false);
        assert_eq!((undo3[0].deleted, undo3[0].conflicts.len()), (1, 0), "{undo3:?}");
    }

    fn plan_reports_what_a_write_would_do_and_writes_nothing(db) {
        db.store.write(&customers(&["A"]), ImportMode::Insert).unwrap();
        let plan = db.store.plan(&customers(&["A", "B"]), ImportMode::Upsert).unwrap();
        assert_eq!((plan.created, plan.updated), (1, 1));
        let plan = db.store.plan(&customers(&["A", "B"]), ImportMode::Insert).unwrap();
        assert_eq!((plan.created, plan.skipped_existing.clone()), (1, vec!["A".to_owned()]));
        let plan = db.store.plan(&batch(Module::Contacts, vec![contact("X", "NOPE")]), ImportMode::Insert).unwrap();
        assert_eq!(plan.unknown_reference, ["X"]);
        assert_eq!(db.store.count(&Filter::all(Module::Customers)).unwrap(), 1);
        assert_eq!(db.store.count(&Filter::all(Module::Contacts)).unwrap(), 0);
    }

    fn unknown_customer_references_are_reported_not_written(db) {
        db.store.write(&customers(&["C1"]), ImportMode::Insert).unwrap();
        let contacts = batch(Module::Contacts, vec![contact("K1", "C1"), contact("K2", "MISSING"), contact("K3", "C1")]);
        let outcome = db.store.write(&contacts, ImportMode::Insert).unwrap();
        assert_eq!(outcome.created, 2);
        assert_eq!(outcome.unknown_reference, ["K2"]);
        let opportunities = batch(Module::Opportunities, vec![opportunity("O1", "GONE"), opportunity("O2", "C1")]);
        let outcome = db.store.write(&opportunities, ImportMode::Upsert).unwrap();
        assert_eq!((outcome.created, outcome.unknown_reference.clone()), (1, vec!["O1".to_owned()]));
        assert_eq!(db.store.missing_customer_codes(&["C1", "X", "X", "Y"]).unwrap(), HashSet::from(["X".to_owned(), "Y".to_owned()]));
    }

    fn batches_larger_than_the_bind_limit_are_split(db) {
        // 13 columns × 7000 rows is far above SQLite's 32766 and PostgreSQL's 65535 binds.
        let codes: Vec<String> = (0..7000).map(|i| format!("BULK{i:05}")).collect();
        let refs: Vec<&str> = codes.iter().map(String::as_str).collect();
        let outcome = db.store.write(&customers(&refs), ImportMode::Insert).unwrap();
        assert_eq!(outcome.created, 7000);
        let outcome = db.store.write(&customers(&refs), ImportMode::Upsert).unwrap();
        assert_eq!(outcome.updated, 7000);
        // existing_codes splits its IN lists too.
        let mut probe = refs.clone();
        let extra: Vec<String> = (0..40_000).map(|i| format!("NONE{i}")).collect();
        probe.extend(extra.iter().map(String::as_str));
        assert_eq!(db.store.existing_codes(Module::Customers, &probe).unwrap().len(), 7000);
    }

    fn filters_and_keyset_pages(db) {
        let mut rows = Vec::new();
        for i in 0..30 {
            let mut c = customer(&format!("C{i:02}"));
            set(&mut c, "level", text(["VIP", "重要", "普通"][i % 3]));
            set(&mut c, "follow_up_status", text(["待跟进", "跟进中"][i % 2]));
            set(&mut c, "owner", text(["张伟", "王芳"][i % 2]));
            set(&mut c, "industry", text("金融"));
            set(&mut c, "created_at", on(date(2023, 1, 1 + i as u32)));
            set(&mut c, "name", text(if i == 7 { "50%_特殊 公司".to_owned() } else { format!("公司{i}") }));
            rows.push(c);
        }
        db.store.write(&batch(Module::Customers, rows), ImportMode::Insert).unwrap();

        let vip_waiting_zhang = Filter::Customers(CustomerFilter {
            levels: vec!["VIP".into()],
            follow_up_statuses: vec!["待跟进".into()],
            owners: vec!["张伟".into()],
            ..CustomerFilter::default()
        });
        // i % 3 == 0 and i % 2 == 0: 0, 6, 12, 18, 24
        assert_eq!(db.store.count(&vip_waiting_zhang).unwrap(), 5);

        let range = Filter::Customers(CustomerFilter {
            created_at: DateRange { from: Some(date(2023, 1, 5)), to: Some(date(2023, 1, 9)) },
            ..CustomerFilter::default()
        });
        assert_eq!(db.store.count(&range).unwrap(), 5);

        let literal = Filter::Customers(CustomerFilter { name_contains: Some("50%_".into()), ..CustomerFilter::default() });
        assert_eq!(db.store.count(&literal).unwrap(), 1);
        let wildcard_only = Filter::Customers(CustomerFilter { name_contains: Some("%".into()), ..CustomerFilter::default() });
        assert_eq!(db.store.count(&wildcard_only).unwrap(), 1, "% is matched literally");

        let codes = Filter::Customers(CustomerFilter { codes: vec!["C03".into(), "C29".into(), "ZZ".into()], ..CustomerFilter::default() });
        assert_eq!(db.store.count(&codes).unwrap(), 2);

        // Keyset pages of 7 cover every row once, in code order.
        let all = Filter::all(Module::Customers);
        let mut seen = Vec::new();
        let mut after: Option<String> = None;
        loop {
            let page = db.store.page(&all, after.as_deref(), 7).unwrap();
            if page.is_empty() {
                break;
            }
            seen.extend(page.codes().into_iter().map(str::to_owned));
            after = page.last_code().map(str::to_owned);
        }
        let expected: Vec<String> = (0..30).map(|i| format!("C{i:02}")).collect();
        assert_eq!(seen, expected);
    }

    fn an_export_snapshot_sees_only_what_was_committed_before_it_began(db) {
        let codes: Vec<String> = (0..30).map(|i| format!("C{i:02}")).collect();
        let refs: Vec<&str> = codes.iter().map(String::as_str).collect();
        db.store.write(&customers(&refs), ImportMode::Insert).unwrap();
        let all = Filter::all(Module::Customers);

        // The count is the snapshot's first read: it fixes what every page will see.
        let mut snapshot = db.store.export_snapshot(&all, None).unwrap();
        assert_eq!(snapshot.total(), 30);
        // Committed after the count, before any page: new codes before, between and after the
        // pages to come, and an overwrite of a record not read yet.
        db.store.write(&customers(&["B", "C00A", "C10A", "C29A", "D00"]), ImportMode::Insert).unwrap();
        let mut renamed = customer("C20");
        set(&mut renamed, "name", text("改名后"));
        db.store.write(&batch(Module::Customers, vec![renamed]), ImportMode::Upsert).unwrap();
        let mut seen: Vec<Record> = snapshot.next_page(7).unwrap().into_vec();
        // And after the first page.
        db.store.write(&customers(&["C15A", "Z"]), ImportMode::Insert).unwrap();
        loop {
            let page = snapshot.next_page(7).unwrap();
            if page.is_empty() {
                break;
            }
            seen.extend(page.into_vec());
        }
        assert_eq!(db.store.count(&all).unwrap(), 37, "the writes committed meanwhile");
        let seen_codes: Vec<&str> = seen.iter().map(Record::code).collect();
        assert_eq!(seen_codes, refs, "exactly the 30 records counted, in code order");
        assert_eq!(seen.len() as u64, snapshot.total());
        assert_eq!(seen[20].text("name"), Some("C20 有限公司"), "the record as it was when the snapshot began");
        assert!(snapshot.next_page(7).unwrap().is_empty(), "an ended snapshot stays ended");
        drop(snapshot);

        // A new snapshot sees them all; `after_code` starts strictly after the code, and the
        // count respects it and the filter together.
        let mut later = db.store.export_snapshot(&all, Some("C29")).unwrap();
        assert_eq!(later.total(), 3);
        assert_eq!(later.next_page(100).unwrap().codes(), ["C29A", "D00", "Z"]);
        let some = Filter::Customers(CustomerFilter {
            codes: vec!["C05".into(), "C10A".into(), "C15".into(), "C20".into()],
            ..CustomerFilter::default()
        });
        let mut filtered = db.store.export_snapshot(&some, Some("C05")).unwrap();
        assert_eq!(filtered.total(), 3);
        let page = filtered.next_page(2).unwrap();
        assert_eq!(page.codes(), ["C10A", "C15"]);
        assert_eq!(page.get(0).and_then(|r| r.text("code")), Some("C10A"));
        let last = filtered.next_page(2).unwrap();
        assert_eq!(last.codes(), ["C20"]);
        assert_eq!(last.get(0).and_then(|r| r.text("name")), Some("改名后"));
        assert!(filtered.next_page(2).unwrap().is_empty());
        let mut nothing = db.store.export_snapshot(&all, Some("ZZ")).unwrap();
        assert_eq!(nothing.total(), 0);
        assert!(nothing.next_page(10).unwrap().is_empty());
    }

    fn export_snapshots_have_connections_of_their_own(db) {
        db.store.write(&customers(&["A", "B", "C"]), ImportMode::Insert).unwrap();
        let store = Store::open_with(
            &db.url,
            &StoreOptions {
                max_connections: 1,
                export_connections: 1,
                busy_timeout: std::time::Duration::from_millis(300),
                ..StoreOptions::default()
            },
        )
        .expect("open a store with one export connection");
        let all = Filter::all(Module::Customers);
        let mut first = store.export_snapshot(&all, None).unwrap();
        assert_eq!(first.next_page(2).unwrap().len(), 2);
        // The export connection is taken: another export waits, then is told why.
        let started = std::time::Instant::now();
        let err = store.export_snapshot(&all, None).unwrap_err();
        assert!(matches!(err, StoreError::Busy(_)), "{err:?}");
        assert!(err.to_string().contains("export connections"), "{err}");
        assert!(started.elapsed() >= std::time::Duration::from_millis(250));
        // Everything else still has its connections while the export is open.
        assert_eq!(store.count(&all).unwrap(), 3);
        store.write(&customers(&["D"]), ImportMode::Insert).unwrap();
        assert_eq!(store.existing_codes(Module::Customers, &["A", "D"]).unwrap().len(), 2);
        // The last (short) page gives the connection back, before the snapshot is dropped.
        assert_eq!(first.next_page(2).unwrap().codes(), ["C"]);
        let mut second = store.export_snapshot(&all, None).unwrap();
        assert_eq!(second.total(), 4);
        drop(first);
        assert_eq!(second.next_page(10).unwrap().len(), 4);
    }

    fn a_csv_copy_streams_a_postgresql_snapshot_filtered_or_not(db) {
        let codes: Vec<String> = (0..300).map(|i| format!("C{i:03}")).collect();
        let refs: Vec<&str> = codes.iter().map(String::as_str).collect();
        db.store.write(&customers(&refs), ImportMode::Insert).unwrap();
        let store = Store::open_with(&db.url, &StoreOptions { export_connections: 1, ..StoreOptions::default() })
            .expect("open a store with one export connection");
        let all = Filter::all(Module::Customers);
        let keys = ["name", "contract_amount"];
        let mut snapshot = store.export_snapshot(&all, Some("C099")).unwrap();
        let Some(copy) = snapshot.csv_copy(&keys) else {
            assert_eq!(db.store.backend(), Backend::Sqlite, "PostgreSQL exports every record by COPY");
            return;
        };
        assert!(copy.leading_code(), "the keys lack code, so the copy leads with it");
        // Committed after the count: not in the copy.
        store.write(&customers(&["C150A"]), ImportMode::Insert).unwrap();
        let mut text = String::new();
        snapshot.copy_csv(copy, |rows| rows.read_to_string(&mut text).unwrap()).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len() as u64, snapshot.total());
        assert_eq!(lines.len(), 200);
        assert_eq!(lines[0], "C100,C100 有限公司,");
        assert!(lines.iter().all(|l| !l.starts_with("C150A")));
        assert!(snapshot.next_page(10).unwrap().is_empty(), "the copy ended the snapshot");

        // A filter's records: the same ones the count and the pages select, after the start.
        let some = Filter::Customers(CustomerFilter {
            codes: vec!["C001".into(), "C150".into(), "C150A".into(), "C299".into(), "X".into()],
            ..CustomerFilter::default()
        });
        let mut filtered = store.export_snapshot(&some, Some("C001")).unwrap();
        assert_eq!(filtered.total(), 3);
        let copy = filtered.csv_copy(&["code"]).unwrap();
        let codes = filtered.copy_csv(copy, |rows| rows.lines().map(Result::unwrap).collect::<Vec<_>>()).unwrap();
        assert_eq!(codes, ["C150", "C150A", "C299"]);
        // Only before a page was read.
        let mut paged = store.export_snapshot(&all, None).unwrap();
        assert_eq!(paged.next_page(1).unwrap().len(), 1);
        assert!(paged.csv_copy(&keys).is_none());
        drop(paged);

        // A reader that stops early leaves the COPY unfinished: the pool's only export
        // connection is discarded, and the next export gets a fresh one.
        let mut stopped = store.export_snapshot(&all, None).unwrap();
        let copy = stopped.csv_copy(&["code"]).unwrap();
        let first = stopped.copy_csv(copy, |rows| rows.fill_buf().unwrap().first().copied()).unwrap();
        assert_eq!(first, Some(b'C'));
        drop(stopped);
        let mut next = store.export_snapshot(&all, None).unwrap();
        assert_eq!(next.total(), 301);
        let copy = next.csv_copy(&["code"]).unwrap();
        assert!(!copy.leading_code());
        let lines = next.copy_csv(copy, |rows| rows.lines().count()).unwrap();
        assert_eq!(lines, 301);
    }

    fn contact_and_opportunity_filters(db) {
        let mut a = customer("A");
        set(&mut a, "owner", text("张伟"));
        let mut b = customer("B");
        set(&mut b, "owner", text("王芳"));
        db.store.write(&batch(Module::Customers, vec![a, b]), ImportMode::Insert).unwrap();
        let mut k2 = contact("K2", "B");
        set(&mut k2, "name", text("赵敏"));
        db.store.write(&batch(Module::Contacts, vec![contact("K1", "A"), k2, contact("K3", "A")]), ImportMode::Insert).unwrap();
        let by_owner = Filter::Contacts(ContactFilter { customer_owners: vec!["张伟".into()], ..ContactFilter::default() });
        assert_eq!(db.store.page(&by_owner, None, 10).unwrap().codes(), ["K1", "K3"]);
        let by_name = Filter::Contacts(ContactFilter { name_contains: Some("赵".into()), ..ContactFilter::default() });
        assert_eq!(db.store.count(&by_name).unwrap(), 1);

        let mut o1 = opportunity("O1", "A");
        set(&mut o1, "stage", text("赢单"));
        set(&mut o1, "expected_close_date", on(date(2024, 6, 30)));
        set(&mut o1, "owner", text("张伟"));
        let mut o2 = opportunity("O2", "B");
        set(&mut o2, "stage", text("输单"));
        set(&mut o2, "expected_close_date", on(date(2024, 7, 1)));
        db.store.write(&batch(Module::Opportunities, vec![o1, o2]), ImportMode::Insert).unwrap();
        let june = Filter::Opportunities(OpportunityFilter {
            expected_close_date: DateRange { from: None, to: Some(date(2024, 6, 30)) },
            ..OpportunityFilter::default()
        });
        assert_eq!(db.store.page(&june, None, 10).unwrap().codes(), ["O1"]);
        let stage = Filter::Opportunities(OpportunityFilter {
            stages: vec!["输单".into()],
            customer_codes: vec!["B".into()],
            ..OpportunityFilter::default()
        });
        assert_eq!(db.store.count(&stage).unwrap(), 1);
    }

    /// PostgreSQL tries an INSERT batch as one COPY into the table first; a stored code or an
    /// unknown customer late in the batch fails that COPY, and the rows it had copied must not
    /// stay: every count exact, the transaction still usable, each module's fallback correct.
    fn an_insert_that_meets_a_stored_code_late_in_the_batch_writes_each_row_once(db) {
        db.store.write(&customers(&["Z-STORED"]), ImportMode::Insert).unwrap();
        let codes: Vec<String> = (0..1000).map(|i| format!("Z{i:03}")).collect();
        let codes: Vec<&str> = codes.iter().map(String::as_str).collect();
        let mut tx = db.store.begin_write().unwrap();
        let fresh = tx.write(&customers(&codes[..500]), ImportMode::Insert).unwrap();
        assert_eq!((fresh.created, fresh.skipped_existing.len()), (500, 0));
        let mut late: Vec<&str> = codes[500..].to_vec();
        late.push("Z-STORED");
        let outcome = tx.write(&customers(&late), ImportMode::Insert).unwrap();
        assert_eq!((outcome.created, outcome.skipped_existing), (500, vec!["Z-STORED".to_owned()]));
        let mut refs: Vec<Record> = (0..300).map(|i| contact(&format!("K{i}"), codes[i])).collect();
        refs.push(contact("K-LOST", "NO-SUCH-CUSTOMER"));
        let contacts = tx.write(&batch(Module::Contacts, refs), ImportMode::Insert).unwrap();
        assert_eq!((contacts.created, contacts.unknown_reference), (300, vec!["K-LOST".to_owned()]));
        tx.commit().unwrap();
        assert_eq!(db.store.count(&Filter::all(Module::Customers)).unwrap(), 1001);
        assert_eq!(db.store.count(&Filter::all(Module::Contacts)).unwrap(), 300);
        // UPSERT the same way: new codes are created, a stored one late in the batch is updated,
        // and the logged job's revert knows which is which.
        let tx_write_logged = |store: &Store, records: Records, mode: ImportMode, job: i64| {
            let mut tx = store.begin_write().unwrap();
            let outcome = tx.write_logged(&records, mode, Some(job)).unwrap();
            tx.commit().unwrap();
            outcome
        };
        let mut upsert: Vec<Record> = customers(&["U1", "U2", "Z000"]).into_vec();
        set(&mut upsert[2], "name", text("upserted Z000"));
        let outcome = tx_write_logged(&db.store, batch(Module::Customers, upsert), ImportMode::Upsert, 77);
        assert_eq!((outcome.created, outcome.updated), (2, 1));
        assert_eq!(db.store.revert_remaining(77).unwrap(), 3);
        let fresh = tx_write_logged(&db.store, customers(&["U3", "U4"]), ImportMode::Upsert, 78);
        assert_eq!((fresh.created, fresh.updated), (2, 0));
        assert_eq!(db.store.revert_remaining(78).unwrap(), 2);
        assert_eq!(db.store.count(&Filter::all(Module::Customers)).unwrap(), 1005);
        // And rolled back as a whole, fast path and fallback alike.
        let mut tx = db.store.begin_write().unwrap();
        tx.write(&customers(&["Y1", "Y2"]), ImportMode::Insert).unwrap();
        tx.write(&customers(&["Y3", "Z000"]), ImportMode::Insert).unwrap();
        tx.rollback().unwrap();
        assert_eq!(db.store.count(&Filter::all(Module::Customers)).unwrap(), 1005);
    }

    fn a_write_transaction_commits_or_rolls_back_as_a_whole(db) {
        let mut tx = db.store.begin_write().unwrap();
        tx.write(&customers(&["T1", "T2"]), ImportMode::Insert).unwrap();
        assert_eq!(tx.existing_codes(Module::Customers, &["T1", "T3"]).unwrap(), HashSet::from(["T1".to_owned()]));
        tx.write(&batch(Module::Contacts, vec![contact("K", "T1")]), ImportMode::Insert).unwrap();
        tx.rollback().unwrap();
        assert_eq!(db.store.count(&Filter::all(Module::Customers)).unwrap(), 0);

        let mut tx = db.store.begin_write().unwrap();
        tx.write(&customers(&["T1"]), ImportMode::Insert).unwrap();
        tx.commit().unwrap();
        // Dropping an uncommitted transaction rolls it back and frees the writer.
        {
            let mut tx = db.store.begin_write().unwrap();
            tx.write(&customers(&["T9"]), ImportMode::Insert).unwrap();
        }
        db.store.write(&customers(&["T2"]), ImportMode::Insert).unwrap();
        let codes: Vec<String> = all_customers(&db.store).iter().map(|c| c.code().to_owned()).collect();
        assert_eq!(codes, ["T1", "T2"]);
    }

    fn concurrent_writers_wait_their_turn(db) {
        // Eight threads write at once; none may fail with "database is locked".
        std::thread::scope(|scope| {
            for t in 0..8 {
                let store = db.store.clone();
                scope.spawn(move || {
                    for b in 0..10 {
                        let codes: Vec<String> = (0..200).map(|i| format!("W{t}_{b}_{i}")).collect();
                        let refs: Vec<&str> = codes.iter().map(String::as_str).collect();
                        store.write(&customers(&refs), ImportMode::Insert).expect("concurrent write");
                    }
                });
            }
        });
        assert_eq!(db.store.count(&Filter::all(Module::Customers)).unwrap(), 8 * 10 * 200);
    }

    fn jobs_are_created_finished_listed_and_paged(db) {
        let first = db.store.create_job(&new_job(Module::Customers, "fair-import")).unwrap();
        assert_eq!(first.status, JobStatus::Running);
        assert_eq!(first.counts, JobCounts::default());
        assert_eq!(first.file_name, "客户.csv");
        let counts = JobCounts { rows_read: 10, created: 7, updated: 0, skipped: 1, failed: 2, bytes_read: 999 };
        db.store.update_job_progress(first.id, &counts).unwrap();
        assert_eq!(db.store.get_job(first.id).unwrap().unwrap().counts, counts);
        let finished = db
            .store
            .finish_job(
                first.id,
                &JobFinish {
                    modules: Vec::new(),
                    status: JobStatus::PartiallySucceeded,
                    counts,
                    file_size: Some(999),
                    sha256: Some("ab".repeat(32)),
                    error_code: None,
                    error_message: None,
                    committed_watermark: None,
                },
            )
            .unwrap();
        assert_eq!(finished.status, JobStatus::PartiallySucceeded);
        assert!(finished.finished_at.is_some());

        let second = db.store.create_job(&new_job(Module::Contacts, "x")).unwrap();
        let failed = db
            .store
            .finish_job(
                second.id,
                &JobFinish {
                    modules: Vec::new(),
                    status: JobStatus::Failed,
                    counts: JobCounts::default(),
                    file_size: Some(10),
                    sha256: None,
                    error_code: Some(ErrorCode::HeaderMismatch),
                    error_message: Some("column 2 is missing".into()),
                    committed_watermark: None,
                },
            )
            .unwrap();
        assert_eq!(failed.error_code, Some(ErrorCode::HeaderMismatch));
        assert_eq!(db.store.get_job(second.id).unwrap().unwrap().error_message.as_deref(), Some("column 2 is missing"));
        let third = db.store.create_job(&new_job(Module::Customers, "y")).unwrap();
        assert!(third.id > second.id && second.id > first.id);

        let all = db.store.list_jobs(&JobQuery::default()).unwrap();
        assert_eq!(all.iter().map(|j| j.id).collect::<Vec<_>>(), [third.id, second.id, first.id]);
        let customers_only = JobQuery { module: Some(dataport_core::ModuleScope::One(Module::Customers)), ..JobQuery::default() };
        assert_eq!(db.store.list_jobs(&customers_only).unwrap().len(), 2);
        let partial = JobQuery { status: Some(JobStatus::PartiallySucceeded), ..JobQuery::default() };
        assert_eq!(db.store.list_jobs(&partial).unwrap()[0].id, first.id);
        let page = JobQuery { before_id: Some(third.id), limit: 1, ..JobQuery::default() };
        assert_eq!(db.store.list_jobs(&page).unwrap()[0].id, second.id);
        let future = Utc.with_ymd_and_hms(2999, 1, 1, 0, 0, 0).unwrap();
        let later = JobQuery { started_after: Some(future), ..JobQuery::default() };
        assert!(db.store.list_jobs(&later).unwrap().is_empty());
        let earlier = JobQuery { started_before: Some(future), ..JobQuery::default() };
        assert_eq!(db.store.list_jobs(&earlier).unwrap().len(), 3);

        let missing = db.store.finish_job(
            first.id + 1000,
            &JobFinish { modules: Vec::new(), status: JobStatus::Failed, counts, file_size: None, sha256: None, error_code: None, error_message: None, committed_watermark: None },
        );
        assert!(matches!(missing, Err(StoreError::NotFound { .. })), "{missing:?}");
    }

    fn row_errors_persist_in_bulk_and_page_by_row(db) {
        let job = db.store.create_job(&new_job(Module::Customers, "t")).unwrap();
        // 5000 errors (more than one statement's worth), two per row for rows 2..=2501.
        let mut errors = Vec::new();
        for row in 2..2502 {
            errors.push(row_error(row, "code"));
            errors.push(row_error(row, "name"));
        }
        db.store.insert_row_errors(job.id, &errors).unwrap();
        assert_eq!(db.store.count_row_errors(job.id).unwrap(), 5000);

        // A page of 3 is extended so that row 3's second error is not cut off.
        let page = db.store.row_errors(job.id, None, 3).unwrap();
        assert_eq!(page.iter().map(|e| (e.row, e.field.as_str())).collect::<Vec<_>>(), [
            (2, "code"),
            (2, "name"),
            (3, "code"),
            (3, "name")
        ]);
        assert_eq!(page[0], errors[0]);
        let next = db.store.row_errors(job.id, Some(3), 2).unwrap();
        assert_eq!(next[0].row, 4);

        let mut all = Vec::new();
        let mut after = None;
        loop {
            let page = db.store.row_errors(job.id, after, 999).unwrap();
            let Some(last) = page.last() else { break };
            after = Some(last.row);
            all.extend(page);
        }
        assert_eq!(all, errors);

        let orphan = db.store.insert_row_errors(job.id + 1000, &errors[..1]);
        assert!(matches!(orphan, Err(StoreError::NotFound { .. })), "{orphan:?}");
    }

    fn a_workbook_job_keeps_its_counts_per_module(db) {
        use dataport_core::ModuleScope;
        use dataport_store::ModuleCounts;
        let job = db.store.create_job(&NewImportJob { module: ModuleScope::Workbook, ..new_job(Module::Customers, "t") }).unwrap();
        assert_eq!((job.module, job.modules.len()), (ModuleScope::Workbook, 0));
        let sheet = |module, sheet: &str, created| ModuleCounts {
            module,
            sheet: sheet.into(),
            counts: JobCounts { rows_read: created + 1, created, failed: 1, ..JobCounts::default() },
        };
        let modules = vec![sheet(Module::Customers, "客户", 2), sheet(Module::Contacts, "Contacts", 5)];
        let watermark = ModuleScope::Workbook.job_row(Module::Contacts, 7);
        let advance = JobAdvance { rows_read: 9, created: 7, failed: 2, watermark, modules: modules.clone(), ..JobAdvance::default() };
        let mut tx = db.store.begin_write().unwrap();
        tx.advance_job(job.id, &advance).unwrap();
        tx.commit().unwrap();
        let stored = db.store.get_job(job.id).unwrap().unwrap();
        assert_eq!((stored.modules.clone(), stored.watermark), (modules.clone(), watermark));
        assert_eq!(ModuleScope::Workbook.sheet_row(stored.watermark), (Module::Contacts, 7));
        // A batch that names no sheets leaves them alone; the end writes them as they ended.
        let mut tx = db.store.begin_write().unwrap();
        tx.advance_job(job.id, &JobAdvance { watermark, ..JobAdvance::default() }).unwrap();
        tx.commit().unwrap();
        assert_eq!(db.store.get_job(job.id).unwrap().unwrap().modules, modules);
        let ended = vec![sheet(Module::Customers, "客户", 0), sheet(Module::Contacts, "Contacts", 0)];
        let counts = JobCounts { rows_read: 9, failed: 2, ..JobCounts::default() };
        let done = db.store.finish_job(job.id, &JobFinish { modules: ended.clone(), status: JobStatus::Failed, counts, file_size: None, sha256: None, error_code: None, error_message: None, committed_watermark: None }).unwrap();
        assert_eq!(done.modules, ended);
        // Listed by scope: a one-module filter leaves workbook jobs out, MODULE_ALL finds them.
        let one = db.store.create_job(&new_job(Module::Customers, "t")).unwrap();
        let listed = |module| db.store.list_jobs(&JobQuery { module: Some(module), ..JobQuery::default() }).unwrap();
        assert_eq!(listed(ModuleScope::Workbook).iter().map(|j| j.id).collect::<Vec<_>>(), [job.id]);
        assert_eq!(listed(ModuleScope::One(Module::Customers)).iter().map(|j| j.id).collect::<Vec<_>>(), [one.id]);
        assert!(one.modules.is_empty());
    }

    fn batches_advance_only_the_jobs_their_store_owns(db) {
        let job = db.store.create_job(&new_job(Module::Customers, "t")).unwrap();
        let advance = JobAdvance { rows_read: 3, created: 2, failed: 1, watermark: 4, ..JobAdvance::default() };
        let mut tx = db.store.begin_write().unwrap();
        assert!(!tx.advance_job(job.id, &advance).unwrap(), "no cancel was requested");
        tx.commit().unwrap();
        let stored = db.store.get_job(job.id).unwrap().unwrap();
        assert_eq!((stored.counts.rows_read, stored.counts.created, stored.counts.failed, stored.watermark), (3, 2, 1, 4));

        // Another replica's batch for this job is refused and rolls back.
        let other = db.replica(std::time::Duration::from_secs(15));
        assert_ne!(other.lease().owner, db.store.lease().owner);
        let mut tx = other.begin_write().unwrap();
        let refused = tx.advance_job(job.id, &advance);
        assert!(matches!(refused, Err(StoreError::JobNotRunning { id }) if id == job.id), "{refused:?}");
        tx.rollback().unwrap();

        // A cancel requested from anywhere reaches the owner's next batch.
        assert!(other.request_cancel(job.id).unwrap());
        let mut tx = db.store.begin_write().unwrap();
        assert!(tx.advance_job(job.id, &advance).unwrap(), "the cancel request is seen");
        tx.commit().unwrap();
        let counts = JobCounts { rows_read: 6, created: 4, failed: 2, ..JobCounts::default() };
        let done = db.store.finish_job(job.id, &JobFinish { modules: Vec::new(), status: JobStatus::Cancelled, counts, file_size: None, sha256: None, error_code: None, error_message: None, committed_watermark: None }).unwrap();
        assert_eq!(done.status, JobStatus::Cancelled);
        assert!(!other.request_cancel(job.id).unwrap(), "an ended job cannot be cancelled");
    }

    /// What a PostgreSQL crash leaves when batches that had committed are lost (their WAL was
    /// not flushed): the job row holds an older watermark than its writer saw commit. The next
    /// batch is refused, and the job's end is INTERRUPTED with what is stored, not with the
    /// writer's counts.
    fn lost_batches_are_refused_and_end_the_job_interrupted_with_what_is_stored(db) {
        let job = db.store.create_job(&new_job(Module::Customers, "t")).unwrap();
        let first = JobAdvance { rows_read: 500, created: 500, watermark: 501, previous_watermark: Some(0), ..JobAdvance::default() };
        let mut tx = db.store.begin_batch().unwrap();
        tx.advance_job(job.id, &first).unwrap();
        tx.commit().unwrap();
        // The writer saw a second batch commit (to 1001), which the crash took: the third
        // expects 1001 and finds 501.
        let third = JobAdvance { rows_read: 500, created: 500, watermark: 1501, previous_watermark: Some(1001), ..JobAdvance::default() };
        let mut tx = db.store.begin_batch().unwrap();
        let refused = tx.advance_job(job.id, &third);
        assert!(
            matches!(refused, Err(StoreError::BatchesLost { id, stored: 501, expected: 1001 }) if id == job.id),
            "{refused:?}"
        );
        drop(tx);
        let counts = JobCounts { rows_read: 1500, created: 1500, ..JobCounts::default() };
        let finish = JobFinish { modules: Vec::new(), status: JobStatus::Succeeded, counts, file_size: Some(7), sha256: None, error_code: None, error_message: None, committed_watermark: Some(1001) };
        let ended = db.store.finish_job(job.id, &finish).unwrap();
        assert_eq!(ended.status, JobStatus::Interrupted, "{ended:?}");
        assert_eq!((ended.counts.rows_read, ended.counts.created, ended.watermark), (500, 500, 501));
        let message = ended.error_message.unwrap_or_default();
        assert!(message.contains("PostgreSQL lost batches") && message.contains("after row 501"), "{message}");
        // It resumes from what is stored.
        let resumed = db.store.resume_job(job.id, false).unwrap().expect("interrupted jobs resume");
        assert_eq!(resumed.watermark, 501);

        // A job whose batches are all there ends as its writer says.
        let mut tx = db.store.begin_batch().unwrap();
        tx.advance_job(job.id, &JobAdvance { watermark: 1001, previous_watermark: Some(501), ..first }).unwrap();
        tx.commit().unwrap();
        let done = db.store.finish_job(job.id, &JobFinish { committed_watermark: Some(1001), ..finish }).unwrap();
        assert_eq!((done.status, done.counts.rows_read), (JobStatus::Succeeded, 1500));
    }

    fn a_batch_keeps_the_readers_checkpoint_until_a_restart(db) {
        let job = db.store.create_job(&new_job(Module::Customers, "t")).unwrap();
        assert_eq!(job.resume_point, None);
        let point = ResumePoint { offset: 1 << 40, next_row: 5001, state: vec![1, 0, 255, 7] };
        let with_point = JobAdvance { rows_read: 5000, watermark: 5000, resume_point: Some(point.clone()), ..JobAdvance::default() };
        let mut tx = db.store.begin_write().unwrap();
        tx.advance_job(job.id, &with_point).unwrap();
        tx.commit().unwrap();
        assert_eq!(db.store.get_job(job.id).unwrap().unwrap().resume_point.as_ref(), Some(&point));

        // A batch without a checkpoint keeps the earlier one; a rolled-back batch changes nothing.
        let mut tx = db.store.begin_write().unwrap();
        tx.advance_job(job.id, &JobAdvance { watermark: 6000, ..JobAdvance::default() }).unwrap();
        tx.commit().unwrap();
        let later = ResumePoint { offset: 9, next_row: 7001, state: Vec::new() };
        let mut tx = db.store.begin_write().unwrap();
        tx.advance_job(job.id, &JobAdvance { watermark: 7000, resume_point: Some(later), ..JobAdvance::default() }).unwrap();
        tx.rollback().unwrap();
        let stored = db.store.get_job(job.id).unwrap().unwrap();
        assert_eq!((stored.watermark, stored.resume_point.as_ref()), (6000, Some(&point)));

        db.store.forget_resume_point(job.id).unwrap();
        assert_eq!(db.store.get_job(job.id).unwrap().unwrap().resume_point, None);

        // A restarted job (it committed nothing) starts from the first byte again.
        let mut tx = db.store.begin_write().unwrap();
        tx.advance_job(job.id, &with_point).unwrap();
        tx.commit().unwrap();
        let counts = JobCounts::default();
        db.store.finish_job(job.id, &JobFinish { modules: Vec::new(), status: JobStatus::Interrupted, counts, file_size: None, sha256: None, error_code: None, error_message: None, committed_watermark: None }).unwrap();
        let restarted = db.store.resume_job(job.id, true).unwrap().expect("interrupted jobs resume");
        assert_eq!((restarted.watermark, restarted.resume_point), (0, None));
    }

    fn tokens_authenticate_until_revoked(db) {
        let perms: PermissionSet = "import,export".parse().unwrap();
        let (token, secret) = db.store.create_token("fair-import", &perms).unwrap();
        assert!(secret.starts_with("dp_") && secret.len() == 3 + 64, "{secret}");
        assert_eq!(token.permissions, perms);
        let Authentication::Valid(found) = db.store.authenticate(&secret).unwrap() else {
            panic!("a new token is valid");
        };
        assert_eq!(found.name, "fair-import");
        assert!(found.last_used_at.is_some());
        assert_eq!(found.expires_at, None);
        assert_eq!(db.store.authenticate("dp_wrong").unwrap(), Authentication::Unknown);

        let duplicate = db.store.create_token("fair-import", &perms);
        assert!(matches!(&duplicate, Err(StoreError::UniqueViolation { what }) if what.contains("fair-import")), "{duplicate:?}");

        assert!(db.store.revoke_token("fair-import").unwrap());
        assert!(!db.store.revoke_token("fair-import").unwrap());
        assert_eq!(db.store.authenticate(&secret).unwrap(), Authentication::Unknown);
        // A revoked name can be used again.
        let (_, again) = db.store.create_token("fair-import", &"export".parse().unwrap()).unwrap();
        assert_ne!(again, secret);
        let tokens = db.store.list_tokens().unwrap();
        assert_eq!(tokens.len(), 2);
        assert!(tokens[0].revoked_at.is_some() && tokens[1].revoked_at.is_none());
        assert_eq!(db.store.count_tokens().unwrap(), 2);
    }

    fn tokens_expire_after_their_lifetime(db) {
        let perms: PermissionSet = "import".parse().unwrap();
        let quarter = chrono::TimeDelta::days(90);
        let (token, secret) = db.store.create_expiring_token("quarterly", &perms, Some(quarter)).unwrap();
        assert_eq!(token.expires_at, Some(token.created_at + quarter));
        let Authentication::Valid(valid) = db.store.authenticate(&secret).unwrap() else {
            panic!("a token within its lifetime is valid");
        };
        assert_eq!(valid.expires_at, token.expires_at);
        let listed = db.store.list_tokens().unwrap();
        assert_eq!(listed[0].expires_at, token.expires_at, "stored and read back exactly");

        // Expired: refused as such (named, with its expiry), and its last use is not recorded.
        let (short, short_secret) = db
            .store
            .create_expiring_token("ci-run", &perms, Some(chrono::TimeDelta::milliseconds(5)))
            .unwrap();
        std::thread::sleep(std::time::Duration::from_millis(20));
        match db.store.authenticate(&short_secret).unwrap() {
            Authentication::Expired(expired) => {
                assert_eq!(expired.name, "ci-run");
                assert_eq!(expired.expires_at, short.expires_at);
                assert!(expired.is_expired_at(Utc::now()));
                assert_eq!(expired.last_used_at, None);
            }
            other => panic!("expected Expired, got {other:?}"),
        }
        let stored = db.store.list_tokens().unwrap().into_iter().find(|t| t.name == "ci-run").unwrap();
        assert_eq!(stored.last_used_at, None);
        // A revoked expired token is just unknown; a reopened store still enforces expiry.
        assert_eq!(db.reopen().authenticate(&short_secret).unwrap(), Authentication::Expired(stored));
        assert!(db.store.revoke_token("ci-run").unwrap());
        assert_eq!(db.store.authenticate(&short_secret).unwrap(), Authentication::Unknown);

        for lifetime in [chrono::TimeDelta::zero(), chrono::TimeDelta::seconds(-1)] {
            assert!(db.store.create_expiring_token("never-valid", &perms, Some(lifetime)).is_err());
        }
    }

    fn the_audit_log_keeps_entries_in_order_pages_and_prunes_them(db) {
        let before = Utc::now() - chrono::TimeDelta::seconds(1);
        // Token changes are recorded by the store, in the transaction that makes them.
        let perms: PermissionSet = "export".parse().unwrap();
        db.store
            .create_expiring_token("bi", &perms, Some(chrono::TimeDelta::days(90)))
            .unwrap();
        assert!(db.store.revoke_token("bi").unwrap());
        assert!(!db.store.revoke_token("bi").unwrap(), "a second revoke changes nothing");

        let mut export = NewAuditEntry::new(AuditEvent::Export, "Export", "completed; csv file c.csv");
        export.token_name = Some("bi".into());
        export.peer = Some("127.0.0.1".into());
        export.module = Some("customers".into());
        export.filter = Some(r#"{"scope":"EXPORT_SCOPE_FILTERED","filter":{"customers":{"owner":"张三"}}}"#.into());
        export.rows = Some(1_234);
        export.bytes = Some(5 << 30);
        let mut burst = NewAuditEntry::new(AuditEvent::AuthFailure, "authentication", "20000 failed");
        burst.peer = Some("10.0.0.9".into());
        db.store.record_audit(&[export.clone(), burst.clone()]).unwrap();
        db.store.record_audit(&[]).unwrap();

        let all = db.store.list_audit(&AuditQuery { limit: 100, ..Default::default() }).unwrap();
        let events: Vec<AuditEvent> = all.iter().map(|e| e.entry.event).collect();
        assert_eq!(
            events,
            [AuditEvent::TokenCreate, AuditEvent::TokenRevoke, AuditEvent::Export, AuditEvent::AuthFailure]
        );
        assert!(all.windows(2).all(|w| w[0].id < w[1].id && w[0].at <= w[1].at));
        assert!(all.iter().all(|e| e.at >= before && e.at <= Utc::now()));
        let created = &all[0].entry;
        assert_eq!(
            (created.token_name.as_deref(), created.peer.as_deref(), created.rpc.as_str()),
            (Some("bi"), Some(dataport_store::LOCAL_PEER), "token create")
        );
        assert!(created.detail.contains("permissions export") && created.detail.contains("expires"), "{}", created.detail);
        // Stored and read back exactly, big numbers and non-ASCII included.
        assert_eq!(all[2].entry, export);
        assert_eq!(all[3].entry, burst);

        // Pages follow the id cursor; `since` bounds by time.
        let first = db.store.list_audit(&AuditQuery { limit: 3, ..Default::default() }).unwrap();
        let rest = db
            .store
            .list_audit(&AuditQuery { after_id: Some(first[2].id), limit: 3, ..Default::default() })
            .unwrap();
        assert_eq!((first.len(), rest.len(), rest[0].id), (3, 1, all[3].id));
        let future = Utc::now() + chrono::TimeDelta::hours(1);
        assert!(db.store.list_audit(&AuditQuery { since: Some(future), limit: 10, ..Default::default() }).unwrap().is_empty());
        assert_eq!(db.store.list_audit(&AuditQuery { since: Some(before), limit: 10, ..Default::default() }).unwrap().len(), 4);

        // Pruning removes what is older than the cut, nothing newer.
        assert_eq!(db.store.prune_audit(before).unwrap(), 0);
        assert_eq!(db.store.prune_audit(future).unwrap(), 4);
        assert!(db.store.list_audit(&AuditQuery { limit: 10, ..Default::default() }).unwrap().is_empty());
    }

    fn jobs_list_only_the_tokens_own_when_asked(db) {
        let mine: Vec<i64> = (0..3)
            .map(|_| db.store.create_job(&new_job(Module::Customers, "fair-import")).unwrap().id)
            .collect();
        let theirs = db.store.create_job(&new_job(Module::Customers, "ci")).unwrap();
        let own = |before_id, limit| JobQuery {
            token_name: Some("fair-import".into()),
            before_id,
            limit,
            ..JobQuery::default()
        };
        let ids = |q: &JobQuery| db.store.list_jobs(q).unwrap().iter().map(|j| j.id).collect::<Vec<_>>();
        assert_eq!(ids(&own(None, 50)), [mine[2], mine[1], mine[0]]);
        // Pages hold only the token's jobs, so a full page never hides one behind another's.
        assert_eq!(ids(&own(None, 2)), [mine[2], mine[1]]);
        assert_eq!(ids(&own(Some(mine[1]), 2)), [mine[0]]);
        let ci = JobQuery { token_name: Some("ci".into()), ..JobQuery::default() };
        assert_eq!(ids(&ci), [theirs.id]);
        assert_eq!(ids(&JobQuery::default()).len(), 4);
    }
}

#[test]
fn bad_urls_are_clear_errors() {
    let err = Store::open("sqlite://").unwrap_err();
    assert!(matches!(err, StoreError::InvalidUrl { .. }), "{err}");
    let err = Store::open(":memory:").unwrap_err();
    assert!(
        err.to_string().contains("in-memory SQLite is not supported"),
        "{err}"
    );
    let err = Store::open("/nonexistent-dir/x/y.db").unwrap_err();
    assert!(matches!(err, StoreError::Connection(_)), "{err}");
    let err = Store::open("postgres://nobody:secret@127.0.0.1:1/nothing").unwrap_err();
    let text = err.to_string();
    assert!(matches!(err, StoreError::Connection(_)), "{text}");
    assert!(
        text.contains("***") && !text.contains("secret"),
        "the password must be masked: {text}"
    );
}

/// A logged upsert reads its before-images in the UPDATE that replaces them, without a lock of
/// its own: a record another transaction changes while the upsert waits for it must still get
/// the version the upsert actually replaced, so that a revert restores the other
/// transaction's value, not the one before it.
#[test]
#[cfg_attr(
    not(dataport_postgres_tests),
    ignore = "set DATAPORT_TEST_DATABASE_URL to run the PostgreSQL storage tests"
)]
fn postgres_before_images_hold_the_version_a_concurrent_writer_left() {
    let db = postgres();
    let mut a = customer("A");
    set(&mut a, "phone", text("010-1"));
    db.store
        .write(
            &batch(Module::Customers, vec![a, customer("B")]),
            ImportMode::Insert,
        )
        .unwrap();

    // Another writer changes A and holds its row lock while the upsert starts.
    let (locked_tx, locked_rx) = std::sync::mpsc::channel();
    let url = db.url.clone();
    let other = std::thread::spawn(move || {
        let mut c = diesel::PgConnection::establish(&url).unwrap();
        c.batch_execute("BEGIN; UPDATE customers SET phone = '010-X', updated_at = now() WHERE code = 'A';")
            .unwrap();
        locked_tx.send(()).unwrap();
        std::thread::sleep(std::time::Duration::from_millis(700));
        c.batch_execute("COMMIT;").unwrap();
    });
    locked_rx.recv().unwrap();
    let mut a2 = customer("A");
    set(&mut a2, "phone", text("010-2"));
    let mut b2 = customer("B");
    set(&mut b2, "phone", text("020-2"));
    let mut tx = db.store.begin_write().unwrap();
    let outcome = tx
        .write_logged(
            &batch(Module::Customers, vec![a2, b2]),
            ImportMode::Upsert,
            Some(1),
        )
        .unwrap();
    tx.commit().unwrap();
    other.join().unwrap();
    assert_eq!((outcome.created, outcome.updated), (0, 2));
    let phone = |store: &Store, code: &str| {
        all_customers(store)
            .into_iter()
            .find(|c| c.code() == code)
            .and_then(|c| c.get("phone").cloned())
    };
    assert_eq!(phone(&db.store, "A"), text("010-2"));

    let mut below = i64::MAX;
    while let Some(step) = db.store.revert_step(1, below, false, false).unwrap() {
        assert!(step.conflicts.is_empty(), "{:?}", step.conflicts);
        below = step.change_id;
    }
    assert_eq!(
        phone(&db.store, "A"),
        text("010-X"),
        "the other writer's value is restored"
    );
    assert_eq!(phone(&db.store, "B"), None);
}

/// Leases are swept on PostgreSQL only: a SQLite database has one server, which marks its
/// leftovers INTERRUPTED at start-up.
#[test]
#[cfg_attr(
    not(dataport_postgres_tests),
    ignore = "set DATAPORT_TEST_DATABASE_URL to run the PostgreSQL storage tests"
)]
fn postgres_expired_leases_are_swept_once_and_the_old_owner_stops() {
    use std::time::Duration;
    let db = postgres();
    // Renewals every 400 ms keep a 1 s lease: 600 ms of margin for a loaded CI machine.
    let short = db.replica(Duration::from_millis(1000));
    let survivor = db.replica(Duration::from_secs(15));
    let job = short.create_job(&new_job(Module::Customers, "t")).unwrap();
    let kept = survivor.create_job(&new_job(Module::Customers, "t")).unwrap();
    assert!(
        survivor
            .sweep_expired_leases(|_| "lease expired".into())
            .unwrap()
            .is_empty(),
        "fresh leases hold"
    );
    // Renewing keeps the short lease alive past its duration.
    for _ in 0..3 {
        std::thread::sleep(Duration::from_millis(400));
        assert!(short.renew_leases(&[job.id]).unwrap().is_empty());
        assert!(
            survivor
                .sweep_expired_leases(|_| "lease expired".into())
                .unwrap()
                .is_empty()
        );
    }
    // Its owner stops renewing (killed): the next sweep interrupts it, exactly once.
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(
        survivor.sweep_expired_leases(|_| "lease expired".into()).unwrap(),
        vec![job.id]
    );
    assert!(
        db.store
            .sweep_expired_leases(|_| "lease expired".into())
            .unwrap()
            .is_empty()
    );
    let swept = survivor.get_job(job.id).unwrap().unwrap();
    assert_eq!(swept.status, JobStatus::Interrupted);
    assert_eq!(swept.error_message.as_deref(), Some("lease expired"));
    assert!(swept.finished_at.is_some());
    assert_eq!(
        survivor.get_job(kept.id).unwrap().unwrap().status,
        JobStatus::Running
    );

    // The old owner, back from a pause, can neither write a batch nor overwrite the report.
    let mut tx = short.begin_write().unwrap();
    let refused = tx.advance_job(
        job.id,
        &JobAdvance {
            rows_read: 1,
            created: 1,
            watermark: 2,
            ..JobAdvance::default()
        },
    );
    assert!(
        matches!(refused, Err(StoreError::JobNotRunning { .. })),
        "{refused:?}"
    );
    tx.rollback().unwrap();
    let counts = JobCounts {
        rows_read: 1,
        created: 1,
        ..JobCounts::default()
    };
    let report = short
        .finish_job(
            job.id,
            &JobFinish {
                modules: Vec::new(),
                status: JobStatus::Succeeded,
                counts,
                file_size: None,
                sha256: None,
                error_code: None,
                error_message: None,
                committed_watermark: None,
            },
        )
        .unwrap();
    assert_eq!(
        (report.status, report.counts.created),
        (JobStatus::Interrupted, 0)
    );

    // A job locked by its own batch transaction is skipped by the sweep, not waited for.
    let busy = short.create_job(&new_job(Module::Customers, "t")).unwrap();
    let mut tx = short.begin_write().unwrap();
    tx.advance_job(busy.id, &JobAdvance::default()).unwrap();
    std::thread::sleep(Duration::from_millis(1500));
    assert!(
        survivor
            .sweep_expired_leases(|_| "lease expired".into())
            .unwrap()
            .is_empty(),
        "a locked row is skipped"
    );
    tx.rollback().unwrap();
    assert_eq!(
        survivor.sweep_expired_leases(|_| "lease expired".into()).unwrap(),
        vec![busy.id]
    );

    // A job RUNNING in the database that no longer runs in its owner (its end could not be
    // recorded) is not renewed with the owner's other jobs: it expires and is swept.
    let live = short.create_job(&new_job(Module::Customers, "t")).unwrap();
    let orphan = short.create_job(&new_job(Module::Customers, "t")).unwrap();
    for _ in 0..3 {
        std::thread::sleep(Duration::from_millis(400));
        short.renew_leases(&[live.id]).unwrap();
    }
    assert_eq!(
        survivor.sweep_expired_leases(|_| "lease expired".into()).unwrap(),
        vec![orphan.id]
    );
}

/// SQLite writes go to the WAL first; only a checkpoint copies them into the database file.
/// A few MiB of writes stay far below the writer's own automatic checkpoint (32 MiB), so the
/// file growing soon after shows the background checkpointer at work (`checkpoint.rs`).
#[test]
fn sqlite_wal_is_checkpointed_beside_the_writer() {
    let db = sqlite();
    let file = std::path::Path::new(&db.url);
    let size = || std::fs::metadata(file).map(|m| m.len()).unwrap_or(0);
    let before = size();
    let codes: Vec<String> = (0..20_000).map(|i| format!("WAL{i:06}")).collect();
    let codes: Vec<&str> = codes.iter().map(String::as_str).collect();
    db.store.write(&customers(&codes), ImportMode::Insert).unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while size() <= before + (1 << 20) && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    assert!(
        size() > before + (1 << 20),
        "database file {} bytes, {before} before the write",
        size()
    );
}

/// A pool opens connections whenever it needs them (exports open theirs on demand). After the
/// database file is gone, such a connection must fail, not create a new empty database at the
/// path that the service (and its health probe) would then carry on against.
#[test]
fn sqlite_connections_opened_after_the_file_is_gone_create_nothing() {
    let db = sqlite();
    // A failed checkout retries until its timeout: keep that short.
    let options = StoreOptions {
        checkout_timeout: std::time::Duration::from_millis(300),
        ..StoreOptions::default()
    };
    let store = Store::open_with(&db.url, &options).unwrap();
    store.write(&customers(&["GONE1"]), ImportMode::Insert).unwrap();
    let file = std::path::Path::new(&db.url);
    let away = file.with_extension("away");
    std::fs::rename(file, &away).unwrap();
    let everything = Filter::all(Module::Customers);
    match store.export_snapshot(&everything, None) {
        Err(StoreError::Connection(_)) => {}
        Err(other) => panic!("expected a connection error, got {other:?}"),
        Ok(_) => panic!("an export without its database"),
    }
    assert!(!file.exists(), "a connection created {}", file.display());
    std::fs::rename(&away, file).unwrap();
    let snapshot = store
        .export_snapshot(&everything, None)
        .expect("the file is back");
    assert_eq!(snapshot.total(), 1);
}
