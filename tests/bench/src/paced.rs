//! The fixed-rate load generator (wrk2's open loop): requests leave on a schedule whatever the
//! server does, and latency counts from the scheduled moment, so a stall counts against every
//! request it held back (no coordinated omission). This measures what a user sees; the closed
//! loop in `load` measures capacity.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::runtime::Handle;
use tokio::sync::{Semaphore, SemaphorePermit};
use tokio::task::JoinHandle;
use tokio::time::Instant;

use crate::load::{Conn, LoadResult, Target, connect, one};
use crate::stats::Latencies;

/// The outcome of a fixed-rate run.
#[derive(Debug, Default)]
pub struct PacedResult {
    /// Requests per second asked for.
    pub rate: f64,
    /// Correct responses and errors; latencies run from each request's *scheduled* send time
    /// to its last byte, so a stall counts against every request it held back.
    pub load: LoadResult,
    /// Scheduled send time → the request's task starting: the generator's own lateness, kept
    /// apart so a reader can tell it from the server's (it is included in `load`'s latencies).
    pub lag: Latencies,
    /// Keep-alive connections in the pool.
    pub connections: usize,
    /// Requests that found every connection busy and waited for one (the wait is in their
    /// latency, as it would be for a client with that many connections).
    pub waited: u64,
}

impl PacedResult {
    /// Pool `other` (a second run at the same rate) into this one.
    pub fn merge(&mut self, other: PacedResult) {
        self.load.merge(other.load);
        self.lag.merge(other.lag);
        self.waited += other.waited;
    }
}

/// What every request of a fixed-rate run shares: the target and the connection pool.
struct Paced {
    target: Target,
    /// One permit per connection, whether idle or busy.
    slots: Semaphore,
    idle: Mutex<Vec<Conn>>,
    waited: AtomicU64,
}

impl Paced {
    /// A connection of the pool (the most recently used idle one), waiting if all are busy;
    /// a connection that failed is replaced here, its connect time counted in the latency.
    async fn checkout(&self) -> Option<(SemaphorePermit<'_>, Conn)> {
        let permit = match self.slots.try_acquire() {
            Ok(permit) => permit,
            Err(_) => {
                self.waited.fetch_add(1, Ordering::Relaxed);
                self.slots.acquire().await.ok()?
            }
        };
        let idle = self.idle.lock().expect("no task panics holding the pool").pop();
        let conn = match idle {
            Some(conn) => conn,
            None => connect(self.target.addr).await.ok()?,
        };
        Some((permit, conn))
    }

    fn checkin(&self, conn: Conn) {
        self.idle.lock().expect("no task panics holding the pool").push(conn);
    }
}

/// How one scheduled request went.
struct Outcome {
    ok: bool,
    lag: Duration,
    latency: Duration,
}

/// Send `t` at `rate` requests per second for `duration` over a pool of `pool` keep-alive
/// connections, never waiting for a response before the next send: wrk2's open loop, free of
/// coordinated omission. Returns once the last response has been read.
pub async fn fixed_rate(t: &Target, rate: f64, duration: Duration, pool: usize) -> PacedResult {
    let mut idle = Vec::with_capacity(pool);
    for _ in 0..pool {
        if let Ok(conn) = connect(t.addr).await {
            idle.push(conn);
        }
    }
    let (slots, idle, waited) = (Semaphore::new(pool), Mutex::new(idle), AtomicU64::new(0));
    let paced = Arc::new(Paced { target: t.clone(), slots, idle, waited });
    let n = (rate * duration.as_secs_f64()).round() as u64;
    let (runtime, shared, start) = (Handle::current(), paced.clone(), Instant::now());
    let pacer = tokio::task::spawn_blocking(move || pace(&runtime, &shared, start, rate, n));
    let mut r = PacedResult { rate, connections: pool, ..PacedResult::default() };
    for task in pacer.await.expect("the pacer does not panic") {
        let Ok(o) = task.await else {
            r.load.errors += 1;
            continue;
        };
        r.lag.push(o.lag);
        if o.ok {
            r.load.ok += 1;
            r.load.latencies.push(o.latency);
        } else {
            r.load.errors += 1;
        }
    }
    r.load.elapsed = start.elapsed();
    r.waited = paced.waited.load(Ordering::Relaxed);
    r
}

/// Spawn request `i` at `start + i / rate`, sleeping on this blocking-pool thread in between:
/// an OS sleep wakes within tens of microseconds, where tokio's timer rounds up to whole
/// milliseconds, which would be added to every latency. A late wake-up sends what is due at
/// once; those requests keep their scheduled times, so the lateness is measured, not hidden.
fn pace(runtime: &Handle, paced: &Arc<Paced>, start: Instant, rate: f64, n: u64) -> Vec<JoinHandle<Outcome>> {
    (0..n)
        .map(|i| {
            let due = start + Duration::from_secs_f64(i as f64 / rate);
            std::thread::sleep(due.saturating_duration_since(Instant::now()));
            runtime.spawn(scheduled(paced.clone(), due))
        })
        .collect()
}

/// One request of the schedule, timed from `due`; its connection goes back to the pool
/// unless it failed.
async fn scheduled(paced: Arc<Paced>, due: Instant) -> Outcome {
    let lag = due.elapsed();
    let Some((_permit, mut conn)) = paced.checkout().await else {
        return Outcome { ok: false, lag, latency: due.elapsed() };
    };
    let answer = one(&mut conn, &paced.target).await;
    let latency = due.elapsed();
    if answer.is_ok() {
        paced.checkin(conn);
    }
    Outcome { ok: matches!(answer, Ok(true)), lag, latency }
}

#[cfg(test)]
mod tests {
    use std::net::SocketAddr;

    use bytes::Bytes;

    use super::*;
    use crate::load::Expect;

    /// A server answering `ok` to every POST, whose 50th request stalls everyone for 100 ms.
    async fn stalling_server() -> SocketAddr {
        let lock = Arc::new(tokio::sync::Mutex::new(0u32));
        let handler = move || {
            let lock = lock.clone();
            async move {
                let mut n = lock.lock().await;
                *n += 1;
                if *n == 50 {
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                "ok"
            }
        };
        let app = axum::Router::new().route("/", axum::routing::post(handler));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("bound address");
        tokio::spawn(async move { axum::serve(listener, app).await });
        addr
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn fixed_rate_counts_a_stall_against_every_request_it_held_back() {
        let addr = stalling_server().await;
        let body = Bytes::from_static(b"{}");
        let t = Target {
            addr,
            path: "/".into(),
            body,
            key: "k".into(),
            expect: Expect::Exact("ok".into()),
            server_pid: None,
        };
        let mut r = fixed_rate(&t, 1000.0, Duration::from_millis(300), 4).await;
        assert_eq!((r.load.ok, r.load.errors), (300, 0));
        assert!(r.waited > 0, "the stall held all 4 connections");
        // Requests scheduled in the first half of the stall waited 50–100 ms, for the server or
        // for a connection: about a sixth of all. Timed from their actual send, or in a closed
        // loop, only the 4 requests on the stalled connections would have been slow.
        assert!(r.load.latencies.percentile(85.0) >= Duration::from_millis(40));
        assert!(r.load.latencies.percentile(50.0) < Duration::from_millis(40));
    }
}
