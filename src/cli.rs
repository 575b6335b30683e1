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
    /// Read import job reports.
    #[command(subcommand)]
    Jobs(JobsCommand),
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
        #[command(flatten)]
        database: DatabaseArgs,
    },
    /// List tokens (never their secrets).
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

#[derive(Debug, Args)]
pub struct CountArgs {
    #[command(flatten)]
    pub filter: FilterArgs,
    #[command(flatten)]
    pub client: ClientArgs,
}

/// Filters shared by `count` (and later `export`). Repeat a flag or separate values with
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
        /// Only this module.
        #[arg(long)]
        module: Option<String>,
        /// Only this status: running, succeeded, partially_succeeded, failed, cancelled.
        #[arg(long)]
        status: Option<String>,
        /// How many jobs to show.
        #[arg(long, default_value_t = 20)]
        limit: u32,
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
        #[command(flatten)]
        client: ClientArgs,
    },
}
