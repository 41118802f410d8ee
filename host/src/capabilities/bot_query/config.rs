//! [`BotQueryConfig`]: a bot's bounds on calling other bots, from host-wide defaults (flags)
//! and its sidecar's `[bot_query]` table, and which bots it may call.

use std::sync::Arc;

use serde::Deserialize;

use super::client::PoeApi;

/// Calls to other bots one response may make by default (fastapi_poe's tutorial bots make
/// at most 5, in a code-runner loop).
pub const DEFAULT_MAX_CALLS: u32 = 10;
/// Calls of one response that may stream at once by default (side-by-side bots use 2).
pub const DEFAULT_MAX_STREAMS: u32 = 4;
/// Bytes one response's calls may read from Poe by default, all together.
pub const DEFAULT_MAX_READ_BYTES: u64 = 16 << 20;

/// The bounds of one response's calls.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QueryLimits {
    /// Calls per response.
    pub max_calls: u32,
    /// Calls streaming at once.
    pub max_streams: u32,
    /// Bytes read, all calls together; also the largest one event may be.
    pub max_read_bytes: u64,
}

impl Default for QueryLimits {
    fn default() -> Self {
        Self {
            max_calls: DEFAULT_MAX_CALLS,
            max_streams: DEFAULT_MAX_STREAMS,
            max_read_bytes: DEFAULT_MAX_READ_BYTES,
        }
    }
}

/// Everything a bot's calls need from the host.
#[derive(Debug, Clone, PartialEq)]
pub struct BotQueryConfig {
    /// The shared client and base URL.
    pub api: Arc<PoeApi>,
    /// Bounds per response.
    pub limits: QueryLimits,
    /// The bots it may call (case-insensitive); `None` allows any.
    pub callable_bots: Option<Vec<String>>,
}

impl BotQueryConfig {
    /// Whether `bot` may be called.
    pub fn may_call(&self, bot: &str) -> bool {
        self.callable_bots.as_ref().is_none_or(|bots| bots.iter().any(|b| b.eq_ignore_ascii_case(bot)))
    }

    /// This config with a sidecar's `[bot_query]` table applied; the error names the key.
    pub fn with_overrides(&self, o: &BotQueryOverrides) -> Result<Self, String> {
        let positive = |value: Option<u32>, key: &str, default: u32| match value {
            Some(0) => Err(format!("bot_query.{key} must be at least 1")),
            Some(n) => Ok(n),
            None => Ok(default),
        };
        let max_read_bytes = match o.max_read_mib {
            Some(mib) if !(1..=1024).contains(&mib) => {
                return Err("bot_query.max_read_mib must be 1..=1024".into());
            }
            Some(mib) => mib << 20,
            None => self.limits.max_read_bytes,
        };
        let limits = QueryLimits {
            max_calls: positive(o.max_calls, "max_calls", self.limits.max_calls)?,
            max_streams: positive(o.max_streams, "max_streams", self.limits.max_streams)?,
            max_read_bytes,
        };
        let callable_bots = o.callable_bots.clone().or_else(|| self.callable_bots.clone());
        Ok(Self { api: self.api.clone(), limits, callable_bots })
    }
}

impl Default for BotQueryConfig {
    /// Poe's API with the default bounds; no bot list.
    fn default() -> Self {
        let api = PoeApi::new(super::client::DEFAULT_POE_API_BASE).expect("the default API base is valid");
        Self { api: Arc::new(api), limits: QueryLimits::default(), callable_bots: None }
    }
}

/// The sidecar's `[bot_query]` table.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BotQueryOverrides {
    max_calls: Option<u32>,
    max_streams: Option<u32>,
    max_read_mib: Option<u64>,
    callable_bots: Option<Vec<String>>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> BotQueryConfig {
        let api = Arc::new(PoeApi::new("http://127.0.0.1:9/bot/").unwrap());
        BotQueryConfig { api, limits: QueryLimits::default(), callable_bots: None }
    }

    #[test]
    fn a_sidecar_table_overrides_each_bound_and_names_a_bad_one() {
        let o: BotQueryOverrides =
            toml::from_str("max_calls = 3\nmax_read_mib = 2\ncallable_bots = [\"GPT-4o-Mini\"]").unwrap();
        let c = config().with_overrides(&o).unwrap();
        assert_eq!(
            c.limits,
            QueryLimits { max_calls: 3, max_streams: DEFAULT_MAX_STREAMS, max_read_bytes: 2 << 20 }
        );
        assert!(c.may_call("gpt-4o-mini") && !c.may_call("Claude-3-Haiku"));
        for (text, key) in [
            ("max_calls = 0", "max_calls"),
            ("max_streams = 0", "max_streams"),
            ("max_read_mib = 0", "max_read_mib"),
        ] {
            let o: BotQueryOverrides = toml::from_str(text).unwrap();
            assert!(config().with_overrides(&o).unwrap_err().contains(key), "{text}");
        }
        assert!(toml::from_str::<BotQueryOverrides>("max_cals = 1").is_err());
    }
}
