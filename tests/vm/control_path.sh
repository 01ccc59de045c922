#!/bin/bash
# Control path: one instance on rxe0 hot-plugged into a nested guest (the guest session's, or one
# booted for this run). In the guest,
# virtio_hyv registers an ib_device that stock rdma-core (librxe) binds: ibv_devinfo -v shows the
# host's node GUID and the host device's attributes; a process gets a context and a PD (forwarded
# to the host, torn down on exit); qp_loop creates a CQ (its ring read through the process's own
# mapping of BAR2), two RC QPs taken to RTS and zero-length SENDs both ways, polled from the mapped CQ
# ring; then a guest QP against a host process's QP, a SEND each way; unmodified ibv_rc_pingpong
# between the guest and a test host process, both directions, 4 KiB and 1 MiB (control_path_mr.sh);
# unmodified ibv_srq_pingpong (QPs on a shared receive queue), an SRQ resized (srq_resize) and the
# SRQ quota;
# a 64 MiB guest buffer RDMA-written in place by a host process; quotas seen as errnos in the guest;
# cmd_fuzz drives the command channel as a hostile guest
# would. On the test host: every malformed command counted, no oops, no host object left once the
# guest is gone.
source "$(dirname "$0")/device_lib.sh"
require_host

fuzz=${1:-$build/tests/vm/cmd_fuzz}
[ -x "$fuzz" ] || fail "$fuzz not built (ninja -C $build tests/vm/cmd_fuzz)"
qp_loop=$build/tests/vm/qp_loop
[ -x "$qp_loop" ] || fail "$qp_loop not built (ninja -C $build tests/vm/qp_loop)"
srq_resize=$build/tests/vm/srq_resize
[ -x "$srq_resize" ] || fail "$srq_resize not built (ninja -C $build tests/vm/srq_resize)"
mr_write=$build/tests/vm/mr_write
[ -x "$mr_write" ] || fail "$mr_write not built (ninja -C $build tests/vm/mr_write)"
guid=$(ibv_guid rxe0)
[ -n "$guid" ] || fail "no node_guid from ibv_devinfo -d rxe0"
ids=$(printf '1af4:%04x' $((0x1040 + 63)))
devinfo_field() { awk -v k="$2:" '$1 == k {print $2; exit}' "$1"; }
dmesg_mark
gid_index=$(rxe_ipv4_gid_index)
# The same program on the host device first: what the guest must reproduce.
"$qp_loop" rxe0 "$gid_index" > "$work/qp_loop.host" 2>&1 || { cat "$work/qp_loop.host"; fail "qp_loop fails on rxe0 itself"; }
base_ctx=$(host_res ctx) base_pd=$(host_res pd) base_cq=$(host_res cq) base_qp=$(host_res qp) base_mr=$(host_res mr) base_srq=$(host_res srq)
# ibv_rc_pingpong's TCP rendezvous: the test host reaches a server in the guest through a host
# forward, the guest reaches one in the test host through a guest forward (slirp stays restricted).
pp_guest_port=18515 pp_fwd_port=18516 pp_host_port=18517
use_guest gc --mem 1024 --hostfwd "tcp:127.0.0.1:$pp_fwd_port-:$pp_guest_port" --guestfwd "$pp_host_port"
uuid=$(mdev_create rxe0)
log "hot-plugging mdev $uuid (rxe0 node_guid $guid) into guest $guest"
qmp_open "$("$vm" path "$guest")/qmp2.sock"
hotplug_add hyvcp "$uuid" hp0
wait_for 600 "guest $guest to register hyv0" "'$vm' exec $guest --timeout 120 -- test -e /sys/class/infiniband/hyv0"
gexec "$guest" dmesg > "$work/dmesg.guest"
grep -q 'registered hyv0 (driver_id' "$work/dmesg.guest" ||
  { grep -i hyv "$work/dmesg.guest"; fail "guest did not register hyv0"; }
log "guest: $(grep 'registered hyv0' "$work/dmesg.guest" | tail -n 1)"
[ "$(host_res ctx)" = $((base_ctx + 1)) ] || fail "host ctx count $(host_res ctx), expected $((base_ctx + 1)) (the driver's device context)"

# ibv_devinfo -v in the guest, unmodified rdma-core with the stock librxe.
ibv_devinfo -v -d rxe0 > "$work/devinfo.host"
gexec "$guest" ibv_devinfo -v > "$work/devinfo.gc" ||
  { cat "$work/devinfo.gc"; fail "ibv_devinfo -v failed in the guest"; }
