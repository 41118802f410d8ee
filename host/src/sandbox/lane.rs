//! The background lane: a call that computes past its light phase (see `fairness`) moves to
//! a runtime whose threads run at the lowest OS priority. The kernel then gives the CPU to
//! short calls, HTTP work and everything else on the machine first, and CPU-bound bots get
//! what is left, or every core when nothing else wants it.
//!
//! Heavy slots alone keep one tokio worker for short calls, but the worker running a heavy
//! call still competes with that one (and with whatever else runs on the machine) as an
//! equal in the OS scheduler, and so does a memory hog giving its pages back. Measured
//! (`poe-bench run --only isolation`): echo's saturated capacity next to two looping bots
//! and two memory hogs went from 62% of its capacity alone to 94%; at a fixed 2,000 req/s
//! next to a looping bot, echo's p99 is now that of echo alone (0.56 against 0.63 ms).
//!
//! The price is paid by the heavy calls: while short requests keep every core busy, a call
//! on the lane gets little CPU, so its deadline or its client's disconnect is acted on late
//! too. `--lane-niceness` trades this back (0 runs the lane at normal priority).
//!
//! A call moves at most once, while it is suspended in its epoch yield: its future is
//! boxed, so moving it to another task moves a pointer, and the next poll registers the
//! new task's waker with everything the call waits on (the `Future` contract).

use std::future::{Future, poll_fn};
use std::sync::{LazyLock, OnceLock};
use std::task::Poll;

use tokio::runtime::Runtime;
use tokio::task::JoinHandle;

use crate::sandbox::fairness::HeavySlot;

/// Niceness of the lane's threads unless configured: the lowest priority there is.
pub const DEFAULT_NICENESS: i32 = 19;

/// The niceness the lane was started with (see [`start`]).
static NICENESS: OnceLock<i32> = OnceLock::new();

static LANE: LazyLock<Runtime> = LazyLock::new(|| {
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let niceness = niceness();
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(threads)
        .thread_name("poe-host-heavy")
        .on_thread_start(move || lower_priority(niceness))
        .enable_time()
        .build()
        .expect("starting the background lane's threads at startup")
});

/// Start the lane's threads now, at `niceness` (0 is normal priority, 19 the lowest). The
/// lane serves the whole process, so the first start decides; a different value later is
/// logged and ignored.
pub fn start(niceness: i32) {
    let set = *NICENESS.get_or_init(|| niceness);
    if set != niceness {
        tracing::warn!(set, asked = niceness, "the background lane already runs at another niceness");
    }
    LazyLock::force(&LANE);
}

fn niceness() -> i32 {
    NICENESS.get().copied().unwrap_or(DEFAULT_NICENESS)
}

/// Run `call` on the task that polls the returned future until `slot` says it has turned
/// heavy, then on the background lane; `slot` drives it all along (see
/// [`HeavySlot::poll_call`]).
///
/// The call is boxed here, before the task is spawned, so that spawning moves a pointer
/// rather than the whole call (several KB, measured as 2% of a request in `memcpy`), and it
/// is polled through that box alone: wrapping it in another future by value would hold a
/// second copy of it in every open stream.
pub fn run(
    slot: HeavySlot,
    call: impl Future<Output = ()> + Send + 'static,
) -> impl Future<Output = ()> + Send {
    let mut call = Box::pin(call);
    async move {
        let turned_heavy = poll_fn(|cx| match slot.poll_call(call.as_mut(), cx) {
            Poll::Ready(()) => Poll::Ready(false),
            Poll::Pending if slot.is_heavy() => Poll::Ready(true),
            Poll::Pending => Poll::Pending,
        })
        .await;
        if turned_heavy {
            let moved = async move { poll_fn(|cx| slot.poll_call(call.as_mut(), cx)).await };
            let mut moved = AbortOnDrop(LANE.spawn(moved));
            // A panic in the call is already reported by tokio's hook; there is nothing to add.
            let _ = (&mut moved.0).await;
        }
    }
}

/// Cancels the moved call if whoever awaits it goes away (e.g. the server's runtime).
struct AbortOnDrop(JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// On Linux, `setpriority(PRIO_PROCESS, 0)` applies to the calling thread only; elsewhere it
/// would lower the whole process, so the lane runs at normal priority there.
fn lower_priority(niceness: i32) {
    #[cfg(target_os = "linux")]
    if niceness != 0
        && let Err(e) = rustix::process::setpriority_process(None, niceness)
    {
        tracing::warn!("cannot lower the background lane's priority: {e}");
    }
    #[cfg(not(target_os = "linux"))]
    let _ = niceness;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_light_call_stays_on_its_task() {
        let here = std::thread::current().id();
        let (tx, rx) = tokio::sync::oneshot::channel();
        run(HeavySlot::default(), async move { tx.send(std::thread::current().id()).unwrap() }).await;
        assert_eq!(rx.await.unwrap(), here);
    }

    #[tokio::test]
    async fn a_call_that_turns_heavy_finishes_on_the_lane() {
        let slot = HeavySlot::default();
        let (tx, rx) = tokio::sync::oneshot::channel();
        let turn = slot.clone();
        run(slot, async move {
            turn.next_turn().await;
            let name = std::thread::current().name().map(str::to_owned);
            tx.send(name).unwrap();
        })
        .await;
        assert_eq!(rx.await.unwrap().as_deref(), Some("poe-host-heavy"));
    }

    #[cfg(target_os = "linux")]
    #[tokio::test]
    async fn calls_on_the_lane_run_at_the_lowest_priority() {
        let niceness = LANE
            .spawn(async {
                let stat = std::fs::read_to_string("/proc/thread-self/stat").unwrap();
                // The fields after the parenthesised command name start at field 3; niceness is 19.
                let fields: Vec<&str> = stat.rsplit_once(')').unwrap().1.split_whitespace().collect();
                fields[19 - 3].parse::<i32>().unwrap()
            })
            .await
            .unwrap();
        assert_eq!(niceness, DEFAULT_NICENESS);
    }
}
