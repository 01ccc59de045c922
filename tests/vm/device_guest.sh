#!/bin/bash
# Two instances on one parent (rxe0), each cold-plugged into its own nested guest (which first answers
# a command run from the shared root, the nested-guest smoke check) as
# vfio-pci,sysfsdev=...: both guests list the function with the hyv IDs and the guest driver logs the
# host GUID that ibv_devinfo shows on the test host. Then both guests stop and every counter of the
# parent goes back to its baseline.
source "$(dirname "$0")/device_lib.sh"
require_host

guid=$(ibv_guid rxe0)
[ -n "$guid" ] || fail "no node_guid from ibv_devinfo -d rxe0"
ids=$(printf '1af4:%04x' $((0x1040 + 63)))

dmesg_mark
baseline_mdevs=$(mdev_count)
uuid_a=$(mdev_create rxe0)
uuid_b=$(mdev_create rxe0)
[ "$(cat "$(parent_dir rxe0)/live_instances")" = 2 ] || fail "parent live_instances != 2 with two instances"

# Two nested guests at once: 1 GiB each fits the test host's memory; boots run in parallel.
log "booting guests ga ($uuid_a) and gb ($uuid_b)"
guest_start ga --mem 1024 --qemu-arg -device --qemu-arg "vfio-pci,sysfsdev=/sys/bus/mdev/devices/$uuid_a" &
pid_a=$!
guest_start gb --mem 1024 --qemu-arg -device --qemu-arg "vfio-pci,sysfsdev=/sys/bus/mdev/devices/$uuid_b" &
pid_b=$!
wait "$pid_a" || fail "guest ga did not boot"
wait "$pid_b" || fail "guest gb did not boot"
started_guests=(ga gb)

# The nested guest runs the shared root's programs (bash here) on the test host's kernel, and its
# answer comes back through both levels.
answer=$(guest_exec ga bash -c 'echo "role=$(sed -n "s/.*hyv\.role=\([a-z]*\).*/\1/p" /proc/cmdline) product=$((6 * 7)) kernel=$(uname -r)"')
[ "$answer" = "role=guest product=42 kernel=$(uname -r)" ] || fail "nested guest ga answered '$answer'"
log "guest ga: $answer"

for g in ga gb; do
  guest_load_driver "$g"
  guest_exec "$g" lspci -nn > "$work/lspci.$g"
  grep -q "\[$ids\]" "$work/lspci.$g" || { cat "$work/lspci.$g"; fail "guest $g lspci -nn has no [$ids]"; }
  log "guest $g: $(grep "\[$ids\]" "$work/lspci.$g")"
  guest_exec "$g" dmesg > "$work/dmesg.$g"
  grep -q "virtio_hyv: host device GUID $guid " "$work/dmesg.$g" ||
    { grep -i hyv "$work/dmesg.$g"; fail "guest $g has no 'virtio_hyv: host device GUID $guid' line"; }
  log "guest $g: $(grep 'virtio_hyv: host device GUID' "$work/dmesg.$g")"
done

for u in "$uuid_a" "$uuid_b"; do
  [ "$(counter "$u" trapped_reads)" -gt 0 ] || fail "instance $u saw no trapped reads"
  [ "$(counter "$u" interrupts)" -ge 0 ] || fail "instance $u has no interrupts counter"
  [ "$(counter "$u" bad_accesses)" = 0 ] || fail "instance $u counted $(counter "$u" bad_accesses) bad accesses from a well-behaved guest"
done
assert_kernel_clean

cleanup_guests
mdev_remove "$uuid_a"
mdev_remove "$uuid_b"
[ "$(mdev_count)" = "$baseline_mdevs" ] || fail "mdev count $(mdev_count) != baseline $baseline_mdevs"
[ "$(live_instances)" = 0 ] || fail "live_instances $(live_instances) after removal"
assert_kernel_clean
log "PASS device_guest"
