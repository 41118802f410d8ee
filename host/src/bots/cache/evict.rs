//! Eviction: which files leave the cache directory, so that every deployed version does not
//! stay on disk for ever.
//!
//! An entry a loaded bot was loaded from is never evicted. Of the others, those unused for
//! [`MAX_UNUSED_AGE`] go, then the least recently used until the directory fits its size
//! budget; temporary files older than [`STALE_TMP_AGE`] are left over from crashed writes.
//! An entry's artifact and label go together.

use std::collections::{BTreeMap, HashSet};
use std::io;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use super::entry::{ARTIFACT_EXT, LABEL_EXT};
use super::functions::FUNCTION_EXT;

/// Bytes of entries the cache keeps by default. A compiled bot is about 3× its wasm (echo
/// 0.27 MiB, showcase 0.42 MiB), so this holds thousands of versions; entries in use are
/// kept even beyond it.
pub const DEFAULT_MAX_BYTES: u64 = 1 << 30;
/// An entry no loaded bot uses is evicted once it has not been used for this long, so a
/// rollback to a recent version still loads without compiling.
pub const MAX_UNUSED_AGE: Duration = Duration::from_secs(30 * 24 * 60 * 60);
/// A temporary file this old is left over from a crashed write (a write takes seconds).
pub const STALE_TMP_AGE: Duration = Duration::from_secs(60 * 60);

/// What one eviction pass did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Evicted {
    /// Entries (an artifact and its label count as one) and temporary files deleted.
    pub files: u64,
    /// Their bytes.
    pub bytes: u64,
    /// Bytes of entries left.
    pub kept_bytes: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Entry { in_use: bool },
    Tmp,
}

/// One entry (its artifact and label) or temporary file of the cache directory, as
/// eviction sees it.
#[derive(Debug, Clone)]
struct CacheFile {
    paths: Vec<PathBuf>,
    len: u64,
    last_used: SystemTime,
    kind: Kind,
}

/// Delete from `dir` what [`victims`] picks; `in_use` holds the entry stems of the loaded
/// bots. Blocking.
pub fn evict(dir: &Path, in_use: &HashSet<String>, max_bytes: u64, now: SystemTime) -> io::Result<Evicted> {
    let files = scan(dir, in_use)?;
    let doomed = victims(&files, max_bytes, now);
    let entry_bytes: u64 = files.iter().filter(|f| f.kind != Kind::Tmp).map(|f| f.len).sum();
    let mut evicted = Evicted { kept_bytes: entry_bytes, ..Evicted::default() };
    for file in doomed {
        let mut removed = Ok(());
        for path in &file.paths {
            if let Err(e) = std::fs::remove_file(path) {
                removed = Err(e);
            }
        }
        match removed {
            Ok(()) => {
                evicted.files += 1;
                evicted.bytes += file.len;
                if file.kind != Kind::Tmp {
                    evicted.kept_bytes -= file.len;
                }
            }
            Err(e) => tracing::warn!(path = %file.paths[0].display(), "cannot evict a cache file: {e}"),
        }
    }
    Ok(evicted)
}

/// The regular files of `dir` that are entries (`STEM.cwasm` and `STEM.label`, grouped by
/// stem, last used when the more recent was modified; or a compiled function, `KEY.fn`) or
/// temporary files (`*.tmpPID-N`);
/// anything else is not the cache's and is left alone.
fn scan(dir: &Path, in_use: &HashSet<String>) -> io::Result<Vec<CacheFile>> {
    let mut files = Vec::new();
    let mut entries: BTreeMap<String, CacheFile> = BTreeMap::new();
    for item in std::fs::read_dir(dir)?.flatten() {
        let Ok(meta) = item.metadata() else { continue };
        if !meta.file_type().is_file() {
            continue;
        }
        let (path, len) = (item.path(), meta.len());
        let last_used = meta.modified().unwrap_or(SystemTime::UNIX_EPOCH);
        let (Some(stem), Some(ext)) = (path.file_stem(), path.extension().and_then(|e| e.to_str())) else {
            continue;
        };
        let stem = stem.to_string_lossy().into_owned();
        if ext == ARTIFACT_EXT || ext == LABEL_EXT || ext == FUNCTION_EXT {
            let kind = Kind::Entry { in_use: in_use.contains(&stem) };
            let entry = entries.entry(stem).or_insert(CacheFile {
                paths: Vec::new(),
                len: 0,
                last_used: SystemTime::UNIX_EPOCH,
                kind,
            });
            entry.paths.push(path);
            entry.len += len;
            entry.last_used = entry.last_used.max(last_used);
        } else if ext.starts_with("tmp") {
            files.push(CacheFile { paths: vec![path], len, last_used, kind: Kind::Tmp });
        }
    }
    files.extend(entries.into_values());
    Ok(files)
}

