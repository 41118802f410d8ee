//! Handing a labelled artifact to wasmtime: its SHA-256 is checked through the file already
//! opened and checked (`dir::open_entry`), and wasmtime maps that same file, so the code a
//! bot runs is never copied into anonymous memory. The cache calls it after the label.
//!
//! A Python bot's artifact is 35–39 MB; read and deserialized it stayed resident in the
//! host's private memory for as long as the bot was loaded. Mapped, it is page cache: shared,
//! clean and reclaimable, and only the pages wasmtime touches are ever resident.

use std::fs::File;
use std::io::Read;

use sha2::{Digest, Sha256};
use wasmtime::Engine;
use wasmtime::component::Component;

use super::entry::{ArtifactDigest, Rejection};

/// Bytes read from an unlabeled artifact to tell an older layout from an interrupted write.
const SNIFF_LEN: u64 = 8;

/// The component in `artifact`, if its SHA-256 is `digest`. `artifact` is the open file
/// that passed `dir::open_entry`'s checks; whatever its path now names, this file is used.
pub fn load(engine: &Engine, mut artifact: File, digest: &ArtifactDigest) -> Result<Component, Rejection> {
    let mut hasher = Sha256::new();
    // Through the file, not a mapping: the page cache fills, the host's memory does not.
    std::io::copy(&mut artifact, &mut hasher).map_err(Rejection::Read)?;
    digest.check(&hasher.finalize())?;
    deserialize(engine, &artifact).map_err(|e| Rejection::Deserialize(format!("{e:#}")))
}

/// The first bytes of an artifact found without its label.
pub fn sniff(artifact: &File) -> Result<Vec<u8>, Rejection> {
    let mut first = Vec::new();
    artifact.take(SNIFF_LEN).read_to_end(&mut first).map_err(Rejection::Read)?;
    Ok(first)
}

/// Map `artifact` (Linux): wasmtime 48 maps components only from a path, and
/// `/proc/self/fd/N` opens the very file behind our descriptor, wherever it was moved.
#[cfg(target_os = "linux")]
#[expect(unsafe_code, reason = "mapping native code; the file was checked and its SHA-256 matched")]
fn deserialize(engine: &Engine, artifact: &File) -> wasmtime::Result<Component> {
    use std::os::fd::AsRawFd;
    let same_file = format!("/proc/self/fd/{}", artifact.as_raw_fd());
    // SAFETY: the file is a `Component::serialize` output this host wrote itself: a regular
    // file owned by this user that no one else may write, in a directory only this user may
    // write (`dir`), opened once and checked as opened (not by path); its label names this
    // wasm's SHA-256 and this engine, and its SHA-256, computed through this descriptor,
    // matched the label. `/proc/self/fd/N` opens that same inode, so no file swapped in at the
    // path since can be mapped. The mapping stays valid while the bot is loaded because
    // poe-host never changes an entry in place (it writes a new file and renames it over,
    // and evicts by unlinking), so only a process of this same user writing into the file
    // could change the mapped code, and such a process can change the host anyway. wasmtime
    // re-checks its own header and engine settings.
    unsafe { Component::deserialize_file(engine, same_file) }
}

/// Elsewhere the artifact is read again through the same descriptor and deserialized from
/// memory (a copy, as before mapping).
#[cfg(not(target_os = "linux"))]
#[expect(unsafe_code, reason = "deserializing native code; the bytes were checked above")]
fn deserialize(engine: &Engine, mut artifact: &File) -> wasmtime::Result<Component> {
    use std::io::{Seek, SeekFrom};
    let mut bytes = Vec::new();
    artifact.seek(SeekFrom::Start(0))?;
    artifact.read_to_end(&mut bytes)?;
    // SAFETY: as for Linux: these bytes were read through the descriptor that was checked
    // and hashed.
    unsafe { Component::deserialize(engine, bytes) }
}
