#!/usr/bin/env bash
# The whole test suite, as README.md gives it and CI runs it.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-test-deps.sh
# pip --user installs land here on Debian.
export PATH="$HOME/.local/bin:$PATH"
cargo fmt --check
cargo clippy --release --all-targets --features lambda --locked -- -D warnings
# The Lambda binary builds without any GUI dependency.
cargo build --release --locked --no-default-features --features lambda --bin bootstrap
cfn-lint src/backend/template.yaml
cargo test --release --locked --features lambda
