//! Outbound HTTP (`wasi:http`): the `relay` example against a local OpenAI-compatible
//! upstream, and the `fetcher` fixture against the same upstream's misbehaving paths —
//! where a request may go (allowlist, SSRF guard), each bound, streaming, and a client's
//! disconnect cancelling the bot's request.

pub mod upstream;

use std::time::Duration;

use serde_json::{Value, json};

use self::upstream::{OPENAI_KEY, Upstream};
use crate::harness::*;

/// A host serving `relay` and `fetcher` under the given names and sidecars.
async fn host(bots: &[(&'static str, &'static str, String)]) -> TestHost {
    let sidecars = bots.iter().map(|(name, _, toml)| (*name, toml.clone())).collect();
    let bots = bots.iter().map(|(name, wasm, _)| (*name, *wasm)).collect();
    TestHost::with(Options { bots, sidecars, ..Options::default() }).await
}

/// The texts of a response, joined.
fn texts(events: &[Event]) -> String {
    events.iter().filter(|e| e.name == "text").filter_map(|e| e.data["text"].as_str()).collect()
}

/// `allowed_outbound_hosts` granting exactly the upstream.
fn allow(up: &Upstream) -> String {
    format!("allowed_outbound_hosts = [{:?}]\n", up.base)
}

/// `relay`'s sidecar for `up`: granted it, with its base URL, key and a model.
pub fn relay_sidecar(up: &Upstream) -> String {
    format!(
        "{}[env]\nOPENAI_BASE_URL = \"{}/v1\"\nOPENAI_API_KEY = {OPENAI_KEY:?}\nOPENAI_MODEL = \"test-model\"\n",
        allow(up),
        up.base
    )
}

