//! Turning measurements into the Markdown that goes into BENCHMARKS.md: machine, command,
//! one table per scenario, and each issue-5 target with its verdict, computed, never typed.

use std::fmt::Write;
use std::path::Path;
use std::time::Duration;

use crate::chart::Bar;
use crate::isolation::{self, Isolation};
use crate::load::{LoadResult, StreamResult};
use crate::procs::mib;
use crate::relay::{self, Relay};
use crate::reload::{Method, Reload};
use crate::scenarios::{EchoRun, OpenRun, SlowRun, Startup, System};
use crate::stats::{median, ms, rate};

/// Everything one run measured; a scenario left out by `--only` is `None`.
#[derive(Default)]
pub struct Results {
    /// Echo, three systems.
    pub echo: Option<Vec<EchoRun>>,
    /// `stream N`, host and native.
    pub stream: Option<[(System, StreamResult); 2]>,
    /// Slow streams.
    pub slow: Option<Vec<SlowRun>>,
    /// Open streams.
    pub open: Option<Vec<OpenRun>>,
    /// Start-up with many bots.
    pub startup: Option<Startup>,
    /// Echo next to hostile bots; disconnect → guest stopped.
    pub isolation: Option<Isolation>,
    /// Hot reload: write → served.
    pub reload: Option<Reload>,
    /// allcaps relaying a local upstream, poe-host and fastapi_poe.
    pub relay: Option<Relay>,
    /// relay streaming a local chat API over outbound HTTP, poe-host and fastapi_poe + httpx.
    pub http_relay: Option<Relay>,
    /// Criterion medians: (bench id, median, low, high) in ns.
    pub criterion: Vec<(String, f64, f64, f64)>,
}

/// The Markdown block for BENCHMARKS.md.
pub fn markdown(r: &mut Results, context: &str) -> String {
    let mut md = String::from(context);
    if let Some(echo) = r.echo.as_mut() {
        echo_table(&mut md, echo);
    }
    if let Some(stream) = r.stream.as_mut() {
        stream_table(&mut md, stream);
    }
    if let Some(slow) = r.slow.as_mut() {
        slow_table(&mut md, slow);
    }
    if let Some(open) = &r.open {
        open_table(&mut md, open);
    }
    if let Some(s) = &r.startup {
        startup_table(&mut md, s);
    }
    if let Some(iso) = r.isolation.as_mut() {
        isolation_table(&mut md, iso);
    }
    if let Some(reload) = &r.reload {
        reload_table(&mut md, reload);
    }
    for relay in [r.relay.as_mut(), r.http_relay.as_mut()].into_iter().flatten() {
        relay_tables(&mut md, relay);
    }
    criterion_table(&mut md, &r.criterion);
    targets(&mut md, r);
    md
}

fn find(runs: &mut [EchoRun], s: System) -> Option<&mut EchoRun> {
    runs.iter_mut().find(|r| r.system == s)
}

fn echo_table(md: &mut String, runs: &mut [EchoRun]) {
    let native = find(runs, System::Native).map(|r| r.total.rps()).unwrap_or(f64::NAN);
    md.push_str("\n### Echo (one chunk), 32 keep-alive connections\n\n");
    md.push_str("| system | req/s | req/s per round | p50 | p99 | errors | throughput vs native |\n");
    md.push_str("|---|---:|---|---:|---:|---:|---:|\n");
    for run in runs.iter_mut() {
        let rounds: Vec<String> = run.rounds.iter().map(|v| rate(*v)).collect();
        let t = &mut run.total;
        let (p50, p99) = (t.latencies.percentile(50.0), t.latencies.percentile(99.0));
        let _ = writeln!(
            md,
            "| {} | {} | {} | {} | {} | {} | {:.2}× |",
            run.system.name(),
            rate(t.rps()),
            rounds.join(" / "),
            ms(p50),
            ms(p99),
            t.errors,
            t.rps() / native
        );
    }
    md.push_str("\n![echo throughput and p99 per system](docs/bench/echo.svg)\n");
}

