//! Test harness: start a host in-process on an ephemeral port with chosen bots and
//! sidecars, send Poe requests, and parse SSE strictly (CRLF framing, one data line).

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use poe_host::bots::sidecar::HostDefaults;
use poe_host::capabilities::bot_query::client::PoeApi;
use poe_host::capabilities::bot_query::config::{BotQueryConfig, QueryLimits};
use poe_host::capabilities::platform::config::{DEFAULT_UPLOAD_BASE, PlatformConfig};
use poe_host::http::body::DEFAULT_BODY_BYTES_IN_FLIGHT;
use poe_host::http::connection::{ConnectionLimits, DEFAULT_WRITE_TIMEOUT};
use poe_host::http::routes::{DEFAULT_MAX_BODY, DEFAULT_READ_TIMEOUT};
use poe_host::sandbox::admission::QueuePolicy;
use poe_host::sandbox::limits::Limits;
use poe_host::{guest::engine::EngineOptions, http::auth::AccessKey, http::server};
use serde_json::{Value, json};

/// Paths of the guest bots built by `build.rs`.
pub mod guests {
    include!(concat!(env!("OUT_DIR"), "/guests.rs"));
}

/// The echo bot as built against `poe:bot@0.1.0` (committed, never rebuilt).
pub const OLD_ECHO: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures/wit-0.1.0/echo.wasm");
/// The showcase bot as built against `poe:bot@0.1.0`.
pub const OLD_SHOWCASE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures/wit-0.1.0/showcase.wasm");
/// `allcaps` as built against `poe:bot@0.1.1` (calls other bots).
pub const OLD_ALLCAPS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures/wit-0.1.1/allcaps.wasm");
/// `relay` as built against `poe:bot@0.1.1` (outbound HTTP).
pub const OLD_RELAY: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures/wit-0.1.1/relay.wasm");

/// The key test hosts use unless told otherwise (32 characters, like Poe's).
pub const KEY: &str = "test-key-0123456789abcdefghijklm";
/// The admin key of every test host.
pub const ADMIN_KEY: &str = "admin-key-0123456789abcdefghijkl";

/// How a test host is set up.
pub struct Options {
    /// `(name, wasm path)` of each bot to serve.
    pub bots: Vec<(&'static str, &'static str)>,
    /// `(name, toml text)` sidecars to write.
    pub sidecars: Vec<(&'static str, String)>,
    /// `(file name, target)` symlinks to make in the bots directory, e.g. a sidecar that
    /// points at a FIFO.
    pub links: Vec<(&'static str, PathBuf)>,
    /// The default key (`POE_ACCESS_KEY`).
    pub key: Option<&'static str>,
    /// `--allow-without-key`.
    pub allow_without_key: bool,
    /// Default limits.
    pub limits: Limits,
    /// Instance pool size.
    pub pool_size: u32,
    /// Body size limit.
    pub max_body: usize,
    /// Header and body read timeout, and how long a connection may be idle.
    pub read_timeout: Duration,
    /// How long a response's write may stay blocked.
    pub write_timeout: Duration,
    /// Connections open at once.
    pub max_connections: usize,
    /// Request body bytes held at once, all requests together.
    pub body_bytes_in_flight: usize,
    /// Compile cache directory (default: one shared by all tests).
    pub cache_dir: Option<PathBuf>,
    /// Compile cache size budget in bytes.
    pub cache_max_bytes: u64,
    /// Queueing at the concurrency caps.
    pub queue: QueuePolicy,
    /// `--poe-api-base`: where bots' calls to other bots go (by default a closed port).
    pub poe_api_base: String,
    /// Bounds of bots' calls to other bots.
    pub bot_query_limits: QueryLimits,
    /// `--poe-upload-base`.
    pub poe_upload_base: String,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            bots: vec![("echo", guests::ECHO), ("showcase", guests::SHOWCASE)],
            sidecars: Vec::new(),
            links: Vec::new(),
            key: Some(KEY),
            allow_without_key: false,
            limits: Limits::default(),
            pool_size: 64,
            max_body: DEFAULT_MAX_BODY,
            read_timeout: DEFAULT_READ_TIMEOUT,
            write_timeout: DEFAULT_WRITE_TIMEOUT,
            max_connections: 1024,
            body_bytes_in_flight: DEFAULT_BODY_BYTES_IN_FLIGHT,
            cache_dir: Some(cache_dir()),
            cache_max_bytes: poe_host::bots::cache::DEFAULT_MAX_BYTES,
            queue: QueuePolicy::default(),
            poe_api_base: "http://127.0.0.1:9/bot/".into(),
            bot_query_limits: QueryLimits::default(),
            poe_upload_base: DEFAULT_UPLOAD_BASE.into(),
        }
    }
}

