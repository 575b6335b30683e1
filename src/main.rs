//! The `dataport` binary: server and command-line client in one.

mod allocator;
mod cli;
mod download;
mod export_cmd;
mod gen_cmd;
mod import_cmd;
mod migrate_cmd;
mod plugin_cmd;
mod revert_cmd;
mod table;

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use clap::Parser;
use dataport_client::{AuthedClient, DEFAULT_SERVER, convert, v1};
use dataport_core::{Module, PermissionSet};
use dataport_server::config::ImportLimits;
use dataport_server::{FileConfig, Server, ServerConfig, config};
use dataport_store::Store;
use tracing_subscriber::EnvFilter;

use cli::{
    AuditCommand, Cli, ClientArgs, Command, DatabaseArgs, ExportArgs, FilterArgs, GenArgs, ImportArgs,
    JobsCommand, MigrateArgs, ServeArgs, TemplateArgs, TokenCommand,
};
use table::{Table, enum_word};

fn main() -> ExitCode {
    let cli = Cli::parse();
    if !matches!(cli.command, Command::Serve(_)) {
        // Client commands are often piped into `head` or `less`: a closed stdout should end
        // them quietly, as it ends any Unix tool, instead of a panic message. SIGPIPE itself
        // stays ignored, because its default action would also kill the client silently
        // whenever the server closes a connection it is writing to (a TLS refusal, a restart).
        let default_hook = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let message = info
                .payload()
                .downcast_ref::<String>()
                .map(String::as_str)
                .or_else(|| info.payload().downcast_ref::<&str>().copied())
                .unwrap_or_default();
            if message.starts_with("failed printing to stdout") && message.contains("Broken pipe") {
                std::process::exit(141);
            }
            default_hook(info);
        }));
    }
    let default_log = if matches!(cli.command, Command::Serve(_)) {
        "info"
    } else {
        "warn"
    };
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default_log));
    let log = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match &cli.command {
        // One JSON object per line, for log collectors.
        Command::Serve(args) if args.log_format == cli::LogFormat::Json => log.json().init(),
        _ => log.init(),
    }
    let serving = matches!(cli.command, Command::Serve(_));
    match run(cli) {
        Ok(code) => code,
        Err(error) => {
            // A failed call shows its code: `error [INVALID_ARGUMENT]: ...`.
            match error.chain().find_map(|e| e.downcast_ref::<CallFailed>()) {
                Some(call) => eprintln!("error [{}]: {error:#}", call.label),
                None => eprintln!("error: {error:#}"),
            }
            if serving {
                exit_now(1);
            }
            ExitCode::FAILURE
        }
    }
}

/// Ends a server that failed, without libc's exit handlers. A PostgreSQL pool thread may be
/// inside libpq's connect at that moment, and `exit` would run OpenSSL's cleanup under it
/// (SIGSEGV instead of the exit status). A failed server has nothing left for them to do:
/// stderr is unbuffered and stdout is flushed here.
fn exit_now(code: i32) -> ! {
    use std::io::Write;
    let _ = std::io::stdout().flush();
    // SAFETY: `_exit` ends the process at once; nothing runs after it.
    unsafe { libc::_exit(code) }
}

fn run(cli: Cli) -> Result<ExitCode> {
    let file = FileConfig::load(cli.config.as_deref())?;
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    let done = |r: Result<()>| r.map(|()| ExitCode::SUCCESS);
    match cli.command {
        Command::Serve(args) => {
            done(server_config(args, &file).and_then(|config| runtime.block_on(serve(config))))
        }
        Command::Token(command) => done(token(command, &file)),
        Command::Count(args) => done(runtime.block_on(count(args.filter, args.client, &file))),
        Command::Import(args) => runtime.block_on(import(args, &file)),
        Command::Formats { client } => done(runtime.block_on(formats(client, &file))),
        Command::Describe { module, json, client } => {
            done(runtime.block_on(describe(&module, json, client, &file)))
        }
        Command::Export(args) => done(runtime.block_on(export(args, &file))),
        Command::Template(args) => done(runtime.block_on(template(args, &file))),
        Command::Gen(args) => done(generate(args)),
        Command::Migrate(args) => runtime.block_on(migrate(args)),
        Command::PluginCheck(args) => plugin_cmd::check(args),
        Command::PluginSdkPath => done(plugin_cmd::sdk_path()),
        Command::PluginWorker { library } => done(plugin_cmd::worker(&library)),
        Command::Jobs(command) => runtime.block_on(jobs(command, &file)),
        Command::Audit(command) => done(runtime.block_on(audit(command, &file))),
    }
}

