//! The HTTP surface: [`app`] builds every route, so tests can drive it in-process.
//!
//! `GET /NAME` shows a page naming the bot; `POST /NAME` speaks the Poe protocol. Auth runs
//! before the body is read, as in fastapi_poe.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{any, get};
use bytes::Bytes;
use tokio::sync::mpsc;
use tracing::Instrument;

use crate::guest::fault::Fault;
use crate::guest::loader::LoadedBot;
use crate::guest::runner::{self, Report};
use crate::http::admin;
use crate::http::auth::authorize;
use crate::http::body::{BodyBudget, BodyShare, HeldBody, read_body};
use crate::http::error::HttpError;
pub use crate::http::state::AppState;
use crate::http::stream::{KEEPALIVE_INTERVAL, SseStream};
use crate::protocol::attachments::insert_attachment_messages;
use crate::protocol::settings::settings_json;
use crate::protocol::sse;
use crate::protocol::{ParseError, QueryRequest, Request, check_shape, parse_shaped};
use crate::sandbox::admission::{Admitted, admit};

/// Bytes of a `report_error` message that are logged.
const MAX_LOGGED_MESSAGE: usize = 4096;

/// Largest request body accepted by default: long chat histories fit with room to spare.
pub const DEFAULT_MAX_BODY: usize = 16 << 20;

/// How long a client may take to send a request's headers, and again its body, by default.
/// Poe sends a request at once; 16 MiB arrives in 30 s even at 5 Mbit/s.
pub const DEFAULT_READ_TIMEOUT: Duration = Duration::from_secs(30);

/// Every route of the host.
pub fn app(state: AppState) -> Router {
    Router::new()
        .route("/", get(index))
        .route("/_admin/bots", get(admin::bots))
        .route("/{name}", get(bot_page).post(bot_post))
        .route("/{name}/", any(strip_trailing_slash))
        .fallback(|| async { HttpError::NotFound })
        .with_state(state)
}

async fn index(State(state): State<AppState>) -> Html<String> {
    let items: String =
        state.registry.names().iter().map(|n| format!("<li><a href=\"/{n}\">{n}</a></li>")).collect();
    Html(format!(
        "<!doctype html><title>poe-host</title><h1>poe-host</h1><p>Bots served here:</p><ul>{items}</ul>"
    ))
}

async fn bot_page(
    State(state): State<AppState>,
    Path(name): Path<String>,
) -> Result<Html<String>, HttpError> {
    let bot = state.registry.get(&name).ok_or(HttpError::UnknownBot(name))?;
    Ok(Html(format!(
        "<!doctype html><title>{0}</title><h1>{0}</h1><p>Poe server bot <b>{0}</b>, served by poe-host. \
         Connect it at <a href=\"https://poe.com/create_bot?server=1\">https://poe.com/create_bot?server=1</a>.</p>",
        bot.name
    )))
}

async fn strip_trailing_slash(Path(name): Path<String>) -> Redirect {
    Redirect::temporary(&format!("/{}", urlencode_segment(&name)))
}