/// A running host.
pub struct TestHost {
    /// `http://127.0.0.1:PORT`
    pub url: String,
    /// The bots directory.
    pub dir: tempfile::TempDir,
    /// A client with no pooling surprises.
    pub client: reqwest::Client,
}

/// The compiled-bot cache shared by every test, so each bot compiles once per run.
fn cache_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/test-cache")
}

impl TestHost {
    /// A host serving echo and showcase with the default key.
    pub async fn start() -> Self {
        Self::with(Options::default()).await
    }

    /// A host set up as `options` says.
    pub async fn with(options: Options) -> Self {
        Self::try_with(options).await.unwrap()
    }

    /// A host set up as `options` says, or why `build_state` refused to start it.
    pub async fn try_with(options: Options) -> anyhow::Result<Self> {
        let dir = tempfile::tempdir().unwrap();
        for (name, path) in &options.bots {
            std::fs::copy(path, dir.path().join(format!("{name}.wasm"))).unwrap();
        }
        for (name, toml) in &options.sidecars {
            std::fs::write(dir.path().join(format!("{name}.toml")), toml).unwrap();
        }
        for (name, target) in &options.links {
            std::os::unix::fs::symlink(target, dir.path().join(name)).unwrap();
        }
        let config = server::HostConfig {
            bots_dir: dir.path().to_owned(),
            defaults: HostDefaults {
                access_key: options.key.map(AccessKey::new),
                allow_without_key: options.allow_without_key,
                limits: options.limits,
                queue: options.queue,
                bot_query: BotQueryConfig {
                    api: Arc::new(PoeApi::new(&options.poe_api_base)?),
                    limits: options.bot_query_limits,
                    callable_bots: None,
                },
                outbound: Default::default(),
                platform: Arc::new(PlatformConfig::new(
                    Arc::new(PoeApi::new(&options.poe_api_base)?),
                    &options.poe_upload_base,
                )?),
            },
            engine: EngineOptions {
                pool_size: options.pool_size,
                max_memory: options.limits.max_memory,
                cache_dir: options.cache_dir,
                cache_max_bytes: options.cache_max_bytes,
            },
            max_body: options.max_body,
            read_timeout: options.read_timeout,
            max_bot_bytes: poe_host::guest::loader::DEFAULT_MAX_BOT_BYTES,
            watch: true,
            admin_key: Some(AccessKey::new(ADMIN_KEY)),
            // The tests assert how fast limits and disconnects take effect while the other
            // tests keep both cores busy; at the default niceness a CPU-bound test guest
            // would get what those leave. The lane's priority has its own unit test, and
            // its effect is measured by `poe-bench` (isolation).
            lane_niceness: 0,
            connections: ConnectionLimits {
                max_connections: options.max_connections,
                idle_timeout: options.read_timeout,
                write_timeout: options.write_timeout,
            },
            body_bytes_in_flight: options.body_bytes_in_flight,
        };
        let state = server::build_state(&config).await?;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(server::serve(listener, state, std::future::pending()));
        Ok(Self { url, dir, client: reqwest::Client::new() })
    }

    /// The admin view's JSON.
    pub async fn admin(&self) -> Value {
        let url = format!("{}/_admin/bots", self.url);
        let response = self.client.get(url).bearer_auth(ADMIN_KEY).send().await.unwrap();
        assert_eq!(response.status(), 200);
        response.json().await.unwrap()
    }

