#!/bin/bash
# hyvd + hyvctl against a running raw-QEMU nested guest in the test host (rdma_rxe + hyv_mdev):
#  1. `hyvctl attach g1 GUID` makes the function appear in the guest (virtio_hyv logs the host GUID),
#     `hyvctl list --json` names the guest PCI address the guest itself shows; `hyvctl detach` takes
#     it away and the guest no longer lists it. Before that detach, unmodified ibv_rc_pingpong runs
#     between the guest (hyv0) and a test host process (rxe0): the detach makes the guest's pingpong
#     fail with an error (virtio_hyv moves its QP to error first), the guest survives, and every host
#     object the guest held is gone (rdma resource counts back to their baseline, no mdev).
#  2. Crash safety with the real daemon: hyvd-crashpoints (the real hyvd with crash points around its
#     real sqlite/sysfs/QMP adapters) is SIGKILLed at every step of attach and of detach in turn
#     (except steps whose crash leaves exactly what another step's leaves: equivalent_step); a
#     restarted hyvd must leave a consistent state (daemon_consistency.py: rows
#     resting and matching sysfs and QEMU, no orphan mdev, nothing in the VM without a row) and a
#     second reconcile has nothing left to do.
source "$(dirname "$0")/device_lib.sh"
require_host

hyvd=$build/hyvd/hyvd
crashy=$build/tests/support/hyvd-crashpoints
hyvctl=$build/hyvctl/hyvctl
for f in "$hyvd" "$crashy" "$hyvctl"; do [ -x "$f" ] || fail "$f missing; run ninja -C $build"; done
sock=$work/hyvd.sock
guid=$(cat /sys/class/infiniband/rxe0/node_guid)
ids=$(printf '1af4:%04x' $((0x1040 + 63)))
# Unplug needs the nested guest's acknowledgement, which takes seconds under nested TCG.
daemon_flags=(--config /dev/null --db "$work/hyv.db" --socket "$sock" --log-level debug --detach-timeout 300
  --reconcile-detach-timeout 300)
hyvd_pid=

ctl() { "$hyvctl" --socket "$sock" "$@"; }
json_field() { python3 -c "import json,sys; d=json.load(sys.stdin); print(eval(sys.argv[1], {'d': d}))" "$1"; }

start_daemon() { # BINARY [ENV...]
  local binary=$1; shift
  env "$@" "$binary" "${daemon_flags[@]}" >>"$work/hyvd.log" 2>&1 &
  hyvd_pid=$!
  for _ in $(seq 200); do [ -S "$sock" ] && ctl status >/dev/null 2>&1 && return 0; sleep 0.1; done
  fail "hyvd ($binary) did not serve $sock: $(tail -n 20 "$work/hyvd.log")"
}
stop_daemon() {
  [ -n "$hyvd_pid" ] || return 0
  kill -TERM "$hyvd_pid" 2>/dev/null || true
  wait "$hyvd_pid" || fail "hyvd exited $? on SIGTERM: $(tail -n 20 "$work/hyvd.log")"
  hyvd_pid=
}
daemon_cleanup() {
  [ -n "$hyvd_pid" ] && kill -TERM "$hyvd_pid" 2>/dev/null || true
  [ "${passed:-0}" = 1 ] || { echo "--- hyvd log (tail)"; tail -n 60 "$work/hyvd.log" 2>/dev/null || true; }
  cleanup
}
trap daemon_cleanup EXIT

check_consistent() { # WHAT [--reconcile-idempotent]
  PYTHONPATH="$(dirname "$0")/../support" python3 "$(dirname "$0")/daemon_consistency.py" --hyvctl "$hyvctl" --socket "$sock" --vm g1 --qmp "$qmp_sock" "${@:2}" ||
    fail "inconsistent after $1"
}
guest_lists_function() { guest_exec "$g1" sh -c "lspci -nn | grep -q '\[$ids\]'"; }
host_objects() { echo "ctx $(host_res ctx) pd $(host_res pd) cq $(host_res cq) qp $(host_res qp) mr $(host_res mr)"; }
rts_qps() { rdma resource show qp link rxe0/1 | grep -c 'state RTS' || true; }
export -f rts_qps   # wait_for runs its condition in a new bash
sent_pkts() { cat /sys/class/infiniband/rxe0/ports/1/hw_counters/sent_pkts; }
export -f sent_pkts
# ibv_rc_pingpong's TCP rendezvous: the guest reaches the test host's server through a guest forward.
pp_port=18517
gid_index=$(rxe_ipv4_gid_index)

dmesg_mark
baseline_mdevs=$(mdev_count) baseline_objects=$(host_objects)
use_guest g1 --guestfwd "$pp_port"
g1=$guest
qmp_sock=$("$vm" path "$g1")/qmp.sock

