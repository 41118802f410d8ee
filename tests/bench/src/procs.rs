//! The systems under test as child processes: poe-host, the native baseline (this binary's
//! `native` subcommand) and fastapi_poe under uvicorn. Each runs in its own process so its
//! memory can be read from `/proc` and the load generator never shares its runtime.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use anyhow::{Context, bail};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};
use tokio::time::Instant;

/// How long a server may take to say it is listening (100 bots compiled cold included).
const START_PATIENCE: Duration = Duration::from_secs(300);

/// A running server, killed when dropped.
pub struct Server {
    child: Child,
    /// Where it listens.
    pub addr: SocketAddr,
    /// Spawn → listening.
    pub startup: Duration,
}

/// How to start poe-host.
pub struct HostOptions<'a> {
    /// The release binary.
    pub bin: &'a Path,
    /// Its bots directory.
    pub bots: &'a Path,
    /// `--cache-dir` (`none` disables the cache).
    pub cache: &'a str,
    /// `--pool-size` and `--max-concurrent-per-bot`.
    pub pool: u32,
    /// Where its log goes.
    pub log: PathBuf,
    /// More flags for `poe-host serve` (limits, `--admin-key`).
    pub extra: Vec<String>,
}

impl Server {
    /// Start poe-host and wait for its `listening on` line.
    pub async fn host(o: &HostOptions<'_>, key: &str) -> anyhow::Result<Server> {
        let mut cmd = Command::new(o.bin);
        cmd.arg("serve").arg("--bots").arg(o.bots).args(["--listen", "127.0.0.1:0"]);
        // The per-bot cap must cover the scenario's concurrency, like the pool.
        let pool = o.pool.to_string();
        cmd.args(["--cache-dir", o.cache, "--pool-size", &pool, "--max-concurrent-per-bot", &pool]);
        cmd.args(&o.extra);
        cmd.env("POE_ACCESS_KEY", key).stderr(log_file(&o.log)?);
        Self::announced(cmd)
            .await
            .with_context(|| format!("poe-host did not start (log: {})", o.log.display()))
    }

    /// Start the native axum baseline (`poe-bench native`).
    pub async fn native(key: &str, log: PathBuf) -> anyhow::Result<Server> {
        let mut cmd = Command::new(std::env::current_exe().context("cannot find poe-bench itself")?);
        cmd.arg("native").env("POE_ACCESS_KEY", key).stderr(log_file(&log)?);
        Self::announced(cmd).await.context("the native baseline did not start")
    }

    /// Start the relay scenario's upstream (`poe-bench upstream`).
    pub async fn upstream(key: &str, log: PathBuf) -> anyhow::Result<Server> {
        let mut cmd = Command::new(std::env::current_exe().context("cannot find poe-bench itself")?);
        cmd.arg("upstream").env("POE_ACCESS_KEY", key).stderr(log_file(&log)?);
        Self::announced(cmd).await.context("the upstream did not start")
    }

    /// Run a Python script that serves on a port it picks and prints `listening on
    /// http://ADDR` (tests/bench/fastapi_allcaps.py, tests/interop/fp_serve_file.py). Its stdin
    /// is a pipe held open while the server runs (fp_serve_file.py exits at EOF).
    pub async fn python_script(
        python: &Path,
        script: &Path,
        args: &[&str],
        env: &[(&str, &str)],
        log: PathBuf,
    ) -> anyhow::Result<Server> {
        let mut cmd = Command::new(python);
        cmd.arg(script).args(args).envs(env.iter().copied()).stdin(Stdio::piped()).stderr(log_file(&log)?);
        Self::announced(cmd)
            .await
            .with_context(|| format!("{} did not start (log: {})", script.display(), log.display()))
    }

