#!/usr/bin/env bash
# Smoke test of the built `poe-host` binary: `check` exit codes, `serve` printing its
# address on port 0, an echo query over curl-like HTTP, a log file in plain text, what
# hostile calls (tests/fixtures/misbehave) can write to that log, a FIFO appearing as a
# sidecar hanging neither the reloader nor SIGTERM, the quick start (`scripts/dev.sh` in a
# fresh copy, tests/smoke/quick_start.sh), and the host's memory under oversized requests
# and settings and after a burst of large outputs (tests/smoke/memory_bounds.py), and secrets
# kept out of the log and the admin view (tests/smoke/secrets.py).
# Prints "N passed, N failed".
set -uo pipefail
cd "$(dirname "$0")/.."
cargo build --quiet -p poe-host || exit 1
target=${CARGO_TARGET_DIR:-target}
bin=$target/debug/poe-host
# tests/build.rs builds the guests into ./target/guests whatever CARGO_TARGET_DIR says.
guests=target/guests/wasm32-wasip2/release
passed=0 failed=0
ok() { echo "ok   $1"; passed=$((passed + 1)); }
bad() { echo "FAIL $1"; failed=$((failed + 1)); }

"$bin" check "$guests/echo.wasm" >/dev/null && ok "check accepts echo" || bad "check accepts echo"
if out=$("$bin" check "$guests/not_a_bot.wasm" 2>&1); then bad "check rejects not-a-bot"
else grep -q "does not export poe:bot/handler" <<<"$out" && ok "check rejects not-a-bot" || bad "check message: $out"; fi

dir=$(mktemp -d) && cp "$guests/echo.wasm" "$guests/misbehave.wasm" "$dir/"
log=$(mktemp)
POE_ACCESS_KEY=smoke-key-0123456789abcdefghijkl "$bin" serve --bots "$dir" --listen 127.0.0.1:0 --cache-dir none >"$log" 2>&1 &
pid=$!
for _ in $(seq 100); do grep -q "^listening on http://" "$log" && break; sleep 0.1; done
url=$(sed -n 's/^listening on \(http:\/\/.*\)$/\1/p' "$log")
[ -n "$url" ] && ok "serve prints its address" || bad "serve prints its address: $(cat "$log")"
body='{"version":"1.2","type":"query","query":[{"role":"user","content":"smoke"}],"user_id":"u","conversation_id":"c","message_id":"m"}'
python3 - "$url/echo" "$body" <<'PY' && ok "echo answers over HTTP" || bad "echo answers over HTTP"
import sys, urllib.request
req = urllib.request.Request(sys.argv[1], data=sys.argv[2].encode(),
                             headers={"Authorization": "Bearer smoke-key-0123456789abcdefghijkl"})
reply = urllib.request.urlopen(req, timeout=10).read()
expected = b'event: text\r\ndata: {"text":"smoke"}\r\n\r\nevent: done\r\ndata: {}\r\n\r\n'
sys.exit(0 if reply == expected else f"unexpected reply: {reply!r}")
PY
forged='{"version":"1.2","type":"report_feedback","message_id":"m","user_id":"u","conversation_id":"c","feedback_type":"x\nINFO poe_host::bots::reload: removed bot=echo"}'
code=$(python3 - "$url/echo" "$forged" <<'PY'
import sys, urllib.error, urllib.request
req = urllib.request.Request(sys.argv[1], data=sys.argv[2].encode(),
                             headers={"Authorization": "Bearer smoke-key-0123456789abcdefghijkl"})
try:
    print(urllib.request.urlopen(req, timeout=10).status)
except urllib.error.HTTPError as e:
    print(e.code)
PY
)
if [ "$code" = 400 ] && grep -qF 'unknown variant `x\nINFO poe_host::bots::reload: removed bot=echo`' "$log" \
  && ! grep -q '^INFO poe_host::bots::reload: removed' "$log"; then ok "a client's newline cannot forge a log line"
