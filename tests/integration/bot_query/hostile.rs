//! Upstreams fastapi_poe's server would never be: invalid JSON, a giant event, no `done`,
//! an endless stream, one that never answers — each ends within its bound, as fastapi_poe
//! would end it where it has a rule, and the host stays up. A client that disconnects
//! cancels the upstream request at once: the upstream sees its connection close.

use std::time::Duration;

use poe_host::capabilities::bot_query::config::QueryLimits;
use poe_host::sandbox::limits::Limits;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;

use super::standin::caller_calls;
use crate::harness::*;
use crate::raw_http::{RawRequest, chunk, read_request};

/// Each answer says `connection: close`: one request per connection, and a silent close
/// would race the client's next request on the pooled connection.
const SSE_HEAD: &str = "HTTP/1.1 200 OK\r\nconnection: close\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n\r\n";

/// A hand-written upstream on 127.0.0.1:0: each request's path picks its misbehaviour.
/// Reports what it saw on `seen`: `POST <path>` per request, `closed <path>` when a
/// connection it held open was closed by the host.
async fn hostile_upstream() -> (String, mpsc::UnboundedReceiver<String>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}/bot/", listener.local_addr().unwrap());
    let (tx, rx) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        while let Ok((socket, _)) = listener.accept().await {
            tokio::spawn(serve(socket, tx.clone()));
        }
    });
    (base, rx)
}

async fn serve(mut socket: TcpStream, seen: mpsc::UnboundedSender<String>) {
    let Some(RawRequest { path, body, .. }) = read_request(&mut socket).await else { return };
    let report = body.contains("\"report_error\"");
    let _ = seen.send(format!("{} {path}", if report { "REPORT" } else { "POST" }));
    if report {
        let _ =
            socket.write_all(b"HTTP/1.1 200 OK\r\nconnection: close\r\ncontent-length: 2\r\n\r\n{}").await;
        return;
    }
    let bot = path.trim_start_matches("/bot/");
    let _ = match bot {
        "badjson" => send_events(&mut socket, "event: text\r\ndata: {nope\r\n\r\n").await,
        "giant" => endless(&mut socket, "data: ", "x").await,
        "endless" => endless(&mut socket, "", "event: text\r\ndata: {\"text\": \"spam\"}\r\n\r\n").await,
        "nodone" => send_events(&mut socket, "event: text\r\ndata: {\"text\": \"cut\"}\r\n\r\n").await,
        "silent" | "hold" => {
            if bot == "hold" {
                let _ =
                    send_events_open(&mut socket, "event: text\r\ndata: {\"text\": \"first\"}\r\n\r\n").await;
            } else {
                let _ = socket.write_all(SSE_HEAD.as_bytes()).await;
            }
            let mut buf = [0u8; 64];
            while socket.read(&mut buf).await.is_ok_and(|n| n > 0) {}
            let _ = seen.send(format!("closed {path}"));
            Ok(())
        }
        _ => {
            socket
                .write_all(b"HTTP/1.1 404 Not Found\r\nconnection: close\r\ncontent-length: 0\r\n\r\n")
                .await
        }
    };
}

async fn send_events(socket: &mut TcpStream, events: &str) -> std::io::Result<()> {
    socket.write_all(format!("{SSE_HEAD}{}0\r\n\r\n", chunk(events)).as_bytes()).await
}

async fn send_events_open(socket: &mut TcpStream, events: &str) -> std::io::Result<()> {
    socket.write_all(format!("{SSE_HEAD}{}", chunk(events)).as_bytes()).await
}

/// `first`, then `repeat` forever (until the host hangs up).
async fn endless(socket: &mut TcpStream, first: &str, repeat: &str) -> std::io::Result<()> {
    // An empty chunk would end the body.
    let first = if first.is_empty() { String::new() } else { chunk(first) };
    socket.write_all(format!("{SSE_HEAD}{first}").as_bytes()).await?;
    let block = chunk(&repeat.repeat((64 << 10) / repeat.len()));
    loop {
        socket.write_all(block.as_bytes()).await?;
    }
}