/// Bars for the chart, in table order.
pub fn bars(runs: &mut [EchoRun]) -> Vec<Bar> {
    runs.iter_mut()
        .map(|r| Bar {
            name: r.system.name(),
            rps: r.total.rps(),
            p99_ms: r.total.latencies.percentile(99.0).as_secs_f64() * 1e3,
        })
        .collect()
}

fn us(d: Duration) -> String {
    format!("{:.1} µs", d.as_secs_f64() * 1e6)
}

fn stream_table(md: &mut String, runs: &mut [(System, StreamResult); 2]) {
    md.push_str("\n### `stream 100`: time between chunks on the wire (one connection, sequential)\n\n");
    md.push_str("| system | responses | first event p50 | per-chunk mean, p50 (p99) | gap p50 | gap p99 | gap max | whole response p50 |\n");
    md.push_str("|---|---:|---:|---:|---:|---:|---:|---:|\n");
    for (system, r) in runs.iter_mut() {
        let _ = writeln!(
            md,
            "| {} | {} | {} | {} ({}) | {} | {} | {} | {} |",
            system.name(),
            r.ok,
            us(r.first_event.percentile(50.0)),
            us(r.per_chunk.percentile(50.0)),
            us(r.per_chunk.percentile(99.0)),
            us(r.gaps.percentile(50.0)),
            us(r.gaps.percentile(99.0)),
            us(r.gaps.percentile(100.0)),
            ms(r.total.percentile(50.0)),
        );
    }
    let added = per_chunk_added(runs);
    let _ = writeln!(
        md,
        "\nThe host adds **{}** per chunk over native (median per-chunk time, difference).",
        us(added)
    );
}

fn per_chunk_added(runs: &mut [(System, StreamResult); 2]) -> Duration {
    let host = runs[0].1.per_chunk.percentile(50.0);
    let native = runs[1].1.per_chunk.percentile(50.0);
    host.saturating_sub(native)
}

fn slow_table(md: &mut String, runs: &mut [SlowRun]) {
    md.push_str(
        "\n### Slow streams: concurrent connections, each bot sleeps before answering (closed loop)\n\n",
    );
    md.push_str(
        "| system | req/s | p50 | p99 | errors | server peak RSS |\n|---|---:|---:|---:|---:|---:|\n",
    );
    for run in runs.iter_mut() {
        let r = &mut run.result;
        let _ = writeln!(
            md,
            "| {} | {} | {} | {} | {} | {} |",
            run.system.name(),
            rate(r.rps()),
            ms(r.latencies.percentile(50.0)),
            ms(r.latencies.percentile(99.0)),
            r.errors,
            mib(run.memory.peak_kib)
        );
    }
}

fn open_table(md: &mut String, runs: &[OpenRun]) {
    md.push_str("\n### Open streams of a sleeping bot (`sleep 600000`), all held at once\n\n");
    md.push_str(
        "| system | open | failed | time to open all | RSS idle | RSS all open | peak RSS | per stream |\n",
    );
    md.push_str("|---|---:|---:|---:|---:|---:|---:|---:|\n");
    for r in runs {
        let per = r.open.rss_kib.saturating_sub(r.idle.rss_kib) as f64 / r.opened.max(1) as f64;
        let _ = writeln!(
            md,
            "| {} | {} | {} | {} | {} | {} | {} | {per:.1} KiB |",
            r.system.name(),
            r.opened,
            r.failed,
            ms(r.open_time),
            mib(r.idle.rss_kib),
            mib(r.open.rss_kib),
            mib(r.open.peak_kib)
        );
    }
}

fn startup_table(md: &mut String, s: &Startup) {
    let _ = writeln!(
        md,
        "\n### Host start with {} bots (distinct copies of echo.wasm: a custom section numbers each, so each has its own cache entry)\n",
        s.bots
    );
    md.push_str("| cache | spawn → `listening on` |\n|---|---:|\n");
    let _ = writeln!(md, "| none (`--cache-dir none`) | {} |", ms(s.no_cache));
    let _ = writeln!(md, "| cold (empty cache dir: compile + store) | {} |", ms(s.cold));
    let _ = writeln!(md, "| warm (same cache dir again, median) | {} |", ms(s.warm));
    let _ = writeln!(md, "\nRSS after a warm start: {}.", mib(s.warm_memory.rss_kib));
}

