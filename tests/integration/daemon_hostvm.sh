#!/usr/bin/env bash
# hyvd's sysfs and ibverbs adapters against the real kernel: in the test host VM (rdma_rxe +
# hyv_mdev loaded), the real hyvd must list rxe0 with its hyv_mdev parent, list an mdev it did
# not make through sysfs and leave it alone, refuse a GUID the host lacks in one line naming rxe0's, and take a
# device through attach into a raw QEMU and back out.
# usage: daemon_hostvm.sh            (on the build machine; boots the test host VM)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
build=$(cd "${HYV_BUILD_DIR:-$repo/build}" && pwd)

fail() { echo "FAIL: $*" >&2; exit 1; }

if [ "${1:-}" != --inside ]; then
  exec "$repo/tools/vm.sh" run --timeout 900 -- "$here/daemon_hostvm.sh" --inside "$build"
fi
build=$2
hyvd=$build/hyvd/hyvd
hyvctl=$build/hyvctl/hyvctl
work=$(mktemp -d)
sock=$work/hyvd.sock
qemu_pid=
hyvd_pid=
cleanup() {
  [ -n "$hyvd_pid" ] && kill -TERM "$hyvd_pid" 2>/dev/null && wait "$hyvd_pid" || true
  [ -n "$qemu_pid" ] && kill "$qemu_pid" 2>/dev/null || true
  echo "--- hyvd log"; cat "$work/hyvd.log" 2>/dev/null || true
}
trap cleanup EXIT
ctl() { "$hyvctl" --socket "$sock" "$@"; }
json_field() { python3 -c "import json,sys; d=json.load(sys.stdin); print(eval(sys.argv[1], {'d': d}))" "$1"; }

: > "$work/empty.conf"
# A short detach timeout: the firmware-only QEMU below never releases a device (no guest OS answers).
"$hyvd" --config "$work/empty.conf" --db "$work/hyv.db" --socket "$sock" --log-level debug --detach-timeout 2 \
  >"$work/hyvd.log" 2>&1 &
hyvd_pid=$!
for _ in $(seq 100); do [ -S "$sock" ] && break; sleep 0.1; done
[ -S "$sock" ] || fail "hyvd did not create $sock"

# --- inventory: ibverbs + sysfs agree with the kernel
guid=$(cat /sys/class/infiniband/rxe0/node_guid)
devices=$(ctl --json devices)
[ "$(json_field 'len(d)' <<<"$devices")" = 1 ] || fail "expected exactly rxe0: $devices"
[ "$(json_field 'd[0]["guid"]' <<<"$devices")" = "$guid" ] || fail "GUID differs from sysfs $guid: $devices"
[ "$(json_field 'd[0]["ibdev"]' <<<"$devices")" = rxe0 ] || fail "ibdev: $devices"
[ "$(json_field 'd[0]["driver"]' <<<"$devices")" = rdma_rxe ] || fail "driver: $devices"
[ "$(json_field 'd[0]["link_layer"]' <<<"$devices")" = Ethernet ] || fail "link layer: $devices"
[ "$(json_field 'd[0]["mdev_parent"]' <<<"$devices")" = /sys/class/hyv/rxe0 ] || fail "mdev parent: $devices"
[ "$(json_field 'd[0]["mdev_type"]' <<<"$devices")" = hyv-vrdma ] || fail "mdev type: $devices"
grep -Eq "^$guid +rxe0 +rdma_rxe +Ethernet +1 +yes +yes" <<<"$(ctl devices)" || fail "devices table: $(ctl devices)"
echo "ok: inventory lists rxe0 ($guid) with its hyv_mdev parent"

# --- mdev listing through sysfs: an mdev hyvd did not make (mdevctl's, an orchestrator's) is left alone
theirs=6a0c4a1e-1111-4222-8333-444455556666
echo "$theirs" > /sys/class/hyv/rxe0/mdev_supported_types/hyv-vrdma/create
[ -e "/sys/bus/mdev/devices/$theirs" ] || fail "could not create a test mdev"
report=$(ctl --json reconcile)
[ "$(json_field 'd["foreign_mdevs"]' <<<"$report")" = "['$theirs']" ] || fail "reconcile: $report"
[ "$(json_field 'd["orphan_mdevs_removed"]' <<<"$report")" = "[]" ] || fail "reconcile: $report"
[ -e "/sys/bus/mdev/devices/$theirs" ] || fail "reconcile removed mdev $theirs, which hyvd did not make"
echo 1 > "/sys/bus/mdev/devices/$theirs/remove"
echo "ok: reconcile listed an mdev hyvd did not make through sysfs and left it alone"

