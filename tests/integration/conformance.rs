//! The HTTP surface against the protocol doc's conformance checklist (§11): auth, request
//! types, bad bodies, headers, framing, streaming and concurrency.

use std::time::Duration;

use futures::StreamExt;
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::harness::*;

const BAD_AUTH: &[(Option<&str>, &str)] = &[
    (None, "Not authenticated"),
    (Some("Basic x"), "Not authenticated"),
    (Some("Bearer"), "Not authenticated"),
    (Some("Bearer wrong-key"), "Invalid access key"),
];

#[tokio::test]
async fn bad_authorization_gets_401_with_www_authenticate_and_fastapi_detail() {
    let host = TestHost::start().await;
    let lower = format!("bearer {KEY}");
    let cases = BAD_AUTH.iter().copied().chain([(Some(lower.as_str()), "Invalid access key")]);
    for (auth, detail) in cases {
        let response = host.post_raw("echo", auth, query("hi").to_string()).await;
        assert_eq!(response.status(), 401, "{auth:?}");
        assert_eq!(response.headers()["www-authenticate"], "Bearer", "{auth:?}");
        assert_eq!(
            response.json::<serde_json::Value>().await.unwrap(),
            json!({"detail": detail}),
            "{auth:?}"
        );
    }
}

#[tokio::test]
async fn auth_runs_before_the_body_is_parsed() {
    let host = TestHost::start().await;
    let response = host.post_raw("echo", Some("Bearer wrong"), "{not json".into()).await;
    assert_eq!(response.status(), 401);
}

#[tokio::test]
async fn host_without_key_accepts_any_bearer_but_requires_the_header() {
    let host = TestHost::with(Options { key: None, allow_without_key: true, ..Options::default() }).await;
    let ok = host.post_raw("echo", Some("Bearer anything"), query("hi").to_string()).await;
    assert_eq!(ok.status(), 200);
    let missing = host.post_raw("echo", None, query("hi").to_string()).await;
    assert_eq!(missing.status(), 401);
}

#[tokio::test]
async fn bot_without_any_key_is_not_served_unless_allowed() {
    let host = TestHost::with(Options { key: None, ..Options::default() }).await;
    assert_eq!(host.post_raw("echo", Some("Bearer x"), query("hi").to_string()).await.status(), 404);
}

#[tokio::test]
async fn sidecar_key_overrides_the_default_key() {
    let sidecar = ("echo", "access_key = \"sidecar-key-0123456789abcdefghij\"".to_owned());
    let host = TestHost::with(Options { sidecars: vec![sidecar], ..Options::default() }).await;
    let body = query("hi").to_string();
    assert_eq!(host.post_raw("echo", Some(&format!("Bearer {KEY}")), body.clone()).await.status(), 401);
    let ok = host.post_raw("echo", Some("Bearer sidecar-key-0123456789abcdefghij"), body.clone()).await;
    assert_eq!(ok.status(), 200);
    assert_eq!(host.post_raw("showcase", Some(&format!("Bearer {KEY}")), body).await.status(), 200);
}

#[tokio::test]
async fn get_shows_an_html_page_naming_the_bot_without_auth() {
    let host = TestHost::start().await;
    let response = host.client.get(format!("{}/echo", host.url)).send().await.unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "text/html; charset=utf-8");
    assert!(response.text().await.unwrap().contains("<h1>echo</h1>"));
}

#[tokio::test]
async fn unknown_bots_and_paths_get_404_json() {
    let host = TestHost::start().await;
    let response = host.post("echo2", &query("hi")).await;
    assert_eq!(response.status(), 404);
    assert_eq!(
        response.json::<serde_json::Value>().await.unwrap(),
        json!({"detail": "unknown bot \"echo2\""})
    );
    for path in ["/a/b", "/..%2Fetc", "/echo/x"] {
        let response = host.client.get(format!("{}{path}", host.url)).send().await.unwrap();
        assert_eq!(response.status(), 404, "{path}");
    }
}

