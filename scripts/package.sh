#!/usr/bin/env bash
# Builds what a user installs without a Rust toolchain, into target/packages/:
#   streamscope_VERSION-1_ARCH.deb            (cargo deb: /usr/bin, .desktop, hicolor icons, man pages)
#   streamscope-VERSION-linux-ARCH.tar.gz     (the same files and install.sh, for other distributions)
# PROFILE=dist (default: release + thin LTO + strip) or PROFILE=release to package a binary the
# tests already built (CI does, so packaging does not compile everything a second time; with
# FEATURES=lambda, the tests' feature set: that feature only adds code the `bootstrap` binary uses,
# but it changes features of shared dependencies, so another set would rebuild much of the tree).
# Needs cargo-deb (cargo install cargo-deb --locked) and dpkg-dev (dpkg-shlibdeps).
set -euo pipefail
cd "$(dirname "$0")/.."
PROFILE=${PROFILE:-dist}
VERSION=$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -n 1)
ARCH=$(dpkg --print-architecture)
out=target/packages
mkdir -p "$out"

cargo build --profile "$PROFILE" --locked --bin streamscope ${FEATURES:+--features "$FEATURES"}
bin=target/$PROFILE/streamscope
rm -rf target/man
"$bin" man target/man >/dev/null
# cargo-deb strips the binary (if the profile did not) and gzips the man pages.
cargo deb --profile "$PROFILE" --no-build --locked --output "$out/streamscope_${VERSION}-1_${ARCH}.deb" >/dev/null
deb=$out/streamscope_${VERSION}-1_${ARCH}.deb

# The tarball: the very files the .deb installs, laid out under share/ as install.sh expects.
name=streamscope-$VERSION-linux-$ARCH
stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
dpkg-deb -x "$deb" "$stage/root"
mkdir -p "$stage/$name"
cp -r "$stage/root/usr/bin" "$stage/root/usr/share" "$stage/$name/"
rm -rf "$stage/$name/share/doc"
cp README.md "$stage/$name/"
cp packaging/install.sh "$stage/$name/install.sh"
chmod 755 "$stage/$name/install.sh"
tar -C "$stage" --owner=0 --group=0 -czf "$out/$name.tar.gz" "$name"

printf '%s\t%s\n' "$(du -b "$bin" | cut -f1)" "$bin (profile $PROFILE, before cargo deb strips)"
for f in "$deb" "$out/$name.tar.gz"; do printf '%s\t%s\n' "$(du -b "$f" | cut -f1)" "$f"; done
