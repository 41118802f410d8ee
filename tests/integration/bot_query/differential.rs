//! The same calls made by poe-host (through the `caller` fixture) and by fastapi_poe's
//! client, against the same fastapi_poe stand-in: the same requests on the wire, the same
//! retries and reports, the same messages.

use serde_json::{Value, json};

use super::standin::*;
use crate::harness::*;

/// The parts of a received request that must match: headers the client sets, the body
/// with `message_id` (unique per side) left out.
fn comparable(request: &Value) -> Value {
    let mut body = request["body"].clone();
    let headers = &request["headers"];
    if body.get("message_id").is_some() {
        body["message_id"] = json!("<id>");
    }
    if body["metadata"].get("message_id").is_some() {
        body["metadata"]["message_id"] = json!("<id>");
    }
    json!({
        "method": request["method"], "path": request["path"], "body": body,
        "authorization": headers["authorization"], "accept": headers["accept"],
        "cache-control": headers["cache-control"], "content-type": headers["content-type"],
    })
}

/// Run `text` (a stand-in command) both ways and compare everything; returns poe-host's lines.
async fn both_ways(host: &TestHost, case: &str, text: &str, extra: Value, command: &str) -> Vec<Value> {
    let (fp_id, host_id) = (format!("m-fp-{case}"), format!("m-host-{case}"));
    let fp_lines = fastapi_poe_calls("GPT-4o-Mini", rich_request(&fp_id, text), extra).await;
    let host_lines =
        caller_calls(host, &rich_request(&host_id, &format!("{command} GPT-4o-Mini {text}"))).await;
    let (fp_received, host_received) = (received(&fp_id).await, received(&host_id).await);
    assert!(!fp_received.is_empty(), "{case}: the stand-in saw nothing from fastapi_poe");
    let fp_seen: Vec<Value> = fp_received.iter().map(comparable).collect();
    let host_seen: Vec<Value> = host_received.iter().map(comparable).collect();
    assert_eq!(host_seen, fp_seen, "{case}: what the stand-in received (queries, retries, reports)");
    let fp_lines: Vec<Value> = fp_lines.into_iter().map(without_index).collect();
    let (fp_end, fp_messages) = fp_lines.split_last().unwrap();
    let (host_end, host_messages) = host_lines.split_last().unwrap();
    assert_eq!(host_messages, fp_messages, "{case}: messages");
    assert_same_end(case, fp_end, host_end);
    host_lines
}

