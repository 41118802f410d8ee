//! fastapi_poe's own client (`stream_request`, `get_final_response`) against the host:
//! every showcase event parses, and the client reports no protocol error.
//!
//! Needs the venv `scripts/setup.sh` creates (`.venv` with fastapi-poe 0.0.83); without it
//! the test fails and says how to create it, never skips.

use std::process::Command;

use crate::harness::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fastapi_poe_client_reads_every_event_without_protocol_errors() {
    let python = venv_python();
    let host = TestHost::start().await;
    let script = workspace_root().join("tests/interop/fastapi_poe_client.py");
    let url = host.url.clone();
    let output =
        tokio::task::spawn_blocking(move || Command::new(python).arg(script).arg(url).arg(KEY).output())
            .await
            .unwrap()
            .expect("running python");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "fastapi_poe interop failed\n{stdout}\n{stderr}");
    assert!(stdout.contains("all fastapi_poe interop checks passed"), "{stdout}");
}
