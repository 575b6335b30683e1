//! `dataport gen`: deterministic, realistic synthetic CRM data for demos, tests and benchmarks.
//!
//! The same `--seed` always gives the same file. Rows are Chinese companies, people, phones,
//! addresses, amounts and dates that pass every import rule; `--error-rate` replaces some rows
//! with a known mix of broken ones (one problem per broken row, in a fixed rotation of error
//! codes), and `--manifest` writes the expected `row,code,field` list, so a test can compare an
//! import's row errors with exactly what was injected. The file is written through the same
//! format plugins the server uses, in batches, so memory stays flat for any row count.

use std::io::Write;
use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use chrono::NaiveDate;
use dataport_core::module::{CUSTOMER_LEVELS, FOLLOW_UP_STATUSES, INDUSTRIES, OPPORTUNITY_STAGES};
use dataport_core::{ErrorCode, FieldValue, Locale, Module, Record, Records};
use dataport_plugin_host::PluginRegistry;
use dataport_plugin_sdk::{Cell, Options, Plugin, RowBatch};
use dataport_server::export::Layout;

/// Rows generated and written per batch.
const BATCH: usize = 10_000;

/// splitmix64: tiny, fast, and fixed forever, so a seed means the same data in every version.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }

    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[self.below(items.len() as u64) as usize]
    }

    /// True with probability `p`.
    fn chance(&mut self, p: f64) -> bool {
        ((self.next() >> 11) as f64 / (1u64 << 53) as f64) < p
    }
}

const CITIES: &[&str] = &[
    "北京", "上海", "广州", "深圳", "杭州", "南京", "成都", "武汉", "西安", "苏州", "天津", "重庆", "长沙",
    "青岛", "厦门",
];
const WORDS: &[&str] = &[
    "星辰", "华信", "远航", "盛世", "汇通", "恒达", "金桥", "瑞丰", "博雅", "启明", "天宇", "宏图", "新锐",
    "云帆", "长青",
];
const TRADES: &[&str] = &[
    "科技",
    "信息技术",
    "贸易",
    "实业",
    "网络",
    "电子",
    "咨询",
    "物流",
    "医疗器械",
    "教育科技",
];
const SURNAMES: &[&str] = &[
    "张", "王", "李", "赵", "刘", "陈", "杨", "黄", "周", "吴", "徐", "孙", "马", "朱", "胡",
];
const GIVEN: &[&str] = &[
    "伟", "芳", "娜", "敏", "静", "强", "磊", "军", "洋", "勇", "艳", "杰", "涛", "明", "超",
];
const DISTRICTS: &[&str] = &[
    "朝阳区",
    "海淀区",
    "浦东新区",
    "天河区",
    "南山区",
    "西湖区",
    "武侯区",
    "鼓楼区",
];
const TITLES: &[&str] = &[
    "采购经理",
    "总经理",
    "IT总监",
    "财务主管",
    "行政专员",
    "技术负责人",
];
const NOTES: &[&str] = &[
    "首次拜访，客户有采购意向",
    "已发送报价单",
    "约定下周演示",
    "客户预算审批中",
    "",
];

/// What `dataport gen` was asked for.
pub struct GenRequest {
    pub module: Module,
    pub rows: u64,
    pub output: PathBuf,
    pub seed: u64,
    pub error_rate: f64,
    /// For contacts and opportunities: how many customers (CUST000000000..) their codes refer to.
    pub customer_rows: u64,
    pub manifest: Option<PathBuf>,
    pub plugin_dirs: Vec<PathBuf>,
}

/// The broken rows `--error-rate` injects, in rotation.
const INJECTED: &[(ErrorCode, &str)] = &[
    (ErrorCode::RequiredMissing, "name"),
    (ErrorCode::InvalidDate, "date"),
    (ErrorCode::InvalidEnum, "enum"),
    (ErrorCode::InvalidNumber, "amount"),
    (ErrorCode::FormulaNotAllowed, "name"),
    (ErrorCode::ForbiddenCharacter, "code"),
    (ErrorCode::ValueTooLong, "name"),
    (ErrorCode::InvalidFormat, "phone"),
    (ErrorCode::DuplicateInFile, "code"),
];

pub fn customer_code(i: u64) -> String {
    format!("CUST{i:09}")
}

fn date(rng: &mut Rng) -> NaiveDate {
    let base = NaiveDate::from_ymd_opt(2020, 1, 1).unwrap_or_default();
    base + chrono::Days::new(rng.below(5 * 365))
}

