#!/usr/bin/env bash
# Benchmark (not a test): the app's CPU use in a real window under Xvfb, while a demo download
# runs and then while idle after it. Needs: apt-get install -y xvfb
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --quiet --bin streamscope
command -v Xvfb >/dev/null || { echo "needs Xvfb (apt-get install -y xvfb)" >&2; exit 2; }
disp=:$((500 + RANDOM % 400))
Xvfb "$disp" -screen 0 1400x900x24 -nolisten tcp >/dev/null 2>&1 &
xpid=$!
home=$(mktemp -d)
trap 'kill $apid $xpid 2>/dev/null; rm -rf "$home"' EXIT
sleep 1
# A fresh HOME: no remembered settings, downloads go to a scratch directory.
HOME=$home DISPLAY=$disp target/release/streamscope gui --preset "${PRESET:-50 MiB stream}" --start >"$home/log" 2>&1 &
apid=$!
ticks() { awk '{print $14 + $15}' "/proc/$apid/stat"; }
hz=$(getconf CLK_TCK)
sample() { # seconds label
  local a b; a=$(ticks); sleep "$1"; b=$(ticks)
  printf '%-28s %6.2f %% of one core (%d ticks in %s s)\n' "$2" "$(echo "($b - $a) * 100 / $hz / $1" | bc -l)" $((b - a)) "$1"
}
sleep 3
sample 10 "during the download"
# The 50 MiB stream preset takes ~22 s; wait for it to end.
sleep "${SETTLE:-15}"
sample 10 "idle after the run"
sample 10 "idle, 10 s later"