sed 's/^/  guest| /' "$work/devinfo.gc" | head -n 60
grep -qP '^hca_id:\thyv0$' "$work/devinfo.gc" || fail "guest ibv_devinfo lists no hca_id hyv0"
grep -qP '^\ttransport:\t+InfiniBand \(0\)$' "$work/devinfo.gc" || fail "guest transport is not InfiniBand (0)"
[ "$(devinfo_field "$work/devinfo.gc" node_guid)" = "$guid" ] ||
  fail "guest node_guid $(devinfo_field "$work/devinfo.gc" node_guid) != host $guid"
grep -qP '^\t+state:\t+PORT_ACTIVE \(4\)$' "$work/devinfo.gc" || fail "guest port is not PORT_ACTIVE (4)"
grep -qP '^\t+link_layer:\t+Ethernet$' "$work/devinfo.gc" || fail "guest link_layer is not Ethernet"
# SRQ resizing is refused, so the guest must not advertise it although the host device does.
! grep -qP '^\t+SRQ_RESIZE$' "$work/devinfo.gc" || fail "guest advertises SRQ_RESIZE, which hyv refuses"
for k in phys_port_cnt vendor_id vendor_part_id hw_ver max_mr_size max_qp max_qp_wr max_cq max_cqe max_mr \
         max_pd sys_image_guid max_mtu active_mtu; do
  h=$(devinfo_field "$work/devinfo.host" "$k") g=$(devinfo_field "$work/devinfo.gc" "$k")
  [ -n "$h" ] && [ "$g" = "$h" ] || fail "guest $k '$g' != host '$h'"
done
# The host prints its RoCE v2 GIDs as IP addresses; sysfs has the full form the guest prints.
host_gid0=$(cat /sys/class/infiniband/rxe0/ports/1/gids/0)
guest_gid0=$(grep -oP 'GID\[\s*0\]:\s*\K[0-9a-f:]+' "$work/devinfo.gc" | head -n 1)
[ -n "$host_gid0" ] && [ "$guest_gid0" = "$host_gid0" ] || fail "guest GID[0] '$guest_gid0' != host '$host_gid0'"
log "guest ibv_devinfo -v: hyv0, node_guid $guid, PORT_ACTIVE, Ethernet, GID[0] $guest_gid0, limits = host's"

# CQ and QPs through the stock provider, rings mapped from BAR2, SENDs without MR.
gexec "$guest" "$qp_loop" hyv0 "$gid_index" > "$work/qp_loop.gc" 2>&1 || { cat "$work/qp_loop.gc"; fail "qp_loop failed in the guest"; }
sed 's/^/  guest| /' "$work/qp_loop.gc"
grep -q '^qp_loop: CQ ring found in the process.s uverbs mapping$' "$work/qp_loop.gc" || fail "guest process did not see its CQ ring"
grep -q '^qp_loop: both QPs in RTS' "$work/qp_loop.gc" || fail "guest QPs did not reach RTS"
[ "$(grep -c '^qp_loop: SEND QP .*completions polled$' "$work/qp_loop.gc")" = 2 ] || fail "guest did not complete both SENDs"
grep -q '^qp_loop: PASS on hyv0$' "$work/qp_loop.gc" || fail "qp_loop did not pass in the guest"
[ "$(host_res ctx)" = $((base_ctx + 1)) ] && [ "$(host_res pd)" = "$base_pd" ] &&
  [ "$(host_res cq)" = "$base_cq" ] && [ "$(host_res qp)" = "$base_qp" ] ||
  fail "host objects left after qp_loop: ctx $(host_res ctx) pd $(host_res pd) cq $(host_res cq) qp $(host_res qp)"
assert_kernel_clean
log "guest qp_loop: CQ ring mapped, 2 RC QPs to RTS, zero-length SEND both ways completed through the mapped rings; host objects released"

