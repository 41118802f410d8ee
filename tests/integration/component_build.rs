//! Bots built with `cargo component build` (wasm32-wasip1 + the WASI adapter) loads and
//! answers like one built for wasm32-wasip2.

use std::process::Command;

use serde_json::json;

use crate::harness::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bots_built_with_cargo_component_load_and_answer() {
    let root = workspace_root();
    // The directory `build.rs` builds the wasip2 guests in: the proc macros (wit-bindgen)
    // built there are reused, which cuts this build from ~100 s to ~8 s of CPU that would
    // otherwise compete with the timing tests running beside it.
    let target_dir = root.join("target/guests");
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let build = tokio::task::block_in_place(|| {
        Command::new(cargo)
            .current_dir(root)
            .args(["component", "build", "--release", "-p", "echo", "-p", "showcase", "--target-dir"])
            .arg(&target_dir)
            .env_remove("CARGO_TARGET_DIR")
            .output()
    })
    .expect("running cargo");
    assert!(
        build.status.success(),
        "`cargo component build` failed; run `scripts/setup.sh` to install cargo-component\n{}",
        String::from_utf8_lossy(&build.stderr)
    );
    let wasm = target_dir.join("wasm32-wasip1/release/echo.wasm");
    let wasm: &'static str = Box::leak(wasm.display().to_string().into_boxed_str());
    let host = TestHost::with(Options { bots: vec![("echo", wasm)], ..Options::default() }).await;
    let events = host.query("echo", "built by cargo component").await;
    assert_eq!(
        pairs(&events),
        [("text", &json!({"text": "built by cargo component"})), ("done", &json!({}))]
    );
}
