//! [`Gate`]: admission control. A bounded number of calls run at once (per bot and
//! overall); beyond that, requests wait in a short, bounded queue, and only then get
//! 503 with `Retry-After` — users of other hosts ask for queueing, not instant errors.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::time::Instant;

use crate::http::body::BodyShare;

/// Instances the pool holds by default: the most calls that can run at once. An
/// admission limit, so it lives here; the engine sizes its pool by it.
pub const DEFAULT_POOL_SIZE: u32 = 1_000;

/// Calls one bot may run at once unless configured (`serve` uses the pool size instead).
pub const DEFAULT_MAX_CONCURRENT_PER_BOT: usize = DEFAULT_POOL_SIZE as usize;
/// Requests that may wait for a slot, per gate, by default.
pub const DEFAULT_MAX_QUEUED: usize = 512;
/// How long a request waits for a slot before 503, by default.
pub const DEFAULT_QUEUE_TIMEOUT: Duration = Duration::from_secs(2);

/// How a gate queues.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QueuePolicy {
    /// Requests that may wait at once; more get 503 at once.
    pub max_queued: usize,
    /// How long one may wait.
    pub timeout: Duration,
}

impl Default for QueuePolicy {
    fn default() -> Self {
        Self { max_queued: DEFAULT_MAX_QUEUED, timeout: DEFAULT_QUEUE_TIMEOUT }
    }
}

/// The request could not get a slot in time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("at capacity")]
pub struct Busy;

/// A counting gate with a bounded wait queue.
#[derive(Debug)]
pub struct Gate {
    slots: Arc<Semaphore>,
    capacity: usize,
    waiting: AtomicUsize,
    policy: QueuePolicy,
}

impl Gate {
    /// A gate letting `capacity` calls through at once.
    pub fn new(capacity: usize, policy: QueuePolicy) -> Self {
        let capacity = usable(capacity);
        Self { slots: Arc::new(Semaphore::new(capacity)), capacity, waiting: AtomicUsize::new(0), policy }
    }

    /// Take a slot, waiting in the queue if needed. The slot is freed when the permit drops.
    pub async fn enter(&self) -> Result<OwnedSemaphorePermit, Busy> {
        self.enter_by(Instant::now() + self.policy.timeout).await
    }

    /// [`enter`](Self::enter), waiting in the queue until `deadline` at the latest.
    async fn enter_by(&self, deadline: Instant) -> Result<OwnedSemaphorePermit, Busy> {
        if let Ok(permit) = self.slots.clone().try_acquire_owned() {
            return Ok(permit);
        }
        let _spot = QueueSpot::take(&self.waiting, self.policy.max_queued).ok_or(Busy)?;
        let permit = tokio::time::timeout_at(deadline, self.slots.clone().acquire_owned()).await;
        permit.ok().and_then(Result::ok).ok_or(Busy)
    }

    /// Whether this gate is what `Gate::new(capacity, policy)` would build, so that a new
    /// version of a bot can keep admitting through it.
    pub fn admits_like(&self, capacity: usize, policy: QueuePolicy) -> bool {
        self.capacity == usable(capacity) && self.policy == policy
    }

    /// Calls running now.
    pub fn in_use(&self) -> usize {
        self.capacity - self.slots.available_permits()
    }
}

/// `capacity` within what a semaphore can count (a sidecar may ask for any number).
fn usable(capacity: usize) -> usize {
    capacity.clamp(1, Semaphore::MAX_PERMITS)
}

/// A place in a gate's wait queue, given back on drop: also when the waiting request is
/// cancelled (its client went away), which would otherwise shrink the queue for good.
struct QueueSpot<'a>(&'a AtomicUsize);

impl<'a> QueueSpot<'a> {
    fn take(waiting: &'a AtomicUsize, max_queued: usize) -> Option<Self> {
        let spot = Self(waiting);
        (waiting.fetch_add(1, Ordering::AcqRel) < max_queued).then_some(spot)
    }
}

impl Drop for QueueSpot<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

/// The slots a running call holds (its bot's and the host's); freed on drop.
#[derive(Debug)]
pub struct Admitted {
    _bot: OwnedSemaphorePermit,
    _host: OwnedSemaphorePermit,
    _body: Option<BodyShare>,
}

impl Admitted {
    /// The same slots, also holding the request's share of the body budget until the
    /// call ends (the host keeps the request that long).
    pub fn holding(self, body: BodyShare) -> Self {
        Self { _body: Some(body), ..self }
    }
}

