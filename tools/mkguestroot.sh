#!/usr/bin/env bash
# Builds the nested guest's root image: the programs guest tests run (a basic userland, rdma-core's
# ibverbs-utils, rdmacm-utils and perftest, the project's guest module and guest test programs) with
# every library they load, as a cpio archive under image/, appended to the VM initramfs. The nested
# guest mounts it as the top layer of its root over the shared 9p root, so those files are read from
# RAM instead of through 9p twice (test host 9p inside the build machine's 9p), which cost 1.5-4 s per
# exec of a dynamic binary; anything not in the image still comes from the shared root (docs/testing.md).
# Rewrites OUTPUT only when a file or its modification time changed (its manifest is OUTPUT.manifest).
# usage: mkguestroot.sh BUILD_DIR BASE_INITRAMFS OUTPUT
set -euo pipefail
build=$1 base=$2 out=$3
[ -f "$base" ] || { echo "mkguestroot: base initramfs $base missing" >&2; exit 1; }

# Programs by name, from PATH: what tests/vm scripts and users run in a nested guest.
programs=(bash sh cat dmesg lspci ip rdma grep sed awk uname timeout setsid mkfifo rm ls head tail wc sleep
  xargs dirname basename tr cut sort uniq env kill mount umount md5sum true false mkdir cp mv ln chmod
  date stat find tee touch seq od hexdump cmp diff readlink realpath nproc test)
# These as busybox applets (in /usr/local/sbin, first in PATH): kmod's tools, procps and ss pull in
# libcrypto, libsystemd and Kerberos, a third of the image, which the guest kernel must unpack at boot.
# (Guest tests read listening sockets from /proc/net/tcp.)
applets=(insmod rmmod lsmod modprobe ps free)
# Whole packages: the unmodified RDMA tools and libraries.
packages=(ibverbs-utils rdmacm-utils perftest libibverbs1 librdmacm1)
# Of ibverbs-providers only the provider a hyv device binds to: it carries the host device's driver
# id, and the test host's device is rxe. libibverbs dlopens every provider /etc/libibverbs.d lists
# before it matches one; the 17 of them took 1.5-1.8 s of the 2.4 s of an `ibv_devices` in a nested guest.
# The guest's /init binds this directory over the shared root's (tools/vm-initramfs-init.sh).
providers=(/etc/libibverbs.d/rxe.driver
  "$(grep -h -m1 '/libibverbs/librxe-' /var/lib/dpkg/info/ibverbs-providers{,:*}.list 2>/dev/null || true)")
# The project's files the guest tests use, at their build-tree paths.
project=("$build/guest/virtio_hyv.ko" "$build/tests/vm/cmd_fuzz" "$build/tests/vm/qp_loop"
  "$build/tests/vm/mr_write")
data=(/etc/ld.so.cache /etc/passwd /etc/group /etc/nsswitch.conf /etc/hosts /etc/protocols /etc/services
  /usr/share/misc/pci.ids /etc/rdma)

programs_found=()
for p in "${programs[@]}"; do
  path=$(type -P "$p") || { echo "mkguestroot: program $p not found; install it (tools/bootstrap.sh)" >&2; exit 1; }
  programs_found+=("$path")
done
lists=()
for pkg in "${packages[@]}"; do
  list=$(ls /var/lib/dpkg/info/"$pkg".list /var/lib/dpkg/info/"$pkg":*.list 2>/dev/null | head -n 1) ||
    true
  [ -n "$list" ] || { echo "mkguestroot: package $pkg not installed (tools/bootstrap.sh)" >&2; exit 1; }
  lists+=("$list")
done
present=()
for f in "${project[@]}" "${data[@]}"; do [ -e "$f" ] && present+=("$f"); done
for f in "${providers[@]}"; do
  [ -e "$f" ] || { echo "mkguestroot: rxe's provider (${f:-librxe}) missing; install ibverbs-providers (tools/bootstrap.sh)" >&2; exit 1; }
  present+=("$f")
done
# What decides the image, cheaply: the inputs' times and sizes (a package's file list changes with it,
# ld.so.cache with any library installed), not the ldd walk below.
manifest=$(stat -L -c '%n %Y %s' -- "${programs_found[@]}" "${lists[@]}" "${present[@]}" "$base" "$0")
if [ -f "$out" ] && [ -f "$out.manifest" ] && [ "$manifest" = "$(cat "$out.manifest")" ]; then
  exit 0
fi

files=("${programs_found[@]}" "${present[@]}")
for list in "${lists[@]}"; do
  while read -r f; do [ -f "$f" ] && files+=("$f"); done < <(grep -v '^/usr/share/\(doc\|man\|lintian\)/' "$list")
done
# Libraries: every ELF file's dependencies (ldd resolves them the way the guest's loader will).
elves=()
for f in "${files[@]}"; do
  [ -f "$f" ] && { [ -x "$f" ] || [[ $f == *.so* ]]; } && elves+=("$f")
done
# One ldd for all: its per-file headers are the unindented lines; "not a dynamic executable" is fine.
mapfile -t libs < <(ldd "${elves[@]}" 2>/dev/null | grep -o $'^\t.*/[^ ]*' | grep -o '/[^ ]*' || true)
files+=("${libs[@]}")

# Each path as the guest looks it up: the file at its real path, and any symlink on the way to it
# (Debian's /bin -> usr/bin, libfoo.so.1 -> libfoo.so.1.2.3) as a link.
mapfile -t files < <(printf '%s\n' "${files[@]}" | sort -u)
mapfile -t reals < <(realpath -- "${files[@]}")

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
root=$work/image
mkdir -p "$root"
for link in bin sbin lib lib64; do
  [ -L "/$link" ] && ln -s "$(readlink "/$link")" "$root/$link"
done
for i in "${!files[@]}"; do
  f=${files[$i]} real=${reals[$i]}
  if [ -d "$real" ]; then
    mkdir -p "$root$real" && cp -a "$real/." "$root$real/"
  else
    mkdir -p "$root$(dirname "$real")" && cp -a "$real" "$root$real"
  fi
  # The name the guest uses, if it is a symlink in a real directory (a library's SONAME link).
  named=$(realpath "$(dirname "$f")")/$(basename "$f")
  if [ "$named" != "$real" ] && [ -L "$named" ] && [ ! -e "$root$named" ]; then
    mkdir -p "$root$(dirname "$named")" && cp -P "$named" "$root$named"
  fi
done
install -D -m 0755 /bin/busybox "$root/usr/local/lib/hyv/busybox"
mkdir -p "$root/usr/local/sbin"
for a in "${applets[@]}"; do ln -s ../lib/hyv/busybox "$root/usr/local/sbin/$a"; done
# The guest module without its debug sections: 3.4 MB to unpack and read at insmod, 0.3 MB stripped.
for ko in "$root$build"/guest/*.ko; do [ -f "$ko" ] && strip --strip-debug "$ko"; done
{ cat "$base"; (cd "$work" && find image -print0 | cpio --null -o -H newc --quiet); } > "$out.tmp"
mv "$out.tmp" "$out"
printf '%s\n' "$manifest" > "$out.manifest"
