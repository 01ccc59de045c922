#!/bin/bash
# Stage 2 of the hyv test VM, PID 1 on the build machine's / (9p; a tmpfs overlay in the test host).
# Role "host" (the test host): Soft-RoCE, VFIO/mdev and the project's host module.
# Role "guest" (a nested guest started inside the test host): plain system.
# Then serve the command agent on the virtio-serial port "hyv.agent" (protocol: tools/vm.sh).
set -u
export PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root LANG=C.UTF-8

console() { echo "hyv-init: [$(cut -d" " -f1 /proc/uptime)] $*" > /dev/console; }
die() { console "FATAL: $*"; echo o > /proc/sysrq-trigger; sleep 10; }
param() { sed -n "s/.*hyv\.$1=\([^ ]*\).*/\1/p" /proc/cmdline; }

mount -t proc proc /proc
mount -t sysfs sysfs /sys
mountpoint -q /dev || mount -t devtmpfs devtmpfs /dev
mkdir -p /dev/pts /dev/shm && mount -t devpts devpts /dev/pts && mount -t tmpfs tmpfs /dev/shm
mount -t tmpfs tmpfs /run
mount -t tmpfs tmpfs /tmp
if [ "$(param overlay)" = 0 ]; then
  for d in /var/tmp /var/log /root; do
    mount -t tmpfs tmpfs "$d"
  done
fi
mount -t debugfs debugfs /sys/kernel/debug 2>/dev/null
ln -sf /proc/self/fd /dev/fd

# No udev here: load the drivers of the devices tools/vm.sh gives every VM.
for m in virtio_net virtio_console; do
  modprobe "$m" || console "warning: modprobe $m failed"
done

console "stage 2 started"
role=$(param role)
build=$(param build)
hostname "hyv-$role"
ip link set lo up
if ip link show eth0 >/dev/null 2>&1; then
  ip addr add 10.0.2.15/24 dev eth0
  ip link set eth0 up
  ip route add default via 10.0.2.2
fi

if [ "$role" = host ]; then
  for m in crc32_generic rdma_rxe ib_uverbs rdma_ucm vfio vfio_iommu_type1 vfio_pci_core mdev; do
    modprobe "$m" 2>/dev/null || console "warning: modprobe $m failed"
  done
  if [ "$(param hyvmod)" != 0 ]; then
    insmod "$build/host-modules/hyv_mdev.ko" || die "insmod $build/host-modules/hyv_mdev.ko failed"
  fi
  rdma link add rxe0 type rxe netdev eth0 || die "rdma link add rxe0 failed"
fi

if [ "$(param shell)" = 1 ]; then
  console "shell: exit to power off"
  setsid -c bash -l </dev/ttyS0 >/dev/ttyS0 2>&1
  echo o > /proc/sysrq-trigger
  sleep 10
fi

port=
for p in /sys/class/virtio-ports/*; do
  [ "$(cat "$p/name" 2>/dev/null)" = hyv.agent ] && port=/dev/$(basename "$p")
done
[ -n "$port" ] || die "no virtio-serial port named hyv.agent"

exec 3<>"$port"
console "HYV-AGENT-READY role=$role"
while true; do
  # read fails while the host side is not connected; wait for the next client.
  if ! IFS=' ' read -r id limit script <&3; then
    sleep 0.2
    continue
  fi
  [ -n "${script:-}" ] || continue
  out=$(mktemp) err=$(mktemp)
  printf '%s' "$script" | base64 -d > "$out.sh"
  timeout -k 5 "$limit" bash "$out.sh" </dev/null >"$out" 2>"$err"
  rc=$?
  {
    printf '%s stdout %s\n' "$id" "$(base64 -w0 < "$out")"
    printf '%s stderr %s\n' "$id" "$(base64 -w0 < "$err")"
    printf '%s rc %s\n' "$id" "$rc"
  } >&3
  rm -f "$out" "$err" "$out.sh"
done
