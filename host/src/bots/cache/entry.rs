//! The layout of one cache entry, and every reason an entry is refused.
//!
//! An entry is two files with one stem: `STEM.cwasm`, wasmtime's artifact alone (so it can
//! be mapped, not read into memory), and `STEM.label`, which binds it to the SHA-256 of the
//! wasm it was compiled from, to the engine it was compiled for and to the artifact's own
//! SHA-256. An entry copied or renamed under another bot's name is refused from its label,
//! before wasmtime sees a byte of the artifact; the artifact's SHA-256 catches corruption.

use sha2::{Digest, Sha256};

/// First bytes of every label; bump the digit when the layout changes.
pub const MAGIC: &[u8; 8] = b"POEHOST3";
/// What the previous layouts began with: the header in front of the artifact, in one file.
const OLD_MAGIC_PREFIX: &[u8] = b"POEHOST";
/// Extension of an entry's artifact.
pub const ARTIFACT_EXT: &str = "cwasm";
/// Extension of an entry's label.
pub const LABEL_EXT: &str = "label";
const DIGEST_LEN: usize = 32;
const ENGINE_LEN: usize = 8;
/// Magic, wasm SHA-256, engine key, artifact SHA-256.
pub const LABEL_LEN: usize = MAGIC.len() + DIGEST_LEN + ENGINE_LEN + DIGEST_LEN;

/// What an entry must have been compiled from and for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EntryKey {
    /// SHA-256 of the source wasm.
    pub wasm: [u8; DIGEST_LEN],
    /// Hash of wasmtime's compatibility hash and poe-host's version.
    pub engine: u64,
}

/// The SHA-256 an entry's label says its artifact has.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ArtifactDigest(pub [u8; DIGEST_LEN]);

/// Why a cache entry was not used (it is then deleted and the bot recompiled).
#[derive(Debug, thiserror::Error)]
pub enum Rejection {
    /// The label is not a POEHOST3 label (another layout, or not a label at all).
    #[error("no POEHOST3 label")]
    Header,
    /// The artifact has no label: a write was interrupted between the two files.
    #[error("an artifact without a label")]
    Unlabeled,
    /// The entry was written by an older poe-host, in one file with its header in front.
    #[error("written by an older poe-host (layout {0}), which cannot be mapped")]
    OldLayout(String),
    /// The entry was compiled from other wasm than the bot being loaded.
    #[error("compiled from wasm {found}, not {expected}")]
    OtherWasm {
        /// The first 12 hex digits of the wasm hash in the entry.
        found: String,
        /// The first 12 hex digits of the bot's wasm hash.
        expected: String,
    },
    /// The entry was compiled for another engine configuration or poe-host version.
    #[error("compiled for engine {found:016x}, not {expected:016x}")]
    OtherEngine {
        /// The engine key in the entry.
        found: u64,
        /// This host's engine key.
        expected: u64,
    },
    /// The artifact does not match its SHA-256 (truncated or corrupt).
    #[error("artifact checksum mismatch")]
    Checksum,
    /// The file is not a regular file (a symlink, FIFO, directory, …).
    #[error("not a regular file")]
    NotRegular,
    /// The file belongs to another user, who could have put any code in it.
    #[error("owned by uid {owner}, not by this user")]
    ForeignOwner {
        /// The file's owner.
        owner: u32,
    },
    /// Other users may write to the file.
    #[error("writable by other users (mode {mode:o})")]
    WritableByOthers {
        /// The file's permission bits.
        mode: u32,
    },
    /// The file was replaced between checking and opening it.
    #[error("replaced while being opened")]
    Replaced,
    /// The file could not be read (or, for the artifact, mapped).
    #[error("cannot read it: {0}")]
    Read(std::io::Error),
    /// wasmtime refused the artifact.
    #[error("wasmtime refused it: {0}")]
    Deserialize(String),
}

impl EntryKey {
    /// The key of the wasm whose SHA-256 is `wasm_hash` (hex), for engine `engine`.
    pub fn new(wasm_hash: &str, engine: u64) -> Option<Self> {
        let mut wasm = [0; DIGEST_LEN];
        hex::decode_to_slice(wasm_hash, &mut wasm).ok()?;
        Some(Self { wasm, engine })
    }

    /// The entry's file stem: the wasm's SHA-256 and the engine key, both hex. The artifact
    /// is `STEM.cwasm`, its label `STEM.label`.
    pub fn stem(&self) -> String {
        format!("{}-{:016x}", hex::encode(self.wasm), self.engine)
    }

    /// The label to write beside `artifact`.
    pub fn label(&self, artifact: &[u8]) -> Vec<u8> {
        let mut label = Vec::with_capacity(LABEL_LEN);
        label.extend_from_slice(MAGIC);
        label.extend_from_slice(&self.wasm);
        label.extend_from_slice(&self.engine.to_be_bytes());
        label.extend_from_slice(&Sha256::digest(artifact));
        label
    }