# The guest's QP against a host process's QP: qp_loop serve on rxe0 here, qp_loop join in the guest.
mkfifo "$work/peer.in"
"$qp_loop" rxe0 "$gid_index" serve < "$work/peer.in" > "$work/peer.host" 2>&1 &
peer_pid=$!
exec {peer_fd}>"$work/peer.in"
wait_for 60 "the host peer's QPN" "grep -q '^qp_loop: QPN' '$work/peer.host'"
host_qpn=$(awk '/^qp_loop: QPN/ {print $3; exit}' "$work/peer.host")
guest_bg "$guest" /tmp/peer.gc "$qp_loop hyv0 $gid_index join $host_qpn"
guest_poll "$guest" /tmp/peer.gc "$work/peer.gc" 300 '^qp_loop: QPN [0-9]+ ready$' || true
guest_qpn=$(awk '/^qp_loop: QPN [0-9]+ ready$/ {print $3; exit}' "$work/peer.gc")
[ -n "$guest_qpn" ] || { cat "$work/peer.gc"; kill "$peer_pid"; fail "guest QP did not get ready against host QP $host_qpn"; }
echo "$guest_qpn" >&"$peer_fd"
exec {peer_fd}>&-
wait "$peer_pid" || { cat "$work/peer.host"; fail "host peer QP $host_qpn failed against guest QP $guest_qpn"; }
guest_wait "$guest" /tmp/peer.gc "$work/peer.gc" 300 || { cat "$work/peer.gc"; fail "guest peer QP failed against host QP $host_qpn"; }
sed 's/^/  host| /' "$work/peer.host"
sed 's/^/  guest| /' "$work/peer.gc"
grep -q '^qp_loop: PASS (join) on hyv0$' "$work/peer.gc" || fail "guest peer did not pass"
grep -q "^qp_loop: SEND QP $host_qpn -> QP $guest_qpn received$" "$work/peer.gc" || fail "guest did not receive the host's SEND"
grep -q "^qp_loop: SEND QP $guest_qpn -> QP $host_qpn received$" "$work/peer.host" || fail "host did not receive the guest's SEND"
assert_kernel_clean
log "guest QP $guest_qpn <-> host process QP $host_qpn: zero-length SEND each way received"

source "$(dirname "$0")/control_path_mr.sh"

# Shared receive queues: unmodified ibv_srq_pingpong, its QPs all receiving from one SRQ whose ring
# the guest's librxe posts to through BAR2; the host server checks the data (-c).
srq_pp="-g $gid_index -s 4096 -q 4 -n 50 -c -p $pp_host_port"
# shellcheck disable=SC2086 # srq_pp is a list of options
ibv_srq_pingpong -d rxe0 $srq_pp > "$work/srq.host" 2>&1 &
srq_pid=$!
wait_for 60 "the host's srq_pingpong server on port $pp_host_port" "ss -ltn | grep -q ':$pp_host_port '"
gexec "$guest" timeout 900 ibv_srq_pingpong -d hyv0 $srq_pp 10.0.2.100 > "$work/srq.gc" 2>&1 ||
  { cat "$work/srq.gc"; kill "$srq_pid" 2>/dev/null; fail "guest ibv_srq_pingpong client against the host server failed"; }
wait "$srq_pid" || { cat "$work/srq.host"; fail "host ibv_srq_pingpong server failed"; }
pp_check "guest srq_pingpong client" "$work/srq.gc"
pp_check "host srq_pingpong server" "$work/srq.host"
host_clean "ibv_srq_pingpong"
[ "$(quota srqs)" = 0 ] || fail "instance usage after ibv_srq_pingpong: srqs $(quota srqs)"
max_srqs=$(quota srqs_max)
echo 0 > "/sys/bus/mdev/devices/$uuid/quota/srqs_max"
gexec "$guest" ibv_srq_pingpong -d hyv0 $srq_pp 10.0.2.100 > "$work/quota.srq" 2>&1 &&
  fail "ibv_srq_pingpong created an SRQ with quota/srqs_max 0"
grep -q "Couldn't create SRQ" "$work/quota.srq" || { cat "$work/quota.srq"; fail "ibv_srq_pingpong did not fail at ibv_create_srq with quota/srqs_max 0"; }
echo "$max_srqs" > "/sys/bus/mdev/devices/$uuid/quota/srqs_max"
host_clean "the SRQ quota check"
assert_kernel_clean
log "SRQ: ibv_srq_pingpong guest client -> host server, 4 QPs on one SRQ, data checked: guest $(grep -o '[0-9.]* usec/iter' "$work/srq.gc"); ibv_create_srq refused beyond srqs_max"

