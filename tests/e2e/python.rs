//! Clients in other languages decode the rich error model: a Python grpcio client
//! (`tests/python/status_details.py`, grpcio-status's `rpc_status.from_call`) reads the
//! `google.rpc.Status` of failed calls with the call's code, the ErrorInfo and the BadRequest.

use std::process::Command;

use crate::harness::{OutputWithin, TestServer, stderr, stdout};

#[test]
#[cfg_attr(
    not(dataport_python_tests),
    ignore = "needs python3 with grpcio and grpcio-status (python3 -m pip install grpcio grpcio-status); set DATAPORT_TEST_PYTHON=1 to run it (CI always does)"
)]
fn python_grpc_status_decodes_failed_calls() {
    let server = TestServer::start();
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/python/status_details.py");
    // Each of the script's calls has a 30 s deadline, and the run as a whole the harness's.
    let out = Command::new("python3")
        .arg(script)
        .arg(server.addr.to_string())
        .arg(server.admin_token())
        .output_within();
    assert!(
        out.status.success(),
        "{script} failed ({}); it needs `python3 -m pip install grpcio grpcio-status`\nstdout:\n{}\nstderr:\n{}",
        out.status,
        stdout(&out),
        stderr(&out)
    );
}
