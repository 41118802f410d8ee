//! Bots built with `cargo component build` (wasm32-wasip1 + the WASI adapter) load and
//! answer like ones built for wasm32-wasip2, calls to other bots and outbound HTTP included.

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
            .args([
                "component",
                "build",
                "--release",
                "-p",
                "echo",
                "-p",
                "showcase",
                "-p",
                "allcaps",
                "-p",
                "relay",
                "--target-dir",
            ])
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
    let built = |name: &str| -> &'static str {
        let wasm = target_dir.join(format!("wasm32-wasip1/release/{name}.wasm"));
        Box::leak(wasm.display().to_string().into_boxed_str())
    };
    let bots = vec![("echo", built("echo")), ("allcaps", built("allcaps")), ("relay", built("relay"))];
    let poe_api_base = crate::bot_query::standin::standin().base.clone();
    let up = crate::outbound::upstream::start().await;
    let relay = crate::outbound::relay_sidecar(&up);
    let sidecars = vec![("relay", relay)];
    let host = TestHost::with(Options { bots, sidecars, poe_api_base, ..Options::default() }).await;
    let events = host.query("echo", "built by cargo component").await;
    assert_eq!(
        pairs(&events),
        [("text", &json!({"text": "built by cargo component"})), ("done", &json!({}))]
    );
    // A bot calling other bots too: bot-query's pollable and the adapter's WASI agree.
    let events = host.query("allcaps", "calls work").await;
    assert_eq!(
        pairs(&events)[..2],
        [("text", &json!({"text": "CALLS "})), ("text", &json!({"text": "WORK"}))]
    );
    // And one making outbound HTTP requests: wasi:http through the adapter.
    let events = host.query("relay", "over wasi:http").await;
    assert_eq!(
        pairs(&events),
        [("text", &json!({"text": "over "})), ("text", &json!({"text": "wasi:http"})), ("done", &json!({}))]
    );
}
