//! Safe partial updates: blank cells keep stored values unless the job clears them, a record
//! stream changes only the fields it names and refuses values of the wrong kind, per-job
//! defaults fill empty fields, and DescribeModule lists the registry.

use std::collections::BTreeMap;

use dataport_client::{AuthedClient, v1};
use dataport_core::Module;
use v1::value::Kind;

use crate::harness::{TestServer, stderr, stdout};
use crate::on_both_backends;
use crate::support::{Import, Run, csv, customer, each_exported_record, import, next_within, rows};

/// Every stored record of `module`: code → field → value (unset fields left out).
pub(crate) async fn stored(
    client: &mut AuthedClient,
    module: Module,
) -> BTreeMap<String, BTreeMap<String, Kind>> {
    let mut out = BTreeMap::new();
    each_exported_record(client, module, |fields, record| {
        let fields: BTreeMap<String, Kind> = fields
            .iter()
            .zip(record.values)
            .filter_map(|(f, v)| Some((f.clone(), v.kind?)))
            .collect();
        let code = match &fields["code"] {
            Kind::Text(code) => code.clone(),
            other => panic!("a code of kind {other:?}"),
        };
        out.insert(code, fields);
    })
    .await;
    out
}

fn text(s: &str) -> v1::Value {
    v1::Value {
        kind: Some(Kind::Text(s.into())),
    }
}

fn value(kind: Kind) -> v1::Value {
    v1::Value { kind: Some(kind) }
}

fn t(s: &str) -> Kind {
    Kind::Text(s.into())
}

/// A `records` import of one batch.
async fn import_records(
    client: &mut AuthedClient,
    mode: v1::ImportMode,
    fields: &[&str],
    records: Vec<Vec<v1::Value>>,
) -> Run {
    let batch = v1::RecordBatch {
        fields: fields.iter().map(|f| f.to_string()).collect(),
        records: records.into_iter().map(|values| v1::Record { values }).collect(),
    };
    let spec = Import::new(Module::Customers, "service")
        .format("records")
        .mode(mode)
        .locale(v1::Locale::En)
        .spec(0);
    let messages = vec![
        spec,
        v1::ImportRequest {
            message: Some(v1::import_request::Message::Records(batch)),
        },
    ];
    let mut stream = client
        .import(tokio_stream::iter(messages))
        .await
        .unwrap()
        .into_inner();
    let mut run = Run::default();
    while let Some(event) = next_within(&mut stream, "the next import event").await {
        match event.unwrap().event {
            Some(v1::import_event::Event::RowError(e)) => run.errors.push(e),
            Some(v1::import_event::Event::Completed(c)) => run.completed = Some(c),
            _ => {}
        }
    }
    run
}

