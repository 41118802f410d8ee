//! Every showcase command's exact event sequence and its settings. What `inspect` shows of
//! attachment messages is compared with fastapi_poe in `attachments.rs`.

use serde_json::{Value, json};

use crate::harness::*;

fn text(s: &str) -> (&'static str, Value) {
    ("text", json!({ "text": s }))
}

async fn events_of(command: &str) -> Vec<(String, Value)> {
    let host = TestHost::start().await;
    let events = host.query("showcase", command).await;
    assert_done_once_at_end(&events);
    events.into_iter().map(|e| (e.name, e.data)).collect()
}

fn owned(expected: Vec<(&str, Value)>) -> Vec<(String, Value)> {
    expected.into_iter().map(|(n, d)| (n.to_owned(), d)).chain([("done".to_owned(), json!({}))]).collect()
}

#[tokio::test]
async fn stream_sends_numbered_text_events() {
    assert_eq!(events_of("stream 3").await, owned(vec![text("0 "), text("1 "), text("2 ")]));
}

#[tokio::test]
async fn replace_sends_draft_then_replace_response() {
    let expected = vec![text("draft"), ("replace_response", json!({"text": "final"}))];
    assert_eq!(events_of("replace").await, owned(expected));
}

#[tokio::test]
async fn suggest_sends_text_then_two_suggested_replies() {
    let expected = vec![
        text("Pick one"),
        ("suggested_reply", json!({"text": "yes"})),
        ("suggested_reply", json!({"text": "no"})),
    ];
    assert_eq!(events_of("suggest").await, owned(expected));
}

#[tokio::test]
async fn meta_comes_first_with_exactly_four_typed_keys() {
    let meta = json!({"content_type": "text/plain", "refetch_settings": false, "linkify": true, "suggested_replies": false});
    assert_eq!(events_of("meta").await, owned(vec![("meta", meta), text("plain *text*")]));
}

#[tokio::test]
async fn data_sends_metadata_string() {
    assert_eq!(
        events_of("data").await,
        owned(vec![text("saved"), ("data", json!({"metadata": "counter=1"}))])
    );
}

#[tokio::test]
async fn error_output_is_passed_through_and_stream_still_ends_with_done() {
    let error = json!({"allow_retry": false, "text": "refused", "error_type": "user_caused_error"});
    assert_eq!(events_of("error").await, owned(vec![text("partial"), ("error", error)]));
}

#[tokio::test]
async fn panic_becomes_unexpected_issue_error_then_done() {
    assert_eq!(events_of("panic").await, owned(vec![text("about to fail"), ("error", unexpected_issue())]));
}

#[tokio::test]
async fn attach_sends_file_event_with_all_four_keys() {
    let file = json!({"url": "https://example.com/cat.png", "content_type": "image/png", "name": "cat.png", "inline_ref": "cat"});
    assert_eq!(events_of("attach").await, owned(vec![("file", file), text("![cat][cat]")]));
}

#[tokio::test]
async fn json_sends_an_object() {
    assert_eq!(events_of("json").await, owned(vec![("json", json!({"tool": "calc", "args": [1, 2]}))]));
}

#[tokio::test]
async fn ids_echo_the_request_ids() {
    assert_eq!(events_of("ids").await, owned(vec![text("u-1 c-1 m-1")]));
}

#[tokio::test]
async fn unknown_command_is_named() {
    assert_eq!(events_of("frob now").await, owned(vec![text("unknown command: frob")]));
}

#[tokio::test]
async fn showcase_settings_are_served() {
    let host = TestHost::start().await;
    let response = host.post("showcase", &json!({"version": "1.2", "type": "settings"})).await;
    let body: Value = response.json().await.unwrap();
    assert_eq!(
        body["introduction_message"],
        json!(
            "Hi! Try: stream 3, replace, suggest, meta, data, error, panic, attach, json, inspect, ids, sleep 100."
        )
    );
    assert_eq!(body["allow_attachments"], json!(true));
    assert_eq!(body["expand_text_attachments"], json!(true));
    assert_eq!(body["enable_image_comprehension"], json!(null));
    assert_eq!(body["response_version"], json!(2));
}
