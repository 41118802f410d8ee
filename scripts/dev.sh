#!/usr/bin/env bash
# Quick start: build the host and the example bots, then serve them at http://127.0.0.1:8080.
# The access key comes from POE_ACCESS_KEY, or a dev key is generated once into bots-dev/.dev-key.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh --run

echo "[dev] building poe-host and the example bots (the first build takes a few minutes)" >&2
cargo build --release -p poe-host
cargo build --release --target wasm32-wasip2 -p echo -p showcase

mkdir -p bots-dev
target=${CARGO_TARGET_DIR:-target}
cp "$target"/wasm32-wasip2/release/{echo,showcase}.wasm bots-dev/
if [ -z "${POE_ACCESS_KEY:-}" ]; then
  [ -s bots-dev/.dev-key ] || LC_ALL=C tr -dc 'A-Za-z0-9' </dev/urandom | head -c 32 >bots-dev/.dev-key
  POE_ACCESS_KEY=$(cat bots-dev/.dev-key)
fi
export POE_ACCESS_KEY
listen=${POE_HOST_LISTEN:-127.0.0.1:8080}

cat >&2 <<MSG

  Serving bots-dev/*.wasm at http://$listen/NAME   (dev key: $POE_ACCESS_KEY)
  Try:
    curl -N http://$listen/echo -H "Authorization: Bearer $POE_ACCESS_KEY" \\
      -d '{"version":"1.2","type":"query","query":[{"role":"user","content":"hello"}],"user_id":"u","conversation_id":"c","message_id":"m"}'

MSG
exec "$target/release/poe-host" serve --bots bots-dev --listen "$listen"
