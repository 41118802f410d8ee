//! HTTP to third-party APIs, through the host's `wasi:http` — to the destinations the
//! bot's sidecar lists in `allowed_outbound_hosts`, and nowhere else.
//!
//! ```no_run
//! # fn main() -> Result<(), poe_bot::http::Error> {
//! use poe_bot::http;
//!
//! let key = std::env::var("OPENAI_API_KEY").unwrap_or_default();
//! let body = serde_json::json!({"model": "gpt-4o-mini", "stream": true, "messages": []});
//! let response = http::post("https://api.openai.com/v1/chat/completions").bearer(&key).json(&body).send()?;
//! for event in response.events() {
//!     let event = event?;
//!     if event.data == "[DONE]" { break; }
//! }
//! # Ok(()) }
//! ```
//!
//! Calls block the bot until they complete (the host runs the request; the guest waits
//! without using CPU). A response body streams: [`Response::chunks`], [`Response::lines`]
//! and [`Response::events`] (server-sent events) hand over each part as it arrives.
//! Redirects are answers like any other: the host does not follow them.
//!
//! Built on the Bytecode Alliance's `wasip2` bindings, so it works the same under
//! `cargo component build` and `--target wasm32-wasip2`.

use std::time::Duration;

use wasip2::http::outgoing_handler;
use wasip2::http::types::{
    Fields, IncomingBody, IncomingResponse, Method, OutgoingBody, OutgoingRequest, RequestOptions, Scheme,
};
use wasip2::io::streams::{InputStream, StreamError};

pub use wasip2::http::types::ErrorCode;

/// Bytes asked for per read of a response body.
const READ_SIZE: u64 = 64 * 1024;

/// Largest write wasi's output streams take at once.
const WRITE_SIZE: usize = 4096;

/// Why a request or a read of its answer failed.
#[derive(Debug)]
pub enum Error {
    /// The URL is not `http(s)://host[:port][/path][?query]`.
    InvalidUrl(String),
    /// The host refused or could not make the request, or it failed on the way; the
    /// code says which (`HttpRequestDenied`: not in `allowed_outbound_hosts`;
    /// `DestinationIpProhibited`: an internal address; `ConnectionLimitReached`: the
    /// response's request bounds; timeouts, refused connections, a body too large).
    Http(ErrorCode),
    /// The request body could not be made (JSON encoding) or sent, or the response body
    /// broke off: cut at the bot's size bound, silent past its between-bytes timeout, or
    /// the connection lost (the message says which).
    Body(String),
    /// The answer is not the JSON asked for.
    Json(serde_json::Error),
}

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::InvalidUrl(why) => write!(f, "invalid URL: {why}"),
            Self::Http(ErrorCode::HttpRequestDenied) => {
                f.write_str("request denied: the destination is not in this bot's allowed_outbound_hosts")
            }
            Self::Http(ErrorCode::DestinationIpProhibited) => f.write_str(
                "request denied: the destination is an internal address that is not listed as itself",
            ),
            Self::Http(ErrorCode::ConnectionLimitReached) => {
                f.write_str("request denied: this response made or holds too many requests")
            }
            Self::Http(code) => write!(f, "HTTP request failed: {code:?}"),
            Self::Body(why) => write!(f, "HTTP body: {why}"),
            Self::Json(e) => write!(f, "invalid JSON in the response: {e}"),
        }
    }
}

impl std::error::Error for Error {}

/// A request to `url` with `GET`.
pub fn get(url: &str) -> RequestBuilder {
    RequestBuilder::new(Method::Get, url)
}

/// A request to `url` with `POST`.
pub fn post(url: &str) -> RequestBuilder {
    RequestBuilder::new(Method::Post, url)
}

/// A request being put together; [`send`](Self::send) makes it.
#[must_use = "a request does nothing until it is sent"]
pub struct RequestBuilder {
    method: Method,
    url: String,
    headers: Vec<(String, Vec<u8>)>,
    body: Vec<u8>,
    first_byte_timeout: Option<Duration>,
    between_bytes_timeout: Option<Duration>,
    error: Option<Error>,
}

