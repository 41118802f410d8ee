//! Each example Python bot file, unchanged, served twice: by real fastapi_poe
//! (`tests/interop/fp_serve_file.py`, from the venv) and by poe-host built from the same
//! file. The same requests must give the same events (names and data), the same settings
//! and the same report answers. Both call the same fastapi_poe stand-in for other bots,
//! uploads and costs.

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::{Mutex, OnceLock};

use serde_json::{Value, json};

use super::post;
use crate::bot_query::standin::standin;
use crate::harness::*;

/// A fastapi_poe server for one bot file, kept for the life of the test binary.
struct FastapiPoe {
    url: String,
    _child: Child,
    _stdin: ChildStdin,
}

/// The fastapi_poe server of `file` (relative to the workspace root), started on first use.
fn fastapi_poe(file: &str) -> String {
    static SERVERS: OnceLock<Mutex<HashMap<String, FastapiPoe>>> = OnceLock::new();
    let mut servers = SERVERS.get_or_init(Default::default).lock().unwrap();
    let server = servers.entry(file.to_owned()).or_insert_with(|| {
        let script = workspace_root().join("tests/interop/fp_serve_file.py");
        let standin_base = standin().base.trim_end_matches("/bot/").to_owned();
        let mut child = Command::new(venv_python())
            .arg(script)
            .arg(workspace_root().join(file))
            .arg(KEY)
            .arg(standin_base)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("starting fastapi_poe");
        let stdin = child.stdin.take().unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
        let url =
            line.trim().strip_prefix("listening on ").unwrap_or_else(|| panic!("fastapi_poe said {line:?}"));
        FastapiPoe { url: format!("{url}/"), _child: child, _stdin: stdin }
    });
    server.url.clone()
}

/// Status and body of `body` POSTed to fastapi_poe serving `file`.
async fn fastapi_poe_answer(file: &str, body: &Value) -> (u16, Vec<u8>) {
    let url = fastapi_poe(file);
    let response = reqwest::Client::new().post(url).bearer_auth(KEY).json(body).send().await.unwrap();
    (response.status().as_u16(), response.bytes().await.unwrap().to_vec())
}

/// Status and body of `body` POSTed to poe-host's `bot`.
async fn poe_host_answer(bot: &str, body: &Value) -> (u16, Vec<u8>) {
    let response = post(bot, body).await;
    (response.status().as_u16(), response.bytes().await.unwrap().to_vec())
}

/// Both servers' events for a query body, numbers compared as numbers.
async fn both_events(file: &str, bot: &str, body: &Value) -> (Vec<Event>, Vec<Event>) {
    let ((fp_status, fp_body), (host_status, host_body)) =
        tokio::join!(fastapi_poe_answer(file, body), poe_host_answer(bot, body));
    assert_eq!((fp_status, host_status), (200, 200), "{body}");
    let normal = |events: Vec<Event>| {
        events.into_iter().map(|e| Event { name: e.name, data: numbers_as_floats(e.data) }).collect()
    };
    (normal(parse_sse(&fp_body)), normal(parse_sse(&host_body)))
}

/// `value` with every number as a float: fastapi_poe writes `3` where the host's f64 is `3.0`.
fn numbers_as_floats(value: Value) -> Value {
    match value {
        Value::Number(n) => json!(n.as_f64().unwrap()),
        Value::Array(items) => Value::Array(items.into_iter().map(numbers_as_floats).collect()),
        Value::Object(map) => {
            Value::Object(map.into_iter().map(|(k, v)| (k, numbers_as_floats(v))).collect())
        }
        other => other,
    }
}

/// Assert both servers answer each of `texts` with the same events.
async fn same_answers(file: &str, bot: &str, texts: &[&str]) {
    for text in texts {
        let mut body = query(text);
        body["bot_query_id"] = json!("bq-python");
        body["message_id"] = json!(format!("m-{bot}-{}", text.replace(' ', "-")));
        let (fastapi_poe, poe_host) = both_events(file, bot, &body).await;
        assert_eq!(poe_host, fastapi_poe, "{bot} answered {text:?} differently from fastapi_poe");
        assert_done_once_at_end(&poe_host);
    }
}

/// Assert both servers answer a non-query request with the same status and JSON.
async fn same_report(file: &str, bot: &str, body: Value) {
    let ((fp_status, fp_body), (host_status, host_body)) =
        tokio::join!(fastapi_poe_answer(file, &body), poe_host_answer(bot, &body));
    assert_eq!(host_status, fp_status, "{body}");
    let parse = |b: &[u8]| numbers_as_floats(serde_json::from_slice(b).unwrap_or(Value::Null));
    assert_eq!(parse(&host_body), parse(&fp_body), "{body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn echo_py_answers_as_fastapi_poe_serving_the_same_file() {
    let file = "example-bots/python/echo.py";
    same_answers(file, "echo", &["hello", "", "ünïcödé ✓ \"quoted\"\nline"]).await;
    same_report(file, "echo", json!({"version": "1.2", "type": "settings"})).await;
    let feedback = json!({"version": "1.2", "type": "report_feedback", "message_id": "m-1",
        "user_id": "u-1", "conversation_id": "c-1", "feedback_type": "like"});
    same_report(file, "echo", feedback).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn showcase_py_sends_every_event_kind_as_fastapi_poe_does() {
    let file = "example-bots/python/showcase.py";
    let commands = [
        "stream 4",
        "replace",
        "suggest",
        "meta",
        "data",
        "error",
        "raise",
        "attach",
        "inspect",
        "ids",
        "sleep 20",
        "gather 4",
        "race 3",
        "nonsense",
        "upload notes.txt some words",
        "cost 250",
    ];
    same_answers(file, "showcase", &commands).await;
    same_report(file, "showcase", json!({"version": "1.2", "type": "settings"})).await;
    let conversation = query_messages(json!([
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "first", "attachments": [{"url": "https://f.test/a.txt",
            "content_type": "text/plain", "name": "a.txt", "parsed_content": "file text"}]},
        {"role": "bot", "content": "reply"},
        {"role": "user", "content": "inspect"},
    ]));
    let (fastapi_poe, poe_host) = both_events(file, "showcase", &conversation).await;
    assert_eq!(poe_host, fastapi_poe, "inspect of a conversation with an attachment");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrapper_bots_call_other_bots_as_fastapi_poe_does() {
    let allcaps = ["hello big world", "events", "slow 20 3"];
    same_answers("example-bots/python/allcaps.py", "allcaps", &allcaps).await;
    // The two upstreams' chunks race, so the order of the replaces may differ; the number of
    // events and the final text may not.
    let body = query("slow 300 3");
    let started = std::time::Instant::now();
    let file = "example-bots/python/side_by_side.py";
    let (fastapi_poe, poe_host) = both_events(file, "side_by_side", &body).await;
    let took = started.elapsed();
    assert_eq!(poe_host.len(), fastapi_poe.len(), "{poe_host:?}");
    assert_eq!(poe_host[poe_host.len() - 2], fastapi_poe[fastapi_poe.len() - 2]);
    assert!(poe_host.iter().rev().skip(1).all(|e| e.name == "replace_response"), "{poe_host:?}");
    assert_done_once_at_end(&poe_host);
    // Each upstream takes ~0.9 s; one after the other they would take 1.8 s per server.
    assert!(took.as_secs_f64() < 3.0, "the two calls did not run at once: {took:?}");
}
