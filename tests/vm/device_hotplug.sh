#!/bin/bash
# Live hot-add and hot-remove of a hyv_mdev instance over QMP in a running nested guest, repeated
# (HYV_HOTPLUG_LOOPS, default 2) with a fresh mdev each time: the guest sees the function and its probe
# logs the host GUID, device_del ends with DEVICE_DELETED and the function gone from the guest, the mdev
# is removed, and counters, mdev count, module references and QEMU's fds come back to baseline.
# Then the host RDMA device is deleted under a hot-plugged instance: the guest is told (config
# interrupt), QEMU unplugs the function on VFIO's request, `rdma link delete` completes, no oops.
source "$(dirname "$0")/device_lib.sh"
require_host

loops=${HYV_HOTPLUG_LOOPS:-2}
guid=$(ibv_guid rxe0)
[ -n "$guid" ] || fail "no node_guid from ibv_devinfo -d rxe0"
ids=$(printf '1af4:%04x' $((0x1040 + 63)))

guest_has_function() { guest_exec "$gh" sh -c "lspci -nn | grep -q '\[$ids\]'"; }
# One guest round trip per poll: nested guests answer slowly on a busy machine.
guest_probed() { # N: function listed and at least N probe lines with the host GUID since the start
  guest_exec "$gh" sh -c "lspci -nn | grep -q '\[$ids\]' &&
    [ \$(dmesg | grep -c 'virtio_hyv: host device GUID $guid ') -ge $((probes_before + $1)) ]"
}
guest_told_gone() { guest_exec "$gh" sh -c "dmesg | grep -q 'host RDMA device is gone'"; }
hotplug_wait_limit=${HYV_GUEST_WAIT:-600}
hotplug_wait() { # WHAT CMD...
  local what=$1; shift
  local deadline=$((SECONDS + hotplug_wait_limit))
  until "$@"; do
    [ $SECONDS -lt $deadline ] || fail "timed out after ${hotplug_wait_limit}s waiting for: $what"
    sleep 2
  done
}
deleted_at_least() { [ "$(qmp_event_count DEVICE_DELETED "$1")" -ge "$2" ]; }
qemu_fds() { ls "/proc/$(cat "$("$vm" path "$gh")/pid")/fd" | wc -l; }

dmesg_mark
baseline_mdevs=$(mdev_count) baseline_refcnt=$(module_refcnt)
use_guest gh
gh=$guest
probes_before=$(guest_exec "$gh" dmesg | grep -c "virtio_hyv: host device GUID $guid " || true)
qmp_open "$("$vm" path "$gh")/qmp2.sock"

fds_after_first=
for i in $(seq "$loops"); do
  uuid=$(mdev_create rxe0)
  hotplug_add hyv0 "$uuid" hp0
  hotplug_wait "guest lists [$ids] and logs probe #$i after device_add" guest_probed "$i"
  reads=$(counter "$uuid" trapped_reads)
  [ "$reads" -gt 0 ] || fail "no trapped reads although the guest probed instance $uuid"

  qmp '{"execute":"device_del","arguments":{"id":"hyv0"}}'
  hotplug_wait "DEVICE_DELETED for hyv0 #$i" deleted_at_least hyv0 "$i"
  if guest_has_function; then fail "guest still lists [$ids] after DEVICE_DELETED #$i"; fi
  [ "$(counter "$uuid" bad_accesses)" = 0 ] || fail "the guest driver made $(counter "$uuid" bad_accesses) bad accesses"

  mdev_remove "$uuid"
  [ "$(mdev_count)" = "$baseline_mdevs" ] || fail "mdev count $(mdev_count) != baseline $baseline_mdevs after loop $i"
  [ "$(live_instances)" = 0 ] || fail "live_instances $(live_instances) after loop $i"
  [ "$(module_refcnt)" = "$baseline_refcnt" ] || fail "module refcnt $(module_refcnt) != $baseline_refcnt after loop $i"
  fds=$(qemu_fds)
  fds_after_first=${fds_after_first:-$fds}
  [ "$fds" -le "$fds_after_first" ] || fail "QEMU holds $fds fds after loop $i, $fds_after_first after loop 1 (eventfd leak?)"
  log "loop $i/$loops ok (instance $uuid: $reads trapped reads)"
done
assert_kernel_clean

log "deleting rxe0 under a hot-plugged instance"
uuid=$(mdev_create rxe0)
hotplug_add hyv1 "$uuid" hp1
hotplug_wait "guest probes the function before rxe0 goes" guest_probed $((loops + 1))
rdma link delete rxe0 &
delete_pid=$!
hotplug_wait "guest told that the host device is gone" guest_told_gone
hotplug_wait "QEMU unplugging the function on VFIO's request" deleted_at_least hyv1 1
wait "$delete_pid" || fail "rdma link delete rxe0 failed"
[ ! -e /sys/class/hyv/rxe0 ] || fail "/sys/class/hyv/rxe0 still there after rxe0 was deleted"
[ "$(live_instances)" = 0 ] || fail "live_instances $(live_instances) after rxe0 was deleted"
[ "$(mdev_count)" = "$baseline_mdevs" ] || fail "mdev $uuid still there after rxe0 was deleted"
[ "$(module_refcnt)" = "$baseline_refcnt" ] || fail "module refcnt $(module_refcnt) != $baseline_refcnt"
assert_kernel_clean
rdma link add rxe0 type rxe netdev eth0 || fail "rdma link add rxe0 failed"
wait_for 30 "parent for the re-added rxe0" "[ -e /sys/class/hyv/rxe0/node_guid ]"
log "PASS device_hotplug"
