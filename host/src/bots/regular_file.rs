//! Reading a file that someone else put in the bots directory: only a regular file (after
//! following symlinks), opened so that a FIFO cannot block the open, and never more than a
//! stated number of bytes. The loader reads bots and sidecars through [`RegularFile`], so a
//! FIFO, a device or a huge sparse file is a load error naming the file, not a hung reloader.

use std::fs::{File, FileType};
use std::io::Read;
use std::path::Path;

/// Why a file in the bots directory cannot be read.
#[derive(Debug, thiserror::Error)]
pub enum FileError {
    /// Opening or reading failed.
    #[error("cannot read {path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The file (or what its symlink points to) is a FIFO, a device, a directory, ….
    #[error("{path} is not a regular file but {kind}")]
    NotRegular {
        /// The file.
        path: String,
        /// What it is instead, e.g. "a FIFO".
        kind: &'static str,
    },
    /// The file is larger than the caller accepts (checked before reading it).
    #[error("{path} is {len} bytes, more than the limit of {limit} bytes")]
    TooLarge {
        /// The file.
        path: String,
        /// Its size.
        len: u64,
        /// The limit it passed.
        limit: u64,
    },
    /// The file grew past the limit after it was opened.
    #[error("{path} grew past the limit of {limit} bytes while it was read")]
    Grew {
        /// The file.
        path: String,
        /// The limit it passed.
        limit: u64,
    },
}

impl FileError {
    /// Whether the file does not exist (an optional file is then simply absent).
    pub fn is_not_found(&self) -> bool {
        matches!(self, Self::Io { source, .. } if source.kind() == std::io::ErrorKind::NotFound)
    }
}

/// An open regular file of at most `limit` bytes.
#[derive(Debug)]
pub struct RegularFile {
    file: File,
    path: String,
    limit: u64,
}

impl RegularFile {
    /// Open `path` for reading if it is a regular file of at most `limit` bytes. The type and
    /// size are those of the opened file itself, so a file swapped in after a check cannot
    /// slip through, and the open does not wait for a FIFO's writer.
    pub fn open(path: &Path, limit: u64) -> Result<Self, FileError> {
        let shown = path.display().to_string();
        let io = |source| FileError::Io { path: shown.clone(), source };
        let file = open_nonblocking(path).map_err(io)?;
        let meta = file.metadata().map_err(io)?;
        if !meta.is_file() {
            return Err(FileError::NotRegular { path: shown, kind: kind_of(meta.file_type()) });
        }
        if meta.len() > limit {
            return Err(FileError::TooLarge { path: shown, len: meta.len(), limit });
        }
        Ok(Self { file, path: shown, limit })
    }

    /// Append up to `count` more bytes to `buf` (fewer at the end of the file).
    pub fn read_some(&mut self, buf: &mut Vec<u8>, count: u64) -> Result<(), FileError> {
        let read = (&mut self.file).take(count).read_to_end(buf);
        read.map(drop).map_err(|source| FileError::Io { path: self.path.clone(), source })
    }

    /// Append the rest of the file to `buf`, refusing it if the whole would pass the limit
    /// (the file grew after it was opened).
    pub fn read_rest(mut self, buf: &mut Vec<u8>) -> Result<(), FileError> {
        let room = self.limit.saturating_sub(buf.len() as u64);
        self.read_some(buf, room.saturating_add(1))?;
        if buf.len() as u64 > self.limit {
            return Err(FileError::Grew { path: self.path, limit: self.limit });
        }
        Ok(())
    }

    /// The whole file at `path`, if it is a regular file of at most `limit` bytes.
    pub fn read(path: &Path, limit: u64) -> Result<Vec<u8>, FileError> {
        let file = Self::open(path, limit)?;
        let mut bytes = Vec::new();
        file.read_rest(&mut bytes)?;
        Ok(bytes)
    }
}

/// Open read-only with `O_NONBLOCK` (opening a FIFO otherwise waits for a writer) and
/// `O_NOCTTY` (a terminal device must not become the host's controlling terminal).
#[cfg(target_os = "linux")]
fn open_nonblocking(path: &Path) -> std::io::Result<File> {
    use rustix::fs::OFlags;
    use std::os::unix::fs::OpenOptionsExt;
    let flags = (OFlags::NONBLOCK | OFlags::NOCTTY).bits();
    std::fs::OpenOptions::new().read(true).custom_flags(flags as i32).open(path)
}

