#!/bin/bash
# A nested guest answers a command run from the shared root (role, arithmetic, kernel version); then two
# instances on one parent (rxe0) are hot-plugged into it as vfio-pci,sysfsdev=...: the guest lists both
# functions with the hyv IDs and the guest driver logs the host GUID that ibv_devinfo shows on the test
# host once per function. Both are hot-removed and every counter of the parent goes back to its
# baseline. A case of the guest session (guest_session.sh); alone it boots its own guest.
source "$(dirname "$0")/device_lib.sh"
require_host

guid=$(ibv_guid rxe0)
[ -n "$guid" ] || fail "no node_guid from ibv_devinfo -d rxe0"
ids=$(printf '1af4:%04x' $((0x1040 + 63)))

dmesg_mark
baseline_mdevs=$(mdev_count)
use_guest ga

# The nested guest runs the shared root's programs (bash here) on the test host's kernel, and its
# answer comes back through both levels.
answer=$(guest_exec "$guest" bash -c 'echo "role=$(sed -n "s/.*hyv\.role=\([a-z]*\).*/\1/p" /proc/cmdline) product=$((6 * 7)) kernel=$(uname -r)"')
[ "$answer" = "role=guest product=42 kernel=$(uname -r)" ] || fail "nested guest $guest answered '$answer'"
log "guest $guest: $answer"

probe_lines() { guest_exec "$guest" dmesg | grep -c "virtio_hyv: host device GUID $guid " || true; }
probes_before=$(probe_lines)
uuid_a=$(mdev_create rxe0)
uuid_b=$(mdev_create rxe0)
[ "$(cat "$(parent_dir rxe0)/live_instances")" = 2 ] || fail "parent live_instances != 2 with two instances"
qmp_open "$("$vm" path "$guest")/qmp2.sock"
hotplug_add hyva "$uuid_a" hp0
hotplug_add hyvb "$uuid_b" hp1
both_probed() { [ "$(guest_exec "$guest" lspci -nn | grep -c "\[$ids\]")" = 2 ] && [ "$(probe_lines)" -ge $((probes_before + 2)) ]; }
deadline=$((SECONDS + 600))
until both_probed; do
  [ $SECONDS -lt $deadline ] || { guest_exec "$guest" dmesg | grep -i hyv; fail "guest $guest did not list and probe both functions in 600 s"; }
  sleep 2
done
guest_exec "$guest" lspci -nn | grep "\[$ids\]" | sed "s/^/  $guest| /"
guest_exec "$guest" dmesg | grep 'virtio_hyv: host device GUID' | tail -n 2 | sed "s/^/  $guest| /"

for u in "$uuid_a" "$uuid_b"; do
  [ "$(counter "$u" trapped_reads)" -gt 0 ] || fail "instance $u saw no trapped reads"
  [ "$(counter "$u" interrupts)" -ge 0 ] || fail "instance $u has no interrupts counter"
  [ "$(counter "$u" bad_accesses)" = 0 ] || fail "instance $u counted $(counter "$u" bad_accesses) bad accesses from a well-behaved guest"
done
assert_kernel_clean

hotplug_del hyva
hotplug_del hyvb
mdev_remove "$uuid_a"
mdev_remove "$uuid_b"
[ "$(mdev_count)" = "$baseline_mdevs" ] || fail "mdev count $(mdev_count) != baseline $baseline_mdevs"
[ "$(live_instances)" = 0 ] || fail "live_instances $(live_instances) after removal"
assert_kernel_clean
log "PASS device_guest"
