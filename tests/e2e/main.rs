//! End-to-end tests: the real `dataport` binary on loopback, real gRPC clients, real files.
//!
//! One test binary (ripgrep's habit); one module per concern. Every wait has a deadline
//! (`harness::WAIT`), and a watchdog kills a test server that outlives its test.

// Shared by all: starting servers and CLIs with deadlines, and the client-side helpers.
mod harness;
mod support;

// The audit log: what imports, exports, downloads, token changes and wrong tokens leave in it.
mod audit;
// Tokens, permissions and authentication failures on every RPC.
mod auth;
// deploy/local-cluster.sh: three replicas behind PgBouncer (transaction mode) and nginx.
mod cluster;
// The `dataport` commands a user types: import, export, template, jobs, token, gen; exit codes.
mod cli;
// Exports, templates and error files: filters, fields, formats, escaping, round trips.
mod export;
// The Import RPC: rules and error codes, modes, all-or-nothing, dry runs, limits, cancellation.
mod import;
// Fault injection: a TCP proxy that cuts PostgreSQL's connections (a database restart), and a
// private PostgreSQL that a test crashes.
mod faults;
// Bounded input (each bad field INVALID_ARGUMENT), 100k-code filters, file modes, health, JSON logs.
mod limits;
// Jobs beyond their stream: CancelImport, WatchImport, graceful shutdown, replica leases.
mod jobs;
// Record streams and `dataport migrate` between two servers.
mod migrate;
// Loading plugins: versions, broken and panicking plugins, hostile files.
mod plugins;
// Private jobs (another token's job is NOT_FOUND) and expiring tokens.
mod privacy;
// A Python grpcio client decodes the google.rpc.Status details of failed calls.
mod python;
// RevertImport: undoing insert and upsert jobs exactly, conflicts, referenced customers.
mod revert;
// The server process: start-up, health, reflection, shutdown.
mod server;
// Safe partial updates: blank cells kept or cleared, record streams as field masks with strict
// value kinds, per-job defaults, and DescribeModule.
mod updates;
// TLS and mTLS: certificates made at run time, handshakes, and failures that say which.
mod tls;
// Vendor layouts (Salesforce, HubSpot) through the server.
mod vendors;
// One workbook for all modules (MODULE_ALL): sheets in dependency order as one job, counts and
// error-file sheets per module, all-or-nothing across sheets, resume per sheet, the template.
mod workbook;
