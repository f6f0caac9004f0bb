#!/usr/bin/env bash
# Builds the Lambda `bootstrap` for provided.al2023 and zips it:
#   target/lambda/bootstrap/bootstrap and target/lambda/bootstrap.zip
# ARCH=arm64 (default) or x86_64. Uses cargo-lambda (pip install cargo-lambda ziglang), which
# cross-compiles against an old glibc with zig, so the binary runs on Amazon Linux 2023.
set -euo pipefail
cd "$(dirname "$0")/.."
ARCH=${ARCH:-arm64}
case $ARCH in arm64) flag=--arm64 ;; x86_64) flag=--x86-64 ;; *) echo "ARCH must be arm64 or x86_64" >&2; exit 2 ;; esac
command -v cargo-lambda >/dev/null || { echo "needs cargo-lambda: pip install cargo-lambda ziglang" >&2; exit 2; }
cargo lambda build --release "$flag" --no-default-features --features lambda --bin bootstrap
rm -f target/lambda/bootstrap.zip
if command -v zip >/dev/null; then
  (cd target/lambda/bootstrap && zip -q -j ../bootstrap.zip bootstrap)
else
  # Python's zipfile keeps the executable bit Lambda needs.
  (cd target/lambda/bootstrap && python3 -m zipfile -c ../bootstrap.zip bootstrap)
fi
ls -l target/lambda/bootstrap/bootstrap target/lambda/bootstrap.zip
