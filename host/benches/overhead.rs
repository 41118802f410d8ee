//! Per-request overhead micro-benchmark (issue 5 target: ≤ 15 µs median).
//!
//! Measures what poe-host adds to every query, in process and without HTTP: a fresh
//! instance from the pooling allocator (after the admission gates), the `get-response` call, and SSE encoding of the
//! bot's events through the output channel — `runner::start_query` drained to the end, the
//! same path a real request takes after parsing. Parsing and WIT conversion of the JSON body
//! is measured separately. `scripts/bench.sh` builds the echo bot and runs this with
//! `POE_BENCH_ECHO_WASM` pointing at it.

use std::hint::black_box;
use std::path::PathBuf;
use std::sync::Arc;

use criterion::{Criterion, criterion_main};
use poe_host::bots::cache::ArtifactCache;
use poe_host::bots::sidecar::HostDefaults;
use poe_host::guest::bindings::types::QueryRequest;
use poe_host::guest::engine::{EngineOptions, new_engine, new_linker, spawn_epoch_ticker};
use poe_host::guest::loader::{BotLoader, LoadedBot};
use poe_host::guest::runner::start_query;
use poe_host::protocol::{Request, parse_request};
use poe_host::sandbox::admission::{Gate, QueuePolicy, admit};
use poe_host::sandbox::limits::DEFAULT_MAX_MEMORY;

const BODY: &[u8] = br#"{"version":"1.2","type":"query","query":[{"role":"user","content":"hello"}],"user_id":"u","conversation_id":"c","message_id":"m"}"#;
const ECHO_REPLY: &[u8] = b"event: text\r\ndata: {\"text\":\"hello\"}\r\n\r\nevent: done\r\ndata: {}\r\n\r\n";

fn echo_path() -> PathBuf {
    let Some(path) = std::env::var_os("POE_BENCH_ECHO_WASM") else {
        panic!(
            "POE_BENCH_ECHO_WASM is not set: build the echo bot with \
             `cargo build --release --target wasm32-wasip2 -p echo` and point it at \
             target/wasm32-wasip2/release/echo.wasm (scripts/bench.sh does both)"
        );
    };
    let path = PathBuf::from(path);
    assert!(path.exists(), "POE_BENCH_ECHO_WASM={} does not exist", path.display());
    path
}

fn load_echo() -> Arc<LoadedBot> {
    let options =
        EngineOptions { pool_size: 64, max_memory: DEFAULT_MAX_MEMORY, cache_dir: None, cache_max_bytes: 0 };
    let engine = new_engine(&options).expect("engine");
    spawn_epoch_ticker(&engine);
    let linker = new_linker(&engine).expect("linker");
    let cache = ArtifactCache::new(&engine, None, 0).expect("cache");
    let defaults = HostDefaults { access_key: None, allow_without_key: true, ..Default::default() };
    let loader = BotLoader::new(engine, linker, defaults, cache);
    Arc::new(loader.load("echo", &echo_path(), None).expect("echo.wasm loads"))
}

fn query() -> QueryRequest {
    match parse_request(BODY).expect("valid body") {
        Request::Query(q) => (*q).into(),
        _ => unreachable!("the body is a query"),
    }
}

/// The bot's and the host's concurrency gates, as the server holds them.
struct Gates {
    bot: Gate,
    host: Gate,
}

/// One whole query: admission, instantiate, call, encode, drain every event.
async fn one_request(gates: &Gates, bot: &Arc<LoadedBot>, request: QueryRequest) -> usize {
    let admitted = admit(&gates.bot, &gates.host).await.expect("a free slot");
    let mut events = start_query(bot.clone(), request, admitted);
    let mut bytes = 0;
    while let Some(event) = events.recv().await {
        bytes += black_box(event).len();
    }
    bytes
}

fn overhead(c: &mut Criterion) {
    let bot = load_echo();
    let request = query();
    let gates =
        Gates { bot: Gate::new(64, QueuePolicy::default()), host: Gate::new(64, QueuePolicy::default()) };
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
    assert_eq!(
        rt.block_on(one_request(&gates, &bot, request.clone())),
        ECHO_REPLY.len(),
        "echo reply changed"
    );
    let mut group = c.benchmark_group("overhead");
    group.bench_function("echo_request", |b| {
        b.iter(|| rt.block_on(one_request(&gates, &bot, black_box(request.clone()))));
    });
    group.bench_function("parse_request", |b| b.iter(|| black_box(query())));
    group.finish();
}

/// A private module: `criterion_group!` generates a public fn without docs.
mod group {
    criterion::criterion_group!(benches, super::overhead);
}

criterion_main!(group::benches);