fn isolation_table(md: &mut String, iso: &mut Isolation) {
    md.push_str("\n### Isolation: echo alone, then next to a looping bot and a memory hog\n\n");
    let _ = writeln!(
        md,
        "Host flags: `--cpu-budget-secs {}` (each `loop` call spins that long) and `--max-memory-mib {}` \
         (each `hog` call allocates until it traps). {} clients ask `loop` and {} ask `hog`, each again as \
         soon as its call ends: attacker calls ended by a limit (other outcomes) were loop {} ({}), hog {} ({}).\n",
        isolation::CPU_BUDGET_SECS,
        isolation::MAX_MEMORY_MIB,
        iso.loopers,
        iso.hogs,
        iso.loop_calls.ok,
        iso.loop_calls.errors,
        iso.hog_calls.ok,
        iso.hog_calls.errors
    );
    paced_table(md, iso);
    saturated_table(md, iso);
    disconnect_line(md, iso);
}

/// The 2× goal: the latency a user sees at a fixed, non-saturating rate.
fn paced_table(md: &mut String, iso: &mut Isolation) {
    let paced = iso.alone.paced.rate;
    let share =
        |r: &LoadResult| format!("{:.0}% of {} req/s", 100.0 * paced / r.rps().max(1e-9), rate(r.rps()));
    let _ = writeln!(
        md,
        "**At a fixed rate (the 2× goal).** Echo requests leave on a schedule, {} req/s, over a pool of {} \
         keep-alive connections (a request that finds all busy waits for one), and each latency counts from \
         the request's *scheduled* send time, so a stall counts against every request it held back (wrk2's \
         open loop, no coordinated omission). The rate is {} saturated alone and {} under attack (below): a \
         real load, yet far from saturation in both phases, so the p99 shows what the attack does to a \
         user's request rather than a queue that any load near capacity builds.\n",
        rate(paced),
        iso.alone.paced.connections,
        share(&iso.alone.saturated),
        share(&iso.attacked.saturated),
    );
    md.push_str(
        "| echo | requests | p50 | p99 | p99.9 | errors | waited for a connection | generator lag p99 |\n",
    );
    md.push_str("|---|---:|---:|---:|---:|---:|---:|---:|\n");
    let attacked = attack_label(iso);
    let alone = "alone (before and after the attack, pooled)";
    for (name, p) in [(alone, &mut iso.alone.paced), (attacked.as_str(), &mut iso.attacked.paced)] {
        let l = &mut p.load.latencies;
        let _ = writeln!(
            md,
            "| {name} | {} | {} | {} | {} | {} | {} | {} |",
            rate((p.load.ok + p.load.errors) as f64),
            ms(l.percentile(50.0)),
            ms(l.percentile(99.0)),
            ms(l.percentile(99.9)),
            p.load.errors,
            p.waited,
            ms(p.lag.percentile(99.0))
        );
    }
    let (ratio, alone, attacked, _) = paced_ratio(iso);
    let _ = writeln!(
        md,
        "\np99 under attack / alone: **{ratio:.2}×** ({} vs {}; goal ≤ 2×). Generator lag is how late the \
         load generator itself sent (scheduled → sent): it shares the 2 cores with the host and the attack, \
         and that lateness is inside every latency above.",
        ms(attacked),
        ms(alone)
    );
}

/// Context: capacity shared, not the latency a user sees.
fn saturated_table(md: &mut String, iso: &mut Isolation) {
    let _ = writeln!(
        md,
        "\n**Saturated: capacity shared.** {} connections send back to back (closed loop), with the load \
         generator on the same cores. Under attack the heavy bots hold one of the two cores by design \
         (heavy slots), so echo's capacity drops. Each connection waits for its own answer, so a stall \
         delays only the requests already in flight (coordinated omission): this p99 mixes queueing with \
         an undercount of stalls, and is context, not the goal.\n",
        iso.workers
    );
    md.push_str("| echo | req/s | p50 | p99 | errors |\n|---|---:|---:|---:|---:|\n");
    let attacked = attack_label(iso);
    for (name, r) in [("alone", &mut iso.alone.saturated), (attacked.as_str(), &mut iso.attacked.saturated)] {
        let _ = writeln!(
            md,
            "| {name} | {} | {} | {} | {} |",
            rate(r.rps()),
            ms(r.latencies.percentile(50.0)),
            ms(r.latencies.percentile(99.0)),
            r.errors
        );
    }
}

