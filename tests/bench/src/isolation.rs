//! Isolation (the sandbox issue): does a hostile bot harm anybody else? Echo's latency is
//! measured alone, then again while background clients keep the `misbehave` fixture looping
//! until its CPU budget ends it and allocating until its memory cap traps it; each time first
//! back to back (saturated: how capacity is shared), then at a fixed rate (the latency a user
//! sees, which the 2× goal judges). The fixed rate runs alone once more after the attack,
//! pooled with the first run. Then: how long after a client disconnects mid-stream does
//! the guest stop (`in_flight` of `GET /_admin/bots` back to 0)?

use std::net::SocketAddr;
use std::time::Duration;

use anyhow::{Context, bail};
use hyper::StatusCode;
use tokio::time::Instant;

use crate::load::{self, Conn, Expect, LoadResult, Target};
use crate::native;
use crate::paced::{self, PacedResult};
use crate::procs::{HostOptions, Server};
use crate::scenarios::{Env, Plan};

/// The admin key of the isolation host.
const ADMIN_KEY: &str = "poebenchadminpoebenchadminpoeben";
/// CPU budget per call: how long each `loop` call spins.
pub const CPU_BUDGET_SECS: u64 = 2;
/// Linear memory per instance: where each `hog` call traps.
pub const MAX_MEMORY_MIB: u64 = 64;
/// How long the attackers may take to get going before echo is measured next to them (they
/// start within milliseconds; the attack lasts this much longer than the measurements).
const LEAD: Duration = Duration::from_secs(1);
/// Keep-alive connections of a fixed-rate run: httpx's default pool limit (fastapi_poe's
/// client is httpx). All are busy only after a stall of 100 / rate (50 ms at 2,000 req/s);
/// requests then wait for one, and the wait counts in their latency. A pool that grew
/// instead would turn a stall into a storm of new connections, measuring the client.
pub const RATE_POOL: usize = 100;

/// Echo measured one way, alone or under attack.
#[derive(Debug)]
pub struct Phase {
    /// `iso_workers` connections back to back: how capacity is shared.
    pub saturated: LoadResult,
    /// At the scenario's fixed rate: the latency a user sees.
    pub paced: PacedResult,
}

/// The isolation numbers.
#[derive(Debug)]
pub struct Isolation {
    /// Echo connections of the saturated runs.
    pub workers: usize,
    /// Background `loop` clients.
    pub loopers: usize,
    /// Background `hog` clients.
    pub hogs: usize,
    /// Echo alone.
    pub alone: Phase,
    /// Echo while the attackers run.
    pub attacked: Phase,
    /// The `loop` calls (ok = ended by the host with an error event, as they must).
    pub loop_calls: LoadResult,
    /// The `hog` calls (likewise).
    pub hog_calls: LoadResult,
    /// Client disconnect → `in_flight` back to 0, one per trial that stopped.
    pub disconnect: Vec<Duration>,
    /// Trials whose guest was still running 5 s after the disconnect.
    pub disconnect_stuck: usize,
}

/// Run both phases and the disconnect trials against one host serving echo and misbehave.
pub async fn isolation(env: &Env, plan: &Plan) -> anyhow::Result<Isolation> {
    let host = start_host(env).await?;
    let echo = env.target(&host, "/echo", "hello", Expect::Exact(native::echo("hello")));
    let looping = env.target(
        &host,
        "/misbehave",
        "loop",
        Expect::Contains(vec!["looping", "event: error", "event: done"]),
    );
    let hog = env.target(&host, "/misbehave", "hog", Expect::Contains(vec!["event: error", "event: done"]));

    load::closed_loop(&echo, plan.iso_workers, plan.warmup).await;
    let saturated = measure_saturated(&echo, plan, "alone").await;
    let mut alone = Phase { saturated, paced: measure_paced(&echo, plan, "alone").await };

    // The attackers outlast both attacked measurements, fixed-rate drain included.
    let attack = LEAD + Duration::from_secs(plan.iso_secs + plan.iso_rate_secs + 1);
    let background =
        |t: Target, n: usize| tokio::spawn(async move { load::closed_loop(&t, n, attack).await });
    let loops = background(looping.clone(), plan.iso_loopers);
    let hogs = background(hog, plan.iso_hogs);
    // Measure only once every attacker has a call running.
    let mut admin = Admin { addr: host.addr, conn: None };
    admin.wait_in_flight(plan.iso_loopers + plan.iso_hogs, LEAD).await?;
    let saturated = measure_saturated(&echo, plan, "under attack").await;
    let attacked = Phase { saturated, paced: measure_paced(&echo, plan, "under attack").await };
    let loop_calls = loops.await.context("the loop clients panicked")?;
    let hog_calls = hogs.await.context("the hog clients panicked")?;
    eprintln!(
        "  attackers: loop calls {} ok / {} wrong, hog calls {} ok / {} wrong",
        loop_calls.ok, loop_calls.errors, hog_calls.ok, hog_calls.errors
    );
    // Alone again once the attack is over (alone, attacked, alone), pooled with the first:
    // a quiet or noisy moment on a shared machine then weighs on neither side alone.
    admin.wait_idle(Duration::from_secs(10)).await?;
    alone.paced.merge(measure_paced(&echo, plan, "alone again").await);

    let (disconnect, disconnect_stuck) =
        disconnect_trials(host.addr, &looping, plan.disconnect_trials).await?;
    eprintln!("  disconnect → stopped: {disconnect:?}, {disconnect_stuck} stuck");
    host.stop().await;
    Ok(Isolation {
        workers: plan.iso_workers,
        loopers: plan.iso_loopers,
        hogs: plan.iso_hogs,
        alone,
        attacked,
        loop_calls,
        hog_calls,
        disconnect,
        disconnect_stuck,
    })
}

