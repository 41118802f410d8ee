//! The Python scenarios' Markdown: a block of BENCHMARKS.md of its own (a run of only the
//! Python scenarios leaves the other results alone), with its tables and targets.

use std::fmt::Write;
use std::time::Duration;

use crate::procs::mib;
use crate::python::{PythonEcho, PythonOpen};
use crate::relay::RELAY_CHUNKS;
use crate::scenarios::{EchoRun, System};
use crate::stats::{ms, rate};

/// What the Python scenarios measured; a scenario left out by `--only` is `None`.
#[derive(Default)]
pub struct PythonResults {
    /// `python-echo`.
    pub echo: Option<PythonEcho>,
    /// `python-relay`.
    pub relay: Option<Vec<EchoRun>>,
    /// `python-open`.
    pub open: Option<Vec<PythonOpen>>,
}

impl PythonResults {
    /// Whether any Python scenario ran.
    pub fn any(&self) -> bool {
        self.echo.is_some() || self.relay.is_some() || self.open.is_some()
    }
}

/// The Markdown block of the Python scenarios.
pub fn markdown(r: &mut PythonResults, context: &str) -> String {
    let mut md = String::from(context);
    if let Some(echo) = r.echo.as_mut() {
        md.push_str(
            "\n### Python echo (one chunk), 32 keep-alive connections: `echo.py` on poe-host and on fastapi_poe\n\n",
        );
        runs_table(&mut md, &mut echo.runs, "req/s", echo_row_name);
        startup_table(&mut md, echo);
    }
    if let Some(runs) = r.relay.as_mut() {
        let _ = writeln!(
            md,
            "\n### Python relay: `allcaps.py` calling a local upstream Poe bot that streams {RELAY_CHUNKS} chunks at once, 32 keep-alive connections\n"
        );
        runs_table(&mut md, runs, "relayed req/s", relay_row_name);
    }
    if let Some(open) = &r.open {
        open_table(&mut md, open);
    }
    targets(&mut md, r);
    md
}

fn echo_row_name(s: System) -> &'static str {
    match s {
        System::HostPython => "poe-host, `echo.py` built",
        System::FastApi => "fastapi_poe, `echo.py` served",
        System::Host => "poe-host, Rust `echo` (context)",
        _ => s.name(),
    }
}

fn relay_row_name(s: System) -> &'static str {
    match s {
        System::HostPython => "poe-host, `allcaps.py` built",
        System::FastApi => "fastapi_poe, `allcaps.py` served",
        System::Host => "poe-host, Rust `allcaps` (context)",
        System::FastApiShared => "fastapi_poe, one shared httpx client (`fastapi_allcaps.py`, context)",
        _ => s.name(),
    }
}

fn us(d: Option<Duration>) -> String {
    d.map_or_else(|| "—".into(), |d| format!("{:.0} µs", d.as_secs_f64() * 1e6))
}

fn runs_table(md: &mut String, runs: &mut [EchoRun], what: &str, name: fn(System) -> &'static str) {
    let _ =
        writeln!(md, "| system | {what} | req/s per round | p50 | p99 | errors | server CPU per request |");
    md.push_str("|---|---:|---|---:|---:|---:|---:|\n");
    for run in runs.iter_mut() {
        let rounds: Vec<String> = run.rounds.iter().map(|v| rate(*v)).collect();
        let cpu = us(run.cpu_per_request());
        let t = &mut run.total;
        let (p50, p99) = (t.latencies.percentile(50.0), t.latencies.percentile(99.0));
        let _ = writeln!(
            md,
            "| {} | {} | {} | {} | {} | {} | {cpu} |",
            name(run.system),
            rate(t.rps()),
            rounds.join(" / "),
            ms(p50),
            ms(p99),
            t.errors,
        );
    }
    md.push_str(
        "\nServer CPU per request: user + system time of the server process (`/proc/PID/stat`) over the \
         measured runs, divided by its correct answers. The load generator runs on the same 2 cores.\n",
    );
}

