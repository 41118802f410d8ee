//! Calling other Poe bots (`poe:bot/bot-query`), as fastapi_poe's `stream_request` does.
//!
//! The host makes the call with the bot's own access key, which the bot never sees, retries
//! as fastapi_poe does, and bounds every response's calls (see the README). A message
//! arrives as soon as the called bot sends it.
//!
//! ```no_run
//! use poe_bot::{BotResult, PoeBot, QueryRequest, Responder, bot_query::{self, BotMessage}};
//!
//! struct Shout;
//!
//! impl PoeBot for Shout {
//!     fn get_response(&self, request: QueryRequest, out: &Responder) -> BotResult {
//!         for message in bot_query::stream_request(&request, "GPT-4o-Mini")? {
//!             if let BotMessage::Text(text) = message? {
//!                 out.text(text.to_uppercase())?;
//!             }
//!         }
//!         Ok(())
//!     }
//! }
//! ```

use crate::QueryRequest;
use crate::bindings::poe::bot::bot_query as raw;
use crate::bindings::wasi::io::poll;

pub mod tools;

pub use raw::{BotError, BotMessage, QueryError, QueryOptions};

/// The answer of a called bot: an iterator of its messages as they arrive. It ends after
/// the last message, or after one `Err` when the call failed. Dropping it cancels the call.
pub struct BotStream {
    raw: raw::BotStream,
    ended: bool,
}

impl BotStream {
    fn settle(
        &mut self,
        next: Result<Option<BotMessage>, QueryError>,
    ) -> Option<Result<BotMessage, QueryError>> {
        match next {
            Ok(Some(message)) => Some(Ok(message)),
            Ok(None) => {
                self.ended = true;
                None
            }
            Err(error) => {
                self.ended = true;
                Some(Err(error))
            }
        }
    }

    /// The next message if one has arrived, without waiting: `None` when nothing has yet,
    /// `Some(None)` at the end. Wait on [`subscribe`](Self::subscribe) before trying again.
    ///
    /// ```no_run
    /// # fn demo(mut stream: poe_bot::bot_query::BotStream) {
    /// let ready = stream.subscribe();
    /// ready.block(); // or wasi:io/poll's `poll` over several pollables
    /// assert!(stream.try_next().is_some());
    /// # }
    /// ```
    pub fn try_next(&mut self) -> Option<Option<Result<BotMessage, QueryError>>> {
        if self.ended {
            return Some(None);
        }
        let next = self.raw.try_next()?;
        Some(self.settle(next))
    }
}

impl BotStream {
    /// A pollable that is ready once [`try_next`](Self::try_next) has something to return.
    pub fn subscribe(&self) -> poll::Pollable {
        self.raw.subscribe()
    }
}

impl Iterator for BotStream {
    type Item = Result<BotMessage, QueryError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.ended {
            return None;
        }
        let next = self.raw.next();
        self.settle(next)
    }
}

/// Call `bot_name` with `request` — usually the request being answered, or a copy with
/// another conversation (`QueryRequest { query, ..request.clone() }`).
///
/// Fails at once only when the call is not allowed or over a bound; everything else
/// arrives through the stream.
///
/// ```no_run
/// # fn demo(request: poe_bot::QueryRequest, out: &poe_bot::Responder) -> poe_bot::BotResult {
/// use poe_bot::bot_query::{stream_request, BotMessage};
/// let question = poe_bot::ProtocolMessage { content: "Summarise this chat".into(), ..request.query[0].clone() };
/// let ask = poe_bot::QueryRequest { query: vec![question], ..request.clone() };
/// for message in stream_request(&ask, "Claude-3-Haiku")? {
///     match message? {
///         BotMessage::Text(text) => out.text(text)?,
///         BotMessage::ReplaceResponse(text) => out.replace_response(text)?,
///         _ => {}
///     }
/// }
/// # Ok(()) }
/// ```
pub fn stream_request(request: &QueryRequest, bot_name: &str) -> Result<BotStream, QueryError> {
    stream_request_with(request, bot_name, QueryOptions::default())
}

