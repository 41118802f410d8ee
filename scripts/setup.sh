#!/usr/bin/env bash
# Install what building, testing and running poe-host needs. Safe to run again: each step
# is skipped when already done.
#   scripts/setup.sh         everything (wasm targets, componentize-py, cargo-component, fastapi-poe)
#   scripts/setup.sh --run   only what building and running the example bots needs (wasm
#                            targets, .venv with componentize-py for the Python ones)
set -euo pipefail
cd "$(dirname "$0")/.."

say() { printf '\033[1m[setup]\033[0m %s\n' "$*" >&2; }
die() { printf '\033[31m[setup] error:\033[0m %s\n' "$*" >&2; exit 1; }

command -v cargo >/dev/null || die "cargo not found: install Rust with rustup first"
command -v rustup >/dev/null || die "rustup not found: the wasm targets are installed with rustup"

installed_targets=$(rustup target list --installed)
for target in wasm32-wasip2 wasm32-wasip1; do
  grep -qx "$target" <<<"$installed_targets" || { say "adding Rust target $target"; rustup target add "$target"; }
done

# Python bots are built with componentize-py, from the project's venv.
venv=.venv
if ! [ -x "$venv/bin/python" ]; then
  command -v python3 >/dev/null || die "python3 not found: Python bots and the fastapi_poe tests need it"
  say "creating $venv"
  python3 -m venv "$venv" || die "python3 -m venv failed: install the venv module (Debian: apt-get install python3-venv)"
fi
if ! "$venv/bin/componentize-py" --version 2>/dev/null | grep -qx 'componentize-py 0.25.1'; then
  say "installing componentize-py 0.25.1 into $venv (builds Python bots; one 40 MB wheel)"
  "$venv/bin/python" -m pip install --quiet --disable-pip-version-check -r guest-sdk-python/requirements-build.txt \
    || die "pip install componentize-py failed: see the output above"
fi
[ "${1:-}" = "--run" ] && exit 0

if ! cargo component --version >/dev/null 2>&1; then
  # Its own release profile asks for LTO with one codegen unit (8+ minutes on 2 cores).
  # Without optimisation it builds in 3 and is as fast for what it does per bot (wrapping
  # one module into a component): `cargo component build` of both example bots took the same.
  say "installing cargo-component 0.21.1 (about 3 minutes on 2 cores)"
  CARGO_PROFILE_RELEASE_OPT_LEVEL=0 CARGO_PROFILE_RELEASE_LTO=false CARGO_PROFILE_RELEASE_DEBUG=false \
    cargo install cargo-component --locked --version 0.21.1
fi

if ! "$venv/bin/python" -c 'import fastapi_poe, uvicorn' 2>/dev/null; then
  say "installing fastapi-poe into $venv (interop tests and benchmark baseline)"
  "$venv/bin/python" -m pip install --quiet --disable-pip-version-check -r tests/interop/requirements.txt \
    || die "pip install failed: see the output above"
fi
say "ready"
