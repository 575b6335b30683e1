//! Command-line definitions. Every flag has a `DATAPORT_*` environment fallback; server and
//! client settings can also come from a TOML file (`--config`, default `./dataport.toml`).

use std::{net::SocketAddr, path::PathBuf};

use clap::{Args, Parser, Subcommand};

/// dataport: bulk import and export of CRM data (customers, contacts, opportunities) over gRPC.
///
/// Start the server with `dataport serve`; the first start creates an admin token and writes
/// it to ./dataport.token, which the client commands read automatically.
#[derive(Debug, Parser)]
#[command(name = "dataport", version, about, long_about, propagate_version = true)]
pub struct Cli {
    /// TOML file with defaults for any long flag (keys use `_`, e.g. `database_url`).
    /// Without it, ./dataport.toml is read when present.
    #[arg(long, global = true, env = "DATAPORT_CONFIG", value_name = "FILE")]
    pub config: Option<PathBuf>,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
// Parsed once per process; boxing the large variants would only add noise.
#[allow(clippy::large_enum_variant)]
pub enum Command {
    /// Run the gRPC server (health checks and reflection included). Stops cleanly on Ctrl-C or SIGTERM.
    Serve(ServeArgs),
    /// Create, list and revoke API tokens (works on the database directly).
    #[command(subcommand)]
    Token(TokenCommand),
    /// Count the records a filter selects (the export's "共N条").
    Count(CountArgs),
    /// Import a file (xlsx, csv or any plugin format) into a module; exit code 0 = all rows
    /// imported, 2 = some rows failed or were skipped, 1 = the job failed (nothing imported),
    /// 3 = interrupted (what was committed is kept; run it again to continue).
    Import(ImportArgs),
    /// Export records as a file: filter, count ("共N条"), fields, format, scope; the download is
    /// checked against the server's sha256 before it is saved.
    Export(ExportArgs),
    /// Download a module's import template (xlsx with drop-downs and a 填写说明 sheet, csv, or any
    /// plugin format that writes).
    Template(TemplateArgs),
    /// Write deterministic synthetic data (Chinese companies, owners, phones, dates) as csv or
    /// xlsx, optionally with a known mix of broken rows; streams, so 10M rows are fine.
    Gen(GenArgs),
    /// Copy modules from one dataport server to another as typed record streams (customers
    /// first), with bounded memory, a progress bar and a report per module.
    Migrate(MigrateArgs),
    /// Show a module's fields: key, labels, kind, required, length limit, choices, and whether
    /// an export writes it by default (the registry every import and export follows).
    Describe {
        /// customers, contacts or opportunities (客户 / 联系人 / 商机 also work).
        module: String,
        /// Print the DescribeModuleResponse as proto3 JSON.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        client: ClientArgs,
    },
    /// List the format plugins the server has loaded.
    Formats {
        #[command(flatten)]
        client: ClientArgs,
    },
    /// Check a format plugin library against the plugin contract, loading it as the server
    /// does: handshake, descriptor, options, reads with short and failing input, batch release,
    /// END_OF_DATA, a round trip of every column kind, a failing sink. One PASS/FAIL/SKIP line per
    /// check; exit code 1 if any check fails.
    PluginCheck(PluginCheckArgs),
    /// Print the directory holding the C plugin header, dataport_plugin.h, for
    /// `cc -I"$(dataport plugin-sdk-path)"`. Next to an installed binary that is
    /// ../include/dataport; otherwise the header is written to the user's data directory.
    PluginSdkPath,
    /// Serve one plugin library over stdin and stdout: the worker process `serve` starts per job
    /// for --plugin-dir plugins (see --plugin-isolation). Not for interactive use.
    #[command(hide = true)]
    PluginWorker { library: PathBuf },
    /// Read import job reports.
    #[command(subcommand)]
    Jobs(JobsCommand),
    /// Read the audit log: who imported, exported, downloaded or failed to log in, when, from
    /// where, with which filter and how many rows (needs an admin token).
    #[command(subcommand)]
    Audit(AuditCommand),
}

#[derive(Debug, clap::Args)]
pub struct PluginCheckArgs {
    /// The plugin library, e.g. ./libdataport_plugin_psv.so.
    pub library: PathBuf,
    /// A file the plugin reads. Without it, a plugin that reads and writes reads the file its
    /// own writer wrote in the round trip.
    pub sample: Option<PathBuf>,
    /// The format to check [default: the plugin's first].
    #[arg(long)]
    pub format: Option<String>,
    /// An option for every reader and writer opened, repeatable (`module` is set for layout
    /// plugins).
    #[arg(long = "option", short = 'O', value_name = "KEY=VALUE", value_parser = crate::import_cmd::parse_option)]
    pub options: Vec<(String, String)>,
}

#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// List audit entries, oldest first.
    List {
        /// Only entries from this point on: a span back from now (24h, 7d, 30m) or a UTC date
        /// or time (2026-12-01, 2026-12-01T08:00:00Z) [default: every entry kept].
        #[arg(long, value_name = "WHEN", value_parser = parse_since)]
        since: Option<chrono::DateTime<chrono::Utc>>,
        /// Most entries to show (the oldest that match).
        #[arg(long, default_value_t = 100)]
        limit: u32,
        /// Print the entries as one canonical proto3 JSON document, the ListAuditLogResponse
        /// message: `{"entries": [AuditEntry...], "nextPageToken": "..."}`.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        client: ClientArgs,
    },
}

