#!/usr/bin/env bash
# Writes the uncompressed kernel (ELF vmlinux) of /boot/vmlinuz-KERNEL_VERSION to OUTPUT, for a PVH
# boot: QEMU loads the ELF itself, so neither the real-mode setup nor the kernel's own XZ decompression
# runs in the VM. Under TCG that decompression is the slow part of a boot: measured here, QEMU start
# to /init took 11.7 s from vmlinuz and 3.8 s from vmlinux in the test host, and it is far worse in
# a nested guest. Exits 1 when the image is not an XZ bzImage with a PVH entry; vm.sh then boots vmlinuz.
# usage: mkvmlinux.sh KERNEL_VERSION OUTPUT
set -euo pipefail
kver=$1 out=$2
image=/boot/vmlinuz-$kver
command -v xz >/dev/null || { echo "mkvmlinux: xz missing; install xz-utils (tools/bootstrap.sh)" >&2; exit 1; }
# The compressed payload starts at the first XZ stream header; xz stops at its end (the bzImage
# trailer after it is not XZ, hence the error status ignored here and the ELF check after).
offset=$(grep -abo -m1 $'\xfd7zXZ\x00' "$image" | head -n1 | cut -d: -f1) ||
  { echo "mkvmlinux: $image has no XZ payload" >&2; exit 1; }
tail -c +"$((offset + 1))" "$image" | xz -dc > "$out.tmp" 2>/dev/null || true
# XEN_ELFNOTE_PHYS32_ENTRY (type 18) is the PVH entry point QEMU needs to boot an ELF kernel.
if [ "$(head -c 4 "$out.tmp" | od -An -tx1 | tr -d ' ')" != 7f454c46 ] ||
   ! grep -q 'Xen *0x[0-9a-f]* *.*(0x00000012)' <<<"$(readelf -n "$out.tmp" 2>/dev/null)"; then
  rm -f "$out.tmp"
  echo "mkvmlinux: $image did not yield an ELF kernel with a PVH entry" >&2
  exit 1
fi
mv "$out.tmp" "$out"
