//! [`BotConfig`]: one bot's settings from its sidecar `NAME.toml`, merged over host-wide
//! defaults. Keeping config beside the bot means dropping a bot is dropping its files.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use serde::Deserialize;

use crate::bots::guest_env::{EnvSource, GuestEnv};
use crate::bots::regular_file::{FileError, RegularFile};
use crate::capabilities::bot_query::config::{BotQueryConfig, BotQueryOverrides};
use crate::capabilities::outbound::config::{OutboundConfig, OutboundOverrides};
use crate::capabilities::platform::config::PlatformConfig;
use crate::http::auth::AccessKey;
use crate::sandbox::admission::QueuePolicy;
use crate::sandbox::limits::{LimitOverrides, Limits};

/// Largest sidecar read: one is a few lines, and anything larger is refused before it is
/// read, like a FIFO or a device in its place.
pub const MAX_SIDECAR_BYTES: u64 = 64 << 10;

/// Host-wide defaults a sidecar can override.
#[derive(Debug, Clone, Default)]
pub struct HostDefaults {
    /// `POE_ACCESS_KEY`: the key of every bot without its own.
    pub access_key: Option<AccessKey>,
    /// Serve bots that have no key at all (any bearer token passes).
    pub allow_without_key: bool,
    /// Limits of every bot without its own.
    pub limits: Limits,
    /// How requests queue when a bot is at its concurrency cap.
    pub queue: QueuePolicy,
    /// Calls to other bots: the client and the bounds of every bot without its own.
    pub bot_query: BotQueryConfig,
    /// Outbound HTTP: the shared client and the bounds of every bot without its own.
    pub outbound: OutboundConfig,
    /// Where uploads and cost calls go.
    pub platform: Arc<PlatformConfig>,
}

/// Everything the host needs to know about one bot besides its code.
#[derive(Debug, Clone, PartialEq)]
pub struct BotConfig {
    /// The key Poe must present; `None` only with `--allow-without-key`.
    pub access_key: Option<AccessKey>,
    /// Insert attachment messages before the guest runs (protocol §6.1).
    pub insert_attachment_messages: bool,
    /// Send the bot's settings to Poe after every load (`poe-host sync-settings`).
    pub sync_settings: bool,
    /// Resource limits.
    pub limits: Limits,
    /// Calls to other bots.
    pub bot_query: BotQueryConfig,
    /// Outbound HTTP: where to, and its bounds.
    pub outbound: Arc<OutboundConfig>,
    /// Where uploads and cost calls go.
    pub platform: Arc<PlatformConfig>,
    /// The environment variables the bot sees.
    pub env: GuestEnv,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct Sidecar {
    access_key: Option<String>,
    insert_attachment_messages: Option<bool>,
    sync_settings: Option<bool>,
    #[serde(default)]
    limits: LimitOverrides,
    #[serde(default)]
    bot_query: BotQueryOverrides,
    #[serde(default)]
    allowed_outbound_hosts: Vec<String>,
    #[serde(default)]
    outbound_http: OutboundOverrides,
    #[serde(default)]
    env: BTreeMap<String, EnvSource>,
}

/// Why a bot's configuration is unusable.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The sidecar exists but cannot be read, is not a regular file, or is too large.
    #[error(transparent)]
    Read(FileError),
    /// The sidecar is not valid TOML for a bot config.
    #[error("invalid {path}: {message}")]
    Invalid {
        /// The sidecar path.
        path: String,
        /// What is wrong (never includes the key).
        message: String,
    },
    /// Neither the sidecar nor the environment gives a key.
    #[error("no access key: set access_key in {path} or POE_ACCESS_KEY, or pass --allow-without-key")]
    NoKey {
        /// The sidecar path that could hold one.
        path: String,
    },
}

/// Read the sidecar for `wasm_path` (same name, `.toml`), if any, and merge it over `defaults`.
pub fn load_config(wasm_path: &Path, defaults: &HostDefaults) -> Result<BotConfig, ConfigError> {
    let path = wasm_path.with_extension("toml");
    let shown = path.display().to_string();
    let sidecar = match RegularFile::read(&path, MAX_SIDECAR_BYTES) {
        Ok(bytes) => {
            parse_sidecar(&bytes).map_err(|message| ConfigError::Invalid { path: shown.clone(), message })?
        }
        Err(e) if e.is_not_found() => Sidecar::default(),
        Err(e) => return Err(ConfigError::Read(e)),
    };
    let access_key =
        sidecar.access_key.as_deref().map(AccessKey::new).or_else(|| defaults.access_key.clone());
    if access_key.is_none() && !defaults.allow_without_key {
        return Err(ConfigError::NoKey { path: shown });
    }
    let limits = defaults
        .limits
        .with_overrides(&sidecar.limits)
        .map_err(|message| ConfigError::Invalid { path: shown.clone(), message })?;
    let bot_query = defaults
        .bot_query
        .with_overrides(&sidecar.bot_query)
        .map_err(|message| ConfigError::Invalid { path: shown.clone(), message })?;
    let outbound = defaults
        .outbound
        .with_overrides(&sidecar.allowed_outbound_hosts, &sidecar.outbound_http)
        .map_err(|message| ConfigError::Invalid { path: shown.clone(), message })?;
    let dir = wasm_path.parent().unwrap_or(Path::new("."));
    let env = GuestEnv::resolve(&sidecar.env, dir)
        .map_err(|message| ConfigError::Invalid { path: shown.clone(), message })?;
    Ok(BotConfig {
        access_key,
        insert_attachment_messages: sidecar.insert_attachment_messages.unwrap_or(true),
        sync_settings: sidecar.sync_settings.unwrap_or(false),
        limits,
        bot_query,
        outbound: Arc::new(outbound),
        platform: defaults.platform.clone(),
        env,
    })
}

/// Parse sidecar bytes; the error message names the problem but never echoes values.
fn parse_sidecar(bytes: &[u8]) -> Result<Sidecar, String> {
    let text = std::str::from_utf8(bytes).map_err(|e| format!("not UTF-8 text: {e}"))?;
    toml::from_str(text).map_err(|e| e.message().to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_keys_are_errors_that_do_not_echo_values() {
        let err = parse_sidecar(b"acces_key = \"hunter2hunter2\"").unwrap_err();
        assert!(err.contains("acces_key"), "{err}");
        assert!(!err.contains("hunter2"), "{err}");
    }

    #[test]
    fn limits_table_overrides_defaults() {
        let s = parse_sidecar(b"[limits]\ntimeout_secs = 5\nmax_memory_mib = 32").unwrap();
        let limits = Limits::default().with_overrides(&s.limits).unwrap();
        assert_eq!(limits.timeout, std::time::Duration::from_secs(5));
        assert_eq!(limits.max_memory, 32 << 20);
    }

    #[test]
    fn out_of_range_limits_are_errors_not_panics() {
        for (text, names) in [
            ("timeout_secs = -1", "timeout_secs"),
            ("timeout_secs = nan", "timeout_secs"),
            ("cpu_budget_secs = inf", "cpu_budget_secs"),
            ("cpu_budget_secs = 1e300", "cpu_budget_secs"),
            ("max_memory_mib = 0", "max_memory_mib"),
            ("max_memory_mib = 18446744073709551615", "max_memory_mib"),
            ("max_memory_mib = 256", "--max-memory-mib (128 MiB)"),
        ] {
            let s = parse_sidecar(format!("[limits]\n{text}").as_bytes()).unwrap();
            let err = Limits::default().with_overrides(&s.limits).unwrap_err();
            assert!(err.contains(names), "{text}: {err}");
        }
    }
}