/// `audit list --since`: `24h`/`7d`/`30m`/`90s` back from now, a date (UTC midnight) or an
/// RFC 3339 time.
pub fn parse_since(text: &str) -> Result<chrono::DateTime<chrono::Utc>, String> {
    let text = text.trim();
    if let Ok(t) = chrono::DateTime::parse_from_rfc3339(text) {
        return Ok(t.to_utc());
    }
    if let Ok(day) = chrono::NaiveDate::parse_from_str(text, "%Y-%m-%d") {
        return Ok(day.and_time(chrono::NaiveTime::MIN).and_utc());
    }
    let span = parse_lifetime(text).map_err(|_| {
        format!("'{text}' is not a time: write a span back from now (24h, 7d, 30m, 90s), a date (2026-12-01) or an RFC 3339 time (2026-12-01T08:00:00Z)")
    })?;
    chrono::Utc::now()
        .checked_sub_signed(span)
        .ok_or_else(|| format!("'{text}' reaches too far back"))
}

#[derive(Debug, Args)]
pub struct ExportArgs {
    #[command(flatten)]
    pub filter: FilterArgs,
    /// Fields to export, in this order (keys or template labels); default: the guide's core set.
    #[arg(long, value_delimiter = ',', value_name = "LIST", long_help = fields_help())]
    pub fields: Vec<String>,
    /// Every field of the module, in template order (the file imports back as is).
    #[arg(long, conflicts_with = "fields")]
    pub all_fields: bool,
    /// xlsx, csv or any plugin format that writes [default: the output's extension, else xlsx].
    #[arg(long, value_name = "FORMAT")]
    pub format: Option<String>,
    /// Export every record of the module, ignoring the filters (the guide's 全部数据).
    #[arg(long)]
    pub all: bool,
    /// Language of the header labels: zh-CN or en.
    #[arg(long, default_value = "zh-CN", value_name = "LOCALE")]
    pub locale: String,
    /// Output file, or a directory for the server's name (CRM客户数据_YYYYMMDD_HHMMSS.xlsx)
    /// [default: that name in the current directory].
    #[arg(short, long, value_name = "FILE|DIR")]
    pub output: Option<PathBuf>,
    /// A plugin option, repeatable: bom=false, delimiter=; ...
    #[arg(long = "option", short = 'O', value_name = "KEY=VALUE", value_parser = crate::import_cmd::parse_option)]
    pub options: Vec<(String, String)>,
    /// Export only the records whose code sorts after CODE (byte order, the order exports are
    /// written in); the count respects it. To finish an export that broke off, pass the last
    /// code it saved.
    #[arg(long, value_name = "CODE")]
    pub after_code: Option<String>,
    #[command(flatten)]
    pub client: ClientArgs,
}

