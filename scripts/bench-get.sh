#!/usr/bin/env bash
# Benchmark (not a test): SIZE (default 1GiB) from `streamscope serve` on loopback, fetched in turn by
# `streamscope get` (hashing as it writes), `curl -s -o FILE` (no hash) and curl followed by
# `sha256sum FILE`, PAIRS times (default 5). Prints each run, the median throughputs, the ratios,
# and streamscope's peak RSS for SIZE and for 100 MiB.
set -euo pipefail
cd "$(dirname "$0")/.."
SIZE=${SIZE:-1GiB}
PAIRS=${PAIRS:-5}
cargo build --release --quiet --bin streamscope
BIN=$PWD/target/release/streamscope
tmp=$(mktemp -d)
"$BIN" serve --port 0 >"$tmp/serve.out" &
spid=$!
trap 'kill $spid 2>/dev/null; rm -rf "$tmp"' EXIT
for _ in $(seq 100); do [ -s "$tmp/serve.out" ] && break; sleep 0.05; done
base=$(sed -n 's/^listening on //p' "$tmp/serve.out")
url="$base/download?size=$SIZE"
bytes=$(curl -sI "$url" | tr -d '\r' | awk -F': ' 'tolower($1)=="content-length"{print $2}')
curl -s -o /dev/null "$url"   # warm the server's digest cache and the page cache
now() { date +%s.%N; }
declare -a t_ss t_curl t_curlsha rss
for i in $(seq "$PAIRS"); do
  rm -f "$tmp/f"; s=$(now)
  /usr/bin/time -f %M -o "$tmp/rss" "$BIN" get -q "$url" -o "$tmp/f"
  t_ss+=("$(echo "$(now) - $s" | bc -l)"); rss+=("$(cat "$tmp/rss")")
  rm -f "$tmp/f"; s=$(now)
  curl -s -o "$tmp/f" "$url"
  t_curl+=("$(echo "$(now) - $s" | bc -l)")
  rm -f "$tmp/f"; s=$(now)
  curl -s -o "$tmp/f" "$url" && sha256sum "$tmp/f" >/dev/null
  t_curlsha+=("$(echo "$(now) - $s" | bc -l)")
  printf 'pair %d: streamscope %.3f s (rss %d KiB)   curl %.3f s   curl+sha256sum %.3f s\n' \
    "$i" "${t_ss[-1]}" "${rss[-1]}" "${t_curl[-1]}" "${t_curlsha[-1]}"
done
median() { printf '%s\n' "$@" | sort -g | awk '{a[NR]=$1} END{print (NR%2)?a[(NR+1)/2]:(a[NR/2]+a[NR/2+1])/2}'; }
m_ss=$(median "${t_ss[@]}"); m_curl=$(median "${t_curl[@]}"); m_cs=$(median "${t_curlsha[@]}")
rm -f "$tmp/f"
/usr/bin/time -f %M -o "$tmp/rss100" "$BIN" get -q "$base/download?size=100MiB" -o "$tmp/f"
rss_max=$(printf '%s\n' "${rss[@]}" | sort -n | tail -1)
rss100=$(cat "$tmp/rss100")
echo "size: $bytes bytes, $PAIRS pairs (medians)"
printf 'streamscope get        %.3f s  %7.1f MB/s\n' "$m_ss" "$(echo "$bytes/$m_ss/1000000" | bc -l)"
printf 'curl -o                %.3f s  %7.1f MB/s\n' "$m_curl" "$(echo "$bytes/$m_curl/1000000" | bc -l)"
printf 'curl -o && sha256sum   %.3f s  %7.1f MB/s\n' "$m_cs" "$(echo "$bytes/$m_cs/1000000" | bc -l)"
printf 'ratio streamscope/curl             %.3f  (goal <= 1.25)\n' "$(echo "$m_ss/$m_curl" | bc -l)"
printf 'ratio streamscope/(curl+sha256sum) %.3f\n' "$(echo "$m_ss/$m_cs" | bc -l)"
printf 'streamscope peak RSS: %d KiB for %s, %d KiB for 100 MiB (ratio %.3f; goals <= 65536 KiB, within 10%%)\n' \
  "$rss_max" "$SIZE" "$rss100" "$(echo "$rss_max/$rss100" | bc -l)"
