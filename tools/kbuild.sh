#!/usr/bin/env bash
# Builds an out-of-tree kernel module folder with kbuild, inside the meson build tree.
# usage: kbuild.sh SRC_DIR OUT_DIR KERNEL_BUILD_DIR
#        kbuild.sh --sources SRC_DIR OUT_DIR   (only the mirror: the DKMS packages' source trees)
# kbuild writes its objects next to the sources, so the sources are mirrored into OUT_DIR first;
# make then decides what is stale.
set -euo pipefail
sources_only=0
[ "$1" = --sources ] && { sources_only=1; shift; }
src=$1 out=$2 kdir=${3:-}
if [ $sources_only = 0 ] && [ ! -d "$kdir" ]; then
  echo "kbuild: no kernel build tree at $kdir; install the matching headers (tools/bootstrap.sh installs linux-headers-amd64)" >&2
  exit 1
fi
mkdir -p "$out"
for f in "$src"/*.c "$src"/*.h "$src"/Kbuild; do
  [ -e "$f" ] || continue
  cmp -s "$f" "$out/$(basename "$f")" || cp "$f" "$out/"
done
# Copy headers shared between host and guest modules (the device ABI).
if [ -d "$src/../common/hyv" ]; then
  mkdir -p "$out/include/hyv"
  for f in "$src"/../common/hyv/*.h; do
    [ -e "$f" ] || continue
    cmp -s "$f" "$out/include/hyv/$(basename "$f")" || cp "$f" "$out/include/hyv/"
  done
fi
[ $sources_only = 1 ] && exit 0
exec make -s -C "$kdir" M="$out" modules
