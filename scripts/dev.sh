#!/usr/bin/env bash
# Quick start: build the host and the example bots (echo, showcase, allcaps, versus, and
# the Python echo and showcase as echo_py and showcase_py), then serve them at
# http://127.0.0.1:8080.
# The access key comes from POE_ACCESS_KEY, or a dev key is generated once into bots-dev/.dev-key.
# POE_HOST_LISTEN picks another address (port 0: any free port, printed as `listening on`).
set -euo pipefail
trap 'rc=$?; echo "[dev] error: \`$BASH_COMMAND\` failed with status $rc (line $LINENO)" >&2' ERR
cd "$(dirname "$0")/.."
scripts/setup.sh --run

echo "[dev] building poe-host and the example bots (the first build takes a few minutes)" >&2
cargo build --release -p poe-host
cargo build --release --target wasm32-wasip2 -p echo -p showcase -p allcaps -p versus

mkdir -p bots-dev
target=${CARGO_TARGET_DIR:-target}
cp "$target"/wasm32-wasip2/release/{echo,showcase,allcaps,versus}.wasm bots-dev/
for bot in echo showcase; do
  "$target/release/poe-host" build "example-bots/python/$bot.py" -o "bots-dev/${bot}_py.wasm" \
    --build-cache "$target/python-build-cache"
done
if [ -z "${POE_ACCESS_KEY:-}" ]; then
  # 32 hex digits, the length of Poe's keys. No `tr </dev/urandom | head` here: under
  # pipefail that pipeline fails with SIGPIPE (141) when head has read enough.
  [ -s bots-dev/.dev-key ] || (umask 077 && od -An -N16 -tx1 /dev/urandom | tr -d ' \n' >bots-dev/.dev-key)
  POE_ACCESS_KEY=$(cat bots-dev/.dev-key)
fi
export POE_ACCESS_KEY
listen=${POE_HOST_LISTEN:-127.0.0.1:8080}
shown=$listen
[ "${listen##*:}" = 0 ] && shown="ADDR" # the port is chosen at bind time: see `listening on` below

cat >&2 <<MSG

  Serving bots-dev/*.wasm at http://$shown/NAME   (dev key: $POE_ACCESS_KEY)
  Try:
    curl -N http://$shown/echo -H "Authorization: Bearer $POE_ACCESS_KEY" \\
      -d '{"version":"1.2","type":"query","query":[{"role":"user","content":"hello"}],"user_id":"u","conversation_id":"c","message_id":"m"}'
  echo_py and showcase_py are example-bots/python/*.py, built with `poe-host build`.
  allcaps and versus call GPT-4o-Mini and Claude-3-Haiku on Poe with the key above: with a dev
  key Poe refuses them (the answer says so); set POE_ACCESS_KEY to a real bot's key to try them.

MSG
exec "$target/release/poe-host" serve --bots bots-dev --listen "$listen"