/// `--plugin-isolation` and `--plugin-timeout-secs` (or the config file): the default mode and
/// per-plugin exceptions; workers are this same executable's `plugin-worker` command.
fn plugin_isolation(
    flags: Vec<(Option<String>, cli::PluginIsolation)>,
    timeout_secs: Option<u64>,
    file: &FileConfig,
) -> Result<Option<dataport_plugin_host::Isolation>> {
    let settings = if flags.is_empty() {
        let text = file.plugin_isolation.clone().unwrap_or_default();
        text.split(',')
            .filter(|s| !s.trim().is_empty())
            .map(|s| {
                cli::parse_isolation(s).map_err(|e| anyhow::anyhow!("config file: plugin_isolation: {e}"))
            })
            .collect::<Result<Vec<_>>>()?
    } else {
        flags
    };
    let isolated = |mode: cli::PluginIsolation| mode == cli::PluginIsolation::Process;
    let by_default = settings
        .iter()
        .rev()
        .find(|(name, _)| name.is_none())
        .is_none_or(|(_, mode)| isolated(*mode));
    let per_plugin: Vec<(String, bool)> = settings
        .into_iter()
        .filter_map(|(name, mode)| name.map(|n| (n, isolated(mode))))
        .collect();
    if !by_default && !per_plugin.iter().any(|(_, isolated)| *isolated) {
        return Ok(None);
    }
    let worker = std::env::current_exe().context("finding this executable, to run plugin workers")?;
    let secs = timeout_secs.or(file.plugin_timeout_secs).unwrap_or(60).max(1);
    Ok(Some(dataport_plugin_host::Isolation {
        worker,
        timeout: std::time::Duration::from_secs(secs),
        by_default,
        per_plugin,
    }))
}

/// Flags and environment first, then the TOML file, then built-in defaults.
fn server_config(args: ServeArgs, file: &FileConfig) -> Result<ServerConfig> {
    let defaults = ServerConfig::default();
    let tls_cert = args.tls_cert.or_else(|| file.tls_cert.clone());
    let tls_key = args.tls_key.or_else(|| file.tls_key.clone());
    let tls_client_ca = args.tls_client_ca.or_else(|| file.tls_client_ca.clone());
    let tls = match (tls_cert, tls_key) {
        (Some(cert), Some(key)) => Some(dataport_server::tls::TlsFiles {
            cert,
            key,
            client_ca: tls_client_ca,
        }),
        (None, None) if tls_client_ca.is_none() => None,
        _ => bail!(
            "TLS needs both --tls-cert and --tls-key (tls_cert and tls_key in the config file); --tls-client-ca adds client certificates to them"
        ),
    };
    Ok(ServerConfig {
        listen: args.listen.or(file.listen).unwrap_or(defaults.listen),
        database_url: database_url(&args.database, file),
        token_file: args
            .token_file
            .or_else(|| file.token_file.clone())
            .unwrap_or(defaults.token_file),
        max_message_bytes: args
            .max_message_bytes
            .or(file.max_message_bytes)
            .unwrap_or(defaults.max_message_bytes),
        shutdown_grace: args
            .shutdown_grace_secs
            .or(file.shutdown_grace_secs)
            .map(std::time::Duration::from_secs)
            .unwrap_or(defaults.shutdown_grace),
        job_lease: args
            .job_lease_secs
            .or(file.job_lease_secs)
            .map(|s| std::time::Duration::from_secs(s.max(1)))
            .unwrap_or(defaults.job_lease),
        plugin_dirs: if args.plugin_dir.is_empty() {
            file.plugin_dir.clone().unwrap_or_default()
        } else {
            args.plugin_dir
        },
        plugin_isolation: plugin_isolation(args.plugin_isolation, args.plugin_timeout_secs, file)?,
        tls,
        metrics_listen: args.metrics_listen.or(file.metrics_listen),
        limits: ImportLimits {
            max_upload_bytes: args
                .max_upload_bytes
                .or(file.max_upload_bytes)
                .unwrap_or(defaults.limits.max_upload_bytes),
            max_rows: args
                .max_import_rows
                .or(file.max_import_rows)
                .unwrap_or(defaults.limits.max_rows),
            max_row_error_events: args
                .max_row_error_events
                .or(file.max_row_error_events)
                .unwrap_or(defaults.limits.max_row_error_events),
            max_persisted_row_errors: args
                .max_persisted_row_errors
                .or(file.max_persisted_row_errors)
                .unwrap_or(defaults.limits.max_persisted_row_errors),
            batch_rows: args
                .import_batch_rows
                .or(file.import_batch_rows)
                .unwrap_or(defaults.limits.batch_rows)
                .max(1),
            idle_timeout: args
                .import_idle_timeout_secs
                .or(file.import_idle_timeout_secs)
                .map(|s| std::time::Duration::from_secs(s.max(1)))
                .unwrap_or(defaults.limits.idle_timeout),
            max_concurrent: args
                .max_concurrent_imports
                .or(file.max_concurrent_imports)
                .unwrap_or(defaults.limits.max_concurrent)
                .max(1),
            request_id_retention: args
                .request_id_retention_days
                .or(file.request_id_retention_days)
                .map(|d| std::time::Duration::from_secs(d.saturating_mul(86_400)))
                .unwrap_or(defaults.limits.request_id_retention),
        },
        db_timeout: args
            .db_timeout_secs
            .or(file.db_timeout_secs)
            .map(|s| std::time::Duration::from_secs(s.max(1)))
            .unwrap_or(defaults.db_timeout),
        database_pool_size: args
            .database_pool_size
            .or(file.database_pool_size)
            .unwrap_or(defaults.database_pool_size)
            .max(1),
        audit_retention: match args.audit_retention_days.or(file.audit_retention_days) {
            Some(0) => None,
            Some(days) => Some(std::time::Duration::from_secs(days.saturating_mul(86_400))),
            None => defaults.audit_retention,
        },
    })
}

