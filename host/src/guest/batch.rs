//! [`Batch`]: the events a guest emits in one turn (between two yields), handed to the
//! client together when the turn ends.
//!
//! A bot that relays a stream emits an event or two for each chunk it reads. Sent one by
//! one, each event woke the connection task and cost its own write, and a loopback write
//! costs about 10 µs of CPU with the reader's wake-up: on `scripts/bench.sh --only
//! http-relay` the writes were a fifth of the host's CPU, 8 per relayed answer of 10 chunks.
//! With batches (and the outbound body handing the guest a burst in one read, see
//! `capabilities::outbound::body`) there are 3: the headers, the answer, the request upstream.
//!
//! So a turn ends when the call is still waiting after one more round of the scheduler in
//! which it emitted nothing: the upstream's next chunk, already on its way through the HTTP
//! client's task, gets that round to arrive, and a burst of chunks leaves in one write. A
//! guest that waits for longer (a paced stream, a timer) has its events sent a round later,
//! microseconds; one that keeps computing has them sent once they are [`MAX_HOLD`] old.
//!
//! [`Output`](super::output::Output) adds to the batch; [`Handover::around`] hands it over
//! when a turn ends. A batch that reaches [`MAX_BATCH`] bytes is sent by `emit` itself,
//! which then waits for the client like any send, so the host holds at most the channel's
//! batches and one being filled.

use std::future::poll_fn;
use std::pin::pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use tokio::sync::mpsc;
use tokio_util::sync::PollSender;

/// A batch is sent as soon as it holds this many bytes; a larger event goes on its own,
/// uncopied.
pub const MAX_BATCH: usize = 64 * 1024;

/// How long a batch may wait for its turn to end: a guest that computes and emits keeps
/// yielding every epoch tick with more to send.
pub const MAX_HOLD: Duration = Duration::from_millis(1);

/// The events of the guest's current turn, shared by its output and the [`Handover`].
#[derive(Clone, Default)]
pub struct Batch(Arc<Mutex<BytesMut>>);

impl Batch {
    /// Add `event`; the whole batch if it is now full, to be sent at once.
    pub fn push(&self, event: &[u8]) -> Option<Bytes> {
        let mut events = self.lock();
        events.extend_from_slice(event);
        (events.len() >= MAX_BATCH).then(|| events.split().freeze())
    }

    /// Everything added since the last take (empty if nothing was).
    pub fn take(&self) -> BytesMut {
        self.lock().split()
    }