# --- 1. attach / detach into a running guest, and what the guest sees
: >"$work/hyvd.log"
start_daemon "$hyvd"
ctl vm add g1 --qmp "$qmp_sock" >/dev/null || fail "hyvctl vm add g1"
attach=$(ctl --json attach g1 "$guid" --unisolated) || fail "hyvctl attach g1 $guid: $attach"
address=$(json_field 'd["assignment"]["guest_pci_address"]' <<<"$attach")
[ "$(json_field 'd["assignment"]["state"]' <<<"$attach")" = attached ] || fail "attach state: $attach"
wait_for 600 "guest g1 lists $ids at $address" \
  "'$vm' exec $g1 --timeout 120 -- sh -c \"lspci -D -nn | grep -q '^$address .*\[$ids\]'\""
wait_for 600 "virtio_hyv in g1 logs the host GUID" \
  "'$vm' exec $g1 --timeout 120 -- sh -c \"dmesg | grep -q 'virtio_hyv: host device GUID $guid '\""
listed=$(ctl --json list)
[ "$(json_field 'len(d)' <<<"$listed")" = 1 ] || fail "list after attach: $listed"
[ "$(json_field 'd[0]["guest_pci_address"]' <<<"$listed")" = "$address" ] || fail "list address: $listed"
check_consistent "attach"
log "ok: hyvctl attach put the function at $address in g1, the guest driver read GUID $guid"

rts_before=$(rts_qps)
timeout 1800 ibv_rc_pingpong -d rxe0 -g "$gid_index" -s 4096 -n 1000000 -p "$pp_port" >"$work/pp.host" 2>&1 &
pp_host_pid=$!
wait_for 60 "the host's pingpong server on port $pp_port" "ss -ltn | grep -q ':$pp_port '"
guest_bg "$g1" /tmp/pp.out "ibv_rc_pingpong -d hyv0 -g $gid_index -s 4096 -n 1000000 -p $pp_port 10.0.2.100"
wait_for 900 "the pingpong QPs (host server's and g1's) in RTS on rxe0" "[ \$(rts_qps) -ge $((rts_before + 2)) ]"
pkts=$(sent_pkts) traffic_start=$SECONDS
wait_for 60 "pingpong traffic on rxe0 (20 packets)" "[ \$(sent_pkts) -ge $((pkts + 20)) ]"
guest_poll "$g1" /tmp/pp.out "$work/pp.guest" 1 'never' || true
! grep -q '^hyv-rc=' "$work/pp.guest" || { cat "$work/pp.guest"; fail "g1's pingpong ended before the detach"; }
log "ok: ibv_rc_pingpong runs between g1 (hyv0) and the test host (rxe0): $(($(sent_pkts) - pkts)) packets sent in $((SECONDS - traffic_start)) s"

ctl detach g1 "$guid" >/dev/null || fail "hyvctl detach g1 $guid while pingpong runs"
rc=0
guest_wait "$g1" /tmp/pp.out "$work/pp.guest" 300 || rc=$?
sed 's/^/  g1| /' "$work/pp.guest"
[ "$rc" -ge 1 ] && [ "$rc" -lt 124 ] || fail "g1's pingpong exit status $rc after the detach, expected a failure (1..123)"
grep -qE 'Failed status|Couldn.t' "$work/pp.guest" || fail "g1's pingpong did not report a failed completion or verb"
kill "$pp_host_pid" 2>/dev/null || true
wait "$pp_host_pid" 2>/dev/null || true
guest_exec "$g1" dmesg >"$work/dmesg.g1" || fail "g1 does not answer after the detach"
grep -q 'unplug: 1 QP(s) moved to error; their applications closed them' "$work/dmesg.g1" ||
  { grep -i hyv "$work/dmesg.g1" | tail -n 20; fail "g1's virtio_hyv did not flush the pingpong QP on unplug"; }
if grep -E "$oops_pattern" "$work/dmesg.g1"; then fail "g1's kernel log has an oops/warning (above)"; fi
if guest_lists_function; then fail "g1 still lists $ids after hyvctl detach"; fi
[ "$(host_objects)" = "$baseline_objects" ] ||
  fail "host objects after the detach: $(host_objects); before the attach: $baseline_objects"
log "ok: detach under pingpong: g1's pingpong failed with status $rc, g1 alive, host objects back to: $baseline_objects"
[ "$(ctl --json list)" = "[]" ] || fail "assignment left after detach: $(ctl list)"
[ "$(mdev_count)" = "$baseline_mdevs" ] || fail "mdev left after detach"
check_consistent "detach"
stop_daemon
log "ok: hyvctl detach removed it from g1 and removed its mdev"