/// A host serving echo and misbehave with short limits, so attackers end quickly and often.
async fn start_host(env: &Env) -> anyhow::Result<Server> {
    if !env.misbehave_wasm.exists() {
        bail!(
            "{} is missing: cargo build --release --target wasm32-wasip2 -p misbehave",
            env.misbehave_wasm.display()
        );
    }
    let dir = env.work.join("isolation-bots");
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    std::fs::copy(&env.echo_wasm, dir.join("echo.wasm")).context("cannot copy echo.wasm")?;
    std::fs::copy(&env.misbehave_wasm, dir.join("misbehave.wasm")).context("cannot copy misbehave.wasm")?;
    let extra = [
        "--cpu-budget-secs",
        &CPU_BUDGET_SECS.to_string(),
        "--max-memory-mib",
        &MAX_MEMORY_MIB.to_string(),
        "--admin-key",
        ADMIN_KEY,
    ]
    .map(str::to_owned);
    let o = HostOptions {
        bin: &env.host_bin,
        bots: &dir,
        cache: "none",
        pool: 1000,
        log: env.work.join("isolation-host.log"),
        extra: extra.to_vec(),
    };
    Server::host(&o, &env.key).await
}

/// Echo back to back on `iso_workers` connections.
async fn measure_saturated(echo: &Target, plan: &Plan, label: &str) -> LoadResult {
    let r = load::closed_loop(echo, plan.iso_workers, Duration::from_secs(plan.iso_secs)).await;
    eprintln!("  echo {label:<13} saturated  {:>6.0} req/s, {} errors", r.rps(), r.errors);
    r
}

/// Echo at the plan's fixed rate.
async fn measure_paced(echo: &Target, plan: &Plan, label: &str) -> PacedResult {
    let (rate, secs) = (plan.iso_rate, Duration::from_secs(plan.iso_rate_secs));
    let mut r = paced::fixed_rate(echo, rate, secs, RATE_POOL).await;
    eprintln!(
        "  echo {label:<13} {rate:>6.0}/s    p50 {:?} p99 {:?} p99.9 {:?}, {} errors, {} waited, lag p99 {:?}",
        r.load.latencies.percentile(50.0),
        r.load.latencies.percentile(99.0),
        r.load.latencies.percentile(99.9),
        r.load.errors,
        r.waited,
        r.lag.percentile(99.0)
    );
    r
}

/// Drop a `loop` stream after its first event, `trials` times: disconnect → `in_flight` back
/// to 0 for each trial that stopped, and how many were still running after 5 s.
async fn disconnect_trials(
    addr: SocketAddr,
    looping: &Target,
    trials: usize,
) -> anyhow::Result<(Vec<Duration>, usize)> {
    let mut admin = Admin { addr, conn: None };
    let (mut stopped, mut stuck) = (Vec::new(), 0);
    for _ in 0..trials {
        admin.wait_idle(Duration::from_secs(10)).await?;
        let dropped = load::read_until_then_drop(looping, b"event: text").await?;
        loop {
            if admin.in_flight().await? == 0 {
                stopped.push(dropped.elapsed());
                break;
            }
            if dropped.elapsed() > Duration::from_secs(5) {
                stuck += 1;
                break;
            }
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    }
    Ok((stopped, stuck))
}

/// A keep-alive connection to `GET /_admin/bots`.
struct Admin {
    addr: SocketAddr,
    conn: Option<Conn>,
}

impl Admin {
    /// Calls running now, host-wide.
    async fn in_flight(&mut self) -> anyhow::Result<u64> {
        let conn = match self.conn.as_mut() {
            Some(c) => c,
            None => self.conn.insert(load::connect(self.addr).await?),
        };
        let answer = load::get(conn, self.addr, "/_admin/bots", ADMIN_KEY).await;
        let (status, body) = answer.inspect_err(|_| self.conn = None)?;
        if status != StatusCode::OK {
            bail!("GET /_admin/bots answered {status}");
        }
        let view: serde_json::Value = serde_json::from_slice(&body).context("admin view is not JSON")?;
        view["in_flight"].as_u64().context("admin view has no in_flight")
    }

    /// Wait until no call is running (the attackers' last calls end by their limits).
    async fn wait_idle(&mut self, patience: Duration) -> anyhow::Result<()> {
        self.wait_until(|n| n == 0, patience).await.context("calls still in flight")
    }

    /// Wait until at least `calls` calls run at once.
    async fn wait_in_flight(&mut self, calls: usize, patience: Duration) -> anyhow::Result<()> {
        self.wait_until(|n| n >= calls as u64, patience)
            .await
            .with_context(|| format!("fewer than {calls} calls ran"))
    }

    /// Poll the admin view (every 1 ms: there is no change notification) until `done` holds
    /// for `in_flight`, for at most `patience`.
    async fn wait_until(&mut self, done: impl Fn(u64) -> bool, patience: Duration) -> anyhow::Result<()> {
        let start = Instant::now();
        while !done(self.in_flight().await?) {
            if start.elapsed() > patience {
                bail!("not within {patience:?}");
            }
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        Ok(())
    }
}