    fn len(&self) -> usize {
        self.lock().len()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BytesMut> {
        // Every critical section is a copy or a split, which cannot leave the bytes torn.
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Hands a [`Batch`] to the client's channel at the end of each turn of a call.
pub struct Handover {
    batch: Batch,
    tx: PollSender<Bytes>,
    /// Set while the call waits with a batch: its length then, and since when it waits.
    waiting: Option<(usize, Instant)>,
}

impl Handover {
    /// A handover of `batch` into `tx`.
    pub fn new(batch: Batch, tx: mpsc::Sender<Bytes>) -> Self {
        Self { batch, tx: PollSender::new(tx), waiting: None }
    }

    /// Run `call`, handing over the batch at the end of each turn. What the last turn
    /// emitted is left for the output's `end`, to leave in one write with `done`.
    pub async fn around<F: Future>(mut self, call: F) -> F::Output {
        let mut call = pin!(call);
        poll_fn(|cx| {
            let polled = call.as_mut().poll(cx);
            if polled.is_pending() {
                self.waits(cx);
            }
            polled
        })
        .await
    }

    /// The call waits: hand the batch over if the turn has ended, or give it one more round.
    fn waits(&mut self, cx: &mut Context<'_>) {
        let len = self.batch.len();
        if len == 0 {
            self.waiting = None;
            return;
        }
        let now = Instant::now();
        match &mut self.waiting {
            Some((held, since)) if *held != len && now - *since < MAX_HOLD => {
                *held = len;
                defer(cx);
            }
            Some(_) => self.hand_over(cx),
            None => {
                self.waiting = Some((len, now));
                defer(cx);
            }
        }
    }

    /// Send the batch if the channel has room; otherwise the task is woken when it has, and
    /// the next poll tries again. A client that has gone is `emit`'s to report.
    fn hand_over(&mut self, cx: &mut Context<'_>) {
        if let Poll::Ready(Ok(())) = self.tx.poll_reserve(cx) {
            self.waiting = None;
            let events = self.batch.take();
            if events.is_empty() {
                self.tx.abort_send(); // emit sent it meanwhile, being full
            } else {
                let _ = self.tx.send_item(events.freeze());
            }
        }
    }
}

/// Have the task polled again after every task already woken has run (and the I/O driver
/// has been polled): tokio's `yield_now`, polled once. Also the outbound body's read-ahead
/// gives the upstream its round with it.
pub fn defer(cx: &mut Context<'_>) {
    let _ = pin!(tokio::task::yield_now()).poll(cx);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_full_batch_comes_back_whole_and_the_next_starts_empty() {
        let batch = Batch::default();
        assert_eq!(batch.push(b"a"), None);
        let full = batch.push(&vec![b'x'; MAX_BATCH]).unwrap();
        assert_eq!(full.len(), MAX_BATCH + 1);
        assert!(full.starts_with(b"ax"));
        assert!(batch.take().is_empty());
    }

    #[tokio::test]
    async fn what_a_turn_emits_is_handed_over_when_it_yields_and_the_last_turn_is_kept() {
        let (tx, mut rx) = mpsc::channel(4);
        let batch = Batch::default();
        let (resume, resumed) = tokio::sync::oneshot::channel::<()>();
        let guest = {
            let batch = batch.clone();
            async move {
                batch.push(b"a");
                batch.push(b"b");
                resumed.await.unwrap(); // the turn ends: the guest waits
                batch.push(b"c");
            }
        };
        let call = tokio::spawn(Handover::new(batch.clone(), tx).around(guest));
        assert_eq!(rx.recv().await.unwrap(), Bytes::from_static(b"ab"), "one send for the turn");
        resume.send(()).unwrap();
        call.await.unwrap();
        assert!(rx.try_recv().is_err(), "the last turn is left for `end`");
        assert_eq!(&batch.take()[..], b"c");
    }

    #[tokio::test]
    async fn what_arrives_within_a_round_joins_the_batch() {
        let (tx, mut rx) = mpsc::channel(4);
        let batch = Batch::default();
        let guest = {
            let batch = batch.clone();
            async move {
                batch.push(b"a");
                tokio::task::yield_now().await; // the next chunk was on its way
                batch.push(b"b");
                std::future::pending::<()>().await;
            }
        };
        let call = tokio::spawn(Handover::new(batch, tx).around(guest));
        assert_eq!(rx.recv().await.unwrap(), Bytes::from_static(b"ab"));
        call.abort();
    }

    #[tokio::test]
    async fn a_guest_that_keeps_emitting_has_its_batch_sent_once_it_is_max_hold_old() {
        let (tx, mut rx) = mpsc::channel(4);
        let batch = Batch::default();
        let guest = {
            let batch = batch.clone();
            async move {
                loop {
                    batch.push(b"x");
                    tokio::task::yield_now().await;
                }
            }
        };
        let started = Instant::now();
        let call = tokio::spawn(Handover::new(batch, tx).around(guest));
        let first = rx.recv().await.unwrap();
        assert!(first.len() > 1, "several turns' events in one batch");
        assert!(started.elapsed() >= MAX_HOLD, "{:?}", started.elapsed());
        call.abort();
    }

    #[tokio::test]
    async fn a_full_channel_delays_the_handover_until_it_has_room() {
        let (tx, mut rx) = mpsc::channel(1);
        tx.send(Bytes::from_static(b"earlier")).await.unwrap();
        let batch = Batch::default();
        let guest = {
            let batch = batch.clone();
            async move {
                batch.push(b"a");
                std::future::pending::<()>().await;
            }
        };
        let call = tokio::spawn(Handover::new(batch, tx).around(guest));
        assert_eq!(rx.recv().await.unwrap(), Bytes::from_static(b"earlier"));
        assert_eq!(rx.recv().await.unwrap(), Bytes::from_static(b"a"), "sent once there was room");
        call.abort();
    }
}
