//! Hot reload (the hot-reload issue): how long after a bot file is written does the first
//! request get the new version? One bot file, `bot.wasm`, alternates between echo and
//! showcase; half the writes are an atomic rename of a temp file in the same directory, half
//! an in-place copy (truncate, then write). Each write carries a fresh custom section, so
//! every version is new to the host and must be compiled, as a new build would be.

use std::path::Path;
use std::time::Duration;

use anyhow::Context;
use hyper::StatusCode;
use tokio::time::Instant;

use crate::load::{self, Expect};
use crate::procs::{HostOptions, Server};
use crate::scenarios::{Env, Plan, custom_section};

/// Give up on one swap after this long.
const PATIENCE: Duration = Duration::from_secs(10);

/// Which bot answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Version {
    Echo,
    Showcase,
}

/// How the new file was written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    /// Write `bot.wasm.partial`, then rename it over `bot.wasm`.
    Rename,
    /// `std::fs::copy` onto `bot.wasm` (truncates, then writes).
    Copy,
}

impl Method {
    /// Display name.
    pub fn name(self) -> &'static str {
        match self {
            Method::Rename => "atomic rename",
            Method::Copy => "in-place copy",
        }
    }
}

/// One write and how long until it was served.
#[derive(Debug)]
pub struct Swap {
    /// How it was written.
    pub method: Method,
    /// Write → first answer from the new version; `None` if not within [`PATIENCE`].
    pub took: Option<Duration>,
}

/// The reload numbers.
#[derive(Debug, Default)]
pub struct Reload {
    /// Every swap, in order.
    pub swaps: Vec<Swap>,
    /// Requests sent while polling.
    pub polls: u64,
    /// Answers that were neither the old nor the new version (errors, 404s, failures).
    pub unexpected: u64,
}

/// Swap `bot.wasm` `reload_swaps` times, polling `POST /bot` after each write.
pub async fn reload(env: &Env, plan: &Plan) -> anyhow::Result<Reload> {
    let dir = env.work.join("reload-bots");
    let sources = env.work.join("reload-src");
    for d in [&dir, &sources] {
        let _ = std::fs::remove_dir_all(d);
        std::fs::create_dir_all(d).with_context(|| format!("cannot create {}", d.display()))?;
    }
    let read = |p: &Path| std::fs::read(p).with_context(|| format!("cannot read {}", p.display()));
    let echo = read(&env.echo_wasm)?;
    let showcase = read(&env.bots.join("showcase.wasm"))?;
    let bot = dir.join("bot.wasm");
    std::fs::write(&bot, &echo).context("cannot write bot.wasm")?;
    let o = HostOptions {
        bin: &env.host_bin,
        bots: &dir,
        cache: "none",
        pool: 1000,
        log: env.work.join("reload-host.log"),
        extra: vec![],
    };
    let host = Server::host(&o, &env.key).await?;
    let target = env.target(&host, "/bot", "x", Expect::Events(0));
    let mut conn = load::connect(host.addr).await?;
    let mut r = Reload::default();
    let (mut serving, _) = poll(&mut conn, &target, &mut r).await;
    anyhow::ensure!(serving == Some(Version::Echo), "bot.wasm does not answer as echo at start");
    for i in 0..plan.reload_swaps {
        let (next, bytes) = match serving {
            Some(Version::Echo) => (Version::Showcase, &showcase),
            _ => (Version::Echo, &echo),
        };
        // Each method writes both versions: rename, rename, copy, copy, ...
        let method = if (i / 2) % 2 == 0 { Method::Rename } else { Method::Copy };
        let mut bytes = bytes.clone();
        bytes.extend(custom_section("poe-bench-swap", i.to_string().as_bytes()));
        let source = sources.join(format!("swap{i}.wasm"));
        std::fs::write(&source, &bytes).context("cannot write a swap source")?;
        let written = Instant::now();
        match method {
            Method::Rename => {
                let partial = dir.join("bot.wasm.partial");
                std::fs::write(&partial, &bytes).context("cannot write bot.wasm.partial")?;
                std::fs::rename(&partial, &bot).context("cannot rename onto bot.wasm")?;
            }
            Method::Copy => {
                std::fs::copy(&source, &bot).context("cannot copy onto bot.wasm")?;
            }
        }
        let mut took = None;
        while written.elapsed() < PATIENCE {
            let (answer, at) = poll(&mut conn, &target, &mut r).await;
            if answer == Some(next) {
                took = Some(at - written);
                break;
            }
            if answer.is_none() {
                conn = load::connect(host.addr).await?;
            }
        }
        serving = if took.is_some() { Some(next) } else { serving };
        eprintln!("  swap {i:>2} {:<13} → {next:?}: {took:?}", method.name());
        r.swaps.push(Swap { method, took });
    }
    host.stop().await;
    Ok(r)
}

/// One `POST /bot` with "x": which version answered (and when), or `None` if neither did.
async fn poll(conn: &mut load::Conn, target: &load::Target, r: &mut Reload) -> (Option<Version>, Instant) {
    r.polls += 1;
    let answer = load::fetch(conn, target).await;
    let at = Instant::now();
    let version = match answer {
        Ok((StatusCode::OK, body)) => {
            let text = String::from_utf8_lossy(&body);
            if text.contains(r#"{"text":"unknown command: x"}"#) {
                Some(Version::Showcase)
            } else if text.contains(r#"{"text":"x"}"#) {
                Some(Version::Echo)
            } else {
                None
            }
        }
        _ => None,
    };
    if version.is_none() {
        r.unexpected += 1;
    }
    (version, at)
}
