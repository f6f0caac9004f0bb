#!/usr/bin/env bash
# Installs what the test suite needs on a fresh Debian machine; quick when everything is present.
#   apt: curl (a second HTTP client), python3 (python -m http.server, a second server), coreutils,
#        nginx-light (a TLS/h2 server), util-linux (unshare: a private tmpfs for the disk tests)
#   pip: moto[server] (a real S3 API server on loopback), cfn-lint (validates the SAM template)
set -euo pipefail
# pip --user installs land in ~/.local/bin; Debian puts nginx in /usr/sbin, off a user's PATH.
export PATH="$HOME/.local/bin:/usr/sbin:/sbin:$PATH"
SUDO=""
if [ "$(id -u)" != 0 ]; then SUDO="sudo"; fi
apt_pkgs=()
for cmd_pkg in curl:curl python3:python3 pip3:python3-pip sha256sum:coreutils nginx:nginx-light \
  unshare:util-linux; do
  cmd=${cmd_pkg%%:*}; pkg=${cmd_pkg#*:}
  command -v "$cmd" >/dev/null 2>&1 || apt_pkgs+=("$pkg")
done
if [ ${#apt_pkgs[@]} -gt 0 ]; then
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${apt_pkgs[@]}"
  # The package may start its own nginx on port 80 of every address; the tests start their own.
  if pgrep -x nginx >/dev/null 2>&1; then $SUDO nginx -s stop 2>/dev/null || true; fi
fi
if ! command -v moto_server >/dev/null 2>&1 || ! command -v cfn-lint >/dev/null 2>&1; then
  # Debian's system Python refuses global pip installs (PEP 668); a user install is enough.
  pip_args=(--quiet)
  if python3 -m pip install --help 2>/dev/null | grep -q -- --break-system-packages \
     && [ -f /usr/lib/python3*/EXTERNALLY-MANAGED ] 2>/dev/null && [ -z "${VIRTUAL_ENV:-}" ] \
     && ! command -v pyenv >/dev/null 2>&1; then
    pip_args+=(--user --break-system-packages)
  fi
  python3 -m pip install "${pip_args[@]}" 'moto[server]' cfn-lint
fi
rustup component list --installed 2>/dev/null | grep -q '^rustfmt' || rustup component add rustfmt clippy
