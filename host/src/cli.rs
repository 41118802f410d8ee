//! The command line: `poe-host serve` and `poe-host check`, with every flag documented and
//! settable from the environment.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};

use crate::bots::cache;
use crate::bots::sidecar::HostDefaults;
use crate::capabilities::bot_query::{
    self,
    client::PoeApi,
    config::{BotQueryConfig, QueryLimits},
};
use crate::capabilities::outbound::{
    self,
    allowlist::AllowList,
    client::OutboundClient,
    config::{OutboundConfig, OutboundLimits},
};
use crate::capabilities::platform::{self, config::PlatformConfig};
use crate::guest::engine::{DEFAULT_POOL_SIZE, EngineOptions};
use crate::guest::loader::DEFAULT_MAX_BOT_BYTES;
use crate::http::auth::AccessKey;
use crate::http::body;
use crate::http::connection::{self, ConnectionLimits};
use crate::http::routes::{DEFAULT_MAX_BODY, DEFAULT_READ_TIMEOUT};
use crate::http::server::HostConfig;
use crate::sandbox::admission::{self, QueuePolicy};
use crate::sandbox::lane;
use crate::sandbox::limits::{self, Limits};

/// Address served by default: loopback only, so nothing is exposed by accident.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:8080";

/// Serve Poe chat bots compiled as WebAssembly components.
#[derive(Debug, Parser)]
#[command(name = "poe-host", version, about, long_about = None)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve every NAME.wasm in the bots directory at /NAME.
    Serve(Box<ServeArgs>),
    /// Check that a .wasm file is a bot poe-host can serve, and say what is wrong if not.
    Check {
        /// The component to check.
        file: PathBuf,
        /// Keep the compiled bot in this compile cache (give `serve`'s --cache-dir), so a
        /// host started later loads it without compiling: a deploy's warm-up step.
        #[arg(long, env = "POE_HOST_CACHE_DIR")]
        cache_dir: Option<PathBuf>,
    },
    /// Send a bot's settings to Poe, as fastapi_poe does when it starts (or, with --fetch,
    /// ask Poe to fetch them from the running bot). Poe shows new settings only once synced.
    SyncSettings(SyncArgs),
    /// Build a bot into NAME.wasm: a fastapi_poe Python file (with componentize-py) or a Rust
    /// crate's directory (with cargo, for wasm32-wasip2). Copy the result into the bots
    /// directory to serve it.
    Build(BuildArgs),
}

/// Flags of `poe-host build`.
#[derive(Debug, Args)]
pub struct BuildArgs {
    /// The bot's source: a Python file (`bot.py`) or a Rust crate's directory.
    pub src: PathBuf,

    /// Where to write the component [default: NAME.wasm in the current directory].
    #[arg(short, long)]
    pub output: Option<PathBuf>,

    /// The Python with componentize-py installed [default: this checkout's .venv/bin/python,
    /// made by scripts/setup.sh].
    #[arg(long, env = "POE_HOST_PYTHON")]
    pub python: Option<PathBuf>,

    /// The Python SDK directory, holding poe_build.py [default: this checkout's guest-sdk-python].
    #[arg(long, env = "POE_HOST_PYTHON_SDK")]
    pub python_sdk: Option<PathBuf>,

    /// The poe:bot WIT directory [default: this checkout's wit].
    #[arg(long, env = "POE_HOST_WIT")]
    pub wit: Option<PathBuf>,

    /// Where Python builds and bundled packages are cached, so an unchanged bot rebuilds at
    /// once and to the same bytes [default: ~/.cache/poe-host/python].
    #[arg(long, env = "POE_HOST_BUILD_CACHE")]
    pub build_cache: Option<PathBuf>,
}

impl BuildArgs {
    /// The build's options: each flag, or its default.
    pub fn options(self) -> crate::build::BuildOptions {
        let defaults = crate::build::PythonToolchain::default();
        let python = crate::build::PythonToolchain {
            python: self.python.unwrap_or(defaults.python),
            sdk: self.python_sdk.unwrap_or(defaults.sdk),
            wit: self.wit.unwrap_or(defaults.wit),
            cache: self.build_cache.unwrap_or(defaults.cache),
        };
        crate::build::BuildOptions { output: self.output, python }
    }
}