fn person(rng: &mut Rng) -> String {
    format!("{}{}", rng.pick(SURNAMES), rng.pick(GIVEN))
}

fn phone(rng: &mut Rng) -> String {
    format!("1{}{:09}", 3 + rng.below(7), rng.below(1_000_000_000))
}

fn cents(rng: &mut Rng, max_yuan: u64) -> i64 {
    (rng.below(max_yuan * 100) as i64 / 50) * 50
}

fn text(s: impl Into<String>) -> Option<FieldValue> {
    Some(FieldValue::Text(s.into()))
}

/// A record of `module` from `(field key, value)` pairs.
fn record(module: Module, fields: Vec<(&str, Option<FieldValue>)>) -> Result<Record> {
    Ok(Record::from_pairs(module, fields)?)
}

// The generators draw from the rng in a fixed order (the order of the pairs): a seed must
// keep meaning the same data.

fn customer(rng: &mut Rng, i: u64) -> Result<Record> {
    let city = rng.pick(CITIES);
    record(
        Module::Customers,
        vec![
            ("code", text(customer_code(i))),
            (
                "name",
                text(format!("{city}{}{}有限公司", rng.pick(WORDS), rng.pick(TRADES))),
            ),
            ("industry", text(rng.pick(INDUSTRIES))),
            ("phone", text(phone(rng))),
            ("owner", text(person(rng))),
            ("level", text(rng.pick(CUSTOMER_LEVELS))),
            ("follow_up_status", text(rng.pick(FOLLOW_UP_STATUSES))),
            (
                "address",
                text(format!(
                    "{city}市{}{}路{}号",
                    rng.pick(DISTRICTS),
                    rng.pick(WORDS),
                    1 + rng.below(300)
                )),
            ),
            ("contract_amount", Some(FieldValue::Cents(cents(rng, 5_000_000)))),
            (
                "follow_up_notes",
                Some(rng.pick(NOTES)).filter(|n| !n.is_empty()).and_then(text),
            ),
            ("created_at", Some(FieldValue::Date(date(rng)))),
        ],
    )
}

fn contact(rng: &mut Rng, i: u64, customers: u64) -> Result<Record> {
    let name = person(rng);
    record(
        Module::Contacts,
        vec![
            ("code", text(format!("CON{i:09}"))),
            ("customer_code", text(customer_code(rng.below(customers)))),
            ("email", text(format!("user{i}@example.com"))),
            ("title", text(rng.pick(TITLES))),
            ("phone", text(phone(rng))),
            ("is_primary", Some(FieldValue::Bool(rng.chance(0.3)))),
            ("name", text(name)),
        ],
    )
}

fn opportunity(rng: &mut Rng, i: u64, customers: u64) -> Result<Record> {
    record(
        Module::Opportunities,
        vec![
            ("code", text(format!("OPP{i:09}"))),
            ("customer_code", text(customer_code(rng.below(customers)))),
            (
                "name",
                text(format!("{}{}项目", rng.pick(WORDS), rng.pick(TRADES))),
            ),
            ("stage", text(rng.pick(OPPORTUNITY_STAGES))),
            ("amount", Some(FieldValue::Cents(cents(rng, 2_000_000)))),
            ("expected_close_date", Some(FieldValue::Date(date(rng)))),
            ("owner", text(person(rng))),
        ],
    )
}

/// Column index of the first field of `kind` that an injected error targets.
fn target_column(module: Module, target: &str) -> Option<usize> {
    use dataport_core::FieldKind;
    module.fields().iter().position(|f| match target {
        "code" => f.key == "code",
        "name" => f.key == "name",
        "phone" => f.kind == FieldKind::Phone,
        "date" => f.kind == FieldKind::Date,
        "enum" => matches!(f.kind, FieldKind::Enum(_) | FieldKind::Bool),
        "amount" => f.kind == FieldKind::Decimal,
        _ => false,
    })
}

