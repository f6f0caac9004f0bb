#!/usr/bin/env bash
# The local demo's ready comparison, from the command line: one object (SIZE, default 24MiB) through
# the emulated API Gateway in STREAM and BUFFERED mode and with no gateway, then relayed through
# STREAM by each of the three backends whose runtime is installed here (our Rust bootstrap, Node's
# aws-lambda-ric, Flask behind the Lambda Web Adapter; scripts/install-test-deps.sh installs them; a
# missing one is named and skipped). Writes OUT/targets.toml (default OUT=target/demo-compare), then
# `streamscope compare` prints the table and saves OUT/comparison.json and OUT/comparison.png.
# Exit status: compare's (1 when a target did not complete; BUFFERED cannot carry 24 MiB).
set -euo pipefail
cd "$(dirname "$0")/.."
SIZE=${SIZE:-24MiB}
OUT=${OUT:-target/demo-compare}
TOOLS=${STREAMSCOPE_TOOLS:-$HOME/.cache/streamscope}
cargo build --release --quiet --features lambda --bin streamscope --bin bootstrap
BIN=$PWD/target/release/streamscope
tmp=$(mktemp -d)
pids=()
trap 'kill "${pids[@]}" 2>/dev/null; wait 2>/dev/null; rm -rf "$tmp"' EXIT
source scripts/lib/hosts.sh
mkdir -p "$OUT"
obj="/download?size=$SIZE&seed=7"
targets=$OUT/targets.toml
: >"$targets"
add() { printf '[[target]]\nname = "%s"\nurl = "%s"\n\n' "$1" "$2" >>"$targets"; }

start upstream --gateway off
UP=$BASE
start stream --gateway stream
add "STREAM" "$BASE$obj"
start buffered --gateway buffered
add "BUFFERED" "$BASE$obj"
add "no gateway" "$UP$obj"
for backend in rust node python; do
  if has_runtime "$backend"; then
    host "$backend" "$backend" "$UP$obj" --gateway stream
    add "$backend via STREAM" "$BASE$(path_of "$backend")"
  else
    echo "skipping the $backend backend: its runtime is not installed (scripts/install-test-deps.sh)" >&2
  fi
done
status=0
"$BIN" compare "$targets" --json "$OUT/comparison.json" --png "$OUT/comparison.png" || status=$?
echo "targets: $targets; saved $OUT/comparison.json and $OUT/comparison.png"
exit "$status"
