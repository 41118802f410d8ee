//! The load generator: wrk's model in a few lines of hyper. Each worker owns one keep-alive
//! HTTP/1.1 connection and sends the next request as soon as the previous response has been
//! read to the end (closed loop, which measures capacity), for a fixed duration; every
//! request's latency is kept. Every response body is checked, so a fast wrong answer counts
//! as an error, not a win. The fixed-rate model (what a user sees) is in `paced`.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use bytes::{Bytes, BytesMut};
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::SendRequest;
use hyper::{Request, StatusCode, header};
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;
use tokio::sync::{Semaphore, mpsc, watch};
use tokio::time::Instant;

use crate::stats::Latencies;

/// What a correct response body looks like.
#[derive(Debug, Clone)]
pub enum Expect {
    /// Exactly these bytes.
    Exact(Bytes),
    /// Contains each of these (fastapi_poe formats its JSON differently).
    Contains(Vec<&'static str>),
    /// This many SSE events (`\r\n\r\n`-terminated), `done` included.
    Events(usize),
}

impl Expect {
    /// Whether `body` is a correct answer.
    pub fn matches(&self, body: &[u8]) -> bool {
        match self {
            Expect::Exact(b) => body == &b[..],
            Expect::Contains(parts) => {
                let text = String::from_utf8_lossy(body);
                parts.iter().all(|p| text.contains(p))
            }
            Expect::Events(n) => count_events(body, 0) == *n,
        }
    }
}

/// One endpoint and the request to send it.
#[derive(Debug, Clone)]
pub struct Target {
    /// Server address.
    pub addr: SocketAddr,
    /// Request path, e.g. `/echo`.
    pub path: String,
    /// The JSON request body.
    pub body: Bytes,
    /// Sent as `Authorization: Bearer KEY`.
    pub key: String,
    /// How to check the response.
    pub expect: Expect,
    /// The server's process, whose CPU time a closed-loop comparison charges to it.
    pub server_pid: Option<u32>,
}

/// A Poe query body whose last user message is `content`.
pub fn query_body(content: &str) -> Bytes {
    let body = serde_json::json!({
        "version": "1.2", "type": "query",
        "query": [{"role": "user", "content": content}],
        "user_id": "u", "conversation_id": "c", "message_id": "m",
    });
    body.to_string().into()
}

/// The outcome of a closed-loop or fixed-rate run.
#[derive(Debug, Default)]
pub struct LoadResult {
    /// Correct responses.
    pub ok: u64,
    /// Wrong status or body, or a connection failure.
    pub errors: u64,
    /// Latency of every correct response.
    pub latencies: Latencies,
    /// Wall time from start until the last worker stopped (last response, at a fixed rate).
    pub elapsed: Duration,
}

impl LoadResult {
    /// Correct responses per second.
    pub fn rps(&self) -> f64 {
        self.ok as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }

