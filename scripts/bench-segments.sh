#!/usr/bin/env bash
# Benchmark (not a test): a SIZE object (default 200MiB) through `streamscope serve --gateway
# stream --lambda-limits` with the real limits (each response: 6 MiB from Lambda and 10 MiB from
# API Gateway at full speed, then 2 MiB/s), once as a single stream and once as parallel ranges
# (--segments N, default 20, of 6 MiB). Prints both times, the speed-up (goal: at least 10x) and
# that both files are whole and verified against the object's Repr-Digest.
set -euo pipefail
cd "$(dirname "$0")/.."
SIZE=${SIZE:-200MiB}
N=${N:-20}
cargo build --release --quiet --bin streamscope
BIN=$PWD/target/release/streamscope
tmp=$(mktemp -d)
"$BIN" serve --port 0 --gateway stream --lambda-limits >"$tmp/serve.out" 2>"$tmp/serve.log" &
spid=$!
trap 'kill $spid 2>/dev/null; wait 2>/dev/null; rm -rf "$tmp"' EXIT
for _ in $(seq 200); do [ -s "$tmp/serve.out" ] && break; sleep 0.05; done
base=$(sed -n 's/^listening on //p' "$tmp/serve.out")
url="$base/download?size=$SIZE&seed=42&length=0"

run() { # name extra-args...
  local name=$1; shift
  local t0 t1
  t0=$(date +%s.%N)
  "$BIN" get "$url" -o "$tmp/$name.bin" --json "$tmp/$name.json" -q "$@"
  t1=$(date +%s.%N)
  python3 - "$tmp/$name.json" "$name" "$t0" "$t1" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
wall = float(sys.argv[4]) - float(sys.argv[3])
print(f"{sys.argv[2]:<10} {wall:8.2f} s  {r['bytes'] / wall / 1e6:8.2f} MB/s  outcome {r['outcome']}, "
      f"digest_match {r['digest_match']}, segments {len(r['segments'])}")
open(sys.argv[1] + ".wall", "w").write(str(wall))
PY
}

echo "$SIZE through --gateway stream --lambda-limits (real limits):"
run single
run segments --segments "$N"
cmp "$tmp/single.bin" "$tmp/segments.bin" && echo "the two files are identical"
python3 - "$tmp/single.json.wall" "$tmp/segments.json.wall" <<'PY'
import sys
single, seg = (float(open(p).read()) for p in sys.argv[1:])
print(f"speed-up: {single / seg:.1f}x (goal: 10x)")
PY
