#!/bin/sh
# /init of the hyv test VM initramfs. The build machine's / arrives read-only over virtio-9p (tag "host").
# Test host: a tmpfs overlay on it, then switch to stage 2 (tools/vm-init.sh, bash, from the shared root).
# Nested guest: everything stays here in busybox, because every exec from the shared root costs seconds
# under two levels of emulation; commands still run in a chroot of the shared root.
# The busybox applet links are in the image already (tools/mkinitramfs.sh).
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
. /agent.sh
hyv_console "initramfs"

while read -r mod; do
  insmod "/lib/modules/$mod" || hyv_die "cannot load $mod"
done < /modules.load
hyv_console "modules loaded"

ninep="-t 9p -o trans=virtio,version=9p2000.L,ro,msize=512000,cache=loose host"
role=$(hyv_param role)

if [ "$role" = guest ]; then
  while read -r mod; do
    insmod "/lib/modules/$mod" || hyv_die "cannot load $mod"
  done < /modules.guest
  hyv_console "RDMA core loaded"
  hyv_fork_point
  # The shared root stays visible at /lower so the checkout and build dir can be bound back in
  # when they live under a directory that gets a tmpfs here (CI may clone into /tmp).
  mount $ninep /lower || hyv_die "cannot mount 9p tag host"
  if [ -d /image ]; then
    # The guest root image (tools/mkguestroot.sh) over the shared root: what the tests run is read
    # from RAM, everything else still from the shared root.
    mount -t overlay overlay -o ro,lowerdir=/image:/lower /newroot || hyv_die "cannot mount the guest root overlay"
    # libibverbs sees only the providers the image has (tools/mkguestroot.sh says why).
    mount --bind /image/etc/libibverbs.d /newroot/etc/libibverbs.d ||
      hyv_die "cannot bind the image's /etc/libibverbs.d"
    hyv_console "root: image over the shared root"
  else
    mount --bind /lower /newroot
  fi
  mount -t proc proc /newroot/proc
  mount -t sysfs sysfs /newroot/sys
  mount -t devtmpfs devtmpfs /newroot/dev
  mkdir -p /newroot/dev/pts && mount -t devpts devpts /newroot/dev/pts
  mount -t debugfs debugfs /newroot/sys/kernel/debug 2>/dev/null
  # The checkout and build dir may live under a directory that gets a tmpfs here (CI may clone into
  # /tmp): they are held aside and moved back in on top of it.
  i=0 kept=
  for p in $(hyv_param repo) $(hyv_param build); do
    i=$((i + 1)); mkdir -p "/keep/$i"
    [ -d "/newroot$p" ] && mount --bind "/newroot$p" "/keep/$i" && kept="$kept $i:$p"
  done
  for d in /run /tmp /var/tmp /var/log /root; do
    mount -t tmpfs tmpfs "/newroot$d"
  done
  for k in $kept; do
    p=${k#*:}
    if [ ! -d "/newroot$p" ]; then
      mkdir -p "/newroot$p" && mount --move "/keep/${k%%:*}" "/newroot$p"
    fi
  done
  hostname hyv-guest
  ip link set lo up
  if ip link show eth0 >/dev/null 2>&1; then
    ip addr add 10.0.2.15/24 dev eth0
    ip link set eth0 up
    ip route add default via 10.0.2.2
  fi
  hyv_console "mounts and network up"
  [ "$(hyv_param shell)" = 1 ] && hyv_shell /newroot
  hyv_agent /newroot /hyv-agent
fi

mount $ninep /lower || hyv_die "cannot mount 9p tag host"
mount -t tmpfs -o mode=0755 tmpfs /upper || hyv_die "cannot mount tmpfs"
mkdir -p /upper/data /upper/work
mount -t overlay overlay -o lowerdir=/lower,upperdir=/upper/data,workdir=/upper/work /newroot \
  || hyv_die "cannot mount overlay"
stage2=$(hyv_param stage2)
[ -x "/newroot$stage2" ] || hyv_die "stage 2 script $stage2 not found in the shared root"
umount /proc /sys
mount --move /dev /newroot/dev
exec switch_root /newroot "$stage2"
