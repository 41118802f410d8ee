//! The relay scenario (the Bot Query issue): `allcaps` on poe-host against the same bot written
//! with fastapi_poe under uvicorn (tests/bench/fastapi_allcaps.py), both calling one local
//! upstream (`upstream.rs`) that streams Poe SSE. fastapi_poe runs twice: as the tutorial
//! writes the bot (a new httpx client per call) and with one shared client (its best case,
//! for throughput only: httpx pools 100 connections, fewer than the open relays). Three numbers:
//! - relayed answers per second, closed loop, the upstream bursting `RELAY_CHUNKS` chunks;
//! - latency per chunk: upstream wrote it → the client read it relayed, with the upstream
//!   alone (the client reading it directly) as the floor, so the difference is what the relay adds;
//! - memory with `relay_streams` relays open at once, each holding its upstream stream.

use std::time::Duration;

use anyhow::Context;
use bytes::BytesMut;
use http_body_util::BodyExt;
use hyper::StatusCode;
use tokio::time::Instant;

use crate::load::{self, Conn, Expect, OpenWhen, Target, count_events};
use crate::procs::{HostOptions, Server};
use crate::scenarios::{EchoRun, Env, OpenRun, Plan, System, interleaved};
use crate::stats::Latencies;
use crate::upstream::now_nanos;

/// Chunks per relayed answer in the throughput runs.
pub const RELAY_CHUNKS: usize = 10;
/// The burst command and the last chunk as the relay upper-cases it.
const BURST: &str = "burst 10";
const LAST_CHUNK: &str = "CHUNK 9 ";
/// Chunks per answer, and the upstream's gap between them, in the latency runs: far enough
/// apart that each chunk travels alone.
const PACED_CHUNKS: usize = 20;
const PACED: &str = "paced 20 2";
/// The bot allcaps calls, as the upstream's path.
const CALLED: &str = "/bot/GPT-4o-Mini";

/// Upstream write → client read, per chunk.
#[derive(Debug)]
pub struct ChunkLatency {
    /// The upstream read directly, poe-host, or fastapi_poe.
    pub system: System,
    /// One sample per chunk.
    pub latencies: Latencies,
    /// Whole answers that arrived complete, and those that did not.
    pub ok: u64,
    /// See `ok`.
    pub errors: u64,
}

/// Everything the relay scenario measured.
#[derive(Debug)]
pub struct Relay {
    /// Relayed answers per second.
    pub throughput: Vec<EchoRun>,
    /// Per-chunk latency, the upstream alone first.
    pub latency: Vec<ChunkLatency>,
    /// Memory with many relays open.
    pub open: Vec<OpenRun>,
}

/// Run the relay scenario: one upstream, poe-host with allcaps, fastapi_poe's allcaps.
pub async fn relay(env: &Env, plan: &Plan) -> anyhow::Result<Relay> {
    let upstream = Server::upstream(&env.key, env.work.join("relay-upstream.log")).await?;
    let base = format!("http://{}/bot/", upstream.addr);
    let (host, fastapi, shared) = start_relays(env, plan, &base).await?;
    let throughput = throughput(
        env,
        plan,
        [(System::Host, &host), (System::FastApi, &fastapi), (System::FastApiShared, &shared)],
    )
    .await;
    let mut latency = vec![];
    for (system, server, path) in [
        (System::Upstream, &upstream, CALLED),
        (System::Host, &host, "/allcaps"),
        (System::FastApi, &fastapi, "/"),
    ] {
        let target = env.target(server, path, PACED, Expect::Contains(vec!["event: done"]));
        chunk_latency(&target, system, plan.warmup).await;
        let r = chunk_latency(&target, system, Duration::from_secs(plan.stream_secs)).await;
        eprintln!("  relay latency {:<14} {} answers, {} errors", system.name(), r.ok, r.errors);
        latency.push(r);
    }
    let mut open = vec![];
    for (system, server, path) in [(System::Host, &host, "/allcaps"), (System::FastApi, &fastapi, "/")] {
        open.push(open_relays(env, plan, system, server, path).await);
    }
    for s in [host, fastapi, shared, upstream] {
        s.stop().await;
    }
    Ok(Relay { throughput, latency, open })
}

async fn start_relays(env: &Env, plan: &Plan, base: &str) -> anyhow::Result<(Server, Server, Server)> {
    let bots = env.work.join("relay-bots");
    std::fs::create_dir_all(&bots).context("cannot create target/poe-bench/relay-bots")?;
    std::fs::copy(&env.allcaps_wasm, bots.join("allcaps.wasm")).context("cannot copy allcaps.wasm")?;
    let pool = u32::try_from(plan.relay_streams + 100).unwrap_or(u32::MAX);
    let options = HostOptions {
        bin: &env.host_bin,
        bots: &bots,
        cache: "none",
        pool,
        log: env.work.join("relay-host.log"),
        extra: vec!["--poe-api-base".into(), base.into()],
    };
    let host = Server::host(&options, &env.key).await?;
    let script = env.app_dir.join("fastapi_allcaps.py");
    let log = env.work.join("relay-fastapi.log");
    let fastapi = Server::python_script(&env.python, &script, &["0", base, &env.key], log).await?;
    let log = env.work.join("relay-fastapi-shared.log");
    let shared = Server::python_script(&env.python, &script, &["0", base, &env.key, "shared"], log).await?;
    Ok((host, fastapi, shared))
}

