//! The layout of one cache entry, and every reason an entry is refused.
//!
//! An entry's header binds it to the SHA-256 of the wasm it was compiled from and to the
//! engine it was compiled for, so an entry copied or renamed under another bot's name is
//! refused before wasmtime sees a byte of it; the artifact's own SHA-256 catches corruption.

use sha2::{Digest, Sha256};

/// First bytes of every cache entry; bump the digit when the layout changes.
pub const MAGIC: &[u8; 8] = b"POEHOST2";
const DIGEST_LEN: usize = 32;
const ENGINE_LEN: usize = 8;
/// Magic, wasm SHA-256, engine key, artifact SHA-256.
const HEADER_LEN: usize = MAGIC.len() + DIGEST_LEN + ENGINE_LEN + DIGEST_LEN;

/// What an entry must have been compiled from and for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EntryKey {
    /// SHA-256 of the source wasm.
    pub wasm: [u8; DIGEST_LEN],
    /// Hash of wasmtime's compatibility hash and poe-host's version.
    pub engine: u64,
}

/// Why a cache entry was not used (it is then deleted and the bot recompiled).
#[derive(Debug, thiserror::Error)]
pub enum Rejection {
    /// The entry is not a POEHOST2 entry (another layout, or not an entry at all).
    #[error("no POEHOST2 header")]
    Header,
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
    /// The entry is not a regular file (a symlink, FIFO, directory, …).
    #[error("not a regular file")]
    NotRegular,
    /// The entry belongs to another user, who could have put any code in it.
    #[error("owned by uid {owner}, not by this user")]
    ForeignOwner {
        /// The file's owner.
        owner: u32,
    },
    /// Other users may write to the entry.
    #[error("writable by other users (mode {mode:o})")]
    WritableByOthers {
        /// The file's permission bits.
        mode: u32,
    },
    /// The file was replaced between checking and opening it.
    #[error("replaced while being opened")]
    Replaced,
    /// The file could not be read.
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

    /// The entry's file name: the wasm's SHA-256 and the engine key, both hex.
    pub fn file_name(&self) -> String {
        format!("{}-{:016x}.cwasm", hex::encode(self.wasm), self.engine)
    }

    /// The header to write before `artifact`.
    pub fn header(&self, artifact: &[u8]) -> Vec<u8> {
        let mut header = Vec::with_capacity(HEADER_LEN);
        header.extend_from_slice(MAGIC);
        header.extend_from_slice(&self.wasm);
        header.extend_from_slice(&self.engine.to_be_bytes());
        header.extend_from_slice(&Sha256::digest(artifact));
        header
    }

    /// The artifact inside `entry`, if the entry was written for this key and is intact.
    pub fn verify<'a>(&self, entry: &'a [u8]) -> Result<&'a [u8], Rejection> {
        let rest = entry.strip_prefix(MAGIC.as_slice()).ok_or(Rejection::Header)?;
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
        let (digest, artifact) = rest.split_at_checked(DIGEST_LEN).ok_or(Rejection::Checksum)?;
        (Sha256::digest(artifact).as_slice() == digest).then_some(artifact).ok_or(Rejection::Checksum)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(wasm: &[u8]) -> EntryKey {
        EntryKey::new(&hex::encode(Sha256::digest(wasm)), 0x1234).unwrap()
    }

    fn entry(key: &EntryKey, artifact: &[u8]) -> Vec<u8> {
        [key.header(artifact), artifact.to_vec()].concat()
    }

    #[test]
    fn an_intact_entry_gives_back_its_artifact_and_a_flipped_bit_is_a_checksum_mismatch() {
        let key = key(b"echo.wasm");
        let mut bytes = entry(&key, b"code");
        assert_eq!(key.verify(&bytes).unwrap(), b"code");
        let last = bytes.len() - 1;
        bytes[last] ^= 1;
        assert!(matches!(key.verify(&bytes), Err(Rejection::Checksum)));
        assert!(matches!(key.verify(&bytes[..HEADER_LEN - 1]), Err(Rejection::Checksum)));
        assert!(matches!(key.verify(b"POEHOST2short"), Err(Rejection::Header)));
        assert!(matches!(key.verify(b""), Err(Rejection::Header)));
    }

    #[test]
    fn an_entry_of_another_wasm_is_refused_though_its_artifact_checksum_is_valid() {
        let (echo, showcase) = (key(b"echo.wasm"), key(b"showcase.wasm"));
        let err = showcase.verify(&entry(&echo, b"echo's code")).unwrap_err();
        assert!(matches!(err, Rejection::OtherWasm { .. }), "{err}");
        assert!(err.to_string().starts_with("compiled from wasm "), "{err}");
    }

    #[test]
    fn an_entry_for_another_engine_is_refused() {
        let ours = key(b"echo.wasm");
        let other = EntryKey { engine: 0x5678, ..ours };
        let err = ours.verify(&entry(&other, b"code")).unwrap_err();
        assert_eq!(err.to_string(), "compiled for engine 0000000000005678, not 0000000000001234");
    }

    /// What the previous layout accepted: any bytes after a checksum of themselves.
    #[test]
    fn garbage_planted_with_a_valid_artifact_checksum_is_refused_before_deserialising() {
        let mut planted = b"POEHOST1".to_vec();
        planted.extend_from_slice(&Sha256::digest(b"garbage"));
        planted.extend_from_slice(b"garbage");
        assert!(matches!(key(b"echo.wasm").verify(&planted), Err(Rejection::Header)));
    }

    #[test]
    fn file_names_carry_the_wasm_hash_and_the_engine_key() {
        let key = EntryKey::new(&"ab".repeat(32), 0xff).unwrap();
        assert_eq!(key.file_name(), format!("{}-00000000000000ff.cwasm", "ab".repeat(32)));
        assert_eq!(EntryKey::new("not hex", 0), None);
    }
}