#[derive(Debug, Args)]
pub struct MigrateArgs {
    /// The source server, e.g. http://old-crm:50051 (https:// for TLS).
    #[arg(long, value_name = "URL")]
    pub from: String,
    /// The target server.
    #[arg(long, value_name = "URL")]
    pub to: String,
    /// Modules to copy, in any order (customers always go first).
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "customers,contacts,opportunities",
        value_name = "LIST"
    )]
    pub modules: Vec<String>,
    /// How records meet existing ones on the target: insert, update or upsert.
    #[arg(long, default_value = "upsert", value_name = "MODE")]
    pub mode: String,
    /// Token for the source (needs `export`). Without it, --from-token-file.
    #[arg(
        long,
        env = "DATAPORT_FROM_TOKEN",
        hide_env_values = true,
        value_name = "TOKEN"
    )]
    pub from_token: Option<String>,
    /// File holding the source's token [default: ./dataport.token].
    #[arg(long, env = "DATAPORT_FROM_TOKEN_FILE", value_name = "FILE")]
    pub from_token_file: Option<PathBuf>,
    /// Token for the target (needs `import`). Without it, --to-token-file.
    #[arg(long, env = "DATAPORT_TO_TOKEN", hide_env_values = true, value_name = "TOKEN")]
    pub to_token: Option<String>,
    /// File holding the target's token [default: ./dataport.token].
    #[arg(long, env = "DATAPORT_TO_TOKEN_FILE", value_name = "FILE")]
    pub to_token_file: Option<PathBuf>,
    /// PEM CA that signed the source's certificate (an https:// --from; default: system roots).
    #[arg(long, env = "DATAPORT_FROM_TLS_CA", value_name = "FILE")]
    pub from_tls_ca: Option<PathBuf>,
    /// PEM client certificate for the source (mTLS); needs --from-tls-key.
    #[arg(
        long,
        env = "DATAPORT_FROM_TLS_CERT",
        value_name = "FILE",
        requires = "from_tls_key"
    )]
    pub from_tls_cert: Option<PathBuf>,
    /// The PEM private key of --from-tls-cert.
    #[arg(
        long,
        env = "DATAPORT_FROM_TLS_KEY",
        value_name = "FILE",
        requires = "from_tls_cert"
    )]
    pub from_tls_key: Option<PathBuf>,
    /// PEM CA that signed the target's certificate (an https:// --to; default: system roots).
    #[arg(long, env = "DATAPORT_TO_TLS_CA", value_name = "FILE")]
    pub to_tls_ca: Option<PathBuf>,
    /// PEM client certificate for the target (mTLS); needs --to-tls-key.
    #[arg(
        long,
        env = "DATAPORT_TO_TLS_CERT",
        value_name = "FILE",
        requires = "to_tls_key"
    )]
    pub to_tls_cert: Option<PathBuf>,
    /// The PEM private key of --to-tls-cert.
    #[arg(
        long,
        env = "DATAPORT_TO_TLS_KEY",
        value_name = "FILE",
        requires = "to_tls_cert"
    )]
    pub to_tls_key: Option<PathBuf>,
    /// Idempotency key prefix: each module's import gets request_id PREFIX-MODULE [default:
    /// derived from --from, --to and --mode]. Running the same migration again resumes a
    /// module that was interrupted and replays the report of one that ended; pass a new
    /// prefix to copy again.
    #[arg(long, value_name = "PREFIX")]
    pub request_id: Option<String>,
    /// On a lost connection, UNAVAILABLE or an interrupted module, retry it this many times
    /// with backoff (1, 2, 4… s), resuming the same job.
    #[arg(long, default_value_t = 5, value_name = "N")]
    pub retries: u32,
}

#[derive(Debug, Args)]
pub struct GenArgs {
    /// customers, contacts or opportunities.
    #[arg(long, value_name = "MODULE")]
    pub module: String,
    /// How many data rows.
    #[arg(long, value_name = "N")]
    pub rows: u64,
    /// Output file; .csv or .xlsx (any plugin format that writes) decides the format.
    pub output: PathBuf,
    /// The same seed always gives the same file.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Share of rows (0 to 1) replaced by broken rows, one error each, rotating through
    /// REQUIRED_MISSING, INVALID_DATE, INVALID_ENUM, INVALID_NUMBER, FORMULA_NOT_ALLOWED,
    /// FORBIDDEN_CHARACTER, VALUE_TOO_LONG, INVALID_FORMAT and DUPLICATE_IN_FILE.
    #[arg(long, default_value_t = 0.0, value_name = "R")]
    pub error_rate: f64,
    /// Contacts and opportunities refer to customers CUST000000000 … CUST(N-1) [default: --rows].
    #[arg(long, value_name = "N")]
    pub customer_rows: Option<u64>,
    /// Also write the injected errors as `row,code,field` CSV to this file.
    #[arg(long, value_name = "FILE")]
    pub manifest: Option<PathBuf>,
    /// Extra directory of format plugins (as for `serve`).
    #[arg(long, env = "DATAPORT_PLUGIN_DIR", value_name = "DIR", value_delimiter = ':')]
    pub plugin_dir: Vec<PathBuf>,
}

#[derive(Debug, Args)]
pub struct TemplateArgs {
    /// customers, contacts or opportunities (客户 / 联系人 / 商机 also work), or all: one
    /// workbook with a sheet per module (xlsx), for `import --module all`.
    pub module: String,
    /// xlsx, csv or any plugin format that writes [default: the output's extension, else xlsx].
    #[arg(long, value_name = "FORMAT")]
    pub format: Option<String>,
    /// Language of the notes and the instructions sheet (the header is always Chinese).
    #[arg(long, default_value = "zh-CN", value_name = "LOCALE")]
    pub locale: String,
    /// Output file or directory [default: 客户导入模板.xlsx etc. in the current directory].
    #[arg(short, long, value_name = "FILE|DIR")]
    pub output: Option<PathBuf>,
    #[command(flatten)]
    pub client: ClientArgs,
}