    /// The artifact's SHA-256, if `label` was written for this key.
    pub fn verify(&self, label: &[u8]) -> Result<ArtifactDigest, Rejection> {
        let rest = label.strip_prefix(MAGIC.as_slice()).ok_or(Rejection::Header)?;
        let (wasm, rest) = rest.split_at_checked(DIGEST_LEN).ok_or(Rejection::Header)?;
        if wasm != self.wasm {
            let short = |h: &[u8]| hex::encode(h)[..12].to_owned();
            return Err(Rejection::OtherWasm { found: short(wasm), expected: short(&self.wasm) });
        }
        let (engine, rest) = rest.split_at_checked(ENGINE_LEN).ok_or(Rejection::Header)?;
        let engine = u64::from_be_bytes(engine.try_into().expect("split at ENGINE_LEN"));
        if engine != self.engine {
            return Err(Rejection::OtherEngine { found: engine, expected: self.engine });
        }
        let digest = rest.try_into().map_err(|_| Rejection::Header)?;
        Ok(ArtifactDigest(digest))
    }
}

impl ArtifactDigest {
    /// Whether `digest` (of the artifact as read) is the one the label names.
    pub fn check(&self, digest: &[u8]) -> Result<(), Rejection> {
        (digest == self.0).then_some(()).ok_or(Rejection::Checksum)
    }
}

/// Why an artifact with no label is refused, from its first bytes: an entry of an older
/// layout, or the half of an interrupted write.
pub fn unlabeled(first_bytes: &[u8]) -> Rejection {
    match first_bytes.get(..MAGIC.len()) {
        Some(magic) if magic.starts_with(OLD_MAGIC_PREFIX) => {
            Rejection::OldLayout(String::from_utf8_lossy(magic).into_owned())
        }
        _ => Rejection::Unlabeled,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(wasm: &[u8]) -> EntryKey {
        EntryKey::new(&hex::encode(Sha256::digest(wasm)), 0x1234).unwrap()
    }

    #[test]
    fn a_label_gives_back_the_artifact_digest_and_a_flipped_artifact_bit_is_a_checksum_mismatch() {
        let key = key(b"echo.wasm");
        let label = key.label(b"code");
        assert_eq!(label.len(), LABEL_LEN);
        let digest = key.verify(&label).unwrap();
        digest.check(&Sha256::digest(b"code")).unwrap();
        assert!(matches!(digest.check(&Sha256::digest(b"codf")), Err(Rejection::Checksum)));
        assert!(matches!(key.verify(&label[..LABEL_LEN - 1]), Err(Rejection::Header)));
        assert!(matches!(key.verify(&[label.as_slice(), b"x"].concat()), Err(Rejection::Header)));
        assert!(matches!(key.verify(b"POEHOST3short"), Err(Rejection::Header)));
        assert!(matches!(key.verify(b""), Err(Rejection::Header)));
    }

    #[test]
    fn a_label_of_another_wasm_is_refused_though_its_artifact_checksum_would_match() {
        let (echo, showcase) = (key(b"echo.wasm"), key(b"showcase.wasm"));
        let err = showcase.verify(&echo.label(b"echo's code")).unwrap_err();
        assert!(matches!(err, Rejection::OtherWasm { .. }), "{err}");
        assert!(err.to_string().starts_with("compiled from wasm "), "{err}");
    }

    #[test]
    fn a_label_for_another_engine_is_refused() {
        let ours = key(b"echo.wasm");
        let other = EntryKey { engine: 0x5678, ..ours };
        let err = ours.verify(&other.label(b"code")).unwrap_err();
        assert_eq!(err.to_string(), "compiled for engine 0000000000005678, not 0000000000001234");
    }

    /// The previous layout put its header in front of the artifact in the `.cwasm` file.
    #[test]
    fn an_entry_of_the_previous_layout_is_named_as_such_and_a_bare_artifact_as_unlabeled() {
        let old = unlabeled(b"POEHOST2\x01\x02");
        assert_eq!(old.to_string(), "written by an older poe-host (layout POEHOST2), which cannot be mapped");
        assert!(matches!(unlabeled(b"\x7fELF\x02\x01\x01\0"), Rejection::Unlabeled));
        assert!(matches!(unlabeled(b""), Rejection::Unlabeled));
        assert!(matches!(key(b"echo.wasm").verify(b"POEHOST2"), Err(Rejection::Header)));
    }

    #[test]
    fn stems_carry_the_wasm_hash_and_the_engine_key() {
        let key = EntryKey::new(&"ab".repeat(32), 0xff).unwrap();
        assert_eq!(key.stem(), format!("{}-00000000000000ff", "ab".repeat(32)));
        assert_eq!(EntryKey::new("not hex", 0), None);
    }
}