/// [`stream_request`] with fastapi_poe's options (tools, temperature, …); each option that
/// is set replaces the request's own.
///
/// ```no_run
/// # fn demo(request: poe_bot::QueryRequest) -> Result<(), poe_bot::bot_query::QueryError> {
/// use poe_bot::bot_query::{stream_request_with, QueryOptions};
/// let options = QueryOptions { temperature: Some(0.2), ..Default::default() };
/// let answer = stream_request_with(&request, "Claude-3-Haiku", options)?;
/// # Ok(()) }
/// ```
pub fn stream_request_with(
    request: &QueryRequest,
    bot_name: &str,
    options: QueryOptions,
) -> Result<BotStream, QueryError> {
    let raw = raw::stream_request(bot_name, request, &options)?;
    Ok(BotStream { raw, ended: false })
}

/// The called bot's whole answer as text (fastapi_poe's `get_final_response`): text joined,
/// a replace starting it over, suggestions and meta skipped; an empty answer is an error.
///
/// ```no_run
/// # fn demo(request: poe_bot::QueryRequest) -> Result<(), poe_bot::bot_query::QueryError> {
/// let summary = poe_bot::bot_query::get_final_response(&request, "GPT-4o-Mini")?;
/// # Ok(()) }
/// ```
pub fn get_final_response(request: &QueryRequest, bot_name: &str) -> Result<String, QueryError> {
    let mut text = String::new();
    for message in stream_request(request, bot_name)? {
        match message? {
            BotMessage::Text(chunk) => text.push_str(&chunk),
            BotMessage::ReplaceResponse(chunk) => text = chunk,
            _ => {}
        }
    }
    if text.is_empty() {
        return Err(QueryError::Failed(format!("Bot {bot_name} sent no response")));
    }
    Ok(text)
}

/// Several streams read together: each message as soon as any stream has one, tagged
/// with its stream's index (the side-by-side pattern). Waits with `wasi:io/poll`, so no
/// CPU is spent while all are quiet.
///
/// ```no_run
/// # fn demo(request: poe_bot::QueryRequest) -> Result<(), poe_bot::bot_query::QueryError> {
/// use poe_bot::bot_query::{merge, stream_request};
/// let streams = vec![stream_request(&request, "GPT-4o-Mini")?, stream_request(&request, "Claude-3-Haiku")?];
/// for (index, message) in merge(streams) {
///     let message = message?;
///     // `index` is 0 for GPT-4o-Mini, 1 for Claude-3-Haiku
/// }
/// # Ok(()) }
/// ```
pub fn merge(streams: Vec<BotStream>) -> Merge {
    Merge { streams: streams.into_iter().map(Some).collect(), ready: Vec::new() }
}

/// The iterator [`merge`] returns.
pub struct Merge {
    /// `None` once a stream has ended.
    streams: Vec<Option<BotStream>>,
    /// Indexes found ready by the last poll, not yet read.
    ready: Vec<usize>,
}

impl Iterator for Merge {
    type Item = (usize, Result<BotMessage, QueryError>);

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            while let Some(index) = self.ready.pop() {
                let Some(stream) = &mut self.streams[index] else { continue };
                match stream.try_next() {
                    None => {}
                    Some(None) => self.streams[index] = None,
                    Some(Some(message)) => {
                        self.ready.push(index); // it may hold more
                        return Some((index, message));
                    }
                }
            }
            self.wait()?;
        }
    }
}

impl Merge {
    /// Wait until a live stream has something; `None` when none is left.
    fn wait(&mut self) -> Option<()> {
        let live: Vec<usize> = (0..self.streams.len()).filter(|&i| self.streams[i].is_some()).collect();
        if live.is_empty() {
            return None;
        }
        let pollables: Vec<_> = live
            .iter()
            .map(|&i| self.streams[i].as_ref().map(|s| s.raw.subscribe()))
            .collect::<Option<_>>()?;
        let borrowed: Vec<&poll::Pollable> = pollables.iter().collect();
        let ready = poll::poll(&borrowed);
        self.ready.extend(ready.iter().rev().map(|&r| live[r as usize]));
        Some(())
    }
}

impl Default for QueryOptions {
    /// Nothing replaced: the request is sent as it is.
    fn default() -> Self {
        Self {
            tools: None,
            tool_calls: None,
            tool_results: None,
            temperature: None,
            skip_system_prompt: None,
            logit_bias: None,
            stop_sequences: None,
            adopt_current_bot_name: None,
        }
    }
}