    /// Start fastapi_poe's echo bot under uvicorn on a free port.
    pub async fn fastapi(python: &Path, app_dir: &Path, key: &str, log: PathBuf) -> anyhow::Result<Server> {
        let addr = free_port()?;
        let mut cmd = Command::new(python);
        cmd.args(["-m", "uvicorn", "fastapi_echo:app", "--app-dir"]).arg(app_dir);
        cmd.args(["--host", "127.0.0.1", "--port", &addr.port().to_string()]);
        cmd.args(["--log-level", "warning", "--no-access-log"]);
        cmd.env("POE_ACCESS_KEY", key).stdout(Stdio::null()).stderr(log_file(&log)?).kill_on_drop(true);
        let started = Instant::now();
        let mut child = cmd.spawn().with_context(|| format!("cannot run {}", python.display()))?;
        while tokio::net::TcpStream::connect(addr).await.is_err() {
            if let Some(status) = child.try_wait()? {
                bail!("uvicorn exited with {status} (log: {})", log.display());
            }
            if started.elapsed() > Duration::from_secs(60) {
                bail!("uvicorn did not listen on {addr} within 60 s (log: {})", log.display());
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Ok(Server { child, addr, startup: started.elapsed() })
    }

    async fn announced(mut cmd: Command) -> anyhow::Result<Server> {
        let started = Instant::now();
        let mut child = cmd.stdout(Stdio::piped()).kill_on_drop(true).spawn().context("cannot spawn")?;
        let stdout = child.stdout.take().context("no stdout")?;
        let mut lines = BufReader::new(stdout).lines();
        let addr = tokio::time::timeout(START_PATIENCE, async {
            while let Some(line) = lines.next_line().await? {
                if let Some(addr) = line.trim().strip_prefix("listening on http://") {
                    return addr.parse::<SocketAddr>().context("bad address in `listening on` line");
                }
            }
            bail!("exited without printing `listening on http://ADDR`")
        })
        .await
        .context("no `listening on` line in time")??;
        let startup = started.elapsed();
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        Ok(Server { child, addr, startup })
    }

    /// The server's memory now.
    pub fn memory(&self) -> anyhow::Result<Memory> {
        let pid = self.child.id().context("server already exited")?;
        Memory::of(pid)
    }

    /// The server's proportional set size now (KiB, `/proc/PID/smaps_rollup`): each page
    /// divided by the number of mappings that share it. Where one process maps the same image
    /// many times over (a wasm memory image behind every instance), RSS counts each page once
    /// per mapping and PSS once in all.
    pub fn pss_kib(&self) -> anyhow::Result<u64> {
        let pid = self.child.id().context("server already exited")?;
        let path = format!("/proc/{pid}/smaps_rollup");
        let rollup = std::fs::read_to_string(&path).with_context(|| format!("cannot read {path}"))?;
        kib_field(&rollup, "Pss:").with_context(|| format!("no Pss in {path}"))
    }

    /// The server's process id, while it runs.
    pub fn pid(&self) -> Option<u32> {
        self.child.id()
    }

    /// Stop the server and wait for it to go.
    pub async fn stop(mut self) {
        let _ = self.child.start_kill();
        let _ = self.child.wait().await;
    }
}

/// Resident memory of a process, from `/proc/PID/status`.
#[derive(Debug, Clone, Copy, Default)]
pub struct Memory {
    /// `VmRSS`: resident now, KiB.
    pub rss_kib: u64,
    /// `VmHWM`: peak resident since start, KiB.
    pub peak_kib: u64,
}

impl Memory {
    fn of(pid: u32) -> anyhow::Result<Memory> {
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).context("cannot read /proc")?;
        let field =
            |name: &str| kib_field(&status, name).with_context(|| format!("no {name} in /proc/{pid}/status"));
        Ok(Memory { rss_kib: field("VmRSS:")?, peak_kib: field("VmHWM:")? })
    }
}

/// The value of a `Name:   1234 kB` line of a /proc file.
fn kib_field(text: &str, name: &str) -> Option<u64> {
    text.lines()
        .find_map(|l| l.strip_prefix(name))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}

/// CPU time (user + system, every thread) process `pid` has used so far, from `/proc/PID/stat`
/// (clock ticks: 10 ms at the usual 100 Hz, so measure over seconds).
pub fn cpu_time(pid: u32) -> anyhow::Result<Duration> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).context("cannot read /proc/PID/stat")?;
    // Fields after the parenthesised command name, which may hold spaces: state is field 3,
    // utime and stime are fields 14 and 15.
    let after_name = stat.rsplit_once(')').context("no command name in /proc/PID/stat")?.1;
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    let tick = |i: usize| fields.get(i - 3).and_then(|f| f.parse::<u64>().ok()).context("bad /proc/PID/stat");
    let ticks = tick(14)? + tick(15)?;
    Ok(Duration::from_secs_f64(ticks as f64 / clock_ticks_per_second() as f64))
}

/// `getconf CLK_TCK`, once (100 where it cannot be asked).
fn clock_ticks_per_second() -> u64 {
    static TICKS: std::sync::OnceLock<u64> = std::sync::OnceLock::new();
    *TICKS.get_or_init(|| {
        std::process::Command::new("getconf")
            .arg("CLK_TCK")
            .output()
            .ok()
            .and_then(|o| String::from_utf8(o.stdout).ok()?.trim().parse().ok())
            .unwrap_or(100)
    })
}

/// MiB with one decimal.
pub fn mib(kib: u64) -> String {
    format!("{:.1} MiB", kib as f64 / 1024.0)
}

fn log_file(path: &Path) -> anyhow::Result<std::fs::File> {
    std::fs::File::create(path).with_context(|| format!("cannot create {}", path.display()))
}

/// A port nobody is using right now (uvicorn cannot report a port-0 choice).
fn free_port() -> anyhow::Result<SocketAddr> {
    let probe = std::net::TcpListener::bind("127.0.0.1:0").context("cannot bind a probe socket")?;
    Ok(probe.local_addr()?)
}
