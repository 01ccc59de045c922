#!/bin/bash
# The hyv_mdev instance as the test host sees it, no nested guest:
# - the mdev type's sysfs files (name, description naming the host device, device_api);
# - garbage through the vfio device fd of an instance (tests/vm/device_fuzz.c), then: no oops or warning
#   in the kernel log, the instance still answers with the host device's identity, wild accesses were
#   counted, nothing leaked; rmmod with a live instance is refused;
# - available_instances against max_instances: instances up to the limit, one more is refused;
# - removing an mdev that its user (device_fuzz hold, playing QEMU) still holds: the removal waits, the
#   request interrupt asks the holder to let go, and once it closed the device the removal completes.
source "$(dirname "$0")/device_lib.sh"
require_host

fuzz=${1:-$build/tests/vm/device_fuzz}
[ -x "$fuzz" ] || fail "$fuzz not built (ninja -C $build tests/vm/device_fuzz)"
guid=$(ibv_guid rxe0)
[ -n "$guid" ] || fail "no node_guid from ibv_devinfo -d rxe0"
[ "$(cat "$(parent_dir rxe0)/node_guid")" = "$guid" ] ||
  fail "/sys/class/hyv/rxe0/node_guid $(cat "$(parent_dir rxe0)/node_guid") != ibv_devinfo $guid"
ports=$(ibv_devinfo -d rxe0 | awk '/phys_port_cnt/ {print $2}')
[ "$ports" = 1 ] || fail "ibv_devinfo -d rxe0 phys_port_cnt '$ports', expected 1"
uverbs_abi=
for d in /sys/class/infiniband_verbs/uverbs*; do
  [ "$(cat "$d/ibdev" 2>/dev/null)" = rxe0 ] && uverbs_abi=$(cat "$d/abi_version")
done
[ -n "$uverbs_abi" ] || fail "no /sys/class/infiniband_verbs/uverbs*/ for rxe0"
identity=("$uverbs_abi" "$ports" rxe0) # device_fuzz's expected device config after GUID and seed

# The mdev type: what an operator (and libvirt, mdevctl) reads before creating anything.
type_dir=$(parent_dir rxe0)/mdev_supported_types/$mdev_type
[ -d "$type_dir" ] || fail "no mdev type $type_dir"
type_name=$(cat "$type_dir/name") || fail "cannot read $type_dir/name"
[ "$type_name" = "$mdev_type" ] || fail "$type_dir/name is '$type_name'"
description=$(cat "$type_dir/description") || fail "cannot read $type_dir/description"
for want in "host device rxe0" "node_guid $guid" "$ports port"; do
  grep -qF -- "$want" <<<"$description" || fail "description '$description' does not say '$want'"
done
grep -qE 'driver_id [0-9]+' <<<"$description" || fail "description '$description' has no driver_id"
[ "$(cat "$type_dir/device_api")" = vfio-pci ] || fail "device_api is '$(cat "$type_dir/device_api")'"
log "mdev type $mdev_type: name '$type_name', description '$description'"

dmesg_mark
baseline_mdevs=$(mdev_count) baseline_refcnt=$(module_refcnt) baseline_live=$(live_instances)
baseline_parent_live=$(cat "$(parent_dir rxe0)/live_instances")
max=$(cat /sys/module/hyv_mdev/parameters/max_instances)
available() { cat "$type_dir/available_instances"; }
parent_live() { cat "$(parent_dir rxe0)/live_instances"; }
[ "$(available)" = $((max - baseline_parent_live)) ] ||
  fail "available_instances $(available) != max_instances $max - live $baseline_parent_live"

uuid=$(mdev_create rxe0)
log "fuzzing mdev $uuid (node_guid $guid, uverbs abi $uverbs_abi, $ports port(s))"

"$fuzz" "$uuid" "$(guid_hex "$guid")" "$RANDOM" "${identity[@]}" || fail "device_fuzz reported failures"
assert_kernel_clean
[ "$(counter "$uuid" bad_accesses)" -gt 0 ] || fail "bad_accesses stayed 0 after fuzzing"
[ "$(counter "$uuid" trapped_writes)" -gt 0 ] || fail "trapped_writes stayed 0 after fuzzing"
[ "$(counter "$uuid" interrupts)" -ge 2 ] || fail "interrupts < 2 after loopback triggers"
[ "$(cat "/sys/bus/mdev/devices/$uuid/hyv/state")" = live ] || fail "instance not live after fuzzing"
log "counters: reads $(counter "$uuid" trapped_reads) writes $(counter "$uuid" trapped_writes)" \
  "bad $(counter "$uuid" bad_accesses) interrupts $(counter "$uuid" interrupts)"