fn database_url(args: &DatabaseArgs, file: &FileConfig) -> String {
    args.database_url
        .clone()
        .or_else(|| file.database_url.clone())
        .unwrap_or_else(|| config::DEFAULT_DATABASE_URL.to_owned())
}

async fn serve(config: ServerConfig) -> Result<()> {
    let shutdown = dataport_server::shutdown_signal().context("installing signal handlers")?;
    let server = Server::bind(config.clone()).await?;
    // Plain lines on stdout: scripts and tests read the address from here whatever RUST_LOG says.
    if let Some(addr) = server.metrics_addr() {
        println!("metrics on http://{addr}/metrics");
    }
    println!(
        "dataport listening on {} (database: {}, {}; {})",
        server.local_addr(),
        dataport_store::mask_url(&config.database_url),
        server.backend(),
        server.transport_security()
    );
    if let Some(path) = server.created_token_file() {
        println!(
            "created the first admin token; it is in {} (readable only by you)",
            path.display()
        );
    }
    server.serve(shutdown).await?;
    println!("dataport stopped");
    Ok(())
}

fn open_store(args: &DatabaseArgs, file: &FileConfig) -> Result<Store> {
    let url = database_url(args, file);
    let options = dataport_store::StoreOptions {
        keep_idle: false,
        ..dataport_store::StoreOptions::default()
    };
    Store::open_with(&url, &options)
        .with_context(|| format!("opening database {}", dataport_store::mask_url(&url)))
}

fn token(command: TokenCommand, file: &FileConfig) -> Result<()> {
    match command {
        TokenCommand::Create {
            name,
            permissions,
            expires_in,
            database,
        } => {
            let permissions: PermissionSet = permissions.parse()?;
            if permissions.is_empty() {
                bail!("--permissions needs at least one of import, export, admin");
            }
            let store = open_store(&database, file)?;
            let (token, secret) = store.create_expiring_token(&name, &permissions, expires_in)?;
            let expiry = match token.expires_at {
                Some(t) => format!("expiring {} UTC", t.format("%Y-%m-%d %H:%M:%S")),
                None => "never expiring".to_owned(),
            };
            eprintln!(
                "created token '{}' with permissions {}, {expiry}; this is the only time it is shown:",
                token.name, token.permissions
            );
            println!("{secret}");
        }
        TokenCommand::List { database } => {
            let store = open_store(&database, file)?;
            let mut table = Table::new([
                "name",
                "permissions",
                "created",
                "expires",
                "last used",
                "revoked",
            ]);
            let now = chrono::Utc::now();
            for token in store.list_tokens()? {
                let time = |t: Option<chrono::DateTime<chrono::Utc>>| {
                    t.map(|t| t.format("%Y-%m-%d %H:%M:%S").to_string())
                        .unwrap_or_else(|| "-".into())
                };
                let expires = match token.expires_at {
                    None => "never".to_owned(),
                    Some(_) if token.is_expired_at(now) => format!("{} (expired)", time(token.expires_at)),
                    Some(_) => time(token.expires_at),
                };
                table.row([
                    token.name.clone(),
                    token.permissions.to_string(),
                    time(Some(token.created_at)),
                    expires,
                    time(token.last_used_at),
                    time(token.revoked_at),
                ]);
            }
            print!("{table}");
        }
        TokenCommand::Revoke { name, database } => {
            let store = open_store(&database, file)?;
            if !store.revoke_token(&name)? {
                bail!("no active token is named '{name}'; see `dataport token list`");
            }
            println!("revoked token '{name}'");
        }
    }
    Ok(())
}

