//! [`OutboundConfig`]: where a bot may send HTTP requests (`allowed_outbound_hosts`) and
//! the bounds on them, from host-wide defaults (flags) and its sidecar's `[outbound_http]`.

use std::sync::Arc;
use std::time::Duration;

use serde::Deserialize;

use super::allowlist::AllowList;
use super::client::OutboundClient;
use crate::sandbox::limits;

/// Requests one response may make by default: a tool loop, not a crawler.
pub const DEFAULT_MAX_REQUESTS: u32 = 32;
/// Requests one response may have open at once by default.
pub const DEFAULT_MAX_CONCURRENT: u32 = 4;
/// Time to connect and get a response's headers by default; an LLM that is still
/// thinking may take a minute before its first byte.
pub const DEFAULT_FIRST_BYTE_TIMEOUT: Duration = Duration::from_secs(120);
/// Longest silence inside a response body by default.
pub const DEFAULT_BETWEEN_BYTES_TIMEOUT: Duration = Duration::from_secs(60);
/// Largest response body by default.
pub const DEFAULT_MAX_RESPONSE_BYTES: u64 = 16 << 20;
/// Largest request body a bot may send (it is held whole before the request leaves).
pub const MAX_REQUEST_BYTES: u64 = 16 << 20;

/// Bounds on one response's requests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OutboundLimits {
    /// Requests per response.
    pub max_requests: u32,
    /// Requests open at once (until their body is read or dropped).
    pub max_concurrent: u32,
    /// To connect (within the client's connect timeout) and receive the response's headers.
    pub first_byte_timeout: Duration,
    /// Between two chunks of a response body.
    pub between_bytes_timeout: Duration,
    /// Bytes of one response body.
    pub max_response_bytes: u64,
}

impl Default for OutboundLimits {
    fn default() -> Self {
        Self {
            max_requests: DEFAULT_MAX_REQUESTS,
            max_concurrent: DEFAULT_MAX_CONCURRENT,
            first_byte_timeout: DEFAULT_FIRST_BYTE_TIMEOUT,
            between_bytes_timeout: DEFAULT_BETWEEN_BYTES_TIMEOUT,
            max_response_bytes: DEFAULT_MAX_RESPONSE_BYTES,
        }
    }
}

/// Everything a bot's requests need from the host; by default, nowhere to go.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct OutboundConfig {
    /// The client all bots share.
    pub client: Arc<OutboundClient>,
    /// Where the bot may send requests; empty grants nothing.
    pub allow: AllowList,
    /// Bounds per response.
    pub limits: OutboundLimits,
}

impl OutboundConfig {
    /// This config with a sidecar's list and `[outbound_http]` table applied; the error
    /// names the key.
    pub fn with_overrides(&self, hosts: &[String], o: &OutboundOverrides) -> Result<Self, String> {
        let count = |value: Option<u32>, key: &str, default: u32| match value {
            Some(0) => Err(format!("outbound_http.{key} must be at least 1")),
            Some(n) => Ok(n),
            None => Ok(default),
        };
        let secs = |value: Option<f64>, key: &str, default: Duration| match value {
            Some(v) => limits::secs(v).map_err(|e| format!("outbound_http.{key}: {e}")),
            None => Ok(default),
        };
        let max_response_bytes = match o.max_response_mib {
            Some(mib) if !(1..=1024).contains(&mib) => {
                return Err("outbound_http.max_response_mib must be 1..=1024".into());
            }
            Some(mib) => mib << 20,
            None => self.limits.max_response_bytes,
        };
        let d = &self.limits;
        let limits = OutboundLimits {
            max_requests: count(o.max_requests, "max_requests", d.max_requests)?,
            max_concurrent: count(o.max_concurrent, "max_concurrent", d.max_concurrent)?,
            first_byte_timeout: secs(
                o.first_byte_timeout_secs,
                "first_byte_timeout_secs",
                d.first_byte_timeout,
            )?,
            between_bytes_timeout: secs(
                o.between_bytes_timeout_secs,
                "between_bytes_timeout_secs",
                d.between_bytes_timeout,
            )?,
            max_response_bytes,
        };
        Ok(Self { client: self.client.clone(), allow: AllowList::parse(hosts)?, limits })
    }
}

/// The sidecar's `[outbound_http]` table.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OutboundOverrides {
    max_requests: Option<u32>,
    max_concurrent: Option<u32>,
    first_byte_timeout_secs: Option<f64>,
    between_bytes_timeout_secs: Option<f64>,
    max_response_mib: Option<u64>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sidecar_table_overrides_each_bound_and_names_a_bad_one() {
        let o: OutboundOverrides =
            toml::from_str("max_requests = 3\nfirst_byte_timeout_secs = 0.5\nmax_response_mib = 2").unwrap();
        let hosts = vec!["https://api.openai.com".to_owned()];
        let c = OutboundConfig::default().with_overrides(&hosts, &o).unwrap();
        assert_eq!(c.limits.max_requests, 3);
        assert_eq!(c.limits.first_byte_timeout, Duration::from_millis(500));
        assert_eq!(c.limits.max_response_bytes, 2 << 20);
        assert_eq!(c.limits.max_concurrent, DEFAULT_MAX_CONCURRENT);
        assert!(!c.allow.is_empty());
        for (text, key) in [
            ("max_requests = 0", "max_requests"),
            ("max_concurrent = 0", "max_concurrent"),
            ("first_byte_timeout_secs = 0", "first_byte_timeout_secs"),
            ("between_bytes_timeout_secs = -1", "between_bytes_timeout_secs"),
            ("max_response_mib = 0", "max_response_mib"),
        ] {
            let o: OutboundOverrides = toml::from_str(text).unwrap();
            let err = OutboundConfig::default().with_overrides(&[], &o).unwrap_err();
            assert!(err.contains(key), "{text}: {err}");
        }
        let bad = ["api.openai.com".to_owned()];
        assert!(OutboundConfig::default().with_overrides(&bad, &OutboundOverrides::default()).is_err());
        assert!(toml::from_str::<OutboundOverrides>("max_request = 1").is_err());
    }
}