#[derive(Debug, Args)]
pub struct ImportArgs {
    /// The file to import.
    pub file: PathBuf,
    /// customers, contacts or opportunities (客户 / 联系人 / 商机 also work), or all: an xlsx
    /// workbook with the sheets 客户, 联系人 and 商机 (or Customers, Contacts, Opportunities),
    /// imported in that order as one job.
    #[arg(long, value_name = "MODULE")]
    pub module: String,
    /// insert (skip existing codes), update (only existing codes) or upsert (the guide's 批量更新).
    #[arg(long, default_value = "insert", value_name = "MODE")]
    pub mode: String,
    /// Check everything, database lookups included, and print a preview; write nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Import nothing if any row fails (default: import the good rows, report the bad ones).
    #[arg(long)]
    pub all_or_nothing: bool,
    /// Language of the row messages: zh-CN or en.
    #[arg(long, default_value = "zh-CN", value_name = "LOCALE")]
    pub locale: String,
    /// A format plugin name (csv, xlsx...) or auto (by the file's extension).
    #[arg(long, default_value = "auto", value_name = "FORMAT")]
    pub format: String,
    /// A plugin option, repeatable: encoding=gbk, delimiter=;, sheet=客户 ...
    #[arg(long = "option", short = 'O', value_name = "KEY=VALUE", value_parser = crate::import_cmd::parse_option)]
    pub options: Vec<(String, String)>,
    /// update and upsert: what a blank cell does to the stored value: keep it, or clear it.
    #[arg(long, default_value = "keep", value_name = "keep|clear")]
    pub blank_cells: String,
    /// Fill FIELD with VALUE in every row where it is empty, before validation; repeatable.
    /// FIELD is a key or template label (`dataport describe MODULE`); the value must pass the
    /// field's rules. E.g. --default owner=张伟 for an export without an owner column.
    #[arg(long = "default", value_name = "FIELD=VALUE", value_parser = crate::import_cmd::parse_default)]
    pub defaults: Vec<(String, String)>,
    /// Save the failed rows (template layout plus 错误原因) to this file, to fix and import
    /// again; its extension picks the format (.xlsx, .csv, or any plugin format that writes).
    #[arg(long, value_name = "FILE")]
    pub errors_out: Option<PathBuf>,
    /// Idempotency key of this import [default: derived from the file's sha256, the module,
    /// mode and options]. Running the same import again with the same key resumes it if it
    /// was interrupted, or prints its report if it ended; nothing is imported twice.
    #[arg(long, value_name = "KEY", conflicts_with = "resume")]
    pub request_id: Option<String>,
    /// Resume the interrupted job JOB_ID with this file: a csv is sent from the byte after the
    /// job's last committed row, other files whole (the rows up to the job's watermark are
    /// skipped).
    #[arg(long, value_name = "JOB_ID")]
    pub resume: Option<i64>,
    /// On a lost connection, UNAVAILABLE or an interrupted job, retry this many times with
    /// backoff (1, 2, 4… s), resuming the same job.
    #[arg(long, default_value_t = 5, value_name = "N")]
    pub retries: u32,
    #[command(flatten)]
    pub client: ClientArgs,
}

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Address to listen on [default: 127.0.0.1:50051]. Use 0.0.0.0:50051 to accept remote clients.
    #[arg(long, env = "DATAPORT_LISTEN", value_name = "ADDR")]
    pub listen: Option<SocketAddr>,

    #[command(flatten)]
    pub database: DatabaseArgs,

    /// Where the first start writes the admin token (mode 0600) [default: ./dataport.token].
    #[arg(long, env = "DATAPORT_TOKEN_FILE", value_name = "FILE")]
    pub token_file: Option<PathBuf>,

    /// Largest gRPC message accepted or sent, in bytes [default: 4194304].
    #[arg(long, env = "DATAPORT_MAX_MESSAGE_BYTES", value_name = "BYTES")]
    pub max_message_bytes: Option<usize>,

    /// Seconds in-flight calls may run after SIGTERM/Ctrl-C before the server stops anyway [default: 30].
    #[arg(long, env = "DATAPORT_SHUTDOWN_GRACE_SECS", value_name = "SECS")]
    pub shutdown_grace_secs: Option<u64>,

    /// Directory of format plugins (libdataport_plugin_*.so), repeatable; searched before the
    /// binary's own directory and the cargo target directory. The variable takes a ':'-separated list.
    #[arg(long, env = "DATAPORT_PLUGIN_DIR", value_name = "DIR", value_delimiter = ':')]
    pub plugin_dir: Vec<PathBuf>,

    /// How the plugins of --plugin-dir run: `process` (a worker process per job, so a plugin
    /// that crashes or hangs fails only its job) or `in-process` (no worker to start, but a crash
    /// stops the server); `NAME=process|in-process` sets it for the plugin in
    /// libdataport_plugin_NAME.so. Repeatable; the variable takes a ','-separated list. The
    /// bundled plugins always run in-process [default: process].
    #[arg(long, env = "DATAPORT_PLUGIN_ISOLATION", value_name = "[NAME=]MODE", value_delimiter = ',', value_parser = parse_isolation)]
    pub plugin_isolation: Vec<(Option<String>, PluginIsolation)>,

    /// An isolated plugin call that shows no sign of life (no reply, no read or write) for this
    /// long is killed as hung and fails its job [default: 60].
    #[arg(long, env = "DATAPORT_PLUGIN_TIMEOUT_SECS", value_name = "SECS")]
    pub plugin_timeout_secs: Option<u64>,

    /// Serve TLS with this PEM certificate chain (leaf first); needs --tls-key. Clients then
    /// connect with https:// addresses.
    #[arg(long, env = "DATAPORT_TLS_CERT", value_name = "FILE", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,

    /// The PEM private key of --tls-cert.
    #[arg(long, env = "DATAPORT_TLS_KEY", value_name = "FILE", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,

    /// Require client certificates signed by this PEM CA (mTLS); needs --tls-cert. Clients
    /// still need a token as well.
    #[arg(
        long,
        env = "DATAPORT_TLS_CLIENT_CA",
        value_name = "FILE",
        requires = "tls_cert"
    )]
    pub tls_client_ca: Option<PathBuf>,

    /// Serve Prometheus metrics at http://ADDR/metrics (plain HTTP, no token: bind it to an
    /// address only the monitoring system reaches, e.g. 127.0.0.1:9464) [default: off].
    #[arg(long, env = "DATAPORT_METRICS_LISTEN", value_name = "ADDR")]
    pub metrics_listen: Option<SocketAddr>,

    /// Largest upload in bytes; bigger files fail with FILE_TOO_LARGE [default: 4294967296 (4 GiB)].
    #[arg(long, env = "DATAPORT_MAX_UPLOAD_BYTES", value_name = "BYTES")]
    pub max_upload_bytes: Option<u64>,

    /// Most data rows in one import; more fail with FILE_TOO_LARGE [default: 20000000].
    #[arg(long, env = "DATAPORT_MAX_IMPORT_ROWS", value_name = "ROWS")]
    pub max_import_rows: Option<u64>,

    /// Row errors sent as events per import; later ones are only counted and persisted [default: 1000].
    #[arg(long, env = "DATAPORT_MAX_ROW_ERROR_EVENTS", value_name = "N")]
    pub max_row_error_events: Option<u64>,

    /// Row errors persisted per import, for job reports and error files [default: 100000].
    #[arg(long, env = "DATAPORT_MAX_PERSISTED_ROW_ERRORS", value_name = "N")]
    pub max_persisted_row_errors: Option<u64>,

    /// Rows per import batch (one validation batch, one write transaction), for up to two
    /// imports at once; more imports share it out, at least 500 rows each [default: 5000].
    #[arg(long, env = "DATAPORT_IMPORT_BATCH_ROWS", value_name = "ROWS")]
    pub import_batch_rows: Option<usize>,

    /// An import whose client sends nothing for this long is INTERRUPTED ("no data for N s")
    /// and its thread freed [default: 60].
    #[arg(long, env = "DATAPORT_IMPORT_IDLE_TIMEOUT_SECS", value_name = "SECS")]
    pub import_idle_timeout_secs: Option<u64>,

    /// Imports running at once; beyond it Import is refused with RESOURCE_EXHAUSTED
    /// (TOO_MANY_IMPORTS) before a job exists [default: 16].
    #[arg(long, env = "DATAPORT_MAX_CONCURRENT_IMPORTS", value_name = "N")]
    pub max_concurrent_imports: Option<usize>,

    /// Seconds a running job's lease holds without renewal. On PostgreSQL each replica renews
    /// its jobs' leases and marks jobs whose lease expired (their server was killed)
    /// INTERRUPTED, within about 1.3 × this [default: 15].
    #[arg(long, env = "DATAPORT_JOB_LEASE_SECS", value_name = "SECS")]
    pub job_lease_secs: Option<u64>,

    /// Days an import's request_id (idempotency key) names its job: a re-run with the same key
    /// resumes or replays that job instead of importing again [default: 7].
    #[arg(long, env = "DATAPORT_REQUEST_ID_RETENTION_DAYS", value_name = "DAYS")]
    pub request_id_retention_days: Option<u64>,

    /// Seconds a call waits for a database connection before it fails with UNAVAILABLE; the
    /// health service reports NOT_SERVING while the database cannot be reached [default: 5].
    #[arg(long, env = "DATAPORT_DB_TIMEOUT_SECS", value_name = "SECS")]
    pub db_timeout_secs: Option<u64>,

    /// Database connections this server keeps at most: SQLite's readers (its one writer comes
    /// on top), or the PostgreSQL pool. Replicas behind PgBouncer or one PostgreSQL share its
    /// max_connections; export snapshots have 8 more of their own, opened on demand [default: 8].
    #[arg(long, env = "DATAPORT_DATABASE_POOL_SIZE", value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    pub database_pool_size: Option<u32>,

    /// Days audit entries are kept (see `dataport audit list`); older ones are deleted at start
    /// and every 6 hours. 0 keeps them forever [default: 365].
    #[arg(long, env = "DATAPORT_AUDIT_RETENTION_DAYS", value_name = "DAYS")]
    pub audit_retention_days: Option<u64>,

    /// Log lines on stderr: `text` for people, `json` for one JSON object per line (log
    /// collectors). RUST_LOG still picks the levels.
    #[arg(long, env = "DATAPORT_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text, value_name = "FORMAT")]
    pub log_format: LogFormat,
}

