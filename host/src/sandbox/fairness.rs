//! CPU fairness between calls: short calls run freely, while a call that has computed for
//! longer than [`LIGHT_TICKS`] must hold one of `cores - 1` *heavy slots* for every further
//! tick. At least one core therefore always serves short requests, and CPU-bound bots take
//! turns on the rest (the semaphore is FIFO, and a slot is given back every tick). A query
//! that turns heavy also moves to the low-priority background `lane`.
//!
//! Slots stay at `cores - 1` even though the lane runs at the lowest OS priority: with one
//! slot per core, two looping bots took echo's p99 at a fixed rate from 1.3 ms to 2.1–2.4 ms,
//! as even a niced thread spinning on every core delays the others' wake-ups.
//!
//! Used by the epoch callback in `ctx`: waiting for a slot is async, so it costs no CPU and
//! does not count against the call's CPU budget (the wall-clock deadline still applies).

use std::future::{Future, poll_fn};
use std::pin::{Pin, pin};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, LazyLock, Mutex};
use std::task::{Context, Poll};
use std::time::Instant;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::sandbox::limits::EPOCH_TICK;

/// Epoch ticks (milliseconds of CPU) a call may run before it counts as heavy. A chat answer
/// takes microseconds (echo: ~15 µs), so one tick is generous; measured at a fixed 2,000 echo
/// req/s next to looping bots and memory hogs, echo's p99 was 9.4 ms with 5 light ticks and
/// 5.6–6.1 ms with 1, as every new attacker call no longer gets 5 ms of a shared core first.
pub const LIGHT_TICKS: u64 = 1;

/// Heavy slots for the whole process: one core is always left to short calls.
static HEAVY_SLOTS: LazyLock<Arc<Semaphore>> = LazyLock::new(|| {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    Arc::new(Semaphore::new(cores.saturating_sub(1).max(1)))
});

/// One call's claim on a heavy slot, shared between its store, the yield future and the
/// task that runs the call (which moves it to the background `lane` once it is heavy).
#[derive(Clone, Default)]
pub struct HeavySlot(Arc<Claim>);

#[derive(Default)]
struct Claim {
    permit: Mutex<Option<OwnedSemaphorePermit>>,
    heavy: AtomicBool,
    /// When the call was last resumed, in nanoseconds since [`START`]; 0 if it is not
    /// polled through [`HeavySlot::poll_call`].
    resumed: AtomicU64,
    /// Nanoseconds the call spent inside its finished polls: the time it computed.
    busy: AtomicU64,
}

/// The origin of [`Claim::resumed`].
static START: LazyLock<Instant> = LazyLock::new(Instant::now);

fn now_nanos() -> u64 {
    u64::try_from(START.elapsed().as_nanos()).unwrap_or(u64::MAX).max(1)
}

impl HeavySlot {
    /// Give back the slot held for the last tick and wait (asynchronously) for one for the
    /// next. Returns the future the epoch callback yields on.
    pub fn next_turn(&self) -> Pin<Box<dyn Future<Output = ()> + Send>> {
        self.0.heavy.store(true, Ordering::Relaxed);
        self.release();
        let slot = self.0.clone();
        Box::pin(async move {
            // Always give the worker back, even when a slot is free at once: otherwise the
            // guest runs on without returning to tokio until the semaphore's coop budget runs
            // out (128 ticks), and the runner cannot see that the client has gone.
            tokio::task::yield_now().await;
            let permit = HEAVY_SLOTS.clone().acquire_owned().await.ok();
            *slot.permit.lock().unwrap_or_else(|p| p.into_inner()) = permit;
        })
    }

    /// Drive `call` (the future of the guest call this slot belongs to) with
    /// [`poll_call`](Self::poll_call).
    pub async fn drive<F: Future>(self, call: F) -> F::Output {
        let mut call = pin!(call);
        poll_fn(|cx| self.poll_call(call.as_mut(), cx)).await
    }

