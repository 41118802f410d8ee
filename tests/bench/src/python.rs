//! The Python scenarios (issue 15): fastapi_poe bot files built into components by the SDK's
//! `poe_build.py` (scripts/bench.sh runs `poe-host build`) and served by poe-host, side by side
//! with the same files served by real fastapi_poe under uvicorn, one worker
//! (tests/interop/fp_serve_file.py):
//! - `python-echo`: example-bots/python/echo.py, closed loop, interleaved with the Rust `echo`
//!   on the same host; and spawn → `listening on` of a host serving echo.py, cold and warm cache;
//! - `python-relay`: example-bots/python/allcaps.py relaying the `relay` scenario's upstream,
//!   interleaved with the Rust `allcaps` and fastapi_poe at its best (one shared httpx client);
//! - `python-open`: streams of tests/fixtures/python/misbehave.py's `hold` held open at once,
//!   memory as PSS above idle.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, bail};

use crate::load::{self, Expect, OpenWhen};
use crate::native;
use crate::procs::{HostOptions, Memory, Server};
use crate::relay::{self, BURST};
use crate::scenarios::{EchoRun, Env, Plan, System, interleaved};
use crate::stats::median;

/// How long a held stream's bot sleeps: far longer than the measurement.
const HELD_SLEEP: &str = "hold 600000";

/// `python-echo`: the closed-loop runs and the start-up times.
#[derive(Debug)]
pub struct PythonEcho {
    /// Python echo on poe-host, on fastapi_poe, and the Rust echo on poe-host.
    pub runs: Vec<EchoRun>,
    /// How long poe-host takes to serve echo.py, and fastapi_poe.
    pub startup: PythonStartup,
}

/// Spawn → `listening on`, the moment a server can answer.
#[derive(Debug)]
pub struct PythonStartup {
    /// poe-host with an empty cache directory: compile echo.py's component, store it.
    pub cold: Duration,
    /// poe-host with the same cache directory again (median).
    pub warm: Duration,
    /// How many warm starts the median is of.
    pub warm_runs: usize,
    /// fp_serve_file.py serving echo.py (imports fastapi_poe, starts uvicorn).
    pub fastapi: Duration,
}

/// `python-open`: one system's streams held at once, and its memory.
#[derive(Debug)]
pub struct PythonOpen {
    /// poe-host (misbehave.py built) or fastapi_poe (misbehave.py served).
    pub system: System,
    /// Streams whose response headers arrived.
    pub opened: usize,
    /// Streams that could not be opened.
    pub failed: usize,
    /// Time to open them all.
    pub open_time: Duration,
    /// PSS after one answered request, before any stream (KiB).
    pub idle_pss_kib: u64,
    /// PSS with every stream open (KiB).
    pub open_pss_kib: u64,
    /// RSS at the same two moments, for comparison with the other scenarios.
    pub idle: Memory,
    /// See `idle`.
    pub open: Memory,
}

impl PythonOpen {
    /// PSS above idle with every stream open (KiB).
    pub fn above_idle_kib(&self) -> u64 {
        self.open_pss_kib.saturating_sub(self.idle_pss_kib)
    }
}

/// The component `poe-host build` made of `name`.py.
fn built(env: &Env, name: &str) -> anyhow::Result<PathBuf> {
    let wasm = env.python_bots.join(format!("{name}.wasm"));
    if !wasm.is_file() {
        bail!("{} is missing: scripts/bench.sh builds the Python bots before running", wasm.display());
    }
    Ok(wasm)
}

/// A fresh bots directory `work/dir` holding each (name, component).
fn bots_dir(env: &Env, dir: &str, bots: &[(&str, &Path)]) -> anyhow::Result<PathBuf> {
    let dir = env.work.join(dir);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    for (name, wasm) in bots {
        std::fs::copy(wasm, dir.join(format!("{name}.wasm")))
            .with_context(|| format!("cannot copy {}", wasm.display()))?;
    }
    Ok(dir)
}

