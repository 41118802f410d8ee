#!/usr/bin/env bash
# Benchmark poe-host against a native axum handler (the ceiling) and fastapi_poe (the peer),
# side by side on this machine, and write the results into BENCHMARKS.md (issue 5).
#   scripts/bench.sh           full run (about 6 minutes after building), updates BENCHMARKS.md
#                              and docs/bench/echo.svg
#   scripts/bench.sh --quick   about a minute; results only in target/poe-bench/results.md
#   scripts/bench.sh --only python-echo,python-relay,python-open
#                              the Python bots only (issue 15); rewrites only their block
# Extra arguments go to `poe-bench run` (e.g. --only echo,stream). Needs scripts/setup.sh
# once (the fastapi_poe venv, componentize-py). Run it on an otherwise idle machine: the
# report records the load average, and other work on the same cores shows up in every number.
set -euo pipefail
cd "$(dirname "$0")/.."

say() { printf '\033[1m[bench]\033[0m %s\n' "$*" >&2; }
die() { printf '\033[31m[bench] error:\033[0m %s\n' "$*" >&2; exit 1; }

quick=""
write="--write"
only="" # empty: every scenario
args=()
next_is_only=""
for arg in "$@"; do
  [ -n "$next_is_only" ] && { only="$arg"; next_is_only=""; }
  case "$arg" in
    --quick) quick="--quick"; write="" ;;
    --write) write="--write" ;; # the default for a full run; with --quick, save that run too
    --only) next_is_only=1; args+=("$arg") ;;
    --only=*) only="${arg#--only=}"; args+=("$arg") ;;
    *) args+=("$arg") ;;
  esac
done
# Whether --only (or its absence) asks for a scenario whose name matches the regex $1; for one
# whose name does not.
wants() { [ -z "$only" ] || tr ',' '\n' <<<"$only" | grep -qx "$1"; }
wants_other_than() { [ -z "$only" ] || tr ',' '\n' <<<"$only" | grep -qvx "$1"; }

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

if wants 'python-.*'; then
  # The same cache as the test crate's build.rs: an unchanged bot is a cache hit (same bytes).
  say "building the Python bots (poe-host build; about 15 s each unless unchanged)"
  for src in example-bots/python/echo.py example-bots/python/allcaps.py tests/fixtures/python/misbehave.py; do
    "$target/release/poe-host" build "$src" --output "$target/poe-bench/python-bots/$(basename "$src" .py).wasm" \
      --build-cache "$target/python-build-cache"
  done
fi

# The criterion table belongs to the first results block, which a Python-only run leaves alone.
if wants_other_than 'python-.*'; then
  say "per-request overhead micro-benchmark (criterion)"
  criterion_args=()
  [ -n "$quick" ] && criterion_args=(--warm-up-time 1 --measurement-time 2)
  POE_BENCH_ECHO_WASM="$echo_wasm" cargo bench --quiet -p poe-host --bench overhead -- ${criterion_args[@]+"${criterion_args[@]}"}
fi

say "end-to-end scenarios"
"$target/release/poe-bench" run $quick $write --shown-command "scripts/bench.sh" ${args[@]+"${args[@]}"}
# (an `if`, not `[ … ] && …`: as the last command a false test would be the script's status)
if [ -n "$write" ]; then say "updated BENCHMARKS.md (and docs/bench/echo.svg if echo ran)"; fi
