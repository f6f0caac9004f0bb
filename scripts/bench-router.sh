#!/usr/bin/env bash
# Benchmark (not a test): the backend Router's throughput for a 1 GiB synthetic download on loopback,
# gateway emulation off, read by curl into /dev/null; the server's RSS before and after (constant
# memory); and the stripped size of the Lambda bootstrap binary.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --quiet --bin streamscope
cargo build --release --quiet --no-default-features --features lambda --bin bootstrap
tmp=$(mktemp -d)
target/release/streamscope serve --port 0 >"$tmp/out" &
spid=$!
trap 'kill $spid 2>/dev/null; rm -rf "$tmp"' EXIT
for _ in $(seq 100); do [ -s "$tmp/out" ] && break; sleep 0.05; done
base=$(sed -n 's/^listening on //p' "$tmp/out")
rss() { awk '/VmRSS/{print $2}' "/proc/$spid/status"; }
echo "server RSS at start: $(rss) KiB"
for q in "size=1GiB" "size=1GiB&digest=0"; do
  curl -s -o /dev/null "$base/download?$q"   # warm (the digest cache for seed 1)
  for i in 1 2 3; do
    s=$(date +%s.%N)
    curl -s -o /dev/null "$base/download?$q"
    e=$(date +%s.%N)
    printf '%-22s run %d: %.3f s  %7.1f MB/s  server RSS %d KiB\n' "$q" "$i" "$(echo "$e - $s" | bc -l)" \
      "$(echo "1073741824 / ($e - $s) / 1000000" | bc -l)" "$(rss)"
  done
done
cp target/release/bootstrap "$tmp/bootstrap" && strip "$tmp/bootstrap"
echo "bootstrap (host target, release): $(stat -c %s target/release/bootstrap) bytes, stripped $(stat -c %s "$tmp/bootstrap") bytes"