/// poe-host serving `bots`, its compiled components cached in `cache` (a Python component
/// takes seconds of CPU to compile; steady state does not touch the cache).
async fn host(
    env: &Env,
    bots: &Path,
    cache: &Path,
    pool: u32,
    log: &str,
    extra: Vec<String>,
) -> anyhow::Result<Server> {
    let cache = cache.to_str().context("cache path is not UTF-8")?;
    let options = HostOptions { bin: &env.host_bin, bots, cache, pool, log: env.work.join(log), extra };
    Server::host(&options, &env.key).await
}

/// Where the serving hosts keep compiled Python components, across runs.
fn serving_cache(env: &Env) -> PathBuf {
    env.work.join("python-host-cache")
}

/// fastapi_poe serving the bot file `src` (fp_serve_file.py), its calls to other bots sent to
/// `poe_api_base` (`http://ADDR`) if given.
async fn fastapi(env: &Env, src: &Path, poe_api_base: Option<&str>, log: &str) -> anyhow::Result<Server> {
    let src = src.to_str().context("bot path is not UTF-8")?;
    let mut args = vec![src, env.key.as_str()];
    args.extend(poe_api_base);
    // misbehave.py makes its app at import without a key: fastapi_poe then reads this variable.
    let vars = [("POE_ACCESS_KEY", env.key.as_str())];
    Server::python_script(&env.python, &env.fp_serve_file, &args, &vars, env.work.join(log)).await
}

fn example(env: &Env, file: &str) -> PathBuf {
    env.root.join("example-bots/python").join(file)
}

/// `python-echo`: echo.py on poe-host and on fastapi_poe, and the Rust echo, interleaved.
pub async fn echo(env: &Env, plan: &Plan) -> anyhow::Result<PythonEcho> {
    let wasm = built(env, "echo")?;
    let (cold, warm) = host_startup(env, plan, &wasm).await?;
    let bots = bots_dir(env, "python-echo-bots", &[("echo", &wasm), ("echo-rust", &env.echo_wasm)])?;
    let host = host(env, &bots, &serving_cache(env), 1000, "python-echo-host.log", vec![]).await?;
    let fastapi = fastapi(env, &example(env, "echo.py"), None, "python-echo-fastapi.log").await?;
    // The Python SDK's answer is byte for byte the Rust echo's; fastapi_poe formats its JSON apart.
    let exact = Expect::Exact(native::echo("hello"));
    let fastapi_answer = Expect::Contains(vec!["\"hello\"", "event: done"]);
    let targets = [
        (System::HostPython, env.target(&host, "/echo", "hello", exact.clone())),
        (System::FastApi, env.target(&fastapi, "/", "hello", fastapi_answer)),
        (System::Host, env.target(&host, "/echo-rust", "hello", exact)),
    ];
    let runs = interleaved(&targets, plan, "python-echo").await;
    let startup = PythonStartup { cold, warm, warm_runs: plan.warm_runs, fastapi: fastapi.startup };
    host.stop().await;
    fastapi.stop().await;
    Ok(PythonEcho { runs, startup })
}

/// Spawn → `listening on` of poe-host serving only `wasm`: once with an empty cache directory
/// (compile and store), then `plan.warm_runs` times with it warm (median).
async fn host_startup(env: &Env, plan: &Plan, wasm: &Path) -> anyhow::Result<(Duration, Duration)> {
    let bots = bots_dir(env, "python-startup-bots", &[("echo", wasm)])?;
    let cache = env.work.join("python-startup-cache");
    let _ = std::fs::remove_dir_all(&cache);
    let s = host(env, &bots, &cache, 1000, "python-startup-cold.log", vec![]).await?;
    let cold = s.startup;
    s.stop().await;
    let mut warm = vec![];
    for _ in 0..plan.warm_runs {
        let s = host(env, &bots, &cache, 1000, "python-startup-warm.log", vec![]).await?;
        warm.push(s.startup);
        s.stop().await;
    }
    let warm = median(warm);
    eprintln!("  python-echo start-up: cold {cold:?}, warm {warm:?}");
    Ok((cold, warm))
}