/// Whether the command's server is reached over TLS (an https:// address), and with a client
/// certificate: the hints of failed calls depend on it.
static SERVER_TLS: std::sync::OnceLock<(bool, bool)> = std::sync::OnceLock::new();

async fn connect(args: &ClientArgs, file: &FileConfig) -> Result<AuthedClient> {
    let server = args
        .server
        .clone()
        .or_else(|| file.server.clone())
        .unwrap_or_else(|| DEFAULT_SERVER.to_owned());
    let token_file: PathBuf = args
        .token_file
        .clone()
        .or_else(|| file.token_file.clone())
        .unwrap_or_else(|| PathBuf::from(config::DEFAULT_TOKEN_FILE));
    let token = dataport_client::resolve_token(args.token.as_deref(), &token_file)?;
    let _ = SERVER_TLS.set((server.starts_with("https://"), args.tls.tls_cert.is_some()));
    Ok(dataport_client::connect_with(&server, &token, &args.tls.options()).await?)
}

/// A failed call: what the server said, and the code to show with it (the dataport reason
/// from the status details, else the gRPC code name).
#[derive(Debug)]
pub(crate) struct CallFailed {
    label: String,
    message: String,
    pub(crate) code: tonic::Code,
}

impl std::fmt::Display for CallFailed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for CallFailed {}

/// Turns a failed call into an error that says what the server said; `main` prints it as
/// `error [CODE]: message`.
pub(crate) fn call_failed(status: tonic::Status) -> anyhow::Error {
    let mut message = match status.message() {
        "" => status.code().description().to_owned(),
        message => message.to_owned(),
    };
    let (secure, client_cert) = SERVER_TLS.get().copied().unwrap_or_default();
    if let Some(hint) = dataport_client::status_hint(&status, secure, client_cert) {
        message = format!("{message}; {hint}");
    }
    anyhow::Error::new(CallFailed {
        label: dataport_client::error_label(&status),
        message,
        code: status.code(),
    })
}

