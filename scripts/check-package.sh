#!/usr/bin/env bash
# Builds the .deb and the .tar.gz (scripts/package.sh) and checks them as a user would meet them:
# lintian (no error-level tag), desktop-file-validate, `apt install ./streamscope_*.deb` putting
# streamscope on PATH, the menu entry's Exec line opening a window under Xvfb (screenshot checked for
# drawn content), and install.sh from the tarball into a scratch prefix and back out.
# PROFILE defaults to release and FEATURES to lambda here: the very binary the tests built
# (`cargo test --release --features lambda`), not a second full build.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="/usr/sbin:/sbin:$PATH"
SUDO=""
if [ "$(id -u)" != 0 ]; then SUDO="sudo"; fi
fail() { echo "check-package: $*" >&2; exit 1; }

PROFILE=${PROFILE:-release} FEATURES=${FEATURES-lambda} bash scripts/package.sh
deb=$(ls target/packages/streamscope_*.deb | head -n 1)
tgz=$(ls target/packages/streamscope-*-linux-*.tar.gz | head -n 1)

echo "== lintian $deb"
# Root runs print a notice on stderr; the tags go to stdout.
lintian --fail-on error "$deb" 2>/dev/null | tee target/packages/lintian.txt || fail "lintian reported an error-level tag"
echo "== desktop-file-validate"
desktop-file-validate packaging/streamscope.desktop

echo "== apt install ./$deb"
was_installed=$(dpkg-query -W -f='${Status}' streamscope 2>/dev/null | grep -c 'install ok installed' || true)
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "./$deb" >/dev/null
cleanup_pkg() {
  # A developer's machine gets its state back; a fresh CI machine does not care.
  if [ "$was_installed" = 0 ]; then $SUDO apt-get remove -y -qq streamscope >/dev/null 2>&1 || true; fi
}
trap cleanup_pkg EXIT
[ "$(command -v streamscope)" = /usr/bin/streamscope ] || fail "streamscope is not /usr/bin/streamscope on PATH"
streamscope --version
desktop-file-validate /usr/share/applications/streamscope.desktop
[ -f /usr/share/icons/hicolor/48x48/apps/streamscope.png ] || fail "no 48x48 icon installed"
# Minimal images may exclude /usr/share/man from installs (dpkg path-exclude): ask the package.
dpkg-deb -c "$deb" | grep 'usr/share/man/man1/streamscope-get.1.gz$' >/dev/null || fail "no man page streamscope-get(1) in the package"

echo "== the menu entry's Exec line under Xvfb"
exec_line=$(sed -n 's/^Exec=//p' /usr/share/applications/streamscope.desktop)
# Field codes (%f, %U, ...) are for the launcher to fill; this entry has none, but drop any.
exec_line=$(printf '%s' "$exec_line" | sed 's/ %[fFuUick]//g')
shot_dir=$(mktemp -d)
disp=""
for n in $(seq 140 199); do
  # -nolisten tcp: a local display only; the lock file tells a taken display number apart.
  [ -e "/tmp/.X$n-lock" ] && continue
  Xvfb ":$n" -screen 0 1400x900x24 -nolisten tcp >"$shot_dir/xvfb.log" 2>&1 &
  xpid=$!
  for _ in $(seq 1 100); do
    [ -e "/tmp/.X11-unix/X$n" ] && break
    kill -0 "$xpid" 2>/dev/null || break
    sleep 0.1
  done
  if kill -0 "$xpid" 2>/dev/null && [ -e "/tmp/.X11-unix/X$n" ]; then disp=":$n"; break; fi
done
[ -n "$disp" ] || fail "Xvfb did not start"
# HOME in a scratch directory: the app's remembered settings stay out of the user's.
# shellcheck disable=SC2086
(cd "$shot_dir" && HOME="$shot_dir" DISPLAY=$disp exec $exec_line >"$shot_dir/app.log" 2>&1) &
apid=$!
trap 'kill $apid $xpid 2>/dev/null; cleanup_pkg' EXIT
# Wait for the window, then for drawn content: polls with a deadline, no fixed sleep decides.
ok=no
for _ in $(seq 1 120); do
  kill -0 "$apid" 2>/dev/null || { cat "$shot_dir/app.log" >&2; fail "the app exited: $exec_line"; }
  if win=$(DISPLAY=$disp xdotool search --name '^streamscope$' 2>/dev/null | head -n 1) && [ -n "$win" ]; then
    DISPLAY=$disp import -window root "$shot_dir/shot.png" 2>/dev/null || true
    # An empty display is one colour; the window's text, widgets and icons make hundreds.
    colours=$(identify -format '%k' "$shot_dir/shot.png" 2>/dev/null || echo 0)
    if [ "$colours" -ge 64 ]; then ok=yes; break; fi
  fi
  sleep 0.5
done
[ "$ok" = yes ] || fail "no window with drawn content within 60 s (last screenshot: $shot_dir/shot.png)"
geometry=$(DISPLAY=$disp xdotool getwindowgeometry "$win" | sed -n 's/ *Geometry: //p')
cp "$shot_dir/shot.png" target/packages/installed-app.png
echo "window '$(DISPLAY=$disp xdotool getwindowname "$win")' $geometry, $colours colours drawn (target/packages/installed-app.png)"
kill "$apid" 2>/dev/null || true

echo "== install.sh from $tgz"
scratch=$(mktemp -d)
tar -C "$scratch" -xzf "$tgz"
dir=$(ls -d "$scratch"/streamscope-*/)
"$dir/install.sh" --prefix "$scratch/prefix"
"$scratch/prefix/bin/streamscope" --version
grep -qx "Exec=$scratch/prefix/bin/streamscope gui" "$scratch/prefix/share/applications/streamscope.desktop" \
  || fail "install.sh did not point Exec at the installed binary"
desktop-file-validate "$scratch/prefix/share/applications/streamscope.desktop"
"$dir/install.sh" --prefix "$scratch/prefix" --uninstall
# The menu's and the icon theme's caches are shared with other programs and stay.
left=$(find "$scratch/prefix" -type f ! -name mimeinfo.cache ! -name icon-theme.cache)
[ -z "$left" ] || fail "--uninstall left $left"
rm -rf "$scratch" "$shot_dir"
echo "package checks passed"
