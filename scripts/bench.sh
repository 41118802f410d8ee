#!/usr/bin/env bash
# Benchmark poe-host against a native axum handler (the ceiling) and fastapi_poe (the peer),
# side by side on this machine, and write the results into BENCHMARKS.md (issue 5).
#   scripts/bench.sh           full run (about 6 minutes after building), updates BENCHMARKS.md
#                              and docs/bench/echo.svg
#   scripts/bench.sh --quick   about a minute; results only in target/poe-bench/results.md
# Extra arguments go to `poe-bench run` (e.g. --only echo,stream). Needs scripts/setup.sh
# once (the fastapi_poe venv). Run it on an otherwise idle machine: the report records the
# load average, and other work on the same cores shows up in every number.
set -euo pipefail
cd "$(dirname "$0")/.."

say() { printf '\033[1m[bench]\033[0m %s\n' "$*" >&2; }
die() { printf '\033[31m[bench] error:\033[0m %s\n' "$*" >&2; exit 1; }

quick=""
write="--write"
args=()
for arg in "$@"; do
  case "$arg" in
    --quick) quick="--quick"; write="" ;;
    --write) write="--write" ;; # the default for a full run; with --quick, save that run too
    *) args+=("$arg") ;;
  esac
done

.venv/bin/python -c 'import fastapi_poe, uvicorn' 2>/dev/null \
  || die "the fastapi_poe venv is missing: run scripts/setup.sh first"
# 10,000 open streams need that many sockets in the client and in the server.
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
[ "$(ulimit -n)" = unlimited ] || [ "$(ulimit -n)" -ge 20000 ] \
  || say "warning: ulimit -n is $(ulimit -n); the open-streams scenario needs about 10,100"

say "building the example bots, poe-host and poe-bench (release)"
cargo build --release --quiet --target wasm32-wasip2 -p echo -p showcase -p misbehave -p allcaps -p relay
cargo build --release --quiet -p poe-host -p poe-bench
target=$(realpath "${CARGO_TARGET_DIR:-target}")
echo_wasm="$target/wasm32-wasip2/release/echo.wasm"

say "per-request overhead micro-benchmark (criterion)"
criterion_args=()
[ -n "$quick" ] && criterion_args=(--warm-up-time 1 --measurement-time 2)
POE_BENCH_ECHO_WASM="$echo_wasm" cargo bench --quiet -p poe-host --bench overhead -- ${criterion_args[@]+"${criterion_args[@]}"}

say "end-to-end scenarios"
"$target/release/poe-bench" run $quick $write --shown-command "scripts/bench.sh" ${args[@]+"${args[@]}"}
# (an `if`, not `[ … ] && …`: as the last command a false test would be the script's status)
if [ -n "$write" ]; then say "updated BENCHMARKS.md and docs/bench/echo.svg"; fi
