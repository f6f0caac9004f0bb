#!/usr/bin/env bash
# The whole test suite, as README.md gives it and CI runs it.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-test-deps.sh
# pip --user installs land in ~/.local/bin; Debian puts nginx in /usr/sbin, off a user's PATH.
export PATH="$HOME/.local/bin:/usr/sbin:/sbin:$PATH"
cargo fmt --check
cargo clippy --release --all-targets --features lambda --locked -- -D warnings
# The house stays acyclic: no source file imports one that imports it back.
python3 scripts/check-imports.py
# The Lambda binary builds without any GUI dependency.
cargo build --release --locked --no-default-features --features lambda --bin bootstrap
cfn-lint src/backend/template.yaml src/backend/stream-api.yaml src/backend/node/template.yaml \
  src/backend/python/template.yaml
log=$(mktemp)
trap 'rm -f "$log"' EXIT
set +e
cargo test --release --locked --features lambda 2>&1 | tee "$log"
status=${PIPESTATUS[0]}
set -e
# One closing line with the totals over every test binary.
awk '/^test result:/ { p += $4; f += $6 } END { printf "%d passed, %d failed\n", p, f }' "$log"
[ "$status" = 0 ] || exit "$status"
# Nothing a test started may outlive the suite: function processes (gunicorn, the Node runtime
# client, the Web Adapter) and servers. A function's own children can take a moment to see their
# parent gone, so this waits a little before it calls anything left behind a failure.
leftovers='gunicorn|aws-lambda-ric|lambda-adapter|streamscope (serve|local)'
for _ in $(seq 1 100); do
  pgrep -f "$leftovers" >/dev/null || break
  sleep 0.1
done
if pgrep -fa "$leftovers"; then
  echo "test.sh: the processes above outlived the test suite" >&2
  exit 1
fi
# The .deb and .tar.gz as a user meets them: lintian, desktop-file-validate, apt install, the menu
# entry opening a window under Xvfb, install.sh. Packages the release binary the tests built.
bash scripts/check-package.sh
