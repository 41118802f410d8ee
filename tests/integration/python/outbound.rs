//! A Python bot calling a third-party API with httpx (`example-bots/python/relay.py`):
//! the same local OpenAI-compatible upstream and the same assertions as the Rust `relay`,
//! its key from the sidecar's `[env]`, and a destination the sidecar does not grant refused.

use super::text_of;
use crate::harness::*;
use crate::outbound::upstream::{self, OPENAI_KEY};
use crate::outbound::{assert_relays_a_conversation, relay_sidecar};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn relay_py_streams_a_chat_completion_with_the_key_from_its_sidecar() {
    let up = upstream::start().await;
    let sidecar = relay_sidecar(&up);
    let denied =
        sidecar.lines().filter(|l| !l.starts_with("allowed_outbound_hosts")).collect::<Vec<_>>().join("\n");
    let options = Options {
        bots: vec![("relay", guests::PY_RELAY), ("relay_denied", guests::PY_RELAY)],
        sidecars: vec![("relay", sidecar), ("relay_denied", denied)],
        ..Options::default()
    };
    let host = TestHost::with(options).await;
    assert_relays_a_conversation(&host, "relay", &up).await;
    let events = host.query("relay", "fail").await;
    assert_eq!(events[0].name, "error", "{events:?}");
    assert!(events[0].data["text"].as_str().unwrap().contains("answered 429"), "{events:?}");
    assert_done_once_at_end(&events);

    let events = host.query("relay_denied", "hi").await;
    assert_eq!(text_of(&events), "");
    let raw = events[0].data["raw_response"].as_str().unwrap_or_default();
    assert!(raw.starts_with("ConnectError(") && raw.contains("allowed_outbound_hosts"), "{events:?}");
    assert_eq!(up.requests.lock().unwrap().len(), 1, "the denied request reached the upstream");
    let admin = host.admin().await.to_string();
    assert!(!admin.contains(OPENAI_KEY), "the admin view shows the key");
}
