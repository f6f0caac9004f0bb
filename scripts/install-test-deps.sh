#!/usr/bin/env bash
# Installs what the test suite needs on a fresh Debian machine, from the package registries only;
# quick when everything is present.
#   apt:   curl (a second HTTP client), python3 (python -m http.server, a second server; venv),
#          coreutils, nginx-light (a TLS/h2 server), util-linux (unshare: private tmpfs mounts),
#          nodejs + npm, and cmake/autoconf/automake/libtool/g++/make (aws-lambda-ric builds its
#          native client at install)
#   pip:   moto[server] (a real S3 API server on loopback), cfn-lint (validates the SAM templates),
#          jsonschema (checks reports against schema/), junitparser (reads compare --junit)
#   npm:   src/backend/node's lock file (the real Node runtime interface client, aws-lambda-ric)
#   venv:  $STREAMSCOPE_TOOLS/venv with src/backend/python/requirements.txt (Flask, gunicorn, requests)
#          and awslambdaric (the real Python runtime interface client, for `local`'s python*
#          functions without the Web Adapter)
#   cargo: lambda_web_adapter (the real Lambda Web Adapter) into $STREAMSCOPE_TOOLS/lwa; cargo-deb
#   apt, for the package checks (scripts/check-package.sh): lintian, desktop-file-utils, dpkg-dev
#          (dpkg-shlibdeps), xvfb + xdotool + imagemagick (open the installed app and look)
# STREAMSCOPE_TOOLS defaults to ~/.cache/streamscope and is reused when present.
set -euo pipefail
cd "$(dirname "$0")/.."
# pip --user installs land in ~/.local/bin; Debian puts nginx in /usr/sbin, off a user's PATH.
export PATH="$HOME/.local/bin:/usr/sbin:/sbin:$PATH"
TOOLS=${STREAMSCOPE_TOOLS:-$HOME/.cache/streamscope}
LWA_VERSION=0.9.1
SUDO=""
if [ "$(id -u)" != 0 ]; then SUDO="sudo"; fi

apt_pkgs=()
for cmd_pkg in curl:curl python3:python3 pip3:python3-pip sha256sum:coreutils nginx:nginx-light \
  unshare:util-linux node:nodejs npm:npm cmake:cmake autoconf:autoconf automake:automake \
  libtoolize:libtool g++:g++ make:make lintian:lintian desktop-file-validate:desktop-file-utils \
  dpkg-shlibdeps:dpkg-dev Xvfb:xvfb xdotool:xdotool import:imagemagick identify:imagemagick; do
  cmd=${cmd_pkg%%:*}; pkg=${cmd_pkg#*:}
  command -v "$cmd" >/dev/null 2>&1 || apt_pkgs+=("$pkg")
done
python3 -c 'import ensurepip, venv' 2>/dev/null || apt_pkgs+=(python3-venv)
# node-gyp builds against the installed Node's headers (npm_config_nodedir=/usr below) instead of
# downloading them; Debian's own nodejs keeps them in libnode-dev.
[ -f /usr/include/node/node.h ] || apt_pkgs+=(libnode-dev)
if [ ${#apt_pkgs[@]} -gt 0 ]; then
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${apt_pkgs[@]}"
  # The package may start its own nginx on port 80 of every address; the tests start their own.
  if pgrep -x nginx >/dev/null 2>&1; then $SUDO nginx -s stop 2>/dev/null || true; fi
fi

if ! command -v moto_server >/dev/null 2>&1 || ! command -v cfn-lint >/dev/null 2>&1 \
   || ! python3 -c 'import jsonschema, junitparser' 2>/dev/null; then
  # Debian's system Python refuses global pip installs (PEP 668); a user install is enough.
  pip_args=(--quiet)
  if python3 -m pip install --help 2>/dev/null | grep -- --break-system-packages >/dev/null \
     && [ -f /usr/lib/python3*/EXTERNALLY-MANAGED ] 2>/dev/null && [ -z "${VIRTUAL_ENV:-}" ] \
     && ! command -v pyenv >/dev/null 2>&1; then
    pip_args+=(--user --break-system-packages)
  fi
  # jsonschema validates every report the suite reads against schema/; junitparser reads
  # compare --junit as CI report tools do.
  python3 -m pip install "${pip_args[@]}" 'moto[server]' cfn-lint jsonschema junitparser
fi

# The Node backend's runtime client, built from the lock file.
if [ ! -f src/backend/node/node_modules/aws-lambda-ric/dist/rapid-client.node ]; then
  (cd src/backend/node && npm_config_nodedir=/usr npm ci --no-audit --no-fund)
fi

# The Python backend's packages and the Python runtime client, in a venv of their own (redone when
# requirements.txt or the client's version changes).
RIC_VERSION=4.2.2
req_sum="$(sha256sum src/backend/python/requirements.txt | cut -d' ' -f1) awslambdaric==$RIC_VERSION"
if [ "$(cat "$TOOLS/venv/.requirements" 2>/dev/null)" != "$req_sum" ]; then
  rm -rf "$TOOLS/venv"
  mkdir -p "$TOOLS"
  python3 -m venv "$TOOLS/venv"
  "$TOOLS/venv/bin/pip" install --quiet -r src/backend/python/requirements.txt "awslambdaric==$RIC_VERSION"
  echo "$req_sum" >"$TOOLS/venv/.requirements"
fi

# The Lambda Web Adapter, from the Rust package registry.
if [ ! -x "$TOOLS/lwa/bin/lambda-adapter" ] || [ ! -f "$TOOLS/lwa/.version-$LWA_VERSION" ]; then
  cargo install lambda_web_adapter --version "$LWA_VERSION" --locked --force --root "$TOOLS/lwa"
  touch "$TOOLS/lwa/.version-$LWA_VERSION"
fi

# Builds the .deb (scripts/package.sh).
CARGO_DEB_VERSION=3.8.0
if [ "$(cargo deb --version 2>/dev/null)" != "cargo-deb $CARGO_DEB_VERSION" ]; then
  cargo install cargo-deb --version "$CARGO_DEB_VERSION" --locked --force
fi

rustup component list --installed 2>/dev/null | grep '^rustfmt' >/dev/null || rustup component add rustfmt clippy