fn filter_from_args(args: &FilterArgs) -> Result<(Module, v1::Filter)> {
    use v1::filter::ModuleFilter;
    let module: Module = args.module.parse()?;
    let range = |from: &Option<String>, to: &Option<String>| {
        (from.is_some() || to.is_some()).then(|| v1::DateRange {
            from: from.clone().unwrap_or_default(),
            to: to.clone().unwrap_or_default(),
        })
    };
    let misplaced: Vec<&str> = match module {
        Module::Customers => [
            ("--customer-code", !args.customer_code.is_empty()),
            ("--customer-owner", !args.customer_owner.is_empty()),
            ("--stage", !args.stage.is_empty()),
            (
                "--close-from/--close-to",
                args.close_from.is_some() || args.close_to.is_some(),
            ),
        ]
        .into_iter()
        .filter_map(|(flag, used)| used.then_some(flag))
        .collect(),
        Module::Contacts => [
            ("--level", !args.level.is_empty()),
            ("--status", !args.status.is_empty()),
            ("--owner", !args.owner.is_empty()),
            ("--industry", !args.industry.is_empty()),
            ("--code", !args.code.is_empty()),
            (
                "--created-from/--created-to",
                args.created_from.is_some() || args.created_to.is_some(),
            ),
            ("--stage", !args.stage.is_empty()),
            (
                "--close-from/--close-to",
                args.close_from.is_some() || args.close_to.is_some(),
            ),
        ]
        .into_iter()
        .filter_map(|(flag, used)| used.then_some(flag))
        .collect(),
        Module::Opportunities => [
            ("--level", !args.level.is_empty()),
            ("--status", !args.status.is_empty()),
            ("--industry", !args.industry.is_empty()),
            ("--code", !args.code.is_empty()),
            (
                "--created-from/--created-to",
                args.created_from.is_some() || args.created_to.is_some(),
            ),
            ("--name-contains", args.name_contains.is_some()),
            ("--customer-owner", !args.customer_owner.is_empty()),
        ]
        .into_iter()
        .filter_map(|(flag, used)| used.then_some(flag))
        .collect(),
    };
    if !misplaced.is_empty() {
        bail!(
            "{} cannot filter {module}; see `dataport count --help`",
            misplaced.join(", ")
        );
    }
    let filter = match module {
        Module::Customers => ModuleFilter::Customers(v1::CustomerFilter {
            levels: args.level.clone(),
            follow_up_statuses: args.status.clone(),
            owners: args.owner.clone(),
            industries: args.industry.clone(),
            created_at: range(&args.created_from, &args.created_to),
            codes: args.code.clone(),
            name_contains: args.name_contains.clone().unwrap_or_default(),
        }),
        Module::Contacts => ModuleFilter::Contacts(v1::ContactFilter {
            customer_codes: args.customer_code.clone(),
            customer_owners: args.customer_owner.clone(),
            name_contains: args.name_contains.clone().unwrap_or_default(),
        }),
        Module::Opportunities => ModuleFilter::Opportunities(v1::OpportunityFilter {
            customer_codes: args.customer_code.clone(),
            stages: args.stage.clone(),
            owners: args.owner.clone(),
            expected_close_date: range(&args.close_from, &args.close_to),
        }),
    };
    Ok((
        module,
        v1::Filter {
            module_filter: Some(filter),
        },
    ))
}

async fn count(filter: FilterArgs, client: ClientArgs, file: &FileConfig) -> Result<()> {
    let (module, filter) = filter_from_args(&filter)?;
    let mut client = connect(&client, file).await?;
    let response = client
        .count_records(v1::CountRecordsRequest {
            module: convert::module_to_proto(module) as i32,
            filter: Some(filter),
        })
        .await
        .map_err(call_failed)?;
    let n = response.get_ref().count;
    println!("共{n}条 ({n} {module})");
    Ok(())
}