/// Enter `bot`'s gate, then the host's. Each gate's queue timeout counts from the arrival,
/// so a request waits at most the longer of the two, not their sum.
pub async fn admit(bot: &Gate, host: &Gate) -> Result<Admitted, Busy> {
    let arrived = Instant::now();
    let bot = bot.enter_by(arrived + bot.policy.timeout).await?;
    let host = host.enter_by(arrived + host.policy.timeout).await?;
    Ok(Admitted { _bot: bot, _host: host, _body: None })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A gate of one slot, taken, and a queue of one, taken by a waiting request.
    async fn full_with_one_waiting() -> (Arc<Gate>, OwnedSemaphorePermit, tokio::task::JoinHandle<bool>) {
        let gate = Arc::new(Gate::new(1, QueuePolicy { max_queued: 1, timeout: Duration::from_secs(5) }));
        let held = gate.enter().await.unwrap();
        let waiter = spawn_waiter(&gate);
        tokio::task::yield_now().await;
        (gate, held, waiter)
    }

    /// A request entering `gate` on its own task; true if it got a slot.
    fn spawn_waiter(gate: &Arc<Gate>) -> tokio::task::JoinHandle<bool> {
        let gate = gate.clone();
        tokio::spawn(async move { gate.enter().await.is_ok() })
    }

    #[tokio::test(start_paused = true)]
    async fn waits_for_a_slot_then_gives_up() {
        let gate = Gate::new(1, QueuePolicy { max_queued: 1, timeout: Duration::from_secs(2) });
        let held = gate.enter().await.unwrap();
        assert_eq!(gate.in_use(), 1);
        let start = tokio::time::Instant::now();
        assert_eq!(gate.enter().await.unwrap_err(), Busy);
        assert_eq!(start.elapsed(), Duration::from_secs(2));
        drop(held);
        assert!(gate.enter().await.is_ok());
    }

    #[tokio::test(start_paused = true)]
    async fn a_full_queue_refuses_at_once() {
        let (gate, _held, waiter) = full_with_one_waiting().await;
        let start = tokio::time::Instant::now();
        assert_eq!(gate.enter().await.unwrap_err(), Busy);
        assert_eq!(start.elapsed(), Duration::ZERO);
        waiter.abort();
    }

    #[tokio::test(start_paused = true)]
    async fn a_cancelled_waiter_gives_back_its_queue_place() {
        let (gate, held, waiter) = full_with_one_waiting().await;
        assert_eq!(gate.waiting.load(Ordering::Acquire), 1);
        waiter.abort();
        assert!(waiter.await.unwrap_err().is_cancelled());
        assert_eq!(gate.waiting.load(Ordering::Acquire), 0, "the aborted request left the queue");
        let next = spawn_waiter(&gate);
        tokio::task::yield_now().await;
        drop(held);
        assert!(next.await.unwrap(), "the queue still takes a waiter");
    }

    #[tokio::test(start_paused = true)]
    async fn admission_waits_at_most_one_queue_timeout_in_all() {
        let policy = QueuePolicy { max_queued: 4, timeout: Duration::from_secs(2) };
        let (bot, host) = (Arc::new(Gate::new(1, policy)), Gate::new(1, policy));
        let bot_held = bot.enter().await.unwrap();
        let _host_held = host.enter().await.unwrap();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(1500)).await;
            drop(bot_held);
        });
        let start = Instant::now();
        assert_eq!(admit(&bot, &host).await.unwrap_err(), Busy);
        assert_eq!(start.elapsed(), Duration::from_secs(2), "not 1.5 s + 2 s");
    }

    #[test]
    fn any_configured_capacity_makes_a_gate() {
        assert_eq!(Gate::new(usize::MAX, QueuePolicy::default()).capacity, Semaphore::MAX_PERMITS);
        assert_eq!(Gate::new(0, QueuePolicy::default()).capacity, 1);
    }

    #[tokio::test(start_paused = true)]
    async fn a_freed_slot_goes_to_the_waiter() {
        let gate = Arc::new(Gate::new(1, QueuePolicy::default()));
        let held = gate.enter().await.unwrap();
        let waiter = spawn_waiter(&gate);
        tokio::time::sleep(Duration::from_millis(100)).await;
        drop(held);
        assert!(waiter.await.unwrap());
    }
}