on_both_backends! {
    async fn blank_cells_keep_stored_values_unless_the_job_clears_them(server) {
        let mut client = server.client(&server.admin_token()).await;
        let seed = csv(Module::Customers, &rows(&[customer("A1"), customer("A2")]));
        let run = import(&mut client, &Import::new(Module::Customers, "seed.csv"), &seed).await;
        assert_eq!(run.status(), v1::JobStatus::Succeeded);
        let before = stored(&mut client, Module::Customers).await;

        // A 批量更新 file with only the new phone numbers: every optional cell blank.
        let only_phone = |code: &str, phone: &str| {
            let mut row = vec![String::new(); 12];
            row[0] = code.into();
            row[1] = format!("{code}科技有限公司");
            row[3] = phone.into();
            row[4] = "张伟".into();
            row
        };
        let update = csv(Module::Customers, &rows(&[only_phone("A1", "13900000001")]));
        for mode in [v1::ImportMode::Update, v1::ImportMode::Upsert] {
            let run = import(&mut client, &Import::new(Module::Customers, "phones.csv").mode(mode), &update).await;
            assert_eq!(run.counts(), (0, 1, 0, 0), "{mode:?}: {:?}", run.errors);
            let after = stored(&mut client, Module::Customers).await;
            let mut expected = before["A1"].clone();
            expected.insert("phone".into(), t("13900000001"));
            assert_eq!(after["A1"], expected, "{mode:?}: only the phone changed");
            assert_eq!(after["A2"], before["A2"], "the other record is untouched");
        }

        // --blank-cells clear writes the blanks as empty (创建时间 is kept: it cannot be empty).
        let run = import(
            &mut client,
            &Import::new(Module::Customers, "phones.csv")
                .mode(v1::ImportMode::Update)
                .blank_cells(v1::BlankCells::Clear),
            &update,
        )
        .await;
        assert_eq!(run.counts(), (0, 1, 0, 0), "{:?}", run.errors);
        let after = stored(&mut client, Module::Customers).await;
        let keys: Vec<&str> = after["A1"].keys().map(String::as_str).collect();
        assert_eq!(keys, ["code", "created_at", "name", "owner", "phone"]);
        assert_eq!(after["A1"]["created_at"], before["A1"]["created_at"]);
    }

    async fn record_streams_change_only_the_fields_they_name(server) {
        let mut client = server.client(&server.admin_token()).await;
        let seed = csv(Module::Customers, &rows(&[customer("R1"), customer("R2"), customer("R3")]));
        import(&mut client, &Import::new(Module::Customers, "seed.csv"), &seed).await;
        let before = stored(&mut client, Module::Customers).await;

        // UPDATE naming code and phone only: required fields may be left out.
        let run = import_records(
            &mut client,
            v1::ImportMode::Update,
            &["code", "phone"],
            vec![vec![text("R1"), text("010-1234567")]],
        )
        .await;
        assert!(run.errors.is_empty(), "{:?}", run.errors);
        let after = stored(&mut client, Module::Customers).await;
        let mut expected = before["R1"].clone();
        expected.insert("phone".into(), t("010-1234567"));
        assert_eq!(after["R1"], expected);

        // UPSERT naming code, name, owner and remarks: an unset value clears remarks and level
        // is not named, so it stays; a new code is created with only those fields.
        let run = import_records(
            &mut client,
            v1::ImportMode::Upsert,
            &["code", "name", "owner", "level"],
            vec![
                vec![text("R2"), text("新名称"), text("李娜"), v1::Value::default()],
                vec![text("R9"), text("新客户"), text("李娜")],
            ],
        )
        .await;
        assert!(run.errors.is_empty(), "{:?}", run.errors);
        let report = run.completed.unwrap().report.unwrap();
        assert_eq!((report.rows_created, report.rows_updated), (1, 1));
        let after = stored(&mut client, Module::Customers).await;
        let mut expected = before["R2"].clone();
        expected.insert("name".into(), t("新名称"));
        expected.insert("owner".into(), t("李娜"));
        expected.remove("level");
        assert_eq!(after["R2"], expected, "named fields written, an unset value cleared, the rest kept");
        let keys: Vec<&str> = after["R9"].keys().map(String::as_str).collect();
        assert_eq!(keys, ["code", "created_at", "name", "owner"]);

        // Values of the wrong kind and fields the module lacks are row errors naming the field;
        // nothing is coerced, and the good record of the batch is written.
        let run = import_records(
            &mut client,
            v1::ImportMode::Update,
            &["code", "name", "contract_amount", "wechat"],
            vec![
                vec![text("R3"), value(Kind::Bool(true))],
                vec![text("R3"), text("ok"), value(Kind::Text("12.50".into()))],
                vec![text("R3"), text("ok"), v1::Value::default(), text("wx-1")],
                vec![text("R3"), text("改名"), value(Kind::Cents(1250)), v1::Value::default()],
                vec![text("R3"), text("x"), v1::Value::default(), v1::Value::default(), text("extra")],
            ],
        )
        .await;
        let errors: Vec<(u64, &str, v1::ErrorCode)> = run
            .errors
            .iter()
            .map(|e| (e.row, e.column.as_str(), e.code()))
            .collect();
        assert_eq!(
            errors,
            [
                (1, "name", v1::ErrorCode::InvalidFormat),
                (2, "contract_amount", v1::ErrorCode::InvalidFormat),
                (3, "wechat", v1::ErrorCode::InvalidFormat),
                (5, "", v1::ErrorCode::InvalidFormat),
            ]
        );
        assert!(
            run.errors[0].message.contains("field name (Customer Name) takes a text value, this record sends bool"),
            "{}",
            run.errors[0].message
        );
        assert!(run.errors[1].message.contains("takes a cents value, this record sends text"), "{}", run.errors[1].message);
        assert!(run.errors[2].message.contains("have no field 'wechat'"), "{}", run.errors[2].message);
        assert!(run.errors[3].message.contains("the record has 5 values, the batch names 4 fields"), "{}", run.errors[3].message);
        let report = run.completed.unwrap().report.unwrap();
        assert_eq!((report.rows_read, report.rows_updated, report.rows_failed), (5, 1, 4));
        let after = stored(&mut client, Module::Customers).await;
        assert_eq!(after["R3"]["name"], t("改名"));
        assert_eq!(after["R3"]["contract_amount"], Kind::Cents(1250));
        assert_eq!(after["R3"]["phone"], before["R3"]["phone"]);
    }

    async fn defaults_fill_empty_fields_and_are_checked_first(server) {
        let mut client = server.client(&server.admin_token()).await;
        // A file without owners: every row REQUIRED_MISSING, unless a default fills them.
        let ownerless: Vec<Vec<String>> = ["D1", "D2"]
            .iter()
            .map(|code| {
                let mut row = customer(code);
                row[4] = String::new();
                row
            })
            .collect();
        let mut with_owner = ownerless[1].clone();
        with_owner[4] = "王强".into();
        let file = csv(Module::Customers, &rows(&[ownerless[0].clone(), with_owner]));
        let run = import(&mut client, &Import::new(Module::Customers, "sf.csv"), &file).await;
        assert_eq!(run.counts(), (1, 0, 0, 1));
        let run = import(
            &mut client,
            &Import::new(Module::Customers, "sf.csv")
                .mode(v1::ImportMode::Upsert)
                .default_value("负责人", "张伟"),
            &file,
        )
        .await;
        assert_eq!(run.counts(), (1, 1, 0, 0), "{:?}", run.errors);
        let after = stored(&mut client, Module::Customers).await;
        assert_eq!(after["D1"]["owner"], t("张伟"), "filled");
        assert_eq!(after["D2"]["owner"], t("王强"), "a filled cell is not replaced");

        // A default that breaks its field's rules, or names no field: INVALID_ARGUMENT before a
        // job exists.
        for (field, value, expected) in [
            ("level", "钻石", "VIP"),
            ("wechat", "x", "the fields are code, name"),
            ("code", "C1", "unique key"),
        ] {
            let request = Import::new(Module::Customers, "sf.csv")
                .locale(v1::Locale::En)
                .default_value(field, value);
            let status = client
                .import(tokio_stream::iter(vec![request.spec(0)]))
                .await
                .expect_err("a bad default is refused");
            assert_eq!(status.code(), tonic::Code::InvalidArgument, "{status:?}");
            assert!(status.message().contains(expected), "{field}: {}", status.message());
            assert_eq!(dataport_client::bad_request_field(&status).as_deref(), Some("spec.defaults"));
        }
    }
}

