//! Poe's upload, cost and settings-sync APIs, differential: the showcase bot on poe-host and fastapi_poe's
//! own `PoeBot` methods (`tests/interop/fp_platform.py`) call the same stand-in
//! (`tests/interop/poe_api_standin.py`), which records each request, its form fields parsed
//! by Python's standard library. The two requests must match field by field, and the file
//! event poe-host sends must be the one fastapi_poe queues.

use std::process::Command;
use std::sync::Arc;

use poe_host::bots::sidecar::HostDefaults;
use poe_host::capabilities::bot_query::client::PoeApi;
use poe_host::http::auth::AccessKey;
use poe_host::sync_settings::Sync;

use serde_json::{Value, json};

use crate::bot_query::standin::standin;
use crate::harness::*;

/// Where the stand-in's upload API is.
const UPLOADS: &str = "/poe_api/";
/// Where its cost API is.
const COSTS: &str = "/bot/cost/";

/// The stand-in's base, `http://127.0.0.1:PORT`.
fn base() -> String {
    standin().base.trim_end_matches("/bot/").to_owned()
}

/// Every request the stand-in recorded under `prefix` (each test has its own), in order.
async fn requests_under(prefix: &str) -> Vec<Value> {
    let all: Vec<Value> = reqwest::get(format!("{}/_received", base())).await.unwrap().json().await.unwrap();
    all.into_iter().filter(|r| r["path"].as_str().unwrap_or("").starts_with(prefix)).collect()
}

/// What the stand-in saw of `run`'s requests under `prefix`: what a fastapi_poe client and poe-host must
/// agree on (the multipart boundary and client headers aside).
async fn requests_of<T>(prefix: &str, run: impl Future<Output = T>) -> (T, Vec<Value>) {
    let before = requests_under(prefix).await.len();
    let result = run.await;
    let seen = requests_under(prefix).await.split_off(before);
    let fields = seen
        .into_iter()
        .map(|r| {
            let h = &r["headers"];
            let media_type = h["content-type"].as_str().map(|c| c.split(';').next().unwrap().to_owned());
            json!({
                "method": r["method"], "path": r["path"], "authorization": h["authorization"],
                "content_type": media_type, "accept": h["accept"], "form": r["form"], "body": r["body"],
            })
        })
        .collect();
    (result, fields)
}

/// fastapi_poe's result for `args` (see fp_platform.py).
async fn fastapi_poe(args: &[&str]) -> Value {
    let script = workspace_root().join("tests/interop/fp_platform.py");
    let mut command = Command::new(venv_python());
    command.arg(script).arg(base()).arg(KEY).args(args);
    let output = tokio::task::spawn_blocking(move || command.output().unwrap()).await.unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    // fastapi_poe prints its own retry notices first; the result is the last line.
    let stdout = String::from_utf8(output.stdout).unwrap();
    serde_json::from_str(stdout.lines().last().unwrap_or_default()).unwrap_or_else(|_| panic!("{stdout}"))
}

