#!/usr/bin/env bash
# hyvd's sysfs and ibverbs adapters against the real kernel: in the test host VM (rdma_rxe +
# hyv_mdev loaded), the real hyvd must list rxe0 with its hyv_mdev parent, list an mdev it did
# not make through sysfs and leave it alone, refuse a GUID the host lacks in one line naming rxe0's, and take a
# device through attach into a raw QEMU and back out. Network identities (docs/network.md): the real
# netlink adapter makes the macvlan link with its address and MAC and rdma_rxe adds its GIDs; hyvd
# SIGKILLed right after making the link leaves nothing behind once restarted; an address another
# assignment holds is refused; a detach removes link and GIDs.
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
crashy=$build/tests/support/hyvd-crashpoints
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
wait_until() { # SECONDS WHAT COMMAND...: polls COMMAND every 0.1 s
  local tries=$(($1 * 10)) what=$2; shift 2
  for _ in $(seq "$tries"); do "$@" && return 0; sleep 0.1; done
  fail "timed out waiting for $what"
}

: > "$work/empty.conf"
hyvd_args=()
start_hyvd() { # BINARY [ENV=VALUE...]; extra hyvd options in hyvd_args
  local binary=$1; shift
  rm -f "$sock"
  # A short detach timeout: the firmware-only QEMU below never releases a device (no guest OS answers).
  env "$@" "$binary" --config "$work/empty.conf" --db "$work/hyv.db" --socket "$sock" --log-level debug \
    --detach-timeout 2 "${hyvd_args[@]}" >>"$work/hyvd.log" 2>&1 &
  hyvd_pid=$!
  for _ in $(seq 100); do [ -S "$sock" ] && break; sleep 0.1; done
  [ -S "$sock" ] || fail "hyvd did not create $sock"
}
start_hyvd "$hyvd"

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
set +e; out=$(ctl attach vm1 0002:c903:00a1:b2c3 --unisolated 2>&1); rc=$?; set -e
[ "$rc" = 1 ] || fail "attach of an unknown GUID: exit $rc ($out), expected 1"
[ "$(wc -l <<<"$out")" = 1 ] || fail "attach of an unknown GUID: error is not one line: $out"
grep -q "no RDMA device with GUID 0002:c903:00a1:b2c3.*; known GUIDs: $guid (rxe0) \[unknown-guid\]$" <<<"$out" ||
  fail "attach of an unknown GUID does not name it and the known GUIDs: $out"
[ "$(ctl --json list)" = "[]" ] || fail "attach of an unknown GUID left a row: $(ctl list)"
[ -z "$(ls /sys/bus/mdev/devices/)" ] || fail "attach of an unknown GUID left an mdev: $(ls /sys/bus/mdev/devices/)"
echo "ok: attach of an unknown GUID is refused in one line naming the known GUIDs: $out"
# --- network identity: attach without one is refused before anything is made
set +e; out=$(ctl attach vm1 "$guid" 2>&1); rc=$?; set -e
[ "$rc" = 2 ] && [ "$(wc -l <<<"$out")" = 1 ] && grep -q "attach needs a network identity: give --ip ADDR/PREFIX, or --unisolated" <<<"$out" ||
  fail "attach without identity: exit $rc: $out"
[ "$(ctl --json list)" = "[]" ] && [ -z "$(ls /sys/bus/mdev/devices/)" ] || fail "attach without identity left something"
echo "ok: attach without identity refused in one line: $out"