/// Breaks one row for `error`; returns the field key it broke, or `None` if this module has no
/// such field (the row then stays valid).
fn inject(
    module: Module,
    cells: &mut [Cell],
    error: ErrorCode,
    target: &str,
    previous_code: Option<&str>,
) -> Option<&'static str> {
    let column = target_column(module, target)?;
    cells[column] = match error {
        ErrorCode::RequiredMissing => Cell::Null,
        ErrorCode::InvalidDate => Cell::text("2023/13/45"),
        ErrorCode::InvalidEnum => Cell::text("不存在的选项"),
        ErrorCode::InvalidNumber => Cell::text("十二万"),
        ErrorCode::FormulaNotAllowed => Cell::Formula("=1+1".into()),
        ErrorCode::ForbiddenCharacter => Cell::text("BAD#CODE"),
        ErrorCode::ValueTooLong => Cell::Text("长".repeat(module.fields()[column].max_len + 1)),
        ErrorCode::InvalidFormat => Cell::text("电话号码"),
        ErrorCode::DuplicateInFile => Cell::text(previous_code?),
        _ => return None,
    };
    Some(module.fields()[column].key)
}

pub fn run(request: GenRequest) -> Result<()> {
    let format = crate::import_cmd::format_of(&request.output)?;
    let registry = PluginRegistry::discover(&request.plugin_dirs).context("loading the format plugins")?;
    let plugin = registry.for_format(&format).with_context(|| {
        format!(
            "no plugin writes .{format} files; loaded formats: {}",
            registry.formats().join(", ")
        )
    })?;
    if !(0.0..=1.0).contains(&request.error_rate) {
        bail!("--error-rate must be between 0 and 1, not {}", request.error_rate);
    }
    let module = request.module;
    let layout = Layout::all(module, Locale::ZhCn);
    let file = std::fs::File::create(&request.output)
        .with_context(|| format!("cannot create {}", request.output.display()))?;
    let mut options = Options::new();
    if plugin.descriptor().capabilities.sheets {
        options = options.with("sheet", module.label_zh());
    }
    let mut writer = plugin
        .open_writer(
            &format,
            &options,
            Box::new(std::io::BufWriter::with_capacity(1 << 20, file)),
        )
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    writer
        .write_header(&layout.columns(false))
        .map_err(|e| anyhow::anyhow!("{e}"))?;

    let mut manifest = match &request.manifest {
        Some(path) => {
            let mut file = std::io::BufWriter::new(
                std::fs::File::create(path).with_context(|| format!("cannot create {}", path.display()))?,
            );
            writeln!(file, "row,code,field")?;
            Some(file)
        }
        None => None,
    };
    let mut rng = Rng(request.seed ^ 0x6461_7461_706f_7274);
    let customers = request.customer_rows.max(1);
    let mut injected = std::collections::BTreeMap::<&str, u64>::new();
    let mut rotation = 0usize;
    let mut previous_code: Option<String> = None;
    let mut done = 0u64;
    while done < request.rows {
        let n = (request.rows - done).min(BATCH as u64);
        let mut records = Records::empty(module);
        for i in done..done + n {
            let record = match module {
                Module::Customers => customer(&mut rng, i)?,
                Module::Contacts => contact(&mut rng, i, customers)?,
                Module::Opportunities => opportunity(&mut rng, i, customers)?,
            };
            records.push(record)?;
        }
        let mut batch: RowBatch = layout.cells(&records);
        for (offset, row) in batch.rows.iter_mut().enumerate() {
            let row_number = done + offset as u64 + 2;
            let code = records.codes()[offset].to_owned();
            if request.error_rate > 0.0 && rng.chance(request.error_rate) {
                let (error, target) = INJECTED[rotation % INJECTED.len()];
                rotation += 1;
                if let Some(field) = inject(module, &mut row.cells, error, target, previous_code.as_deref()) {
                    *injected.entry(error.as_str()).or_default() += 1;
                    if let Some(m) = manifest.as_mut() {
                        writeln!(m, "{row_number},{},{field}", error.as_str())?;
                    }
                    continue;
                }
            }
            previous_code = Some(code);
        }
        writer.write_rows(&batch).map_err(|e| anyhow::anyhow!("{e}"))?;
        done += n;
    }
    writer.finish().map_err(|e| anyhow::anyhow!("{e}"))?;
    drop(writer);
    if let Some(mut m) = manifest {
        m.flush()?;
    }
    let total: u64 = injected.values().sum();
    eprintln!(
        "wrote {} {module} rows to {}{}",
        request.rows,
        request.output.display(),
        if total > 0 {
            format!(
                " with {total} broken rows ({})",
                injected
                    .iter()
                    .map(|(k, v)| format!("{k} {v}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        } else {
            String::new()
        }
    );
    Ok(())
}
