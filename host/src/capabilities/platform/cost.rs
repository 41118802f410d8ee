//! `authorize-cost` and `capture-cost`: fastapi_poe's `authorize_cost` / `capture_cost`.
//!
//! `POST {api base}cost/{bot_query_id}/authorize|capture` with no `Authorization` header:
//! the key travels in the JSON body, `{"amounts": [{"amount_usd_milli_cents": n,
//! "description": d}], "access_key": key}`. The answer is an event stream: on a 200, the
//! first `result` event's `status` must be `"success"` (anything else, or no `result`
//! event, is a refusal); on another status, the error carries the `message` fields of its
//! events. One try, 300 s, as fastapi_poe.

use std::time::Duration;

use serde::Serialize;

use super::{PlatformCtxView, QueryState};
use crate::guest::bindings::poe::bot::cost::{CostError, CostItem, Host};
use crate::logtext;

/// fastapi_poe's cost timeout.
const TIMEOUT: Duration = Duration::from_secs(300);
/// Bytes of Poe's answer read.
const MAX_ANSWER: usize = 64 << 10;

#[derive(Serialize)]
struct Amount<'a> {
    amount_usd_milli_cents: u64,
    description: Option<&'a str>,
}

#[derive(Serialize)]
struct Body<'a> {
    amounts: Vec<Amount<'a>>,
    access_key: &'a str,
}

impl Host for PlatformCtxView<'_> {
    async fn authorize_cost(&mut self, amounts: Vec<CostItem>) -> wasmtime::Result<Result<(), CostError>> {
        Ok(self.cost("authorize", amounts).await)
    }

    async fn capture_cost(&mut self, amounts: Vec<CostItem>) -> wasmtime::Result<Result<(), CostError>> {
        Ok(self.cost("capture", amounts).await)
    }
}

impl PlatformCtxView<'_> {
    async fn cost(&mut self, action: &'static str, amounts: Vec<CostItem>) -> Result<(), CostError> {
        let Some(state) = self.ctx.query.as_mut() else {
            return Err(CostError::Failed("costs can be charged only while answering a query".into()));
        };
        let (client, url, body) = prepare(state, action, &amounts)?;
        let started = std::time::Instant::now();
        let task = state.runtime.spawn(tracing::Instrument::in_current_span(async move {
            tokio::time::timeout(TIMEOUT, send(client, url, body)).await.unwrap_or_else(|_| {
                Err(CostError::Failed(format!("no answer within {} s", TIMEOUT.as_secs())))
            })
        }));
        let result = wasmtime_wasi::runtime::AbortOnDropJoinHandle::from(task).await;
        let ms = format!("{:.1}", started.elapsed().as_secs_f64() * 1e3);
        match &result {
            Ok(()) => tracing::info!(ms, "cost {action}: accepted"),
            Err(CostError::InsufficientFunds) => {
                state.refused = true;
                tracing::info!(ms, "cost {action}: refused (insufficient funds)");
            }
            Err(e) => tracing::info!(ms, "cost {action} failed: {e:?}"),
        }
        result
    }
}

fn prepare(
    state: &QueryState,
    action: &str,
    amounts: &[CostItem],
) -> Result<(reqwest::Client, String, Vec<u8>), CostError> {
    let key = state.key.as_ref().ok_or(CostError::NoAccessKey)?;
    let id = &state.bot_query_id;
    if id.is_empty() {
        return Err(CostError::NoBotQueryId);
    }
    // The id goes into the URL as fastapi_poe puts it: only characters that need no escaping.
    if !id.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
        || id.starts_with('.')
    {
        return Err(CostError::Failed(format!("invalid bot_query_id \"{}\"", logtext::escape_line(id, 140))));
    }
    let amounts = amounts
        .iter()
        .map(|a| Amount {
            amount_usd_milli_cents: a.amount_usd_milli_cents,
            description: a.description.as_deref(),
        })
        .collect();
    let body = serde_json::to_vec(&Body { amounts, access_key: key.secret() })
        .map_err(|e| CostError::Failed(format!("encoding the amounts: {e}")))?;
    Ok((state.config.api.client().clone(), state.config.cost_url(id, action), body))
}

async fn send(client: reqwest::Client, url: String, body: Vec<u8>) -> Result<(), CostError> {
    let response = client
        .post(url)
        .header(reqwest::header::CONTENT_TYPE, "application/json")
        .header(reqwest::header::ACCEPT, "text/event-stream")
        .header(reqwest::header::CACHE_CONTROL, "no-store")
        .body(body)
        .send()
        .await
        .map_err(|e| CostError::Failed(format!("request failed: {e}")))?;
    let status = response.status();
    let events = events(&read_bounded(response).await?);
    if status != reqwest::StatusCode::OK {
        let message: String = events.iter().filter_map(|(_, data)| data["message"].as_str()).collect();
        let reason = status.canonical_reason().unwrap_or("");
        return Err(CostError::Failed(format!(
            "{} {reason}: {}",
            status.as_u16(),
            logtext::escape_line(&message, 500)
        )));
    }
    match events.iter().find(|(name, _)| name == "result") {
        Some((_, data)) if data["status"] == "success" => Ok(()),
        _ => Err(CostError::InsufficientFunds),
    }
}

async fn read_bounded(mut response: reqwest::Response) -> Result<Vec<u8>, CostError> {
    let mut body = Vec::new();
    while let Some(chunk) =
        response.chunk().await.map_err(|e| CostError::Failed(format!("reading the answer: {e}")))?
    {
        if body.len() + chunk.len() > MAX_ANSWER {
            return Err(CostError::Failed("Poe's answer is too large".into()));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// The events of an SSE body: name (`message` when unnamed) and data parsed as JSON
/// (`null` when it is not).
fn events(body: &[u8]) -> Vec<(String, serde_json::Value)> {
    let text = String::from_utf8_lossy(body);
    let mut events = Vec::new();
    let (mut name, mut data): (Option<String>, Option<String>) = (None, None);
    for line in text.lines().chain(std::iter::once("")) {
        if line.is_empty() {
            if let Some(d) = data.take() {
                let value = serde_json::from_str(&d).unwrap_or_default();
                events.push((name.take().unwrap_or_else(|| "message".into()), value));
            }
            name = None;
            continue;
        }
        let (field, value) = line.split_once(':').unwrap_or((line, ""));
        let value = value.strip_prefix(' ').unwrap_or(value);
        match field {
            "event" => name = Some(value.to_owned()),
            "data" => data = Some(data.map_or_else(|| value.to_owned(), |d| format!("{d}\n{value}"))),
            _ => {}
        }
    }
    events
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_are_read_as_httpx_sse_reads_them() {
        let body = b"event: ping\r\ndata: {}\r\n\r\n: comment\r\nevent: result\r\ndata: {\"status\": \"success\"}\r\n\r\ndata: {\"message\": \"a\"}\n";
        let events = events(body);
        assert_eq!(events.len(), 3);
        assert_eq!(events[1].0, "result");
        assert_eq!(events[1].1["status"], "success");
        assert_eq!((events[2].0.as_str(), &events[2].1["message"]), ("message", &serde_json::json!("a")));
    }
}
