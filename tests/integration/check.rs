//! `poe-host check` and loading of broken files: every bad `.wasm` is refused with a reason
//! that says what is wrong, and the good bots beside it keep serving.

use poe_host::check::{check_file, check_file_into};
use serde_json::json;

use crate::harness::*;

#[test]
fn check_accepts_a_bot() {
    let summary = check_file(std::path::Path::new(guests::ECHO)).unwrap();
    assert!(summary.starts_with("ok: "), "{summary}");
    assert!(summary.contains("exports poe:bot/handler@0.1.2"), "{summary}");
    let summary = check_file(std::path::Path::new(guests::ALLCAPS)).unwrap();
    assert!(summary.contains("poe:bot/bot-query@0.1.2"), "the capabilities it imports: {summary}");
}

/// A deploy's warm-up: `check --cache-dir` leaves the compiled bot where `serve` finds it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_with_a_cache_dir_warms_the_cache_a_host_then_loads_from() {
    let cache = tempfile::tempdir().unwrap();
    for bot in [guests::ECHO, guests::SHOWCASE] {
        check_file_into(std::path::Path::new(bot), Some(cache.path().to_owned())).unwrap();
    }
    let host =
        TestHost::with(Options { cache_dir: Some(cache.path().to_owned()), ..Options::default() }).await;
    assert_eq!(host.admin().await["cache"], json!({"hits": 2, "compiles": 0, "rejected": 0, "evicted": 0}));
}

#[test]
fn check_accepts_a_bot_built_against_0_1_0_and_names_its_version() {
    let summary = check_file(std::path::Path::new(OLD_ECHO)).unwrap();
    assert!(summary.contains("exports poe:bot/handler@0.1.0"), "{summary}");
    assert!(!summary.contains("bot-query"), "{summary}");
}

#[test]
fn check_names_the_missing_export_of_a_wrong_world_component() {
    let error = format!("{:#}", check_file(std::path::Path::new(guests::NOT_A_BOT)).unwrap_err());
    assert!(error.contains("does not export poe:bot/handler@0.1.2"), "{error}");
}

#[test]
fn check_explains_core_modules_and_garbage() {
    let dir = tempfile::tempdir().unwrap();
    let core = dir.path().join("core.wasm");
    std::fs::write(&core, b"\0asm\x01\0\0\0").unwrap();
    let error = check_file(&core).unwrap_err().to_string();
    assert!(error.contains("core wasm module, not a component"), "{error}");
    let garbage = dir.path().join("garbage.wasm");
    std::fs::write(&garbage, b"hello").unwrap();
    let error = check_file(&garbage).unwrap_err().to_string();
    assert!(error.contains("is not a valid wasm component"), "{error}");
    let truncated = dir.path().join("truncated.wasm");
    let bytes = std::fs::read(guests::ECHO).unwrap();
    std::fs::write(&truncated, &bytes[..bytes.len() / 2]).unwrap();
    assert!(check_file(&truncated).is_err());
}

/// A component made of `count` instances of one empty core module (and nothing else).
fn component_with_core_instances(count: u8) -> Vec<u8> {
    assert!(count < 42, "each section size fits in one LEB128 byte");
    let mut bytes = b"\0asm\x0d\x00\x01\x00".to_vec();
    bytes.extend_from_slice(b"\x01\x08\0asm\x01\0\0\0"); // core module section: an empty module
    bytes.extend_from_slice(&[0x02, 1 + 3 * count, count]); // core instance section
    for _ in 0..count {
        bytes.extend_from_slice(&[0x00, 0x00, 0x00]); // instantiate module 0 with no arguments
    }
    bytes
}

/// componentize-py bots have 14 core instances; the cap was 16, so one more shared library
/// failed, and failed as "not a valid wasm component".
#[test]
fn check_passes_32_core_instances_and_names_the_cap_for_33() {
    let dir = tempfile::tempdir().unwrap();
    let at_cap = dir.path().join("thirty-two.wasm");
    std::fs::write(&at_cap, component_with_core_instances(32)).unwrap();
    let error = format!("{:#}", check_file(&at_cap).unwrap_err());
    assert!(error.contains("does not export poe:bot/handler"), "the pool took it: {error}");
    let over = dir.path().join("thirty-three.wasm");
    std::fs::write(&over, component_with_core_instances(33)).unwrap();
    let error = format!("{:#}", check_file(&over).unwrap_err());
    let expected = format!(
        "{} is larger than a poe-host instance slot (32 core instances, 2 memories, 16 tables per bot): ",
        over.display()
    );
    assert!(error.starts_with(&expected), "{error}");
    assert!(
        error.contains("contains 33 core module instances, which exceeds the configured maximum of 32"),
        "{error}"
    );
}

#[tokio::test]
async fn broken_files_are_skipped_and_good_bots_still_serve() {
    let bots = vec![("echo", guests::ECHO), ("wrong", guests::NOT_A_BOT)];
    let host = TestHost::with(Options { bots, ..Options::default() }).await;
    std::fs::write(host.dir.path().join("garbage.wasm"), b"junk").unwrap();
    assert_eq!(host.post("wrong", &query("hi")).await.status(), 404);
    let events = host.query("echo", "fine").await;
    assert_eq!(events[0].data, json!({"text": "fine"}));
}

#[tokio::test]
async fn invalid_sidecar_keeps_the_bot_out() {
    let sidecar = ("echo", "acces_key = \"typo\"".to_owned());
    let host = TestHost::with(Options { sidecars: vec![sidecar], ..Options::default() }).await;
    assert_eq!(host.post("echo", &query("hi")).await.status(), 404);
    assert_eq!(host.post("showcase", &query("ids")).await.status(), 200);
}
