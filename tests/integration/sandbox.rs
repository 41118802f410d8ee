//! Misbehaving guests: each fault ends its own response with an `error` event and `done`,
//! within its bound, while other requests keep being answered promptly.

use std::time::{Duration, Instant};

use poe_host::sandbox::admission::QueuePolicy;
use poe_host::sandbox::limits::Limits;
use serde_json::json;

use crate::harness::*;

async fn hostile_host(limits: Limits) -> TestHost {
    let bots = vec![("echo", guests::ECHO), ("misbehave", guests::MISBEHAVE)];
    TestHost::with(Options { bots, limits, ..Options::default() }).await
}

fn tight() -> Limits {
    Limits {
        timeout: Duration::from_secs(3),
        cpu_budget: Duration::from_millis(500),
        max_memory: 32 << 20,
        max_events: 1_000,
        max_output_bytes: 1 << 20,
        ..Limits::default()
    }
}

/// Run `attack`, and once it is under way (its first chunk has arrived: the guest is running,
/// or already failed) time an echo request alongside the rest of it; return the attack's
/// events, how long it took, and how long the echo took.
async fn attack(host: &TestHost, command: &str) -> (Vec<Event>, Duration, Duration) {
    let start = Instant::now();
    let mut response = host.post("misbehave", &query(command)).await;
    assert_eq!(response.status(), 200, "{command}");
    let first = response.chunk().await.unwrap().expect("the attack's first event");
    let rest = async {
        let mut body = first.to_vec();
        while let Some(chunk) = response.chunk().await.unwrap() {
            body.extend_from_slice(&chunk);
        }
        (parse_sse(&body), start.elapsed())
    };
    let echo = timed(host.query("echo", "still here"));
    let ((events, took), (echo_events, echo_took)) = futures::join!(rest, echo);
    assert_eq!(echo_events[0].data, json!({"text": "still here"}), "echo alongside {command}");
    (events, took, echo_took)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn infinite_loop_is_stopped_by_the_cpu_budget_without_starving_others() {
    let host = hostile_host(tight()).await;
    let (events, took, echo_took) = attack(&host, "loop").await;
    assert_eq!(events[0].data, json!({"text": "looping"}));
    assert_ends_with_unexpected_issue(&events);
    assert!(took < Duration::from_millis(2000), "loop ran {took:?} on a 500 ms budget");
    assert!(echo_took < Duration::from_millis(500), "echo took {echo_took:?} beside a loop");
}

/// Work in short bursts between tiny sleeps is still computing: it adds up to the budget.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn computing_between_short_sleeps_is_stopped_by_the_cpu_budget() {
    let limits =
        Limits { cpu_budget: Duration::from_millis(200), timeout: Duration::from_secs(10), ..tight() };
    let host = hostile_host(limits).await;
    let (events, took) = timed(host.query("misbehave", "nibble")).await;
    assert_eq!(events[0].data, json!({"text": "nibbling"}));
    assert_ends_with_unexpected_issue(&events);
    assert!(took < Duration::from_secs(5), "nibble ran {took:?} on a 200 ms budget (deadline 10 s)");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn memory_hog_hits_its_cap() {
    let host = hostile_host(tight()).await;
    let (events, took, echo_took) = attack(&host, "hog").await;
    assert_ends_with_unexpected_issue(&events);
    assert!(took < Duration::from_secs(2), "hog took {took:?}");
    assert!(echo_took < Duration::from_millis(500), "echo took {echo_took:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stack_overflow_and_trap_and_returned_error_become_error_events() {
    let host = hostile_host(tight()).await;
    for command in ["recurse", "trap", "fail"] {
        let (events, took, _) = attack(&host, command).await;
        assert_ends_with_unexpected_issue(&events);
        assert!(took < Duration::from_secs(1), "{command} took {took:?}");
    }
    let (events, _, _) = attack(&host, "fail").await;
    assert_eq!(events[0].data["raw_response"], json!("misbehave failed on purpose"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn event_flood_is_cut_at_the_event_cap() {
    let host = hostile_host(tight()).await;
    for command in ["flood", "ignore-closed"] {
        let (events, took, _) = attack(&host, command).await;
        assert_ends_with_unexpected_issue(&events);
        assert_eq!(events.iter().filter(|e| e.name == "text").count(), 1_000, "{command}");
        assert!(took < Duration::from_secs(2), "{command} took {took:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn huge_event_is_refused_by_the_byte_cap() {
    let limits = Limits { max_memory: 256 << 20, ..tight() };
    let host = hostile_host(limits).await;
    let (events, _, _) = attack(&host, "huge").await;
    assert_eq!(
        events.len(),
        2,
        "only error and done: {:?}",
        events.iter().map(|e| &e.name).collect::<Vec<_>>()
    );
    assert_ends_with_unexpected_issue(&events);
}

#[tokio::test]
async fn deadline_ends_a_slow_response() {
    let limits = Limits { timeout: Duration::from_millis(400), ..tight() };
    let host = hostile_host(limits).await;
    let (events, took) = timed(host.query("misbehave", "drip 100")).await;
    assert_ends_with_unexpected_issue(&events);
    assert!(events.len() > 3, "some chunks arrived before the deadline");
    assert!(took < Duration::from_millis(1000), "{took:?}");
}

/// Waking from a sleep is not computing: a bot that waits twenty times, with a CPU budget
/// of ten ticks, finishes (it was cut off after ten waits when each wake-up was charged).
#[tokio::test]
async fn waiting_is_not_charged_to_the_cpu_budget() {
    let limits = Limits { cpu_budget: Duration::from_millis(10), ..tight() };
    let host = hostile_host(limits).await;
    let events = host.query("misbehave", "drip 20").await;
    assert_done_once_at_end(&events);
    assert_eq!(events.len(), 21, "{events:?}");
    assert!(events[..20].iter().all(|e| e.name == "text"), "{events:?}");
}

#[tokio::test]
async fn guest_has_no_files_env_args_or_sockets() {
    let host = hostile_host(tight()).await;
    let events = host.query("misbehave", "probe").await;
    let report = events[0].data["text"].as_str().unwrap();
    assert_eq!(report, "/etc/passwd:denied .:denied /:denied env:0 args:0 tcp:denied");
}

#[tokio::test]
async fn bot_that_sends_nothing_gets_just_done() {
    let host = hostile_host(tight()).await;
    let events = host.query("misbehave", "silent").await;
    assert_eq!(pairs(&events), [("done", &json!({}))]);
}

#[tokio::test]
async fn late_meta_is_dropped() {
    let host = hostile_host(tight()).await;
    let events = host.query("misbehave", "late-meta").await;
    let expected =
        [("text", &json!({"text": "first"})), ("text", &json!({"text": "second"})), ("done", &json!({}))];
    assert_eq!(pairs(&events), expected);
}

#[tokio::test]
async fn chatty_stdout_does_not_break_the_response() {
    // 5,000 log lines through a debug build take well over the light phase, so the call
    // runs on the lowest-priority lane, which gets little CPU while the other tests run.
    let limits = Limits { timeout: Duration::from_secs(30), cpu_budget: Duration::from_secs(10), ..tight() };
    let host = hostile_host(limits).await;
    let events = host.query("misbehave", "chatty").await;
    assert_eq!(pairs(&events), [("text", &json!({"text": "done talking"})), ("done", &json!({}))]);
}

/// A call's resource table holds 10,000 entries, and a clock pollable takes two (its timer
/// and itself): 5,000 fit, and the next one traps.
#[tokio::test]
async fn a_call_holds_exactly_5000_clock_pollables() {
    let host = hostile_host(tight()).await;
    let (events, took) = timed(host.query("misbehave", "pollables 5000")).await;
    assert_eq!(pairs(&events), [("text", &json!({"text": "held 5000 pollables"})), ("done", &json!({}))]);
    assert!(took < Duration::from_secs(2), "{took:?}");
    let events = host.query("misbehave", "pollables 5001").await;
    assert_eq!(pairs(&events), [("error", &unexpected_issue()), ("done", &json!({}))]);
}

fn capped(max_concurrent: usize, queue_timeout: Duration) -> Options {
    Options {
        sidecars: vec![("showcase", format!("[limits]\nmax_concurrent = {max_concurrent}"))],
        queue: QueuePolicy { max_queued: 8, timeout: queue_timeout },
        ..Options::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn over_a_bots_cap_requests_queue_then_get_503_with_retry_after() {
    let host = TestHost::with(capped(2, Duration::from_millis(300))).await;
    let sleeper = query("sleep 1000");
    // A response (its headers) comes only after admission: once both are back, the cap is full
    // for the next second.
    let (a, b) = tokio::join!(host.post("showcase", &sleeper), host.post("showcase", &sleeper));
    assert_eq!((a.status().as_u16(), b.status().as_u16()), (200, 200));
    assert_eq!(host.admin().await["in_flight"], json!(2));
    let third = timed(host.post("showcase", &sleeper));
    let echo = host.query("echo", "other bots are not capped");
    let ((refused, waited), echo) = tokio::join!(third, echo);
    assert_eq!(refused.status(), 503);
    assert_eq!(refused.headers()["retry-after"], "1");
    assert!(waited >= Duration::from_millis(300) && waited < Duration::from_millis(800), "{waited:?}");
    assert_eq!(echo[0].data, json!({"text": "other bots are not capped"}));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_queued_request_runs_when_a_slot_frees() {
    let host = TestHost::with(capped(1, Duration::from_secs(3))).await;
    let (results, elapsed) = timed(futures::future::join(
        host.query("showcase", "sleep 300"),
        host.query("showcase", "sleep 300"),
    ))
    .await;
    assert_eq!(results.0[0].data, json!({"text": "woke"}));
    assert_eq!(results.1[0].data, json!({"text": "woke"}));
    assert!(elapsed >= Duration::from_millis(600), "the second waited for the first: {elapsed:?}");
}

/// A client that keeps its connection but stops reading cannot hold the call's slots past
/// the deadline: once the pipe is full, the final error and `done` wait only a short grace.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_stops_reading_frees_its_call_after_the_deadline() {
    let limits = Limits {
        timeout: Duration::from_secs(2),
        cpu_budget: Duration::from_secs(30),
        max_events: u64::MAX,
        max_output_bytes: u64::MAX,
        ..tight()
    };
    let host = hostile_host(limits).await;
    let stalled = host.post("misbehave", &query("flood")).await; // headers read, body never
    assert_eq!(stalled.status(), 200);
    let freed = host.idle_within(Duration::from_secs(8)).await;
    println!("stalled client's call freed after {freed:?}");
    assert!(freed > Duration::from_secs(1), "freed before its deadline: {freed:?}");
    drop(stalled);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_disconnect_stops_the_guest_promptly() {
    let limits = Limits { cpu_budget: Duration::from_secs(30), timeout: Duration::from_secs(30), ..tight() };
    let host = hostile_host(limits).await;
    let mut response = host.post("misbehave", &query("loop")).await;
    assert!(response.chunk().await.unwrap().unwrap().starts_with(b"event: text"));
    assert_eq!(host.admin().await["in_flight"], json!(1));
    drop(response);
    let stopped = host.idle_within(Duration::from_secs(1)).await;
    println!("disconnect to guest stopped: {stopped:?}");
    // A guest past its light ticks must still see the disconnect within a few ticks (it once
    // took until the heavy-slot semaphore's coop budget ran out: ~130 ms).
    assert!(stopped < Duration::from_millis(50), "{stopped:?}");
}

#[tokio::test]
async fn a_bot_sees_exactly_the_variables_its_sidecar_grants_and_nothing_of_the_host() {
    // CARGO_PKG_NAME is in the test's own environment (cargo sets it), so no test sets one.
    let dir = tempfile::tempdir().unwrap();
    let secret = dir.path().join("secret.txt");
    std::fs::write(&secret, "from-a-file\n").unwrap();
    let sidecar = format!(
        "[env]\nLITERAL = \"plain value\"\nFROM_FILE = {{ from_file = {:?} }}\nFROM_ENV = {{ from_env = \"CARGO_PKG_NAME\" }}\n",
        secret.display().to_string()
    );
    let options = Options {
        bots: vec![("misbehave", guests::MISBEHAVE)],
        sidecars: vec![("misbehave", sidecar)],
        ..Options::default()
    };
    let host = TestHost::with(options).await;
    let events = host.query("misbehave", "env").await;
    let want = format!("FROM_ENV={}\nFROM_FILE=from-a-file\nLITERAL=plain value", env!("CARGO_PKG_NAME"));
    assert_eq!(events[0].data["text"], want.as_str());
    assert!(!host.admin().await.to_string().contains("from-a-file"), "the admin view shows no value");
}

#[tokio::test]
async fn a_missing_variable_source_keeps_the_bot_out_and_names_the_variable() {
    let sidecar = "[env]\nOPENAI_API_KEY = { from_env = \"POE_HOST_TEST_SURELY_UNSET\" }\n".to_owned();
    let options = Options {
        bots: vec![("misbehave", guests::MISBEHAVE)],
        sidecars: vec![("misbehave", sidecar)],
        ..Options::default()
    };
    let host = TestHost::with(options).await;
    let response = host.post("misbehave", &query("env")).await;
    assert_eq!(response.status(), 404);
    let admin = host.admin().await;
    let bot = admin["bots"].as_array().unwrap().iter().find(|b| b["name"] == "misbehave").unwrap().clone();
    let error = bot["last_error"].as_str().unwrap();
    assert!(error.contains("env.OPENAI_API_KEY") && error.contains("POE_HOST_TEST_SURELY_UNSET"), "{error}");
}