impl RequestBuilder {
    /// A request to `url` with any `method`.
    pub fn new(method: Method, url: &str) -> Self {
        Self {
            method,
            url: url.to_owned(),
            headers: Vec::new(),
            body: Vec::new(),
            first_byte_timeout: None,
            between_bytes_timeout: None,
            error: None,
        }
    }

    /// Add a header.
    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.to_ascii_lowercase(), value.as_bytes().to_vec()));
        self
    }

    /// `Authorization: Bearer TOKEN`.
    pub fn bearer(self, token: &str) -> Self {
        self.header("authorization", &format!("Bearer {token}"))
    }

    /// The body, as bytes.
    pub fn body(mut self, body: impl Into<Vec<u8>>) -> Self {
        self.body = body.into();
        self
    }

    /// The body as JSON, with `Content-Type: application/json`.
    pub fn json<T: serde::Serialize + ?Sized>(mut self, value: &T) -> Self {
        match serde_json::to_vec(value) {
            Ok(body) => self.body = body,
            Err(e) => self.error = Some(Error::Body(e.to_string())),
        }
        self.header("content-type", "application/json")
    }

    /// Wait at most `timeout` for the response's headers (the host's bound may be shorter).
    pub fn first_byte_timeout(mut self, timeout: Duration) -> Self {
        self.first_byte_timeout = Some(timeout);
        self
    }

    /// Wait at most `timeout` between two parts of the body (the host's bound may be shorter).
    pub fn between_bytes_timeout(mut self, timeout: Duration) -> Self {
        self.between_bytes_timeout = Some(timeout);
        self
    }

    /// Make the request and wait for the response's headers.
    pub fn send(self) -> Result<Response, Error> {
        if let Some(error) = self.error {
            return Err(error);
        }
        let (scheme, authority, path) = split_url(&self.url)?;
        let headers =
            Fields::from_list(&self.headers).map_err(|e| Error::Body(format!("invalid header: {e:?}")))?;
        let request = OutgoingRequest::new(headers);
        let set =
            |ok: Result<(), ()>, what: &str| ok.map_err(|()| Error::InvalidUrl(format!("invalid {what}")));
        set(request.set_method(&self.method), "method")?;
        set(request.set_scheme(Some(&scheme)), "scheme")?;
        set(request.set_authority(Some(authority)), "host")?;
        set(request.set_path_with_query(Some(path)), "path")?;
        let body = request.body().map_err(|()| Error::Body("no body".into()))?;
        let options = self.options();
        let future = outgoing_handler::handle(request, options).map_err(Error::Http)?;
        let written = write_body(body, &self.body);
        future.subscribe().block();
        let response = match future.get() {
            Some(Ok(Ok(response))) => response,
            Some(Ok(Err(code))) => return Err(Error::Http(code)),
            Some(Err(())) | None => return Err(Error::Body("the response was already taken".into())),
        };
        written?;
        Response::new(response)
    }

    fn options(&self) -> Option<RequestOptions> {
        if self.first_byte_timeout.is_none() && self.between_bytes_timeout.is_none() {
            return None;
        }
        let options = RequestOptions::new();
        let nanos = |d: Duration| d.as_nanos().min(u64::MAX as u128) as u64;
        if let Some(t) = self.first_byte_timeout {
            let _ = options.set_first_byte_timeout(Some(nanos(t)));
        }
        if let Some(t) = self.between_bytes_timeout {
            let _ = options.set_between_bytes_timeout(Some(nanos(t)));
        }
        Some(options)
    }
}

/// Write `bytes` and finish the body. Errors are returned once the response says whether
/// the request itself failed (a refused request closes the body first).
fn write_body(body: OutgoingBody, bytes: &[u8]) -> Result<(), Error> {
    let stream = body.write().map_err(|()| Error::Body("no body stream".into()))?;
    for chunk in bytes.chunks(WRITE_SIZE) {
        stream.blocking_write_and_flush(chunk).map_err(|e| Error::Body(stream_error(e)))?;
    }
    drop(stream);
    OutgoingBody::finish(body, None).map_err(Error::Http)
}

