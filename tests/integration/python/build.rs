//! Building Python bots: `poe-host build` reuses an unchanged build byte for byte, a
//! `requirements.txt` is bundled (pure Python only, else a clear error), a tutorial file
//! with Modal's deployment boilerplate builds unchanged, and a file that fails at build
//! time shows its own traceback, after warnings about imports inside functions.

use std::process::{Command, Output};

use poe_host::build::{BuildOptions, PythonToolchain, build};

use super::{query, text_of};
use crate::harness::*;

/// The build cache `tests/build.rs` fills.
fn build_cache() -> std::path::PathBuf {
    workspace_root().join("target/python-build-cache")
}

/// `poe_build.py` on `src` with its output kept.
fn poe_build(src: &std::path::Path, output: &std::path::Path) -> Output {
    Command::new(venv_python())
        .arg(workspace_root().join("guest-sdk-python/poe_build.py"))
        .arg(src)
        .arg("--output")
        .arg(output)
        .arg("--wit")
        .arg(workspace_root().join("wit"))
        .arg("--cache")
        .arg(build_cache())
        .output()
        .expect("running poe_build.py")
}

#[test]
fn poe_host_build_of_an_unchanged_file_gives_the_same_bytes_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let output = dir.path().join("echo.wasm");
    let python = PythonToolchain { cache: build_cache(), ..PythonToolchain::default() };
    let options = BuildOptions { output: Some(output.clone()), python };
    let started = std::time::Instant::now();
    let written = build(&workspace_root().join("example-bots/python/echo.py"), &options).unwrap();
    assert_eq!(written, output);
    assert!(started.elapsed().as_secs() < 10, "a cached build took {:?}", started.elapsed());
    assert_eq!(std::fs::read(output).unwrap(), std::fs::read(guests::PY_ECHO).unwrap());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pure_python_requirement_is_bundled_and_imported() {
    assert_eq!(text_of(&query("humane", "1234567").await), "1,234,567");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tutorial_file_written_for_modal_builds_and_answers_unchanged() {
    assert_eq!(text_of(&query("modal_echo", "hello modal").await), "hello modal");
}

#[test]
fn a_requirement_with_a_native_extension_is_a_build_error_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("requirements.txt"), "pydantic-core==2.27.2\n").unwrap();
    let src = dir.path().join("native.py");
    std::fs::write(&src, "import fastapi_poe as fp\n").unwrap();
    let out = poe_build(&src, &dir.path().join("native.wasm"));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    assert!(stderr.contains("pure-Python packages") && stderr.contains("pydantic"), "{stderr}");
}

#[test]
fn a_file_failing_at_build_time_shows_its_traceback_after_import_warnings() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("broken.py");
    let code = "import fastapi_poe as fp\n\nclass B(fp.PoeBot):\n    async def get_response(self, r):\n        import sqlite3\n        yield fp.PartialResponse(text='x')\n\nraise ValueError('broken at build time')\n";
    std::fs::write(&src, code).unwrap();
    let out = poe_build(&src, &dir.path().join("broken.wasm"));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    assert!(stderr.contains("broken.py:5: `import sqlite3` runs only when the bot answers"), "{stderr}");
    assert!(stderr.contains("ValueError: broken at build time"), "{stderr}");
    assert!(!stderr.contains("Stack backtrace"), "componentize-py's own backtrace: {stderr}");
    assert!(!dir.path().join("broken.wasm").exists());
}