/// Flags of `poe-host sync-settings`.
#[derive(Debug, Args)]
pub struct SyncArgs {
    /// The bot: DIR/NAME.wasm, with its sidecar DIR/NAME.toml (for its access key).
    pub name: String,

    /// Directory of bots.
    #[arg(long, env = "POE_HOST_BOTS", default_value = "./bots")]
    pub bots: PathBuf,

    /// Ask Poe to fetch the settings from the bot's server (which must be running and
    /// reachable by Poe) instead of sending what the bot's get-settings returns.
    #[arg(long)]
    pub fetch: bool,

    /// The bot's name on Poe, when it differs from NAME.
    #[arg(long)]
    pub poe_name: Option<String>,

    /// Access key for a bot whose NAME.toml sets none (prefer the environment variable).
    #[arg(long, env = "POE_ACCESS_KEY", hide_env_values = true)]
    pub access_key: Option<String>,

    /// Poe's API: settings go to `{URL}update_settings/…`.
    #[arg(long, env = "POE_HOST_POE_API_BASE", default_value = bot_query::client::DEFAULT_POE_API_BASE, value_parser = poe_api)]
    pub poe_api_base: Arc<PoeApi>,
}

/// Flags of `poe-host serve`.
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Directory of bots: NAME.wasm is served at /NAME, configured by an optional NAME.toml.
    #[arg(long, env = "POE_HOST_BOTS", default_value = "./bots")]
    pub bots: PathBuf,

    /// Address to listen on; port 0 picks a free port.
    #[arg(long, env = "POE_HOST_LISTEN", default_value = DEFAULT_LISTEN)]
    pub listen: SocketAddr,

    /// Access key for bots whose NAME.toml sets none. Prefer the environment variable:
    /// command lines are visible to other users of the machine.
    #[arg(long, env = "POE_ACCESS_KEY", hide_env_values = true)]
    pub access_key: Option<String>,

    /// Serve bots that have no access key at all; any Bearer token is then accepted.
    #[arg(long, env = "POE_HOST_ALLOW_WITHOUT_KEY")]
    pub allow_without_key: bool,

    /// Seconds one response may take, waiting included.
    #[arg(long, env = "POE_HOST_TIMEOUT_SECS", default_value_t = limits::DEFAULT_TIMEOUT.as_secs_f64(), value_parser = seconds)]
    pub timeout_secs: f64,

    /// Seconds of CPU one call may spend running wasm.
    #[arg(long, env = "POE_HOST_CPU_BUDGET_SECS", default_value_t = limits::DEFAULT_CPU_BUDGET.as_secs_f64(), value_parser = seconds)]
    pub cpu_budget_secs: f64,

    /// Linear memory one bot instance may use, in MiB.
    #[arg(long, env = "POE_HOST_MAX_MEMORY_MIB", default_value_t = limits::DEFAULT_MAX_MEMORY >> 20, value_parser = mebibytes)]
    pub max_memory_mib: usize,

    /// Events one response may contain.
    #[arg(long, env = "POE_HOST_MAX_EVENTS", default_value_t = limits::DEFAULT_MAX_EVENTS)]
    pub max_events: u64,

    /// Bytes of event data one response may contain.
    #[arg(long, env = "POE_HOST_MAX_OUTPUT_BYTES", default_value_t = limits::DEFAULT_MAX_OUTPUT_BYTES)]
    pub max_output_bytes: u64,

    /// Where bots' calls to other bots go: `{URL}{bot_name}`, fastapi_poe's `base_url`.
    #[arg(long, env = "POE_HOST_POE_API_BASE", default_value = bot_query::client::DEFAULT_POE_API_BASE, value_parser = poe_api)]
    pub poe_api_base: Arc<PoeApi>,

    /// Where bots' file uploads go: `{URL}file_upload_3RD_PARTY_POST` (fastapi_poe's
    /// `base_url` of `post_message_attachment`). Cost calls go to `{--poe-api-base}cost/…`.
    #[arg(long, env = "POE_HOST_POE_UPLOAD_BASE", default_value = platform::config::DEFAULT_UPLOAD_BASE, value_parser = upload_base)]
    pub poe_upload_base: String,

    /// Calls to other bots one response may make (a sidecar's [bot_query] max_calls overrides).
    #[arg(long, env = "POE_HOST_BOT_QUERY_MAX_CALLS", default_value_t = bot_query::config::DEFAULT_MAX_CALLS, value_parser = clap::value_parser!(u32).range(1..))]
    pub bot_query_max_calls: u32,

    /// Calls to other bots one response may stream at once (sidecar: max_streams).
    #[arg(long, env = "POE_HOST_BOT_QUERY_MAX_STREAMS", default_value_t = bot_query::config::DEFAULT_MAX_STREAMS, value_parser = clap::value_parser!(u32).range(1..))]
    pub bot_query_max_streams: u32,

    /// MiB one response's calls to other bots may read, all together; also the largest
    /// event accepted (sidecar: max_read_mib).
    #[arg(long, env = "POE_HOST_BOT_QUERY_MAX_READ_MIB", default_value_t = bot_query::config::DEFAULT_MAX_READ_BYTES >> 20, value_parser = clap::value_parser!(u64).range(1..=1024))]
    pub bot_query_max_read_mib: u64,

    /// Outbound HTTP requests one response may make (sidecar: [outbound_http] max_requests).
    #[arg(long, env = "POE_HOST_HTTP_MAX_REQUESTS", default_value_t = outbound::config::DEFAULT_MAX_REQUESTS, value_parser = clap::value_parser!(u32).range(1..))]
    pub http_max_requests: u32,

    /// Of those, open at once (sidecar: max_concurrent).
    #[arg(long, env = "POE_HOST_HTTP_MAX_CONCURRENT", default_value_t = outbound::config::DEFAULT_MAX_CONCURRENT, value_parser = clap::value_parser!(u32).range(1..))]
    pub http_max_concurrent: u32,

    /// Seconds an outbound connection may take to open (host-wide: one client serves every bot).
    #[arg(long = "http-connect-timeout-secs", env = "POE_HOST_HTTP_CONNECT_TIMEOUT_SECS", default_value = "10", value_parser = outbound_client)]
    pub outbound_client: Arc<OutboundClient>,

    /// Seconds an outbound request may wait for its response's headers, connecting
    /// included (sidecar: first_byte_timeout_secs; a guest may ask for less).
    #[arg(long, env = "POE_HOST_HTTP_FIRST_BYTE_TIMEOUT_SECS", default_value_t = outbound::config::DEFAULT_FIRST_BYTE_TIMEOUT.as_secs_f64(), value_parser = seconds)]
    pub http_first_byte_timeout_secs: f64,

    /// Longest silence, in seconds, inside an outbound response's body (sidecar:
    /// between_bytes_timeout_secs; a guest may ask for less).
    #[arg(long, env = "POE_HOST_HTTP_BETWEEN_BYTES_TIMEOUT_SECS", default_value_t = outbound::config::DEFAULT_BETWEEN_BYTES_TIMEOUT.as_secs_f64(), value_parser = seconds)]
    pub http_between_bytes_timeout_secs: f64,

    /// MiB one outbound response body may carry (sidecar: max_response_mib).
    #[arg(long, env = "POE_HOST_HTTP_MAX_RESPONSE_MIB", default_value_t = outbound::config::DEFAULT_MAX_RESPONSE_BYTES >> 20, value_parser = clap::value_parser!(u64).range(1..=1024))]
    pub http_max_response_mib: u64,

    /// Largest request body accepted, in bytes (413 beyond it).
    #[arg(long, env = "POE_HOST_MAX_BODY_BYTES", default_value_t = DEFAULT_MAX_BODY)]
    pub max_body_bytes: usize,

    /// Seconds a client may take to send a request's headers (the connection is then
    /// closed), and again its body (408); also how long a connection may stay open with
    /// no request in flight, whatever it sends (keep-alive, HTTP/2, or nothing at all).
    #[arg(long, env = "POE_HOST_READ_TIMEOUT_SECS", default_value_t = DEFAULT_READ_TIMEOUT.as_secs_f64(), value_parser = seconds)]
    pub read_timeout_secs: f64,

    /// Connections open at once; past it a new connection gets 503 and is closed (logged
    /// once while it lasts). Lowered at start to what the file-descriptor limit allows.
    #[arg(long, env = "POE_HOST_MAX_CONNECTIONS", default_value_t = connection::DEFAULT_MAX_CONNECTIONS)]
    pub max_connections: usize,

    /// How long a response's write may stay blocked on a client that stopped reading
    /// before its connection is dropped and its call cancelled.
    #[arg(long, env = "POE_HOST_WRITE_TIMEOUT_SECS", default_value_t = connection::DEFAULT_WRITE_TIMEOUT.as_secs_f64(), value_parser = seconds)]
    pub write_timeout_secs: f64,

    /// Request body bytes the host holds at once, all requests together (each request's
    /// share is held until its call ends); past it a request gets 503 at once.
    #[arg(long, env = "POE_HOST_BODY_BYTES_IN_FLIGHT", default_value_t = body::DEFAULT_BODY_BYTES_IN_FLIGHT)]
    pub body_bytes_in_flight: usize,

    /// Calls one bot may run at once; more wait in a queue (sidecar: max_concurrent).
    /// Defaults to --pool-size: one busy bot may use the whole pool.
    #[arg(long, env = "POE_HOST_MAX_CONCURRENT_PER_BOT")]
    pub max_concurrent_per_bot: Option<usize>,

    /// Requests that may wait for a slot, per bot and host-wide; more get 503 at once.
    #[arg(long, env = "POE_HOST_MAX_QUEUED", default_value_t = admission::DEFAULT_MAX_QUEUED)]
    pub max_queued: usize,

    /// Milliseconds a request waits for a slot before 503 with Retry-After.
    #[arg(long, env = "POE_HOST_QUEUE_TIMEOUT_MS", default_value_t = admission::DEFAULT_QUEUE_TIMEOUT.as_millis() as u64)]
    pub queue_timeout_ms: u64,

    /// Bot instances that can run at once across all bots (the instance pool size).
    #[arg(long, env = "POE_HOST_POOL_SIZE", default_value_t = DEFAULT_POOL_SIZE)]
    pub pool_size: u32,

    /// Largest bot file loaded, in MiB; a larger NAME.wasm is refused before it is read.
    /// Raise it for components that bundle a whole language runtime.
    #[arg(long, env = "POE_HOST_MAX_BOT_FILE_MIB", default_value_t = DEFAULT_MAX_BOT_BYTES >> 20,
          value_parser = clap::value_parser!(u64).range(1..=MAX_BOT_FILE_MIB))]
    pub max_bot_file_mib: u64,

    /// Do not watch the bots directory: bots load once at start.
    #[arg(long, env = "POE_HOST_NO_WATCH")]
    pub no_watch: bool,

    /// Key for the admin status view at /_admin/bots; the view is off when unset.
    #[arg(long, env = "POE_HOST_ADMIN_KEY", hide_env_values = true)]
    pub admin_key: Option<String>,

    /// Directory for compiled bots, so restarts do not recompile; "none" disables it.
    #[arg(long, env = "POE_HOST_CACHE_DIR", default_value_os_t = default_cache_dir())]
    pub cache_dir: PathBuf,

    /// MiB of compiled bots the cache keeps; beyond it, entries no loaded bot uses are
    /// evicted, least recently used first (entries in use are always kept).
    #[arg(long, env = "POE_HOST_CACHE_MAX_MIB", default_value_t = cache::DEFAULT_MAX_BYTES >> 20)]
    pub cache_max_mib: u64,

    /// OS niceness (0-19) of the threads that run CPU-bound calls once they pass their
    /// first millisecond. 19 gives short requests the CPU first, at the cost of heavy calls
    /// (and noticing their deadline or disconnect) waiting while the host is saturated;
    /// 0 runs them at normal priority. Linux only.
    #[arg(long, env = "POE_HOST_LANE_NICENESS", default_value_t = lane::DEFAULT_NICENESS,
          value_parser = clap::value_parser!(i32).range(0..=19))]
    pub lane_niceness: i32,
}

