//! Builds the guest bots the integration tests serve (example bots and misbehaving fixtures)
//! with a nested `cargo build --target wasm32-wasip2`, and writes their paths as consts.
//!
//! The nested build uses its own target directory (`target/guests`), so it never waits on
//! the lock of the build that runs this script. The Python bots (example-bots/python and a
//! misbehaving fixture) are built with the SDK's `poe_build.py` from the project's venv, all
//! at once, into `target/python-bots`; its build cache makes an unchanged bot free.

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

/// `(const, source)` of each Python bot, relative to the workspace root.
const PYTHON_BOTS: &[(&str, &str)] = &[
    ("PY_ECHO", "example-bots/python/echo.py"),
    ("PY_SHOWCASE", "example-bots/python/showcase.py"),
    ("PY_ALLCAPS", "example-bots/python/allcaps.py"),
    ("PY_SIDE_BY_SIDE", "example-bots/python/side_by_side.py"),
    ("PY_RELAY", "example-bots/python/relay.py"),
    ("PY_MISBEHAVE", "tests/fixtures/python/misbehave.py"),
    ("PY_HUMANE", "tests/fixtures/python/deps/humane.py"),
    ("PY_MODAL_ECHO", "tests/fixtures/python/modal_echo.py"),
];

fn main() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    for dir in ["wit", "guest-sdk", "guest-sdk-python", "example-bots", "tests/fixtures"] {
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
    let mut consts = rust_paths(&target_dir.join("wasm32-wasip2").join("release"));
    consts.push_str(&build_python_bots(&root));
    let out = PathBuf::from(std::env::var("OUT_DIR").unwrap()).join("guests.rs");
    std::fs::write(out, consts).unwrap();
}

/// Build every Python bot at once; their paths as consts.
fn build_python_bots(root: &Path) -> String {
    let python = root.join(".venv/bin/python");
    assert!(
        python.exists(),
        "{} not found: run scripts/setup.sh (it makes the venv with componentize-py for the Python bots)",
        python.display()
    );
    let out_dir = root.join("target").join("python-bots");
    let builds: Vec<_> = PYTHON_BOTS
        .iter()
        .map(|(konst, src)| {
            let stem = Path::new(src).file_stem().unwrap().to_str().unwrap();
            let output = out_dir.join(format!("{stem}.wasm"));
            let child = Command::new(&python)
                .arg(root.join("guest-sdk-python/poe_build.py"))
                .arg(root.join(src))
                .arg("--output")
                .arg(&output)
                .arg("--wit")
                .arg(root.join("wit"))
                .arg("--cache")
                .arg(root.join("target").join("python-build-cache"))
                .spawn()
                .expect("running the venv's python to build the Python bots");
            (konst, src, output, child)
        })
        .collect();
    let mut consts = String::new();
    for (konst, src, output, mut child) in builds {
        let status = child.wait().expect("waiting for a Python bot's build");
        assert!(status.success(), "building {src} failed (see above)");
        consts.push_str(&format!(
            "/// `{src}` built by poe_build.py.\npub const {konst}: &str = {:?};\n",
            output.display().to_string()
        ));
    }
    consts
}

fn rust_paths(wasm_dir: &Path) -> String {
    let mut consts = String::new();
    for (konst, package) in GUESTS {
        let path = wasm_dir.join(format!("{}.wasm", package.replace('-', "_")));
        assert!(path.exists(), "missing guest {}", path.display());
        consts.push_str(&format!(
            "/// `{package}` built for wasm32-wasip2.\npub const {konst}: &str = {:?};\n",
            path.display().to_string()
        ));
    }
    consts
}