else bad "forged log line (status $code): $(grep -a 'unknown variant' "$log" | head -c 300)"; fi
# ask TEXT: one query to misbehave, its reply discarded; then the log lines it caused.
ask() {
  local from=$(($(stat -c %s "$log") + 1))
  python3 - "$url/misbehave" "$1" <<'PY' >/dev/null || echo "FAIL ask $1"
import json, sys, urllib.request
body = {"version": "1.2", "type": "query", "query": [{"role": "user", "content": sys.argv[2]}],
        "user_id": "u", "conversation_id": "c", "message_id": "m"}
req = urllib.request.Request(sys.argv[1], data=json.dumps(body).encode(),
                             headers={"Authorization": "Bearer smoke-key-0123456789abcdefghijkl"})
print(urllib.request.urlopen(req, timeout=60).read())
PY
  tail -c +"$from" "$log"
}
# flood TEXT: at most 256 guest lines and 64 KiB, and one warning, from one flooding call.
flood() {
  local out lines bytes
  out=$(ask "$1")
  lines=$(grep -c ' poe_host::guest: ' <<<"$out") bytes=$(grep ' poe_host::guest: ' <<<"$out" | wc -c)
  [ "$lines" -le 256 ] && [ "$bytes" -le 65536 ] && [ "$(grep -c 'reached its log budget' <<<"$out")" -eq 1 ] \
    && ok "'$1' cost the log $lines lines, $bytes bytes" || bad "'$1' cost the log $lines lines, $bytes bytes"
}
flood "lines 40000"
flood "logs 70000"
out=$(ask forge)
[ "$(grep -c 'request{bot=misbehave id=[0-9]*}: poe_host::guest: x\\rFORGED  INFO' <<<"$out")" -eq 3 ] \
  && ! grep -q $'\r' "$log" && ok "a carriage return is escaped on stdout, stderr and log, in the request span" \
  || bad "forged lines: $(cat -v <<<"$out")"
grep -q "reason=bot overflowed its stack" <<<"$(ask recurse)" && ok "a shadow stack overflow is logged as one" \
  || bad "recurse: $(grep reason= "$log" | tail -1)"
grep -q "reason=bot exceeded its host resource limit" <<<"$(ask "pollables 5001")" \
  && ok "5,001 clock pollables exceed the resource limit" || bad "pollables: $(grep reason= "$log" | tail -1)"
kill -TERM "$pid"; wait "$pid"; rc=$?
[ "$rc" -eq 0 ] && ok "SIGTERM shuts down cleanly" || bad "exit code after SIGTERM: $rc"
grep -q "loaded bot=echo" "$log" && ! grep -q $'\e' "$log" && ok "a log written to a file is plain text" \
  || bad "log file has colour codes or lacks the load line: $(head -c 300 "$log" | cat -v)"
rm -rf "$dir" "$log"
# A FIFO sidecar used to block the reloader's read for ever, and SIGTERM then waited on it.
dir=$(mktemp -d) && cp "$guests/echo.wasm" "$dir/" && log=$(mktemp)
POE_ACCESS_KEY=smoke-key-0123456789abcdefghijkl "$bin" serve --bots "$dir" --listen 127.0.0.1:0 --cache-dir none >"$log" 2>&1 &
pid=$!
for _ in $(seq 100); do grep -q "^listening on http://" "$log" && break; sleep 0.1; done
mkfifo "$dir/echo.toml"
for _ in $(seq 50); do grep -q "echo.toml is not a regular file" "$log" && break; sleep 0.1; done
grep -q "echo.toml is not a regular file but a FIFO" "$log" && ok "a FIFO sidecar is a load error" \
  || bad "no load error for a FIFO sidecar: $(tail -c 300 "$log")"
kill -TERM "$pid"
for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
if kill -0 "$pid" 2>/dev/null; then bad "SIGTERM with a FIFO sidecar: still running after 5 s"; kill -KILL "$pid"; wait "$pid"
else wait "$pid"; rc=$?; [ "$rc" -eq 0 ] && ok "SIGTERM exits with a FIFO sidecar" || bad "exit code after SIGTERM with a FIFO sidecar: $rc"; fi
rm -rf "$dir" "$log"

# The quick start as written: scripts/dev.sh in a fresh copy with no key anywhere.
while read -r verdict rest; do
  [ "$verdict" = ok ] && ok "$rest" || bad "$verdict $rest"
done < <(tests/smoke/quick_start.sh 2>&1 || echo "FAIL the quick-start check did not finish")

# Peak memory under the request and settings attacks of issue 14, one line per attack.
while read -r verdict rest; do
  [ "$verdict" = ok ] && ok "memory: $rest" || bad "memory: $verdict $rest"
done < <(python3 tests/smoke/memory_bounds.py "$bin" "$guests" 2>&1 || echo "FAIL the memory checks did not finish")
# Secrets (an [env] key from the host's environment, the access key) in no log line, even at
# RUST_LOG=trace, and not in the admin view, while relay uses them against a local upstream.
while read -r verdict rest; do
  [ "$verdict" = ok ] && ok "secrets: $rest" || bad "secrets: $verdict $rest"
done < <(python3 tests/smoke/secrets.py "$bin" "$guests" 2>&1 || echo "FAIL the secrets checks did not finish")
echo "smoke: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