fn attack_label(iso: &Isolation) -> String {
    format!("with {} `loop` + {} `hog` clients", iso.loopers, iso.hogs)
}

/// Fixed-rate p99 under attack / alone, both p99s, and the errors of both runs (a p99 over
/// the correct responses says nothing if some were wrong).
fn paced_ratio(iso: &mut Isolation) -> (f64, Duration, Duration, u64) {
    let alone = iso.alone.paced.load.latencies.percentile(99.0);
    let attacked = iso.attacked.paced.load.latencies.percentile(99.0);
    let ratio = attacked.as_secs_f64() / alone.as_secs_f64().max(1e-9);
    (ratio, alone, attacked, iso.alone.paced.load.errors + iso.attacked.paced.load.errors)
}

fn disconnect_line(md: &mut String, iso: &Isolation) {
    let d = &iso.disconnect;
    let _ = writeln!(
        md,
        "\nClient disconnect → guest stopped (a `loop` stream dropped after its first event; \
         `in_flight` of `GET /_admin/bots` polled every 1 ms until 0), {} trials: median **{}**, max {}{}.",
        d.len() + iso.disconnect_stuck,
        ms(median(d.clone())),
        ms(d.iter().max().copied().unwrap_or_default()),
        if iso.disconnect_stuck > 0 {
            format!("; **{} still running after 5 s**", iso.disconnect_stuck)
        } else {
            String::new()
        }
    );
}

/// Swaps written by `method` (all if `None`): how many, median and max time to served, and
/// how many were never served.
fn swap_stats(r: &Reload, method: Option<Method>) -> (usize, Duration, Duration, usize) {
    let chosen: Vec<_> = r.swaps.iter().filter(|s| method.is_none_or(|m| m == s.method)).collect();
    let took: Vec<Duration> = chosen.iter().filter_map(|s| s.took).collect();
    let max = took.iter().max().copied().unwrap_or_default();
    (chosen.len(), median(took.clone()), max, chosen.len() - took.len())
}

fn reload_table(md: &mut String, r: &Reload) {
    md.push_str("\n### Hot reload: bot file written → first request answered by the new version\n\n");
    md.push_str(
        "One file `bot.wasm` alternates between echo and showcase (each write a new build: a fresh \
         custom section), while one client polls `POST /bot` back to back.\n\n",
    );
    md.push_str("| write | swaps | median | max | not served within 10 s |\n|---|---:|---:|---:|---:|\n");
    let rows = [
        ("atomic rename (`bot.wasm.partial` → `bot.wasm`)", Some(Method::Rename)),
        ("in-place `std::fs::copy` (truncate, write)", Some(Method::Copy)),
        ("all", None),
    ];
    for (name, method) in rows {
        let (n, med, max, missed) = swap_stats(r, method);
        let _ = writeln!(md, "| {name} | {n} | {} | {} | {missed} |", ms(med), ms(max));
    }
    let _ = writeln!(
        md,
        "\nPolls sent: {}; answers that were neither version (errors, failed connections): {}.",
        r.polls, r.unexpected
    );
}