# --- attach into a raw QEMU (firmware only: hot-add needs no guest OS) and clean up after it
qmp=$work/vm1.qmp
qemu-system-x86_64 -accel tcg -machine q35 -nodefaults -nographic -m 128 -serial none -monitor none \
  -qmp "unix:$qmp,server=on,wait=off" -device pcie-root-port,id=hp0,chassis=1,slot=1 >"$work/qemu.log" 2>&1 &
qemu_pid=$!
for _ in $(seq 100); do [ -S "$qmp" ] && break; sleep 0.1; done
[ -S "$qmp" ] || fail "QEMU did not open its QMP socket: $(cat "$work/qemu.log")"
ctl vm add vm1 --qmp "$qmp" >/dev/null || fail "vm add"
# A GUID this host does not have: one line naming it and the GUIDs it does have (rxe0's), nothing created.
set +e; out=$(ctl attach vm1 0002:c903:00a1:b2c3 2>&1); rc=$?; set -e
[ "$rc" = 1 ] || fail "attach of an unknown GUID: exit $rc ($out), expected 1"
[ "$(wc -l <<<"$out")" = 1 ] || fail "attach of an unknown GUID: error is not one line: $out"
grep -q "no RDMA device with GUID 0002:c903:00a1:b2c3.*; known GUIDs: $guid (rxe0) \[unknown-guid\]$" <<<"$out" ||
  fail "attach of an unknown GUID does not name it and the known GUIDs: $out"
[ "$(ctl --json list)" = "[]" ] || fail "attach of an unknown GUID left a row: $(ctl list)"
[ -z "$(ls /sys/bus/mdev/devices/)" ] || fail "attach of an unknown GUID left an mdev: $(ls /sys/bus/mdev/devices/)"
echo "ok: attach of an unknown GUID is refused in one line naming the known GUIDs: $out"
attach=$(ctl --json attach vm1 "$guid" --quota-qps 16) || fail "attach failed: $attach"
mdev=$(json_field 'd["assignment"]["mdev"]' <<<"$attach")
[ "$(json_field 'd["assignment"]["state"]' <<<"$attach")" = attached ] || fail "attach state: $attach"
[ -e "/sys/bus/mdev/devices/$mdev" ] || fail "attached but mdev $mdev does not exist"
grep -Eq "^$guid .* vm1$" <<<"$(ctl devices)" || fail "devices does not show the assignment: $(ctl devices)"
grep -Eq "^vm1 +$guid +attached +$mdev" <<<"$(ctl list)" || fail "list: $(ctl list)"
echo "ok: attach created mdev $mdev and hot-added it to vm1"

# --- a guest that never releases the device: the row stays `detaching`, the mdev stays, retry works
for try in first retry; do
  set +e; out=$(ctl detach vm1 "$guid" 2>&1); rc=$?; set -e
  [ "$rc" = 1 ] || fail "$try detach with no guest OS to release the device: exit $rc ($out), expected 1"
  [ "$(wc -l <<<"$out")" = 1 ] || fail "$try detach: error is not one line: $out"
  grep -q "has not released $guid .*stays 'detaching': run \`hyvctl detach vm1 $guid\` again to retry" <<<"$out" ||
    fail "$try detach: message does not name the cause and the retry: $out"
  grep -Eq "^vm1 +$guid +detaching +$mdev" <<<"$(ctl list)" || fail "$try detach: list: $(ctl list)"
  [ "$(json_field 'len(d)' <<<"$(ctl --json list)")" = 1 ] || fail "$try detach: not exactly one row: $(ctl --json list)"
  [ -e "/sys/bus/mdev/devices/$mdev" ] || fail "$try detach removed mdev $mdev under a running QEMU"
done
grep -q '"detach.retry"' <<<"$(ctl --json events)" || fail "the event log has no detach.retry: $(ctl events)"
echo "ok: unreleased device: detach exits 1 with the retry hint, row stays 'detaching', mdev stays, retry logged"

# The VM goes away without detaching (a crash); reconcile must notice and remove the mdev.
kill "$qemu_pid"; wait "$qemu_pid" 2>/dev/null || true; qemu_pid=
ctl reconcile >/dev/null || true
ctl detach vm1 "$guid" >/dev/null 2>&1 || true
for _ in $(seq 50); do [ -e "/sys/bus/mdev/devices/$mdev" ] || break; sleep 0.1; done
[ ! -e "/sys/bus/mdev/devices/$mdev" ] || fail "mdev $mdev survived its VM: $(ctl list)"
[ "$(ctl --json list)" = "[]" ] || fail "assignment survived its VM: $(ctl list)"
echo "ok: after the VM died its mdev and assignment are gone"

kill -TERM "$hyvd_pid"; wait "$hyvd_pid" || fail "hyvd exited $? on SIGTERM"; hyvd_pid=
echo "ok: hyvd stopped cleanly"