fn startup_table(md: &mut String, echo: &PythonEcho) {
    let s = &echo.startup;
    md.push_str("\n### Python echo: spawn → `listening on` (servable)\n\n");
    md.push_str("| server | time |\n|---|---:|\n");
    let _ = writeln!(
        md,
        "| poe-host, `echo.wasm` (Python), cold: empty cache dir (compile + store) | {} |",
        ms(s.cold)
    );
    let _ = writeln!(
        md,
        "| poe-host, `echo.wasm` (Python), warm: same cache dir again (median of {}) | {} |",
        s.warm_runs,
        ms(s.warm)
    );
    let _ =
        writeln!(md, "| fastapi_poe, `echo.py` (fp_serve_file.py: imports, uvicorn) | {} |", ms(s.fastapi));
}

fn open_table(md: &mut String, runs: &[PythonOpen]) {
    md.push_str("\n### Python open streams: `misbehave.py`'s `hold 600000`, all held at once\n\n");
    md.push_str(
        "Memory is PSS (`/proc/PID/smaps_rollup`), so pages of the component's memory image that every \
         instance maps count once, not once per instance as in RSS. Idle is after one answered `sleep 0`; \
         \"all open\" is once every stream's first event (`holding`) arrived, its bot parked in `asyncio.sleep`.\n\n",
    );
    md.push_str("| system | open | failed | time to open all | PSS idle | PSS all open | above idle | per stream | RSS idle | RSS all open |\n");
    md.push_str("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n");
    for r in runs {
        let per = r.above_idle_kib() as f64 / r.opened.max(1) as f64;
        let _ = writeln!(
            md,
            "| {} | {} | {} | {} | {} | {} | {} | {per:.0} KiB | {} | {} |",
            r.system.name(),
            r.opened,
            r.failed,
            ms(r.open_time),
            mib(r.idle_pss_kib),
            mib(r.open_pss_kib),
            mib(r.above_idle_kib()),
            mib(r.idle.rss_kib),
            mib(r.open.rss_kib),
        );
    }
}

fn verdict(met: bool) -> &'static str {
    if met { "met" } else { "**missed**" }
}

fn find(runs: &mut [EchoRun], s: System) -> Option<(f64, Duration)> {
    let run = runs.iter_mut().find(|r| r.system == s)?;
    Some((run.total.rps(), run.total.latencies.percentile(99.0)))
}

fn targets(md: &mut String, r: &mut PythonResults) {
    md.push_str("\n### Python targets\n\n| target | measured | verdict |\n|---|---|---|\n");
    if let Some(echo) = r.echo.as_mut()
        && let (Some(py), Some(fastapi)) =
            (find(&mut echo.runs, System::HostPython), find(&mut echo.runs, System::FastApi))
    {
        let vs = py.0 / fastapi.0;
        let _ = writeln!(
            md,
            "| Python echo ≥ 3× fastapi_poe's req/s (`echo.py` both) | {vs:.2}× ({} vs {} req/s) | {} |",
            rate(py.0),
            rate(fastapi.0),
            verdict(vs >= 3.0)
        );
        let _ = writeln!(
            md,
            "| Python echo p99 lower than fastapi_poe's | {} vs {} | {} |",
            ms(py.1),
            ms(fastapi.1),
            verdict(py.1 < fastapi.1)
        );
    }
    if let Some(runs) = r.relay.as_mut()
        && let (Some(py), Some(fastapi)) = (find(runs, System::HostPython), find(runs, System::FastApi))
    {
        let shared = find(runs, System::FastApiShared)
            .map(|s| format!("; {:.2}× fastapi_poe with one shared client", py.0 / s.0))
            .unwrap_or_default();
        let vs = py.0 / fastapi.0;
        let _ = writeln!(
            md,
            "| Python relay ≥ 3× fastapi_poe's relayed req/s (`allcaps.py` both) | {vs:.1}× ({} vs {} req/s{shared}) | {} |",
            rate(py.0),
            rate(fastapi.0),
            verdict(vs >= 3.0)
        );
    }
    if let Some(host) = r.open.as_ref().and_then(|o| o.iter().find(|o| o.system == System::HostPython)) {
        let above = host.above_idle_kib() as f64 / 1024.0;
        let _ = writeln!(
            md,
            "| {} concurrent Python streams within 256 MiB PSS above idle | {} open, {above:.1} MiB | {} |",
            host.opened + host.failed,
            host.opened,
            verdict(host.failed == 0 && above <= 256.0)
        );
    }
}
