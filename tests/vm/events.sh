#!/bin/bash
# Completion events: one instance on rxe0 hot-plugged into a nested guest (the guest session's, or one
# booted for this run). Unmodified ibv_rc_pingpong -e, which sleeps in ibv_get_cq_event for every
# completion, between the guest (hyv0) and a test host process (rxe0), guest as server and as client:
# each exchange needs a completion event delivered through the host's channel, the event ring and an
# interrupt, so the instance's interrupts counter must rise with the exchanges. Then a guest process
# killed while it sleeps on its channel: the host holds no object of it afterwards and neither kernel
# logs a warning.
source "$(dirname "$0")/device_lib.sh"
require_host

pp_guest_port=18515 pp_fwd_port=18516 pp_host_port=18517
iters=100
gid_index=$(rxe_ipv4_gid_index)
dmesg_mark
host_objects_mark
use_guest ge --mem 1024 --hostfwd "tcp:127.0.0.1:$pp_fwd_port-:$pp_guest_port" --guestfwd "$pp_host_port"
plug_instance hyvev

interrupts_rose() { # WHAT BEFORE: at least one interrupt per two exchanges (events may share one)
  local now
  now=$(counter "$uuid" interrupts)
  [ $((now - $2)) -ge $((iters / 2)) ] || fail "$1: interrupts rose by $((now - $2)) over $iters exchanges with -e"
  log "$1: $iters exchanges, interrupts +$((now - $2))"
}
pp="-g $gid_index -s 4096 -n $iters -e -c"

# The guest sleeps in ibv_get_cq_event as the server.
before=$(counter "$uuid" interrupts)
guest_bg "$guest" /tmp/ev.srv "ibv_rc_pingpong -d hyv0 $pp -p $pp_guest_port"
guest_wait_listening "$pp_guest_port" || { gexec "$guest" cat /tmp/ev.srv; fail "the guest's ibv_rc_pingpong -e never listened"; }
# shellcheck disable=SC2086 # pp is a list of options
timeout 600 ibv_rc_pingpong -d rxe0 $pp -p "$pp_fwd_port" 127.0.0.1 > "$work/ev.cli" 2>&1 ||
  { cat "$work/ev.cli"; gexec "$guest" cat /tmp/ev.srv; fail "host ibv_rc_pingpong -e client against the guest server failed"; }
guest_wait "$guest" /tmp/ev.srv "$work/ev.srv" 300 || { cat "$work/ev.srv"; fail "guest ibv_rc_pingpong -e server failed"; }
grep -q "$iters iters in" "$work/ev.srv" || { cat "$work/ev.srv"; fail "guest server did not finish $iters iterations"; }
! grep -q 'invalid data' "$work/ev.srv" || { cat "$work/ev.srv"; fail "guest server received invalid data"; }
interrupts_rose "guest server (-e)" "$before"
assert_host_clean "the guest's ibv_rc_pingpong -e server"

# And as the client.
before=$(counter "$uuid" interrupts)
# shellcheck disable=SC2086
ibv_rc_pingpong -d rxe0 $pp -p "$pp_host_port" > "$work/ev.hsrv" 2>&1 &
pid=$!
wait_for 60 "the host's ibv_rc_pingpong -e server" "ss -ltn | grep -q ':$pp_host_port '"
# shellcheck disable=SC2086
gexec "$guest" timeout 600 ibv_rc_pingpong -d hyv0 $pp -p "$pp_host_port" 10.0.2.100 > "$work/ev.gcli" 2>&1 ||
  { cat "$work/ev.gcli"; kill "$pid" 2>/dev/null; fail "guest ibv_rc_pingpong -e client against the host server failed"; }
wait "$pid" || { cat "$work/ev.hsrv"; fail "host ibv_rc_pingpong -e server failed"; }
grep -q "$iters iters in" "$work/ev.gcli" || { cat "$work/ev.gcli"; fail "guest client did not finish $iters iterations"; }
! grep -q 'invalid data' "$work/ev.hsrv" || { cat "$work/ev.hsrv"; fail "host server received invalid data"; }
interrupts_rose "guest client (-e)" "$before"
assert_host_clean "the guest's ibv_rc_pingpong -e client"

# A process killed mid-exchange, while it sleeps on its channel: its host context, CQ and QP go,
# nothing warns. The host client is told to run far longer than the test waits.
guest_bg "$guest" /tmp/ev.killed "ibv_rc_pingpong -d hyv0 -g $gid_index -s 4096 -n 1000000 -e -p $pp_guest_port"
guest_wait_listening "$pp_guest_port" || fail "the guest's second ibv_rc_pingpong -e never listened"
before=$(counter "$uuid" interrupts)
ibv_rc_pingpong -d rxe0 -g "$gid_index" -s 4096 -n 1000000 -e -p "$pp_fwd_port" 127.0.0.1 > "$work/ev.long" 2>&1 &
pid=$!
wait_for 300 "events flowing to the guest's second ibv_rc_pingpong -e" \
  "[ \$(cat /sys/bus/mdev/devices/$uuid/hyv/interrupts) -ge $((before + 10)) ]"
gexec "$guest" pkill -KILL ibv_rc_pingpong || fail "could not kill the guest's ibv_rc_pingpong"
kill "$pid" 2>/dev/null || true
wait "$pid" 2>/dev/null || true
wait_for 120 "the killed process's host context to go" \
  "[ \"\$(rdma resource show rxe0 | grep -o 'ctx [0-9]*' | awk '{print \$2}')\" = $((base_ctx + 1)) ]"
assert_host_clean "a killed ibv_rc_pingpong -e"
gexec "$guest" dmesg > "$work/dmesg.guest"
grep -E "$oops_pattern" "$work/dmesg.guest" && fail "guest kernel log has an oops/warning"
assert_kernel_clean

hotplug_del hyvev
mdev_remove "$uuid"
[ "$(host_res ctx)" = "$base_ctx" ] || fail "host ctx count $(host_res ctx) after the function was removed"
assert_kernel_clean
log "PASS events"