fn relay_tables(md: &mut String, r: &mut Relay) {
    let (bot, calls) = (r.via.bot(), r.via.calls());
    let _ = writeln!(
        md,
        "\n### Relay: `{bot}` calling {calls} that streams {} chunks at once, 32 keep-alive connections\n",
        relay::RELAY_CHUNKS
    );
    md.push_str(
        "| system | relayed req/s | req/s per round | p50 | p99 | errors |\n|---|---:|---|---:|---:|---:|\n",
    );
    for run in r.throughput.iter_mut() {
        let rounds: Vec<String> = run.rounds.iter().map(|v| rate(*v)).collect();
        let t = &mut run.total;
        let (p50, p99) = (t.latencies.percentile(50.0), t.latencies.percentile(99.0));
        let _ = writeln!(
            md,
            "| {} | {} | {} | {} | {} | {} |",
            run.system.name(),
            rate(t.rps()),
            rounds.join(" / "),
            ms(p50),
            ms(p99),
            t.errors
        );
    }
    md.push_str(
        &format!("\n### Relay: `{bot}`, per-chunk latency, upstream wrote it → the client read it (20 chunks 2 ms apart, one answer at a time)\n\n"),
    );
    md.push_str("| path | answers | chunks | p50 | p99 | max | added over the upstream alone, p50 / p99 |\n");
    md.push_str("|---|---:|---:|---:|---:|---:|---:|\n");
    let floor =
        r.latency.iter_mut().find(|l| l.system == System::Upstream).map(|l| percentiles(&mut l.latencies));
    for l in r.latency.iter_mut() {
        let (p50, p99) = percentiles(&mut l.latencies);
        let added = match floor {
            Some((f50, f99)) if l.system != System::Upstream => {
                format!("{} / {}", us(p50.saturating_sub(f50)), us(p99.saturating_sub(f99)))
            }
            _ => "—".into(),
        };
        let _ = writeln!(
            md,
            "| {} | {} | {} | {} | {} | {} | {added} |",
            l.system.name(),
            l.ok,
            l.latencies.len(),
            us(p50),
            us(p99),
            us(l.latencies.percentile(100.0)),
        );
    }
    let _ = writeln!(
        md,
        "\n### Relay: `{bot}`, relays open at once, each holding its upstream stream (`hold`)\n"
    );
    md.push_str("| system | open | failed | time to open all | RSS idle | RSS all open | per relay |\n");
    md.push_str("|---|---:|---:|---:|---:|---:|---:|\n");
    for o in &r.open {
        let per = o.open.rss_kib.saturating_sub(o.idle.rss_kib) as f64 / o.opened.max(1) as f64;
        let _ = writeln!(
            md,
            "| {} | {} | {} | {} | {} | {} | {per:.1} KiB |",
            o.system.name(),
            o.opened,
            o.failed,
            ms(o.open_time),
            mib(o.idle.rss_kib),
            mib(o.open.rss_kib)
        );
    }
}

fn percentiles(l: &mut crate::stats::Latencies) -> (Duration, Duration) {
    (l.percentile(50.0), l.percentile(99.0))
}

fn relay_targets(md: &mut String, r: &mut Relay) {
    let bot = r.via.bot();
    let rps = |s| r.throughput.iter().find(|t| t.system == s).map(|t| t.total.rps());
    if r.via == crate::relay::Via::Http
        && let (Some(host), Some(fastapi)) = (rps(System::Host), rps(System::FastApiShared))
    {
        let vs = host / fastapi;
        let _ = writeln!(
            md,
            "| `{bot}` ≥ 20× fastapi_poe + httpx's relayed req/s (one shared client) | {vs:.1}× | {} |",
            verdict(vs >= 20.0)
        );
    }
    if let (Some(host), Some(fastapi)) = (rps(System::Host), rps(System::FastApi)) {
        let vs = host / fastapi;
        let shared = rps(System::FastApiShared)
            .map(|s| format!(" ({:.1}× fastapi_poe with a shared client)", host / s))
            .unwrap_or_default();
        let _ = writeln!(
            md,
            "| `{bot}` ≥ 20× fastapi_poe's relayed req/s (the tutorial's bot) | {vs:.1}×{shared} | {} |",
            verdict(vs >= 20.0)
        );
    }
    let mut p99 = |s| r.latency.iter_mut().find(|l| l.system == s).map(|l| l.latencies.percentile(99.0));
    if let (Some(host), Some(floor)) = (p99(System::Host), p99(System::Upstream)) {
        let added = host.saturating_sub(floor);
        let _ = writeln!(
            md,
            "| `{bot}` adds < 1 ms per chunk at p99 | {} ({} relayed vs {} direct) | {} |",
            us(added),
            us(host),
            us(floor),
            verdict(added < Duration::from_millis(1))
        );
    }
    if let Some(o) = r.open.iter().find(|o| o.system == System::Host) {
        let mib_open = o.open.rss_kib as f64 / 1024.0;
        let _ = writeln!(
            md,
            "| {} `{bot}` relays open at once within 256 MiB RSS | {} open, {mib_open:.1} MiB | {} |",
            o.opened + o.failed,
            o.opened,
            verdict(o.failed == 0 && mib_open < 256.0)
        );
    }
}

