#!/bin/bash
# The command channel without a nested guest: cmd_fuzz opens an instance the way QEMU does, maps its
# own page into the VFIO container as "guest RAM" and sends well-formed and malformed commands
# through the BAR0 control registers (tests/vm/cmd_fuzz.c). Then: every malformed command rejected
# with its errno and counted, no oops or warning, and no host context or PD left once the process
# (our "QEMU") closed the device. Queue mapping: CQ and QP rings created through the channel are read
# through the process's own BAR2 mapping, disappear from it on destroy and context close, and BAR2
# runs out with ENOSPC; no CQ or QP is left on the host afterwards. Memory registration: shared
# (memfd) "guest RAM" registered in place; anonymous RAM, a ramfs file's page cache (not shmem), a
# page listed twice and malformed registrations refused; the quotas (quota/ in sysfs) enforced and
# back to zero; no MR left on the host. Device resets (virtio status 0 as a rebooting guest writes
# it, VFIO_DEVICE_RESET as QEMU's system_reset issues it) release every host object the "guest" held.
# The rdma_cm relay (tests/vm/cmd_fuzz_cm.c): malformed and random rdma_ucm commands, no CM ID left
# once the device is closed. A GID table of the guest's own (SET_GID, tests/vm/cmd_fuzz_ah.c): malformed
# entries and a GID that is not the instance's refused, and source GID indices that follow the table.
# The second run binds the instance to a network identity (a macvlan with its own address,
# docs/network.md): cmd_fuzz sees exactly the macvlan's GIDs, and a source GID index past them is
# refused and counted in hyv/gid_refusals; so are rdma_cm binds and listens outside the identity, and a
# wildcard bind becomes the identity's address.
# Last, the race run (cmd_fuzz race, tests/vm/cmd_fuzz_race.c): doorbell threads, an object
# creator/destroyer and a guest-RAM unmapper/BAR2 remapper at once; then no oops or warning, nothing
# counted or pinned, no host object left, and the instance still serves.
# The long run (docs/device.md): HYV_FUZZ_RACE_SECONDS (default 20) and CMD_FUZZ_COMMANDS (random
# commands per run, default 3000), e.g.
#   tools/vm.sh run --timeout 14400 -- env CMD_FUZZ_COMMANDS=1000000 HYV_FUZZ_RACE_SECONDS=900 \
#     tests/vm/control_channel.sh build/tests/vm/cmd_fuzz
source "$(dirname "$0")/device_lib.sh"
require_host

