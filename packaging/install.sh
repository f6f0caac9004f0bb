#!/usr/bin/env sh
# Installs streamscope from this directory, for distributions without the .deb.
#   ./install.sh              into ~/.local (or /usr/local when run as root)
#   ./install.sh --prefix DIR into DIR (bin/, share/applications/, share/icons/hicolor/, share/man/man1/)
#   ./install.sh --uninstall  removes what it installed (same --prefix)
set -eu
here=$(cd "$(dirname "$0")" && pwd)
if [ "$(id -u)" = 0 ]; then prefix=/usr/local; else prefix=$HOME/.local; fi
uninstall=no
while [ $# -gt 0 ]; do
  case $1 in
    --prefix) [ $# -ge 2 ] || { echo "install.sh: --prefix needs a directory" >&2; exit 2; }; prefix=$2; shift 2 ;;
    --uninstall) uninstall=yes; shift ;;
    -h|--help) sed -n '2,5p' "$0"; exit 0 ;;
    *) echo "install.sh: unknown option $1 (try --help)" >&2; exit 2 ;;
  esac
done
files=$(cd "$here" && find bin share -type f | sort)
if [ "$uninstall" = yes ]; then
  for f in $files; do rm -f "$prefix/$f"; done
  echo "removed streamscope from $prefix"
else
  for f in $files; do
    mkdir -p "$prefix/$(dirname "$f")"
    cp "$here/$f" "$prefix/$f"
  done
  chmod 755 "$prefix/bin/streamscope"
  # The menu entry starts the binary by its full path: $prefix/bin may not be on the menu's PATH.
  sed -i "s|^Exec=streamscope |Exec=$prefix/bin/streamscope |" "$prefix/share/applications/streamscope.desktop"
  echo "installed $prefix/bin/streamscope and its menu entry"
  case ":$PATH:" in *":$prefix/bin:"*) ;; *) echo "note: $prefix/bin is not on PATH" ;; esac
fi
# Let the menu and the icon theme notice (both tools are optional).
command -v update-desktop-database >/dev/null 2>&1 && update-desktop-database -q "$prefix/share/applications" 2>/dev/null || true
command -v gtk-update-icon-cache >/dev/null 2>&1 && gtk-update-icon-cache -q -t "$prefix/share/icons/hicolor" 2>/dev/null || true
