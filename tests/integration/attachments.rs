//! Attachment-message insertion, differential: the same requests go through fastapi_poe
//! 0.0.83's own `PoeBot.insert_attachment_messages` (tests/interop/attachment_messages.py,
//! in the venv) and through the host, and the resulting queries must be equal, so no
//! template or routing rule is copied into a test.
//!
//! Needs the venv `scripts/setup.sh` creates; without it these tests fail, never skip.

use std::io::Write;
use std::process::{Command, Stdio};

use poe_host::protocol::attachments::insert_attachment_messages;
use poe_host::protocol::models::{ContentType, ProtocolMessage, Role};
use poe_host::protocol::{Request, parse_request};
use serde_json::{Value, json};

use crate::harness::*;

/// The queries fastapi_poe makes of `bodies`, messages reduced to the script's FIELDS.
fn fastapi_poe_queries(bodies: &[Value]) -> Vec<Value> {
    let script = workspace_root().join("tests/interop/attachment_messages.py");
    let mut child = Command::new(venv_python())
        .arg(script)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("running the venv's python");
    let input = serde_json::to_vec(bodies).unwrap();
    child.stdin.take().unwrap().write_all(&input).unwrap();
    let output = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "attachment_messages.py failed\n{stderr}");
    serde_json::from_slice(&output.stdout).expect("the script prints a JSON array")
}

/// The host's query for `body`: parsed and given attachment messages as `routes` does.
fn host_query(body: &Value) -> Value {
    let Request::Query(mut request) = parse_request(body.to_string().as_bytes()).unwrap() else {
        panic!("not a query: {body}")
    };
    insert_attachment_messages(&mut request.query);
    request.query.iter().map(fields).collect()
}

/// A host message as fastapi_poe's `model_dump` shows the same fields.
fn fields(m: &ProtocolMessage) -> Value {
    let role = match m.role {
        Role::System => "system",
        Role::User => "user",
        Role::Bot => "bot",
        Role::Tool => "tool",
    };
    let content_type = match m.content_type {
        ContentType::Markdown => "text/markdown",
        ContentType::Plain => "text/plain",
    };
    let attachments: Vec<_> = m
        .attachments
        .iter()
        .map(|a| {
            json!({"url": a.url, "content_type": a.content_type, "name": a.name,
                   "inline_ref": a.inline_ref, "parsed_content": a.parsed_content})
        })
        .collect();
    json!({
        "role": role, "content": m.content, "content_type": content_type, "timestamp": m.timestamp,
        "message_id": m.message_id, "sender_id": m.sender_id,
        "sender": m.sender.as_ref().map(|s| json!({"id": s.id, "name": s.name})),
        "attachments": attachments, "metadata": m.metadata,
    })
}

fn attachment(content_type: &str, name: &str, parsed: Option<&str>) -> Value {
    json!({"url": format!("https://x/{name}"), "content_type": content_type, "name": name, "parsed_content": parsed})
}

/// A conversation whose last user message carries `attachments`; an earlier message has
/// one too, which must be ignored.
fn conversation(attachments: Vec<Value>) -> Value {
    query_messages(json!([
        {"role": "system", "content": "be brief"},
        {"role": "user", "content": "earlier", "attachments": [attachment("text/plain", "old.txt", Some("old"))]},
        {"role": "bot", "content": "reply", "sender": {"id": "b-1", "name": "Bot"}},
        {"role": "user", "content": "inspect", "message_id": "m-9", "timestamp": 17, "content_type": "text/plain",
         "sender": {"id": "u-1", "name": "Ann"}, "metadata": "kept", "attachments": attachments},
    ]))
}

/// Every routing rule of protocol §6.1 and its edges, one request each, plus all together.
fn requests() -> Vec<Value> {
    let each = [
        attachment("text/plain", "notes.txt", Some("hello notes")),
        attachment("text/markdown", "readme.md", Some("# Title\n\nbody ✓")),
        attachment("text/html", "https://example.com", Some("page text")),
        attachment("text/html; charset=utf-8", "page.html", Some("not a URL")),
        attachment("application/pdf", "doc.pdf", Some("pages")),
        attachment("image/png", "photo.png", Some("a.png***a cat on a mat")),
        attachment("image/jpeg", "x.jpg", Some("no separator")),
        attachment("image/webp", "y.webp", Some("one***two***three")),
        attachment("application/x-image", "z.bin", Some("contains image")),
        attachment("Image/PNG", "upper.png", Some("case matters")),
        attachment("application/octet-stream", "blob.bin", Some("binary content")),
        attachment("video/mp4", "clip.mp4", Some("frames")),
        attachment("text/plain", "empty.txt", Some("")),
        attachment("application/pdf", "unparsed.pdf", None),
        attachment("text/html", "{content}", Some("{attachment_name} {content}")),
        attachment("text/plain", "{attachment_parsed_content}", Some("{attachment_name}")),
        attachment("image/gif", "{filename}", Some("{parsed_image_description}")),
    ];
    let mut bodies: Vec<Value> = each.iter().map(|a| conversation(vec![a.clone()])).collect();
    bodies.push(conversation(each.to_vec()));
    bodies.push(conversation(vec![]));
    bodies.push(query_messages(json!([{"role": "user", "content": "only", "attachments": [
        attachment("image/png", "first.png", Some("f.png***first")),
        attachment("text/plain", "second.txt", Some("second")),
        attachment("image/png", "third.png", Some("t.png***third")),
        attachment("application/pdf", "fourth.pdf", Some("fourth")),
    ]}])));
    bodies
}

#[test]
fn attachment_messages_equal_fastapi_poe_insert_attachment_messages() {
    let bodies = requests();
    let expected = fastapi_poe_queries(&bodies);
    assert_eq!(expected.len(), bodies.len());
    for (body, expected) in bodies.iter().zip(expected) {
        let attachments = &body["query"].as_array().unwrap().last().unwrap()["attachments"];
        assert_eq!(host_query(body), expected, "attachments: {attachments}");
    }
}

#[tokio::test]
async fn the_bot_sees_the_messages_fastapi_poe_would_give_it() {
    let host = TestHost::start().await;
    let body = conversation(vec![
        attachment("image/png", "photo.png", Some("a.png***a cat on a mat")),
        attachment("text/plain", "notes.txt", Some("hello notes")),
        attachment("video/mp4", "clip.mp4", Some("frames")),
        attachment("text/html", "https://example.com", Some("page text")),
        attachment("application/pdf", "doc.pdf", Some("pages")),
    ]);
    let expected = fastapi_poe_queries(std::slice::from_ref(&body));
    let expected: Vec<_> = expected[0]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| json!({"role": m["role"], "content": m["content"]}))
        .collect();
    assert_eq!(expected.len(), 8, "three inserted messages: {expected:?}");
    assert_eq!(inspected(&host, &body).await, expected);
}

#[tokio::test]
async fn attachment_insertion_can_be_switched_off_in_the_sidecar() {
    let sidecar = ("showcase", "insert_attachment_messages = false".to_owned());
    let host = TestHost::with(Options { sidecars: vec![sidecar], ..Options::default() }).await;
    let body = conversation(vec![attachment("text/plain", "notes.txt", Some("hello notes"))]);
    assert_eq!(inspected(&host, &body).await.len(), 4);
}

/// The messages the showcase bot's `inspect` command saw, as `{role, content}` objects.
async fn inspected(host: &TestHost, body: &Value) -> Vec<Value> {
    let events = host.query_body("showcase", body).await;
    serde_json::from_str(events[0].data["text"].as_str().unwrap()).unwrap()
}
