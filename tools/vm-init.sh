#!/bin/bash
# Stage 2 of the hyv test host VM: PID 1 on a tmpfs overlay of the build machine's / (see vm-initramfs-init.sh).
# Brings up Soft-RoCE, VFIO/mdev and the project's host module, then serves the command agent.
set -u
export PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root LANG=C.UTF-8
. "$(dirname "$0")/vm-agent.sh"

mount -t proc proc /proc
mount -t sysfs sysfs /sys
mkdir -p /dev/pts /dev/shm && mount -t devpts devpts /dev/pts && mount -t tmpfs tmpfs /dev/shm
# /tmp stays on the overlay (already writable): the checkout or build dir may live under it.
mount -t tmpfs tmpfs /run
mount -t debugfs debugfs /sys/kernel/debug 2>/dev/null
ln -sf /proc/self/fd /dev/fd
hyv_console "stage 2"

build=$(hyv_param build)
hostname hyv-host
# No udev here: load the drivers of the devices tools/vm.sh gives every VM, then the host stack.
for m in virtio_net virtio_console crc32_generic rdma_rxe ib_uverbs rdma_ucm vfio vfio_iommu_type1 mdev; do
  modprobe "$m" || hyv_console "warning: modprobe $m failed"
done
ip link set lo up
ip addr add 10.0.2.15/24 dev eth0
ip link set eth0 up
ip route add default via 10.0.2.2
if [ "$(hyv_param hyvmod)" != 0 ]; then
  insmod "$build/host-modules/hyv_mdev.ko" || hyv_die "insmod $build/host-modules/hyv_mdev.ko failed"
fi
rdma link add rxe0 type rxe netdev eth0 || hyv_die "rdma link add rxe0 type rxe netdev eth0 failed"

[ "$(hyv_param shell)" = 1 ] && hyv_shell /
hyv_agent / "$build/vm/hyv-agent"
