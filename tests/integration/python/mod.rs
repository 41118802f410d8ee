//! Python bots: fastapi_poe files built by the SDK's `poe_build.py` (in `build.rs`) and
//! served by the host. A Python component takes ~20 s of CPU to compile, so the module
//! shares one host serving every Python bot (`python_host`), compiled once, on a thread and
//! runtime of its own that outlive each test's.

mod build;
mod differential;
mod outbound;
mod sandbox;

use std::sync::OnceLock;
use std::time::Duration;

use poe_host::sandbox::limits::Limits;
use serde_json::{Value, json};

use crate::bot_query::standin::standin;
use crate::harness::*;

/// The bots the shared host serves, by name.
const BOTS: &[(&str, &str)] = &[
    ("echo", guests::PY_ECHO),
    ("showcase", guests::PY_SHOWCASE),
    ("allcaps", guests::PY_ALLCAPS),
    ("side_by_side", guests::PY_SIDE_BY_SIDE),
    ("misbehave", guests::PY_MISBEHAVE),
    ("humane", guests::PY_HUMANE),
    ("modal_echo", guests::PY_MODAL_ECHO),
];

/// Limits of the shared host: the defaults, with a CPU budget and deadline short enough
/// that a looping bot ends within the test's patience.
pub fn limits() -> Limits {
    Limits { cpu_budget: Duration::from_secs(2), timeout: Duration::from_secs(20), ..Limits::default() }
}

/// The URL of the host serving every Python bot, started on first use; its calls to other
/// bots and Poe's upload and cost APIs go to the fastapi_poe stand-in.
pub fn python_host() -> &'static str {
    static HOST: OnceLock<String> = OnceLock::new();
    HOST.get_or_init(|| {
        let api = standin().base.clone();
        let upload = api.replace("/bot/", "/poe_api/");
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let runtime = tokio::runtime::Runtime::new().unwrap();
            runtime.block_on(async move {
                let options = Options {
                    bots: BOTS.to_vec(),
                    limits: limits(),
                    poe_api_base: api,
                    poe_upload_base: upload,
                    ..Options::default()
                };
                let host = TestHost::with(options).await;
                tx.send(host.url.clone()).unwrap();
                std::future::pending::<()>().await;
                drop(host);
            });
        });
        rx.recv().expect("the Python bots' host started")
    })
}

/// POST `body` to the shared host's `bot` with the test key.
pub async fn post(bot: &str, body: &Value) -> reqwest::Response {
    reqwest::Client::new()
        .post(format!("{}/{bot}", python_host()))
        .bearer_auth(KEY)
        .json(body)
        .send()
        .await
        .unwrap()
}

/// The events of `bot`'s answer to one user message `text`.
pub async fn query(bot: &str, text: &str) -> Vec<Event> {
    let response = post(bot, &harness_query(text)).await;
    assert_eq!(response.status(), 200);
    parse_sse(&response.bytes().await.unwrap())
}

fn harness_query(text: &str) -> Value {
    let mut body = crate::harness::query(text);
    body["bot_query_id"] = json!("bq-python");
    body
}

/// The text events' texts, joined.
pub fn text_of(events: &[Event]) -> String {
    events.iter().filter(|e| e.name == "text").map(|e| e.data["text"].as_str().unwrap()).collect()
}