/// fastapi_poe ends with `end` or the exception it raised; poe-host with `end` or the
/// query error. A called bot's error must carry the same data and retry flag.
fn assert_same_end(case: &str, fp: &Value, host: &Value) {
    match fp["kind"].as_str() {
        Some("end") => assert_eq!(host, &json!({"kind": "end"}), "{case}"),
        Some("error") if host["query_error"] == "bot-error" => {
            let data: Value = serde_json::from_str(fp["message"].as_str().unwrap()).unwrap();
            assert_eq!(host["data"], data, "{case}: the error event's data");
            assert_eq!(
                host["allow_retry"] == json!(false),
                fp["error"] == "BotErrorNoRetry",
                "{case}: {fp} {host}"
            );
        }
        _ => panic!("{case}: fastapi_poe ended with {fp}, poe-host with {host}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn calls_match_fastapi_poe_on_the_wire_and_in_what_they_yield() {
    let host = host_with(Options::default()).await;
    for (case, text) in [
        ("plain", "hello big world"),
        ("events", "events"),
        ("fail-retry", "fail-retry"),
        ("fail-noretry", "fail-noretry"),
        ("fail-retry-first", "fail-retry-first"),
        ("fail-noretry-first", "fail-noretry-first"),
        ("flaky", "flaky"),
        ("no-text", "no-text"),
        ("data", "data"),
    ] {
        both_ways(&host, case, text, json!({}), "call").await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retries_and_reports_are_fastapi_poes() {
    // Spelled out, so a change in the stand-in cannot make both sides agree on nothing.
    let host = host_with(Options::default()).await;
    let lines = both_ways(&host, "flaky-count", "flaky", json!({}), "call").await;
    assert_eq!(lines, vec![json!({"kind": "text", "text": "second try"}), json!({"kind": "end"})]);
    assert_eq!(received("m-host-flaky-count").await.len(), 2, "a 500 is retried once");
    both_ways(&host, "retry-after-output", "fail-retry", json!({}), "call").await;
    assert_eq!(received("m-host-retry-after-output").await.len(), 1, "no retry after output");
    both_ways(&host, "no-text-report", "no-text", json!({}), "call").await;
    let reports: Vec<Value> =
        received("m-host-no-text-report").await.into_iter().map(|r| r["body"].clone()).collect();
    assert_eq!(reports[1]["type"], "report_error", "{reports:?}");
    assert_eq!(reports[1]["message"], "Bot returned no text in response");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn function_calling_matches_fastapi_poe() {
    let host = host_with(Options::default()).await;
    let tool = json!({"type": "function", "function": {"name": "get_weather", "description": "The weather in a city",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}});
    let lines = both_ways(&host, "tools", "tools", json!({"tools": [tool]}), "tools").await;
    assert_eq!(lines.iter().filter(|l| l["kind"] == "tool_calls").count(), 3, "{lines:?}");
    let call = json!({"id": "call_1", "type": "function", "function": {"name": "get_weather", "arguments": "{\"city\": \"Paris\"}"}});
    let result =
        json!({"role": "tool", "name": "get_weather", "tool_call_id": "call_1", "content": "\"sunny\""});
    let extra = json!({"tools": [tool], "tool_calls": [call], "tool_results": [result]});
    let lines = both_ways(&host, "toolresults", "tools", extra, "toolresults").await;
    assert_eq!(lines[0], json!({"kind": "text", "text": "result: \"sunny\""}));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_function_calling_loop_runs_the_tool_and_asks_again() {
    let host = host_with(Options::default()).await;
    let lines = caller_calls(&host, &rich_request("m-loop", "loop GPT-4o-Mini tools")).await;
    assert_eq!(lines, vec![json!({"kind": "text", "text": "result: \"sunny\""}), json!({"kind": "end"})]);
    let bodies: Vec<Value> = received("m-loop").await.into_iter().map(|r| r["body"].clone()).collect();
    assert_eq!(bodies.len(), 2);
    assert_eq!(bodies[1]["tool_calls"][0]["function"]["arguments"], "{\"city\": \"Paris\"}");
    assert_eq!(bodies[1]["tool_results"][0]["content"], "\"sunny\"");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn allcaps_upper_cases_every_text_and_passes_suggestions_on() {
    let host = host_with(Options::default()).await;
    let events = host.query_body("allcaps", &rich_request("m-allcaps", "hello big world")).await;
    let expected = vec![
        ("text", json!({"text": "HELLO "})),
        ("text", json!({"text": "BIG "})),
        ("text", json!({"text": "WORLD"})),
        ("suggested_reply", json!({"text": "more"})),
        ("done", json!({})),
    ];
    let got: Vec<(&str, Value)> = events.iter().map(|e| (e.name.as_str(), e.data.clone())).collect();
    assert_eq!(got, expected);
    let events = host.query_body("allcaps", &rich_request("m-allcaps-events", "events")).await;
    let replace: Vec<&Event> = events.iter().filter(|e| e.name == "replace_response").collect();
    assert_eq!(replace[0].data, json!({"text": "FINAL "}), "a replace stays a replace");
    let settings = host.post("allcaps", &json!({"version": "1.2", "type": "settings"})).await;
    let settings: Value = settings.json().await.unwrap();
    assert_eq!(settings["server_bot_dependencies"], json!({"GPT-4o-Mini": 1}));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn versus_streams_both_bots_at_once() {
    let host = host_with(Options::default()).await;
    // Each upstream takes 10 × 100 ms; one after the other would take 2 s.
    let (events, took) = timed(host.query_body("versus", &rich_request("m-versus", "slow 100 10"))).await;
    assert!(took < std::time::Duration::from_millis(1800), "took {took:?}");
    let chunks: String = (0..10).map(|i| format!("chunk {i} ")).collect();
    let last = events.iter().rev().find(|e| e.name == "replace_response").unwrap();
    let want = format!("**GPT-4o-Mini** says:\n{chunks}\n\n**Claude-3-Haiku** says:\n{chunks}");
    assert_eq!(last.data["text"], want);
    let replaces = events.iter().filter(|e| e.name == "replace_response").count();
    assert_eq!(replaces, 20, "one update per chunk from either");
    let first = &events.iter().find(|e| e.name == "replace_response").unwrap().data["text"];
    assert!(
        first.as_str().unwrap().contains("says:\n\n\n**") || first.as_str().unwrap().ends_with("says:\n"),
        "{first}"
    );
}
