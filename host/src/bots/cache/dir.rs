//! The cache directory and the files in it: only a directory private to this user is used,
//! and only regular files this user owns and no one else may write are read.
//!
//! Cached code runs natively, so whoever can write the directory can run code as the host.
//! An existing directory that others may write to is refused, not fixed: entries planted
//! before the host started would otherwise be trusted. Only a directory the host creates
//! itself gets mode 0700.

use std::fs::{self, File};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::SystemTime;

use super::entry::Rejection;

/// Why the cache directory cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum CacheDirError {
    /// Creating the directory failed.
    #[error("cannot create cache directory {dir}: {source}")]
    Create {
        /// The directory.
        dir: String,
        /// The I/O error.
        source: io::Error,
    },
    /// The directory (or what it links to) cannot be inspected.
    #[error("cannot inspect cache directory {dir}: {source}")]
    Inspect {
        /// The directory.
        dir: String,
        /// The I/O error.
        source: io::Error,
    },
    /// The path is not a directory.
    #[error("cache directory {dir} is not a directory; pass --cache-dir with a directory, or none")]
    NotADirectory {
        /// The path.
        dir: String,
    },
    /// Another user owns the directory.
    #[error(
        "cache directory {dir} belongs to another user (uid {owner}), and its files run as native code; pass --cache-dir with a directory of your own, or none"
    )]
    ForeignOwner {
        /// The directory.
        dir: String,
        /// Its owner.
        owner: u32,
    },
    /// Group or others may write to the directory.
    #[error(
        "cache directory {dir} is writable by other users (mode {mode:o}), and its files run as native code; make it private with `chmod 700 {real}`, or pass --cache-dir none"
    )]
    WritableByOthers {
        /// The directory, as given (and resolved).
        dir: String,
        /// The resolved directory.
        real: String,
        /// Its permission bits.
        mode: u32,
    },
    /// The directory's parent lets others replace it.
    #[error(
        "cache directory {dir} is in {parent}, which other users may write to (mode {mode:o}, no sticky bit), so they could replace it; choose a directory under your home, or pass --cache-dir none"
    )]
    OpenParent {
        /// The directory.
        dir: String,
        /// Its parent.
        parent: String,
        /// The parent's permission bits.
        mode: u32,
    },
}

/// Open `dir` as the cache directory: create it (mode 0700) if missing, or check that an
/// existing one is a directory of this user's that no one else may write. A symlink is
/// resolved once, here, and the real directory is checked and returned, so swapping the
/// link later changes nothing.
pub fn open_private_dir(dir: &Path) -> Result<PathBuf, CacheDirError> {
    create_if_missing(dir)?;
    let real = fs::canonicalize(dir).map_err(|source| CacheDirError::Inspect { dir: shown(dir), source })?;
    let named = if real == dir { shown(dir) } else { format!("{} (→ {})", dir.display(), real.display()) };
    let meta = fs::metadata(&real).map_err(|source| CacheDirError::Inspect { dir: named.clone(), source })?;
    if !meta.is_dir() {
        return Err(CacheDirError::NotADirectory { dir: named });
    }
    check_dir(&real, &meta, named)?;
    Ok(real)
}