    /// How long until no call is in flight, within `patience`. Nothing announces a freed
    /// call, so this polls the admin view (every 5 ms).
    pub async fn idle_within(&self, patience: Duration) -> Duration {
        let start = Instant::now();
        while self.admin().await["in_flight"] != serde_json::json!(0) {
            assert!(start.elapsed() < patience, "calls still in flight after {patience:?}");
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        start.elapsed()
    }

    /// Path of `NAME.EXT` in the bots directory.
    pub fn file(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// POST `body` to `/bot` with the default key.
    pub async fn post(&self, bot: &str, body: &Value) -> reqwest::Response {
        self.post_raw(bot, Some(&format!("Bearer {KEY}")), body.to_string()).await
    }

    /// POST raw bytes with an optional `Authorization` header.
    pub async fn post_raw(&self, bot: &str, auth: Option<&str>, body: String) -> reqwest::Response {
        let mut request = self.client.post(format!("{}/{bot}", self.url)).body(body);
        if let Some(auth) = auth {
            request = request.header("authorization", auth);
        }
        request.send().await.unwrap()
    }

    /// Send a query with one user message and return its parsed events.
    pub async fn query(&self, bot: &str, text: &str) -> Vec<Event> {
        self.query_body(bot, &query(text)).await
    }

    /// Send a query body and return its parsed events, checking status and headers.
    pub async fn query_body(&self, bot: &str, body: &Value) -> Vec<Event> {
        let response = self.post(bot, body).await;
        assert_eq!(response.status(), 200);
        assert_eq!(response.headers()["content-type"], "text/event-stream; charset=utf-8");
        parse_sse(&response.bytes().await.unwrap())
    }
}

/// A query body with one user message.
pub fn query(text: &str) -> Value {
    query_messages(json!([{"role": "user", "content": text}]))
}

/// A query body with the given messages.
pub fn query_messages(messages: Value) -> Value {
    json!({
        "version": "1.2", "type": "query", "query": messages,
        "user_id": "u-1", "conversation_id": "c-1", "message_id": "m-1",
    })
}

/// One SSE event: name and parsed data.
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    /// The `event:` name.
    pub name: String,
    /// The `data:` JSON.
    pub data: Value,
}

/// `(name, data)` pairs, for compact assertions.
pub fn pairs(events: &[Event]) -> Vec<(&str, &Value)> {
    events.iter().map(|e| (e.name.as_str(), &e.data)).collect()
}

/// Parse an SSE body strictly: CRLF line ends, `event:` then one `data:` line, blank line.
/// Comments (`: ping`) are skipped.
pub fn parse_sse(body: &[u8]) -> Vec<Event> {
    let text = std::str::from_utf8(body).expect("SSE body is UTF-8");
    assert!(text.ends_with("\r\n\r\n"), "body must end with a blank CRLF line: {text:?}");
    let mut events = Vec::new();
    for block in text.trim_end_matches("\r\n\r\n").split("\r\n\r\n") {
        assert!(!block.replace("\r\n", "").contains('\n'), "bare LF in {block:?}");
        if block.starts_with(':') {
            continue;
        }
        let lines: Vec<&str> = block.split("\r\n").collect();
        assert_eq!(lines.len(), 2, "event must be exactly `event:` + `data:`: {block:?}");
        let name = lines[0].strip_prefix("event: ").expect("event line").to_owned();
        let data =
            serde_json::from_str(lines[1].strip_prefix("data: ").expect("data line")).expect("data is JSON");
        events.push(Event { name, data });
    }
    events
}

/// Assert the stream ends with exactly one `done` whose data is `{}`.
pub fn assert_done_once_at_end(events: &[Event]) {
    let dones = events.iter().filter(|e| e.name == "done").count();
    assert_eq!(dones, 1, "exactly one done: {events:?}");
    assert_eq!(events.last().unwrap(), &Event { name: "done".into(), data: json!({}) });
}

/// Assert the stream ends with fastapi_poe's error for a failed bot (whatever its
/// `raw_response`), then `done`.
pub fn assert_ends_with_unexpected_issue(events: &[Event]) {
    assert_done_once_at_end(events);
    let error = &events[events.len() - 2];
    assert_eq!(error.name, "error", "{events:?}");
    assert_eq!(error.data["allow_retry"], json!(false), "{events:?}");
    assert_eq!(error.data["text"], unexpected_issue()["text"], "{events:?}");
}

/// The error event fastapi_poe sends when the bot fails.
pub fn unexpected_issue() -> Value {
    json!({"allow_retry": false, "text": "The bot encountered an unexpected issue."})
}

/// Path of the workspace root.
pub fn workspace_root() -> &'static Path {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/.."))
}

/// Make a FIFO (named pipe) at `path`.
pub fn mkfifo(path: &Path) {
    let status = std::process::Command::new("mkfifo").arg(path).status().expect("mkfifo runs");
    assert!(status.success(), "mkfifo {}", path.display());
}

/// Peak resident memory of this process so far (`VmHWM`), in bytes.
pub fn peak_rss() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("/proc/self/status");
    let line = status.lines().find(|l| l.starts_with("VmHWM:")).expect("VmHWM line");
    let kib: u64 = line.trim_start_matches("VmHWM:").trim().trim_end_matches("kB").trim().parse().unwrap();
    kib << 10
}

/// The venv's python, which has fastapi-poe 0.0.83. Without it the calling test fails
/// saying how to create it: a missing fastapi_poe must not pass as a skipped test.
pub fn venv_python() -> PathBuf {
    let python = workspace_root().join(".venv/bin/python");
    assert!(
        python.exists(),
        "{} not found: run `scripts/setup.sh` to create the venv with fastapi-poe (needs python3 with venv and pip)",
        python.display()
    );
    python
}

/// Time `f`.
pub async fn timed<T>(f: impl Future<Output = T>) -> (T, Duration) {
    let start = std::time::Instant::now();
    let value = f.await;
    (value, start.elapsed())
}