/// The files to delete: stale temporary files, entries not in use for [`MAX_UNUSED_AGE`],
/// then entries not in use, least recently used first, until the rest fit in `max_bytes`.
fn victims(files: &[CacheFile], max_bytes: u64, now: SystemTime) -> Vec<&CacheFile> {
    let age = |f: &CacheFile| now.duration_since(f.last_used).unwrap_or_default();
    let mut doomed = Vec::new();
    let mut unused = Vec::new();
    let mut kept_bytes = 0;
    for file in files {
        match file.kind {
            Kind::Tmp if age(file) > STALE_TMP_AGE => doomed.push(file),
            Kind::Tmp => {}
            Kind::Entry { in_use: false } if age(file) > MAX_UNUSED_AGE => doomed.push(file),
            Kind::Entry { in_use } => {
                kept_bytes += file.len;
                if !in_use {
                    unused.push(file);
                }
            }
        }
    }
    unused.sort_by_key(|f| f.last_used);
    for file in unused {
        if kept_bytes <= max_bytes {
            break;
        }
        kept_bytes -= file.len;
        doomed.push(file);
    }
    doomed
}

#[cfg(test)]
mod tests {
    use super::*;

    const DAY: Duration = Duration::from_secs(24 * 60 * 60);

    fn file(name: &str, len: u64, age: Duration, kind: Kind) -> CacheFile {
        let now = SystemTime::UNIX_EPOCH + 1000 * DAY;
        CacheFile { paths: vec![PathBuf::from(name)], len, last_used: now - age, kind }
    }

    fn names(files: &[CacheFile], max_bytes: u64) -> Vec<String> {
        let now = SystemTime::UNIX_EPOCH + 1000 * DAY;
        let mut names: Vec<_> =
            victims(files, max_bytes, now).iter().map(|f| f.paths[0].display().to_string()).collect();
        names.sort();
        names
    }

    const USED: Kind = Kind::Entry { in_use: true };
    const UNUSED: Kind = Kind::Entry { in_use: false };

    #[test]
    fn unused_entries_go_least_recently_used_first_until_the_rest_fit_the_budget() {
        let files = [
            file("in-use-old", 100, 2 * DAY, USED),
            file("unused-old", 100, 3 * DAY, UNUSED),
            file("unused-mid", 100, 2 * DAY, UNUSED),
            file("unused-new", 100, DAY, UNUSED),
        ];
        assert_eq!(names(&files, 400), Vec::<String>::new(), "within budget, nothing goes");
        assert_eq!(names(&files, 399), ["unused-old"]);
        assert_eq!(names(&files, 250), ["unused-mid", "unused-old"]);
    }

    #[test]
    fn entries_in_use_are_kept_even_beyond_the_budget() {
        let files = [file("a", 100, 90 * DAY, USED), file("b", 100, DAY, USED), file("c", 1, DAY, UNUSED)];
        assert_eq!(names(&files, 0), ["c"]);
    }

    #[test]
    fn entries_unused_for_a_month_go_whatever_the_budget() {
        let files = [
            file("stale", 1, MAX_UNUSED_AGE + DAY, UNUSED),
            file("recent", 1, MAX_UNUSED_AGE - DAY, UNUSED),
            file("used", 1, MAX_UNUSED_AGE + DAY, USED),
        ];
        assert_eq!(names(&files, u64::MAX), ["stale"]);
    }

    #[test]
    fn temporary_files_go_once_stale_and_do_not_count_against_the_budget() {
        let hour = Duration::from_secs(3600);
        let files = [
            file("crashed.tmp1", 1000, STALE_TMP_AGE + hour, Kind::Tmp),
            file("writing.tmp2", 1000, Duration::from_secs(1), Kind::Tmp),
            file("entry", 10, DAY, UNUSED),
        ];
        assert_eq!(names(&files, 10), ["crashed.tmp1"]);
    }

    #[test]
    fn evict_deletes_an_entrys_artifact_and_label_together_and_leaves_files_not_the_caches() {
        let dir = tempfile::tempdir().unwrap();
        for name in ["used.cwasm", "used.label", "unused.cwasm", "unused.label", "notes.txt"] {
            std::fs::write(dir.path().join(name), [0; 10]).unwrap();
        }
        let in_use = HashSet::from(["used".to_owned()]);
        let evicted = evict(dir.path(), &in_use, 20, SystemTime::now()).unwrap();
        assert_eq!(evicted, Evicted { files: 1, bytes: 20, kept_bytes: 20 });
        let mut left: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        left.sort();
        assert_eq!(left, ["notes.txt", "used.cwasm", "used.label"]);
    }
}