fuzz=${1:-$build/tests/vm/cmd_fuzz}
[ -x "$fuzz" ] || fail "$fuzz not built (ninja -C $build tests/vm/cmd_fuzz)"
dmesg_mark
base_ctx=$(host_res ctx) base_pd=$(host_res pd) base_cq=$(host_res cq) base_qp=$(host_res qp) base_mr=$(host_res mr)
uuid=$(mdev_create rxe0)
link=hyvfz
netdev=$(rdma link show rxe0/1 | grep -o 'netdev [^ ]*' | awk '{print $2}')
ramfs=$work/ramfs
mkdir -p "$ramfs"
mount -t ramfs ramfs "$ramfs"
trap 'umount "$ramfs" 2>/dev/null || true; ip link del "$link" 2>/dev/null || true; cleanup' EXIT
assert_host_objects_back() { # AFTER_WHAT
  [ "$(host_res ctx)" = "$base_ctx" ] && [ "$(host_res pd)" = "$base_pd" ] &&
    [ "$(host_res cq)" = "$base_cq" ] && [ "$(host_res qp)" = "$base_qp" ] && [ "$(host_res mr)" = "$base_mr" ] ||
    fail "host objects left after $1: ctx $(host_res ctx) pd $(host_res pd) cq $(host_res cq) qp $(host_res qp) mr $(host_res mr)"
}
own_gids() { grep -lx "$link" /sys/class/infiniband/rxe0/ports/1/gid_attrs/ndevs/* 2>/dev/null | wc -l; }

for run in 1 2; do
  if [ "$run" = 2 ]; then
    ip link add "$link" link "$netdev" type macvlan mode bridge
    # IPv4 only: IPv6 GIDs (link-local, router-advertised) would come and go at their own pace.
    sysctl -qw "net.ipv6.conf.$link.disable_ipv6=1"
    ip addr add 10.77.9.5/24 dev "$link"
    ip link set "$link" up
    wait_for 60 "rxe0 GIDs of $link's 10.77.9.5" "grep -qx 0000:0000:0000:0000:0000:ffff:0a4d:0905 /sys/class/infiniband/rxe0/ports/1/gids/*"
    mdev_identity "$uuid" "$link"
    refusals=$(counter "$uuid" gid_refusals)
  fi
  CMD_FUZZ_RAMFS=$ramfs "$fuzz" vfio "$uuid" "$RANDOM" > "$work/fuzz.$run" 2>&1 || { cat "$work/fuzz.$run"; fail "cmd_fuzz run $run failed"; }
  cat "$work/fuzz.$run"
  assert_kernel_clean
  assert_host_objects_back "cmd_fuzz run $run closed the device"
  grep -q 'cmd_fuzz: CQ .* ring at BAR2' "$work/fuzz.$run" || fail "cmd_fuzz run $run did not map a CQ ring"
  grep -q '^cmd_fuzz: REG_MR of 8 scattered pages: handle' "$work/fuzz.$run" || fail "cmd_fuzz run $run registered no MR"
  [ "$(grep -c '^cmd_fuzz: .* released the context, its PD and its MR' "$work/fuzz.$run")" = 2 ] ||
    fail "cmd_fuzz run $run did not check both device resets"
  for res in pds cqs qps mrs pinned_bytes cm_ids; do
    [ "$(cat "/sys/bus/mdev/devices/$uuid/quota/$res")" = 0 ] ||
      fail "quota/$res $(cat "/sys/bus/mdev/devices/$uuid/quota/$res") after the device was closed"
  done
  [ "$(counter "$uuid" window_pages)" = 0 ] || fail "BAR2 pages $(counter "$uuid" window_pages) still used after the device was closed"
  grep -q '^cmd_fuzz: rdma_cm relay checked' "$work/fuzz.$run" || fail "cmd_fuzz run $run did not check the rdma_cm relay"
  grep -q '^cmd_fuzz: guest GID table: foreign GID refused' "$work/fuzz.$run" ||
    fail "cmd_fuzz run $run did not check a GID table of the guest's own"
  [ -z "$(rdma resource show cm_id | grep cmd_fuzz)" ] ||
    fail "CM IDs of cmd_fuzz left after the device was closed: $(rdma resource show cm_id | grep cmd_fuzz)"
  if [ "$run" = 2 ]; then
    grep -q '^cmd_fuzz: rdma_cm: addresses outside the identity refused; the wildcard bound as 0a4d0905, the IPv6 wildcard as IPv4 0a4d0905:7399' "$work/fuzz.2" ||
      fail "cmd_fuzz did not check rdma_cm's addresses against the identity"
    grep -qx "cmd_fuzz: the instance sees $(own_gids) GIDs" "$work/fuzz.2" ||
      fail "cmd_fuzz did not see exactly the $(own_gids) GIDs of $link"
    [ "$(counter "$uuid" gid_refusals)" -gt "$refusals" ] || fail "gid_refusals did not count the GID indices past the identity"
    log "identity $link: cmd_fuzz saw its $(own_gids) GIDs; gid_refusals $(counter "$uuid" gid_refusals)"
  fi
done
race_seconds=${HYV_FUZZ_RACE_SECONDS:-20}
"$fuzz" race "$uuid" "$race_seconds" "$RANDOM" > "$work/fuzz.race" 2>&1 || { cat "$work/fuzz.race"; fail "cmd_fuzz race failed"; }
cat "$work/fuzz.race"
assert_kernel_clean
assert_host_objects_back "the race run"
[ "$(counter "$uuid" window_pages)" = 0 ] || fail "BAR2 pages $(counter "$uuid" window_pages) still used after the race run"
log "race run: $(grep -o 'race for .*' "$work/fuzz.race")"

[ "$(counter "$uuid" commands)" -gt 6000 ] || fail "commands counter $(counter "$uuid" commands) < 6000"
[ "$(counter "$uuid" command_errors)" -gt 20 ] || fail "command_errors $(counter "$uuid" command_errors) <= 20"
[ "$(counter "$uuid" bad_accesses)" -ge 4 ] || fail "bad_accesses $(counter "$uuid" bad_accesses) < 4 (bad doorbell, read-only write)"
log "counters: commands $(counter "$uuid" commands) command_errors $(counter "$uuid" command_errors) bad_accesses $(counter "$uuid" bad_accesses)"

mdev_remove "$uuid"
ip link del "$link"
[ "$(own_gids)" = 0 ] || fail "GIDs of $link left on rxe0 after it was deleted"
[ "$(live_instances)" = 0 ] || fail "live_instances $(live_instances) after removal"
assert_kernel_clean
log "PASS control_channel"
