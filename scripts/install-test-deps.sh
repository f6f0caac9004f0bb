#!/usr/bin/env bash
# Installs what the test suite needs on a fresh Debian machine; quick when everything is present.
set -euo pipefail
SUDO=""
if [ "$(id -u)" != 0 ]; then SUDO="sudo"; fi
apt_pkgs=()
for cmd_pkg in curl:curl python3:python3 sha256sum:coreutils; do
  cmd=${cmd_pkg%%:*}; pkg=${cmd_pkg#*:}
  command -v "$cmd" >/dev/null 2>&1 || apt_pkgs+=("$pkg")
done
if [ ${#apt_pkgs[@]} -gt 0 ]; then
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${apt_pkgs[@]}"
fi
rustup component list --installed 2>/dev/null | grep -q '^rustfmt' || rustup component add rustfmt clippy
