#!/usr/bin/env bash
# Builds the test VM initramfs: static busybox, the few modules needed to mount the build machine's / over
# virtio-9p, the agent (tools/vm-agent.c, static; also written next to OUTPUT as hyv-agent for the test
# host's stage 2), and /init (tools/vm-initramfs-init.sh). Not compressed: gunzip took 45 s of a
# nested guest boot under two levels of TCG, reading the bigger file costs nothing (fw_cfg DMA).
# usage: mkinitramfs.sh KERNEL_VERSION OUTPUT
set -euo pipefail
kver=$1 out=$2
here=$(cd "$(dirname "$0")" && pwd)
busybox=/bin/busybox
[ -x "$busybox" ] || { echo "mkinitramfs: $busybox missing; install busybox-static (tools/bootstrap.sh)" >&2; exit 1; }
[ -d "/lib/modules/$kver/kernel" ] || { echo "mkinitramfs: no modules for kernel $kver in /lib/modules; install linux-image-amd64" >&2; exit 1; }

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work"/{bin,dev,proc,sys,lower,upper,newroot,lib/modules}
cp "$busybox" "$work/bin/busybox"
# The applet links are made here: `busybox --install` in /init took 18 s of a nested guest's boot.
for applet in $("$busybox" --list); do
  [ "$applet" = busybox ] || ln -s busybox "$work/bin/$applet"
done

# Resolve module dependencies in load order; built-in modules need no file.
# LIST gets the modules of the given names with their dependencies, each module once in the image.
add_modules() { # LIST MODULE...
  local list=$1 mod kind path name; shift
  : > "$work/$list"
  for mod in "$@"; do
    while read -r kind path _; do
      [ "$kind" = insmod ] || continue
      name=$(basename "$path")
      grep -qx "$name" "$work/modules.load" "$work/$list" 2>/dev/null && continue
      # Without the signature and the BTF, which the kernel would hash and parse at every insmod
      # (nothing here verifies a signature, nothing loads BPF against these modules).
      strip --strip-debug --remove-section=.BTF -o "$work/lib/modules/$name" "$path"
      echo "$name" >> "$work/$list"
    done < <(modprobe -S "$kver" --show-depends "$mod")
  done
}
add_modules modules.load virtio_pci 9pnet_virtio 9p overlay virtio_net virtio_console
# Nested guests only: the RDMA core that guest/virtio_hyv.ko links against. From the initramfs this
# costs a second; modprobe over 9p under two levels of TCG costs minutes.
add_modules modules.guest ib_uverbs

install -m 0755 "$here/vm-initramfs-init.sh" "$work/init"
install -m 0644 "$here/vm-agent.sh" "$work/agent.sh"
cc -static -O2 -Wall -Wextra -Werror -o "$work/hyv-agent" "$here/vm-agent.c" ||
  { echo "mkinitramfs: cannot build the static agent; install gcc and libc6-dev (tools/bootstrap.sh)" >&2; exit 1; }
install -m 0755 "$work/hyv-agent" "$(dirname "$out")/hyv-agent"
(cd "$work" && find . -print0 | cpio --null -o -H newc --quiet) > "$out.tmp"
mv "$out.tmp" "$out"
