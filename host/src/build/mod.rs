//! `poe-host build SRC [-o OUT.wasm]`: turn a bot's source into the component the host
//! serves, so one command covers both languages a creator writes bots in.
//!
//! A `.py` file is a fastapi_poe bot, built by the Python SDK's `poe_build.py` with
//! componentize-py from the project's venv (`python`); a directory with a `Cargo.toml` is a
//! Rust bot, built by cargo for `wasm32-wasip2` (`rust`). Either way the result is written
//! whole (a partial file is renamed into place), so a running host never loads half a bot.

mod python;
mod rust;

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};

pub use python::PythonToolchain;

/// What `build` needs beyond the source.
#[derive(Debug, Clone)]
pub struct BuildOptions {
    /// Where to write the component; `None` means `NAME.wasm` in the current directory.
    pub output: Option<PathBuf>,
    /// How Python bots are built.
    pub python: PythonToolchain,
}

/// Build the bot at `src`; returns where the component was written.
pub fn build(src: &Path, options: &BuildOptions) -> anyhow::Result<PathBuf> {
    let output = match &options.output {
        Some(path) => path.clone(),
        None => PathBuf::from(format!("{}.wasm", bot_name(src)?)),
    };
    if output.extension().and_then(|e| e.to_str()) != Some("wasm") {
        bail!("the output {} must end in .wasm: the host serves only NAME.wasm files", output.display());
    }
    if !src.exists() {
        bail!("{} does not exist", src.display());
    } else if src.is_dir() {
        rust::build(src, &output)?;
    } else if src.extension().and_then(|e| e.to_str()) == Some("py") {
        options.python.build(src, &output)?;
    } else {
        bail!("{} is neither a Python file (.py) nor a Rust crate's directory", src.display());
    }
    Ok(output)
}

/// The bot's name: the Python file's stem or the crate's directory name.
fn bot_name(src: &Path) -> anyhow::Result<String> {
    let name = if src.is_dir() {
        src.canonicalize().ok().and_then(|p| p.file_name().map(Into::into))
    } else {
        src.file_stem().map(Into::into)
    };
    let name: std::ffi::OsString = name.with_context(|| format!("{} names no bot", src.display()))?;
    let name = name.into_string().map_err(|n| anyhow::anyhow!("bot name {n:?} is not UTF-8"))?;
    Ok(name.replace('-', "_"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_bot_is_named_after_its_file_or_crate() {
        assert_eq!(bot_name(Path::new("bots/echo.py")).unwrap(), "echo");
        let dir = std::env::temp_dir().join(format!("poe-build-name-{}", std::process::id()));
        let crate_dir = dir.join("side-by-side");
        std::fs::create_dir_all(&crate_dir).unwrap();
        assert_eq!(bot_name(&crate_dir).unwrap(), "side_by_side");
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn an_output_not_ending_in_wasm_is_refused_before_building() {
        let options = BuildOptions { output: Some("echo.out".into()), python: PythonToolchain::default() };
        let error = build(Path::new("echo.py"), &options).unwrap_err().to_string();
        assert!(error.contains("must end in .wasm"), "{error}");
    }

    #[test]
    fn a_source_that_is_neither_language_is_named() {
        let options = BuildOptions { output: None, python: PythonToolchain::default() };
        let error = build(Path::new("Cargo.toml"), &options).unwrap_err().to_string();
        assert!(error.contains("neither a Python file"), "{error}");
        let error = build(Path::new("missing.py"), &options).unwrap_err().to_string();
        assert!(error.contains("does not exist"), "{error}");
    }
}
