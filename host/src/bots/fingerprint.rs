//! [`Fingerprint`]: what a bot's files looked like when the reloader last loaded them, so it
//! can tell a changed bot from an unchanged one without reading a byte. Size and mtime alone
//! miss a replacement that keeps both (`cp -p`, `rsync -a`, `touch -d`: a rotated key of the
//! same length stayed valid), so each file's identity (device, inode) and its change time,
//! which no one can set back, count too.

use std::path::Path;
use std::time::SystemTime;

/// One file's metadata as far as telling versions apart goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Stamp {
    len: u64,
    modified: Option<SystemTime>,
    identity: Identity,
}

/// Device, inode and change time (seconds, nanoseconds): a rename over the file gives a new
/// inode, and any write or `touch` moves the change time.
#[cfg(unix)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Identity {
    dev: u64,
    ino: u64,
    ctime: (i64, i64),
}

/// Without Unix metadata, size and mtime are all there is.
#[cfg(not(unix))]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Identity;

/// What a bot's wasm file and sidecar looked like at one moment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fingerprint {
    wasm: Stamp,
    sidecar: Option<Stamp>,
}

impl Fingerprint {
    /// The fingerprint of the bot at `wasm` and its sidecar; `None` if the wasm file is gone.
    pub fn of(wasm: &Path) -> Option<Self> {
        Some(Self { wasm: stamp(wasm)?, sidecar: stamp(&wasm.with_extension("toml")) })
    }
}

/// Follows symlinks, like reading the file does; `stat` never blocks on a FIFO.
fn stamp(path: &Path) -> Option<Stamp> {
    let meta = std::fs::metadata(path).ok()?;
    Some(Stamp { len: meta.len(), modified: meta.modified().ok(), identity: identity(&meta) })
}

#[cfg(unix)]
fn identity(meta: &std::fs::Metadata) -> Identity {
    use std::os::unix::fs::MetadataExt;
    Identity { dev: meta.dev(), ino: meta.ino(), ctime: (meta.ctime(), meta.ctime_nsec()) }
}

#[cfg(not(unix))]
fn identity(_: &std::fs::Metadata) -> Identity {
    Identity
}

#[cfg(test)]
mod tests {
    use super::*;

    fn wait_for_a_later_change_time(path: &std::path::Path, probe: &std::path::Path) {
        use std::os::unix::fs::MetadataExt;
        let ctime = |p: &std::path::Path| std::fs::metadata(p).map(|m| (m.ctime(), m.ctime_nsec())).unwrap();
        let start = std::time::Instant::now();
        let first = ctime(path);
        while {
            std::fs::write(probe, b"").unwrap();
            ctime(probe) <= first
        } {
            assert!(
                start.elapsed() < std::time::Duration::from_secs(2),
                "the change-time clock never ticked"
            );
        }
    }

    #[test]
    fn a_rewrite_keeping_size_and_mtime_changes_the_fingerprint() {
        let dir = std::env::temp_dir().join(format!("poe-host-fingerprint-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let (wasm, toml) = (dir.join("bot.wasm"), dir.join("bot.toml"));
        std::fs::write(&wasm, b"\0asm").unwrap();
        std::fs::write(&toml, "access_key = \"aaaa\"").unwrap();
        let mtime = std::fs::metadata(&toml).unwrap().modified().unwrap();
        let before = Fingerprint::of(&wasm).unwrap();
        // Change times tick with the kernel's coarse clock (4 ms here). The reloader only
        // loads a fingerprint that has held for SETTLE, so a later write always moves it:
        // wait until the clock has ticked past the first write (a probe file shows it).
        wait_for_a_later_change_time(&toml, &dir.join("probe"));
        std::fs::write(&toml, "access_key = \"bbbb\"").unwrap();
        std::fs::File::options().write(true).open(&toml).unwrap().set_modified(mtime).unwrap();
        let after = Fingerprint::of(&wasm).unwrap();
        std::fs::remove_dir_all(&dir).unwrap();
        assert_eq!(after.sidecar.unwrap().len, before.sidecar.unwrap().len);
        assert_eq!(after.sidecar.unwrap().modified, before.sidecar.unwrap().modified);
        assert_ne!(after, before, "the change time moved");
    }
}