    /// Fold another run (e.g. another round) into this one.
    pub fn merge(&mut self, other: LoadResult) {
        self.ok += other.ok;
        self.errors += other.errors;
        self.latencies.merge(other.latencies);
        self.elapsed += other.elapsed;
    }
}

/// One keep-alive HTTP/1.1 client connection.
pub type Conn = SendRequest<Full<Bytes>>;

/// Open a keep-alive connection to `addr` (its driver runs on a spawned task).
pub async fn connect(addr: SocketAddr) -> anyhow::Result<Conn> {
    let stream = TcpStream::connect(addr).await.with_context(|| format!("cannot connect to {addr}"))?;
    stream.set_nodelay(true)?;
    let (send, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
    tokio::spawn(async move {
        let _ = conn.await;
    });
    Ok(send)
}

fn request(t: &Target) -> Request<Full<Bytes>> {
    Request::post(&t.path)
        .header(header::HOST, t.addr.to_string())
        .header(header::AUTHORIZATION, format!("Bearer {}", t.key))
        .header(header::CONTENT_TYPE, "application/json")
        .body(Full::new(t.body.clone()))
        .expect("static request parts are valid")
}

/// Send one request on `conn` and read the whole response; `Ok(false)` if it was wrong.
pub(crate) async fn one(conn: &mut Conn, t: &Target) -> anyhow::Result<bool> {
    let (status, body) = fetch(conn, t).await?;
    Ok(status == StatusCode::OK && t.expect.matches(&body))
}

/// Send `t`'s request on `conn`; the response, its body unread.
pub async fn send(conn: &mut Conn, t: &Target) -> anyhow::Result<hyper::Response<hyper::body::Incoming>> {
    conn.ready().await?;
    Ok(conn.send_request(request(t)).await?)
}

/// Send `t`'s request on `conn` and read the whole response, unchecked.
pub async fn fetch(conn: &mut Conn, t: &Target) -> anyhow::Result<(StatusCode, Bytes)> {
    let response = send(conn, t).await?;
    let status = response.status();
    Ok((status, response.into_body().collect().await?.to_bytes()))
}

/// `GET path` with `Authorization: Bearer key` on `conn`; the status and the whole body.
pub async fn get(
    conn: &mut Conn,
    addr: SocketAddr,
    path: &str,
    key: &str,
) -> anyhow::Result<(StatusCode, Bytes)> {
    let request = Request::get(path)
        .header(header::HOST, addr.to_string())
        .header(header::AUTHORIZATION, format!("Bearer {key}"))
        .body(Full::new(Bytes::new()))
        .context("bad GET request")?;
    conn.ready().await?;
    let response = conn.send_request(request).await?;
    let status = response.status();
    Ok((status, response.into_body().collect().await?.to_bytes()))
}

/// Send `t` on a fresh connection, read the response until its body contains `marker`, then
/// close the socket abruptly, as a client that goes away mid-stream does. Returns the moment
/// the socket was closed.
pub async fn read_until_then_drop(t: &Target, marker: &[u8]) -> anyhow::Result<Instant> {
    let stream = TcpStream::connect(t.addr).await.with_context(|| format!("cannot connect to {}", t.addr))?;
    stream.set_nodelay(true)?;
    let (mut send, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
    let driver = tokio::spawn(async move {
        let _ = conn.await;
    });
    send.ready().await?;
    let response = send.send_request(request(t)).await?;
    anyhow::ensure!(response.status() == StatusCode::OK, "status {}", response.status());
    let mut body = response.into_body();
    let mut buf = BytesMut::new();
    while !buf.windows(marker.len()).any(|w| w == marker) {
        let frame = body.frame().await.context("the response ended before the marker")??;
        if let Ok(data) = frame.into_data() {
            buf.extend_from_slice(&data);
        }
    }
    // The driver task owns the socket: aborting it and waiting for it closes the socket now.
    driver.abort();
    let _ = driver.await;
    drop((body, send));
    Ok(Instant::now())
}

/// Run `workers` closed-loop connections against `t` for `duration`.
pub async fn closed_loop(t: &Target, workers: usize, duration: Duration) -> LoadResult {
    let t = Arc::new(t.clone());
    let start = Instant::now();
    let deadline = start + duration;
    let tasks: Vec<_> = (0..workers).map(|_| tokio::spawn(worker(t.clone(), deadline))).collect();
    let mut total = LoadResult::default();
    for task in tasks {
        if let Ok(r) = task.await {
            total.ok += r.ok;
            total.errors += r.errors;
            total.latencies.merge(r.latencies);
        }
    }
    total.elapsed = start.elapsed();
    total
}

async fn worker(t: Arc<Target>, deadline: Instant) -> LoadResult {
    let mut r = LoadResult::default();
    let mut conn: Option<Conn> = None;
    while Instant::now() < deadline {
        let c = match conn.as_mut() {
            Some(c) => c,
            None => match connect(t.addr).await {
                Ok(c) => conn.insert(c),
                Err(_) => {
                    r.errors += 1;
                    tokio::time::sleep(Duration::from_millis(10)).await;
                    continue;
                }
            },
        };
        let sent = Instant::now();
        match one(c, &t).await {
            Ok(true) => {
                r.ok += 1;
                r.latencies.push(sent.elapsed());
            }
            Ok(false) => r.errors += 1,
            Err(_) => {
                r.errors += 1;
                conn = None;
            }
        }
    }
    r
}

/// Count `\r\n\r\n` event terminators in `buf`, starting the search at `from`.
pub fn count_events(buf: &[u8], from: usize) -> usize {
    buf.get(from..).map_or(0, |b| b.windows(4).filter(|w| w == b"\r\n\r\n").count())
}

/// Timing of streamed responses, one request at a time on one connection.
#[derive(Debug, Default)]
pub struct StreamResult {
    /// Correct responses.
    pub ok: u64,
    /// Wrong or failed responses.
    pub errors: u64,
    /// Request sent → first event received.
    pub first_event: Latencies,
    /// Time between consecutive events as read from the socket (0 when they share a read).
    pub gaps: Latencies,
    /// First event → last event, divided by the number of gaps: the mean per-chunk cost.
    pub per_chunk: Latencies,
    /// Whole-response latency.
    pub total: Latencies,
}

/// Stream `t` repeatedly for `duration`, timestamping each SSE event as it arrives.
pub async fn stream_timing(t: &Target, duration: Duration) -> anyhow::Result<StreamResult> {
    let mut conn = connect(t.addr).await?;
    let mut r = StreamResult::default();
    let deadline = Instant::now() + duration;
    while Instant::now() < deadline {
        let sent = Instant::now();
        match timed_events(&mut conn, t).await {
            Ok((true, stamps)) if stamps.len() > 1 => {
                r.ok += 1;
                record_stream(&mut r, sent, &stamps);
            }
            Ok(_) => r.errors += 1,
            Err(e) => {
                r.errors += 1;
                eprintln!("stream request failed: {e:#}");
                conn = connect(t.addr).await?;
            }
        }
    }
    Ok(r)
}

fn record_stream(r: &mut StreamResult, sent: Instant, stamps: &[Instant]) {
    let (first, last) = (stamps[0], stamps[stamps.len() - 1]);
    r.first_event.push(first - sent);
    r.total.push(last - sent);
    r.per_chunk.push((last - first) / (stamps.len() as u32 - 1));
    for pair in stamps.windows(2) {
        r.gaps.push(pair[1] - pair[0]);
    }
}

/// One streamed request: whether it was correct, and when each event arrived.
async fn timed_events(conn: &mut Conn, t: &Target) -> anyhow::Result<(bool, Vec<Instant>)> {
    conn.ready().await?;
    let response = conn.send_request(request(t)).await?;
    let status = response.status();
    let mut body = response.into_body();
    let mut buf = BytesMut::new();
    let mut stamps = Vec::new();
    while let Some(frame) = body.frame().await {
        let Ok(data) = frame?.into_data() else { continue };
        let now = Instant::now();
        let scan_from = buf.len().saturating_sub(3);
        buf.extend_from_slice(&data);
        let new = count_events(&buf, scan_from);
        stamps.extend(std::iter::repeat_n(now, new));
    }
    Ok((status == StatusCode::OK && t.expect.matches(&buf), stamps))
}

/// Open streams held until released.
#[derive(Debug)]
pub struct OpenStreams {
    /// Streams whose response headers arrived with 200.
    pub opened: usize,
    /// Streams that failed to connect or got another status.
    pub failed: usize,
    /// Time until all were open (or the attempt gave up).
    pub open_time: Duration,
    release: watch::Sender<bool>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl OpenStreams {
    /// Close every stream (the server sees the clients disconnect).
    pub async fn release(self) {
        let _ = self.release.send(true);
        for task in self.tasks {
            let _ = task.await;
        }
    }
}

/// When a held stream counts as open.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OpenWhen {
    /// The response headers arrived with 200.
    Headers,
    /// The first SSE event arrived too (a relay is open only once its upstream answered).
    FirstEvent,
}

/// Open `n` concurrent streams to `t` (connecting at most `parallel` at a time) and hold them
/// open, unread past `when`, until [`OpenStreams::release`]. Gives up waiting after `patience`.
pub async fn open_streams(
    t: &Target,
    n: usize,
    parallel: usize,
    patience: Duration,
    when: OpenWhen,
) -> OpenStreams {
    let t = Arc::new(t.clone());
    let gate = Arc::new(Semaphore::new(parallel));
    let (release, released) = watch::channel(false);
    let (report, mut reports) = mpsc::channel::<bool>(n.max(1));
    let start = Instant::now();
    let tasks = (0..n)
        .map(|_| tokio::spawn(hold_one(t.clone(), gate.clone(), report.clone(), released.clone(), when)))
        .collect();
    drop(report);
    let (mut opened, mut failed) = (0, 0);
    let deadline = start + patience;
    while opened + failed < n {
        match tokio::time::timeout_at(deadline, reports.recv()).await {
            Ok(Some(true)) => opened += 1,
            Ok(Some(false)) => failed += 1,
            Ok(None) | Err(_) => break,
        }
    }
    OpenStreams { opened, failed, open_time: start.elapsed(), release, tasks }
}

async fn hold_one(
    t: Arc<Target>,
    gate: Arc<Semaphore>,
    report: mpsc::Sender<bool>,
    mut released: watch::Receiver<bool>,
    when: OpenWhen,
) {
    let permit = gate.acquire().await;
    let opened = async {
        let mut conn = connect(t.addr).await?;
        conn.ready().await?;
        let response = conn.send_request(request(&t)).await?;
        if response.status() != StatusCode::OK {
            return Ok(None);
        }
        let mut body = response.into_body();
        if when == OpenWhen::FirstEvent {
            let mut buf = BytesMut::new();
            while count_events(&buf, 0) == 0 {
                let frame = body.frame().await.context("the stream ended before its first event")??;
                if let Ok(data) = frame.into_data() {
                    buf.extend_from_slice(&data);
                }
            }
        }
        anyhow::Ok(Some((conn, body)))
    };
    let held = opened.await.ok().flatten();
    drop(permit);
    let _ = report.send(held.is_some()).await;
    let _ = released.wait_for(|r| *r).await;
    drop(held);
}
