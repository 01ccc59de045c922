#!/bin/bash
# The shared nested-guest session (meson test vm-guest-session, TAP protocol): one test host, one nested
# guest g1 booted once with virtio_hyv loaded, and every guest case run against it in turn, each
# reported as its own TAP line. A case is a script of this folder run with HYV_SESSION_GUEST=g1
# (device_lib.sh): it uses the running guest instead of booting one, hot-plugs the instances it needs
# and leaves the guest and the test host as it found them, which the session checks after every case.
# Adding a case costs the case's own time, not a boot (docs/testing.md).
# usage (inside the test host): guest_session.sh [CMD_FUZZ]; HYV_CASES=REGEX runs only matching cases.
source "$(dirname "$0")/device_lib.sh"
source "$(dirname "$0")/session_lib.sh"
require_host
here=$(cd "$(dirname "$0")" && pwd)
fuzz=${1:-$build/tests/vm/cmd_fuzz}

# name : script [args], run with HYV_SESSION_GUEST=g1. Order matters for the first one, which alone
# needs the second guest g2 and stops it afterwards, and the last one: it deletes and re-adds rxe0.
case_in_g1() { local script=$1; shift; HYV_SESSION_GUEST=g1 bash "$here/$script" "$@"; }
# Two tenants need two guests: g2, a copy of g1 (below), is stopped after its one case (docs/testing.md).
two_guests() {
  local rc=0
  if wait_g2; then
    HYV_SESSION_GUEST=g1 HYV_SESSION_GUEST2=g2 bash "$here/two_guests.sh" || rc=$?
  else
    echo "nested guest g2 did not boot: $(tail -n 5 "$work/g2.boot")" >&2; rc=1
  fi
  "$vm" stop g2 || true
  return $rc
}
cases=(
  "two-guests-own-identities two_guests"
  "guest-shell-and-two-instances case_in_g1 device_guest.sh"
  "control-path case_in_g1 control_path.sh $fuzz"
  "hyvctl-attach-detach-and-crashes case_in_g1 daemon_guest.sh"
  "completion-events case_in_g1 events.sh"
  "send-kick-traps case_in_g1 send_kick.sh"
  "ud-address-handles case_in_g1 ud.sh"
  "async-events case_in_g1 async_events.sh"
  "network-identity case_in_g1 identity.sh"
  "rdma-cm case_in_g1 rdma_cm.sh"
  "hotplug-cycles-and-rxe-deletion case_in_g1 device_hotplug.sh"
)
# Port forwards every case may use: ibv_rc_pingpong's TCP rendezvous in both directions
# (control_path_mr.sh, daemon_guest.sh).
session_fwd=(--hostfwd "tcp:127.0.0.1:18516-:18515" --guestfwd 18517)

started=$SECONDS
# g2 is a copy of g1, not a boot of its own: g1 saves its state at its fork point (kernel and modules
# up, before its 9p mount) and g2 starts from that state, so the test host pays for one nested kernel
# boot (docs/testing.md). g2's start waits for the state in the background.
g2_pid= fork=()
if [ -z "${HYV_CASES:-}" ] || [[ two-guests-own-identities =~ $HYV_CASES ]]; then
  g1_state=/run/hyv-session-g1.state
  rm -f "$g1_state"
  fork=(--fork-to "$g1_state")
  log "session: g2 will start as a copy of g1 at its fork point"
  "$vm" start g2 --role guest --boot-timeout "${HYV_GUEST_BOOT_TIMEOUT:-2400}" --mem 1536 --fork-from "$g1_state" \
    --guestfwd 18517 > "$work/g2.boot" 2>&1 &
  g2_pid=$!
fi
wait_g2() {
  [ -n "$g2_pid" ] && wait "$g2_pid" || return 1
  local saved
  saved=$(stat -c %Y "$g1_state")
  rm -f "$g1_state"
  guest_exec g2 insmod "$build/guest/virtio_hyv.ko" || return 1
  log "session: g2 ready after $((SECONDS - started)) s, $(($(date +%s) - saved)) s after g1's state was saved"
}
log "session: booting nested guest g1"
if ! guest_start g1 --mem 1536 "${fork[@]}" "${session_fwd[@]}"; then
  echo "Bail out! nested guest g1 did not boot" >&3; exit 1
fi
guest_load_driver g1
log "session: g1 ready after $((SECONDS - started)) s"
baseline_mdevs=$(mdev_count)

# What every case must leave behind: no instance, no hyv function in the guest, a guest that answers.
session_clean() {
  local problems=()
  [ "$(mdev_count)" = "$baseline_mdevs" ] || problems+=("$(($(mdev_count) - baseline_mdevs)) mdev(s) left")
  if guest_exec g1 sh -c "lspci -n | grep -q ' 1af4:107f'"; then problems+=("a hyv function left in g1"); fi
  guest_exec g1 true || problems+=("g1 does not answer")
  [ ${#problems[@]} = 0 ] || { echo "${problems[*]}"; return 1; }
}
# After a failed case, every instance is taken away so the next case starts clean.
session_run session_clean mdev_remove_all "${cases[@]}"

# The guest's exit closes its device: QEMU going away releases every host object it held.
base_ctx=$(host_res ctx)
uuid=$(mdev_create rxe0)
qmp_open "$("$vm" path g1)/qmp2.sock"
hotplug_add hyvx "$uuid" hp0
wait_for 600 "g1's driver to register its ib_device" "'$vm' exec g1 --timeout 120 -- test -e /sys/class/infiniband/hyv0"
held=$(host_res ctx)
qmp_close
cleanup_guests
if [ "$held" = $((base_ctx + 1)) ] && [ "$(host_res ctx)" = "$base_ctx" ] && mdev_remove "$uuid" &&
   [ "$(live_instances)" = 0 ]; then
  tap ok "guest-exit-releases-host-objects # ctx $base_ctx -> $held -> $(host_res ctx)"
else
  tap "not ok" "guest-exit-releases-host-objects # ctx $base_ctx -> $held -> $(host_res ctx), live_instances $(live_instances)"
fi
session_end
log "session: $tap_n cases in $((SECONDS - started)) s"
