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

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, LazyLock, Mutex};

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

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

    #[tokio::test]
    async fn a_slot_is_taken_per_turn_and_given_back_on_the_next() {
        let slot = HeavySlot::default();
        let before = HEAVY_SLOTS.available_permits();
        assert!(!slot.is_heavy());
        slot.next_turn().await;
        assert!(slot.is_heavy());
        assert_eq!(HEAVY_SLOTS.available_permits(), before - 1);
        slot.next_turn().await;
        assert_eq!(HEAVY_SLOTS.available_permits(), before - 1, "one slot per call, not one per turn");
        slot.release();
        assert_eq!(HEAVY_SLOTS.available_permits(), before);
    }
}
