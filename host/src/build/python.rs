//! Python bots: the SDK's `poe_build.py`, run by the Python that has componentize-py.
//!
//! The build itself (import checks, bundling `requirements.txt`, componentize-py, the
//! build cache) lives in the SDK, in Python, beside the code it builds; this side finds the
//! tools, says how to get them when they are missing, and reports a failed build.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, bail};

/// A poe-host checkout's own copies, the defaults when no flag or variable says otherwise.
const CHECKOUT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/..");

/// Where the Python SDK, its interpreter and the WIT are.
#[derive(Debug, Clone)]
pub struct PythonToolchain {
    /// The Python with componentize-py installed (the project's `.venv`).
    pub python: PathBuf,
    /// The SDK directory (`guest-sdk-python`), holding `poe_build.py`.
    pub sdk: PathBuf,
    /// The `poe:bot` WIT directory.
    pub wit: PathBuf,
    /// Where builds and bundled packages are cached.
    pub cache: PathBuf,
}

impl Default for PythonToolchain {
    fn default() -> Self {
        Self {
            python: PathBuf::from(CHECKOUT).join(".venv/bin/python"),
            sdk: PathBuf::from(CHECKOUT).join("guest-sdk-python"),
            wit: PathBuf::from(CHECKOUT).join("wit"),
            cache: default_cache_dir(),
        }
    }
}

/// `$XDG_CACHE_HOME/poe-host/python`, or `~/.cache/poe-host/python`.
pub fn default_cache_dir() -> PathBuf {
    let base = std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".cache")))
        .unwrap_or_else(std::env::temp_dir);
    base.join("poe-host").join("python")
}

impl PythonToolchain {
    /// Build the bot file `src` into `output`.
    pub fn build(&self, src: &Path, output: &Path) -> anyhow::Result<()> {
        self.check_installed()?;
        let status = Command::new(&self.python)
            .arg(self.sdk.join("poe_build.py"))
            .arg(src)
            .arg("--output")
            .arg(output)
            .arg("--wit")
            .arg(&self.wit)
            .arg("--cache")
            .arg(&self.cache)
            .status()
            .with_context(|| format!("failed to run {}", self.python.display()))?;
        if !status.success() {
            bail!("building {} failed (see above)", src.display());
        }
        Ok(())
    }

    fn check_installed(&self) -> anyhow::Result<()> {
        if !self.python.is_file() {
            bail!(
                "no Python at {}: run scripts/setup.sh in a poe-host checkout (it makes .venv with \
                 componentize-py), or pass --python",
                self.python.display()
            );
        }
        if !self.sdk.join("poe_build.py").is_file() {
            bail!("no Python SDK at {} (poe_build.py is missing): pass --python-sdk", self.sdk.display());
        }
        if !self.wit.join("world.wit").is_file() {
            bail!("no poe:bot WIT at {} (world.wit is missing): pass --wit", self.wit.display());
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_python_says_how_to_get_one() {
        let tools = PythonToolchain { python: "/nonexistent/python".into(), ..PythonToolchain::default() };
        let error = tools.build(Path::new("echo.py"), Path::new("echo.wasm")).unwrap_err().to_string();
        assert!(error.contains("scripts/setup.sh"), "{error}");
    }
}