# An SRQ resized while it holds receives (srq_resize.c): on rxe0 first, the reference, then in the guest,
# where the host places the new ring in BAR2 and the guest process maps it.
"$srq_resize" rxe0 "$gid_index" > "$work/srq_resize.host" 2>&1 || { cat "$work/srq_resize.host"; fail "srq_resize fails on rxe0 itself"; }
gexec "$guest" "$srq_resize" hyv0 "$gid_index" > "$work/srq_resize.gc" 2>&1 ||
  { cat "$work/srq_resize.gc"; fail "srq_resize failed in the guest"; }
sed 's/^/  guest| /' "$work/srq_resize.gc"
grep -q '^srq_resize: 64 SENDs received through the resized SRQ' "$work/srq_resize.gc" || fail "srq_resize did not finish in the guest"
host_clean "srq_resize"
[ "$(quota srqs)" = 0 ] || fail "instance usage after srq_resize: srqs $(quota srqs)"
log "SRQ resize: 8 -> 64 WRs holding 8 receives, 64 SENDs received through the new ring in the guest"

# A hostile guest on the command channel. With a driver bound the BAR is claimed and strict devmem
# refuses userspace mmaps of it, so the function is unbound from virtio-pci first (which also tests
# driver teardown: the driver's host context must go), fuzzed, then bound again.
bdf=$(gexec "$guest" sh -c "grep -l 0x107f /sys/bus/pci/devices/*/device" | head -n 1 | xargs dirname | xargs basename)
[ -n "$bdf" ] || fail "no hyv function in the guest's /sys/bus/pci/devices"
gexec "$guest" sh -c "echo $bdf > /sys/bus/pci/drivers/virtio-pci/unbind" || fail "unbinding $bdf from virtio-pci failed"
[ "$(host_res ctx)" = "$base_ctx" ] || fail "host ctx count $(host_res ctx) after the guest driver unbound, expected $base_ctx"
errors_before=$(counter "$uuid" command_errors) bad_before=$(counter "$uuid" bad_accesses)
gexec "$guest" "$fuzz" pci "$bdf" "$RANDOM" > "$work/fuzz.out" 2>&1 || { cat "$work/fuzz.out"; fail "cmd_fuzz reported failures"; }
cat "$work/fuzz.out"
[ "$(counter "$uuid" command_errors)" -gt $((errors_before + 10)) ] || fail "host command_errors did not grow"
[ "$(counter "$uuid" bad_accesses)" -gt "$bad_before" ] || fail "host bad_accesses did not count the bad doorbell"
log "host counters: commands $(counter "$uuid" commands) command_errors $(counter "$uuid" command_errors) bad_accesses $(counter "$uuid" bad_accesses)"
assert_kernel_clean
[ "$(host_res ctx)" = "$base_ctx" ] || fail "host ctx count $(host_res ctx) after cmd_fuzz closed its contexts"
gexec "$guest" sh -c "echo $bdf > /sys/bus/pci/drivers/virtio-pci/bind" || fail "binding $bdf to virtio-pci again failed"
gexec "$guest" ibv_devinfo -d hyv0 > /dev/null || fail "guest ibv_devinfo fails after cmd_fuzz and rebind"
[ "$(host_res ctx)" = $((base_ctx + 1)) ] || fail "host ctx count $(host_res ctx) after rebind, expected $((base_ctx + 1))"
gexec "$guest" dmesg > "$work/dmesg.guest"
grep -E "$oops_pattern" "$work/dmesg.guest" && fail "guest kernel log has an oops/warning"
log "guest: driver unbound, cmd_fuzz passed, driver bound again and hyv0 works"

# Hot-removing the function closes the device: every host context and object goes with it (the
# guest session checks the same for QEMU's exit).
hotplug_del hyvcp
[ "$(host_res ctx)" = "$base_ctx" ] && [ "$(host_res pd)" = "$base_pd" ] &&
  [ "$(host_res cq)" = "$base_cq" ] && [ "$(host_res qp)" = "$base_qp" ] && [ "$(host_res mr)" = "$base_mr" ] ||
  fail "host objects left after the function was removed: ctx $(host_res ctx) pd $(host_res pd) cq $(host_res cq) qp $(host_res qp) mr $(host_res mr)"
mdev_remove "$uuid"
[ "$(live_instances)" = 0 ] || fail "live_instances $(live_instances) after removal"
assert_kernel_clean
log "PASS control_path"
