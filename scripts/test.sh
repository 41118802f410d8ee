#!/usr/bin/env bash
# The whole test suite: set-up, unit + integration tests (incl. fastapi_poe interop and a
# cargo-component build), then a smoke test of the real binary.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
cargo test --workspace
scripts/smoke.sh
