#!/bin/bash
# Helpers for the hyv_mdev device tests; sourced by tests/vm/device_*.sh, which run as root inside the
# test host VM (tools/vm.sh run). Every check that fails says what it expected.
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
build=${HYV_BUILD_DIR:-$repo/build}
vm=$repo/tools/vm.sh
work=$(mktemp -d /tmp/hyv-device-test.XXXXXX)
mdev_type=hyv-vrdma
oops_pattern='Oops|BUG:|WARNING:|general protection|Call Trace|KASAN|refcount_t|list_del corruption'

log() { echo "[$(date +%T)] $*"; }
# The cause comes after the kernel log: CI shows the tail of a failing test's output.
fail() { dmesg 2>/dev/null | tail -n 30 >&2 || true; echo "FAIL: $*" >&2; exit 1; }

require_host() {
  grep -q 'hyv.role=host' /proc/cmdline || fail "run me inside the test host: tools/vm.sh run -- $0"
  [ -d /sys/class/hyv ] || fail "hyv_mdev is not loaded (/sys/class/hyv missing)"
}

# Marks the kernel log so that later checks look only at what this test caused.
dmesg_mark() { dmesg_start=$(dmesg | wc -l); }
dmesg_since_mark() { dmesg | tail -n +$((dmesg_start + 1)); }
assert_kernel_clean() {
  if dmesg_since_mark | grep -E "$oops_pattern"; then
    fail "kernel log has an oops/warning since the test started (see above)"
  fi
}

parent_dir() { echo "/sys/class/hyv/${1:-rxe0}"; }
# ibv_devinfo spelling (0002:c903:00a1:b2c3) -> plain hex for device_fuzz.
guid_hex() { tr -d ':' <<<"$1"; }
ibv_guid() { ibv_devinfo -d "${1:-rxe0}" | awk '/node_guid/ {print $2}'; }

mdev_create() {
  local uuid
  uuid=$(cat /proc/sys/kernel/random/uuid)
  echo "$uuid" > "$(parent_dir "${1:-rxe0}")/mdev_supported_types/$mdev_type/create" ||
    fail "creating mdev $uuid on ${1:-rxe0} failed"
  [ -e "/sys/bus/mdev/devices/$uuid/hyv/trapped_reads" ] || fail "mdev $uuid has no hyv counters"
  # Without an identity an instance sees no GID; these tests predate identities (mdev_identity).
  echo 1 > "/sys/bus/mdev/devices/$uuid/identity/unisolated" || fail "mdev $uuid: identity/unisolated not writable"
  echo "$uuid"
}
# Binds instance UUID to host net device NETDEV: the guest sees and may use only its GIDs.
mdev_identity() {
  echo 0 > "/sys/bus/mdev/devices/$1/identity/unisolated" &&
    echo "$2" > "/sys/bus/mdev/devices/$1/identity/netdev" || fail "mdev $1: binding identity $2 failed"
}
mdev_remove() { echo 1 > "/sys/bus/mdev/devices/$1/remove"; }
mdev_count() { ls /sys/bus/mdev/devices 2>/dev/null | wc -l; }
# After a failed test: every mdev away, whatever holds it (a removal that fails is left to the caller's check).
mdev_remove_all() {
  local u
  for u in $(ls /sys/bus/mdev/devices 2>/dev/null); do mdev_remove "$u" || true; done
}
counter() { cat "/sys/bus/mdev/devices/$1/hyv/$2"; }
live_instances() { cat /sys/class/hyv/live_instances; }
module_refcnt() { cat /sys/module/hyv_mdev/refcnt; }
# One count of "rdma resource show DEV" (pd, cq, qp, mr, ctx...): host objects guests hold.
host_res() { rdma resource show "${2:-rxe0}" | grep -o "$1 [0-9]*" | awk '{print $2}'; }

# Polls CMD (a string run with bash) until it succeeds or TIMEOUT seconds pass.
wait_for() {
  local timeout=$1 what=$2; shift 2
  local deadline=$((SECONDS + timeout))
  until bash -c "$*" >/dev/null 2>&1; do
    [ $SECONDS -lt $deadline ] || fail "timed out after ${timeout}s waiting for: $what"
    sleep 1
  done
}

