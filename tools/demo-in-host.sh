#!/usr/bin/env bash
# The demo's main part, run inside the test host VM (see tools/demo.sh): hyvd starts, a guest VM boots,
# `hyvctl attach` gives it rxe0 live, unmodified rdma-core in the guest uses it against a process on
# the test host, the instance's counters show what crossed the hypervisor, and `hyvctl detach` takes
# the device away live. Each step says what it does and how long it took.
set -euo pipefail
build=$HYV_BUILD_DIR
repo=$(cd "$(dirname "$0")/.." && pwd)
vm=$repo/tools/vm.sh
port=18517
state=$(mktemp -d /tmp/hyv-demo.XXXXXX)

started=$SECONDS step_started=$SECONDS
step() { # TEXT: the next step, with the time since the demo started
  printf '\n== [%3d s] %s\n' "$((SECONDS - started))" "$*"
  step_started=$SECONDS
}
took() { printf '   (%d s)\n' "$((SECONDS - step_started))"; }
show() { echo "\$ $*"; "$@"; }
hyvctl() { "$build/hyvctl/hyvctl" "$@"; }
in_guest() { echo "vm1\$ $*"; "$vm" exec vm1 --timeout 600 -- "$@"; }
hyvd_pid=
cleanup() {
  "$vm" stop vm1 2>/dev/null || true
  [ -n "$hyvd_pid" ] && kill "$hyvd_pid" 2>/dev/null && wait "$hyvd_pid" 2>/dev/null
  rm -rf "$state"
}
trap cleanup EXIT
fail() { echo "demo: $*" >&2; exit 1; }

step "the test host is up: Soft-RoCE rxe0 on its NIC, hyv_mdev loaded; starting hyvd"
mkdir -p /run/hyv /var/lib/hyv
"$build/hyvd/hyvd" --db /var/lib/hyv/hyv.db --socket /run/hyv/hyvd.sock --log-level warn --detach-timeout 300 &
hyvd_pid=$!
for _ in $(seq 100); do [ -S /run/hyv/hyvd.sock ] && break; sleep 0.1; done
show ibv_devinfo -l
show hyvctl devices
guid=$(cat /sys/class/infiniband/rxe0/node_guid)
took

step "booting guest VM vm1 (Debian's kernel under QEMU TCG inside the test host; about two minutes)"
"$vm" start vm1 --guestfwd "$port" --qmp /run/vm1.qmp || fail "guest vm1 did not boot"
in_guest insmod "$build/guest/virtio_hyv.ko"
in_guest ibv_devinfo -l
took

step "registering vm1 with hyvd and attaching rxe0 ($guid) to the running VM"
show hyvctl vm add vm1 --qmp /run/vm1.qmp
show hyvctl attach vm1 "$guid" --unisolated
show hyvctl list
mdev=$(hyvctl --json list | python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["mdev"])')
for _ in $(seq 120); do "$vm" exec vm1 -- test -e /sys/class/infiniband/hyv0 && break; sleep 1; done
took

step "inside vm1: the device as unmodified rdma-core sees it"
in_guest ibv_devinfo -d hyv0
took

step "inside vm1: unmodified ibv_rc_pingpong against a test host process on rxe0 (4 KiB x 200)"
gid=$(grep -l '^0000:0000:0000:0000:0000:ffff:' /sys/class/infiniband/rxe0/ports/1/gids/* | head -n 1 | xargs basename)
counter() { cat "/sys/bus/mdev/devices/$mdev/hyv/$1"; }
before=$(counter commands) writes_before=$(counter trapped_writes)
ibv_rc_pingpong -d rxe0 -g "$gid" -s 4096 -n 200 -p "$port" > "$state/server.out" 2>&1 &
server=$!
for _ in $(seq 100); do grep -q ":$port " <<<"$(ss -ltn)" && break; sleep 0.1; done
in_guest ibv_rc_pingpong -d hyv0 -g "$gid" -s 4096 -n 200 -p "$port" 10.0.2.100
wait "$server" || { cat "$state/server.out"; fail "the test host's ibv_rc_pingpong failed"; }
echo "test host\$ ibv_rc_pingpong -d rxe0 -g $gid -s 4096 -n 200 -p $port"
cat "$state/server.out"
took

step "the instance's counters on the test host (/sys/bus/mdev/devices/$mdev/hyv/)"
for c in commands command_errors trapped_reads trapped_writes interrupts bad_accesses; do
  printf '   %-15s %s\n' "$c" "$(counter "$c")"
done
echo "   the pingpong cost $(($(counter commands) - before)) control commands and" \
  "$(($(counter trapped_writes) - writes_before)) trapped writes for 400 messages;" \
  "completions were polled from rings mapped into the guest"
took

step "detaching rxe0 from the running vm1"
show hyvctl detach vm1 "$guid"
show hyvctl list
in_guest ibv_devinfo -l
took
printf '\n== [%3d s] done: vm1 got an RDMA device live, used it unmodified, and lost it live\n' "$((SECONDS - started))"