/// Largest `--max-bot-file-mib` accepted: a bot file is read into memory whole.
pub const MAX_BOT_FILE_MIB: u64 = 4096;

/// `--poe-api-base`: an http(s) URL, and the one client every bot's calls share.
fn poe_api(value: &str) -> Result<Arc<PoeApi>, String> {
    PoeApi::new(value).map(Arc::new).map_err(|e| format!("{e:#}"))
}

/// `--poe-upload-base`: an http(s) URL.
fn upload_base(value: &str) -> Result<String, String> {
    let api = PoeApi::new(bot_query::client::DEFAULT_POE_API_BASE).map_err(|e| format!("{e:#}"))?;
    PlatformConfig::new(Arc::new(api), value).map(|_| value.to_owned()).map_err(|e| format!("{e:#}"))
}

/// `--http-connect-timeout-secs`: the one outbound client every bot's requests share.
fn outbound_client(text: &str) -> Result<Arc<OutboundClient>, String> {
    let secs = limits::secs(seconds(text)?)?;
    OutboundClient::new(secs).map(Arc::new).map_err(|e| format!("{e:#}"))
}

/// A `--…-secs` value: a number of seconds that `limits::secs` accepts.
fn seconds(text: &str) -> Result<f64, String> {
    let value: f64 = text.parse().map_err(|_| format!("{text} is not a number"))?;
    limits::secs(value).map(|_| value)
}

