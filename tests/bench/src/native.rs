//! The ceiling: the same HTTP surface as poe-host (auth, JSON parse, SSE bytes) written as a
//! plain axum handler with no sandbox. poe-host can never beat it; the ratio to it is the
//! price of the wasm sandbox plus the host's own bookkeeping.
//!
//! `/echo` answers the last message's text; `/showcase` understands `stream N` and
//! `sleep MS` like the example bot, byte for byte.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::time::Duration;

use anyhow::Context;
use axum::Router;
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::serve::ListenerExt;
use bytes::Bytes;
use serde::Deserialize;

#[derive(Deserialize)]
struct Query {
    query: Vec<Message>,
}

#[derive(Deserialize)]
struct Message {
    content: String,
}

/// Serve until killed; prints `listening on http://ADDR` like poe-host.
pub async fn serve(listen: SocketAddr, key: String) -> anyhow::Result<()> {
    let app = Router::new().route("/{name}", post(handle)).with_state(format!("Bearer {key}"));
    serve_app(listen, app).await.context("native server failed")
}

/// Serve `app` on `listen` with TCP_NODELAY until killed, printing `listening on http://ADDR`.
pub async fn serve_app(listen: SocketAddr, app: Router) -> anyhow::Result<()> {
    let listener = tokio::net::TcpListener::bind(listen).await.context("cannot bind")?;
    let addr = listener.local_addr()?;
    // Without TCP_NODELAY, a response written in two parts (headers, then a streamed body)
    // waits for the client's delayed ACK: ~40 ms on Linux. A well-configured server sets it.
    let listener = listener.tap_io(|tcp| {
        let _ = tcp.set_nodelay(true);
    });
    println!("listening on http://{addr}");
    Ok(axum::serve(listener, app).await?)
}

/// The checks both baselines make: the Bearer key, then the JSON body's last message.
pub fn last_message(expected: &str, headers: &HeaderMap, body: &[u8]) -> Result<String, StatusCode> {
    let authorized = headers.get(header::AUTHORIZATION).is_some_and(|v| v.as_bytes() == expected.as_bytes());
    if !authorized {
        return Err(StatusCode::UNAUTHORIZED);
    }
    let query = serde_json::from_slice::<Query>(body).map_err(|_| StatusCode::BAD_REQUEST)?;
    Ok(query.query.into_iter().last().map(|m| m.content).unwrap_or_default())
}

async fn handle(
    State(expected): State<String>,
    Path(name): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let text = match last_message(&expected, &headers, &body) {
        Ok(text) => text,
        Err(status) => return status.into_response(),
    };
    let body = if name == "showcase" { showcase(&text) } else { Body::from(echo(&text)) };
    ([(header::CONTENT_TYPE, "text/event-stream; charset=utf-8")], body).into_response()
}

fn showcase(text: &str) -> Body {
    let mut words = text.split_whitespace();
    let command = words.next().unwrap_or_default();
    let arg: Option<u64> = words.next().and_then(|n| n.parse().ok());
    match command {
        "stream" => {
            let n = arg.unwrap_or(3);
            let chunks = (0..n).map(|i| text_event(&format!("{i} "))).chain([done_event()]);
            Body::from_stream(futures::stream::iter(chunks.map(Ok::<_, Infallible>)))
        }
        "sleep" => {
            // Headers go out at once and the body follows, as with poe-host.
            let nap = Duration::from_millis(arg.unwrap_or(100));
            let woke = async move {
                tokio::time::sleep(nap).await;
                Ok::<_, Infallible>(echo("woke"))
            };
            Body::from_stream(futures::stream::once(woke))
        }
        other => Body::from(echo(&format!("unknown command: {other}"))),
    }
}

/// The whole echo response: one `text` event, then `done`.
pub fn echo(text: &str) -> Bytes {
    let mut out = text_event(text).to_vec();
    out.extend_from_slice(&done_event());
    out.into()
}

fn text_event(text: &str) -> Bytes {
    format!("event: text\r\ndata: {}\r\n\r\n", serde_json::json!({ "text": text })).into()
}

fn done_event() -> Bytes {
    Bytes::from_static(b"event: done\r\ndata: {}\r\n\r\n")
}

#[cfg(test)]
mod tests {
    #[test]
    fn echo_bytes_match_poe_host() {
        let expected = "event: text\r\ndata: {\"text\":\"hello\"}\r\n\r\nevent: done\r\ndata: {}\r\n\r\n";
        assert_eq!(super::echo("hello"), expected.as_bytes());
    }
}
