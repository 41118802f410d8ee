//! [`Gate`]: admission control. A bounded number of calls run at once (per bot and
//! overall); beyond that, requests wait in a short, bounded queue, and only then get
//! 503 with `Retry-After` — users of other hosts ask for queueing, not instant errors.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// Calls one bot may run at once unless configured (`serve` uses the pool size instead).
pub const DEFAULT_MAX_CONCURRENT_PER_BOT: usize = crate::engine::DEFAULT_POOL_SIZE as usize;
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
        let capacity = capacity.max(1);
        Self { slots: Arc::new(Semaphore::new(capacity)), capacity, waiting: AtomicUsize::new(0), policy }
    }

    /// Take a slot, waiting in the queue if needed. The slot is freed when the permit drops.
    pub async fn enter(&self) -> Result<OwnedSemaphorePermit, Busy> {
        if let Ok(permit) = self.slots.clone().try_acquire_owned() {
            return Ok(permit);
        }
        if self.waiting.fetch_add(1, Ordering::AcqRel) >= self.policy.max_queued {
            self.waiting.fetch_sub(1, Ordering::AcqRel);
            return Err(Busy);
        }
        let permit = tokio::time::timeout(self.policy.timeout, self.slots.clone().acquire_owned()).await;
        self.waiting.fetch_sub(1, Ordering::AcqRel);
        permit.ok().and_then(Result::ok).ok_or(Busy)
    }

    /// Whether this gate is what `Gate::new(capacity, policy)` would build, so that a new
    /// version of a bot can keep admitting through it.
    pub fn admits_like(&self, capacity: usize, policy: QueuePolicy) -> bool {
        self.capacity == capacity.max(1) && self.policy == policy
    }

    /// Calls running now.
    pub fn in_use(&self) -> usize {
        self.capacity - self.slots.available_permits()
    }
}

/// The slots a running call holds (its bot's and the host's); freed on drop.
#[derive(Debug)]
pub struct Admitted {
    _bot: OwnedSemaphorePermit,
    _host: OwnedSemaphorePermit,
}

/// Enter `bot`'s gate, then the host's.
pub async fn admit(bot: &Gate, host: &Gate) -> Result<Admitted, Busy> {
    let bot = bot.enter().await?;
    let host = host.enter().await?;
    Ok(Admitted { _bot: bot, _host: host })
}

#[cfg(test)]
mod tests {
    use super::*;

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
        let gate = Arc::new(Gate::new(1, QueuePolicy { max_queued: 1, timeout: Duration::from_secs(5) }));
        let _held = gate.enter().await.unwrap();
        let waiter = tokio::spawn({
            let gate = gate.clone();
            async move { gate.enter().await.map(|_| ()) }
        });
        tokio::task::yield_now().await;
        let start = tokio::time::Instant::now();
        assert_eq!(gate.enter().await.unwrap_err(), Busy);
        assert_eq!(start.elapsed(), Duration::ZERO);
        waiter.abort();
    }

    #[tokio::test(start_paused = true)]
    async fn a_freed_slot_goes_to_the_waiter() {
        let gate = Arc::new(Gate::new(1, QueuePolicy::default()));
        let held = gate.enter().await.unwrap();
        let waiter = tokio::spawn({
            let gate = gate.clone();
            async move { gate.enter().await.is_ok() }
        });
        tokio::time::sleep(Duration::from_millis(100)).await;
        drop(held);
        assert!(waiter.await.unwrap());
    }
}