fn create_if_missing(dir: &Path) -> Result<(), CacheDirError> {
    match fs::symlink_metadata(dir) {
        Ok(_) => return Ok(()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(source) => return Err(CacheDirError::Inspect { dir: shown(dir), source }),
    }
    let failed = |source| CacheDirError::Create { dir: shown(dir), source };
    if let Some(parent) = dir.parent().filter(|p| !p.as_os_str().is_empty()) {
        fs::create_dir_all(parent).map_err(failed)?;
    }
    let mut builder = fs::DirBuilder::new();
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    match builder.create(dir) {
        // Created by someone else meanwhile: it is checked like any existing directory.
        Err(e) if e.kind() != io::ErrorKind::AlreadyExists => Err(failed(e)),
        _ => Ok(()),
    }
}

#[cfg(unix)]
fn check_dir(real: &Path, meta: &fs::Metadata, dir: String) -> Result<(), CacheDirError> {
    use std::os::unix::fs::MetadataExt;
    if let Some(us) = current_uid()
        && meta.uid() != us
    {
        return Err(CacheDirError::ForeignOwner { dir, owner: meta.uid() });
    }
    let mode = meta.mode() & 0o7777;
    if mode & 0o022 != 0 {
        return Err(CacheDirError::WritableByOthers { dir, real: shown(real), mode });
    }
    let Some(parent) = real.parent() else { return Ok(()) };
    let parent_mode = fs::metadata(parent).map_or(0, |m| m.mode() & 0o7777);
    if parent_mode & 0o002 != 0 && parent_mode & 0o1000 == 0 {
        return Err(CacheDirError::OpenParent { dir, parent: shown(parent), mode: parent_mode });
    }
    Ok(())
}

#[cfg(not(unix))]
fn check_dir(_real: &Path, _meta: &fs::Metadata, _dir: String) -> Result<(), CacheDirError> {
    Ok(())
}

/// The file of an entry at `path`, opened; `None` if there is none. A file that is not a
/// regular file of this user's, private to it, is refused without being opened (a FIFO would
/// block), and the file opened must be the one checked.
pub fn open_entry(path: &Path) -> Result<Option<File>, Rejection> {
    let before = match fs::symlink_metadata(path) {
        Ok(meta) => meta,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(Rejection::Read(e)),
    };
    check_entry(&before)?;
    let file = File::open(path).map_err(Rejection::Read)?;
    let opened = file.metadata().map_err(Rejection::Read)?;
    if !same_file(&before, &opened) {
        return Err(Rejection::Replaced);
    }
    Ok(Some(file))
}

/// The first `limit` bytes of the entry file at `path` (a label; one past its length shows
/// a longer file); `None` if there is none. Checked as [`open_entry`] checks.
pub fn read_entry(path: &Path, limit: u64) -> Result<Option<Vec<u8>>, Rejection> {
    let Some(file) = open_entry(path)? else { return Ok(None) };
    let mut bytes = Vec::new();
    file.take(limit).read_to_end(&mut bytes).map_err(Rejection::Read)?;
    Ok(Some(bytes))
}

#[cfg(unix)]
fn check_entry(meta: &fs::Metadata) -> Result<(), Rejection> {
    use std::os::unix::fs::MetadataExt;
    if !meta.file_type().is_file() {
        return Err(Rejection::NotRegular);
    }
    if let Some(us) = current_uid()
        && meta.uid() != us
    {
        return Err(Rejection::ForeignOwner { owner: meta.uid() });
    }
    let mode = meta.mode() & 0o7777;
    if mode & 0o022 != 0 {
        return Err(Rejection::WritableByOthers { mode });
    }
    Ok(())
}

#[cfg(not(unix))]
fn check_entry(meta: &fs::Metadata) -> Result<(), Rejection> {
    meta.file_type().is_file().then_some(()).ok_or(Rejection::NotRegular)
}

#[cfg(unix)]
fn same_file(a: &fs::Metadata, b: &fs::Metadata) -> bool {
    use std::os::unix::fs::MetadataExt;
    (a.dev(), a.ino()) == (b.dev(), b.ino())
}

#[cfg(not(unix))]
fn same_file(_a: &fs::Metadata, b: &fs::Metadata) -> bool {
    b.is_file()
}

/// Write an entry atomically: a temporary file, private to this user, renamed into place.
/// A crash leaves the temporary file, which eviction deletes later. Each write has its own
/// temporary file (`NAME.tmpPID-N`): bots load concurrently, and two with the same wasm
/// write the same entry at once.
pub fn write_entry(path: &Path, parts: &[&[u8]]) -> io::Result<()> {
    write_file(path, parts, true)
}

/// [`write_entry`], synced to disk before the rename only if `sync`: a file whose
/// checksum catches a crash's damage and that is cheap to recompute (one compiled function
/// of thousands) need not wait for the disk.
pub fn write_file(path: &Path, parts: &[&[u8]], sync: bool) -> io::Result<()> {
    static WRITES: AtomicU64 = AtomicU64::new(0);
    let n = WRITES.fetch_add(1, Ordering::Relaxed);
    let tmp = path.with_extension(format!("tmp{}-{n}", std::process::id()));
    let _ = fs::remove_file(&tmp);
    let written = write_new(&tmp, parts, sync).and_then(|()| fs::rename(&tmp, path));
    if written.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    written
}

fn write_new(path: &Path, parts: &[&[u8]], sync: bool) -> io::Result<()> {
    let mut options = fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(path)?;
    for part in parts {
        file.write_all(part)?;
    }
    if sync { file.sync_all() } else { Ok(()) }
}

/// Mark the entry at `path` as used now (eviction removes the least recently used first).
pub fn touch(path: &Path) {
    if let Ok(file) = File::open(path) {
        let _ = file.set_modified(SystemTime::now());
    }
}

#[cfg(target_os = "linux")]
fn current_uid() -> Option<u32> {
    Some(rustix::process::geteuid().as_raw())
}

#[cfg(not(target_os = "linux"))]
fn current_uid() -> Option<u32> {
    None
}

fn shown(path: &Path) -> String {
    path.display().to_string()
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use std::os::unix::fs::{MetadataExt, PermissionsExt};

    use super::*;

    fn chmod(path: &Path, mode: u32) {
        fs::set_permissions(path, fs::Permissions::from_mode(mode)).unwrap();
    }

    fn mode(path: &Path) -> u32 {
        fs::metadata(path).unwrap().mode() & 0o7777
    }

    #[test]
    fn a_missing_directory_is_created_private_with_its_parents() {
        let base = tempfile::tempdir().unwrap();
        let dir = base.path().join("a/poe-host");
        assert_eq!(open_private_dir(&dir).unwrap(), fs::canonicalize(&dir).unwrap());
        assert_eq!(mode(&dir), 0o700);
    }

    #[test]
    fn an_existing_directory_writable_by_others_is_refused_and_left_as_it_is() {
        let base = tempfile::tempdir().unwrap();
        for unsafe_mode in [0o777, 0o770, 0o702] {
            chmod(base.path(), unsafe_mode);
            let err = open_private_dir(base.path()).unwrap_err().to_string();
            let dir = base.path().display().to_string();
            assert!(err.starts_with(&format!("cache directory {dir} is writable by other users")), "{err}");
            assert!(err.contains(&format!("chmod 700 {dir}")), "{err}");
            assert_eq!(mode(base.path()), unsafe_mode, "refused, not silently fixed");
        }
        chmod(base.path(), 0o755);
        open_private_dir(base.path()).expect("a directory only its owner may write is fine");
    }

    #[test]
    fn a_symlink_is_resolved_and_the_directory_it_points_to_is_checked() {
        let base = tempfile::tempdir().unwrap();
        let (real, link) = (base.path().join("real"), base.path().join("link"));
        fs::create_dir(&real).unwrap();
        chmod(&real, 0o700);
        std::os::unix::fs::symlink(&real, &link).unwrap();
        assert_eq!(open_private_dir(&link).unwrap(), fs::canonicalize(&real).unwrap());
        chmod(&real, 0o777);
        let err = open_private_dir(&link).unwrap_err().to_string();
        assert!(
            err.contains(&format!("{} (→ ", link.display())) && err.contains("writable by other users"),
            "{err}"
        );
        std::os::unix::fs::symlink(base.path().join("nowhere"), base.path().join("dangling")).unwrap();
        let err = open_private_dir(&base.path().join("dangling")).unwrap_err().to_string();
        assert!(err.starts_with("cannot inspect cache directory"), "{err}");
    }

    #[test]
    fn a_directory_in_a_parent_others_may_write_without_a_sticky_bit_is_refused() {
        let base = tempfile::tempdir().unwrap();
        let dir = base.path().join("cache");
        open_private_dir(&dir).unwrap();
        chmod(base.path(), 0o777);
        let err = open_private_dir(&dir).unwrap_err().to_string();
        assert!(err.contains("which other users may write to (mode 777, no sticky bit)"), "{err}");
        chmod(base.path(), 0o1777);
        open_private_dir(&dir).expect("a sticky parent like /tmp is fine");
    }

    #[test]
    fn a_directory_of_another_user_is_refused() {
        let base = tempfile::tempdir().unwrap();
        if std::os::unix::fs::chown(base.path(), Some(65534), Some(65534)).is_err() {
            eprintln!("skipped: changing an owner needs root");
            return;
        }
        let err = open_private_dir(base.path()).unwrap_err().to_string();
        assert!(err.contains("belongs to another user (uid 65534)"), "{err}");
    }

    #[test]
    fn only_regular_private_files_of_ours_are_read_as_entries() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("entry.label");
        assert!(matches!(read_entry(&path, 64), Ok(None)));
        write_entry(&path, &[b"he", b"llo"]).unwrap();
        assert_eq!(mode(&path), 0o600);
        assert_eq!(read_entry(&path, 64).unwrap().unwrap(), b"hello");
        assert_eq!(read_entry(&path, 4).unwrap().unwrap(), b"hell", "no more than asked");
        chmod(&path, 0o666);
        assert!(matches!(open_entry(&path), Err(Rejection::WritableByOthers { mode: 0o666 })));
        chmod(&path, 0o600);
        if std::os::unix::fs::chown(&path, Some(65534), None).is_ok() {
            assert!(matches!(open_entry(&path), Err(Rejection::ForeignOwner { owner: 65534 })));
        }
        fs::remove_file(&path).unwrap();
        std::os::unix::fs::symlink(dir.path().join("elsewhere"), &path).unwrap();
        assert!(matches!(open_entry(&path), Err(Rejection::NotRegular)));
    }

    /// Reading a FIFO blocks until someone writes to it: the previous code hung the load.
    #[test]
    fn a_fifo_in_place_of_an_entry_is_refused_without_opening_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("entry.cwasm");
        let made = std::process::Command::new("mkfifo").arg(&path).status().unwrap();
        assert!(made.success());
        let (tx, rx) = std::sync::mpsc::channel();
        let reader = path.clone();
        std::thread::spawn(move || tx.send(matches!(open_entry(&reader), Err(Rejection::NotRegular))));
        let refused = rx.recv_timeout(std::time::Duration::from_secs(5));
        if refused.is_err() {
            let _ = fs::write(&path, b"unblock"); // let the stuck reader go
        }
        assert_eq!(refused, Ok(true), "a FIFO entry must be refused at once");
    }
}