async fn host_on(base: &str, limits: Limits) -> TestHost {
    let bot_query_limits = QueryLimits { max_read_bytes: 1 << 20, ..QueryLimits::default() };
    let options = Options {
        bots: vec![("caller", guests::CALLER)],
        poe_api_base: base.into(),
        limits,
        bot_query_limits,
        ..Options::default()
    };
    TestHost::with(options).await
}

fn seen_now(rx: &mut mpsc::UnboundedReceiver<String>) -> Vec<String> {
    std::iter::from_fn(|| rx.try_recv().ok()).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_answers_end_within_their_bounds_as_fastapi_poe_would_end_them() {
    let (base, mut seen) = hostile_upstream().await;
    let host = host_on(&base, Limits::default()).await;

    let lines = caller_calls(&host, &query("call badjson hi")).await;
    assert_eq!(lines[0]["query_error"], "failed", "{lines:?}");
    assert!(lines[0]["message"].as_str().unwrap().contains("Invalid JSON in 'text' event"), "{lines:?}");
    assert_eq!(seen_now(&mut seen), ["POST /bot/badjson", "REPORT /bot/badjson"], "reported, never retried");

    let (lines, took) = timed(caller_calls(&host, &query("call giant hi"))).await;
    assert_eq!(lines[0]["query_error"], "limit-reached", "{lines:?}");
    assert!(took < Duration::from_secs(5), "{took:?}");

    let (lines, took) = timed(caller_calls(&host, &query("count endless hi"))).await;
    assert_eq!(lines[1]["query_error"], "limit-reached", "bytes read are bounded: {lines:?}");
    let messages = lines[0]["messages"].as_u64().unwrap();
    // Each event is 39 bytes on the wire: 1 MiB holds about 26,900.
    assert!(messages > 20_000 && messages <= (1 << 20) / 39, "{messages} messages within 1 MiB");
    assert!(took < Duration::from_secs(5), "{took:?}");

    let lines = caller_calls(&host, &query("call nodone hi")).await;
    assert_eq!(lines, vec![json!({"kind": "text", "text": "cut"}), json!({"kind": "end"})]);
    let nodone: Vec<String> = seen_now(&mut seen).into_iter().filter(|s| s.ends_with("nodone")).collect();
    assert_eq!(nodone, ["POST /bot/nodone", "REPORT /bot/nodone"], "no done is reported, the answer kept");

    // The host still answers.
    assert_eq!(host.query("caller", "unknown").await[0].name, "text");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_upstream_that_never_answers_ends_with_the_response_deadline() {
    let (base, mut seen) = hostile_upstream().await;
    let host = host_on(&base, Limits { timeout: Duration::from_secs(2), ..Limits::default() }).await;
    let (events, took) = timed(host.query_body("caller", &query("call silent hi"))).await;
    assert!(took < Duration::from_secs(4), "{took:?}");
    assert!(events.iter().any(|e| e.name == "error"), "the deadline ends the response: {events:?}");
    let closed = tokio::time::timeout(Duration::from_secs(2), async {
        while let Some(s) = seen.recv().await {
            if s == "closed /bot/silent" {
                return;
            }
        }
    });
    assert!(closed.await.is_ok(), "the upstream request was closed at the deadline");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_disconnects_cancels_the_upstream_request_at_once() {
    let (base, mut seen) = hostile_upstream().await;
    let host = host_on(&base, Limits::default()).await;
    let mut response = host.post("caller", &query("call hold hi")).await;
    let first = response.chunk().await.unwrap().unwrap();
    assert!(String::from_utf8_lossy(&first).contains("first"), "{first:?}");
    assert_eq!(seen.recv().await.as_deref(), Some("POST /bot/hold"));
    drop(response);
    let closed = tokio::time::timeout(Duration::from_secs(2), seen.recv()).await;
    assert_eq!(closed.ok().flatten().as_deref(), Some("closed /bot/hold"));
    let _: Value = host.admin().await;
}