netdev=$(cat /sys/class/infiniband/rxe0/ports/1/gid_attrs/ndevs/0)
[ "$(json_field 'd[0]["netdev"]' <<<"$(ctl --json devices)")" = "$netdev" ] || fail "devices: no netdev $netdev"
hyv_links() { ip -o link show | awk -F': ' '{print $2}' | sed 's/@.*//' | grep '^hyv' || true; }
gid_ndevs() { cat /sys/class/infiniband/rxe0/ports/1/gid_attrs/ndevs/* 2>/dev/null | grep '^hyv' | sort -u || true; }
no_hyv_gids() { [ -z "$(gid_ndevs)" ]; }
ip_mac=52:54:00:77:01:05

# hyvd-crashpoints SIGKILLs itself right after the real adapter made the link (identity.create, 2nd step):
# the link is there as made, the row still attaching_intent.
kill -TERM "$hyvd_pid"; wait "$hyvd_pid" || fail "hyvd exited $? on SIGTERM"; hyvd_pid=
start_hyvd "$crashy" HYV_CRASH_AT_POINT=identity.create:2
ctl attach vm1 "$guid" --ip 10.77.1.5/24 --mac "$ip_mac" >/dev/null 2>&1 || true
rc=0; wait "$hyvd_pid" 2>/dev/null || rc=$?; hyvd_pid=
[ "$rc" = 137 ] || fail "hyvd-crashpoints exited $rc, expected SIGKILL after identity.create"
link=$(hyv_links)
[ "$(wc -w <<<"$link")" = 1 ] || fail "expected one hyv link after the crash, found: '$link'"
grep -q "link/ether $ip_mac" <<<"$(ip -o link show "$link")" || fail "link $link lacks MAC $ip_mac: $(ip -o link show "$link")"
grep -q "$link@$netdev" <<<"$(ip -o link show "$link")" || fail "link $link is not on $netdev: $(ip -o link show "$link")"
grep -q "macvlan mode bridge" <<<"$(ip -d link show "$link")" || fail "link $link is not macvlan mode bridge: $(ip -d link show "$link")"
grep -q "inet 10.77.1.5/24" <<<"$(ip -o -4 addr show dev "$link")" || fail "link $link lacks 10.77.1.5/24: $(ip addr show "$link")"
has_link_gid() { grep -qx "$link" <<<"$(gid_ndevs)"; }
wait_until 10 "rxe0 to get GIDs of $link" has_link_gid
echo "ok: the netlink adapter made $link (macvlan bridge on $netdev, $ip_mac, 10.77.1.5/24); rxe0 has its GIDs"

# The row that died holds 10.77.1.5: another VM asking for it is refused (hyvd down while reconcile waits).
hyvd_args=(--reconcile-on-start false); start_hyvd "$hyvd"; hyvd_args=()
ctl vm add vm2 --qmp "$work/vm2.qmp" >/dev/null || fail "vm add vm2"
set +e; out=$(ctl attach vm2 "$guid" --ip 10.77.1.5/16 2>&1); rc=$?; set -e
[ "$rc" = 1 ] && grep -q "address 10.77.1.5 is held by VM vm1.*\[address-in-use\]$" <<<"$out" ||
  fail "second attach of 10.77.1.5 to vm2: exit $rc: $out"
ctl vm remove vm2 >/dev/null || fail "vm remove vm2"
echo "ok: an address another assignment holds is refused: $out"
kill -TERM "$hyvd_pid"; wait "$hyvd_pid" || true; hyvd_pid=

# Restart (reconcile at start): the interrupted attach is rolled back, link, GIDs and mdev go with it.
start_hyvd "$hyvd"
[ "$(ctl --json list)" = "[]" ] || fail "row left after the crash and reconcile: $(ctl list)"
[ -z "$(hyv_links)" ] || fail "link left after the crash and reconcile: $(hyv_links)"
wait_until 10 "rxe0 to drop the GIDs of $link" no_hyv_gids
[ -z "$(ls /sys/bus/mdev/devices/)" ] || fail "mdev left after the crash: $(ls /sys/bus/mdev/devices/)"
[ "$(ctl --json reconcile | json_field 'len(d["actions"]) + len(d["orphan_links_removed"])')" = 0 ] ||
  fail "second reconcile is not idempotent"
echo "ok: SIGKILL after the link was made: restart leaves no row, link, GID or mdev"

# The same for a VLAN identity: the adapter makes a VLAN device (id 7) on the netdev, with the parent's MAC.
kill -TERM "$hyvd_pid"; wait "$hyvd_pid" || fail "hyvd exited $? on SIGTERM"; hyvd_pid=
start_hyvd "$crashy" HYV_CRASH_AT_POINT=identity.create:2
ctl attach vm1 "$guid" --ip 10.77.7.5/24 --vlan 7 >/dev/null 2>&1 || true
rc=0; wait "$hyvd_pid" 2>/dev/null || rc=$?; hyvd_pid=
[ "$rc" = 137 ] || fail "hyvd-crashpoints exited $rc, expected SIGKILL after identity.create (VLAN)"
link=$(hyv_links)
[ "$(wc -w <<<"$link")" = 1 ] || fail "expected one hyv link after the VLAN crash, found: '$link'"
grep -q "vlan protocol 802.1Q id 7" <<<"$(ip -d link show "$link")" || fail "link $link is no VLAN 7: $(ip -d link show "$link")"
grep -q "$link@$netdev" <<<"$(ip -o link show "$link")" || fail "VLAN link $link is not on $netdev"
grep -q "inet 10.77.7.5/24" <<<"$(ip -o -4 addr show dev "$link")" || fail "VLAN link $link lacks 10.77.7.5/24"
wait_until 10 "rxe0 to get GIDs of VLAN link $link" has_link_gid
start_hyvd "$hyvd"
[ "$(ctl --json list)" = "[]" ] && [ -z "$(hyv_links)" ] || fail "VLAN crash: left $(ctl list) $(hyv_links)"
wait_until 10 "rxe0 to drop the GIDs of $link" no_hyv_gids
echo "ok: a VLAN identity is a VLAN 7 device on $netdev with its address and GIDs; the restart removed it"

# A link hyvd did not make, named like its own, is left alone by reconcile.
ip link add hyvforgn link "$netdev" type macvlan mode bridge
ctl reconcile >/dev/null
ip link show hyvforgn >/dev/null 2>&1 || fail "reconcile removed hyvforgn, a link hyvd did not make"
ip link del hyvforgn
echo "ok: reconcile leaves a foreign hyv* link alone"

# The rest needs a hyv_mdev with identity/{netdev,unisolated} (the module change of issue 18).
probe=$(cat /proc/sys/kernel/random/uuid)
echo "$probe" > /sys/class/hyv/rxe0/mdev_supported_types/hyv-vrdma/create
module_identity=no; [ -e "/sys/bus/mdev/devices/$probe/identity/netdev" ] && module_identity=yes
echo 1 > "/sys/bus/mdev/devices/$probe/remove"
if [ "$module_identity" = no ]; then
  set +e; out=$(ctl attach vm1 "$guid" --ip 10.77.1.5/24 2>&1); rc=$?; set -e
  [ "$rc" = 1 ] && grep -q "has no .*identity attributes.*\[mdev-identity\]$" <<<"$out" ||
    fail "attach with a hyv_mdev without identity attributes: exit $rc: $out"
  [ "$(ctl --json list)" = "[]" ] && [ -z "$(hyv_links)" ] && [ -z "$(ls /sys/bus/mdev/devices/)" ] ||
    fail "refused attach left something: $(ctl list) $(hyv_links) $(ls /sys/bus/mdev/devices/)"
  wait_until 10 "rxe0 to drop the GIDs of the rolled-back link" no_hyv_gids
  echo "ok: hyv_mdev has no identity attributes: attach refused naming it, rolled back (no row, link, GID, mdev)"
  echo "SKIP: attach/detach with identity need hyv_mdev identity/* (issue 18 module change)"
  kill -TERM "$hyvd_pid"; wait "$hyvd_pid" || fail "hyvd exited $? on SIGTERM"; hyvd_pid=
  echo "ok: hyvd stopped cleanly"
  exit 0
fi

attach=$(ctl --json attach vm1 "$guid" --quota-qps 16 --ip 10.77.1.5/24 --mac "$ip_mac") || fail "attach failed: $attach"
link=$(json_field 'd["assignment"]["identity"]["link"]' <<<"$attach")
[ "$(hyv_links)" = "$link" ] || fail "attach: links $(hyv_links), expected $link"
grep -q "inet 10.77.1.5/24" <<<"$(ip -o -4 addr show dev "$link")" || fail "link $link lacks its address"
grep -q "link/ether $ip_mac" <<<"$(ip -o link show "$link")" || fail "link $link lacks MAC $ip_mac"
wait_until 10 "rxe0 to get GIDs of $link" has_link_gid
mdev_of_attach=$(json_field 'd["assignment"]["mdev"]' <<<"$attach")
[ "$(cat "/sys/bus/mdev/devices/$mdev_of_attach/identity/netdev")" = "$link" ] || fail "identity/netdev is not $link"
grep -Eq "^vm1 +$guid +attached .* 10\.77\.1\.5/24 on $link " <<<"$(ctl list)" || fail "list lacks the identity: $(ctl list)"
[ "$(json_field 'd[0]["identity"]["addresses"]' <<<"$(ctl --json list)")" = "['10.77.1.5/24']" ] ||
  fail "list --json lacks the identity: $(ctl --json list)"
echo "ok: attach with --ip made $link with 10.77.1.5/24 and $ip_mac, rxe0 has its GIDs, list shows it"
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
[ -z "$(hyv_links)" ] || fail "identity link survived its assignment: $(hyv_links)"
wait_until 10 "rxe0 to drop the GIDs of $link" no_hyv_gids
echo "ok: after the VM died its mdev, assignment, identity link and GIDs are gone"

kill -TERM "$hyvd_pid"; wait "$hyvd_pid" || fail "hyvd exited $? on SIGTERM"; hyvd_pid=
echo "ok: hyvd stopped cleanly"
