//! One accepted connection's life, bounded whatever the client sends: how many may be open
//! at once, how long one may sit with no request in flight, and how long its writes may
//! stay blocked on a client that stopped reading.
//!
//! hyper's own timer covers HTTP/1 header reads only: it does not run while hyper-util
//! detects the HTTP version, nor on HTTP/2, and nothing in hyper bounds a write. So
//! `server::serve` wraps every connection: [`Watched`] notes when a write blocks,
//! [`InFlight`] counts the requests being answered, and [`Activity::expired`] ends the
//! connection when either clock runs out.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::Body;
use axum::http::Request;
use axum::response::Response;
use http_body_util::BodyExt;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::sync::{Notify, OwnedSemaphorePermit, Semaphore};
use tokio::time::Instant;

/// Open connections allowed by default, unless the file-descriptor limit allows fewer
/// (see [`fd_bounded`]). 10,000 open streams need about 0.9 GiB, so this is a bound on
/// memory as much as on descriptors.
pub const DEFAULT_MAX_CONNECTIONS: usize = 16_384;
/// File descriptors kept free for everything but connections: the bots directory, the
/// compile cache, the watcher, logs.
pub const RESERVED_FDS: u64 = 256;
/// How long a response's write may stay blocked by default before the connection is
/// dropped: Poe reads as fast as events come, so 30 s of a full socket buffer is a client
/// that has stopped reading.
pub const DEFAULT_WRITE_TIMEOUT: Duration = Duration::from_secs(30);

/// The bounds every connection lives within.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConnectionLimits {
    /// Connections open at once; past it a new one gets a short 503 and is closed.
    pub max_connections: usize,
    /// How long a connection may have no request in flight (from its start or its last
    /// response) before it is closed: a client that connects and sends nothing, one byte,
    /// or only an HTTP/2 preface and pings.
    pub idle_timeout: Duration,
    /// How long a write may stay blocked before the connection is dropped.
    pub write_timeout: Duration,
}

/// `wanted` connections, or fewer if the process may not open that many descriptors.
/// Raises the soft descriptor limit to the hard one first, as servers commonly do.
pub fn fd_bounded(wanted: usize) -> usize {
    let Some(limit) = raise_fd_limit() else { return wanted };
    let room = usize::try_from(limit.saturating_sub(RESERVED_FDS)).unwrap_or(usize::MAX).max(1);
    if room < wanted {
        tracing::warn!(
            fd_limit = limit,
            "at most {room} connections: the file-descriptor limit is lower than {wanted} + {RESERVED_FDS}"
        );
    }
    wanted.min(room)
}

#[cfg(target_os = "linux")]
fn raise_fd_limit() -> Option<u64> {
    use rustix::process::{Resource, getrlimit, setrlimit};
    let mut limit = getrlimit(Resource::Nofile);
    if let Some(hard) = limit.maximum
        && limit.current.is_some_and(|soft| soft < hard)
    {
        limit.current = Some(hard);
        if setrlimit(Resource::Nofile, limit).is_err() {
            limit = getrlimit(Resource::Nofile);
        }
    }
    limit.current
}

#[cfg(not(target_os = "linux"))]
fn raise_fd_limit() -> Option<u64> {
    None
}

/// The host-wide cap on open connections, and the limits each one lives within.
pub struct ConnectionCap {
    /// The limits, with `max_connections` as lowered to the descriptor limit.
    pub limits: ConnectionLimits,
    permits: Arc<Semaphore>,
    max: usize,
    /// Connections refused since the cap was last reached (0: not at the cap), so that a
    /// flood is logged once, not once per connection.
    refused: AtomicU64,
}

impl ConnectionCap {
    /// A cap of `limits.max_connections` open connections, or fewer if the descriptor
    /// limit allows fewer (see [`fd_bounded`]).
    pub fn new(limits: ConnectionLimits) -> Self {
        Self::exactly(ConnectionLimits { max_connections: fd_bounded(limits.max_connections), ..limits })
    }

    fn exactly(limits: ConnectionLimits) -> Self {
        let max = limits.max_connections;
        Self { limits, permits: Arc::new(Semaphore::new(max)), max, refused: AtomicU64::new(0) }
    }

    /// Connections open now.
    pub fn open(&self) -> usize {
        self.max - self.permits.available_permits()
    }

