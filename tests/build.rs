//! Builds the guest bots the integration tests serve (example bots and misbehaving fixtures)
//! with a nested `cargo build --target wasm32-wasip2`, and writes their paths as consts.
//!
//! The nested build uses its own target directory (`target/guests`), so it never waits on
//! the lock of the build that runs this script.

use std::path::{Path, PathBuf};
use std::process::Command;

const GUESTS: &[(&str, &str)] = &[
    ("ECHO", "echo"),
    ("SHOWCASE", "showcase"),
    ("ALLCAPS", "allcaps"),
    ("VERSUS", "versus"),
    ("MISBEHAVE", "misbehave"),
    ("NOT_A_BOT", "not-a-bot"),
    ("CALLER", "caller"),
    ("FETCHER", "fetcher"),
    ("RELAY", "relay"),
];

fn main() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    for dir in ["wit", "guest-sdk", "example-bots", "tests/fixtures"] {
        println!("cargo:rerun-if-changed={}", root.join(dir).display());
    }
    let target_dir = root.join("target").join("guests");
    let mut cargo = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
    cargo.current_dir(&root).args(["build", "--release", "--target", "wasm32-wasip2", "--target-dir"]);
    cargo.arg(&target_dir);
    for (_, package) in GUESTS {
        cargo.args(["-p", package]);
    }
    // The outer build's flags are for the host; the guests get their own defaults.
    for var in [
        "CARGO_ENCODED_RUSTFLAGS",
        "RUSTFLAGS",
        "CARGO_TARGET_DIR",
        "CARGO_BUILD_TARGET",
        "RUSTC_WORKSPACE_WRAPPER",
    ] {
        cargo.env_remove(var);
    }
    let status = cargo.status().expect("running cargo to build the guest bots");
    assert!(
        status.success(),
        "building the guest bots failed; is the target installed? run `rustup target add wasm32-wasip2`"
    );
    write_paths(&target_dir.join("wasm32-wasip2").join("release"));
}

fn write_paths(wasm_dir: &Path) {
    let mut consts = String::new();
    for (konst, package) in GUESTS {
        let path = wasm_dir.join(format!("{}.wasm", package.replace('-', "_")));
        assert!(path.exists(), "missing guest {}", path.display());
        consts.push_str(&format!(
            "/// `{package}` built for wasm32-wasip2.\npub const {konst}: &str = {:?};\n",
            path.display().to_string()
        ));
    }
    let out = PathBuf::from(std::env::var("OUT_DIR").unwrap()).join("guests.rs");
    std::fs::write(out, consts).unwrap();
}
