//! The relay scenarios' upstream: Poe's bot API (`POST /bot/NAME`, SSE out) and an
//! OpenAI-compatible streaming chat API (`POST /v1/chat/completions`), as fast as axum serves
//! them, so what the relay scenarios measure is the relaying bot, not what it calls. It runs
//! as its own process (`poe-bench upstream`), like every system under test.
//!
//! The last message of the forwarded query (or of the chat's `messages`) says what to stream
//! (the relaying bots forward the conversation, so the client chooses):
//! - `burst N`: N text events `chunk I ` at once, then `done`;
//! - `paced N MS`: N text events MS ms apart, each `t=NANOS ` with the wall-clock time it was
//!   written (the client, on the same machine and clock, subtracts it from the time it reads
//!   the relayed chunk), then `done`;
//! - `hold`: one text event, then nothing until the caller goes away (an open relay).
//!
//! Poe's API sends each chunk as a `text` event and ends with `done`; the chat API sends
//! `data: {"choices": [{"index": 0, "delta": {"content": CHUNK}}]}` and ends with `data: [DONE]`.
//! A request without `Authorization: Bearer KEY` gets 401, so a relay that lost its key fails
//! the run instead of looking fast.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::Context;
use axum::Router;
use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use bytes::Bytes;
use futures::{Stream, StreamExt, stream};

use crate::native;

/// Serve until killed; prints `listening on http://ADDR` like poe-host.
pub async fn serve(listen: SocketAddr, key: String) -> anyhow::Result<()> {
    let app = Router::new()
        .route("/bot/{name}", post(poe))
        .route("/v1/chat/completions", post(chat))
        .with_state(format!("Bearer {key}"));
    native::serve_app(listen, app).await.context("upstream server failed")
}

/// The wire format of one API.
#[derive(Clone, Copy)]
enum Api {
    Poe,
    Chat,
}

async fn poe(State(expected): State<String>, headers: HeaderMap, body: Bytes) -> Response {
    answer(Api::Poe, native::last_message(&expected, &headers, &body))
}

async fn chat(State(expected): State<String>, headers: HeaderMap, body: Bytes) -> Response {
    answer(Api::Chat, last_chat_message(&expected, &headers, &body))
}

/// The last of a chat request's `messages`, once its key is checked.
fn last_chat_message(expected: &str, headers: &HeaderMap, body: &[u8]) -> Result<String, StatusCode> {
    if headers.get(header::AUTHORIZATION).is_none_or(|v| v.as_bytes() != expected.as_bytes()) {
        return Err(StatusCode::UNAUTHORIZED);
    }
    let chat: serde_json::Value = serde_json::from_slice(body).map_err(|_| StatusCode::BAD_REQUEST)?;
    let last = chat["messages"].as_array().and_then(|m| m.last()).ok_or(StatusCode::BAD_REQUEST)?;
    Ok(last["content"].as_str().unwrap_or_default().to_owned())
}

fn answer(api: Api, command: Result<String, StatusCode>) -> Response {
    let command = match command {
        Ok(command) => command,
        Err(status) => return status.into_response(),
    };
    let Some(events) = events(api, &command) else {
        return (StatusCode::BAD_REQUEST, "unknown upstream command").into_response();
    };
    ([(header::CONTENT_TYPE, "text/event-stream")], Body::from_stream(events)).into_response()
}

type Events = std::pin::Pin<Box<dyn Stream<Item = Result<Bytes, Infallible>> + Send>>;

fn events(api: Api, command: &str) -> Option<Events> {
    let words: Vec<&str> = command.split_whitespace().collect();
    let number = |i: usize| words.get(i).and_then(|w| w.parse::<u64>().ok());
    let end: &'static [u8] = match api {
        Api::Poe => b"event: done\r\ndata: {}\r\n\r\n",
        Api::Chat => b"data: [DONE]\n\n",
    };
    let done = stream::once(async move { Ok(Bytes::from_static(end)) });
    Some(match words.first().copied()? {
        "burst" => {
            let chunks = (0..number(1)?).map(move |i| Ok(chunk(api, &format!("chunk {i} "))));
            stream::iter(chunks).chain(done).boxed()
        }
        "paced" => {
            let (n, gap) = (number(1)?, Duration::from_millis(number(2)?));
            let paced = stream::iter(0..n).then(move |i| async move {
                if i > 0 {
                    tokio::time::sleep(gap).await;
                }
                Ok(chunk(api, &format!("t={} ", now_nanos())))
            });
            paced.chain(done).boxed()
        }
        "hold" => stream::once(async move { Ok(chunk(api, "held ")) }).chain(stream::pending()).boxed(),
        _ => return None,
    })
}

/// One chunk of text: a Poe `text` event, or a chat completion delta.
fn chunk(api: Api, s: &str) -> Bytes {
    match api {
        Api::Poe => format!("event: text\r\ndata: {}\r\n\r\n", serde_json::json!({ "text": s })).into(),
        Api::Chat => {
            let delta = serde_json::json!({"choices": [{"index": 0, "delta": {"content": s}}]});
            format!("data: {delta}\n\n").into()
        }
    }
}

/// Wall-clock nanoseconds since the epoch: the one clock two processes on a machine share.
pub fn now_nanos() -> u128 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_nanos())
}
