//! What a bot may not do with calls: more calls or streams than its bounds, bots off its
//! list, names that would leave the API's path, calls without a key — each a clear
//! `query-error` in the guest, never a request on the wire.

use poe_host::capabilities::bot_query::config::QueryLimits;
use serde_json::{Value, json};

use super::standin::*;
use crate::harness::*;

fn errors(lines: &[Value]) -> Vec<Value> {
    lines
        .iter()
        .filter_map(|l| l.get("error").cloned().or_else(|| (l["kind"] == "error").then(|| l.clone())))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn calls_and_streams_past_the_bounds_are_refused_in_the_guest() {
    let limits = QueryLimits { max_calls: 2, max_streams: 2, ..QueryLimits::default() };
    let host = host_with(Options { bot_query_limits: limits, ..Options::default() }).await;
    let lines = caller_calls(&host, &rich_request("m-many", "many 3 GPT-4o-Mini hi")).await;
    let refused = errors(&lines);
    assert_eq!(refused.len(), 1, "{lines:?}");
    assert_eq!(refused[0]["query_error"], "limit-reached");
    assert!(refused[0]["message"].as_str().unwrap().contains("bot_query.max_calls"), "{refused:?}");
    assert_eq!(lines[0]["call"], 2);
    assert_eq!(received("m-many").await.len(), 2, "the refused call sent nothing");

    let limits = QueryLimits { max_streams: 2, ..QueryLimits::default() };
    let host = host_with(Options { bot_query_limits: limits, ..Options::default() }).await;
    let lines = caller_calls(&host, &rich_request("m-parallel", "parallel 3 GPT-4o-Mini slow 50 2")).await;
    let refused = errors(&lines);
    assert_eq!(refused.len(), 1, "{lines:?}");
    assert!(refused[0]["message"].as_str().unwrap().contains("bot_query.max_streams"), "{refused:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn callable_bots_and_bot_names_are_enforced_before_any_request() {
    let sidecar = format!("access_key = \"{KEY}\"\n[bot_query]\ncallable_bots = [\"gpt-4o-mini\"]\n");
    let host = host_with(Options { sidecars: vec![("caller", sidecar)], ..Options::default() }).await;
    let lines = caller_calls(&host, &rich_request("m-listed", "call GPT-4o-Mini hi")).await;
    assert_eq!(lines.last().unwrap(), &json!({"kind": "end"}), "listed, case-insensitively: {lines:?}");
    let lines = caller_calls(&host, &rich_request("m-unlisted", "call Claude-3-Haiku hi")).await;
    assert_eq!(lines[0]["query_error"], "not-allowed", "{lines:?}");
    assert!(lines[0]["message"].as_str().unwrap().contains("callable_bots"), "{lines:?}");
    for name in ["../_received", "a?x=1", "x@127.0.0.1:1"] {
        let lines = caller_calls(&host, &rich_request("m-bad-name", &format!("raw {name} hi"))).await;
        assert_eq!(lines[0]["query_error"], "not-allowed", "{name}: {lines:?}");
    }
    assert!(received("m-unlisted").await.is_empty() && received("m-bad-name").await.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bot_without_a_key_gets_no_access_key_and_sends_nothing() {
    let options = Options { key: None, allow_without_key: true, ..Options::default() };
    let host = host_with(options).await;
    let lines = caller_calls(&host, &rich_request("m-keyless", "call GPT-4o-Mini hi")).await;
    assert_eq!(lines[0], json!({"kind": "error", "query_error": "no-access-key"}));
    assert!(received("m-keyless").await.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_key_goes_to_the_api_as_bearer_and_never_to_the_guest_or_the_admin_view() {
    let host = host_with(Options::default()).await;
    let lines = caller_calls(&host, &rich_request("m-key", "call GPT-4o-Mini hi")).await;
    assert!(!format!("{lines:?}").contains(KEY), "the guest saw the key");
    let events = host.query_body("caller", &rich_request("m-key-inspect", "call GPT-4o-Mini hi")).await;
    assert!(!format!("{events:?}").contains(KEY));
    let seen = received("m-key").await;
    assert_eq!(seen[0]["headers"]["authorization"], format!("Bearer {KEY}"));
    assert!(!host.admin().await.to_string().contains(KEY), "the admin view shows no key");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bot_that_computed_before_calling_still_gets_its_answer() {
    // Past its first millisecond of CPU a call moves to the lane, a runtime without I/O;
    // its calls must still run on the host's runtime.
    let host = host_with(Options::default()).await;
    let lines =
        caller_calls(&host, &rich_request("m-busy", "busy 30 call GPT-4o-Mini hello big world")).await;
    assert_eq!(lines.last().unwrap(), &json!({"kind": "end"}), "{lines:?}");
    assert_eq!(lines[0], json!({"kind": "text", "text": "hello "}));
}
