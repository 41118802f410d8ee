#!/usr/bin/env bash
# Short fuzz smoke run: each target for FUZZ_SECS seconds (default 20) from the committed
# seeds. Exits 0 with a note when cargo-fuzz or the nightly toolchain is missing, non-zero
# when a target crashes (the input is left in host/fuzz/artifacts/TARGET/).
#
#   host/fuzz/smoke.sh                       # all targets, 20 s each
#   FUZZ_SECS=60 host/fuzz/smoke.sh sse_encode
#
# The first build compiles poe-host and wasmtime with sanitizer instrumentation into
# host/fuzz/target: about 30 minutes on 2 busy cores; later runs only rebuild what changed.
set -euo pipefail

fuzz_dir="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
host_dir="$(dirname "$fuzz_dir")"
secs="${FUZZ_SECS:-20}"
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(parse_request sse_encode settings_json)

if ! cargo +nightly --version >/dev/null 2>&1; then
    echo "fuzz smoke: skipped (no nightly toolchain; rustup toolchain install nightly)"
    exit 0
fi
if ! cargo fuzz --version >/dev/null 2>&1; then
    echo "fuzz smoke: skipped (cargo-fuzz missing; cargo install cargo-fuzz --locked)"
    exit 0
fi

cd "$host_dir"
mkdir -p fuzz/target
for t in "${targets[@]}"; do
    mkdir -p "fuzz/corpus/$t"
    dict=()
    [ -f "fuzz/$t.dict" ] && dict=("-dict=fuzz/$t.dict")
    log="fuzz/target/smoke-$t.log"
    echo "fuzz smoke: $t for ${secs}s (log: host/$log)"
    # One fuzzing process (no -jobs/-fork). New corpus entries go to corpus/$t (ignored by git).
    if cargo +nightly fuzz run "$t" "fuzz/corpus/$t" "fuzz/seeds/$t" -- \
        -max_total_time="$secs" -print_final_stats=1 "${dict[@]}" >"$log" 2>&1; then
        grep -E '^(Done [0-9]+ runs|stat::number_of_executed_units|stat::average_exec_per_sec)' "$log" || true
    else
        tail -n 40 "$log"
        echo "fuzz smoke: $t FAILED (input saved under host/fuzz/artifacts/$t/)"
        exit 1
    fi
done
echo "fuzz smoke: all targets passed"
