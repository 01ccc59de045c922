#!/bin/bash
# Async events: one instance on rxe0 hot-plugged into a nested guest (the guest session's, or one
# booted for this run). Unmodified ibv_asyncwatch in the guest (hyv0) while the test host takes
# rxe0's netdev down and up again: the guest sees IBV_EVENT_PORT_ERR, then IBV_EVENT_PORT_ACTIVE,
# forwarded from the host device through the event ring and interrupts, the `interrupts` counter
# rising with them; the guest's GID table mirrors the host's afterwards (a GID change is forwarded
# too). The watcher killed afterwards leaves no host object.
source "$(dirname "$0")/device_lib.sh"
require_host

netdev=$(rdma link show rxe0/1 | grep -o 'netdev [^ ]*' | awk '{print $2}')
[ -n "$netdev" ] || fail "rxe0 has no netdev"
gid_index=$(rxe_ipv4_gid_index)
dmesg_mark
host_objects_mark
use_guest ga --mem 1024
plug_instance hyvae
# Whatever happens below, the test host's RDMA netdev is up again afterwards.
trap 'ip link set "$netdev" up; cleanup' EXIT

guest_gid() { gexec "$guest" cat "/sys/class/infiniband/hyv0/ports/1/gids/$1"; }
gids_match() { # the guest's GID table mirrors the host's at INDEX
  [ "$(guest_gid "$1")" = "$(cat "/sys/class/infiniband/rxe0/ports/1/gids/$1")" ]
}
gids_match "$gid_index" || fail "guest GID $gid_index $(guest_gid "$gid_index") differs from the host's before the test"

guest_bg "$guest" /tmp/aw.out "ibv_asyncwatch -d hyv0"
guest_poll "$guest" /tmp/aw.out "$work/aw.out" 240 'async event FD' ||
  { cat "$work/aw.out"; fail "ibv_asyncwatch did not start on hyv0"; }
grep -q '^hyv-rc=' "$work/aw.out" && { cat "$work/aw.out"; fail "ibv_asyncwatch on hyv0 exited"; }
before=$(counter "$uuid" interrupts)

ip link set "$netdev" down
guest_poll "$guest" /tmp/aw.out "$work/aw.out" 240 'IBV_EVENT_PORT_ERR' ||
  { cat "$work/aw.out"; fail "the guest saw no IBV_EVENT_PORT_ERR with $netdev down"; }
[ "$(gexec "$guest" cat /sys/class/infiniband/hyv0/ports/1/state)" != "4: ACTIVE" ] ||
  fail "the guest's port is still ACTIVE with the host's $netdev down"
ip link set "$netdev" up
guest_poll "$guest" /tmp/aw.out "$work/aw.out" 240 'IBV_EVENT_PORT_ACTIVE' ||
  { cat "$work/aw.out"; fail "the guest saw no IBV_EVENT_PORT_ACTIVE with $netdev up again"; }
sed 's/^/  guest| /' "$work/aw.out"
err_line=$(grep -n -m1 IBV_EVENT_PORT_ERR "$work/aw.out" | cut -d: -f1)
active_line=$(grep -n IBV_EVENT_PORT_ACTIVE "$work/aw.out" | tail -n 1 | cut -d: -f1)
[ "$err_line" -lt "$active_line" ] || fail "IBV_EVENT_PORT_ACTIVE came before IBV_EVENT_PORT_ERR"
grep -q '^hyv-rc=' "$work/aw.out" && fail "ibv_asyncwatch on hyv0 exited"
now=$(counter "$uuid" interrupts)
[ "$now" -ge $((before + 2)) ] || fail "interrupts rose by $((now - before)) for two port events"
deadline=$((SECONDS + 120))  # a host GID change takes the guest a work item and a query
until gids_match "$gid_index"; do
  [ $SECONDS -lt $deadline ] ||
    fail "guest GID $gid_index $(guest_gid "$gid_index") does not mirror the host's $(cat "/sys/class/infiniband/rxe0/ports/1/gids/$gid_index") 120 s after the port came back"
  sleep 2
done
log "port down and up: the guest saw PORT_ERR then PORT_ACTIVE, interrupts +$((now - before)), GID $gid_index mirrors the host's"

gexec "$guest" pkill ibv_asyncwatch || fail "could not stop the guest's ibv_asyncwatch"
wait_for 120 "the watcher's host context to go" "[ \"\$(rdma resource show rxe0 | grep -o 'ctx [0-9]*' | awk '{print \$2}')\" = $((base_ctx + 1)) ]"
assert_host_clean "ibv_asyncwatch"
gexec "$guest" dmesg > "$work/dmesg.guest"
grep -E "$oops_pattern" "$work/dmesg.guest" && fail "guest kernel log has an oops/warning"
hotplug_del hyvae
mdev_remove "$uuid"
assert_kernel_clean
log "PASS async_events"
