//! A Python bot calling a third-party API with httpx (`example-bots/python/relay.py`):
//! the same local OpenAI-compatible upstream and the same assertions as the Rust `relay`,
//! its key from the sidecar's `[env]`, and a destination the sidecar does not grant refused.

use serde_json::{Value, json};

use super::text_of;
use crate::harness::*;
use crate::outbound::relay_sidecar;
use crate::outbound::upstream::{self, OPENAI_KEY};

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
    let conversation = json!([
        {"role": "system", "content": "be brief"},
        {"role": "user", "content": "hi"},
        {"role": "bot", "content": "hello"},
        {"role": "user", "content": "stream these words"},
    ]);
    let events = host.query_body("relay", &query_messages(conversation)).await;
    assert_eq!(
        pairs(&events),
        [
            ("text", &json!({"text": "stream "})),
            ("text", &json!({"text": "these "})),
            ("text", &json!({"text": "words"})),
            ("done", &json!({})),
        ]
    );
    let sent = up.requests.lock().unwrap().pop().unwrap();
    assert_eq!(sent.header("authorization"), Some(format!("Bearer {OPENAI_KEY}").as_str()));
    assert_eq!(sent.header("content-type"), Some("application/json"));
    let body: Value = serde_json::from_str(&sent.body).unwrap();
    assert_eq!(
        body,
        json!({"model": "test-model", "stream": true, "messages": [
            {"role": "system", "content": "be brief"},
            {"role": "user", "content": "hi"},
            {"role": "assistant", "content": "hello"},
            {"role": "user", "content": "stream these words"},
        ]})
    );
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
