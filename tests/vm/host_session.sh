#!/bin/bash
# The shared test-host session (meson test vm-host-session, TAP protocol): the test-host cases that need
# no guest OS of their own run in one booted test host in turn, each reported as its own TAP line, and
# the session checks after each that it left the test host as it found it. One boot instead of four.
# usage (inside the test host): host_session.sh; HYV_CASES=REGEX runs only matching cases.
source "$(dirname "$0")/device_lib.sh"
source "$(dirname "$0")/session_lib.sh"
require_host
here=$(cd "$(dirname "$0")" && pwd)

cases=(
  # hyv_mdev through its vfio device fd: sysfs, garbage, instance limits, a held removal
  "device-fuzz bash $here/device_fuzz.sh $build/tests/vm/device_fuzz"
  # the BAR0 command channel, queue mapping, MRs, resets, identities, races (cmd_fuzz as the guest)
  "control-channel bash $here/control_channel.sh $build/tests/vm/cmd_fuzz"
  # hyvd's sysfs, ibverbs and netlink adapters against the real kernel, attach into a raw QEMU
  "daemon-adapters bash $repo/tests/integration/daemon_hostvm.sh --inside $build"
  # QMP hot-add and hot-remove of a real mdev, with and without a booted guest
  "mdev-hotplug-into-qemu bash $repo/tests/integration/hotplug_mdev_vm.sh --inside $build"
)

link_count() { ip -o link show | grep -c . ; }
baseline_links=$(link_count)
baseline_mdevs=$(mdev_count)
# What every case must leave behind: no instance, no QEMU or hyvd, no link of its own, rxe0 and
# hyv_mdev as they were, a kernel log without an oops.
dmesg_mark
session_clean() {
  local problems=()
  [ "$(mdev_count)" = "$baseline_mdevs" ] || problems+=("$(($(mdev_count) - baseline_mdevs)) mdev(s) left")
  [ "$(live_instances)" = 0 ] || problems+=("$(live_instances) live instance(s)")
  pgrep -x qemu-system-x86_64 >/dev/null && problems+=("a QEMU still running")
  pgrep -f "$build/(hyvd/hyvd|tests/support/hyvd-crashpoints)( |$)" >/dev/null && problems+=("a hyvd still running")
  [ "$(link_count)" = "$baseline_links" ] || problems+=("$(($(link_count) - baseline_links)) network link(s) left")
  [ -d /sys/class/infiniband/rxe0 ] || problems+=("rxe0 gone")
  if dmesg_since_mark | grep -qE "$oops_pattern"; then problems+=("an oops or warning in the kernel log"); fi
  [ ${#problems[@]} = 0 ] || { echo "${problems[*]}"; return 1; }
}
# After a failed case: stop what it started and take every instance away.
session_reset() {
  pkill -KILL -x qemu-system-x86_64 || true
  pkill -KILL -f "$build/(hyvd/hyvd|tests/support/hyvd-crashpoints)( |$)" || true
  sleep 1
  mdev_remove_all
  dmesg_mark
}

started=$SECONDS
session_run session_clean session_reset "${cases[@]}"
session_end
log "session: $tap_n cases in $((SECONDS - started)) s"
