//! Crash isolation: a plugin from `--plugin-dir` runs in a worker process of its own
//! (`dataport plugin-worker LIB`), one per reader or writer, so a plugin that crashes, aborts,
//! is OOM-killed or hangs fails only its job, with the signal and the row in the message, and the
//! next job gets a fresh worker. Batches cross the pipes whole (`wire`); the plugin's byte
//! callbacks are forwarded to the server, which serves them from the job's upload or download.
//!
//! `worker` is the process side (it loads the library in-process there); `client` the server
//! side (spawn, callbacks, watchdog, exit status).

mod client;
mod wire;
mod worker;

pub use client::Isolation;
pub(crate) use client::{describe, open_reader, open_writer};
pub use worker::run_worker;
