//! Resource limits for one bot call: how long, how much CPU, memory and output it may use.
//!
//! Host-wide defaults come from `serve` flags; a bot's sidecar may override them.

use std::time::Duration;

use serde::Deserialize;

/// How often the engine's epoch advances; the unit of the CPU budget and of guest yields.
/// A busy guest gives its worker thread back this often, so it bounds how long other
/// requests wait behind a CPU-bound bot.
pub const EPOCH_TICK: Duration = Duration::from_millis(1);
/// Whole-response deadline: Poe's own limit for a response is 600 s.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(600);
/// CPU time a call may spend running wasm (waiting does not count).
pub const DEFAULT_CPU_BUDGET: Duration = Duration::from_secs(30);
/// Linear memory one instance may grow to.
pub const DEFAULT_MAX_MEMORY: usize = 128 << 20;
/// Events one response may contain (Poe's limit is 10 000).
pub const DEFAULT_MAX_EVENTS: u64 = 10_000;
/// Bytes of event data one response may contain.
pub const DEFAULT_MAX_OUTPUT_BYTES: u64 = 16 << 20;
/// Bytes of stdout/stderr one call may write to the host log.
pub const DEFAULT_MAX_LOG_BYTES: usize = 64 << 10;

/// Longest deadline or CPU budget accepted, in seconds: a day (Poe gives a response 600 s).
pub const MAX_SECS: f64 = 86_400.0;
/// Largest memory cap accepted, in MiB: a wasm32 memory's whole address space.
pub const MAX_MEMORY_MIB: usize = 4096;

/// A limit given in seconds, checked: finite, above zero and at most [`MAX_SECS`].
pub fn secs(value: f64) -> Result<Duration, String> {
    if value.is_finite() && value > 0.0 && value <= MAX_SECS {
        Ok(Duration::from_secs_f64(value))
    } else {
        Err(format!("{value} is not a number of seconds above 0 and at most {MAX_SECS}"))
    }
}

/// A memory cap given in MiB, checked (1 to [`MAX_MEMORY_MIB`]), in bytes.
pub fn memory_mib(mib: usize) -> Result<usize, String> {
    if (1..=MAX_MEMORY_MIB).contains(&mib) {
        Ok(mib << 20)
    } else {
        Err(format!("{mib} MiB is not between 1 and {MAX_MEMORY_MIB}"))
    }
}

/// Limits applied to one call of a guest.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Limits {
    /// Wall-clock deadline for the whole call, including time the guest waits.
    pub timeout: Duration,
    /// CPU time the guest may spend executing, counted in epoch ticks.
    pub cpu_budget: Duration,
    /// Maximum linear memory per instance, in bytes.
    pub max_memory: usize,
    /// Maximum events in one response.
    pub max_events: u64,
    /// Maximum bytes of event data in one response.
    pub max_output_bytes: u64,
    /// Maximum bytes of guest stdout/stderr logged per call.
    pub max_log_bytes: usize,
    /// Calls of this bot that may run at once.
    pub max_concurrent: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            timeout: DEFAULT_TIMEOUT,
            cpu_budget: DEFAULT_CPU_BUDGET,
            max_memory: DEFAULT_MAX_MEMORY,
            max_events: DEFAULT_MAX_EVENTS,
            max_output_bytes: DEFAULT_MAX_OUTPUT_BYTES,
            max_log_bytes: DEFAULT_MAX_LOG_BYTES,
            max_concurrent: crate::sandbox::admission::DEFAULT_MAX_CONCURRENT_PER_BOT,
        }
    }
}

impl Limits {
    /// The CPU budget in epoch ticks (at least one).
    pub fn cpu_ticks(&self) -> u64 {
        (self.cpu_budget.as_millis() / EPOCH_TICK.as_millis()).max(1) as u64
    }

    /// These limits with a sidecar's overrides applied, or what is wrong with one. A memory
    /// cap may only lower the host's: every instance slot in the pool is sized by
    /// `--max-memory-mib`.
    pub fn with_overrides(mut self, o: &LimitOverrides) -> Result<Self, String> {
        let field = |name: &'static str| move |e: String| format!("limits.{name}: {e}");
        if let Some(s) = o.timeout_secs {
            self.timeout = secs(s).map_err(field("timeout_secs"))?;
        }
        if let Some(s) = o.cpu_budget_secs {
            self.cpu_budget = secs(s).map_err(field("cpu_budget_secs"))?;
        }
        if let Some(mib) = o.max_memory_mib {
            let bytes = memory_mib(mib).map_err(field("max_memory_mib"))?;
            if bytes > self.max_memory {
                return Err(format!(
                    "limits.max_memory_mib: {mib} MiB is above the host's --max-memory-mib ({} MiB), \
                     which sizes every instance slot; raise the flag instead",
                    self.max_memory >> 20
                ));
            }
            self.max_memory = bytes;
        }
        if let Some(n) = o.max_events {
            self.max_events = n;
        }
        if let Some(n) = o.max_output_bytes {
            self.max_output_bytes = n;
        }
        if let Some(n) = o.max_concurrent {
            self.max_concurrent = n;
        }
        Ok(self)
    }
}

/// Per-bot overrides from the `[limits]` table of a sidecar `NAME.toml`.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct LimitOverrides {
    /// Whole-response deadline in seconds.
    pub timeout_secs: Option<f64>,
    /// CPU budget in seconds.
    pub cpu_budget_secs: Option<f64>,
    /// Memory cap in MiB.
    pub max_memory_mib: Option<usize>,
    /// Event cap.
    pub max_events: Option<u64>,
    /// Output byte cap.
    pub max_output_bytes: Option<u64>,
    /// Concurrent calls cap.
    pub max_concurrent: Option<usize>,
}