/// Elsewhere the type is checked before opening too (a window remains between the two).
#[cfg(not(target_os = "linux"))]
fn open_nonblocking(path: &Path) -> std::io::Result<File> {
    if !std::fs::metadata(path)?.is_file() {
        return Err(std::io::Error::other("not a regular file"));
    }
    File::open(path)
}

fn kind_of(kind: FileType) -> &'static str {
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt;
        if kind.is_fifo() {
            return "a FIFO";
        }
        if kind.is_char_device() || kind.is_block_device() {
            return "a device";
        }
        if kind.is_socket() {
            return "a socket";
        }
    }
    if kind.is_dir() { "a directory" } else { "neither a file nor a directory" }
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;
    use std::time::{Duration, Instant};

    use super::*;

    /// A fresh directory for one test, removed at the end.
    struct Scratch(PathBuf);

    impl Scratch {
        fn new(test: &str) -> Self {
            let dir = std::env::temp_dir().join(format!("poe-host-{test}-{}", std::process::id()));
            std::fs::create_dir_all(&dir).unwrap();
            Self(dir)
        }
    }

    impl Drop for Scratch {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    fn mkfifo(path: &Path) {
        let status = std::process::Command::new("mkfifo").arg(path).status().unwrap();
        assert!(status.success(), "mkfifo {}", path.display());
    }

    #[test]
    fn a_regular_file_within_the_limit_is_read_whole() {
        let dir = Scratch::new("regular");
        let path = dir.0.join("a.toml");
        std::fs::write(&path, b"access_key = \"x\"\n").unwrap();
        assert_eq!(RegularFile::read(&path, 64).unwrap(), b"access_key = \"x\"\n");
        assert!(RegularFile::read(&dir.0.join("missing.toml"), 64).unwrap_err().is_not_found());
    }

    #[test]
    fn a_fifo_and_a_symlink_to_one_are_refused_without_waiting_for_a_writer() {
        let dir = Scratch::new("fifo");
        let (fifo, link) = (dir.0.join("a.toml"), dir.0.join("b.toml"));
        mkfifo(&fifo);
        std::os::unix::fs::symlink(&fifo, &link).unwrap();
        for path in [&fifo, &link] {
            let started = Instant::now();
            let err = RegularFile::read(path, 64).unwrap_err().to_string();
            assert!(started.elapsed() < Duration::from_secs(1), "took {:?}", started.elapsed());
            assert_eq!(err, format!("{} is not a regular file but a FIFO", path.display()));
        }
    }

    #[test]
    fn devices_and_directories_are_refused() {
        let dir = Scratch::new("device");
        let link = dir.0.join("zero.toml");
        std::os::unix::fs::symlink("/dev/zero", &link).unwrap();
        let err = RegularFile::read(&link, 64).unwrap_err().to_string();
        assert_eq!(err, format!("{} is not a regular file but a device", link.display()));
        let err = RegularFile::read(&dir.0, 64).unwrap_err().to_string();
        assert!(err.ends_with("is not a regular file but a directory"), "{err}");
    }

    #[test]
    fn a_file_over_the_limit_is_refused_before_it_is_read() {
        let dir = Scratch::new("large");
        let path = dir.0.join("huge.wasm");
        std::fs::File::create(&path).unwrap().set_len(4 << 30).unwrap(); // sparse: 4 GiB
        let err = RegularFile::open(&path, 1 << 20).unwrap_err().to_string();
        assert!(
            err.ends_with("huge.wasm is 4294967296 bytes, more than the limit of 1048576 bytes"),
            "{err}"
        );
    }

    #[test]
    fn a_file_that_grows_past_the_limit_while_read_is_refused() {
        let dir = Scratch::new("grows");
        let path = dir.0.join("a.wasm");
        std::fs::write(&path, [0u8; 10]).unwrap();
        let file = RegularFile::open(&path, 16).unwrap();
        std::fs::write(&path, [0u8; 40]).unwrap();
        let err = file.read_rest(&mut Vec::new()).unwrap_err().to_string();
        assert!(err.ends_with("a.wasm grew past the limit of 16 bytes while it was read"), "{err}");
    }
}