# A second open after the fuzzer closed must start clean and still work.
"$fuzz" "$uuid" "$(guid_hex "$guid")" 1 "${identity[@]}" >/dev/null || fail "second device_fuzz run failed"

# Module unload with a live instance must be refused.
if rmmod hyv_mdev 2>"$work/rmmod.err"; then
  fail "rmmod hyv_mdev succeeded with a live instance"
fi
log "rmmod with a live instance refused: $(cat "$work/rmmod.err")"

mdev_remove "$uuid"
[ "$(mdev_count)" = "$baseline_mdevs" ] || fail "mdev count $(mdev_count) != baseline $baseline_mdevs"
[ "$(live_instances)" = "$baseline_live" ] || fail "live_instances $(live_instances) after removal"
[ "$(module_refcnt)" = "$baseline_refcnt" ] || fail "module refcnt $(module_refcnt) != $baseline_refcnt"
assert_kernel_clean

# available_instances honours max_instances: fill the parent, one more create is refused.
[ "$(available)" = $((max - baseline_parent_live)) ] ||
  fail "available_instances $(available) after the fuzz instance went, expected $((max - baseline_parent_live))"
fill_start=$SECONDS
# No forks in the loops: under TCG on a busy machine each costs a good fraction of a second.
filled=() parent=$(parent_dir rxe0)
read -r plive <"$parent/live_instances"
while [ "$plive" -lt "$max" ]; do
  read -r before <"$type_dir/available_instances"
  read -r u </proc/sys/kernel/random/uuid
  echo "$u" >"$type_dir/create" || fail "creating instance $((${#filled[@]} + 1)) ($u) failed"
  filled+=("$u")
  [ -e "/sys/bus/mdev/devices/$u/hyv/trapped_reads" ] || fail "mdev $u has no hyv counters"
  read -r after <"$type_dir/available_instances"
  read -r plive <"$parent/live_instances"
  [ "$after" = $((before - 1)) ] ||
    fail "available_instances $after after creating instance ${#filled[@]}, expected $((before - 1))"
  [ "$after" = $((max - plive)) ] || fail "available_instances $after != max_instances $max - live $plive"
done
[ "$(available)" = 0 ] || fail "available_instances $(available) with $max live instances"
extra=$(cat /proc/sys/kernel/random/uuid)
if echo "$extra" >"$type_dir/create" 2>"$work/create.err"; then
  fail "creating instance $((max + 1)) succeeded (max_instances=$max)"
fi
log "create beyond max_instances=$max refused: $(sed 's/.*: //' "$work/create.err")"
dmesg_since_mark | grep -F "rxe0 already has max_instances=$max instances" ||
  fail "no 'already has max_instances=$max instances' line in dmesg"