#[tokio::test]
async fn trailing_slash_redirects_to_the_bot() {
    let host = TestHost::start().await;
    let client = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    let response = client.post(format!("{}/echo/", host.url)).send().await.unwrap();
    assert_eq!(response.status(), 307);
    assert_eq!(response.headers()["location"], "/echo");
}

#[tokio::test]
async fn malformed_bodies_get_400_naming_the_problem() {
    let host = TestHost::start().await;
    let cases = [
        ("{not json", "invalid request body"),
        ("[1, 2]", "must be a JSON object"),
        ("{}", "missing field `type`"),
        (r#"{"type": "settings"}"#, "missing field `version`"),
        (r#"{"type": "report_error", "version": "1.2", "message": "m"}"#, "missing field `metadata`"),
    ];
    for (body, expected) in cases {
        let response = host.post_raw("echo", Some(&format!("Bearer {KEY}")), body.into()).await;
        assert_eq!(response.status(), 400, "{body}");
        let detail =
            response.json::<serde_json::Value>().await.unwrap()["detail"].as_str().unwrap().to_owned();
        assert!(detail.contains(expected), "{body}: {detail}");
    }
}

#[tokio::test]
async fn unknown_request_type_gets_501() {
    let host = TestHost::start().await;
    let response = host.post("echo", &json!({"version": "1.2", "type": "frobnicate"})).await;
    assert_eq!(response.status(), 501);
    assert_eq!(response.headers()["content-type"], "application/json");
    assert_eq!(
        response.json::<serde_json::Value>().await.unwrap(),
        json!({"detail": "Unsupported request type"})
    );
}

#[tokio::test]
async fn invalid_message_is_rejected_before_any_stream() {
    let host = TestHost::start().await;
    let body = query_messages(json!([{"role": "assistant", "content": "hi"}]));
    let response = host.post("echo", &body).await;
    assert_eq!(response.status(), 400);
    let detail = response.json::<serde_json::Value>().await.unwrap()["detail"].as_str().unwrap().to_owned();
    assert!(detail.contains("assistant"), "{detail}");
}

#[tokio::test]
async fn oversized_body_gets_413() {
    let host = TestHost::with(Options { max_body: 1024, ..Options::default() }).await;
    let response = host.post("echo", &query(&"x".repeat(2048))).await;
    assert_eq!(response.status(), 413);
}

#[tokio::test]
async fn a_body_that_stalls_gets_408_and_the_host_serves_others_meanwhile() {
    let timeout = Duration::from_millis(400);
    let host = TestHost::with(Options { read_timeout: timeout, ..Options::default() }).await;
    let first = Ok::<_, std::io::Error>(br#"{"version":"1.2","type":"query","#.to_vec());
    let stalled = futures::stream::iter([first]).chain(futures::stream::pending());
    let request = host
        .client
        .post(format!("{}/echo", host.url))
        .bearer_auth(KEY)
        .body(reqwest::Body::wrap_stream(stalled))
        .send();
    let stalled = tokio::spawn(timed(request));
    assert_eq!(pairs(&host.query("echo", "meanwhile").await)[0].0, "text");
    let patience = timeout + Duration::from_secs(5);
    let (response, took) = tokio::time::timeout(patience, stalled).await.expect("no answer").unwrap();
    let response = response.unwrap();
    assert_eq!(response.status(), 408);
    assert!(took >= timeout && took < timeout + Duration::from_secs(2), "answered after {took:?}");
    let detail = response.json::<serde_json::Value>().await.unwrap()["detail"].as_str().unwrap().to_owned();
    assert!(detail.contains("did not arrive within 400ms"), "{detail}");
}

#[tokio::test]
async fn headers_that_stall_lose_their_connection_after_the_read_timeout() {
    let timeout = Duration::from_millis(400);
    let host = TestHost::with(Options { read_timeout: timeout, ..Options::default() }).await;
    let mut tcp = tokio::net::TcpStream::connect(host.url.trim_start_matches("http://")).await.unwrap();
    tcp.write_all(b"POST /echo HTTP/1.1\r\nHost: poe-host\r\n").await.unwrap();
    let mut reply = Vec::new();
    let patience = timeout + Duration::from_secs(5);
    let (read, took) = timed(tokio::time::timeout(patience, tcp.read_to_end(&mut reply))).await;
    read.expect("the connection is still open").unwrap();
    assert!(took >= timeout && took < timeout + Duration::from_secs(2), "closed after {took:?}");
    assert_eq!(String::from_utf8_lossy(&reply), "", "hyper closes without a response");
}

#[tokio::test]
async fn a_response_may_take_longer_than_the_read_timeout() {
    let host =
        TestHost::with(Options { read_timeout: Duration::from_millis(200), ..Options::default() }).await;
    let events = host.query("showcase", "sleep 700").await;
    assert_eq!(pairs(&events), [("text", &json!({"text": "woke"})), ("done", &json!({}))]);
}

#[tokio::test]
async fn unknown_keys_at_every_level_are_ignored() {
    let host = TestHost::start().await;
    let mut body = query_messages(json!([{
        "role": "user", "content": "hi", "future_key": 1,
        "sender": {"id": "u", "name": null, "extra": true},
        "attachments": [{"url": "https://x", "content_type": "video/mp4", "name": "v", "new": []}],
    }]));
    body["brand_new_field"] = json!({"nested": [1, 2]});
    body["access_key"] = json!("body-key-is-ignored");
    let events = host.query_body("echo", &body).await;
    assert_eq!(pairs(&events), [("text", &json!({"text": "hi"})), ("done", &json!({}))]);
}

#[tokio::test]
async fn full_query_request_with_every_field_is_accepted() {
    let host = TestHost::start().await;
    let message = json!({
        "role": "user", "content": "ids", "content_type": "text/plain", "timestamp": 1_700_000_000_000_000i64,
        "message_id": "m-0", "sender_id": "u-1", "sender": {"id": "u-1", "name": "Ann"},
        "message_type": "function_call", "parameters": {"fast": true}, "feedback": [{"type": "like", "reason": null}],
        "attachments": [], "metadata": "counter=1", "reactions": [{"user_id": "u-2", "reaction": "heart"}],
        "referenced_message": {"role": "bot", "content": "quoted", "referenced_message": {"role": "user", "content": "deeper"}},
    });
    let mut body = query_messages(json!([message]));
    for (k, v) in [
        ("metadata", json!("d-1")),
        ("temperature", json!(0.7)),
        ("skip_system_prompt", json!(true)),
        ("logit_bias", json!({"50256": -100})),
        ("stop_sequences", json!(["\n\n"])),
        ("language_code", json!("fr")),
        ("adopt_current_bot_name", json!(false)),
        ("bot_query_id", json!("q-1")),
        ("users", json!([{"id": "u-1", "name": "Ann"}])),
        (
            "tools",
            json!([{"type": "function", "function": {"name": "f", "description": "d",
            "parameters": {"type": "object", "properties": {"a": {"type": "string"}}, "required": ["a"]}}}]),
        ),
        (
            "tool_calls",
            json!([{"id": "t1", "type": "function", "function": {"name": "f", "arguments": "{}"}}]),
        ),
        ("tool_results", json!([{"role": "tool", "name": "f", "tool_call_id": "t1", "content": "1"}])),
        ("query_creation_time", json!(1_700_000_000_000_000i64)),
        ("extra_params", json!({"x": 1})),
    ] {
        body[k] = v;
    }
    let events = host.query_body("showcase", &body).await;
    assert_eq!(pairs(&events), [("text", &json!({"text": "u-1 c-1 m-1"})), ("done", &json!({}))]);
}

#[tokio::test]
async fn settings_of_a_bot_with_defaults_match_fastapi_poe() {
    let host = TestHost::start().await;
    let response = host.post("echo", &json!({"version": "1.2", "type": "settings"})).await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "application/json");
    let body: serde_json::Value = response.json().await.unwrap();
    let keys = [
        "response_version",
        "context_clear_window_secs",
        "allow_user_context_clear",
        "custom_rate_card",
        "server_bot_dependencies",
        "allow_attachments",
        "introduction_message",
        "expand_text_attachments",
        "enable_image_comprehension",
        "enforce_author_role_alternation",
        "enable_multi_bot_chat_prompting",
        "enable_multi_entity_prompting",
        "rate_card",
        "cost_label",
        "parameter_controls",
    ];
    let object = body.as_object().unwrap();
    assert_eq!(object.len(), 15);
    for key in keys {
        let expected = match key {
            "response_version" => json!(2),
            "server_bot_dependencies" => json!({}),
            _ => json!(null),
        };
        assert_eq!(object[key], expected, "{key}");
    }
}

#[tokio::test]
async fn reports_are_delivered_and_answered_with_empty_object() {
    let host = TestHost::start().await;
    let ids = json!({"version": "1.2", "message_id": "m", "user_id": "u", "conversation_id": "c"});
    let mut feedback = ids.clone();
    feedback["type"] = json!("report_feedback");
    feedback["feedback_type"] = json!("like");
    let mut reaction = ids;
    reaction["type"] = json!("report_reaction");
    reaction["reaction"] = json!("surprised-new-kind");
    let error = json!({"version": "1.2", "type": "report_error", "message": "bad", "metadata": {"a": 1}});
    for body in [feedback, reaction, error] {
        let response = host.post("showcase", &body).await;
        assert_eq!(response.status(), 200, "{body}");
        assert_eq!(response.headers()["content-type"], "application/json");
        assert_eq!(response.text().await.unwrap(), "{}");
    }
}

#[tokio::test]
async fn query_stream_has_fastapi_poe_headers() {
    let host = TestHost::start().await;
    let response = host.post("echo", &query("hi")).await;
    let headers = response.headers();
    assert_eq!(headers["content-type"], "text/event-stream; charset=utf-8");
    assert_eq!(headers["cache-control"], "no-store");
    assert_eq!(headers["x-accel-buffering"], "no");
    assert_eq!(headers["connection"], "keep-alive");
}

#[tokio::test]
async fn empty_conversation_ends_with_error_then_done() {
    let host = TestHost::start().await;
    let events = host.query_body("echo", &query_messages(json!([]))).await;
    assert_eq!(events.len(), 2);
    assert_eq!(events[0].name, "error");
    assert_eq!(events[0].data["allow_retry"], json!(false));
    assert_eq!(events[0].data["text"], json!("The bot encountered an unexpected issue."));
    assert_done_once_at_end(&events);
}

#[tokio::test]
async fn headers_are_flushed_before_the_bot_answers() {
    let host = TestHost::start().await;
    let (response, elapsed) = timed(host.post("showcase", &query("sleep 1500"))).await;
    assert_eq!(response.status(), 200);
    assert!(elapsed < Duration::from_millis(700), "headers took {elapsed:?}");
    let (body, total) = timed(response.bytes()).await;
    assert!(total > Duration::from_millis(700), "body should wait for the bot: {total:?}");
    assert_eq!(parse_sse(&body.unwrap())[0].data, json!({"text": "woke"}));
}

#[tokio::test]
async fn chunks_reach_the_client_while_the_bot_still_runs() {
    let host =
        TestHost::with(Options { bots: vec![("misbehave", guests::MISBEHAVE)], ..Options::default() }).await;
    let mut response = host.post("misbehave", &query("drip 10")).await;
    let start = std::time::Instant::now();
    let first = response.chunk().await.unwrap().unwrap();
    let first_at = start.elapsed();
    assert!(first.starts_with(b"event: text\r\ndata: {\"text\":\"0 \"}"), "{first:?}");
    while response.chunk().await.unwrap().is_some() {}
    let last_at = start.elapsed();
    assert!(last_at - first_at > Duration::from_millis(300), "first {first_at:?}, last {last_at:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_sleeping_requests_finish_in_about_one_sleep() {
    let host = TestHost::start().await;
    let requests = (0..32).map(|_| host.query("showcase", "sleep 500"));
    let (results, elapsed) = timed(futures::future::join_all(requests)).await;
    for events in results {
        assert_eq!(pairs(&events), [("text", &json!({"text": "woke"})), ("done", &json!({}))]);
    }
    assert!(elapsed < Duration::from_millis(1500), "32 × 500 ms sleeps took {elapsed:?}");
}
