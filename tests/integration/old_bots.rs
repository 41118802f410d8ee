//! Never break a built bot: bots built against `poe:bot@0.1.0` and `0.1.1` (committed in
//! `tests/fixtures/wit-0.1.*/`, never rebuilt) load on today's host and answer exactly as
//! the same bots built today do.

use serde_json::json;

use crate::harness::*;

#[tokio::test]
async fn bots_built_against_0_1_0_answer_as_todays_builds_do() {
    let bots = vec![
        ("echo", guests::ECHO),
        ("showcase", guests::SHOWCASE),
        ("old-echo", OLD_ECHO),
        ("old-showcase", OLD_SHOWCASE),
    ];
    let host = TestHost::with(Options { bots, ..Options::default() }).await;
    let admin = host.admin().await;
    for name in ["old-echo", "old-showcase"] {
        let bot = admin["bots"].as_array().unwrap().iter().find(|b| b["name"] == name).unwrap();
        assert_eq!(bot["serving"], true, "{bot}");
    }
    assert_eq!(host.query("old-echo", "héllo").await, host.query("echo", "héllo").await);
    for command in ["stream 3", "replace", "suggest", "meta", "data", "error", "json", "attach", "panic"] {
        let old = host.query("old-showcase", command).await;
        assert_done_once_at_end(&old);
        assert_eq!(old, host.query("showcase", command).await, "{command}");
    }
    let settings = json!({"version": "1.2", "type": "settings"});
    let (old, new) = (host.post("old-showcase", &settings).await, host.post("showcase", &settings).await);
    assert_eq!((old.status(), old.text().await.unwrap()), (new.status(), new.text().await.unwrap()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bots_built_against_0_1_1_answer_as_todays_builds_do() {
    let up = crate::outbound::upstream::start().await;
    let relay = crate::outbound::relay_sidecar(&up);
    let bots = vec![
        ("allcaps", guests::ALLCAPS),
        ("old-allcaps", OLD_ALLCAPS),
        ("relay", guests::RELAY),
        ("old-relay", OLD_RELAY),
    ];
    let sidecars = vec![("relay", relay.clone()), ("old-relay", relay)];
    let poe_api_base = crate::bot_query::standin::standin().base.clone();
    let host = TestHost::with(Options { bots, sidecars, poe_api_base, ..Options::default() }).await;
    // Calls to other bots (0.1.1's bot-query) and outbound HTTP (wasi:http) both still work.
    let old = host.query("old-allcaps", "calls still work").await;
    assert_eq!(old, host.query("allcaps", "calls still work").await);
    assert_eq!(old[0].data["text"], "CALLS ");
    let old = host.query("old-relay", "streams still work").await;
    assert_eq!(old, host.query("relay", "streams still work").await);
    assert_eq!(old.len(), 4, "{old:?}");
}