fn stream_error(e: StreamError) -> String {
    match e {
        StreamError::Closed => "closed".into(),
        StreamError::LastOperationFailed(e) => e.to_debug_string(),
    }
}

/// `http(s)://authority[/path][?query]` → its parts; a fragment is dropped.
fn split_url(url: &str) -> Result<(Scheme, &str, &str), Error> {
    let url = url.split('#').next().unwrap_or(url);
    let (scheme, rest) =
        url.split_once("://").ok_or_else(|| Error::InvalidUrl(format!("{url:?} has no scheme")))?;
    let scheme = match scheme.to_ascii_lowercase().as_str() {
        "http" => Scheme::Http,
        "https" => Scheme::Https,
        other => return Err(Error::InvalidUrl(format!("unsupported scheme {other:?}"))),
    };
    let end = rest.find(['/', '?']).unwrap_or(rest.len());
    let (authority, path) = rest.split_at(end);
    if authority.is_empty() || authority.contains('@') {
        return Err(Error::InvalidUrl(format!("{url:?} has no host, or has user info")));
    }
    Ok((scheme, authority, if path.is_empty() { "/" } else { path }))
}

/// A response: status and headers at once, the body as it arrives.
pub struct Response {
    status: u16,
    headers: Vec<(String, Vec<u8>)>,
    body: BodyReader,
}

impl Response {
    fn new(response: IncomingResponse) -> Result<Self, Error> {
        let status = response.status();
        let headers = response.headers().entries();
        let body = response.consume().map_err(|()| Error::Body("the body was already taken".into()))?;
        let stream = body.stream().map_err(|()| Error::Body("the body stream was already taken".into()))?;
        let body =
            BodyReader { stream: Some(stream), _body: Some(body), _response: response, buffer: Vec::new() };
        Ok(Self { status, headers, body })
    }

    /// The status code.
    pub fn status(&self) -> u16 {
        self.status
    }

    /// Whether the status is 2xx.
    pub fn is_success(&self) -> bool {
        (200..300).contains(&self.status)
    }

    /// The first value of header `name` (case-insensitive), if it is text.
    pub fn header(&self, name: &str) -> Option<&str> {
        let name = name.to_ascii_lowercase();
        self.headers.iter().find(|(n, _)| *n == name).and_then(|(_, v)| std::str::from_utf8(v).ok())
    }

    /// The whole body.
    pub fn bytes(mut self) -> Result<Vec<u8>, Error> {
        let mut all = std::mem::take(&mut self.body.buffer);
        while let Some(chunk) = self.body.read()? {
            all.extend_from_slice(&chunk);
        }
        Ok(all)
    }

    /// The whole body as text (invalid UTF-8 replaced).
    pub fn text(self) -> Result<String, Error> {
        Ok(String::from_utf8_lossy(&self.bytes()?).into_owned())
    }

    /// The whole body as JSON.
    pub fn json<T: serde::de::DeserializeOwned>(self) -> Result<T, Error> {
        serde_json::from_slice(&self.bytes()?).map_err(Error::Json)
    }

    /// The body's parts as they arrive.
    pub fn chunks(self) -> impl Iterator<Item = Result<Vec<u8>, Error>> {
        let mut body = self.body;
        std::iter::from_fn(move || body.read().transpose())
    }

    /// The body's lines as they arrive, without their `\n` or `\r\n`.
    pub fn lines(self) -> Lines {
        Lines { body: self.body, done: false }
    }

    /// The body as server-sent events, each as soon as its blank line arrives.
    pub fn events(self) -> Events {
        Events { lines: self.lines() }
    }
}