/// `serve --plugin-isolation`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum PluginIsolation {
    Process,
    InProcess,
}

/// One `--plugin-isolation` setting: a mode, or `NAME=mode` for one plugin.
pub fn parse_isolation(text: &str) -> Result<(Option<String>, PluginIsolation), String> {
    use clap::ValueEnum;
    let (name, mode) = match text.split_once('=') {
        Some((name, mode)) if !name.trim().is_empty() => (Some(name.trim().to_owned()), mode),
        _ => (None, text),
    };
    let mode = PluginIsolation::from_str(mode.trim(), true)
        .map_err(|_| format!("'{text}' is not `process`, `in-process`, or NAME=process|in-process"))?;
    Ok((name, mode))
}

/// `serve --log-format`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, Args)]
pub struct DatabaseArgs {
    /// SQLite file path (embedded, WAL mode) or postgres://user:password@host/db [default: ./dataport.db].
    #[arg(long, env = "DATAPORT_DATABASE_URL", value_name = "URL")]
    pub database_url: Option<String>,
}

#[derive(Debug, Args)]
pub struct ClientArgs {
    /// Server address [default: http://127.0.0.1:50051].
    #[arg(long, env = "DATAPORT_SERVER", value_name = "URL")]
    pub server: Option<String>,

    /// API token. Without it, the token file is read.
    #[arg(long, env = "DATAPORT_TOKEN", hide_env_values = true, value_name = "TOKEN")]
    pub token: Option<String>,

