#!/usr/bin/env bash
# The README's first command as a newcomer runs it: `scripts/dev.sh` in a fresh copy of the
# repository (no POE_ACCESS_KEY in the environment, no bots-dev/ and no key file), until it
# serves and the echo bot, and the Python echo it built with `poe-host build`, answer with
# the key it generated. It once died with status 141
# before serving on exactly this path. Prints one `ok`/`FAIL` line per check.
#
# The copy lives at a fixed path under the target directory and builds into the same target
# directory, so only the workspace's own crates compile again (once per change), not wasmtime.
# Cargo names a workspace crate's build by its path inside the workspace, so the copy's build
# takes over the checkout's fingerprints, which then list the copy's files: while they exist,
# cargo in the checkout compares against them and misses every edit. The copy is removed on
# exit; the checkout's next build then finds them gone and compiles its own crates again.
set -uo pipefail
cd "$(dirname "$0")/../.."
target=$(realpath "${CARGO_TARGET_DIR:-target}")
copy=$target/quick-start/repo
log=$target/quick-start/dev.log

command -v git >/dev/null || { echo "FAIL quick start: git is needed to copy the checkout"; exit 1; }
rm -rf "$copy" && mkdir -p "$copy"
git ls-files -z --cached --others --exclude-standard | tar --null -T - -c | tar -x -C "$copy" \
  || { echo "FAIL quick start: could not copy the checkout"; exit 1; }

(cd "$copy" && exec env -u POE_ACCESS_KEY CARGO_TARGET_DIR="$target" POE_HOST_LISTEN=127.0.0.1:0 \
  scripts/dev.sh) >"$log" 2>&1 &
pid=$!
stop() { kill -TERM "$pid" 2>/dev/null; wait "$pid" 2>/dev/null; rm -rf "$copy"; }
trap stop EXIT

# A first build of the copy's crates can take many minutes on a busy machine: wait for the
# address or the exit, at most 30 minutes (then it has not served: stop it, never wait on it).
url=""
for _ in $(seq 9000); do
  url=$(grep -m1 -o 'listening on http://[0-9.:]*' "$log" | sed 's/listening on //') && [ -n "$url" ] && break
  kill -0 "$pid" 2>/dev/null || break
  sleep 0.2
done
if [ -z "$url" ]; then
  if kill -0 "$pid" 2>/dev/null; then
    echo "FAIL quick start: scripts/dev.sh did not serve within 30 minutes: $(tail -c 600 "$log")"
  else
    wait "$pid"; rc=$?
    echo "FAIL quick start: scripts/dev.sh did not serve (status $rc): $(tail -c 600 "$log")"
  fi
  exit 1
fi
echo "ok   quick start: scripts/dev.sh with no key anywhere serves at $url"

key_file=$copy/bots-dev/.dev-key
key=$(cat "$key_file" 2>/dev/null)
if [[ "$key" =~ ^[0-9a-f]{32}$ ]] && [ "$(stat -c %a "$key_file")" = 600 ]; then
  echo "ok   quick start: it wrote a 32-hex-digit dev key, readable only by its owner"
else
  echo "FAIL quick start: dev key '$key' (mode $(stat -c %a "$key_file" 2>/dev/null))"
fi
grep -qF "dev key: $key" "$log" && echo "ok   quick start: it prints the key and a curl line to try" \
  || echo "FAIL quick start: the key is not in its greeting: $(head -c 600 "$log")"

for bot in echo echo_py; do
python3 - "$url/$bot" "$key" "$bot" <<'PY'
import json, sys, urllib.request
body = {"version": "1.2", "type": "query", "query": [{"role": "user", "content": "hello"}],
        "user_id": "u", "conversation_id": "c", "message_id": "m"}
req = urllib.request.Request(sys.argv[1], data=json.dumps(body).encode(),
                             headers={"Authorization": f"Bearer {sys.argv[2]}"})
reply = urllib.request.urlopen(req, timeout=30).read()
expected = b'event: text\r\ndata: {"text":"hello"}\r\n\r\nevent: done\r\ndata: {}\r\n\r\n'
bot = sys.argv[3]
print(f"ok   quick start: {bot} answers with that key" if reply == expected else f"FAIL quick start: {bot} answered {reply!r}")
PY
done