fn urlencode_segment(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

static REQUEST_IDS: AtomicU64 = AtomicU64::new(1);

async fn bot_post(
    State(state): State<AppState>,
    Path(name): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, HttpError> {
    let bot = state.registry.get(&name).ok_or(HttpError::UnknownBot(name))?;
    authorize(&headers, bot.config.access_key.as_ref())?;
    let span =
        tracing::info_span!("request", bot = %bot.name, id = REQUEST_IDS.fetch_add(1, Ordering::Relaxed));
    async move {
        let body = read_body(body, state.max_body, state.read_timeout, &state.bodies).await?;
        // Admission before parsing: a request waiting for a slot holds only its raw bytes
        // (within the body budget), and parsing, the expensive part, is done for calls
        // that will run.
        let admitted = admit(&bot.gate, &state.gate).await.map_err(|_| {
            tracing::warn!("at capacity: queue wait ran out, answering 503");
            HttpError::Busy(bot.name.to_string())
        })?;
        let HeldBody { bytes, mut share } = body;
        let request =
            parse(&bytes, &state.bodies, &mut share).inspect_err(|e| tracing::info!("rejected: {e}"))?;
        drop(bytes);
        dispatch(bot, request, admitted.holding(share)).await
    }
    .instrument(span)
    .await
}

/// Parse `bytes` once its shape is checked and what parsing costs is charged to `share`.
fn parse(bytes: &[u8], budget: &BodyBudget, share: &mut BodyShare) -> Result<Request, HttpError> {
    let shape = check_shape(bytes).map_err(ParseError::from)?;
    budget.charge(share, shape.parse_cost())?;
    Ok(parse_shaped(bytes, shape)?)
}

/// Run the request; `admitted` holds the call's slots until it ends.
async fn dispatch(bot: Arc<LoadedBot>, request: Request, admitted: Admitted) -> Result<Response, HttpError> {
    match request {
        Request::Query(query) => Ok(query_response(bot, *query, admitted).await),
        Request::Settings(r) => {
            let settings = runner::get_settings(&bot, r.into()).await.map_err(|_| HttpError::BotFailed)?;
            let body = settings_json(&settings).map_err(|e| {
                tracing::warn!(reason = %e, "settings refused");
                HttpError::BotFailed
            })?;
            Ok(json_body(body))
        }
        Request::ReportFeedback(r) => report(&bot, Report::Feedback(r.into())).await,
        Request::ReportReaction(r) => report(&bot, Report::Reaction(r.into())).await,
        Request::ReportError(r) => {
            // Quoted and cut: the message is Poe's, but it must not flood or forge log lines.
            let message = &r.message[..r.message.floor_char_boundary(MAX_LOGGED_MESSAGE)];
            tracing::warn!(?message, "error from Poe server");
            report(&bot, Report::Error(r.into())).await
        }
    }
}

async fn report(bot: &LoadedBot, report: Report) -> Result<Response, HttpError> {
    runner::report(bot, report).await.map_err(|_| HttpError::BotFailed)?;
    Ok(json_body(b"{}".to_vec()))
}

fn json_body(body: Vec<u8>) -> Response {
    ([(header::CONTENT_TYPE, "application/json")], body).into_response()
}

async fn query_response(bot: Arc<LoadedBot>, mut query: QueryRequest, admitted: Admitted) -> Response {
    let events = if query.query.is_empty() {
        // The client's mistake, not the bot's: logged at info, where the runner warns.
        let fault = Fault::EmptyQuery;
        tracing::info!(reason = %fault, "response ended with an error");
        fault_events(&fault)
    } else {
        if bot.config.insert_attachment_messages {
            insert_attachment_messages(&mut query.query);
        }
        runner::start_query(bot, query.into(), admitted)
    };
    let body = SseStream::after_first_event(events, KEEPALIVE_INTERVAL).await;
    let mut response = Response::new(Body::from_stream(body));
    *response.status_mut() = StatusCode::OK;
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/event-stream; charset=utf-8"));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(header::CONNECTION, HeaderValue::from_static("keep-alive"));
    headers.insert("x-accel-buffering", HeaderValue::from_static("no"));
    response
}

/// A stream of just `fault`'s error event and `done`, for a query refused before any guest
/// runs (fastapi_poe fails an empty conversation inside the stream, too).
fn fault_events(fault: &Fault) -> mpsc::Receiver<Bytes> {
    let (tx, rx) = mpsc::channel(2);
    let _ = tx.try_send(sse::error_event(&fault.error_response()));
    let _ = tx.try_send(sse::done_event());
    rx
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_query_is_answered_with_fastapi_poes_error_then_done() {
        let mut events = fault_events(&Fault::EmptyQuery);
        let error = events.try_recv().unwrap();
        assert_eq!(
            &error[..],
            b"event: error\r\ndata: {\"allow_retry\":false,\"text\":\"The bot encountered an unexpected issue.\",\
              \"raw_response\":\"the query has no messages\"}\r\n\r\n"
        );
        assert_eq!(events.try_recv().unwrap(), sse::done_event());
        assert!(events.try_recv().is_err(), "nothing after done");
    }
}