[ ! -e "/sys/bus/mdev/devices/$extra" ] || fail "the refused mdev $extra exists"
[ "$(mdev_count)" = $((baseline_mdevs + ${#filled[@]})) ] ||
  fail "mdev count $(mdev_count) after the refused create, expected $((baseline_mdevs + ${#filled[@]}))"
[ "$(parent_live)" = "$max" ] || fail "parent live_instances $(parent_live) after the refused create"
for u in "${filled[@]}"; do
  read -r before <"$type_dir/available_instances"
  mdev_remove "$u"
  read -r after <"$type_dir/available_instances"
  [ "$after" = $((before + 1)) ] || fail "available_instances $after after removing $u, expected $((before + 1))"
done
[ "$(mdev_count)" = "$baseline_mdevs" ] || fail "mdev count $(mdev_count) != baseline $baseline_mdevs"
[ "$(live_instances)" = "$baseline_live" ] || fail "live_instances $(live_instances) != $baseline_live"
[ "$(available)" = $((max - baseline_parent_live)) ] || fail "available_instances $(available) at the end"
log "available_instances: $max instances created and removed, the one more refused ($((SECONDS - fill_start)) s)"

# Removing an mdev its user still holds (docs/device.md, "Host device removal"): the remove write blocks
# in VFIO, which signals the request irq; the holder (device_fuzz hold, QEMU's part) still has a working
# device, holds it 3 s and until our checks are done (a line on its stdin), closes it, and only then does
# the removal complete.
uuid=$(mdev_create rxe0)
devpath=$(readlink -f "/sys/bus/mdev/devices/$uuid")
live_with=$(live_instances) parent_live_with=$(parent_live) available_with=$(available)
mkfifo "$work/hold.in"
"$fuzz" hold "$uuid" 3 <"$work/hold.in" >"$work/hold.out" 2>&1 &
hold_pid=$!
exec {hold_in}>"$work/hold.in"
wait_for 60 "holder opened $uuid" "grep -q '^held' '$work/hold.out'"
# remove.rc appears once the write returned (a zombie would still pass kill -0).
(rc=0; echo 1 >"/sys/bus/mdev/devices/$uuid/remove" || rc=$?; echo $rc >"$work/remove.rc") 2>"$work/remove.err" &
remove_pid=$!
deadline=$((SECONDS + 60))
until grep -q '^request received' "$work/hold.out"; do
  ! grep -q '^device_fuzz' "$work/hold.out" || fail "holder failed: $(cat "$work/hold.out")"
  [ $SECONDS -lt $deadline ] || fail "no request interrupt reached the holder in 60 s: $(cat "$work/hold.out")"
  sleep 0.2
done
dmesg_since_mark | grep -F "$uuid: asking the user to release the device" ||
  fail "no 'asking the user to release the device' for $uuid in dmesg"
# The removal has started but must not complete under the holder: the write still blocks, the instance
# still counts (its slot is not free) and its device stays; only the bus link and the type's devices/
# entry go at once (mdev core removes them before the driver's remove callback).
[ ! -e "$work/remove.rc" ] || fail "the remove write returned ($(cat "$work/remove.rc")) while the device was held"
[ -d "$devpath" ] || fail "mdev device $devpath gone while the device was held"
[ "$(live_instances)" = "$live_with" ] || fail "live_instances $(live_instances) while held, expected $live_with"
[ "$(parent_live)" = "$parent_live_with" ] || fail "rxe0 live_instances $(parent_live) while held, expected $parent_live_with"
[ "$(available)" = "$available_with" ] || fail "available_instances $(available) while held, expected $available_with"
[ ! -e "/sys/bus/mdev/devices/$uuid" ] || fail "/sys/bus/mdev/devices/$uuid still there after the removal started"
[ ! -e "$type_dir/devices/$uuid" ] || fail "$type_dir/devices/$uuid still there after the removal started"
grep -q '^closing' "$work/hold.out" && fail "holder closed before it was told to"
sleep 1 # and a second later still
[ ! -e "$work/remove.rc" ] || fail "the remove write returned ($(cat "$work/remove.rc")) while the device was held"
grep -q '^still answering' "$work/hold.out" || fail "held instance did not answer: $(cat "$work/hold.out")"
log "removal of held $uuid waits: $(grep -E '^(request|still)' "$work/hold.out" | paste -sd ';')"
echo release >&"$hold_in"
exec {hold_in}>&-
wait "$hold_pid" || fail "holder failed: $(cat "$work/hold.out")"
wait_for 30 "the remove write to return after the holder closed" "[ -s '$work/remove.rc' ]"
wait "$remove_pid"
[ "$(cat "$work/remove.rc")" = 0 ] || fail "remove of $uuid failed after the holder closed: $(cat "$work/remove.err")"
[ ! -e "$devpath" ] || fail "mdev device $devpath still there after the removal"
[ "$(live_instances)" = "$baseline_live" ] || fail "live_instances $(live_instances) after the held removal"
[ "$(available)" = $((max - baseline_parent_live)) ] || fail "available_instances $(available) after the held removal"
log "held removal completed once the holder closed"

[ "$(mdev_count)" = "$baseline_mdevs" ] || fail "mdev count $(mdev_count) != baseline $baseline_mdevs"
[ "$(live_instances)" = 0 ] || fail "live_instances $(live_instances) after removal"
[ "$(module_refcnt)" = "$baseline_refcnt" ] || fail "module refcnt $(module_refcnt) != $baseline_refcnt"
assert_kernel_clean
log "PASS device_fuzz"
