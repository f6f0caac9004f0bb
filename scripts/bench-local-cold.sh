#!/usr/bin/env bash
# Time from `streamscope local TEMPLATE` to the first byte of a cold function, for each of the
# repository's templates: prints one line per template (ms from spawning local to curl's first
# byte, and curl's own time to first byte, which is the cold start). Needs a release build
# (cargo build --release --features lambda) and scripts/install-test-deps.sh's tools.
set -euo pipefail
cd "$(dirname "$0")/.."
bin=target/release/streamscope
up_log=$(mktemp); "$bin" serve --port 0 >"$up_log" 2>/dev/null & up_pid=$!
trap 'kill $up_pid 2>/dev/null || true' EXIT
until grep -q listening "$up_log"; do sleep 0.05; done
up=$(sed 's/listening on //' "$up_log")
for t in src/backend/template.yaml src/backend/node/template.yaml src/backend/python/template.yaml; do
  log=$(mktemp)
  t0=$(date +%s%N)
  "$bin" local "$t" --port 0 --parameter-overrides "UpstreamUrl=$up/download?size=1KiB" RequireApiKey=false >"$log" 2>"$log.err" &
  pid=$!
  until grep -q listening "$log"; do sleep 0.005; done
  url=$(sed 's/listening on //' "$log")
  read -r code ttfb < <(curl -s -o /dev/null -w '%{http_code} %{time_starttransfer}\n' "$url/prod/healthz")
  t1=$(date +%s%N)
  printf '%-36s local start to first byte %5d ms (cold request: %s s, status %s)\n' "$t" $(((t1 - t0) / 1000000)) "$ttfb" "$code"
  kill $pid; wait $pid 2>/dev/null || true
done