async fn jobs(command: JobsCommand, file: &FileConfig) -> Result<ExitCode> {
    match command {
        JobsCommand::Cancel { id, client } => {
            let mut client = connect(&client, file).await?;
            let response = client
                .cancel_import(v1::CancelImportRequest { job_id: id })
                .await
                .map_err(call_failed)?
                .into_inner();
            let job = response.job.context("the server sent no job")?;
            if job.status() == v1::JobStatus::Running {
                println!(
                    "cancel of job {id} recorded; it stops at its next batch (follow it with `dataport jobs watch {id}`)"
                );
            }
            import_cmd::print_report(&job, job.dry_run);
            return Ok(ExitCode::SUCCESS);
        }
        JobsCommand::Revert {
            id,
            dry_run,
            force,
            locale,
            client,
        } => {
            let client = connect(&client, file).await?;
            return revert_cmd::run(client, id, dry_run, force, locale.parse()?).await;
        }
        JobsCommand::Watch { id, client } => {
            let client = connect(&client, file).await?;
            return import_cmd::watch(client, id).await;
        }
        JobsCommand::List {
            module,
            status,
            limit,
            json,
            client,
        } => {
            let module = module
                .map(|m| m.parse::<dataport_core::ModuleScope>())
                .transpose()?;
            let status = status
                .map(|s| s.parse::<dataport_core::JobStatus>())
                .transpose()?;
            let mut client = connect(&client, file).await?;
            let response = client
                .list_import_jobs(v1::ListImportJobsRequest {
                    module: module
                        .map(|m| convert::module_scope_to_proto(m) as i32)
                        .unwrap_or(0),
                    status: status
                        .map(|s| convert::job_status_to_proto(s) as i32)
                        .unwrap_or(0),
                    page_size: limit,
                    ..Default::default()
                })
                .await
                .map_err(call_failed)?;
            if json {
                print_json(response.get_ref())?;
                return Ok(ExitCode::SUCCESS);
            }
            let mut table = Table::new([
                "id", "module", "status", "read", "created", "updated", "skipped", "failed", "file",
            ]);
            for job in &response.get_ref().jobs {
                table.row([
                    job.id.to_string(),
                    enum_word(job.module().as_str_name(), "MODULE_"),
                    enum_word(job.status().as_str_name(), "JOB_STATUS_"),
                    job.rows_read.to_string(),
                    job.rows_created.to_string(),
                    job.rows_updated.to_string(),
                    job.rows_skipped.to_string(),
                    job.rows_failed.to_string(),
                    job.file_name.clone(),
                ]);
            }
            print!("{table}");
        }
        JobsCommand::Errors {
            id,
            output,
            locale,
            client,
        } => {
            let mut client = connect(&client, file).await?;
            let bytes = save_error_file(&mut client, id, &output, locale.parse()?).await?;
            println!(
                "saved the failed rows of job {id} to {} ({bytes} bytes)",
                output.display()
            );
        }
        JobsCommand::Show {
            id,
            errors,
            json,
            client,
        } => {
            let mut client = connect(&client, file).await?;
            let response = client
                .get_import_job(v1::GetImportJobRequest {
                    job_id: id,
                    error_limit: if json { 0 } else { errors },
                    errors_after_row: 0,
                    errors_after_module: 0,
                })
                .await
                .map_err(call_failed)?
                .into_inner();
            let job = response.job.context("the server sent no job")?;
            if json {
                print_json(&job)?;
                return Ok(ExitCode::SUCCESS);
            }
            import_cmd::print_job(&job);
            let workbook = job.module() == v1::Module::All;
            print!(
                "{}",
                import_cmd::row_error_table(&response.errors, workbook, true)
            );
            println!("{} row errors in total", response.total_errors);
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Prints a proto message as canonical proto3 JSON (the pbjson-generated serde impls of
/// dataport-proto: lowerCamelCase names, enums by name, 64-bit integers as strings, default
/// values omitted), pretty-printed, one document.
async fn audit(command: AuditCommand, file: &FileConfig) -> Result<()> {
    match command {
        AuditCommand::List {
            since,
            limit,
            json,
            client,
        } => {
            let mut client = connect(&client, file).await?;
            let mut listed = v1::ListAuditLogResponse::default();
            // Page until `limit` entries or the end.
            loop {
                let wanted = limit.saturating_sub(listed.entries.len() as u32);
                if wanted == 0 {
                    break;
                }
                let page = client
                    .list_audit_log(v1::ListAuditLogRequest {
                        since_unix_ms: since.map_or(0, |t| t.timestamp_millis()),
                        page_size: wanted.min(1000),
                        page_token: listed.next_page_token.clone(),
                    })
                    .await
                    .map_err(call_failed)?
                    .into_inner();
                listed.entries.extend(page.entries);
                listed.next_page_token = page.next_page_token;
                if listed.next_page_token.is_empty() {
                    break;
                }
            }
            if json {
                return print_json(&listed);
            }
            print!("{}", audit_table(&listed.entries));
            if !listed.next_page_token.is_empty() {
                eprintln!("(more entries follow; raise --limit or narrow --since)");
            }
        }
    }
    Ok(())
}

/// The entries as a table; a column only when some entry has a value for it.
fn audit_table(entries: &[v1::AuditEntry]) -> Table {
    let mut table = Table::new([
        "id",
        "time (UTC)",
        "event",
        "token",
        "peer",
        "module",
        "job",
        "rows",
        "bytes",
        "filter",
        "detail",
    ]);
    let number = |n: u64, applies: bool| if applies { n.to_string() } else { String::new() };
    for e in entries {
        let at = chrono::DateTime::from_timestamp_millis(e.at_unix_ms)
            .map(|t| t.format("%Y-%m-%d %H:%M:%S").to_string())
            .unwrap_or_default();
        // Rows are counted by import ends and completed exports only.
        let counted = e.event == "import.end" || (e.event == "export" && e.detail.starts_with("completed"));
        table.row([
            e.id.to_string(),
            at,
            e.event.clone(),
            e.token_name.clone(),
            e.peer.clone(),
            e.module.clone(),
            if e.job_id > 0 {
                e.job_id.to_string()
            } else {
                String::new()
            },
            number(e.rows, counted),
            number(e.bytes, e.bytes > 0),
            e.filter.clone(),
            e.detail.clone(),
        ]);
    }
    table
}

fn print_json<T: serde::Serialize>(message: &T) -> Result<()> {
    let text = serde_json::to_string_pretty(message).context("encoding proto3 JSON")?;
    println!("{text}");
    Ok(())
}

async fn import(args: ImportArgs, file: &FileConfig) -> Result<ExitCode> {
    let mut request = import_cmd::ImportRequest {
        module: args.module.parse()?,
        mode: args.mode.parse()?,
        locale: args.locale.parse()?,
        file: args.file,
        format: args.format,
        dry_run: args.dry_run,
        all_or_nothing: args.all_or_nothing,
        options: args.options,
        blank_cells: args.blank_cells.parse()?,
        defaults: args.defaults,
        errors_out: args.errors_out,
        request_id: args.request_id,
        retries: args.retries,
        resuming: args.resume.is_some(),
    };
    let mut client = connect(&args.client, file).await?;
    if let Some(job_id) = args.resume {
        request.request_id = Some(import_cmd::request_id_of(&mut client, job_id).await?);
    }
    import_cmd::run(client, request).await
}

async fn describe(module: &str, json: bool, client: ClientArgs, file: &FileConfig) -> Result<()> {
    let module: dataport_core::Module = module.parse()?;
    let mut client = connect(&client, file).await?;
    let response = client
        .describe_module(v1::DescribeModuleRequest {
            module: convert::module_to_proto(module) as i32,
        })
        .await
        .map_err(call_failed)?
        .into_inner();
    if json {
        return print_json(&response);
    }
    println!("{} ({} / {})", response.key, response.label_zh, response.label_en);
    let mut table = Table::new([
        "key",
        "label",
        "label (en)",
        "kind",
        "required",
        "max",
        "choices",
        "export",
    ]);
    let yes = |b: bool| if b { "yes" } else { "" }.to_owned();
    for f in response.fields {
        let kind = enum_word(f.kind().as_str_name(), "FIELD_KIND_");
        let references = f.references();
        // Long lists (industries) are cut here; --json has them all.
        const SHOWN: usize = 5;
        let choices = if references != v1::Module::Unspecified {
            format!("a {} code", enum_word(references.as_str_name(), "MODULE_"))
        } else if f.choices.len() > SHOWN {
            format!("{}/… ({} choices)", f.choices[..SHOWN].join("/"), f.choices.len())
        } else {
            f.choices.join("/")
        };
        table.row([
            f.key,
            f.label_zh,
            f.label_en,
            kind,
            yes(f.required),
            f.max_length.to_string(),
            choices,
            yes(f.exported_by_default),
        ]);
    }
    print!("{table}");
    Ok(())
}

async fn formats(client: ClientArgs, file: &FileConfig) -> Result<()> {
    let mut client = connect(&client, file).await?;
    let response = client
        .list_formats(v1::ListFormatsRequest {})
        .await
        .map_err(call_failed)?
        .into_inner();
    let mut table = Table::new([
        "name",
        "version",
        "formats",
        "extensions",
        "read",
        "write",
        "modules",
        "runs",
        "library",
    ]);
    let yes_no = |b: bool| if b { "yes" } else { "no" }.to_owned();
    for f in &response.formats {
        table.row([
            f.name.clone(),
            f.version.clone(),
            f.formats.join(","),
            f.extensions.join(","),
            yes_no(f.can_read),
            yes_no(f.can_write),
            if f.modules.is_empty() {
                "all".to_owned()
            } else {
                f.modules.join(",")
            },
            if f.isolated { "worker" } else { "in-process" }.to_owned(),
            f.path.clone(),
        ]);
    }
    print!("{table}");
    print!("{}", option_table(&response.formats));
    Ok(())
}

/// The options every plugin declares, one row each (`-O KEY=VALUE` on import and export).
fn option_table(formats: &[v1::FormatInfo]) -> String {
    let mut table = Table::new(["plugin", "option", "type", "for", "default", "allowed", "help"]);
    let mut unchecked = Vec::new();
    for f in formats {
        if !f.options_checked {
            unchecked.push(f.name.as_str());
        }
        for o in &f.options {
            let uses = match (o.reading, o.writing) {
                (true, true) => "read,write",
                (true, false) => "read",
                (false, true) => "write",
                (false, false) => "-",
            };
            table.row([
                f.name.clone(),
                o.name.clone(),
                table::enum_word(o.r#type().as_str_name(), "OPTION_TYPE_"),
                uses.to_owned(),
                o.default_value.clone(),
                o.choices.join(","),
                o.help.clone(),
            ]);
        }
    }
    let mut out = format!("\noptions (-O KEY=VALUE):\n{table}");
    if !unchecked.is_empty() {
        out.push_str(&format!(
            "{} declare no options; they check their own when a job opens the file\n",
            unchecked.join(", ")
        ));
    }
    out
}

/// Downloads a job's error file into `path` (format from its extension); returns its size.
pub(crate) async fn save_error_file(
    client: &mut AuthedClient,
    job_id: i64,
    path: &Path,
    locale: dataport_core::Locale,
) -> Result<u64> {
    let format = import_cmd::format_of(path)?;
    let stream = client
        .get_error_file(v1::GetErrorFileRequest {
            job_id,
            format,
            locale: convert::locale_to_proto(locale) as i32,
        })
        .await
        .map_err(call_failed)?
        .into_inner();
    download::save_file_events(stream, path).await
}

async fn export(args: ExportArgs, file: &FileConfig) -> Result<()> {
    let (module, filter) = filter_from_args(&args.filter)?;
    let fields = if args.all_fields {
        module.fields().iter().map(|f| f.key.to_owned()).collect()
    } else {
        args.fields
    };
    let request = export_cmd::ExportRequest {
        module,
        filter,
        fields,
        format: export_cmd::choose_format(args.format.as_deref(), args.output.as_deref()),
        all: args.all,
        locale: args.locale.parse()?,
        output: args.output,
        options: args.options,
        after_code: args.after_code,
    };
    let client = connect(&args.client, file).await?;
    export_cmd::export(client, request).await
}

async fn template(args: TemplateArgs, file: &FileConfig) -> Result<()> {
    let module: dataport_core::ModuleScope = args.module.parse()?;
    let client = connect(&args.client, file).await?;
    let format = export_cmd::choose_format(args.format.as_deref(), args.output.as_deref());
    export_cmd::template(client, module, format, args.locale.parse()?, args.output).await
}

fn generate(args: GenArgs) -> Result<()> {
    gen_cmd::run(gen_cmd::GenRequest {
        module: args.module.parse()?,
        rows: args.rows,
        seed: args.seed,
        error_rate: args.error_rate,
        customer_rows: args.customer_rows.unwrap_or(args.rows),
        manifest: args.manifest,
        plugin_dirs: args.plugin_dir,
        output: args.output,
    })
}

async fn migrate(args: MigrateArgs) -> Result<ExitCode> {
    let default_file = PathBuf::from(config::DEFAULT_TOKEN_FILE);
    let from_token = dataport_client::resolve_token(
        args.from_token.as_deref(),
        args.from_token_file.as_deref().unwrap_or(&default_file),
    )
    .context("the source's token")?;
    let to_token = dataport_client::resolve_token(
        args.to_token.as_deref(),
        args.to_token_file.as_deref().unwrap_or(&default_file),
    )
    .context("the target's token")?;
    let modules = args
        .modules
        .iter()
        .map(|m| m.parse::<Module>())
        .collect::<Result<Vec<_>, _>>()?;
    let from_tls = dataport_client::TlsOptions {
        ca: args.from_tls_ca.clone(),
        cert: args.from_tls_cert.clone(),
        key: args.from_tls_key.clone(),
    };
    let to_tls = dataport_client::TlsOptions {
        ca: args.to_tls_ca.clone(),
        cert: args.to_tls_cert.clone(),
        key: args.to_tls_key.clone(),
    };
    let from = dataport_client::connect_with(&args.from, &from_token, &from_tls)
        .await
        .context("the source")?;
    let to = dataport_client::connect_with(&args.to, &to_token, &to_tls)
        .await
        .context("the target")?;
    let plan = migrate_cmd::Plan {
        modules,
        mode: args.mode.parse()?,
        from_name: args.from.clone(),
        request_prefix: args
            .request_id
            .unwrap_or_else(|| migrate_cmd::derived_prefix(&args.from, &args.to, &args.mode)),
        retries: args.retries,
    };
    migrate_cmd::run(from, to, plan).await
}
