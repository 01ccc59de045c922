#!/bin/bash
# UD with address handles: unmodified ibv_ud_pingpong between a nested guest (hyv0) and a test host
# process (rxe0), guest as server and as client, then perftest ib_send_bw -c UD from the guest to a
# test host receiver, whose figures count (the guest's cycle counter is unreliable). The guest's AHs
# are host AHs: quota/ahs counts them while they live, returns to 0, and with quota/ahs_max 0 the
# guest's ibv_create_ah fails.
#
# librxe resolves the destination MAC in the guest's own network stack before CREATE_AH
# (ibv_resolve_eth_l2_from_gid), so the guest needs an interface carrying the source GID's address.
# The host ignores that MAC: rxe sends with the host AH, which the host kernel resolved. Here the
# nested guest and the test host both have slirp's 10.0.2.15, the address of rxe0's IPv4 GID.
source "$(dirname "$0")/device_lib.sh"
require_host

pp_guest_port=18515 pp_fwd_port=18516 pp_host_port=18517
iters=50
gid_index=$(rxe_ipv4_gid_index)
gid_ip=$(rxe_gid_ipv4 "$gid_index")
dmesg_mark
host_objects_mark
use_guest gu --mem 1024 --hostfwd "tcp:127.0.0.1:$pp_fwd_port-:$pp_guest_port" --guestfwd "$pp_host_port"
grep -q "inet $gid_ip/" <<<"$(gexec "$guest" ip -4 addr)" ||
  fail "the nested guest has no interface with $gid_ip, the address of rxe0's GID $gid_index: librxe cannot resolve a UD destination"
plug_instance hyvud

host_clean() { # WHAT: no QP, CQ or AH of a guest application left on the host
  assert_host_clean "$1"
  [ "$(cat "/sys/bus/mdev/devices/$uuid/quota/ahs")" = 0 ] || fail "quota/ahs $(cat "/sys/bus/mdev/devices/$uuid/quota/ahs") after $1"
}
pp="-g $gid_index -s 1024 -n $iters"

# Guest as the server.
guest_bg "$guest" /tmp/ud.srv "ibv_ud_pingpong -d hyv0 $pp -p $pp_guest_port"
guest_wait_listening "$pp_guest_port" || { gexec "$guest" cat /tmp/ud.srv; fail "the guest's ibv_ud_pingpong never listened"; }
# shellcheck disable=SC2086 # pp is a list of options
timeout 600 ibv_ud_pingpong -d rxe0 $pp -p "$pp_fwd_port" 127.0.0.1 > "$work/ud.cli" 2>&1 ||
  { cat "$work/ud.cli"; gexec "$guest" cat /tmp/ud.srv; fail "host ibv_ud_pingpong client against the guest server failed"; }
guest_wait "$guest" /tmp/ud.srv "$work/ud.srv" 300 || { cat "$work/ud.srv"; fail "guest ibv_ud_pingpong server failed"; }
grep -q "$iters iters in" "$work/ud.srv" || { cat "$work/ud.srv"; fail "guest server did not finish $iters iterations"; }
log "UD guest server: $(grep -o '[0-9.]* usec/iter' "$work/ud.srv")"
host_clean "the guest's ibv_ud_pingpong server"

# Guest as the client.
# shellcheck disable=SC2086
ibv_ud_pingpong -d rxe0 $pp -p "$pp_host_port" > "$work/ud.hsrv" 2>&1 &
pid=$!
wait_for 60 "the host's ibv_ud_pingpong server" "ss -ltn | grep -q ':$pp_host_port '"
# shellcheck disable=SC2086
gexec "$guest" timeout 600 ibv_ud_pingpong -d hyv0 $pp -p "$pp_host_port" 10.0.2.100 > "$work/ud.gcli" 2>&1 ||
  { cat "$work/ud.gcli"; kill "$pid" 2>/dev/null; fail "guest ibv_ud_pingpong client against the host server failed"; }
wait "$pid" || { cat "$work/ud.hsrv"; fail "host ibv_ud_pingpong server failed"; }
grep -q "$iters iters in" "$work/ud.gcli" || { cat "$work/ud.gcli"; fail "guest client did not finish $iters iterations"; }
host_clean "the guest's ibv_ud_pingpong client"

# perftest over UD, the test host receiving and reporting.
bw="-c UD -x $gid_index -s 1024 -n 1000 -F -p $pp_host_port"
# shellcheck disable=SC2086
ib_send_bw -d rxe0 $bw > "$work/sbw.host" 2>&1 &
pid=$!
wait_for 60 "the host's ib_send_bw server" "ss -ltn | grep -q ':$pp_host_port '"
# shellcheck disable=SC2086
gexec "$guest" timeout 600 ib_send_bw -d hyv0 $bw 10.0.2.100 > "$work/sbw.guest" 2>&1 ||
  { cat "$work/sbw.guest"; kill "$pid" 2>/dev/null; fail "guest ib_send_bw -c UD against the host server failed"; }
wait "$pid" || { cat "$work/sbw.host"; fail "host ib_send_bw -c UD server failed"; }
line=$(awk '$1 == 1024 && $2 == 1000 {print; exit}' "$work/sbw.host")
[ -n "$line" ] || { cat "$work/sbw.host"; fail "the host receiver printed no 1024-byte, 1000-iteration result"; }
log "ib_send_bw -c UD guest -> host, 1 KiB x 1000: host reports '$line'"
host_clean "the guest's ib_send_bw -c UD"

# The AH quota, seen by the application.
echo 0 > "/sys/bus/mdev/devices/$uuid/quota/ahs_max"
# shellcheck disable=SC2086
ibv_ud_pingpong -d rxe0 $pp -p "$pp_host_port" > "$work/ud.quota.hsrv" 2>&1 &
pid=$!
wait_for 60 "the host's ibv_ud_pingpong server" "ss -ltn | grep -q ':$pp_host_port '"
# shellcheck disable=SC2086
! gexec "$guest" timeout 300 ibv_ud_pingpong -d hyv0 $pp -p "$pp_host_port" 10.0.2.100 > "$work/ud.quota" 2>&1 ||
  fail "ibv_ud_pingpong ran with quota/ahs_max 0"
kill "$pid" 2>/dev/null || true
wait "$pid" 2>/dev/null || true
grep -q "Failed to create AH" "$work/ud.quota" || { cat "$work/ud.quota"; fail "ibv_ud_pingpong did not fail at ibv_create_ah with quota/ahs_max 0"; }
echo 4096 > "/sys/bus/mdev/devices/$uuid/quota/ahs_max"
host_clean "ibv_ud_pingpong refused an AH"

gexec "$guest" dmesg > "$work/dmesg.guest"
grep -E "$oops_pattern" "$work/dmesg.guest" && fail "guest kernel log has an oops/warning"
hotplug_del hyvud
mdev_remove "$uuid"
assert_kernel_clean
log "PASS ud"
