//! [`CallBudget`]: what one response's calls to other bots may use together — calls made,
//! streams open at once, bytes read — shared by the response's streams and their tasks.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use super::config::QueryLimits;

/// The budget of one response.
pub struct CallBudget {
    limits: QueryLimits,
    calls: u32,
    streams: Arc<Semaphore>,
    bytes: Arc<ByteBudget>,
}

/// A bound reached; the text names it and its sidecar key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct OverBudget(pub String);

impl CallBudget {
    /// A fresh budget under `limits`.
    pub fn new(limits: QueryLimits) -> Self {
        let streams = Arc::new(Semaphore::new(limits.max_streams as usize));
        let bytes = Arc::new(ByteBudget(AtomicU64::new(limits.max_read_bytes)));
        Self { limits, calls: 0, streams, bytes }
    }

    /// Count one more call: a permit for its stream (held until its task ends) and the
    /// shared byte budget it reads within.
    pub fn start_call(&mut self) -> Result<(OwnedSemaphorePermit, Arc<ByteBudget>), OverBudget> {
        if self.calls >= self.limits.max_calls {
            let n = self.limits.max_calls;
            return Err(OverBudget(format!(
                "a response may call other bots {n} times (bot_query.max_calls)"
            )));
        }
        let Ok(permit) = self.streams.clone().try_acquire_owned() else {
            let n = self.limits.max_streams;
            return Err(OverBudget(format!("{n} calls may stream at once (bot_query.max_streams)")));
        };
        self.calls += 1;
        Ok((permit, self.bytes.clone()))
    }
}

/// Bytes the response's calls may still read, all streams together.
pub struct ByteBudget(AtomicU64);

impl ByteBudget {
    /// Take `n` bytes; false (and nothing taken) when fewer remain.
    pub fn take(&self, n: usize) -> bool {
        let n = n as u64;
        self.0.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |left| left.checked_sub(n)).is_ok()
    }
}
