//! A misbehaving Python bot (`tests/fixtures/python/misbehave.py`) ends its own answer as
//! a Rust one does, fast, while the Python echo beside it keeps answering; and a Python
//! bot's waits block nothing.

use std::time::{Duration, Instant};

use serde_json::json;

use super::{limits, post, query, text_of};
use crate::harness::*;

/// Run `command` on misbehave and, once it is under way (its first event arrived: the bot
/// is running, or already failed), time an echo beside the rest of it; the attack's
/// events, how long it took, and how long the echo took.
async fn attack(command: &str) -> (Vec<Event>, Duration, Duration) {
    let start = Instant::now();
    let mut response = post("misbehave", &crate::harness::query(command)).await;
    assert_eq!(response.status(), 200, "{command}");
    let first = response.chunk().await.unwrap().expect("the attack's first event");
    let rest = async {
        let mut body = first.to_vec();
        while let Some(chunk) = response.chunk().await.unwrap() {
            body.extend_from_slice(&chunk);
        }
        (parse_sse(&body), start.elapsed())
    };
    let echo = async {
        let started = Instant::now();
        let events = query("echo", "still here").await;
        assert_eq!(events[0].data, json!({"text": "still here"}), "echo beside {command}");
        started.elapsed()
    };
    let ((events, took), echo_took) = tokio::join!(rest, echo);
    (events, took, echo_took)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_looping_python_bot_is_stopped_by_its_cpu_budget_and_echo_keeps_answering() {
    let (events, took, echo_took) = attack("loop").await;
    assert_eq!(events.len(), 3, "{events:?}");
    assert_eq!(events[0].data, json!({"text": "looping"}));
    assert_ends_with_unexpected_issue(&events);
    let budget = limits().cpu_budget;
    assert!(took < budget * 3, "loop ran {took:?} on a {budget:?} budget");
    assert!(echo_took < Duration::from_secs(2), "echo took {echo_took:?} beside a loop");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_python_memory_hog_hits_its_cap() {
    let (events, took, _) = attack("hog").await;
    assert_eq!(events.len(), 3, "{events:?}");
    assert_eq!(events[0].data, json!({"text": "hogging"}));
    assert_ends_with_unexpected_issue(&events);
    assert!(took < Duration::from_secs(3), "hog took {took:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_huge_python_output_is_refused_by_the_byte_cap() {
    let (events, _, _) = attack("huge").await;
    assert_eq!(events.iter().map(|e| e.name.as_str()).collect::<Vec<_>>(), ["error", "done"]);
    assert_ends_with_unexpected_issue(&events);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_python_event_flood_is_cut_at_the_event_cap() {
    let (events, took, _) = attack("flood").await;
    assert_ends_with_unexpected_issue(&events);
    let texts = events.iter().filter(|e| e.name == "text").count() as u64;
    assert_eq!(texts, limits().max_events, "texts before the cut");
    assert!(took < Duration::from_secs(10), "flood took {took:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_exception_in_python_get_settings_is_a_500_and_the_bot_keeps_answering() {
    let response = post("misbehave", &json!({"version": "1.2", "type": "settings"})).await;
    assert_eq!(response.status(), 500);
    let body = response.text().await.unwrap();
    assert!(!body.contains("misbehave's settings always fail"), "the exception reached the client: {body}");
    assert_eq!(text_of(&query("misbehave", "sleep 1").await), "slept");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_python_bot_sees_no_files_variables_or_arguments() {
    let text = text_of(&query("misbehave", "env").await);
    assert_eq!(text, "env={} files=FileNotFoundError argv=[]", "what the bot saw of the host");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_preloaded_module_imported_inside_a_function_works() {
    assert_eq!(text_of(&query("misbehave", "lazy").await), "2");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifty_sleeping_python_answers_wait_together_not_in_turn() {
    let started = Instant::now();
    let answers = futures::future::join_all((0..50).map(|_| query("misbehave", "sleep 1000"))).await;
    for events in &answers {
        assert_eq!(text_of(events), "slept");
    }
    let took = started.elapsed();
    assert!(took < Duration::from_secs(6), "50 one-second sleeps took {took:?}");
}
