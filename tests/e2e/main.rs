//! End-to-end tests: the real `dataport` binary on loopback, real gRPC clients, real files.
//!
//! One test binary (ripgrep's habit); one module per concern.

mod harness;
mod support;

mod auth;
mod cli;
mod export;
mod import;
mod migrate;
mod plugins;
mod server;
mod vendors;
