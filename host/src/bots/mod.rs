//! The bots directory: reading its files safely, each bot's sidecar, the on-disk compile
//! cache, the registry of bots being served, and the watcher that swaps versions in.

pub mod cache; // on-disk compiled-bot cache: private, bound to each wasm, mapped, evicted when unused
pub mod fingerprint; // what a bot's files looked like: size, mtime, inode, ctime
pub mod guest_env; // sidecar [env]: the only environment variables a bot sees
pub mod registry; // the bots being served, by name
pub mod regular_file; // bots-directory files read safely: regular, non-blocking, bounded
pub mod reload; // watch the bots directory, swap versions in atomically
pub mod sidecar; // NAME.toml per-bot config