# Nested TCG under a busy 2-core machine can take 20+ minutes to boot; HYV_GUEST_BOOT_TIMEOUT overrides.
guest_start() { # NAME [vm.sh options...]
  local name=$1; shift
  "$vm" start "$name" --role guest --boot-timeout "${HYV_GUEST_BOOT_TIMEOUT:-2400}" "$@" ||
    fail "nested guest $name did not boot"
  started_guests+=("$name")
}
# Commands go to a guest's agent through its static client, as `tools/vm.sh exec` does, without the
# cost of starting vm.sh (about 0.5 s a call in the test host).
vm_state_root=$(dirname "$("$vm" path _)")
agent_call() { # NAME TIMEOUT CMD...
  local name=$1 limit=$2; shift 2
  [ -S "$vm_state_root/$name/agent.sock" ] || fail "no VM named $name is running"
  HYV_BUILD_DIR=$build "$build/vm/hyv-agent" call "$vm_state_root/$name" "$limit" "$@"
}
# A generous limit: on a slow CI machine a nested guest took over 150 s for one insmod.
guest_exec() { local name=$1; shift; agent_call "$name" "${HYV_GUEST_EXEC_TIMEOUT:-600}" "$@"; }
# ib_core and ib_uverbs come from the nested guest initramfs (tools/mkinitramfs.sh).
guest_load_driver() {
  guest_exec "$1" insmod "$build/guest/virtio_hyv.ko" || fail "insmod virtio_hyv.ko in guest $1 failed"
}
# Running rdma-core under two levels of TCG takes minutes on a busy machine.
gexec() { local name=$1; shift; agent_call "$name" 900 "$@"; }
# Starts a command in guest NAME in the background (arguments must not contain single quotes); its
# output and then a line "hyv-rc=STATUS" go to FILE in the guest.
guest_bg() { # NAME FILE COMMAND...
  local name=$1 file=$2; shift 2
  gexec "$name" sh -c "setsid sh -c '$* > $file 2>&1; echo hyv-rc=\$? >> $file' < /dev/null > /dev/null 2>&1 &"
}
# Copies FILE from guest NAME to LOCAL every 5 s until it has a line matching PATTERN (grep -E) or the
# guest_bg command writing it ended; fails after TIMEOUT seconds.
guest_poll() { # NAME FILE LOCAL TIMEOUT PATTERN
  local name=$1 file=$2 local_copy=$3 deadline=$((SECONDS + $4)) pattern=$5
  while :; do
    gexec "$name" cat "$file" > "$local_copy" 2>/dev/null || true
    grep -qE -e "$pattern" -e '^hyv-rc=' "$local_copy" && return 0
    [ "$SECONDS" -lt "$deadline" ] || return 1
    sleep 5
  done
}
# Waits for a guest_bg command to end (copying FILE to LOCAL); returns its status, 124 after TIMEOUT s.
guest_wait() { # NAME FILE LOCAL TIMEOUT
  guest_poll "$1" "$2" "$3" "$4" '^hyv-rc=' || return 124
  return "$(sed -n 's/^hyv-rc=//p' "$3")"
}
# Whether a process in guest $guest listens on TCP PORT. From /proc/net/tcp (local address in hex,
# state 0A = LISTEN): the guest root image has no ss.
guest_listening() { # PORT
  gexec "$guest" cat /proc/net/tcp | awk -v p=":$(printf '%04X' "$1")" '$2 ~ p"$" && $4 == "0A" {f = 1} END {exit !f}'
}
# Waits up to TIMEOUT s (default 240) until a process in guest $guest listens on TCP PORT.
guest_wait_listening() { # PORT [TIMEOUT]
  local deadline=$((SECONDS + ${3:-240}))
  until guest_listening "$1"; do
    [ $SECONDS -lt $deadline ] || return 1
    sleep 2
  done
}
# The index of rxe0's first IPv4-mapped (RoCE v2) GID; the guest mirrors the host's table index for index.
rxe_ipv4_gid_index() {
  local f
  f=$(grep -l '^0000:0000:0000:0000:0000:ffff:' /sys/class/infiniband/rxe0/ports/1/gids/* | head -n 1)
  [ -n "$f" ] || fail "rxe0 has no IPv4-mapped GID"
  basename "$f"
}
# The IPv4 address of rxe0's IPv4-mapped GID INDEX.
rxe_gid_ipv4() { # INDEX
  local h
  h=$(cut -d: -f7,8 "/sys/class/infiniband/rxe0/ports/1/gids/$1" | tr -d :)
  printf '%d.%d.%d.%d' "0x${h:0:2}" "0x${h:2:2}" "0x${h:4:2}" "0x${h:6:2}"
}
# The host's verbs objects on rxe0 before a case plugs its instance, and the check that only the
# guest driver's device context is left after a guest application ended.
host_objects_mark() { base_ctx=$(host_res ctx) base_cq=$(host_res cq) base_qp=$(host_res qp); }
assert_host_clean() { # WHAT
  [ "$(host_res ctx)" = $((base_ctx + 1)) ] && [ "$(host_res cq)" = "$base_cq" ] && [ "$(host_res qp)" = "$base_qp" ] ||
    fail "host objects left after $1: ctx $(host_res ctx) cq $(host_res cq) qp $(host_res qp)"
}
# Creates an instance on rxe0 (its UUID in $uuid), hot-plugs it into guest $guest as device ID on
# root port hp0 over a new QMP connection, and waits for the guest to register hyv0.
plug_instance() { # ID [NETDEV]
  uuid=$(mdev_create rxe0)
  [ -z "${2:-}" ] || mdev_identity "$uuid" "$2"
  qmp_open "$("$vm" path "$guest")/qmp2.sock"
  hotplug_add "$1" "$uuid" hp0
  wait_for 600 "guest $guest to register hyv0" "'$vm' exec $guest --timeout 120 -- test -e /sys/class/infiniband/hyv0"
}
# Runs TOOL (a perftest or ibv_*_pingpong program) as a server on the test host's rxe0 and as its
# client in guest $guest on hyv0, rendezvous on port $pp_host_port (the guest reaches the test host as
# 10.0.2.100). Outputs in $work/PREFIX.host and $work/PREFIX.guest; fails the case unless both succeed.
host_server_guest_client() { # PREFIX TOOL "HOST OPTIONS" "GUEST OPTIONS"
  local prefix=$1 tool=$2 pid
  # shellcheck disable=SC2086 # option lists
  $tool -d rxe0 $3 -p "$pp_host_port" > "$work/$prefix.host" 2>&1 &
  pid=$!
  wait_for 60 "the test host's $tool server" "ss -ltn | grep -q ':$pp_host_port '"
  # shellcheck disable=SC2086
  gexec "$guest" timeout 600 $tool -d hyv0 $4 -p "$pp_host_port" 10.0.2.100 > "$work/$prefix.guest" 2>&1 ||
    { cat "$work/$prefix.guest"; kill "$pid" 2>/dev/null; wait "$pid" 2>/dev/null; cat "$work/$prefix.host"; fail "guest $tool client against the test host's server failed"; }
  wait "$pid" || { cat "$work/$prefix.host"; fail "the test host's $tool server failed"; }
}
# Inside the shared session (tests/vm/guest_session.sh) a case uses its running nested guest, which has
# virtio_hyv loaded, instead of booting one; it hot-plugs its instances and leaves the guest as it was.
session_guest=${HYV_SESSION_GUEST:-}
# use_guest NAME [vm.sh options...]: sets $guest to the session's guest, or boots NAME with OPTIONS
# (port forwards and the like, which the session guest has already) and loads virtio_hyv in it.
use_guest() {
  if [ -n "$session_guest" ]; then guest=$session_guest; return 0; fi
  log "booting nested guest $1"
  guest_start "$@"
  guest_load_driver "$1"
  guest=$1
}
started_guests=()
cleanup_guests() {
  local g
  for g in "${started_guests[@]}"; do "$vm" stop "$g" || true; done
  started_guests=()
}

# QMP over one persistent socat connection, so that events (DEVICE_DELETED) are not missed.
qmp_open() { # SOCKET
  mkfifo "$work/qmp.in"
  socat "UNIX-CONNECT:$1" - <"$work/qmp.in" >"$work/qmp.log" 2>&1 &
  qmp_pid=$!
  exec {qmp_fd}>"$work/qmp.in"
  wait_for 30 "QMP greeting" "grep -q QMP '$work/qmp.log'"
  qmp '{"execute":"qmp_capabilities"}'
}
qmp_close() {
  [ -n "${qmp_fd:-}" ] && exec {qmp_fd}>&- || true
  [ -n "${qmp_pid:-}" ] && kill "$qmp_pid" 2>/dev/null || true
  qmp_fd= qmp_pid=
  rm -f "$work/qmp.in"
}
qmp_returns=0
# Sends one command and waits for its reply; fails on an error reply.
qmp() {
  local before
  before=$(grep -c '"return"\|"error"' "$work/qmp.log" || true)
  echo "$1" >&"$qmp_fd"
  wait_for 60 "QMP reply to $1" "[ \$(grep -c '\"return\"\|\"error\"' '$work/qmp.log') -gt $before ]"
  if grep -q '"error"' <<<"$(tail -n 5 "$work/qmp.log")"; then
    fail "QMP $1 failed: $(grep '"error"' "$work/qmp.log" | tail -n 1)"
  fi
}
# Hot-add instance UUID as device ID on root port PORT (hp0..hp3) over the open QMP connection, and
# hot-remove it again, waiting for QEMU's DEVICE_DELETED (the guest acknowledges the unplug first).
hotplug_add() { # ID UUID PORT
  qmp "{\"execute\":\"device_add\",\"arguments\":{\"driver\":\"vfio-pci\",\"sysfsdev\":\"/sys/bus/mdev/devices/$2\",\"id\":\"$1\",\"bus\":\"$3\"}}"
}
hotplug_del() { # ID
  local before deadline=$((SECONDS + 600))
  before=$(qmp_event_count DEVICE_DELETED "$1")
  qmp "{\"execute\":\"device_del\",\"arguments\":{\"id\":\"$1\"}}"
  until [ "$(qmp_event_count DEVICE_DELETED "$1")" -gt "$before" ]; do
    [ $SECONDS -lt $deadline ] || fail "timed out after 600s waiting for DEVICE_DELETED for $1"
    sleep 1
  done
}
qmp_event_count() { { grep -o "\"event\": *\"$1\"[^}]*\"device\": *\"$2\"" "$work/qmp.log" || true; } | wc -l; }

cleanup() {
  qmp_close
  cleanup_guests
  rm -rf "$work"
}
trap cleanup EXIT