/// Assert `bot` (a relay granted `up`) streams a conversation's completion word by word,
/// having sent the upstream its sidecar's key and the conversation as OpenAI messages.
pub async fn assert_relays_a_conversation(host: &TestHost, bot: &str, up: &Upstream) {
    let conversation = json!([
        {"role": "system", "content": "be brief"},
        {"role": "user", "content": "hi"},
        {"role": "bot", "content": "hello"},
        {"role": "user", "content": "stream these words"},
    ]);
    let events = host.query_body(bot, &query_messages(conversation)).await;
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
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn relay_streams_a_chat_completion_with_the_key_from_its_sidecar() {
    let up = upstream::start().await;
    let sidecar = relay_sidecar(&up);
    let wrong_key = sidecar.replace(OPENAI_KEY, "sk-wrong");
    let host = host(&[("relay", guests::RELAY, sidecar), ("relay_badkey", guests::RELAY, wrong_key)]).await;
    assert_relays_a_conversation(&host, "relay", &up).await;
    // An error status is an error event naming it; a wrong key is the upstream's 401.
    for (bot, text, status) in [("relay", "fail", "429"), ("relay_badkey", "hi", "401")] {
        let events = host.query(bot, text).await;
        assert_eq!(events[0].name, "error", "{events:?}");
        let error = events[0].data["text"].as_str().unwrap();
        assert!(error.contains(&format!("answered {status}")), "{error}");
        assert_done_once_at_end(&events);
    }
    let admin = host.admin().await.to_string();
    assert!(!admin.contains(OPENAI_KEY) && !admin.contains("sk-wrong"), "the admin view shows a secret");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_go_only_where_the_sidecar_grants() {
    let up = upstream::start().await;
    let port = up.base.rsplit(':').next().unwrap().to_owned();
    let host = host(&[
        ("granted", guests::FETCHER, allow(&up)),
        ("nothing", guests::FETCHER, String::new()),
        ("other_port", guests::FETCHER, "allowed_outbound_hosts = [\"http://127.0.0.1:1\"]\n".into()),
        ("by_name", guests::FETCHER, format!("allowed_outbound_hosts = [\"http://localhost:{port}\"]\n")),
        ("wildcard", guests::FETCHER, "allowed_outbound_hosts = [\"http://*:*\"]\n".into()),
    ])
    .await;
    let ok = format!("{}/ok", up.base);
    let ask = |bot: &'static str, command: String| {
        let host = &host;
        async move { texts(&host.query(bot, &command).await) }
    };
    assert_eq!(ask("granted", format!("get {ok}")).await, "200 5");
    assert_eq!(ask("nothing", format!("get {ok}")).await, "error: Http(ErrorCode::HttpRequestDenied)");
    assert_eq!(ask("other_port", format!("get {ok}")).await, "error: Http(ErrorCode::HttpRequestDenied)");
    // A listed name that resolves to loopback reaches nothing; nor does a wildcard reach
    // an internal address, the cloud metadata one included.
    let by_name = format!("get http://localhost:{port}/ok");
    assert_eq!(ask("by_name", by_name).await, "error: Http(ErrorCode::DestinationIpProhibited)");
    assert_eq!(ask("wildcard", format!("get {ok}")).await, "error: Http(ErrorCode::DestinationIpProhibited)");
    let metadata = "get http://169.254.169.254/latest/meta-data/".to_owned();
    assert_eq!(ask("wildcard", metadata).await, "error: Http(ErrorCode::DestinationIpProhibited)");
    // Redirects are answers, not followed; a non-HTTP answer is an error, not a crash.
    assert_eq!(ask("granted", format!("get {}/redirect", up.base)).await, "302 0");
    assert!(ask("granted", format!("get {}/garbage", up.base)).await.starts_with("error: Http("));
    let paths: Vec<String> = up.requests.lock().unwrap().iter().map(|r| r.path.clone()).collect();
    assert_eq!(paths, ["/ok", "/redirect", "/garbage"], "only granted requests reached the upstream");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_bound_ends_the_request_not_the_response() {
    let up = upstream::start().await;
    let bounded = |table: &str| format!("{}[outbound_http]\n{table}\n", allow(&up));
    let host = host(&[
        ("two_requests", guests::FETCHER, bounded("max_requests = 2")),
        ("two_open", guests::FETCHER, bounded("max_concurrent = 2")),
        ("one_mib", guests::FETCHER, bounded("max_response_mib = 1")),
        (
            "quick",
            guests::FETCHER,
            bounded("first_byte_timeout_secs = 0.3\nbetween_bytes_timeout_secs = 0.3"),
        ),
    ])
    .await;
    let b = &up.base;
    let lines = |events: &[Event]| texts(events).lines().map(str::to_owned).collect::<Vec<_>>();
    let events = host.query("two_requests", &format!("many 3 {b}/ok")).await;
    assert_eq!(lines(&events), ["200 5", "200 5", "error: Http(ErrorCode::ConnectionLimitReached)"]);
    let events = host.query("two_open", &format!("open 3 {b}/silent")).await;
    let open = lines(&events);
    assert_eq!(open[..2], ["200", "200"]);
    assert!(open[2].contains("ConnectionLimitReached"), "{open:?}");
    // Bodies read to the end free their place: sequential requests are not "open".
    let events = host.query("two_open", &format!("many 3 {b}/ok")).await;
    assert_eq!(lines(&events), ["200 5", "200 5", "200 5"]);
    let events = host.query("one_mib", &format!("get {b}/big/{}", 1 << 20)).await;
    assert_eq!(texts(&events), format!("200 {}", 1 << 20));
    let events = host.query("one_mib", &format!("get {b}/big/{}", (1 << 20) + 1)).await;
    // wasmtime-wasi-http 48 passes a body's error on as its message, not as an error code.
    assert_eq!(texts(&events), "error: Body(\"HTTP response body size exceeds limit: 1048576 bytes\")");
    let (events, took) = timed(host.query("quick", &format!("get {b}/slow"))).await;
    assert_eq!(texts(&events), "error: Http(ErrorCode::HttpResponseTimeout)");
    assert!(took < Duration::from_secs(5), "the first-byte timeout took {took:?}");
    let events = host.query("quick", &format!("stream {b}/silent")).await;
    assert_eq!(texts(&events), "firsterror: Body(\"connection read timeout\")");
    assert_done_once_at_end(&events);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bodies_stream_and_a_disconnect_cancels_the_request() {
    let mut up = upstream::start().await;
    let host = host(&[("fetcher", guests::FETCHER, allow(&up))]).await;
    // The second chunk is sent only once the first reached the client through the bot.
    let mut response = host.post("fetcher", &query(&format!("stream {}/gate", up.base))).await;
    let mut seen = Vec::new();
    while !String::from_utf8_lossy(&seen).contains("first") {
        seen.extend_from_slice(&response.chunk().await.unwrap().expect("the stream ended before \"first\""));
    }
    up.gate.notify_one();
    while let Some(chunk) = response.chunk().await.unwrap() {
        seen.extend_from_slice(&chunk);
    }
    assert_eq!(texts(&parse_sse(&seen)), "firstsecondend");
    // A client that hangs up mid-answer closes the bot's upstream connection.
    let mut response = host.post("fetcher", &query(&format!("stream {}/silent", up.base))).await;
    let first = response.chunk().await.unwrap().unwrap();
    assert!(String::from_utf8_lossy(&first).contains("first"), "{first:?}");
    drop(response);
    let closed = tokio::time::timeout(Duration::from_secs(10), up.closed.recv()).await;
    assert_eq!(closed.expect("the upstream connection stayed open").as_deref(), Some("closed /silent"));
}