/// The body's stream; dropped before the body and the response it belongs to.
struct BodyReader {
    stream: Option<InputStream>,
    _body: Option<IncomingBody>,
    _response: IncomingResponse,
    /// Bytes read but not yet handed out as a line.
    buffer: Vec<u8>,
}

impl BodyReader {
    /// The next part, `None` at the end.
    fn read(&mut self) -> Result<Option<Vec<u8>>, Error> {
        let Some(stream) = &self.stream else { return Ok(None) };
        match stream.blocking_read(READ_SIZE) {
            Ok(chunk) => Ok(Some(chunk)),
            Err(StreamError::Closed) => {
                self.stream = None;
                Ok(None)
            }
            Err(StreamError::LastOperationFailed(e)) => {
                self.stream = None;
                // wasmtime-wasi-http 48 gives a body's errors no error code, only their
                // message (its first line: a host built with backtraces appends one).
                let code = wasip2::http::types::http_error_code(&e);
                let message =
                    || Error::Body(e.to_debug_string().lines().next().unwrap_or_default().to_owned());
                Err(code.map_or_else(message, Error::Http))
            }
        }
    }
}

/// [`Response::lines`].
pub struct Lines {
    body: BodyReader,
    done: bool,
}

impl Iterator for Lines {
    type Item = Result<String, Error>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            if let Some(end) = self.body.buffer.iter().position(|&b| b == b'\n') {
                let mut line: Vec<u8> = self.body.buffer.drain(..=end).collect();
                line.pop();
                if line.last() == Some(&b'\r') {
                    line.pop();
                }
                return Some(Ok(String::from_utf8_lossy(&line).into_owned()));
            }
            if self.done {
                let rest = std::mem::take(&mut self.body.buffer);
                return (!rest.is_empty()).then(|| Ok(String::from_utf8_lossy(&rest).into_owned()));
            }
            match self.body.read() {
                Ok(Some(chunk)) => self.body.buffer.extend_from_slice(&chunk),
                Ok(None) => self.done = true,
                Err(e) => {
                    self.done = true;
                    return Some(Err(e));
                }
            }
        }
    }
}

/// One server-sent event.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Event {
    /// Its `event:` field; `message` when it had none.
    pub event: String,
    /// Its `data:` lines, joined with `\n`.
    pub data: String,
}

/// [`Response::events`].
pub struct Events {
    lines: Lines,
}

impl Iterator for Events {
    type Item = Result<Event, Error>;

    fn next(&mut self) -> Option<Self::Item> {
        let mut event: Option<String> = None;
        let mut data: Option<String> = None;
        loop {
            let line = match self.lines.next() {
                Some(Ok(line)) => line,
                Some(Err(e)) => return Some(Err(e)),
                None if data.is_some() => break,
                None => return None,
            };
            if line.is_empty() {
                if data.is_some() {
                    break;
                }
                event = None;
                continue;
            }
            let (field, value) = line.split_once(':').unwrap_or((&line, ""));
            let value = value.strip_prefix(' ').unwrap_or(value);
            match field {
                "event" => event = Some(value.to_owned()),
                "data" => match &mut data {
                    Some(d) => {
                        d.push('\n');
                        d.push_str(value);
                    }
                    None => data = Some(value.to_owned()),
                },
                _ => {} // comments (":"), id, retry
            }
        }
        Some(Ok(Event { event: event.unwrap_or_else(|| "message".into()), data: data.unwrap_or_default() }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_split_into_scheme_authority_and_path() {
        let (s, a, p) = split_url("https://api.openai.com/v1/chat?x=1#frag").unwrap();
        assert!(matches!(s, Scheme::Https));
        assert_eq!((a, p), ("api.openai.com", "/v1/chat?x=1"));
        let (_, a, p) = split_url("http://127.0.0.1:8099").unwrap();
        assert_eq!((a, p), ("127.0.0.1:8099", "/"));
        for bad in ["api.openai.com/v1", "ftp://x", "https://", "https://user@x.com/"] {
            assert!(split_url(bad).is_err(), "{bad}");
        }
    }
}