    /// A place for one more connection, or `None` at the cap (logged when it is first
    /// reached, and again when places free up, with the number refused meanwhile).
    pub fn admit(&self) -> Option<OwnedSemaphorePermit> {
        match self.permits.clone().try_acquire_owned() {
            Ok(permit) => {
                let refused = self.refused.swap(0, Ordering::Relaxed);
                if refused > 0 {
                    tracing::info!(refused, "accepting connections again");
                }
                Some(permit)
            }
            Err(_) => {
                if self.refused.fetch_add(1, Ordering::Relaxed) == 0 {
                    tracing::warn!(
                        max = self.max,
                        "at the connection limit: refusing new connections with 503"
                    );
                }
                None
            }
        }
    }
}

/// The whole response a connection past the cap gets before it is closed.
pub const REFUSAL: &[u8] = b"HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\n\
retry-after: 1\r\nconnection: close\r\ncontent-length: 39\r\n\r\n{\"detail\":\"too many open connections\"}\n";

/// Why a connection was ended by the host.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expiry {
    /// No request in flight for the idle timeout.
    Idle,
    /// A write stayed blocked for the write timeout.
    WriteStalled,
}

/// What a connection is doing, shared by its IO, its service and its watchdog.
pub struct Activity {
    started: Instant,
    in_flight: AtomicUsize,
    /// Milliseconds from `started` at which the connection last became idle.
    idle_since: AtomicU64,
    /// When the current blocked write started, if one is blocked.
    write_blocked_since: Mutex<Option<Instant>>,
    changed: Notify,
}

impl Activity {
    /// A connection that has just been accepted (idle: nothing asked yet).
    pub fn new() -> Arc<Self> {
        Arc::new(Self {
            started: Instant::now(),
            in_flight: AtomicUsize::new(0),
            idle_since: AtomicU64::new(0),
            write_blocked_since: Mutex::new(None),
            changed: Notify::new(),
        })
    }

    /// Resolves once the connection should be ended, and says why.
    pub async fn expired(&self, limits: &ConnectionLimits) -> Expiry {
        loop {
            let (deadline, why) = match self.deadline(limits) {
                Some(next) => next,
                None => {
                    self.changed.notified().await;
                    continue;
                }
            };
            if deadline <= Instant::now() {
                return why;
            }
            tokio::select! {
                () = tokio::time::sleep_until(deadline) => {}
                () = self.changed.notified() => {}
            }
        }
    }

    /// The earliest clock running, if any.
    fn deadline(&self, limits: &ConnectionLimits) -> Option<(Instant, Expiry)> {
        let blocked = *self.write_blocked_since.lock().unwrap_or_else(|p| p.into_inner());
        let stalled = blocked.map(|since| (since + limits.write_timeout, Expiry::WriteStalled));
        let idle = (self.in_flight.load(Ordering::Acquire) == 0).then(|| {
            let since = self.started + Duration::from_millis(self.idle_since.load(Ordering::Acquire));
            (since + limits.idle_timeout, Expiry::Idle)
        });
        [stalled, idle].into_iter().flatten().min_by_key(|(at, _)| *at)
    }

    fn begin_request(self: &Arc<Self>) -> RequestGuard {
        self.in_flight.fetch_add(1, Ordering::AcqRel);
        RequestGuard(self.clone())
    }

    fn set_write_blocked(&self, blocked: bool) {
        let mut since = self.write_blocked_since.lock().unwrap_or_else(|p| p.into_inner());
        match (since.is_some(), blocked) {
            (false, true) => {
                *since = Some(Instant::now());
                self.changed.notify_one();
            }
            (true, false) => *since = None,
            _ => {}
        }
    }
}

/// One request being answered, until its response body has been sent or dropped.
struct RequestGuard(Arc<Activity>);

impl Drop for RequestGuard {
    fn drop(&mut self) {
        let activity = &self.0;
        if activity.in_flight.fetch_sub(1, Ordering::AcqRel) == 1 {
            let idle_ms = activity.started.elapsed().as_millis();
            activity.idle_since.store(u64::try_from(idle_ms).unwrap_or(u64::MAX), Ordering::Release);
            activity.changed.notify_one();
        }
    }
}

/// A connection's socket that reports blocked writes to its [`Activity`].
pub struct Watched<IO> {
    io: IO,
    activity: Arc<Activity>,
}

impl<IO> Watched<IO> {
    /// `io`, watched by `activity`.
    pub fn new(io: IO, activity: Arc<Activity>) -> Self {
        Self { io, activity }
    }

    fn note<T>(&self, poll: Poll<io::Result<T>>) -> Poll<io::Result<T>> {
        match &poll {
            Poll::Pending => self.activity.set_write_blocked(true),
            Poll::Ready(_) => self.activity.set_write_blocked(false),
        }
        poll
    }
}

impl<IO: AsyncRead + Unpin> AsyncRead for Watched<IO> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_read(cx, buf)
    }
}

