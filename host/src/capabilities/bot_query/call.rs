//! One call to another bot, run as a task the guest's [`BotStream`](super::stream::BotStream)
//! owns: the tries and retries of fastapi_poe's `stream_request_base` (2 tries 0.5 s apart,
//! none after output unless the connection broke), its `report_error` calls, and the
//! bounds of the response (bytes read, the event size).

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use tokio::sync::{OwnedSemaphorePermit, mpsc};
use tokio::time::Instant;

use super::budget::ByteBudget;
use super::client::PoeApi;
use super::events::{EventRules, Failure, Report, Then};
use super::sse_reader::SseReader;
use super::stream::Item;
use crate::guest::bindings::bot_query::QueryError;
use crate::http::auth::AccessKey;
use crate::logtext;

/// Tries per call (fastapi_poe's `num_tries`).
const TRIES: u32 = 2;
/// Wait between tries (fastapi_poe's `retry_sleep_time`).
const RETRY_SLEEP: Duration = Duration::from_millis(500);
/// How long one `report_error` call may take; the answer waits for it, as in fastapi_poe.
const REPORT_TIMEOUT: Duration = Duration::from_secs(5);
/// `report_error` calls one call makes at most: a hostile upstream sending endless unknown
/// events would otherwise get one request back for each.
const MAX_REPORTS: u32 = 16;

/// Everything one call needs.
pub struct Call {
    /// The shared client.
    pub api: Arc<PoeApi>,
    /// The called bot's name.
    pub target: String,
    /// The calling bot's key.
    pub key: AccessKey,
    /// The request body.
    pub body: Bytes,
    /// The request's `message_id`, for reports.
    pub message_id: String,
    /// Whether the request carries tools (an answer without text is then normal).
    pub tools: bool,
    /// Bytes the response may still read.
    pub bytes: Arc<ByteBudget>,
    /// Largest event, in bytes.
    pub max_event: usize,
}

/// Run `call`, sending its messages and then its end into `tx`. `permit` is its place
/// among the response's streams, freed when it ends.
pub async fn run(call: Call, tx: mpsc::Sender<Item>, permit: OwnedSemaphorePermit) {
    let start = Instant::now();
    let url = call.api.url(&call.target);
    let (mut reports, mut yielded) = (0, false);
    let mut attempt = 1;
    let end = loop {
        let failure = match try_once(&call, &url, &tx, &mut yielded, &mut reports).await {
            Ok(()) => break Item::End,
            Err(failure) => failure,
        };
        let retry = attempt < TRIES && retryable(&failure, yielded);
        tracing::info!(called = %call.target, attempt, retry, reason = %describe(&failure), "bot query try failed");
        if !retry {
            break Item::Failed(query_error(failure, &call.target));
        }
        attempt += 1;
        tokio::time::sleep(RETRY_SLEEP).await;
    };
    drop(permit); // before the end is sent: a guest that reads it may start the next call
    let status = if matches!(end, Item::End) { "ok" } else { "failed" };
    let ms = format!("{:.1}", start.elapsed().as_secs_f64() * 1e3);
    tracing::info!(called = %call.target, status, ms, "bot query");
    let _ = tx.send(end).await;
}

/// fastapi_poe's rule: `BotErrorNoRetry` never; anything else while nothing was passed on,
/// or when the connection broke.
fn retryable(failure: &Failure, yielded: bool) -> bool {
    match failure {
        Failure::NoRetry(_) | Failure::Limit(_) => false,
        Failure::Bot(e) if !e.allow_retry => false,
        Failure::Other { protocol: true, .. } => true,
        Failure::Bot(_) | Failure::Retry(_) | Failure::Other { .. } => !yielded,
    }
}

