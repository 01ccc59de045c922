#!/usr/bin/env bash
# Nested-guest timing (docs/testing.md, "Where nested time goes"): boots a test host and in it one nested
# guest with a hyv instance cold-plugged, and reports
#   - the guest's boot to agent-ready (wall, and the guest kernel's own clock at each boot stage),
#   - one exec of a static and of a dynamic program in the guest (/bin/true, ibv_devinfo -d hyv0),
#   - unmodified ibv_rc_pingpong -n 200 -s 4096, guest client to a test host server,
#   - CPU time of each outer QEMU thread over the whole run (main loop, vCPUs, 9p workers),
#   - a copy of a nested guest started from another's saved state (--fork-from): saved state to agent-ready.
# Not a test: it fails only when something breaks, never on a slow number.
# usage: tests/bench/nested_bench.sh [--no-image]   (on the build machine, as root)
#        --no-image boots the guest on the plain 9p root (the layout before the guest root image)
here=$(cd "$(dirname "$0")" && pwd)
source "$here/bench_lib.sh"

if [ "${1:-}" != --inside ]; then
  bench_build host-modules/hyv_mdev.ko guest/virtio_hyv.ko
  # Samples the outer QEMU's threads (the test host) while the run goes on.
  HYV_BUILD_DIR=$build "$repo/tools/vm.sh" run --timeout 3000 -- "$here/nested_bench.sh" --inside "$@" &
  run_pid=$!
  qemu_pid=
  for _ in $(seq 300); do
    qemu_pid=$(pgrep -f -n "hyv.stage2=$repo/tools/vm-init.sh" || true)
    [ -n "$qemu_pid" ] && break
    sleep 0.2
  done
  # Every thread's CPU ticks, kept at their highest: threads end before QEMU does.
  declare -A ticks=()
  while kill -0 "$run_pid" 2>/dev/null; do
    for t in /proc/"$qemu_pid"/task/*; do
      v=$(awk '{print $14 + $15}' "$t/stat" 2>/dev/null) || continue
      [ -n "$v" ] && [ "$v" -gt "${ticks[${t##*/}]:-0}" ] && ticks[${t##*/}]=$v
    done
    sleep 1
  done
  wait "$run_pid" || fail "the run inside the test host failed"
  hz=$(getconf CLK_TCK)
  echo "outer QEMU (the test host) threads, CPU seconds over the run:"
  for tid in "${!ticks[@]}"; do
    printf '  %-28s %8.1f\n' "$([ "$tid" = "$qemu_pid" ] && echo "main loop" || echo "thread $tid")" \
      "$(awk -v t="${ticks[$tid]}" -v hz="$hz" 'BEGIN {print t / hz}')"
  done | sort -k3 -rn | head -n 6
  exit 0
fi

shift
source "$repo/tests/vm/device_lib.sh"
require_host
image_opt=()
[ "${1:-}" = --no-image ] && image_opt=(--no-guest-image)

gid_index=$(grep -l '^0000:0000:0000:0000:0000:ffff:' /sys/class/infiniband/rxe0/ports/1/gids/* | head -n 1 | xargs basename)
uuid=$(mdev_create rxe0)
port=18517
t0=$(date +%s.%N)
guest_start gb "${image_opt[@]}" --guestfwd "$port" --qemu-arg -device --qemu-arg "vfio-pci,sysfsdev=/sys/bus/mdev/devices/$uuid"
t1=$(date +%s.%N)
elapsed() { awk -v a="$1" -v b="$2" 'BEGIN {printf "%.1f", b - a}'; }
timed() { # LABEL CMD...: runs CMD in the guest, prints the wall time
  local label=$1 a b; shift
  a=$(date +%s.%N)
  guest_exec gb "$@" > "$work/out" 2>&1 || { cat "$work/out"; fail "$label failed"; }
  b=$(date +%s.%N)
  printf '  %-44s %6s s\n' "$label" "$(elapsed "$a" "$b")"
}
echo "nested guest ($([ ${#image_opt[@]} = 0 ] && echo 'image root' || echo '9p root')):"
printf '  %-44s %6s s\n' "boot to agent-ready (wall)" "$(elapsed "$t0" "$t1")"
sed -n 's/^hyv-init: \[\([0-9.]*\)\] \(.*\)/  guest clock \1 s: \2/p' "$("$vm" path gb)/console.log"
guest_load_driver gb
timed "exec /bin/true" /bin/true
timed "exec /bin/true (again)" /bin/true
timed "ibv_devinfo -d hyv0" ibv_devinfo -d hyv0
timed "ibv_devinfo -d hyv0 (again)" ibv_devinfo -d hyv0
# The same command as a user in the guest sees it, without the harness's round trip: timed by the
# guest's own clock (/proc/uptime, in steps of 10 ms).
timed_in_guest() { # LABEL CMD...
  local label=$1 times a b; shift
  times=$(guest_exec gb sh -c "read a _ < /proc/uptime; $* > /dev/null 2>&1 || echo failed; read b _ < /proc/uptime; echo \$a \$b") ||
    fail "$label failed"
  [[ $times != failed* ]] || fail "$label failed in the guest"
  read -r a b <<<"$times"
  printf '  %-44s %6s s\n' "$label" "$(elapsed "$a" "$b")"
}
for run in 1 2 3; do timed_in_guest "ibv_devinfo -d hyv0, guest clock ($run)" ibv_devinfo -d hyv0; done
ibv_rc_pingpong -d rxe0 -g "$gid_index" -s 4096 -n 200 -p "$port" > "$work/pp.host" 2>&1 &
pp_pid=$!
wait_for 60 "the host's pingpong server" "ss -ltn | grep -q ':$port '"
timed "ibv_rc_pingpong -n 200 -s 4096 (guest client)" ibv_rc_pingpong -d hyv0 -g "$gid_index" -s 4096 -n 200 -p "$port" 10.0.2.100
wait "$pp_pid" || { cat "$work/pp.host"; fail "host pingpong server failed"; }
echo "  host server: $(grep -o '[0-9.]* Mbit/sec' "$work/pp.host"), $(grep -o '[0-9.]* usec/iter' "$work/pp.host")"
cleanup_guests
mdev_remove "$uuid"

# A copy of a nested guest (tools/vm.sh --fork-to/--fork-from, the guest session's g2): one more guest
# boots to its fork point and saves its state; the copy's time runs from the saved state to agent-ready.
state=/run/nested-bench.state
rm -f "$state"
guest_start gf --fork-to "$state" &
gf_pid=$!
wait_for 1200 "gf's saved state" "[ -f '$state' ]"
t2=$(date +%s.%N)
guest_start gc --fork-from "$state"
t3=$(date +%s.%N)
wait "$gf_pid" || fail "gf did not boot after its fork point"
echo "copy of a nested guest ($(du -m "$state" | cut -f1) MB of saved state):"
printf '  %-44s %6s s\n' "saved state to the copy's agent-ready (wall)" "$(elapsed "$t2" "$t3")"
sed -n 's/^hyv-init: \[\([0-9.]*\)\] \(.*\)/  copy, guest clock \1 s: \2/p' "$("$vm" path gc)/console.log"
guest_exec gc /bin/true || fail "the copy does not answer"
rm -f "$state"
cleanup_guests
"$vm" stop gf  # started in a subshell, so not in cleanup_guests' list
