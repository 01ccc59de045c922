#!/bin/sh
# /init of the hyv test VM initramfs: mount the build machine's / (virtio-9p tag "host") read-only, put a tmpfs
# overlay on it so the system is writable, and switch to the stage-2 script named on the kernel command line.
/bin/busybox --install -s /bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev

fail() {
  echo "hyv-init: $*" > /dev/console
  echo o > /proc/sysrq-trigger
  sleep 10
}

while read -r mod; do
  insmod "/lib/modules/$mod" || fail "cannot load $mod"
done < /modules.load

param() { sed -n "s/.*hyv\.$1=\([^ ]*\).*/\1/p" /proc/cmdline; }
stage2=$(param stage2)
echo "hyv-init: [$(cut -d' ' -f1 /proc/uptime)] initramfs" > /dev/console
if [ "$(param overlay)" = 0 ]; then
  # Nested guests skip the overlay: every overlay lookup is several more 9p round trips through two
  # levels of emulation; stage 2 puts tmpfs where a guest writes.
  mount -t 9p -o trans=virtio,version=9p2000.L,ro,msize=512000,cache=loose host /newroot || fail "cannot mount 9p tag host"
else
  mount -t 9p -o trans=virtio,version=9p2000.L,ro,msize=512000,cache=loose host /lower || fail "cannot mount 9p tag host"
  mount -t tmpfs -o mode=0755 tmpfs /upper || fail "cannot mount tmpfs"
  mkdir -p /upper/data /upper/work
  mount -t overlay overlay -o lowerdir=/lower,upperdir=/upper/data,workdir=/upper/work /newroot || fail "cannot mount overlay"
fi
[ -x "/newroot$stage2" ] || fail "stage 2 script $stage2 not found in the shared root"
umount /proc /sys
mount --move /dev /newroot/dev
exec switch_root /newroot "$stage2"