/// What the guest gets when tries run out: the called bot's error as it is, anything else
/// as fastapi_poe's `Error communicating with bot NAME`, with the detail.
fn query_error(failure: Failure, target: &str) -> QueryError {
    match failure {
        Failure::Bot(e) => QueryError::BotError(e),
        Failure::NoRetry(m) | Failure::Retry(m) => QueryError::Failed(format!("{m} (from bot {target})")),
        Failure::Other { detail, .. } => {
            QueryError::Failed(format!("Error communicating with bot {target}: {detail}"))
        }
        Failure::Limit(m) => QueryError::LimitReached(m),
    }
}

fn describe(failure: &Failure) -> String {
    let text = match failure {
        Failure::Bot(e) => format!("error event: {}", e.data),
        Failure::NoRetry(m) | Failure::Retry(m) | Failure::Limit(m) => m.clone(),
        Failure::Other { detail, .. } => detail.clone(),
    };
    logtext::escape_line(&text, 300)
}

async fn try_once(
    call: &Call,
    url: &str,
    tx: &mpsc::Sender<Item>,
    yielded: &mut bool,
    reports: &mut u32,
) -> Result<(), Failure> {
    let mut response =
        call.api.query(url, &call.key, call.body.clone()).await.map_err(|e| other(&e, false))?;
    let content_type = response.headers().get(reqwest::header::CONTENT_TYPE).and_then(|v| v.to_str().ok());
    let media = content_type.unwrap_or("").split(';').next().unwrap_or("");
    if !media.contains("text/event-stream") {
        let detail = format!("HTTP {} with content type {:?}, not an event stream", response.status(), media);
        return Err(Failure::Other { detail: logtext::escape_line(&detail, 200), protocol: false });
    }
    let mut rules = EventRules::new(&call.message_id, call.tools);
    let mut reader = SseReader::new(call.max_event);
    let mut events = Vec::new();
    loop {
        let Some(chunk) = response.chunk().await.map_err(|e| other(&e, true))? else {
            report(call, url, reports, rules.no_done_report()).await;
            return Ok(());
        };
        if !call.bytes.take(chunk.len()) {
            return Err(Failure::Limit(
                "the response read its bytes from other bots (bot_query.max_read_mib)".into(),
            ));
        }
        reader
            .push(&chunk, &mut events)
            .map_err(|e| Failure::Limit(format!("{e} (bot_query.max_read_mib)")))?;
        for event in events.drain(..) {
            let (to_report, then) = rules.handle(&event);
            if let Some(r) = to_report {
                report(call, url, reports, r).await;
            }
            match then {
                Then::Message(message) => {
                    *yielded = true;
                    if tx.send(Item::Message(message)).await.is_err() {
                        return Ok(()); // the guest dropped the stream
                    }
                }
                Then::Continue => {}
                Then::Done => return Ok(()),
                Then::Fail(failure) => return Err(failure),
            }
        }
    }
}

fn other(error: &reqwest::Error, protocol: bool) -> Failure {
    // reqwest's text names the URL (base and bot name, never the key) and the cause.
    let detail = logtext::escape_line(&format!("{error:#}"), 300);
    Failure::Other { detail, protocol }
}

/// Send a `report_error`, bounded in time and number; its failure is only logged.
async fn report(call: &Call, url: &str, reports: &mut u32, report: Report) {
    tracing::info!(called = %call.target, message = %logtext::escape_line(&report.message, 200), "protocol error by called bot");
    if *reports >= MAX_REPORTS {
        return;
    }
    *reports += 1;
    let body = serde_json::json!({
        "version": "1.2",
        "type": "report_error",
        "message": report.message,
        "metadata": report.metadata,
    });
    let body = serde_json::to_vec(&body).expect("JSON values serialise");
    match tokio::time::timeout(REPORT_TIMEOUT, call.api.report_error(url, &call.key, body)).await {
        Ok(Ok(())) => {}
        Ok(Err(e)) => tracing::debug!(called = %call.target, error = %e, "report_error call failed"),
        Err(_) => tracing::debug!(called = %call.target, "report_error call timed out"),
    }
}