async fn host() -> TestHost {
    let options = Options {
        bots: vec![("showcase", guests::SHOWCASE)],
        poe_api_base: standin().base.clone(),
        poe_upload_base: format!("{}/poe_api/", base()),
        ..Options::default()
    };
    TestHost::with(options).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn uploads_are_sent_as_fastapi_poe_sends_them() {
    let host = host().await;
    for (command, args) in [
        ("upload notes.txt hello world", vec!["upload", "notes.txt", "hello world"]),
        ("upload cat.png PNG", vec!["upload", "cat.png", "PNG"]),
        ("upload blob.zzq x", vec!["upload", "blob.zzq", "x"]),
        ("upload-url https://example.com/a%20b.pdf", vec!["upload-url", "https://example.com/a%20b.pdf"]),
        (
            "upload-url https://example.com/x.png renamed.png",
            vec!["upload-url", "https://example.com/x.png", "renamed.png"],
        ),
    ] {
        let (events, sent) = requests_of(UPLOADS, host.query("showcase", command)).await;
        let (theirs, fp_sent) = requests_of(UPLOADS, fastapi_poe(&args)).await;
        assert_eq!(sent.len(), 1, "{command}: {sent:?}");
        assert_eq!(sent, fp_sent, "{command}: what poe-host sent vs what fastapi_poe sent");
        assert_eq!(sent[0]["authorization"], KEY, "the raw key, no Bearer");
        // The file event comes first, as fastapi_poe's pending file events do.
        assert_eq!((events[0].name.as_str(), &events[0].data), ("file", &theirs["data"]), "{command}");
        assert_eq!(events[1].name, "text");
        assert_done_once_at_end(&events);
    }
    // Inline: the reference is random, 8 characters of [A-Za-z0-9], and the text uses it.
    let events = host.query("showcase", "upload-inline chart.png PNG").await;
    let inline_ref = events[0].data["inline_ref"].as_str().unwrap().to_owned();
    assert!(inline_ref.len() == 8 && inline_ref.bytes().all(|b| b.is_ascii_alphanumeric()), "{inline_ref}");
    assert_eq!(events[1].data["text"], format!("![chart.png][{inline_ref}]"));
    // A failing upload is tried twice, as fastapi_poe does, then fails the bot's call.
    let (events, sent) = requests_of(UPLOADS, host.query("showcase", "upload fail.txt x")).await;
    let (theirs, fp_sent) = requests_of(UPLOADS, fastapi_poe(&["upload", "fail.txt", "x"])).await;
    assert_eq!((sent.len(), &sent), (2, &fp_sent));
    assert!(theirs["error"].as_str().unwrap().starts_with("AttachmentUploadError: 500"), "{theirs}");
    assert_eq!(events[0].name, "error");
    assert!(
        events[0].data["raw_response"].as_str().unwrap().contains("500 Internal Server Error: upload broke")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn costs_are_charged_as_fastapi_poe_charges_them() {
    let host = host().await;
    let with_id = |text: &str, id: &str| {
        let mut body = query(text);
        body["bot_query_id"] = json!(id);
        body
    };
    // Authorized and captured: the key in the body, no Authorization header.
    let (events, sent) = requests_of(COSTS, host.query_body("showcase", &with_id("cost 5000", "bq-7"))).await;
    let (theirs, fp_sent) = requests_of(COSTS, fastapi_poe(&["cost", "bq-7", "5000"])).await;
    assert_eq!(theirs, json!({"charged": 5000}));
    assert_eq!(sent, fp_sent);
    assert_eq!(sent.len(), 2);
    assert_eq!(sent[0]["path"], "/bot/cost/bq-7/authorize");
    assert_eq!(sent[1]["path"], "/bot/cost/bq-7/capture");
    assert_eq!(sent[0]["authorization"], Value::Null);
    assert_eq!(
        sent[0]["body"],
        json!({"amounts": [{"amount_usd_milli_cents": 5000, "description": "showcase"}], "access_key": KEY})
    );
    assert_eq!(pairs(&events), [("text", &json!({"text": "charged 5000"})), ("done", &json!({}))]);
    // Refused: the bot's `?` ends the answer with Poe's insufficient_fund event.
    let (events, sent) =
        requests_of(COSTS, host.query_body("showcase", &with_id("cost 200000", "bq-8"))).await;
    let (theirs, fp_sent) = requests_of(COSTS, fastapi_poe(&["cost", "bq-8", "200000"])).await;
    assert_eq!((theirs["error"].as_str().unwrap(), &sent), ("InsufficientFundError: ", &fp_sent));
    assert_eq!(
        pairs(&events),
        [
            ("error", &json!({"allow_retry": true, "text": "", "error_type": "insufficient_fund"})),
            ("done", &json!({})),
        ]
    );
    // Poe failing: the messages of its events, as fastapi_poe's CostRequestError has them.
    let (events, _) = requests_of(COSTS, host.query_body("showcase", &with_id("cost 5", "broken"))).await;
    let theirs = fastapi_poe(&["cost", "broken", "5"]).await;
    assert_eq!(theirs["error"], "CostRequestError: 500 Internal Server Error: cost broke");
    assert!(
        events[0].data["raw_response"].as_str().unwrap().contains("500 Internal Server Error: cost broke"),
        "{events:?}"
    );
    // No bot_query_id: refused before any request, as fastapi_poe refuses.
    let (events, sent) = requests_of(COSTS, host.query("showcase", "cost 5")).await;
    assert!(sent.is_empty(), "{sent:?}");
    assert!(events[0].data["raw_response"].as_str().unwrap().contains("NoBotQueryId"), "{events:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn settings_are_synced_as_fastapi_poe_syncs_them() {
    let autosync = ("autosync", "sync_settings = true\n".to_owned());
    let options = Options {
        bots: vec![("showcase", guests::SHOWCASE), ("autosync", guests::SHOWCASE)],
        sidecars: vec![autosync],
        poe_api_base: standin().base.clone(),
        ..Options::default()
    };
    let host = TestHost::with(options).await;
    // `sync_settings = true`: sent after the bot loaded, without being asked.
    let auto = format!("/bot/update_settings/autosync/{KEY}/1.2");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while requests_under(&auto).await.is_empty() {
        assert!(std::time::Instant::now() < deadline, "no settings sync after load");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let settings =
        host.post("showcase", &json!({"version": "1.2", "type": "settings"})).await.text().await.unwrap();
    let api = Arc::new(PoeApi::new(&standin().base).unwrap());
    let defaults = HostDefaults { access_key: Some(AccessKey::new(KEY)), ..HostDefaults::default() };
    let sync = |how| {
        poe_host::sync_settings::run(
            host.dir.path(),
            "showcase",
            "showcase",
            defaults.clone(),
            api.clone(),
            how,
        )
    };
    let prefix = "/bot/update_settings/showcase/";
    let (summary, sent) = requests_of(prefix, sync(Sync::Update)).await;
    assert!(summary.unwrap().contains("200"));
    let (theirs, fp_sent) = requests_of(prefix, fastapi_poe(&["sync", "showcase", &settings])).await;
    assert_eq!(theirs, json!({"synced": "showcase"}));
    assert_eq!(sent, fp_sent);
    assert_eq!(sent[0]["path"], format!("/bot/update_settings/showcase/{KEY}/1.2"));
    assert_eq!(sent[0]["body"], serde_json::from_str::<Value>(&settings).unwrap());
    let prefix = "/bot/fetch_settings/showcase/";
    let (summary, sent) = requests_of(prefix, sync(Sync::Fetch)).await;
    assert!(summary.unwrap().contains("200"));
    let (_, fp_sent) = requests_of(prefix, fastapi_poe(&["sync", "showcase"])).await;
    assert_eq!((sent.len(), &sent), (1, &fp_sent));
    // Refused: the error says so and never shows the key.
    let wrong = HostDefaults {
        access_key: Some(AccessKey::new("wrong-key-0123456789abcdefghijk")),
        ..defaults.clone()
    };
    let error = poe_host::sync_settings::run(
        host.dir.path(),
        "showcase",
        "showcase",
        wrong,
        api.clone(),
        Sync::Update,
    )
    .await
    .unwrap_err()
    .to_string();
    assert!(error.contains("403") && !error.contains("wrong-key"), "{error}");
    let missing =
        poe_host::sync_settings::run(host.dir.path(), "nobot", "nobot", defaults, api, Sync::Update).await;
    assert!(missing.unwrap_err().to_string().contains("nobot.wasm does not exist"));
}