    /// Poll `call`, noting when it is resumed, and give back the slot whenever it stops to
    /// wait for anything but its turn: a call that sleeps or waits for I/O while holding a
    /// slot would keep every other heavy call waiting that long (measured: 1,000 streams
    /// that each sleep 1 s had a 2–5 s p99, as some of them held the one slot through their
    /// sleep).
    pub fn poll_call<F: Future + ?Sized>(&self, call: Pin<&mut F>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let resumed = now_nanos();
        self.0.resumed.store(resumed, Ordering::Relaxed);
        let polled = call.poll(cx);
        self.0.busy.fetch_add(now_nanos().saturating_sub(resumed), Ordering::Relaxed);
        if polled.is_pending() && self.is_heavy() {
            // A turn that is being waited for holds no permit, so this frees only a slot
            // held through some other wait. A light call never holds one.
            self.release();
        }
        polled
    }

    /// Whole epoch ticks the call has computed: the time spent inside its polls, so far
    /// and in the current one. `None` if the call is not polled through
    /// [`poll_call`](Self::poll_call), which leaves the epoch callback to charge a tick each
    /// time it runs. Time spent waiting (sleep, I/O, its turn) is outside any poll, so it is
    /// never charged, yet short bursts between waits still add up: a bot cannot slip under
    /// its budget by sleeping a little between every half millisecond of work.
    pub fn computed_ticks(&self) -> Option<u64> {
        let resumed = self.0.resumed.load(Ordering::Relaxed);
        if resumed == 0 {
            return None;
        }
        let busy = self.0.busy.load(Ordering::Relaxed) + now_nanos().saturating_sub(resumed);
        Some(busy / u64::try_from(EPOCH_TICK.as_nanos()).unwrap_or(u64::MAX).max(1))
    }

    /// Whether the call has computed past its light phase.
    pub fn is_heavy(&self) -> bool {
        self.0.heavy.load(Ordering::Relaxed)
    }

    /// Give back the slot, if held.
    pub fn release(&self) {
        self.0.permit.lock().unwrap_or_else(|p| p.into_inner()).take();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // The slots are process-wide and other tests take them too: these tests look at the
    // call's own claim, not at the semaphore's count.
    #[tokio::test]
    async fn a_slot_is_taken_per_turn_and_given_back_on_the_next() {
        let slot = HeavySlot::default();
        let held = || slot.0.permit.lock().unwrap().is_some();
        assert!(!slot.is_heavy() && !held());
        slot.next_turn().await;
        assert!(slot.is_heavy() && held());
        slot.next_turn().await;
        assert!(held(), "the slot is taken again for the next turn");
        slot.release();
        assert!(!held());
    }

    #[tokio::test]
    async fn a_slot_held_through_a_wait_is_given_back() {
        let slot = HeavySlot::default();
        let turn = slot.clone();
        let (reached, waiting) = tokio::sync::oneshot::channel::<()>();
        let (go, wait) = tokio::sync::oneshot::channel::<()>();
        let call = tokio::spawn(slot.clone().drive(async move {
            turn.next_turn().await;
            assert!(turn.0.permit.lock().unwrap().is_some(), "the call computes with a slot");
            reached.send(()).unwrap();
            wait.await.unwrap(); // e.g. a sleep: not computing
        }));
        waiting.await.unwrap(); // one thread: the call's poll has returned by now
        assert!(slot.0.permit.lock().unwrap().is_none(), "the slot went back while the call waited");
        go.send(()).unwrap();
        call.await.unwrap();
    }

    #[tokio::test]
    async fn waiting_is_not_computing_but_short_bursts_add_up() {
        let slot = HeavySlot::default();
        assert_eq!(slot.computed_ticks(), None, "undriven calls are charged per callback");
        let probe = slot.clone();
        let spin = |d| {
            let start = Instant::now();
            while start.elapsed() < d {}
        };
        let (after_wait, after_bursts) = slot
            .drive(async move {
                // The wait is the stimulus here, not a way to order events: five ticks pass
                // while the call is not being polled.
                tokio::time::sleep(EPOCH_TICK * 5).await;
                let after_wait = probe.computed_ticks();
                for _ in 0..20 {
                    spin(EPOCH_TICK / 4); // a quarter tick of work, then a wait
                    tokio::task::yield_now().await;
                }
                (after_wait, probe.computed_ticks())
            })
            .await;
        assert_eq!(after_wait, Some(0), "five ticks asleep are not five ticks computed");
        assert!(after_bursts >= Some(4), "twenty quarter ticks are five ticks: {after_bursts:?}");
    }
}