#[tokio::test]
async fn the_cli_takes_defaults_and_blank_cells_and_describes_modules() {
    let server = TestServer::start();
    let url = server.url();
    let mut row = customer("CLI1");
    row[4] = String::new();
    row[2] = String::new();
    std::fs::write(
        server.dir.path().join("ownerless.csv"),
        csv(Module::Customers, &rows(&[row])),
    )
    .unwrap();
    let out = server.cli(&[
        "import",
        "ownerless.csv",
        "--module",
        "customers",
        "--default",
        "owner=张伟",
        "--default",
        "industry=制造业",
        "--server",
        &url,
    ]);
    assert!(out.status.success(), "{}{}", stdout(&out), stderr(&out));
    let bad = server.cli(&[
        "import",
        "ownerless.csv",
        "--module",
        "customers",
        "--default",
        "level=钻石",
        "--server",
        &url,
    ]);
    assert_eq!(bad.status.code(), Some(1), "{}", stderr(&bad));
    assert!(
        stderr(&bad).contains("error [INVALID_ARGUMENT]"),
        "{}",
        stderr(&bad)
    );
    assert!(stderr(&bad).contains("VIP"), "{}", stderr(&bad));
    let not_a_policy = server.cli(&[
        "import",
        "ownerless.csv",
        "--module",
        "customers",
        "--blank-cells",
        "wipe",
        "--server",
        &url,
    ]);
    assert!(
        stderr(&not_a_policy).contains("keep, clear"),
        "{}",
        stderr(&not_a_policy)
    );

    let mut client = server.client(&server.admin_token()).await;
    let after = stored(&mut client, Module::Customers).await;
    assert_eq!(after["CLI1"]["owner"], t("张伟"));
    assert_eq!(after["CLI1"]["industry"], t("制造业"));

    let table = server.cli(&["describe", "客户", "--server", &url]);
    assert!(table.status.success(), "{}", stderr(&table));
    let text = stdout(&table);
    assert!(text.starts_with("customers (客户 / Customers)"), "{text}");
    let amount = text
        .lines()
        .find(|l| l.starts_with("contract_amount"))
        .unwrap_or_default();
    assert!(
        amount.contains("合同金额") && amount.contains("decimal"),
        "{text}"
    );
    let level = text.lines().find(|l| l.starts_with("level")).unwrap_or_default();
    assert!(level.contains("VIP/重要/普通"), "{text}");

    let json = server.cli(&["describe", "contacts", "--json", "--server", &url]);
    assert!(json.status.success(), "{}", stderr(&json));
    let json: serde_json::Value = serde_json::from_str(&stdout(&json)).unwrap();
    let fields = json["fields"].as_array().unwrap();
    assert_eq!(fields.len(), Module::Contacts.fields().len());
    assert_eq!(fields[1]["key"], "customer_code");
    assert_eq!(fields[1]["references"], "MODULE_CUSTOMERS");
    assert_eq!(fields[1]["required"], true);
    let primary = fields.iter().find(|f| f["key"] == "is_primary").unwrap();
    assert_eq!(primary["kind"], "FIELD_KIND_BOOL");

    let unknown = server.cli(&["describe", "leads", "--server", &url]);
    assert_eq!(unknown.status.code(), Some(1));
    assert!(stderr(&unknown).contains("customers"), "{}", stderr(&unknown));
}