# --- 2. SIGKILL at every step of attach, then of detach
# The resting state before OPERATION, through the running daemon: detached for attach, attached for detach.
rest_before() { # OPERATION
  if [ "$1" = detach ] && [ "$(ctl --json list)" = "[]" ]; then ctl attach g1 "$guid" --unisolated >/dev/null || fail "re-attach"; fi
  if [ "$1" = attach ] && [ "$(ctl --json list)" != "[]" ]; then ctl detach g1 "$guid" >/dev/null || fail "re-detach"; fi
}
run_operation() { # OPERATION
  if [ "$1" = attach ]; then ctl attach g1 "$guid" --unisolated; else ctl detach g1 "$guid"; fi
}
# OPERATION's crash steps in order, "N WHAT" per line, from a hyvd-crashpoints run that never crashes.
operation_steps() { # OPERATION
  local mark
  mark=$(wc -l <"$work/hyvd.log")
  start_daemon "$crashy" HYV_CRASH_AT_STEP=0
  run_operation "$1" >/dev/null || fail "$1 without crashes failed"
  stop_daemon
  tail -n +"$((mark + 1))" "$work/hyvd.log" | sed -n 's/.*crash point \([0-9]*\): \(.*\)/\1 \2/p'
}
# Whether a crash at step N (WHAT) leaves what a crash at another step of the list leaves
# (tests/support/crash_points.hpp):
# - nothing changes between the step after a call's effect and the next step;
# - a store write inside a transaction's body is rolled back by the crash, which leaves what a crash at
#   the transaction's own step leaves, as long as nothing but the store acts inside transactions
#   (EXTERNAL_IN_TRANSACTION 0). That the real sqlite store does roll back is shown once per
#   operation instead (ATOMICITY_SHOWN 0): at the first write that follows another in one transaction.
equivalent_step() { # N WHAT LAST_N EXTERNAL_IN_TRANSACTION PREVIOUS_WHAT ATOMICITY_SHOWN
  if [[ $2 == *", after"* ]] && [ "$1" != "$3" ]; then return 0; fi
  [[ $2 == store.*", in transaction" ]] && [ "$4" = 0 ] || return 1
  [[ $5 == store.*", in transaction" ]] && [ "$6" = 0 ] && return 1
  return 0
}
crash_loop() { # OPERATION: attach | detach
  local op=$1 step what last external crashes=0 skipped=0 rc entry steps previous= atomicity=0
  start_daemon "$hyvd"
  rest_before "$op"
  stop_daemon
  mapfile -t steps < <(operation_steps "$op")
  [ "${#steps[@]}" -ge 6 ] || fail "$op: only ${#steps[@]} crash steps; crash points not wired?"
  last=${steps[-1]%% *}
  external=$(printf '%s\n' "${steps[@]}" | grep -v '^[0-9]* store\.' | grep -c 'in transaction' || true)
  start_daemon "$hyvd"
  for entry in "${steps[@]}"; do
    read -r step what <<<"$entry"
    if equivalent_step "$step" "$what" "$last" "$external" "$previous" "$atomicity"; then
      skipped=$((skipped + 1))
      previous=$what
      continue
    fi
    if [[ $what == store.*", in transaction" ]]; then atomicity=1; fi
    previous=$what
    rest_before "$op"
    stop_daemon

    log_mark=$(wc -l <"$work/hyvd.log")
    start_daemon "$crashy" HYV_CRASH_AT_STEP="$step"
    run_operation "$op" >/dev/null 2>&1 || true
    tail -n +"$((log_mark + 1))" "$work/hyvd.log" >"$work/crash-run.log"
    # The daemon logs its last words before it SIGKILLs itself (a zombie still answers kill -0).
    grep -q "crash point $step: SIGKILL" "$work/crash-run.log" || fail "$op: no crash at step $step ($what)"
    rc=0
    wait "$hyvd_pid" || rc=$?
    hyvd_pid=
    [ "$rc" = 137 ] || fail "$op: hyvd-crashpoints exited $rc at step $step, expected SIGKILL (137)"
    crashes=$((crashes + 1))

    start_daemon "$hyvd"   # reconciles at start
    check_consistent "$op killed at step $step ($what)" --reconcile-idempotent
  done
  stop_daemon
  log "$op: $crashes crash points recovered, of ${#steps[@]} steps ($skipped equivalent to another skipped): $(printf '%s; ' "${steps[@]}")"
}
crash_loop attach
crash_loop detach

start_daemon "$hyvd"
[ "$(ctl --json list)" = "[]" ] || ctl detach g1 "$guid" >/dev/null || fail "final detach"
check_consistent "the crash loops"
stop_daemon
[ "$(mdev_count)" = "$baseline_mdevs" ] || fail "mdev count $(mdev_count) != baseline $baseline_mdevs"
assert_kernel_clean
passed=1
log "PASS daemon_guest"
