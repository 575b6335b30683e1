//! Turns the environment-gated end-to-end tests on when they can run, and always in CI (`CI`
//! set), where a missing dependency must fail them, not skip them. Otherwise they are compiled
//! `#[ignore]`d with the reason, so `cargo test` shows them as ignored, never passed.
//!
//! - `dataport_postgres_tests`: the PostgreSQL tests, when `DATAPORT_TEST_DATABASE_URL` is set.
//! - `dataport_cluster_tests`: `deploy/local-cluster.sh` (PgBouncer, three replicas, nginx), when
//!   the PostgreSQL tests run and `pgbouncer` and `nginx` are installed.
//! - `dataport_python_tests`: the Python gRPC client test (`tests/python`), when
//!   `DATAPORT_TEST_PYTHON=1` (it needs python3 with grpcio and grpcio-status).
fn main() {
    println!("cargo::rerun-if-env-changed=DATAPORT_TEST_DATABASE_URL");
    println!("cargo::rerun-if-env-changed=DATAPORT_TEST_PYTHON");
    println!("cargo::rerun-if-env-changed=CI");
    println!("cargo::rustc-check-cfg=cfg(dataport_postgres_tests)");
    println!("cargo::rustc-check-cfg=cfg(dataport_python_tests)");
    println!("cargo::rustc-check-cfg=cfg(dataport_cluster_tests)");
    let ci = std::env::var_os("CI").is_some();
    let url = std::env::var("DATAPORT_TEST_DATABASE_URL").unwrap_or_default();
    if !url.trim().is_empty() || ci {
        println!("cargo::rustc-cfg=dataport_postgres_tests");
        if ci || (installed("pgbouncer") && installed("nginx")) {
            println!("cargo::rustc-cfg=dataport_cluster_tests");
        }
    }
    if std::env::var("DATAPORT_TEST_PYTHON").is_ok_and(|v| v.trim() == "1") || ci {
        println!("cargo::rustc-cfg=dataport_python_tests");
    }
}

/// Whether `name` is an executable on PATH or in the sbin directories Debian installs daemons to.
fn installed(name: &str) -> bool {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(["/usr/sbin".into(), "/usr/local/sbin".into()])
        .any(|dir| dir.join(name).is_file())
}
