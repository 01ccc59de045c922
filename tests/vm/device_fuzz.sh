#!/bin/bash
# Garbage through the vfio device fd of a hyv_mdev instance (tests/vm/device_fuzz.c), then: no oops or
# warning in the kernel log, the instance still answers, wild accesses were counted, nothing leaked.
source "$(dirname "$0")/device_lib.sh"
require_host

fuzz=${1:-$build/tests/vm/device_fuzz}
[ -x "$fuzz" ] || fail "$fuzz not built (ninja -C $build tests/vm/device_fuzz)"
guid=$(ibv_guid rxe0)
[ -n "$guid" ] || fail "no node_guid from ibv_devinfo -d rxe0"
[ "$(cat "$(parent_dir rxe0)/node_guid")" = "$guid" ] ||
  fail "/sys/class/hyv/rxe0/node_guid $(cat "$(parent_dir rxe0)/node_guid") != ibv_devinfo $guid"

dmesg_mark
baseline_mdevs=$(mdev_count) baseline_refcnt=$(module_refcnt)
uuid=$(mdev_create rxe0)
log "fuzzing mdev $uuid (node_guid $guid)"

"$fuzz" "$uuid" "$(guid_hex "$guid")" "$RANDOM" || fail "device_fuzz reported failures"
assert_kernel_clean
[ "$(counter "$uuid" bad_accesses)" -gt 0 ] || fail "bad_accesses stayed 0 after fuzzing"
[ "$(counter "$uuid" trapped_writes)" -gt 0 ] || fail "trapped_writes stayed 0 after fuzzing"
[ "$(counter "$uuid" interrupts)" -ge 2 ] || fail "interrupts < 2 after loopback triggers"
[ "$(cat "/sys/bus/mdev/devices/$uuid/hyv/state")" = live ] || fail "instance not live after fuzzing"
log "counters: reads $(counter "$uuid" trapped_reads) writes $(counter "$uuid" trapped_writes)" \
  "bad $(counter "$uuid" bad_accesses) interrupts $(counter "$uuid" interrupts)"

# A second open after the fuzzer closed must start clean and still work.
"$fuzz" "$uuid" "$(guid_hex "$guid")" 1 >/dev/null || fail "second device_fuzz run failed"

# Module unload with a live instance must be refused.
if rmmod hyv_mdev 2>"$work/rmmod.err"; then
  fail "rmmod hyv_mdev succeeded with a live instance"
fi
log "rmmod with a live instance refused: $(cat "$work/rmmod.err")"

mdev_remove "$uuid"
[ "$(mdev_count)" = "$baseline_mdevs" ] || fail "mdev count $(mdev_count) != baseline $baseline_mdevs"
[ "$(live_instances)" = 0 ] || fail "live_instances $(live_instances) after removal"
[ "$(module_refcnt)" = "$baseline_refcnt" ] || fail "module refcnt $(module_refcnt) != $baseline_refcnt"
assert_kernel_clean
log "PASS device_fuzz"
