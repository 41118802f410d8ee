//! Hot reload: bots added, replaced (atomically or by truncating copy), broken, fixed,
//! re-keyed and removed on a running host, with no failed request; files that are not what
//! they seem (FIFOs, huge sparse files, replacements keeping size and mtime, noisy
//! neighbours); and the compile cache.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant, SystemTime};

use poe_host::bots::cache::DEFAULT_MAX_BYTES;
use poe_host::bots::reload::SETTLE;
use poe_host::sandbox::admission::QueuePolicy;
use serde_json::{Value, json};

use crate::harness::*;

/// How long a change may take to be served.
const SWAP_DEADLINE: Duration = Duration::from_secs(1);

/// What `bot` answers to "x": echo says "x", showcase "unknown command: x".
async fn answer(host: &TestHost, bot: &str) -> Option<String> {
    let response = host.post(bot, &query("x")).await;
    if response.status() != 200 {
        return None;
    }
    let events = parse_sse(&response.bytes().await.ok()?);
    events.first().and_then(|e| e.data["text"].as_str().map(str::to_owned))
}

/// Wait until `bot` answers `expected` (or is gone, for `None`); return how long it took.
async fn wait_for(host: &TestHost, bot: &str, expected: Option<&str>) -> Duration {
    let start = Instant::now();
    loop {
        if answer(host, bot).await.as_deref() == expected {
            return start.elapsed();
        }
        assert!(start.elapsed() < Duration::from_secs(5), "{bot} never answered {expected:?}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

fn replace_atomically(from: &str, to: &Path) {
    let tmp = to.with_extension("wasm.partial");
    std::fs::copy(from, &tmp).unwrap();
    std::fs::rename(tmp, to).unwrap();
}

/// Clients that query `bot` in a loop until stopped, checking every response is whole.
fn start_load(
    host: &Arc<TestHost>,
    clients: usize,
    stop: &Arc<AtomicBool>,
) -> Vec<tokio::task::JoinHandle<usize>> {
    (0..clients)
        .map(|_| {
            let (host, stop) = (host.clone(), stop.clone());
            tokio::spawn(async move {
                let mut done = 0;
                while !stop.load(Ordering::Relaxed) {
                    let response = host.post("bot", &query("x")).await;
                    assert_eq!(response.status(), 200, "a request failed during a swap");
                    let events = parse_sse(&response.bytes().await.unwrap());
                    assert_done_once_at_end(&events);
                    let text = events[0].data["text"].as_str().unwrap();
                    assert!(text == "x" || text == "unknown command: x", "{text}");
                    done += 1;
                }
                done
            })
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifty_swaps_under_load_fail_no_request_and_each_is_served_within_a_second() {
    let host =
        Arc::new(TestHost::with(Options { bots: vec![("bot", guests::ECHO)], ..Options::default() }).await);
    let path = host.file("bot.wasm");
    let stop = Arc::new(AtomicBool::new(false));
    let clients = start_load(&host, 16, &stop);
    let mut swap_times = Vec::new();
    for i in 0..50 {
        let (wasm, expected) =
            if i % 2 == 0 { (guests::SHOWCASE, "unknown command: x") } else { (guests::ECHO, "x") };
        if i % 4 < 2 {
            replace_atomically(wasm, &path);
        } else {
            std::fs::copy(wasm, &path).unwrap(); // truncates, then writes in place
        }
        swap_times.push(wait_for(&host, "bot", Some(expected)).await);
    }
    stop.store(true, Ordering::Relaxed);
    let served: usize = futures::future::join_all(clients).await.into_iter().map(Result::unwrap).sum();
    std::fs::remove_file(&path).unwrap();
    let removed = wait_for(&host, "bot", None).await;
    std::fs::copy(guests::ECHO, &path).unwrap();
    let readded = wait_for(&host, "bot", Some("x")).await;
    swap_times.sort();
    let (median, max) = (swap_times[swap_times.len() / 2], *swap_times.last().unwrap());
    println!("swaps: median {median:?}, max {max:?}; removed after {removed:?}; {served} requests served");
    assert!(max < SWAP_DEADLINE, "slowest swap took {max:?}");
    assert!(removed < SWAP_DEADLINE && readded < SWAP_DEADLINE);
    assert!(served > 100, "the load ran: {served}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn broken_file_keeps_the_good_version_serving_until_fixed() {
    let host = TestHost::start().await;
    let path = host.file("echo.wasm");
    std::fs::write(&path, b"\0asm\x0d\0\x01\0garbage").unwrap();
    let error = admin_entry_once(&host, "echo", |e| !e["last_error"].is_null(), Duration::from_secs(3)).await;
    assert!(
        error["last_error"].as_str().unwrap().contains("echo.wasm is not a valid wasm component"),
        "{error}"
    );
    assert_eq!(error["serving"], json!(true));
    assert_eq!(answer(&host, "echo").await.as_deref(), Some("x"), "old version keeps serving");
    std::fs::copy(guests::SHOWCASE, &path).unwrap();
    wait_for(&host, "echo", Some("unknown command: x")).await;
    let echo = admin_entry(&host, "echo").await;
    assert_eq!(echo["last_error"], Value::Null, "fixing the file clears the error");
}

/// An out-of-range limit in a sidecar is a load error like any other: reported, the old
/// version serving, and the watcher still reloading (it used to panic the reload task).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_out_of_range_sidecar_limit_is_reported_and_reloading_goes_on() {
    let host = TestHost::start().await;
    std::fs::write(host.file("echo.toml"), "[limits]\ntimeout_secs = -1\n").unwrap();
    let error = admin_entry_once(&host, "echo", |e| !e["last_error"].is_null(), SWAP_DEADLINE).await;
    let message = error["last_error"].as_str().unwrap();
    assert!(message.contains("echo.toml") && message.contains("limits.timeout_secs"), "{message}");
    assert_eq!(answer(&host, "echo").await.as_deref(), Some("x"), "old version keeps serving");
    std::fs::write(host.file("echo.toml"), "[limits]\ntimeout_secs = 5\n").unwrap();
    let fixed = admin_entry_once(&host, "echo", |e| e["last_error"].is_null(), SWAP_DEADLINE).await;
    assert_eq!(fixed["serving"], json!(true));
    std::fs::copy(guests::SHOWCASE, host.file("echo.wasm")).unwrap();
    wait_for(&host, "echo", Some("unknown command: x")).await;
}

/// The admin view's entry for `bot`.
async fn admin_entry(host: &TestHost, bot: &str) -> Value {
    find_admin_entry(host, bot).await.unwrap_or_else(|| panic!("{bot} is not in the admin view"))
}

/// The admin view's entry for `bot`, if it has one.
async fn find_admin_entry(host: &TestHost, bot: &str) -> Option<Value> {
    let admin = host.admin().await;
    admin["bots"].as_array().unwrap().iter().find(|b| b["name"] == bot).cloned()
}

/// `bot`'s admin entry once `done` holds for it, within `patience`. A reload pushes no
/// notification, so this polls the admin view (every 5 ms).
async fn admin_entry_once(
    host: &TestHost,
    bot: &str,
    done: impl Fn(&Value) -> bool,
    patience: Duration,
) -> Value {
    let start = Instant::now();
    loop {
        let entry = find_admin_entry(host, bot).await;
        if let Some(entry) = entry.as_ref().filter(|e| done(e)) {
            return entry.clone();
        }
        assert!(start.elapsed() < patience, "{bot} never got there: {entry:?}");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// A new version with the same cap admits through the old version's gate: a call still
/// running on the old version holds the only slot, so the new version queues, then 503s.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reloaded_bot_keeps_its_concurrency_cap() {
    let sidecar = "[limits]\nmax_concurrent = 1\n".to_owned();
    let queue = QueuePolicy { max_queued: 8, timeout: Duration::from_millis(300) };
    let host = TestHost::with(Options {
        sidecars: vec![("showcase", sidecar.clone())],
        queue,
        ..Options::default()
    })
    .await;
    let running = host.post("showcase", &query("sleep 2000")).await;
    assert_eq!(running.status(), 200);
    let loaded = admin_entry(&host, "showcase").await["loaded_at"].clone();
    std::fs::write(host.file("showcase.toml"), format!("{sidecar}# edited\n")).unwrap();
    let reloaded = admin_entry_once(&host, "showcase", |e| e["loaded_at"] != loaded, SWAP_DEADLINE).await;
    assert_eq!(reloaded["in_flight"], json!(1), "the old call counts");
    let refused = host.post("showcase", &query("x")).await;
    assert_eq!(refused.status(), 503, "the cap of 1 held across the swap");
    drop(running);
}

/// The status echo answers with `key`.
async fn status_with_key(host: &TestHost, key: &str) -> u16 {
    host.post_raw("echo", Some(&format!("Bearer {key}")), query("x").to_string()).await.status().as_u16()
}

/// Wait until echo answers `status` to `key`, within [`SWAP_DEADLINE`]; how long it took.
async fn wait_for_status(host: &TestHost, key: &str, status: u16) -> Duration {
    let start = Instant::now();
    while status_with_key(host, key).await != status {
        assert!(start.elapsed() < SWAP_DEADLINE, "key {key} never got {status}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    start.elapsed()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sidecar_key_rotation_applies_without_restart() {
    let host = TestHost::start().await;
    let new_key = "rotated-key-0123456789abcdefghij";
    std::fs::write(host.file("echo.toml"), format!("access_key = \"{new_key}\"")).unwrap();
    wait_for_status(&host, KEY, 401).await;
    assert_eq!(status_with_key(&host, new_key).await, 200);
    let admin = host.admin().await.to_string();
    assert!(!admin.contains(new_key) && !admin.contains(KEY), "admin view must not show keys");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn adding_and_renaming_bots_serves_them() {
    let host = TestHost::start().await;
    std::fs::copy(guests::ECHO, host.file("fresh.wasm")).unwrap();
    wait_for(&host, "fresh", Some("x")).await;
    std::fs::rename(host.file("fresh.wasm"), host.file("renamed.wasm")).unwrap();
    wait_for(&host, "renamed", Some("x")).await;
    wait_for(&host, "fresh", None).await;
}

#[tokio::test]
async fn admin_view_needs_its_key() {
    let host = TestHost::start().await;
    let url = format!("{}/_admin/bots", host.url);
    assert_eq!(host.client.get(&url).send().await.unwrap().status(), 401);
    assert_eq!(host.client.get(&url).bearer_auth(KEY).send().await.unwrap().status(), 401);
    let admin = host.admin().await;
    let names: Vec<&str> =
        admin["bots"].as_array().unwrap().iter().map(|b| b["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["echo", "showcase"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn second_start_compiles_nothing_and_corrupt_cache_entries_are_recompiled() {
    let cache = tempfile::tempdir().unwrap();
    let options = || Options { cache_dir: Some(cache.path().to_owned()), ..Options::default() };
    let first = TestHost::with(options()).await;
    assert_eq!(first.admin().await["cache"], json!({"hits": 0, "compiles": 2, "rejected": 0, "evicted": 0}));
    let second = TestHost::with(options()).await;
    assert_eq!(second.admin().await["cache"], json!({"hits": 2, "compiles": 0, "rejected": 0, "evicted": 0}));
    assert_eq!(answer(&second, "echo").await.as_deref(), Some("x"));
    let corrupted = AtomicUsize::new(0);
    let artifacts = std::fs::read_dir(cache.path()).unwrap().flatten().map(|e| e.path());
    for artifact in artifacts.filter(|p| p.extension().is_some_and(|e| e == "cwasm")) {
        let mut bytes = std::fs::read(&artifact).unwrap();
        let middle = bytes.len() / 2;
        bytes[middle] ^= 0xff;
        std::fs::write(&artifact, bytes).unwrap();
        corrupted.fetch_add(1, Ordering::Relaxed);
    }
    assert_eq!(corrupted.into_inner(), 2);
    let third = TestHost::with(options()).await;
    assert_eq!(third.admin().await["cache"], json!({"hits": 0, "compiles": 2, "rejected": 2, "evicted": 0}));
    assert_eq!(answer(&third, "echo").await.as_deref(), Some("x"));
}

/// `cp -p`, `rsync -a` or `touch -d` can replace a sidecar keeping its size and mtime: the
/// rotated-out key must stop working all the same (size and mtime were all that was compared).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_rotated_keeping_the_sidecars_size_and_mtime_is_picked_up() {
    let host = TestHost::start().await;
    let (old_key, new_key) = ("rotated-key-A-0123456789abcdefgh", "rotated-key-B-0123456789abcdefgh");
    let sidecar = host.file("echo.toml");
    std::fs::write(&sidecar, format!("access_key = \"{old_key}\"\n")).unwrap();
    wait_for_status(&host, old_key, 200).await;
    let before = std::fs::metadata(&sidecar).unwrap();
    std::fs::write(&sidecar, format!("access_key = \"{new_key}\"\n")).unwrap();
    std::fs::File::options()
        .write(true)
        .open(&sidecar)
        .unwrap()
        .set_modified(before.modified().unwrap())
        .unwrap();
    let after = std::fs::metadata(&sidecar).unwrap();
    assert_eq!((after.len(), after.modified().unwrap()), (before.len(), before.modified().unwrap()));
    let took = wait_for_status(&host, old_key, 401).await;
    assert_eq!(status_with_key(&host, new_key).await, 200);
    println!("same-size same-mtime rotation picked up after {took:?}");
}

/// Opens `fifo` for writing if the test panics, so that a reader blocked on it (the bug
/// under test) returns and the runtime can shut down: the test then fails instead of hanging.
struct UnblockOnPanic(PathBuf);

impl Drop for UnblockOnPanic {
    fn drop(&mut self) {
        if std::thread::panicking() {
            let (fifo, (opened, done)) = (self.0.clone(), std::sync::mpsc::channel());
            std::thread::spawn(move || opened.send(std::fs::OpenOptions::new().write(true).open(fifo)));
            // Before the FIFO's directory is removed; no reader (the fixed code) means no wait.
            let _ = done.recv_timeout(Duration::from_secs(1));
        }
    }
}

/// A FIFO sidecar used to hang the one reloader task: no bot reloaded any more.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fifo_sidecar_is_a_load_error_and_other_bots_keep_reloading() {
    let host = TestHost::start().await;
    let fifo = host.file("echo.toml");
    let _unblock = UnblockOnPanic(fifo.clone());
    mkfifo(&fifo);
    let entry = admin_entry_once(&host, "echo", |e| !e["last_error"].is_null(), SWAP_DEADLINE).await;
    let message = entry["last_error"].as_str().unwrap();
    assert!(message.ends_with("echo.toml is not a regular file but a FIFO"), "{message}");
    assert_eq!(entry["serving"], json!(true));
    assert_eq!(answer(&host, "echo").await.as_deref(), Some("x"), "the previous version keeps serving");
    std::fs::copy(guests::ECHO, host.file("showcase.wasm")).unwrap();
    assert!(wait_for(&host, "showcase", Some("x")).await < SWAP_DEADLINE, "other bots reload");
}

/// A sidecar that is a symlink to a FIFO used to hang start-up: the host never listened.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn start_up_with_a_symlink_to_a_fifo_as_sidecar_serves_the_other_bots() {
    let elsewhere = tempfile::tempdir().unwrap();
    let fifo = elsewhere.path().join("pipe");
    mkfifo(&fifo);
    let _unblock = UnblockOnPanic(fifo.clone());
    let options = Options { links: vec![("echo.toml", fifo)], ..Options::default() };
    let (host, took) = timed(tokio::time::timeout(Duration::from_secs(10), TestHost::with(options))).await;
    let host = host.expect("start-up finished");
    println!("start-up with a FIFO sidecar took {took:?}");
    assert_eq!(answer(&host, "showcase").await.as_deref(), Some("unknown command: x"));
    assert_eq!(host.post("echo", &query("x")).await.status(), 404, "echo is not served");
    let entry = admin_entry(&host, "echo").await;
    let message = entry["last_error"].as_str().unwrap();
    assert!(message.ends_with("echo.toml is not a regular file but a FIFO"), "{message}");
}

/// A 4 GiB sparse `huge.wasm` used to be read whole (4.2 GB of RSS for 11 s) before its
/// header was checked; now its size is refused from its metadata.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_huge_sparse_bot_file_is_refused_without_being_read() {
    let host = TestHost::start().await;
    let peak_before = peak_rss();
    let (entry, took) = timed(async {
        std::fs::File::create(host.file("huge.wasm")).unwrap().set_len(4 << 30).unwrap();
        admin_entry_once(&host, "huge", |e| !e["last_error"].is_null(), SWAP_DEADLINE).await
    })
    .await;
    let grew = peak_rss().saturating_sub(peak_before);
    println!("4 GiB sparse file refused after {took:?}; peak RSS grew {} MiB", grew >> 20);
    let message = entry["last_error"].as_str().unwrap();
    assert!(
        message.ends_with("huge.wasm is 4294967296 bytes, more than the limit of 67108864 bytes"),
        "{message}"
    );
    assert_eq!(entry["serving"], json!(false));
    assert_eq!(host.post("huge", &query("x")).await.status(), 404);
    // Other tests run in this process too, so only a whole read is ruled out.
    assert!(grew < 1 << 30, "peak RSS grew by {} MiB", grew >> 20);
}

/// Writes `noise.log` and echo's sidecar (unchanged key) every 20 ms until `stop`; counts writes.
async fn make_noise(dir: PathBuf, writes: Arc<AtomicUsize>, stop: Arc<AtomicBool>) {
    let mut tick = tokio::time::interval(Duration::from_millis(20));
    while !stop.load(Ordering::Relaxed) {
        tick.tick().await;
        let n = writes.fetch_add(1, Ordering::Relaxed);
        std::fs::write(dir.join("noise.log"), format!("line {n}\n")).unwrap();
        std::fs::write(dir.join("echo.toml"), format!("access_key = \"{KEY}\"\n# {n}\n")).unwrap();
    }
}

/// A file written more often than every 150 ms used to stop all reloading: each event
/// restarted the one quiet-period wait. A log file is ignored, and a noisy sidecar holds
/// back only its own bot.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn files_written_every_20_ms_delay_no_other_bot() {
    let host = TestHost::start().await;
    let (writes, stop) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicBool::new(false)));
    let noise = tokio::spawn(make_noise(host.dir.path().to_owned(), writes.clone(), stop.clone()));
    let start = Instant::now();
    while writes.load(Ordering::Relaxed) < 3 {
        assert!(start.elapsed() < SWAP_DEADLINE, "the noise never started");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let before = writes.load(Ordering::Relaxed);
    std::fs::copy(guests::ECHO, host.file("fresh.wasm")).unwrap();
    let added = wait_for(&host, "fresh", Some("x")).await;
    let during = writes.load(Ordering::Relaxed) - before;
    std::fs::remove_file(host.file("showcase.wasm")).unwrap();
    let removed = wait_for(&host, "showcase", None).await;
    assert_eq!(answer(&host, "echo").await.as_deref(), Some("x"), "the noisy bot keeps serving");
    stop.store(true, Ordering::Relaxed);
    noise.await.unwrap();
    println!(
        "{during} noisy writes while a new bot was served after {added:?}; a removed one gone after {removed:?}"
    );
    assert!(added < SWAP_DEADLINE && removed < SWAP_DEADLINE, "added {added:?}, removed {removed:?}");
    let per_settle = during as f64 * SETTLE.as_secs_f64() / added.as_secs_f64();
    assert!(
        per_settle > 1.0,
        "the noise came more often than every {SETTLE:?}: {during} writes in {added:?}"
    );
}

/// Options for a host caching in `cache` with a budget of `max_bytes`.
fn cached_in(cache: &Path, max_bytes: u64) -> Options {
    Options { cache_dir: Some(cache.to_owned()), cache_max_bytes: max_bytes, ..Options::default() }
}

/// The label beside a cache entry's artifact.
fn label_of(artifact: &Path) -> PathBuf {
    artifact.with_extension("label")
}

/// The artifact of the cache entry `host` loaded `bot` from (named by the wasm's SHA-256).
async fn entry_of(host: &TestHost, cache: &Path, bot: &str) -> PathBuf {
    let hash = admin_entry(host, bot).await["hash"].as_str().unwrap().to_owned();
    let name = |e: &std::fs::DirEntry| e.file_name().into_string().unwrap();
    let mut entries = std::fs::read_dir(cache).unwrap().flatten();
    let entry = entries.find(|e| name(e).starts_with(&hash) && name(e).ends_with(".cwasm"));
    entry.unwrap_or_else(|| panic!("no cache entry for {bot}")).path()
}

fn chmod(path: &Path, mode: u32) {
    std::fs::set_permissions(path, std::os::unix::fs::PermissionsExt::from_mode(mode)).unwrap();
}

/// Set `path`'s modification time (the cache's "last used") to `age` ago.
fn set_age(path: &Path, age: Duration) {
    let file = std::fs::File::options().write(true).open(path).unwrap();
    file.set_modified(SystemTime::now() - age).unwrap();
}

const DAY: Duration = Duration::from_secs(24 * 60 * 60);

/// Whoever could write the cache directory could put one bot's compiled code under
/// another's name: the entry's label names its wasm, so showcase is not served as echo.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_mislabeled_cache_entry_is_rejected_and_the_right_bot_answers() {
    let cache = tempfile::tempdir().unwrap();
    let first = TestHost::with(cached_in(cache.path(), DEFAULT_MAX_BYTES)).await;
    let (echo, showcase) =
        (entry_of(&first, cache.path(), "echo").await, entry_of(&first, cache.path(), "showcase").await);
    std::fs::copy(&echo, &showcase).unwrap();
    std::fs::copy(label_of(&echo), label_of(&showcase)).unwrap();
    let second = TestHost::with(cached_in(cache.path(), DEFAULT_MAX_BYTES)).await;
    assert_eq!(answer(&second, "showcase").await.as_deref(), Some("unknown command: x"));
    assert_eq!(answer(&second, "echo").await.as_deref(), Some("x"));
    assert_eq!(second.admin().await["cache"], json!({"hits": 1, "compiles": 1, "rejected": 1, "evicted": 0}));
    let third = TestHost::with(cached_in(cache.path(), DEFAULT_MAX_BYTES)).await;
    assert_eq!(third.admin().await["cache"]["hits"], json!(2), "the rejected entry was rewritten");
}

/// Entries are only read if they are regular files of ours that no one else may write: a
/// real entry made writable by others is not trusted, nor is one owned by another user,
/// and a FIFO in place of one (reading it would block start-up for ever) is refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cache_entries_others_could_have_written_are_rejected_without_hanging_start_up() {
    let cache = tempfile::tempdir().unwrap();
    let first = TestHost::with(cached_in(cache.path(), DEFAULT_MAX_BYTES)).await;
    let (echo, showcase) =
        (entry_of(&first, cache.path(), "echo").await, entry_of(&first, cache.path(), "showcase").await);
    chmod(&showcase, 0o666);
    std::fs::remove_file(&echo).unwrap();
    assert!(std::process::Command::new("mkfifo").arg(&echo).status().unwrap().success());
    let second = tokio::time::timeout(
        Duration::from_secs(30),
        TestHost::with(cached_in(cache.path(), DEFAULT_MAX_BYTES)),
    )
    .await;
    if second.is_err() {
        let _ = std::fs::write(&echo, b"unblock"); // free the stuck loader so the test can end
    }
    let second = second.expect("start-up must not wait on a FIFO in the cache");
    assert_eq!(answer(&second, "echo").await.as_deref(), Some("x"));
    assert_eq!(answer(&second, "showcase").await.as_deref(), Some("unknown command: x"));
    assert_eq!(second.admin().await["cache"], json!({"hits": 0, "compiles": 2, "rejected": 2, "evicted": 0}));
    if std::os::unix::fs::chown(&showcase, Some(65534), Some(65534)).is_err() {
        eprintln!("skipped the foreign-owner case: changing an owner needs root");
        return;
    }
    let third = TestHost::with(cached_in(cache.path(), DEFAULT_MAX_BYTES)).await;
    assert_eq!(third.admin().await["cache"], json!({"hits": 1, "compiles": 1, "rejected": 1, "evicted": 0}));
    assert_eq!(answer(&third, "showcase").await.as_deref(), Some("unknown command: x"));
}

/// The directory used to be made private silently, after entries could have been planted.
#[tokio::test]
async fn a_cache_directory_writable_by_others_is_refused_at_start_and_left_as_it_is() {
    let cache = tempfile::tempdir().unwrap();
    chmod(cache.path(), 0o777);
    std::fs::write(cache.path().join("planted.cwasm"), b"anything").unwrap();
    let Err(error) = TestHost::try_with(cached_in(cache.path(), DEFAULT_MAX_BYTES)).await else {
        panic!("a host started on a world-writable cache directory");
    };
    let message = format!("{error:#}");
    let dir = cache.path().display();
    assert!(
        message.contains(&format!("cache directory {dir} is writable by other users (mode 777)")),
        "{message}"
    );
    assert!(message.contains(&format!("chmod 700 {dir}")), "{message}");
    let mode = std::os::unix::fs::MetadataExt::mode(&std::fs::metadata(cache.path()).unwrap());
    assert_eq!(mode & 0o777, 0o777, "refused, not silently fixed");
    assert_eq!(std::fs::read(cache.path().join("planted.cwasm")).unwrap(), b"anything");
}

/// At start, entries no loaded bot uses go least recently used first until the cache fits
/// its budget; entries in use stay even when they alone exceed it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unused_entries_are_evicted_at_start_to_fit_the_budget_and_entries_in_use_are_kept() {
    let cache = tempfile::tempdir().unwrap();
    let first = TestHost::with(cached_in(cache.path(), DEFAULT_MAX_BYTES)).await;
    let (echo, showcase) =
        (entry_of(&first, cache.path(), "echo").await, entry_of(&first, cache.path(), "showcase").await);
    let engine_key = echo.file_name().unwrap().to_str().unwrap().split_once('-').unwrap().1.to_owned();
    // Old versions: showcase's entry under other wasm hashes, last used 3, 2 and 1 days ago.
    let old: Vec<PathBuf> = (1..=3).map(|i| cache.path().join(format!("{i:064x}-{engine_key}"))).collect();
    for (path, days) in old.iter().zip([3, 2, 1]) {
        std::fs::copy(&showcase, path).unwrap();
        std::fs::copy(label_of(&showcase), label_of(path)).unwrap();
        set_age(path, days * DAY);
        set_age(&label_of(path), days * DAY);
    }
    let file_len = |p: &Path| std::fs::metadata(p).unwrap().len();
    let len = |p: &Path| file_len(p) + file_len(&label_of(p));
    let budget = len(&echo) + len(&showcase) + len(&showcase) * 3 / 2;
    let second = TestHost::with(cached_in(cache.path(), budget)).await;
    assert_eq!(second.admin().await["cache"], json!({"hits": 2, "compiles": 0, "rejected": 0, "evicted": 2}));
    let present = |p: &PathBuf| {
        assert_eq!(p.exists(), label_of(p).exists(), "artifact and label go together: {}", p.display());
        p.exists()
    };
    assert_eq!([&echo, &showcase, &old[0], &old[1], &old[2]].map(present), [true, true, false, false, true]);
    let files = std::fs::read_dir(cache.path()).unwrap().flatten().map(|e| e.metadata().unwrap());
    let total: u64 = files.filter(|m| m.is_file()).map(|m| m.len()).sum();
    assert!(total <= budget, "{total} bytes left, budget {budget}");

    let echo_only = Options { bots: vec![("echo", guests::ECHO)], ..cached_in(cache.path(), 0) };
    let third = TestHost::with(echo_only).await;
    assert_eq!(third.admin().await["cache"]["evicted"], json!(2));
    assert_eq!([&echo, &showcase, &old[2]].map(present), [true, false, false], "only echo is in use");
    assert_eq!(answer(&third, "echo").await.as_deref(), Some("x"));
}

/// After a reload, the replaced version's entry is evicted (the budget here keeps only
/// entries in use); a temporary file left by a crashed write goes at start.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replaced_version_is_evicted_after_the_reload_and_a_crashed_write_at_start() {
    let cache = tempfile::tempdir().unwrap();
    let crashed = cache.path().join("crashed.tmp99");
    std::fs::write(&crashed, [0; 100]).unwrap();
    set_age(&crashed, 2 * Duration::from_secs(3600));
    let host =
        TestHost::with(Options { bots: vec![("bot", guests::ECHO)], ..cached_in(cache.path(), 0) }).await;
    assert!(!crashed.exists(), "a stale temporary file is evicted at start");
    let echo = entry_of(&host, cache.path(), "bot").await;
    replace_atomically(guests::SHOWCASE, &host.file("bot.wasm"));
    wait_for(&host, "bot", Some("unknown command: x")).await;
    let showcase = entry_of(&host, cache.path(), "bot").await;
    let start = Instant::now();
    while host.admin().await["cache"]["evicted"] != json!(2) {
        assert!(start.elapsed() < Duration::from_secs(5), "the replaced version's entry was never evicted");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(!echo.exists(), "the replaced version's entry is evicted");
    assert!(showcase.exists(), "the entry in use stays");
    assert_eq!(host.admin().await["cache"], json!({"hits": 0, "compiles": 2, "rejected": 0, "evicted": 2}));
    assert_eq!(answer(&host, "bot").await.as_deref(), Some("unknown command: x"));
}

/// Bots due in one scan load concurrently: each still ends in its own state, whatever order
/// they finish in. A broken file keeps its previous version serving, a FIFO sidecar is
/// reported for its bot alone, and the others are swapped in or added.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bots_changed_together_load_concurrently_and_each_settles_on_its_own() {
    let host = TestHost::start().await;
    let fifo = host.file("piped.toml");
    let _unblock = UnblockOnPanic(fifo.clone());
    mkfifo(&fifo);
    std::fs::copy(guests::ECHO, host.file("piped.wasm")).unwrap();
    std::fs::copy(guests::SHOWCASE, host.file("echo.wasm")).unwrap();
    std::fs::write(host.file("showcase.wasm"), b"\0asm\x0d\0\x01\0garbage").unwrap();
    let fresh = ["fresh-1", "fresh-2", "fresh-3"];
    for name in fresh {
        std::fs::copy(guests::ECHO, host.file(&format!("{name}.wasm"))).unwrap();
    }
    wait_for(&host, "echo", Some("unknown command: x")).await;
    for name in fresh {
        wait_for(&host, name, Some("x")).await;
    }
    let broken = admin_entry_once(&host, "showcase", |e| !e["last_error"].is_null(), SWAP_DEADLINE).await;
    let message = broken["last_error"].as_str().unwrap();
    assert!(message.contains("showcase.wasm is not a valid wasm component"), "{message}");
    assert_eq!(broken["serving"], json!(true));
    assert_eq!(answer(&host, "showcase").await.as_deref(), Some("unknown command: x"), "the old version");
    let piped = admin_entry_once(&host, "piped", |e| !e["last_error"].is_null(), SWAP_DEADLINE).await;
    let message = piped["last_error"].as_str().unwrap();
    assert!(message.ends_with("piped.toml is not a regular file but a FIFO"), "{message}");
    assert_eq!(piped["serving"], json!(false));
    let admin = host.admin().await;
    let serving = admin["bots"].as_array().unwrap().iter().filter(|b| b["serving"] == json!(true)).count();
    assert_eq!(serving, 5, "echo, showcase and three fresh bots: {admin}");
    assert_eq!(admin_entry(&host, "echo").await["last_error"], Value::Null);
}

/// Two bots with the same wasm load at the same time at start-up: both may compile it and
/// write its one cache entry at once, and the entry must come out whole (both writes used
/// the same temporary file name).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bots_sharing_a_wasm_load_together_and_their_cache_entry_comes_out_whole() {
    let cache = tempfile::tempdir().unwrap();
    let bots =
        vec![("a", guests::SHOWCASE), ("b", guests::SHOWCASE), ("c", guests::ECHO), ("d", guests::ECHO)];
    let options = || Options { bots: bots.clone(), ..cached_in(cache.path(), DEFAULT_MAX_BYTES) };
    let first = TestHost::with(options()).await;
    let counters = first.admin().await["cache"].clone();
    assert_eq!(counters["hits"].as_u64().unwrap() + counters["compiles"].as_u64().unwrap(), 4, "{counters}");
    assert_eq!(counters["rejected"], json!(0));
    let second = TestHost::with(options()).await;
    assert_eq!(second.admin().await["cache"], json!({"hits": 4, "compiles": 0, "rejected": 0, "evicted": 0}));
    for (bot, expected) in [("a", "unknown command: x"), ("b", "unknown command: x"), ("c", "x"), ("d", "x")]
    {
        assert_eq!(answer(&second, bot).await.as_deref(), Some(expected), "{bot}");
    }
}

/// A bot loaded from the cache runs from its entry's file, mapped: deleting the entry, or
/// renaming another file over it (what eviction and a rewrite do), leaves it serving as it was.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bot_mapped_from_the_cache_keeps_serving_when_its_entry_is_deleted_or_replaced() {
    let cache = tempfile::tempdir().unwrap();
    let first = TestHost::with(cached_in(cache.path(), DEFAULT_MAX_BYTES)).await;
    drop(first);
    let host = TestHost::with(cached_in(cache.path(), DEFAULT_MAX_BYTES)).await;
    assert_eq!(host.admin().await["cache"]["hits"], json!(2));
    let (echo, showcase) =
        (entry_of(&host, cache.path(), "echo").await, entry_of(&host, cache.path(), "showcase").await);
    let tmp = cache.path().join("swap.tmp");
    std::fs::copy(&showcase, &tmp).unwrap();
    std::fs::rename(&tmp, &echo).unwrap();
    std::fs::remove_file(&showcase).unwrap();
    std::fs::remove_file(label_of(&showcase)).unwrap();
    for _ in 0..10 {
        assert_eq!(answer(&host, "echo").await.as_deref(), Some("x"));
        assert_eq!(answer(&host, "showcase").await.as_deref(), Some("unknown command: x"));
    }
}
