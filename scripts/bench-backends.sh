#!/usr/bin/env bash
# Benchmark (not a test): the three backends side by side. The same SIZE object (default 100MiB,
# from `streamscope serve` on loopback, so it carries a Repr-Digest) is relayed by each function
# under `streamscope serve --function ... --gateway off`: our Rust bootstrap (/relay), the Node.js
# handler (aws-lambda-ric) and the Flask app (Lambda Web Adapter). Per backend: init duration (from
# the cold start's REPORT line), then a warm download: time to first byte, throughput, the
# function's peak memory (REPORT) and the CPU seconds its processes used for that download. Then
# each once more through `--gateway stream` with the real limits (10 MiB free, then 2 MiB/s):
# where the knee is and what the plateau is. Needs what scripts/install-test-deps.sh installs.
set -euo pipefail
cd "$(dirname "$0")/.."
SIZE=${SIZE:-100MiB}
STREAM_SIZE=${STREAM_SIZE:-$SIZE}
TOOLS=${STREAMSCOPE_TOOLS:-$HOME/.cache/streamscope}
for need in src/backend/node/node_modules/aws-lambda-ric/dist/rapid-client.node \
  "$TOOLS/venv/bin/python" "$TOOLS/lwa/bin/lambda-adapter"; do
  [ -e "$need" ] || { echo "missing $need: run scripts/install-test-deps.sh" >&2; exit 2; }
done
cargo build --release --quiet --features lambda --bin streamscope --bin bootstrap
BIN=$PWD/target/release/streamscope
tmp=$(mktemp -d)
pids=()
trap 'kill "${pids[@]}" 2>/dev/null; wait 2>/dev/null; rm -rf "$tmp"' EXIT

source scripts/lib/hosts.sh

# CPU seconds (user + system) of every process below PID.
cpu_below() {
  python3 - "$1" <<'EOF'
import os, sys
root = int(sys.argv[1]); parent = {}; ticks = {}
for p in os.listdir("/proc"):
    if not p.isdigit():
        continue
    try:
        f = open(f"/proc/{p}/stat").read().rsplit(")", 1)[1].split()
    except OSError:
        continue
    parent[int(p)] = int(f[1]); ticks[int(p)] = int(f[11]) + int(f[12])
def below(p):
    while p in parent and p != root:
        p = parent[p]
    return p == root
print(sum(t for p, t in ticks.items() if p != root and below(p)) / os.sysconf("SC_CLK_TCK"))
EOF
}

json() { python3 -c "import json,sys; r=json.load(open(sys.argv[1])); print(eval(sys.argv[2]))" "$@"; }
field() { # log n field: the field of the n-th REPORT line
  awk -F'\t' -v n="$2" -v f="$3" '/^REPORT RequestId/ {c++; if (c == n) for (i = 1; i <= NF; i++) if (index($i, f) == 1) print $i}' "$1" |
    sed 's/^[^:]*: //; s/ ms$//; s/ MB$//'
}

start upstream
UP=$BASE
OBJ="$UP/download?size=$SIZE&seed=21"
echo "object: $OBJ"
rows=()
for backend in rust node python; do
  host "$backend" "$backend" "$OBJ" --gateway off
  "$BIN" get -q "$BASE$(path_of "$backend")" -o "$tmp/cold.bin" --json "$tmp/cold.json" || true
  before=$(cpu_below "$SPID")
  "$BIN" get -q "$BASE$(path_of "$backend")" -o "$tmp/warm.bin" --json "$tmp/warm.json"
  after=$(cpu_below "$SPID")
  sleep 0.3 # the REPORT line follows the last byte
  rows+=("$(printf '%-8s %10s ms %10.1f ms %10.1f MB/s %8s MB %8.2f s %s' "$backend" \
    "$(field "$tmp/$backend.log" 1 'Init Duration')" \
    "$(json "$tmp/warm.json" "r['first_byte_ms']")" \
    "$(json "$tmp/warm.json" "r['avg_bytes_per_sec'] / 1e6")" \
    "$(field "$tmp/$backend.log" 2 'Max Memory Used')" \
    "$(echo "$after - $before" | bc -l)" \
    "$(json "$tmp/warm.json" "r['outcome'] + (' verified' if r['digest_match'] else '')")")")
  stop
done
echo
echo "gateway off: $SIZE relayed, warm (init from the cold start)"
printf '%-8s %13s %13s %15s %11s %10s %s\n' backend "init" "first byte" "throughput" "peak RSS" "CPU" outcome
printf '%s\n' "${rows[@]}"

echo
echo "gateway stream, real limits (10 MiB unthrottled, then 2 MiB/s): $STREAM_SIZE"
printf '%-8s %14s %14s %14s %s\n' backend "knee at" "before 10 MiB" "after" outcome
for backend in rust node python; do
  host "$backend-stream" "$backend" "$UP/download?size=$STREAM_SIZE&seed=22" --gateway stream
  "$BIN" get -q "$BASE$(path_of "$backend")" -o "$tmp/s.bin" --json "$tmp/s.json" || true
  printf '%-8s %12.2f s %11.1f MB/s %9.2f MB/s %s\n' "$backend" \
    "$(json "$tmp/s.json" "r['throughput_split_10mib']['crossed_at_s']")" \
    "$(json "$tmp/s.json" "r['throughput_split_10mib']['before_bytes_per_sec'] / 1e6")" \
    "$(json "$tmp/s.json" "r['throughput_split_10mib']['after_bytes_per_sec'] / 1e6")" \
    "$(json "$tmp/s.json" "r['outcome'] + (' verified' if r['digest_match'] else '')")"
  stop
done