    /// File holding the API token, as written by the server's first start [default: ./dataport.token].
    #[arg(long, env = "DATAPORT_TOKEN_FILE", value_name = "FILE")]
    pub token_file: Option<PathBuf>,

    #[command(flatten)]
    pub tls: TlsArgs,
}

/// TLS settings of a client command. An https:// --server always means TLS.
#[derive(Debug, Args, Default)]
pub struct TlsArgs {
    /// Trust this PEM CA certificate for the server's certificate, instead of the system's
    /// roots (needs an https:// --server).
    #[arg(long, env = "DATAPORT_TLS_CA", value_name = "FILE")]
    pub tls_ca: Option<PathBuf>,

    /// Present this PEM client certificate, to a server that requires one (mTLS); needs
    /// --tls-key.
    #[arg(
        long,
        env = "DATAPORT_TLS_CLIENT_CERT",
        value_name = "FILE",
        requires = "tls_key"
    )]
    pub tls_cert: Option<PathBuf>,

    /// The PEM private key of --tls-cert.
    #[arg(
        long,
        env = "DATAPORT_TLS_CLIENT_KEY",
        value_name = "FILE",
        requires = "tls_cert"
    )]
    pub tls_key: Option<PathBuf>,
}

impl TlsArgs {
    pub fn options(&self) -> dataport_client::TlsOptions {
        dataport_client::TlsOptions {
            ca: self.tls_ca.clone(),
            cert: self.tls_cert.clone(),
            key: self.tls_key.clone(),
        }
    }
}

