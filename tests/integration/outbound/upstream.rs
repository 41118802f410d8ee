//! A local upstream for outbound requests, on 127.0.0.1:0: an OpenAI-compatible streaming
//! chat endpoint and paths that misbehave. It records every request and reports when a
//! connection it held open was closed.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Notify, mpsc};

use crate::raw_http::{RawRequest, chunk, read_request};

/// The key the chat endpoint expects.
pub const OPENAI_KEY: &str = "sk-test-secret-0123456789";

/// A running upstream.
pub struct Upstream {
    /// `http://127.0.0.1:PORT`.
    pub base: String,
    /// Every request received, in order.
    pub requests: Arc<Mutex<Vec<RawRequest>>>,
    /// `closed PATH` when the host closed a connection held open.
    pub closed: mpsc::UnboundedReceiver<String>,
    /// Lets `/gate` send its second chunk.
    pub gate: Arc<Notify>,
}

/// Every answer says `connection: close`: the stand-in serves one request per connection, and
/// closing a connection the client may reuse without saying so races its next request.
const CHUNKED: &str = "HTTP/1.1 200 OK\r\nconnection: close\r\ntransfer-encoding: chunked\r\n";

/// Start one. Paths:
///
///   POST /v1/chat/completions   OpenAI's streaming chat: one delta per word of the last
///                               message, then `[DONE]`; 401 without the key, 429 for "fail"
///   /ok                         200 "hello"
///   /redirect                   302 to /ok
///   /big/N                      200 with N bytes
///   /slow                       200 after 10 s
///   /silent                     200, chunk "first", then nothing until the host hangs up
///   /gate                       chunk "first", then "second" once `gate` is notified
///   /garbage                    not HTTP
pub async fn start() -> Upstream {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let requests = Arc::new(Mutex::new(Vec::new()));
    let (tx, closed) = mpsc::unbounded_channel();
    let gate = Arc::new(Notify::new());
    let (r, g) = (requests.clone(), gate.clone());
    tokio::spawn(async move {
        while let Ok((socket, _)) = listener.accept().await {
            tokio::spawn(serve(socket, r.clone(), tx.clone(), g.clone()));
        }
    });
    Upstream { base, requests, closed, gate }
}

async fn serve(
    mut socket: TcpStream,
    requests: Arc<Mutex<Vec<RawRequest>>>,
    closed: mpsc::UnboundedSender<String>,
    gate: Arc<Notify>,
) {
    let Some(request) = read_request(&mut socket).await else { return };
    let path = request.path.clone();
    let chat = path == "/v1/chat/completions";
    let reply = if chat { chat_reply(&request) } else { None };
    requests.lock().unwrap().push(request);
    let _ = match path.as_str() {
        _ if chat => match reply {
            Some(Chat::Stream(events)) => write_chunks(&mut socket, "text/event-stream", &events).await,
            Some(Chat::RateLimited) => {
                plain(&mut socket, "429 Too Many Requests", "{\"error\": {\"message\": \"rate limited\"}}")
                    .await
            }
            None => plain(&mut socket, "401 Unauthorized", "{\"error\": \"bad key\"}").await,
        },
        "/ok" => plain(&mut socket, "200 OK", "hello").await,
        "/redirect" => {
            socket
                .write_all(
                    b"HTTP/1.1 302 Found\r\nconnection: close\r\nlocation: /ok\r\ncontent-length: 0\r\n\r\n",
                )
                .await
        }
        "/slow" => {
            tokio::time::sleep(Duration::from_secs(10)).await;
            plain(&mut socket, "200 OK", "late").await
        }
        "/silent" | "/gate" => {
            let head = format!("{CHUNKED}content-type: text/plain\r\n\r\n{}", chunk("first"));
            let _ = socket.write_all(head.as_bytes()).await;
            if path == "/gate" {
                gate.notified().await;
                socket.write_all(format!("{}0\r\n\r\n", chunk("second")).as_bytes()).await
            } else {
                let mut buf = [0u8; 64];
                while socket.read(&mut buf).await.is_ok_and(|n| n > 0) {}
                let _ = closed.send(format!("closed {path}"));
                Ok(())
            }
        }
        "/garbage" => socket.write_all(b"NOT HTTP AT ALL\r\n\r\n").await,
        p => match p.strip_prefix("/big/").and_then(|n| n.parse::<usize>().ok()) {
            Some(n) => plain(&mut socket, "200 OK", &"x".repeat(n)).await,
            None => plain(&mut socket, "404 Not Found", "").await,
        },
    };
}

/// What the chat endpoint answers.
enum Chat {
    /// These events.
    Stream(Vec<String>),
    /// 429, for the message "fail".
    RateLimited,
}

/// The chat endpoint's answer, `None` without the right key.
fn chat_reply(request: &RawRequest) -> Option<Chat> {
    if request.header("authorization") != Some(&format!("Bearer {OPENAI_KEY}")) {
        return None;
    }
    let body: Value = serde_json::from_str(&request.body).unwrap_or_default();
    let last = body["messages"]
        .as_array()
        .and_then(|m| m.last())
        .map_or("", |m| m["content"].as_str().unwrap_or(""));
    if last == "fail" {
        return Some(Chat::RateLimited);
    }
    let delta = |d: Value| format!("data: {}\n\n", json!({"choices": [{"index": 0, "delta": d}]}));
    let mut events = vec![delta(json!({"role": "assistant"}))];
    events.extend(last.split_inclusive(' ').map(|w| delta(json!({"content": w}))));
    events.push("data: [DONE]\n\n".into());
    Some(Chat::Stream(events))
}

async fn plain(socket: &mut TcpStream, status: &str, body: &str) -> std::io::Result<()> {
    let head = format!(
        "HTTP/1.1 {status}\r\nconnection: close\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n",
        body.len()
    );
    socket.write_all(format!("{head}{body}").as_bytes()).await
}

/// A chunked body, one chunk per item, each written (and flushed) on its own.
async fn write_chunks(socket: &mut TcpStream, content_type: &str, items: &[String]) -> std::io::Result<()> {
    socket.write_all(format!("{CHUNKED}content-type: {content_type}\r\n\r\n").as_bytes()).await?;
    for item in items {
        socket.write_all(chunk(item).as_bytes()).await?;
        socket.flush().await?;
    }
    socket.write_all(b"0\r\n\r\n").await
}
