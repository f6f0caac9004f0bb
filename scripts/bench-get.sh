#!/usr/bin/env bash
# Benchmark (not a test): SIZE (default 1GiB) from nginx on 127.0.0.1 (sendfile on, a throwaway
# CA passed with --cacert) over plain HTTP, HTTPS with HTTP/1.1, and HTTPS with h2 (ALPN), each
# fetched by `streamscope get` (hashing as it writes) and by `curl -o` (no hash) in alternating
# pairs, PAIRS times (default 5), each run after a `sync`. Prints each run, then per protocol the median whole-process wall
# time and CPU seconds of both, the ratio, and streamscope's peak RSS.
# Needs: nginx, openssl, curl, /usr/bin/time (apt-get install -y nginx-light openssl curl time).
set -euo pipefail
cd "$(dirname "$0")/.."
SIZE=${SIZE:-1GiB}
PAIRS=${PAIRS:-5}
for t in nginx openssl curl /usr/bin/time; do
  command -v "$t" >/dev/null || { echo "needs $t (apt-get install -y nginx-light openssl curl time)" >&2; exit 2; }
done
cargo build --release --quiet --bin streamscope
BIN=$PWD/target/release/streamscope
tmp=$(mktemp -d)
source scripts/local-nginx.sh
trap 'nginx_stop; rm -rf "$tmp"' EXIT
bytes=$(python3 -c "import sys; u={'KiB':1<<10,'MiB':1<<20,'GiB':1<<30}; s=sys.argv[1]; print(int(s[:-3])*u[s[-3:]] if s[-3:] in u else int(s))" "$SIZE")
mkdir -p "$tmp/www"
head -c "$bytes" /dev/urandom >"$tmp/www/blob.bin"
nginx_start "$tmp"

median() { printf '%s\n' "$@" | sort -g | awk '{a[NR]=$1} END{print (NR%2)?a[(NR+1)/2]:(a[NR/2]+a[NR/2+1])/2}'; }
# Runs a command under /usr/bin/time; prints "wall cpu rss_kib".
timed() {
  /usr/bin/time -f '%e %U %S %M' -o "$tmp/t" "$@" >/dev/null 2>"$tmp/err" || { cat "$tmp/err" >&2; return 1; }
  awk '{printf "%s %.2f %s\n", $1, $2 + $3, $4}' "$tmp/t"
}
# Each run starts with no dirty pages left by the one before: streamscope fsyncs its file, curl
# does not, so without the sync the kernel would write curl's GiB back during the next run.
run_ss() { rm -f "$tmp/f"; sync; timed "$BIN" get -q --cacert "$NGINX_CA" "$1" -o "$tmp/f"; }
run_curl() { rm -f "$tmp/f"; sync; timed curl -s --fail --cacert "$NGINX_CA" -o "$tmp/f" "$1"; }

declare -A RESULT
for proto in ${PROTOS:-http https1 h2}; do
  case $proto in
    http) base=$NGINX_HTTP; label="HTTP/1.1 plain" ;;
    https1) base=$NGINX_HTTPS1; label="HTTPS HTTP/1.1" ;;
    h2) base=$NGINX_H2; label="HTTPS h2" ;;
  esac
  url="$base/blob.bin"
  # What each client negotiated (ALPN), checked once.
  v_curl=$(curl -s --cacert "$NGINX_CA" -o /dev/null -w '%{http_version}' "$url")
  "$BIN" get -q --cacert "$NGINX_CA" "$url" -o "$tmp/f" --json "$tmp/r.json"
  v_ss=$(python3 -c "import json,sys; print(json.load(open(sys.argv[1]))['response']['http_version'])" "$tmp/r.json")
  sha_ok=$(python3 -c "import json,sys; r=json.load(open(sys.argv[1])); print(r['outcome'], r['bytes'])" "$tmp/r.json")
  echo "== $label ($url): curl HTTP/$v_curl, streamscope $v_ss, $sha_ok"
  ss_w=() ss_c=() cu_w=() cu_c=() rss=()
  for i in $(seq "$PAIRS"); do
    if ((i % 2)); then a=$(run_ss "$url"); b=$(run_curl "$url"); else b=$(run_curl "$url"); a=$(run_ss "$url"); fi
    read -r w c r <<<"$a"; ss_w+=("$w"); ss_c+=("$c"); rss+=("$r")
    read -r w c _ <<<"$b"; cu_w+=("$w"); cu_c+=("$c")
    printf '  pair %d: streamscope %s s (cpu %s s, rss %s KiB)   curl %s s (cpu %s s)\n' \
      "$i" "${ss_w[-1]}" "${ss_c[-1]}" "${rss[-1]}" "${cu_w[-1]}" "${cu_c[-1]}"
  done
  RESULT[$proto]="$label|$(median "${ss_w[@]}")|$(median "${ss_c[@]}")|$(median "${cu_w[@]}")|$(median "${cu_c[@]}")|$(printf '%s\n' "${rss[@]}" | sort -n | tail -1)"
done

echo
echo "size $bytes bytes, $PAIRS alternating pairs, medians (goal: ratio <= 1.10 on each, peak RSS <= 65536 KiB)"
printf '%-16s %12s %10s %12s %10s %8s %12s\n' protocol "streamscope" "cpu" "curl" "cpu" ratio "peak RSS"
for proto in ${PROTOS:-http https1 h2}; do
  IFS='|' read -r label sw sc cw cc r <<<"${RESULT[$proto]}"
  printf '%-16s %10.2f s %8.2f s %10.2f s %8.2f s %8.3f %8d KiB\n' "$label" "$sw" "$sc" "$cw" "$cc" \
    "$(echo "$sw / $cw" | bc -l)" "$r"
done