/// Closed loop, `echo_workers` connections, the systems interleaved round by round.
async fn throughput(env: &Env, plan: &Plan, systems: [(System, &Server); 3]) -> Vec<EchoRun> {
    let expect = Expect::Contains(vec![LAST_CHUNK, "event: done"]);
    let path = |s| if s == System::Host { "/allcaps" } else { "/" };
    let targets = systems.map(|(s, server)| (s, env.target(server, path(s), BURST, expect.clone())));
    interleaved(&targets, plan, "relay").await
}

/// Ask `t` for paced answers one after another for `duration`; every chunk's latency.
async fn chunk_latency(t: &Target, system: System, duration: Duration) -> ChunkLatency {
    let mut r = ChunkLatency { system, latencies: Latencies::default(), ok: 0, errors: 0 };
    let deadline = Instant::now() + duration;
    let mut conn = None;
    while Instant::now() < deadline {
        let c = match conn.as_mut() {
            Some(c) => c,
            None => match load::connect(t.addr).await {
                Ok(c) => conn.insert(c),
                Err(_) => {
                    r.errors += 1;
                    tokio::time::sleep(Duration::from_millis(10)).await;
                    continue;
                }
            },
        };
        match stamped_answer(c, t).await {
            Ok(Some(samples)) if samples.len() == PACED_CHUNKS => {
                r.ok += 1;
                samples.into_iter().for_each(|d| r.latencies.push(d));
            }
            Ok(_) => r.errors += 1,
            Err(_) => {
                r.errors += 1;
                conn = None;
            }
        }
    }
    r
}

/// One paced answer: for each chunk, now minus the time its upstream wrote it; `None` if the
/// answer was wrong.
async fn stamped_answer(conn: &mut Conn, t: &Target) -> anyhow::Result<Option<Vec<Duration>>> {
    let response = load::send(conn, t).await?;
    let status = response.status();
    let mut body = response.into_body();
    let (mut buf, mut parsed, mut samples) = (BytesMut::new(), 0, vec![]);
    while let Some(frame) = body.frame().await {
        let Ok(data) = frame?.into_data() else { continue };
        let now = now_nanos();
        buf.extend_from_slice(&data);
        while let Some(end) = find(&buf[parsed..], b"\r\n\r\n") {
            if let Some(sent) = stamp(&buf[parsed..parsed + end]) {
                let nanos = u64::try_from(now.saturating_sub(sent)).unwrap_or(u64::MAX);
                samples.push(Duration::from_nanos(nanos));
            }
            parsed += end + 4;
        }
    }
    Ok((status == StatusCode::OK && t.expect.matches(&buf) && count_events(&buf, 0) > 0).then_some(samples))
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// The `t=NANOS` (or, upper-cased by the relay, `T=NANOS`) stamp in one event.
fn stamp(event: &[u8]) -> Option<u128> {
    let at = event.windows(2).position(|w| w.eq_ignore_ascii_case(b"t="))? + 2;
    let digits: Vec<u8> = event[at..].iter().copied().take_while(u8::is_ascii_digit).collect();
    std::str::from_utf8(&digits).ok()?.parse().ok()
}

/// Open `relay_streams` relays of `hold` at once and read the server's memory.
async fn open_relays(env: &Env, plan: &Plan, system: System, server: &Server, path: &str) -> OpenRun {
    let target = env.target(server, path, "hold", Expect::Events(1));
    let idle = server.memory().unwrap_or_default();
    let patience = Duration::from_secs(180);
    let streams = load::open_streams(&target, plan.relay_streams, 64, patience, OpenWhen::FirstEvent).await;
    let open = server.memory().unwrap_or_default();
    let r = OpenRun {
        system,
        opened: streams.opened,
        failed: streams.failed,
        open_time: streams.open_time,
        idle,
        open,
    };
    eprintln!(
        "  relays open {:<12} {} open, {} failed, {} KiB RSS",
        system.name(),
        r.opened,
        r.failed,
        r.open.rss_kib
    );
    streams.release().await;
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stamp_is_read_whatever_its_case() {
        assert_eq!(stamp(b"event: text\r\ndata: {\"text\": \"T=1234 \"}"), Some(1234));
        assert_eq!(stamp(b"data: {\"text\":\"t=99 \"}"), Some(99));
        assert_eq!(stamp(b"event: done\r\ndata: {}"), None);
    }
}