fn criterion_table(md: &mut String, rows: &[(String, f64, f64, f64)]) {
    md.push_str("\n### Per-request overhead, in process (criterion, `host/benches/overhead.rs`)\n\n");
    if rows.is_empty() {
        md.push_str("No criterion results found (run `cargo bench -p poe-host --bench overhead`).\n");
        return;
    }
    md.push_str("| benchmark | median | 95% CI |\n|---|---:|---|\n");
    for (id, median, lo, hi) in rows {
        let _ = writeln!(md, "| `{id}` | {:.2} µs | {:.2}–{:.2} µs |", median / 1e3, lo / 1e3, hi / 1e3);
    }
}

fn verdict(met: bool) -> &'static str {
    if met { "met" } else { "**missed**" }
}

/// How late the load generator may send at p99 while echo runs alone before the baseline
/// counts as disturbed: 0.17–0.38 ms on an idle machine; runs where something else took the
/// cores showed 1.5 ms, and their inflated alone p99 made any attack look harmless.
const QUIET_BASELINE_LAG: Duration = Duration::from_millis(1);

/// The isolation verdict, unless the baseline itself was disturbed (`alone_lag`: the
/// generator's own p99 lateness while echo ran alone), which makes the ratio meaningless.
fn isolation_verdict(met: bool, alone_lag: Duration) -> String {
    if alone_lag > QUIET_BASELINE_LAG {
        format!(
            "**inconclusive**: the load generator itself sent {} late at p99 with echo alone (over {}), so \
             the baseline was disturbed; run again",
            ms(alone_lag),
            ms(QUIET_BASELINE_LAG)
        )
    } else {
        verdict(met).to_owned()
    }
}

fn targets(md: &mut String, r: &mut Results) {
    md.push_str("\n### Targets\n\n| target | measured | verdict |\n|---|---|---|\n");
    if let Some(echo) = r.echo.as_mut() {
        echo_targets(md, echo);
    }
    if let Some((_, median, _, _)) = r.criterion.iter().find(|(id, ..)| id.ends_with("echo_request")) {
        let us = median / 1e3;
        let _ =
            writeln!(md, "| per-request overhead ≤ 15 µs median | {us:.2} µs | {} |", verdict(us <= 15.0));
    }
    if let Some(stream) = r.stream.as_mut() {
        let added = per_chunk_added(stream);
        let _ = writeln!(
            md,
            "| `stream 100`: well under 1 ms added per chunk (verdict at < 100 µs) | {} | {} |",
            us(added),
            verdict(added < Duration::from_micros(100))
        );
    }
    if let Some(open) = r.open.as_ref().and_then(|o| o.iter().find(|o| o.system == System::Host)) {
        let gib = open.open.peak_kib as f64 / (1024.0 * 1024.0);
        let all = open.failed == 0;
        let _ = writeln!(
            md,
            "| {} concurrent open streams within 1 GiB RSS | {} open, peak {gib:.2} GiB | {} |",
            open.opened + open.failed,
            open.opened,
            verdict(all && gib <= 1.0)
        );
    }
    if let Some(iso) = r.isolation.as_mut() {
        let (ratio, alone, attacked, errors) = paced_ratio(iso);
        let clean = errors == 0 && iso.attacked.paced.load.ok > 0;
        let alone_lag = iso.alone.paced.lag.percentile(99.0);
        let _ = writeln!(
            md,
            "| isolation: echo p99 at a fixed {} req/s next to a looping bot and a memory hog ≤ 2× alone | {ratio:.2}× ({} vs {}{}) | {} |",
            rate(iso.alone.paced.rate),
            ms(attacked),
            ms(alone),
            if clean { String::new() } else { format!(", {errors} errors") },
            isolation_verdict(clean && ratio <= 2.0, alone_lag)
        );
    }
    if let Some(reload) = &r.reload {
        let (n, med, max, missed) = swap_stats(reload, None);
        let _ = writeln!(
            md,
            "| hot reload: write → served by the new version, median < 500 ms | median {} (max {}, {n} swaps{}) | {} |",
            ms(med),
            ms(max),
            if missed > 0 { format!(", {missed} never served") } else { String::new() },
            verdict(missed == 0 && n > 0 && med < Duration::from_millis(500))
        );
    }
    for relay in [r.relay.as_mut(), r.http_relay.as_mut()].into_iter().flatten() {
        relay_targets(md, relay);
    }
}