#[derive(Debug, Subcommand)]
pub enum TokenCommand {
    /// Create a token and print its secret once (only a hash is stored).
    Create {
        /// Unique name, recorded with every job the token starts.
        #[arg(long)]
        name: String,
        /// Comma-separated: import, export, admin (admin implies all).
        #[arg(long, value_name = "LIST")]
        permissions: String,
        /// Lifetime: a whole number and a unit, d (days), h (hours), m (minutes) or s (seconds),
        /// e.g. 90d, 12h, 30m, 30s. From then on calls with the token fail with UNAUTHENTICATED
        /// saying it expired; create a new one to replace it. Without it the token never expires.
        #[arg(long, value_name = "DURATION", value_parser = parse_lifetime)]
        expires_in: Option<chrono::TimeDelta>,
        #[command(flatten)]
        database: DatabaseArgs,
    },
    /// List tokens (never their secrets), with when each expires and was last used.
    List {
        #[command(flatten)]
        database: DatabaseArgs,
    },
    /// Revoke a token by name; calls with it fail with UNAUTHENTICATED from then on.
    Revoke {
        /// The token's name.
        #[arg(long)]
        name: String,
        #[command(flatten)]
        database: DatabaseArgs,
    },
}

/// A token lifetime for `--expires-in`: a positive whole number and one of d, h, m, s.
pub fn parse_lifetime(text: &str) -> Result<chrono::TimeDelta, String> {
    let text = text.trim();
    let bad = || {
        format!("'{text}' is not a lifetime: write a whole number and d, h, m or s, e.g. 90d, 12h, 30m, 30s")
    };
    let split = text
        .len()
        .checked_sub(1)
        .filter(|&i| text.is_char_boundary(i))
        .ok_or_else(bad)?;
    let (number, unit) = text.split_at(split);
    if number.is_empty() || !number.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad());
    }
    let n: i64 = number.parse().map_err(|_| bad())?;
    if n == 0 {
        return Err(format!(
            "'{text}': a token must live longer than 0; leave out --expires-in for a token that never expires"
        ));
    }
    let lifetime = match unit {
        "d" | "D" => n.checked_mul(86_400),
        "h" | "H" => n.checked_mul(3_600),
        "m" | "M" => n.checked_mul(60),
        "s" | "S" => Some(n),
        _ => return Err(bad()),
    }
    // Far beyond any real lifetime, and short enough to be added to a date.
    .filter(|&secs| secs <= 100 * 366 * 86_400)
    .ok_or_else(|| format!("'{text}' is too long a lifetime (at most 100 years)"))?;
    Ok(chrono::TimeDelta::seconds(lifetime))
}

#[derive(Debug, Args)]
pub struct CountArgs {
    #[command(flatten)]
    pub filter: FilterArgs,
    #[command(flatten)]
    pub client: ClientArgs,
}

/// Filters shared by `count` and `export`. Repeat a flag or separate values with
/// commas to match any of them.
#[derive(Debug, Args)]
pub struct FilterArgs {
    /// customers, contacts or opportunities (客户 / 联系人 / 商机 also work).
    #[arg(long, value_name = "MODULE")]
    pub module: String,
    /// Customers: 客户等级 (VIP, 重要, 普通).
    #[arg(long, value_delimiter = ',')]
    pub level: Vec<String>,
    /// Customers: 跟进状态 (待跟进, 跟进中, 已成交, 已流失).
    #[arg(long, value_delimiter = ',')]
    pub status: Vec<String>,
    /// Customers and opportunities: 负责人.
    #[arg(long, value_delimiter = ',')]
    pub owner: Vec<String>,
    /// Customers: 所属行业.
    #[arg(long, value_delimiter = ',')]
    pub industry: Vec<String>,
    /// Customers: exact codes.
    #[arg(long, value_delimiter = ',')]
    pub code: Vec<String>,
    /// Customers: first 创建时间 included, YYYY-MM-DD.
    #[arg(long, value_name = "DATE")]
    pub created_from: Option<String>,
    /// Customers: last 创建时间 included, YYYY-MM-DD.
    #[arg(long, value_name = "DATE")]
    pub created_to: Option<String>,
    /// Customers and contacts: substring of the name.
    #[arg(long, value_name = "TEXT")]
    pub name_contains: Option<String>,
    /// Contacts and opportunities: the customer's code.
    #[arg(long, value_delimiter = ',')]
    pub customer_code: Vec<String>,
    /// Contacts: the owner (负责人) of the contact's customer.
    #[arg(long, value_delimiter = ',')]
    pub customer_owner: Vec<String>,
    /// Opportunities: 销售阶段.
    #[arg(long, value_delimiter = ',')]
    pub stage: Vec<String>,
    /// Opportunities: first 预计成交日期 included, YYYY-MM-DD.
    #[arg(long, value_name = "DATE")]
    pub close_from: Option<String>,
    /// Opportunities: last 预计成交日期 included, YYYY-MM-DD.
    #[arg(long, value_name = "DATE")]
    pub close_to: Option<String>,
}

