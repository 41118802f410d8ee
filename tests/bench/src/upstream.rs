//! The relay scenario's upstream: Poe's bot API (`POST /bot/NAME`, SSE out) as fast as axum
//! serves it, so what the relay scenario measures is the relaying bot, not the bot it calls.
//! It runs as its own process (`poe-bench upstream`), like every system under test.
//!
//! The last message of the forwarded query says what to stream (the relaying bot forwards the
//! request unchanged, so the client chooses):
//! - `burst N`: N text events `chunk I ` at once, then `done`;
//! - `paced N MS`: N text events MS ms apart, each `t=NANOS ` with the wall-clock time it was
//!   written (the client, on the same machine and clock, subtracts it from the time it reads
//!   the relayed chunk), then `done`;
//! - `hold`: one text event, then nothing until the caller goes away (an open relay).
//!
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
    let app = Router::new().route("/bot/{name}", post(handle)).with_state(format!("Bearer {key}"));
    native::serve_app(listen, app).await.context("upstream server failed")
}

async fn handle(State(expected): State<String>, headers: HeaderMap, body: Bytes) -> Response {
    let command = match native::last_message(&expected, &headers, &body) {
        Ok(command) => command,
        Err(status) => return status.into_response(),
    };
    let Some(events) = events(&command) else {
        return (StatusCode::BAD_REQUEST, "unknown upstream command").into_response();
    };
    ([(header::CONTENT_TYPE, "text/event-stream")], Body::from_stream(events)).into_response()
}

type Events = std::pin::Pin<Box<dyn Stream<Item = Result<Bytes, Infallible>> + Send>>;

fn events(command: &str) -> Option<Events> {
    let words: Vec<&str> = command.split_whitespace().collect();
    let number = |i: usize| words.get(i).and_then(|w| w.parse::<u64>().ok());
    let done = stream::once(async { Ok(Bytes::from_static(b"event: done\r\ndata: {}\r\n\r\n")) });
    Some(match words.first().copied()? {
        "burst" => {
            let chunks = (0..number(1)?).map(|i| Ok(text(&format!("chunk {i} "))));
            stream::iter(chunks).chain(done).boxed()
        }
        "paced" => {
            let (n, gap) = (number(1)?, Duration::from_millis(number(2)?));
            let paced = stream::iter(0..n).then(move |i| async move {
                if i > 0 {
                    tokio::time::sleep(gap).await;
                }
                Ok(text(&format!("t={} ", now_nanos())))
            });
            paced.chain(done).boxed()
        }
        "hold" => stream::once(async { Ok(text("held ")) }).chain(stream::pending()).boxed(),
        _ => return None,
    })
}

/// One Poe `text` event.
fn text(s: &str) -> Bytes {
    format!("event: text\r\ndata: {}\r\n\r\n", serde_json::json!({ "text": s })).into()
}

/// Wall-clock nanoseconds since the epoch: the one clock two processes on a machine share.
pub fn now_nanos() -> u128 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_nanos())
}
