//! The relay scenarios, one per way a bot relays another service:
//! - `relay` (the Bot Query issue): `allcaps` on poe-host against the same bot written with
//!   fastapi_poe under uvicorn (tests/bench/fastapi_allcaps.py), both calling one local upstream
//!   (`upstream.rs`) that streams Poe SSE. fastapi_poe runs twice: as the tutorial writes the
//!   bot (a new httpx client per call) and with one shared client (its best case, for
//!   throughput only: httpx pools 100 connections, fewer than the open relays);
//! - `http-relay` (the outbound HTTP issue): the `relay` example, over `wasi:http`, against the
//!   same bot written with fastapi_poe and one shared httpx client (tests/bench/fastapi_relay.py),
//!   both streaming a chat completion from the upstream's OpenAI-compatible API.
//!
//! Three numbers each:
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
/// The burst command.
pub const BURST: &str = "burst 10";
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

/// How the bot under test relays.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Via {
    /// `allcaps`: another Poe bot, through the Bot Query API.
    BotQuery,
    /// `relay`: an OpenAI-compatible chat API, over outbound HTTP.
    Http,
}

impl Via {
    /// The example bot that relays.
    pub fn bot(self) -> &'static str {
        match self {
            Via::BotQuery => "allcaps",
            Via::Http => "relay",
        }
    }

    /// What it calls, for the report.
    pub fn calls(self) -> &'static str {
        match self {
            Via::BotQuery => "a local upstream Poe bot",
            Via::Http => "a local OpenAI-compatible chat API",
        }
    }

    /// The burst's last chunk as the bot relays it (allcaps upper-cases).
    fn last_chunk(self) -> &'static str {
        match self {
            Via::BotQuery => "CHUNK 9 ",
            Via::Http => "chunk 9 ",
        }
    }
}

/// Everything a relay scenario measured.
#[derive(Debug)]
pub struct Relay {
    /// How the bot relays.
    pub via: Via,
    /// Relayed answers per second.
    pub throughput: Vec<EchoRun>,
    /// Per-chunk latency, the upstream alone first.
    pub latency: Vec<ChunkLatency>,
    /// Memory with many relays open.
    pub open: Vec<OpenRun>,
}

/// Run a relay scenario: one upstream, poe-host with the relaying bot, fastapi_poe's.
pub async fn relay(env: &Env, plan: &Plan, via: Via) -> anyhow::Result<Relay> {
    let name = via.bot();
    let upstream = Server::upstream(&env.key, env.work.join(format!("{name}-upstream.log"))).await?;
    let relays = start_relays(env, plan, via, &upstream).await?;
    let throughput = throughput(env, plan, via, &relays).await;
    let mut latency = vec![];
    // The floor: the same paced stream read directly (from the Poe route: the same generator).
    let floor = [(System::Upstream, &upstream, CALLED)];
    let paced = relays.iter().filter(|(s, ..)| *s != System::FastApiShared || via == Via::Http);
    for (system, server, path) in floor.into_iter().chain(paced.map(|(s, server, path)| (*s, server, *path)))
    {
        let target = env.target(server, path, PACED, Expect::Contains(vec!["event: done"]));
        chunk_latency(&target, system, plan.warmup).await;
        let r = chunk_latency(&target, system, Duration::from_secs(plan.stream_secs)).await;
        eprintln!("  {name} latency {:<14} {} answers, {} errors", system.name(), r.ok, r.errors);
        latency.push(r);
    }
    let mut open = vec![];
    for (system, server, path) in
        relays.iter().filter(|(s, ..)| *s != System::FastApiShared || via == Via::Http)
    {
        open.push(open_relays(env, plan, *system, server, path).await);
    }
    for (_, s, _) in relays {
        s.stop().await;
    }
    upstream.stop().await;
    Ok(Relay { via, throughput, latency, open })
}

/// The systems relaying: each with its server and the path its bot is served at.
type Relays = Vec<(System, Server, &'static str)>;

async fn start_relays(env: &Env, plan: &Plan, via: Via, upstream: &Server) -> anyhow::Result<Relays> {
    let name = via.bot();
    let bots = env.work.join(format!("{name}-bots"));
    std::fs::create_dir_all(&bots).with_context(|| format!("cannot create {}", bots.display()))?;
    let wasm = match via {
        Via::BotQuery => &env.allcaps_wasm,
        Via::Http => &env.relay_wasm,
    };
    std::fs::copy(wasm, bots.join(format!("{name}.wasm")))
        .with_context(|| format!("cannot copy {name}.wasm"))?;
    let (poe_base, chat_base) =
        (format!("http://{}/bot/", upstream.addr), format!("http://{}/v1", upstream.addr));
    if via == Via::Http {
        // Granted exactly the upstream, with its key from the host's environment.
        let sidecar = format!(
            "allowed_outbound_hosts = [\"http://{}\"]\n\
             [env]\nOPENAI_BASE_URL = \"{chat_base}\"\nOPENAI_API_KEY = {{ from_env = \"POE_ACCESS_KEY\" }}\n",
            upstream.addr
        );
        std::fs::write(bots.join(format!("{name}.toml")), sidecar).context("cannot write relay.toml")?;
    }
    let pool = u32::try_from(plan.relay_streams + 100).unwrap_or(u32::MAX);
    let options = HostOptions {
        bin: &env.host_bin,
        bots: &bots,
        cache: "none",
        pool,
        log: env.work.join(format!("{name}-host.log")),
        extra: vec!["--poe-api-base".into(), poe_base.clone()],
    };
    let host = Server::host(&options, &env.key).await?;
    let key = env.key.as_str();
    let mut relays = vec![(System::Host, host, if via == Via::Http { "/relay" } else { "/allcaps" })];
    match via {
        Via::BotQuery => {
            let fastapi =
                python(env, "fastapi_allcaps.py", &["0", &poe_base, key], &format!("{name}-fastapi.log"))
                    .await?;
            relays.push((System::FastApi, fastapi, "/"));
            let args = ["0", &poe_base, key, "shared"];
            let shared =
                python(env, "fastapi_allcaps.py", &args, &format!("{name}-fastapi-shared.log")).await?;
            relays.push((System::FastApiShared, shared, "/"));
        }
        Via::Http => {
            let args = ["0", &chat_base, key, key];
            let shared = python(env, "fastapi_relay.py", &args, &format!("{name}-fastapi.log")).await?;
            relays.push((System::FastApiShared, shared, "/"));
        }
    }
    Ok(relays)
}

/// Start the fastapi_poe `script` in tests/bench with `args`, logging to `log`.
pub async fn python(env: &Env, script: &str, args: &[&str], log: &str) -> anyhow::Result<Server> {
    Server::python_script(&env.python, &env.app_dir.join(script), args, &[], env.work.join(log)).await
}

/// Closed loop, `echo_workers` connections, the systems interleaved round by round.
async fn throughput(env: &Env, plan: &Plan, via: Via, relays: &Relays) -> Vec<EchoRun> {
    let expect = Expect::Contains(vec![via.last_chunk(), "event: done"]);
    let targets: Vec<_> = relays
        .iter()
        .map(|(s, server, path)| (*s, env.target(server, path, BURST, expect.clone())))
        .collect();
    interleaved(&targets, plan, via.bot()).await
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
