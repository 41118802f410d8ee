//! [`GuestEnv`]: the environment variables a bot's sidecar grants it (`[env]`), the only
//! ones its `wasi:cli/environment` shows (see `guest::ctx`). Each is a literal, or read at load time from the
//! host's environment or from a file (so Kubernetes Secrets work); values never appear in
//! logs, errors or the admin view.

use std::collections::BTreeMap;
use std::path::Path;

use serde::Deserialize;

use super::regular_file::RegularFile;

/// Largest file a variable is read from.
pub const MAX_ENV_FILE_BYTES: u64 = 64 << 10;

/// Variables one bot may have.
const MAX_VARIABLES: usize = 256;

/// Where a variable's value comes from: `NAME = "value"`, `NAME = { from_env = "VAR" }` or
/// `NAME = { from_file = "path" }` (relative to the bots directory; one trailing newline
/// is dropped). `Debug` hides a literal.
#[derive(Deserialize)]
#[serde(untagged, deny_unknown_fields)]
pub enum EnvSource {
    /// The value itself.
    Literal(String),
    /// The host's environment variable of that name.
    FromEnv {
        /// Its name.
        from_env: String,
    },
    /// The contents of a file.
    FromFile {
        /// Its path.
        from_file: String,
    },
}

/// The variables granted to one bot, resolved. `Debug` shows names only.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct GuestEnv(Vec<(String, String)>);

impl std::fmt::Debug for EnvSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Literal(_) => f.write_str("Literal(<redacted>)"),
            Self::FromEnv { from_env } => write!(f, "FromEnv({from_env})"),
            Self::FromFile { from_file } => write!(f, "FromFile({from_file})"),
        }
    }
}

impl std::fmt::Debug for GuestEnv {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.0.iter().map(|(name, _)| name)).finish()
    }
}

impl GuestEnv {
    /// Resolve a sidecar's `[env]` table; `dir` is the bots directory. The error names the
    /// variable and its source, never a value.
    pub fn resolve(table: &BTreeMap<String, EnvSource>, dir: &Path) -> Result<Self, String> {
        if table.len() > MAX_VARIABLES {
            return Err(format!("env: at most {MAX_VARIABLES} variables"));
        }
        let mut vars = Vec::with_capacity(table.len());
        for (name, source) in table {
            check_name(name)?;
            vars.push((name.clone(), value(name, source, dir)?));
        }
        Ok(Self(vars))
    }

    /// The variables, for the guest's WASI context.
    pub fn vars(&self) -> &[(String, String)] {
        &self.0
    }

    /// Whether none were granted.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

fn check_name(name: &str) -> Result<(), String> {
    let mut chars = name.chars();
    let first_ok = chars.next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_');
    if first_ok && chars.all(|c| c.is_ascii_alphanumeric() || c == '_') {
        return Ok(());
    }
    Err(format!("env: {name:?} is not a variable name (letters, digits and _, not starting with a digit)"))
}

fn value(name: &str, source: &EnvSource, dir: &Path) -> Result<String, String> {
    match source {
        EnvSource::Literal(value) => Ok(value.clone()),
        EnvSource::FromEnv { from_env } => std::env::var(from_env).map_err(|_| {
            format!("env.{name}: the host's environment has no {from_env} (or it is not UTF-8)")
        }),
        EnvSource::FromFile { from_file } => {
            let path = dir.join(from_file);
            let bytes =
                RegularFile::read(&path, MAX_ENV_FILE_BYTES).map_err(|e| format!("env.{name}: {e}"))?;
            let text =
                String::from_utf8(bytes).map_err(|_| format!("env.{name}: {from_file} is not UTF-8 text"))?;
            Ok(text.strip_suffix('\n').map(|t| t.strip_suffix('\r').unwrap_or(t)).unwrap_or(&text).to_owned())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table(text: &str) -> BTreeMap<String, EnvSource> {
        toml::from_str(text).unwrap()
    }

    #[test]
    fn each_source_resolves_and_debug_shows_names_only() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("key.txt"), "s3cret-file\n").unwrap();
        let home = std::env::var("HOME").unwrap_or_default();
        let env = GuestEnv::resolve(
            &table("A = \"s3cret-literal\"\nB = { from_file = \"key.txt\" }\nC = { from_env = \"HOME\" }"),
            dir.path(),
        )
        .unwrap();
        let vars: Vec<(&str, &str)> = env.vars().iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        assert_eq!(vars, [("A", "s3cret-literal"), ("B", "s3cret-file"), ("C", home.as_str())]);
        assert_eq!(format!("{env:?}"), r#"["A", "B", "C"]"#);
    }

    #[test]
    fn a_missing_source_names_the_variable_and_never_a_value() {
        let dir = tempfile::tempdir().unwrap();
        for (text, names) in [
            (
                "K = { from_env = \"POE_HOST_TEST_SURELY_UNSET\" }",
                "env.K: the host's environment has no POE_HOST_TEST_SURELY_UNSET",
            ),
            ("K = { from_file = \"nope\" }", "env.K:"),
            ("\"1X\" = \"s3cret\"", "\"1X\" is not a variable name"),
        ] {
            let err = GuestEnv::resolve(&table(text), dir.path()).unwrap_err();
            assert!(err.contains(names), "{text}: {err}");
            assert!(!err.contains("s3cret"), "{err}");
        }
        assert!(toml::from_str::<BTreeMap<String, EnvSource>>("K = { from_envv = \"X\" }").is_err());
    }
}