fn echo_targets(md: &mut String, echo: &mut [EchoRun]) {
    let mut get = |s| find(echo, s).map(|r| (r.total.rps(), r.total.latencies.percentile(99.0)));
    let (Some(host), Some(native)) = (get(System::Host), get(System::Native)) else { return };
    let ratio = host.0 / native.0;
    let _ = writeln!(md, "| echo ≥ 0.6× native axum | {ratio:.2}× | {} |", verdict(ratio >= 0.6));
    let p99 = host.1.as_secs_f64() / native.1.as_secs_f64().max(1e-9);
    let _ = writeln!(
        md,
        "| echo p99 ≤ 2× native | {p99:.2}× ({} vs {}) | {} |",
        ms(host.1),
        ms(native.1),
        verdict(p99 <= 2.0)
    );
    if let Some(fastapi) = get(System::FastApi) {
        let vs = host.0 / fastapi.0;
        let _ = writeln!(md, "| echo ≥ 30× fastapi_poe | {vs:.1}× | {} |", verdict(vs >= 30.0));
    }
}

/// Criterion's medians for every bench under `dir/overhead/`.
pub fn read_criterion(dir: &Path) -> Vec<(String, f64, f64, f64)> {
    let Ok(entries) = std::fs::read_dir(dir.join("overhead")) else { return vec![] };
    let mut rows: Vec<_> = entries
        .flatten()
        .filter_map(|e| {
            let text = std::fs::read_to_string(e.path().join("new/estimates.json")).ok()?;
            let v: serde_json::Value = serde_json::from_str(&text).ok()?;
            let m = &v["median"];
            let ci = &m["confidence_interval"];
            let id = format!("overhead/{}", e.file_name().to_string_lossy());
            Some((
                id,
                m["point_estimate"].as_f64()?,
                ci["lower_bound"].as_f64()?,
                ci["upper_bound"].as_f64()?,
            ))
        })
        .collect();
    rows.sort_by(|a, b| a.0.cmp(&b.0));
    rows
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::reload::Swap;

    #[test]
    fn swap_stats_count_unserved_swaps_apart() {
        let ms = Duration::from_millis;
        let swap = |method, took| Swap { method, took };
        let r = Reload {
            swaps: vec![
                swap(Method::Rename, Some(ms(300))),
                swap(Method::Copy, Some(ms(100))),
                swap(Method::Copy, None),
                swap(Method::Rename, Some(ms(200))),
                swap(Method::Copy, Some(ms(400))),
            ],
            ..Reload::default()
        };
        assert_eq!(swap_stats(&r, None), (5, ms(300), ms(400), 1));
        assert_eq!(swap_stats(&r, Some(Method::Copy)), (3, ms(400), ms(400), 1));
        assert_eq!(swap_stats(&r, Some(Method::Rename)), (2, ms(300), ms(300), 0));
    }

    #[test]
    fn a_disturbed_baseline_makes_the_isolation_verdict_inconclusive() {
        let quiet = Duration::from_micros(300);
        assert_eq!(isolation_verdict(true, quiet), "met");
        assert_eq!(isolation_verdict(false, quiet), "**missed**");
        let busy = Duration::from_micros(1_560);
        assert!(isolation_verdict(true, busy).starts_with("**inconclusive**"));
        assert!(isolation_verdict(false, busy).starts_with("**inconclusive**"));
    }
}