/// A `--…-mib` memory value that `limits::memory_mib` accepts.
fn mebibytes(text: &str) -> Result<usize, String> {
    let value: usize = text.parse().map_err(|_| format!("{text} is not a whole number"))?;
    limits::memory_mib(value).map(|_| value)
}

fn default_cache_dir() -> PathBuf {
    std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))
        // Never a shared temporary directory: another user could plant compiled code there.
        .map_or_else(|| PathBuf::from("none"), |base| base.join("poe-host"))
}

impl ServeArgs {
    /// The host configuration these flags describe.
    pub fn host_config(&self) -> HostConfig {
        let limits = Limits {
            timeout: Duration::from_secs_f64(self.timeout_secs),
            cpu_budget: Duration::from_secs_f64(self.cpu_budget_secs),
            max_memory: self.max_memory_mib << 20,
            max_events: self.max_events,
            max_output_bytes: self.max_output_bytes,
            max_concurrent: self.max_concurrent_per_bot.unwrap_or(self.pool_size as usize),
            ..Limits::default()
        };
        let cache_dir = (self.cache_dir.as_os_str() != "none").then(|| self.cache_dir.clone());
        HostConfig {
            bots_dir: self.bots.clone(),
            defaults: HostDefaults {
                access_key: self.access_key.as_deref().map(AccessKey::new),
                allow_without_key: self.allow_without_key,
                limits,
                queue: QueuePolicy {
                    max_queued: self.max_queued,
                    timeout: Duration::from_millis(self.queue_timeout_ms),
                },
                bot_query: BotQueryConfig {
                    api: self.poe_api_base.clone(),
                    limits: QueryLimits {
                        max_calls: self.bot_query_max_calls,
                        max_streams: self.bot_query_max_streams,
                        max_read_bytes: self.bot_query_max_read_mib << 20,
                    },
                    callable_bots: None,
                },
                platform: Arc::new(
                    PlatformConfig::new(self.poe_api_base.clone(), &self.poe_upload_base)
                        .expect("--poe-upload-base was checked when parsed"),
                ),
                outbound: OutboundConfig {
                    client: self.outbound_client.clone(),
                    allow: AllowList::default(),
                    limits: OutboundLimits {
                        max_requests: self.http_max_requests,
                        max_concurrent: self.http_max_concurrent,
                        first_byte_timeout: Duration::from_secs_f64(self.http_first_byte_timeout_secs),
                        between_bytes_timeout: Duration::from_secs_f64(self.http_between_bytes_timeout_secs),
                        max_response_bytes: self.http_max_response_mib << 20,
                    },
                },
            },
            engine: EngineOptions {
                pool_size: self.pool_size,
                max_memory: limits.max_memory,
                cache_dir,
                cache_max_bytes: self.cache_max_mib.saturating_mul(1 << 20),
            },
            max_body: self.max_body_bytes,
            read_timeout: Duration::from_secs_f64(self.read_timeout_secs),
            max_bot_bytes: self.max_bot_file_mib << 20,
            watch: !self.no_watch,
            admin_key: self.admin_key.as_deref().map(AccessKey::new),
            lane_niceness: self.lane_niceness,
            connections: ConnectionLimits {
                max_connections: self.max_connections,
                idle_timeout: Duration::from_secs_f64(self.read_timeout_secs),
                write_timeout: Duration::from_secs_f64(self.write_timeout_secs),
            },
            body_bytes_in_flight: self.body_bytes_in_flight,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn serve(args: &[&str]) -> Result<ServeArgs, clap::Error> {
        let cli = Cli::try_parse_from([&["poe-host", "serve"], args].concat())?;
        let Command::Serve(serve) = cli.command else { unreachable!("serve was asked for") };
        Ok(*serve)
    }

    #[test]
    fn lane_niceness_defaults_to_the_lowest_priority_and_is_range_checked() {
        assert_eq!(serve(&[]).unwrap().host_config().lane_niceness, lane::DEFAULT_NICENESS);
        assert_eq!(serve(&["--lane-niceness", "0"]).unwrap().host_config().lane_niceness, 0);
        assert!(serve(&["--lane-niceness", "20"]).is_err());
        assert!(serve(&["--lane-niceness", "-1"]).is_err());
    }

    #[test]
    fn the_cache_budget_is_given_in_mib_and_defaults_to_a_gibibyte() {
        assert_eq!(serve(&[]).unwrap().host_config().engine.cache_max_bytes, cache::DEFAULT_MAX_BYTES);
        assert_eq!(serve(&["--cache-max-mib", "0"]).unwrap().host_config().engine.cache_max_bytes, 0);
        assert_eq!(serve(&["--cache-max-mib", "3"]).unwrap().host_config().engine.cache_max_bytes, 3 << 20);
        assert!(serve(&["--cache-max-mib", "-1"]).is_err());
    }

    #[test]
    fn limit_flags_out_of_range_are_refused_before_serving() {
        assert_eq!(
            serve(&["--timeout-secs", "0.5"]).unwrap().host_config().defaults.limits.timeout.as_millis(),
            500
        );
        assert_eq!(serve(&[]).unwrap().host_config().read_timeout, DEFAULT_READ_TIMEOUT);
        assert_eq!(serve(&["--read-timeout-secs", "2"]).unwrap().host_config().read_timeout.as_secs(), 2);
        for bad in [
            ["--timeout-secs", "-1"],
            ["--cpu-budget-secs", "nan"],
            ["--cpu-budget-secs", "1e300"],
            ["--read-timeout-secs", "0"],
        ] {
            assert!(serve(&bad).is_err(), "{bad:?}");
        }
        assert!(serve(&["--max-memory-mib", "0"]).is_err());
        assert_eq!(serve(&[]).unwrap().host_config().max_bot_bytes, DEFAULT_MAX_BOT_BYTES);
        assert_eq!(serve(&["--max-bot-file-mib", "200"]).unwrap().host_config().max_bot_bytes, 200 << 20);
        assert!(serve(&["--max-bot-file-mib", "0"]).is_err());
        assert!(serve(&["--max-bot-file-mib", "4097"]).is_err());
        assert!(serve(&["--max-memory-mib", "18446744073709551615"]).is_err());
    }
}