impl<IO: AsyncWrite + Unpin> AsyncWrite for Watched<IO> {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        let poll = Pin::new(&mut self.io).poll_write(cx, buf);
        self.note(poll)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let poll = Pin::new(&mut self.io).poll_write_vectored(cx, bufs);
        self.note(poll)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let poll = Pin::new(&mut self.io).poll_flush(cx);
        self.note(poll)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_shutdown(cx)
    }
}

/// A service that counts its requests as in flight on a connection's [`Activity`] until
/// each response body is done.
#[derive(Clone)]
pub struct InFlight<S> {
    inner: S,
    activity: Arc<Activity>,
}

impl<S> InFlight<S> {
    /// `inner`, counted on `activity`.
    pub fn new(inner: S, activity: Arc<Activity>) -> Self {
        Self { inner, activity }
    }
}

impl<S, B> tower::Service<Request<B>> for InFlight<S>
where
    S: tower::Service<Request<B>, Response = Response>,
    S::Future: Send + 'static,
{
    type Response = Response;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Response, S::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<B>) -> Self::Future {
        let guard = self.activity.begin_request();
        let response = self.inner.call(request);
        Box::pin(async move {
            let response = response.await?;
            // The guard lives in the body, so the request stays in flight while it streams.
            Ok(response.map(|body| {
                Body::new(body.map_frame(move |frame| {
                    let _in_flight = &guard;
                    frame
                }))
            }))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIMITS: ConnectionLimits = ConnectionLimits {
        max_connections: 2,
        idle_timeout: Duration::from_secs(30),
        write_timeout: Duration::from_secs(10),
    };

    #[test]
    fn the_refusal_is_one_well_formed_http_response() {
        let text = std::str::from_utf8(REFUSAL).unwrap();
        let (head, body) = text.split_once("\r\n\r\n").unwrap();
        assert!(head.starts_with("HTTP/1.1 503 "));
        assert!(head.contains(&format!("content-length: {}", body.len())), "{head}");
        assert_eq!(
            serde_json::from_str::<serde_json::Value>(body).unwrap()["detail"],
            "too many open connections"
        );
    }

    #[test]
    fn the_cap_admits_its_size_and_frees_a_place_when_a_connection_ends() {
        let cap = ConnectionCap::exactly(LIMITS);
        let (a, _b) = (cap.admit().unwrap(), cap.admit().unwrap());
        assert!(cap.admit().is_none());
        assert!(cap.admit().is_none());
        assert_eq!(cap.refused.load(Ordering::Relaxed), 2);
        assert_eq!(cap.open(), 2);
        drop(a);
        assert!(cap.admit().is_some());
        assert_eq!(cap.refused.load(Ordering::Relaxed), 0, "back under the cap");
    }

    #[tokio::test(start_paused = true)]
    async fn an_idle_connection_expires_after_the_idle_timeout() {
        let activity = Activity::new();
        let started = Instant::now();
        assert_eq!(activity.expired(&LIMITS).await, Expiry::Idle);
        assert_eq!(started.elapsed(), LIMITS.idle_timeout);
    }

    #[tokio::test(start_paused = true)]
    async fn a_request_in_flight_keeps_the_connection_and_its_end_restarts_the_clock() {
        let activity = Activity::new();
        let guard = activity.begin_request();
        let started = Instant::now();
        let ender = async {
            tokio::time::sleep(Duration::from_secs(100)).await;
            drop(guard);
        };
        let (expiry, ()) = tokio::join!(activity.expired(&LIMITS), ender);
        assert_eq!(expiry, Expiry::Idle);
        assert_eq!(started.elapsed(), Duration::from_secs(100) + LIMITS.idle_timeout);
    }

    #[tokio::test(start_paused = true)]
    async fn a_blocked_write_expires_after_the_write_timeout_even_in_flight() {
        let activity = Activity::new();
        let _guard = activity.begin_request();
        let started = Instant::now();
        activity.set_write_blocked(true);
        assert_eq!(activity.expired(&LIMITS).await, Expiry::WriteStalled);
        assert_eq!(started.elapsed(), LIMITS.write_timeout);
    }

    #[tokio::test(start_paused = true)]
    async fn a_write_that_proceeds_restarts_the_write_clock() {
        let activity = Activity::new();
        let _guard = activity.begin_request();
        activity.set_write_blocked(true);
        tokio::time::sleep(Duration::from_secs(9)).await;
        activity.set_write_blocked(false);
        activity.set_write_blocked(true);
        let resumed = Instant::now();
        assert_eq!(activity.expired(&LIMITS).await, Expiry::WriteStalled);
        assert_eq!(resumed.elapsed(), LIMITS.write_timeout);
    }
}
