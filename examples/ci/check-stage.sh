#!/usr/bin/env bash
# A CI step: download the stage's object through API Gateway and fail the build unless it
# streams, arrives whole and fast enough. Needs `streamscope` on PATH.
#
#   STAGE_URL            the object's URL on the stage (required)
#   STREAMSCOPE_API_KEY  its API key (optional; from the CI's secret store, never echoed)
#   STREAMSCOPE_REQUIRE  thresholds, one per line (default below)
#   OUT                  where the JSON, the PNG and the JUnit XML go (default: streamscope-out)
#
# Exit: 0 all good, 1 the download failed, 2 bad input, 3 a threshold was missed.
set -euo pipefail

: "${STAGE_URL:?set STAGE_URL to the URL of the object on the stage}"
OUT=${OUT:-streamscope-out}
REQUIRE=${STREAMSCOPE_REQUIRE:-"delivery==streamed
verified==true
first_byte_ms<1000
after_10mib>=1.9MB/s
findings.errors==0"}

mkdir -p "$OUT"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
# The key goes into a file only this user can read, removed on exit; reports redact it.
umask 077
{
  echo '[[target]]'
  echo 'name = "stage"'
  printf 'url = "%s"\n' "$STAGE_URL"
  if [ -n "${STREAMSCOPE_API_KEY:-}" ]; then
    printf 'headers = ["x-api-key: %s"]\n' "$STREAMSCOPE_API_KEY"
  fi
} > "$work/targets.toml"

args=()
while IFS= read -r t; do
  [ -n "$t" ] && args+=(--require "$t")
done <<< "$REQUIRE"

streamscope compare "$work/targets.toml" "${args[@]}" \
  --json "$OUT/streamscope.json" --png "$OUT/streamscope.png" --junit "$OUT/junit.xml"