/// `python-relay`: allcaps.py on poe-host and on fastapi_poe relaying one upstream, with the
/// Rust allcaps and fastapi_poe's all-caps bot with one shared httpx client beside them.
pub async fn relay(env: &Env, plan: &Plan) -> anyhow::Result<Vec<EchoRun>> {
    let upstream = Server::upstream(&env.key, env.work.join("python-relay-upstream.log")).await?;
    let base = format!("http://{}", upstream.addr);
    let poe_base = format!("{base}/bot/");
    let allcaps = built(env, "allcaps")?;
    let dir =
        bots_dir(env, "python-relay-bots", &[("allcaps", &allcaps), ("allcaps-rust", &env.allcaps_wasm)])?;
    let extra = vec!["--poe-api-base".into(), poe_base.clone()];
    let host = host(env, &dir, &serving_cache(env), 1000, "python-relay-host.log", extra).await?;
    let fastapi = fastapi(env, &example(env, "allcaps.py"), Some(&base), "python-relay-fastapi.log").await?;
    let shared_args = ["0", poe_base.as_str(), env.key.as_str(), "shared"];
    let shared = relay::python(env, "fastapi_allcaps.py", &shared_args, "python-relay-shared.log").await?;
    let answer = Expect::Contains(vec!["CHUNK 9 ", "event: done"]);
    let targets = [
        (System::HostPython, env.target(&host, "/allcaps", BURST, answer.clone())),
        (System::FastApi, env.target(&fastapi, "/", BURST, answer.clone())),
        (System::Host, env.target(&host, "/allcaps-rust", BURST, answer.clone())),
        (System::FastApiShared, env.target(&shared, "/", BURST, answer)),
    ];
    let runs = interleaved(&targets, plan, "python-relay").await;
    for s in [host, fastapi, shared, upstream] {
        s.stop().await;
    }
    Ok(runs)
}

/// `python-open`: `plan.python_streams` streams of misbehave.py's `hold` held at once, on
/// poe-host and on fastapi_poe.
pub async fn open(env: &Env, plan: &Plan) -> anyhow::Result<Vec<PythonOpen>> {
    let wasm = built(env, "misbehave")?;
    let pool = u32::try_from(plan.python_streams + 100).unwrap_or(u32::MAX);
    let dir = bots_dir(env, "python-open-bots", &[("misbehave", &wasm)])?;
    let host = host(env, &dir, &serving_cache(env), pool, "python-open-host.log", vec![]).await?;
    let src = env.root.join("tests/fixtures/python/misbehave.py");
    let fastapi = fastapi(env, &src, None, "python-open-fastapi.log").await?;
    let mut out = vec![];
    for (system, server, path) in
        [(System::HostPython, &host, "/misbehave"), (System::FastApi, &fastapi, "/")]
    {
        out.push(hold(env, plan, system, server, path).await?);
    }
    host.stop().await;
    fastapi.stop().await;
    Ok(out)
}

/// Answer one `sleep 0` (so idle is a server that has served), read idle memory, open the
/// streams, let them settle, read memory again.
async fn hold(
    env: &Env,
    plan: &Plan,
    system: System,
    server: &Server,
    path: &str,
) -> anyhow::Result<PythonOpen> {
    let first = env.target(server, path, "sleep 0", Expect::Contains(vec!["slept", "event: done"]));
    let mut conn = load::connect(server.addr).await?;
    anyhow::ensure!(load::one(&mut conn, &first).await?, "{} did not answer `sleep 0`", system.name());
    drop(conn);
    let (idle, idle_pss_kib) = (server.memory()?, server.pss_kib()?);
    // A stream counts once its first event ("holding") arrived: its instance is made and
    // its bot parked in `asyncio.sleep`.
    let target = env.target(server, path, HELD_SLEEP, Expect::Events(3));
    let patience = Duration::from_secs(60);
    let streams = load::open_streams(&target, plan.python_streams, 64, patience, OpenWhen::FirstEvent).await;
    let (open, open_pss_kib) = (server.memory()?, server.pss_kib()?);
    let run = PythonOpen {
        system,
        opened: streams.opened,
        failed: streams.failed,
        open_time: streams.open_time,
        idle_pss_kib,
        open_pss_kib,
        idle,
        open,
    };
    streams.release().await;
    eprintln!(
        "  python-open {:<16} {} open, {} failed, PSS {} KiB above idle",
        system.name(),
        run.opened,
        run.failed,
        run.above_idle_kib()
    );
    Ok(run)
}