#[derive(Debug, Subcommand)]
pub enum JobsCommand {
    /// List import jobs, newest first.
    List {
        /// Only this module (all: the workbook imports).
        #[arg(long)]
        module: Option<String>,
        /// Only this status: running, succeeded, partially_succeeded, failed, cancelled,
        /// interrupted, reverted.
        #[arg(long)]
        status: Option<String>,
        /// How many jobs to show.
        #[arg(long, default_value_t = 20)]
        limit: u32,
        /// Print the page as one canonical proto3 JSON document, the ListImportJobsResponse
        /// message: `{"jobs": [ImportJob...], "nextPageToken": "..."}` (`{}` when no job matches).
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        client: ClientArgs,
    },
    /// Save the failed rows of a job as a file to fix and import again (template layout plus
    /// an 错误原因 column).
    Errors {
        /// Job id.
        id: i64,
        /// Output file; its extension picks the format (.xlsx, .csv, or any plugin format that
        /// writes, e.g. .psv).
        #[arg(short, long, value_name = "FILE")]
        output: PathBuf,
        /// Language of the header labels: zh-CN or en.
        #[arg(long, default_value = "zh-CN", value_name = "LOCALE")]
        locale: String,
        #[command(flatten)]
        client: ClientArgs,
    },
    /// Show one job's report and its first row errors.
    Show {
        /// Job id.
        id: i64,
        /// How many row errors to show.
        #[arg(long, default_value_t = 20)]
        errors: u32,
        /// Print the ImportJob message as canonical proto3 JSON instead of the report (no row
        /// errors; `jobs errors` saves those).
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        client: ClientArgs,
    },
    /// Undo an ended import: delete the records it created and restore the values it
    /// overwrote. Records changed after the import are left alone and listed (--force reverts
    /// them anyway); customers that other records reference are kept. The job becomes
    /// reverted. Exit code 0: everything reverted, 2: some records were left alone, 1: failed.
    Revert {
        /// Job id.
        id: i64,
        /// Show what a revert would do; change nothing.
        #[arg(long)]
        dry_run: bool,
        /// Revert records changed after the import too (their later changes are lost).
        #[arg(long)]
        force: bool,
        /// Language of the conflict reasons: zh-CN or en.
        #[arg(long, default_value = "zh-CN", value_name = "LOCALE")]
        locale: String,
        #[command(flatten)]
        client: ClientArgs,
    },
    /// Cancel a running import, from any connection (any replica). It stops at its next batch
    /// boundary and ends CANCELLED: skip-row imports keep their committed batches,
    /// all-or-nothing imports roll back. Prints the report.
    Cancel {
        /// Job id.
        id: i64,
        #[command(flatten)]
        client: ClientArgs,
    },
    /// Follow a job until it ends (progress, then the report), from any connection; an ended
    /// job prints its report at once. Exit code as `import`: 0, 2 some rows failed, 1 failed
    /// or cancelled, 3 interrupted.
    Watch {
        /// Job id.
        id: i64,
        #[command(flatten)]
        client: ClientArgs,
    },
}

/// `export --fields` help, from the field registry: every module's keys, the default set marked.
fn fields_help() -> String {
    let mut help = String::from(
        "Fields to export, in this order (keys or template labels); default: the guide's core set, marked *.",
    );
    for module in dataport_core::Module::ALL {
        let keys: Vec<String> = module
            .fields()
            .iter()
            .map(|f| format!("{}{}", f.key, if f.default_export { "*" } else { "" }))
            .collect();
        help.push_str(&format!("\n  {module}: {}", keys.join(", ")));
    }
    help
}

#[cfg(test)]
mod tests {
    use super::parse_lifetime;

    #[test]
    fn token_lifetimes() {
        assert_eq!(parse_lifetime("90d"), Ok(chrono::TimeDelta::days(90)));
        assert_eq!(parse_lifetime("12h"), Ok(chrono::TimeDelta::hours(12)));
        assert_eq!(parse_lifetime("30m"), Ok(chrono::TimeDelta::minutes(30)));
        assert_eq!(parse_lifetime(" 30s "), Ok(chrono::TimeDelta::seconds(30)));
        for zero in ["0d", "0s", "000h"] {
            let err = parse_lifetime(zero).unwrap_err();
            assert!(err.contains("longer than 0"), "{zero}: {err}");
        }
        for junk in [
            "",
            "d",
            "90",
            "90x",
            "-5d",
            "+5d",
            "1.5h",
            "5 d",
            "9d2h",
            "5日",
            "99999999999999999999d",
        ] {
            let err = parse_lifetime(junk).unwrap_err();
            assert!(err.contains("not a lifetime"), "{junk}: {err}");
        }
        assert!(parse_lifetime("40000d").unwrap_err().contains("too long"));
    }
}
