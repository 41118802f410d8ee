//! Rust bots: `cargo build --release --target wasm32-wasip2` on the crate, then the
//! component cargo wrote copied to the output.

use std::io::BufRead;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use anyhow::{Context, bail};

/// The target a Rust bot is built for: it makes a component directly.
const TARGET: &str = "wasm32-wasip2";

/// Build the crate in `dir` and write its component to `output`.
pub fn build(dir: &Path, output: &Path) -> anyhow::Result<()> {
    let manifest = dir.join("Cargo.toml");
    if !manifest.is_file() {
        bail!("{} has no Cargo.toml: a Rust bot is a crate directory", dir.display());
    }
    let built = cargo_build(&manifest)?;
    let partial = output.with_extension("wasm.partial");
    std::fs::copy(&built, &partial).with_context(|| format!("failed to write {}", partial.display()))?;
    std::fs::rename(&partial, output).with_context(|| format!("failed to write {}", output.display()))?;
    eprintln!("{}: wrote {}", dir.display(), output.display());
    Ok(())
}

/// Run cargo; the `.wasm` it reports as the crate's artifact.
fn cargo_build(manifest: &Path) -> anyhow::Result<PathBuf> {
    let mut child = Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()))
        .args(["build", "--release", "--target", TARGET, "--message-format=json-render-diagnostics"])
        .arg("--manifest-path")
        .arg(manifest)
        .stdout(Stdio::piped())
        .spawn()
        .context("failed to run cargo: install Rust with rustup")?;
    let stdout = child.stdout.take().context("cargo's output")?;
    let mut wasm = None;
    for line in std::io::BufReader::new(stdout).lines() {
        wasm = artifact_wasm(&line?).or(wasm);
    }
    if !child.wait()?.success() {
        bail!(
            "cargo could not build {} (see above; `rustup target add {TARGET}` if the target is missing)",
            manifest.display()
        );
    }
    wasm.with_context(|| format!("{} builds no .wasm: is it a `cdylib` bot crate?", manifest.display()))
}

/// The `.wasm` file of a `compiler-artifact` message, if it is one.
fn artifact_wasm(line: &str) -> Option<PathBuf> {
    let message: serde_json::Value = serde_json::from_str(line).ok()?;
    if message["reason"] != "compiler-artifact" {
        return None;
    }
    let files = message["filenames"].as_array()?;
    files.iter().filter_map(|f| f.as_str()).find(|f| f.ends_with(".wasm")).map(PathBuf::from)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_crates_wasm_is_read_from_cargos_messages() {
        let line = r#"{"reason":"compiler-artifact","filenames":["/t/echo.d","/t/echo.wasm"]}"#;
        assert_eq!(artifact_wasm(line), Some(PathBuf::from("/t/echo.wasm")));
        assert_eq!(artifact_wasm(r#"{"reason":"build-finished","success":true}"#), None);
        assert_eq!(artifact_wasm("not json"), None);
    }
}
