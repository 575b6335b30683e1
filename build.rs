//! Turns the environment-gated end-to-end tests on when they can run, and always in CI (`CI`
//! set), where a missing dependency must fail them, not skip them. Otherwise they are compiled
//! `#[ignore]`d with the reason, so `cargo test` shows them as ignored, never passed.
//!
//! - `dataport_postgres_tests`: the PostgreSQL tests, when `DATAPORT_TEST_DATABASE_URL` is set.
//! - `dataport_python_tests`: the Python gRPC client test (`tests/python`), when
//!   `DATAPORT_TEST_PYTHON=1` (it needs python3 with grpcio and grpcio-status).
fn main() {
    println!("cargo::rerun-if-env-changed=DATAPORT_TEST_DATABASE_URL");
    println!("cargo::rerun-if-env-changed=DATAPORT_TEST_PYTHON");
    println!("cargo::rerun-if-env-changed=CI");
    println!("cargo::rustc-check-cfg=cfg(dataport_postgres_tests)");
    println!("cargo::rustc-check-cfg=cfg(dataport_python_tests)");
    let ci = std::env::var_os("CI").is_some();
    let url = std::env::var("DATAPORT_TEST_DATABASE_URL").unwrap_or_default();
    if !url.trim().is_empty() || ci {
        println!("cargo::rustc-cfg=dataport_postgres_tests");
    }
    if std::env::var("DATAPORT_TEST_PYTHON").is_ok_and(|v| v.trim() == "1") || ci {
        println!("cargo::rustc-cfg=dataport_python_tests");
    }
}
