//! The fastapi_poe stand-in for Poe's API, fastapi_poe's own client, and what each answer
//! looks like once read.

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::OnceLock;

use serde_json::{Value, json};

use crate::harness::*;

/// The running stand-in. Its stdin is held open for the life of the test binary: when the
/// binary exits, the stand-in sees EOF and exits too.
pub struct StandIn {
    /// `--poe-api-base` for it.
    pub base: String,
    _child: Child,
    _stdin: ChildStdin,
}

/// The stand-in, started on first use.
pub fn standin() -> &'static StandIn {
    static STANDIN: OnceLock<StandIn> = OnceLock::new();
    STANDIN.get_or_init(|| {
        let script = workspace_root().join("tests/interop/poe_api_standin.py");
        let mut child = Command::new(venv_python())
            .arg(script)
            .arg(KEY)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("starting the fastapi_poe stand-in");
        let stdin = child.stdin.take().unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
        let url =
            line.trim().strip_prefix("listening on ").unwrap_or_else(|| panic!("stand-in said {line:?}"));
        StandIn { base: format!("{url}/bot/"), _child: child, _stdin: stdin }
    })
}

/// Every request the stand-in received for `message_id`: queries and `report_error` calls.
pub async fn received(message_id: &str) -> Vec<Value> {
    let url = standin().base.replace("/bot/", "/_received");
    let all: Vec<Value> = reqwest::get(url).await.unwrap().json().await.unwrap();
    all.into_iter()
        .filter(|r| {
            r["body"]["message_id"] == message_id || r["body"]["metadata"]["message_id"] == message_id
        })
        .collect()
}

/// A host serving `caller`, `allcaps` and `versus` that calls the stand-in.
pub async fn host_with(options: Options) -> TestHost {
    let bots = vec![("caller", guests::CALLER), ("allcaps", guests::ALLCAPS), ("versus", guests::VERSUS)];
    TestHost::with(Options { bots, poe_api_base: standin().base.clone(), ..options }).await
}

/// A Poe-like request with every field set, its last message `text`.
pub fn rich_request(message_id: &str, text: &str) -> Value {
    json!({
        "version": "1.2", "type": "query",
        "query": [
            {"role": "system", "content": "Be brief.", "timestamp": 1_700_000_000_000_000i64, "message_id": "s-0"},
            {"role": "user", "content": text, "sender_id": "u-1", "sender": {"id": "u-1", "name": "alice"},
             "parameters": {"temp": 0.5}, "timestamp": 1_700_000_001_000_000i64, "message_id": "msg-u1",
             "reactions": [{"user_id": "u-2", "reaction": "heart"}], "feedback": [{"type": "like", "reason": "good"}]},
        ],
        "user_id": "u-1", "conversation_id": "c-1", "message_id": message_id, "metadata": "poe-internal",
        "temperature": 0.7, "logit_bias": {"a": 1.5}, "stop_sequences": ["\n\n"], "language_code": "fr",
        "bot_query_id": "bq-1", "users": [{"id": "u-1", "name": "alice"}],
        "query_creation_time": 1_700_000_001_500_000i64, "extra_params": {"x": 1},
    })
}

/// What fastapi_poe's client yields calling `bot` with `request` (and `extra`: tools,
/// tool_calls, tool_results), as lines; a fastapi_poe bot's server has set both key fields
/// to the bot's key on receipt, so they are set so here.
pub async fn fastapi_poe_calls(bot: &str, mut request: Value, extra: Value) -> Vec<Value> {
    request["access_key"] = json!(KEY);
    request["api_key"] = json!(KEY);
    let mut input = json!({"request": request});
    input.as_object_mut().unwrap().extend(extra.as_object().cloned().unwrap_or_default());
    let script = workspace_root().join("tests/interop/fp_stream_request.py");
    let (base, bot) = (standin().base.clone(), bot.to_owned());
    let output = tokio::task::spawn_blocking(move || {
        let mut child = Command::new(venv_python())
            .arg(script)
            .args([&base, &bot, KEY])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        child.stdin.take().unwrap().write_all(input.to_string().as_bytes()).unwrap();
        child.wait_with_output().unwrap()
    })
    .await
    .unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    lines(&String::from_utf8(output.stdout).unwrap())
}

/// What the caller fixture reported, as lines.
pub async fn caller_calls(host: &TestHost, body: &Value) -> Vec<Value> {
    let events = host.query_body("caller", body).await;
    assert_done_once_at_end(&events);
    let text: String =
        events.iter().filter(|e| e.name == "text").map(|e| e.data["text"].as_str().unwrap()).collect();
    lines(&text)
}

fn lines(text: &str) -> Vec<Value> {
    text.lines().map(|l| serde_json::from_str(l).unwrap_or_else(|_| panic!("not JSON: {l:?}"))).collect()
}

/// A fastapi_poe line with its `index` fields (which BotMessage carries and the WIT does
/// not) removed.
pub fn without_index(mut line: Value) -> Value {
    if let Some(line) = line.as_object_mut() {
        line.remove("index");
    }
    line
}
