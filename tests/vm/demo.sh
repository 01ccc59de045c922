#!/usr/bin/env bash
# The README's demo as tools/demo.sh runs it, minus its bootstrap and build (done already under meson):
# the test host VM boots, tools/demo-in-host.sh starts hyvd, boots guest vm1, attaches rxe0, runs
# ibv_rc_pingpong from the guest and detaches. Every output the demo shows is checked here.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
fail() { echo "FAIL: $*" >&2; exit 1; }

# The same command line as the last line of tools/demo.sh, plus the node GUID from sysfs for the check.
out=$("$repo/tools/vm.sh" run --timeout 1800 -- sh -c \
  "$(printf %q "$repo/tools/demo-in-host.sh")"' && echo "node_guid=$(cat /sys/class/infiniband/rxe0/node_guid)"')
printf '%s\n' "$out"
section() { # FROM TO: the lines from the one starting with FROM up to the next starting with TO
  awk -v from="$1" -v to="$2" 'index($0, from) == 1 {on = 1; next} on && index($0, to) == 1 {exit} on' <<<"$out"
}

node_guid=$(sed -n 's/^node_guid=//p' <<<"$out")
[[ $node_guid =~ ^[0-9a-f]{4}(:[0-9a-f]{4}){3}$ ]] && [ "$node_guid" != 0000:0000:0000:0000 ] ||
  fail "rxe0's node GUID '$node_guid' is not a GUID"

# hyvd's device table: rxe0 with its node GUID, rdma_rxe, present, served by hyv_mdev.
row=$(section '$ hyvctl devices' '==' | awk '$2 == "rxe0"')
read -r guid _ driver _ _ present hyv _ <<<"$row"
[ "$guid" = "$node_guid" ] && [ "$driver" = rdma_rxe ] && [ "$present" = yes ] && [ "$hyv" = yes ] ||
  fail "hyvctl devices row for rxe0 is '$row'"

# attach, then hyvctl list shows vm1 attached on that GUID.
grep -q "vm1.*$node_guid.*attached" <<<"$(section '$ hyvctl list' '==')" ||
  fail "hyvctl list after the attach shows no vm1 row attached on $node_guid"

# ibv_devinfo -d hyv0 in the guest: the host's node GUID, port active.
devinfo=$(section 'vm1$ ibv_devinfo -d hyv0' '==')
grep -qP "^\tnode_guid:\t+$node_guid$" <<<"$devinfo" || fail "the guest's hyv0 does not show node_guid $node_guid"
grep -q 'PORT_ACTIVE' <<<"$devinfo" || fail "the guest's hyv0 port is not active"

# ibv_rc_pingpong: both ends report their rate for 200 iterations of 4096 bytes.
pp=$(section 'vm1$ ibv_rc_pingpong' '==')
[ "$(grep -c '1638400 bytes in .* seconds = .*Mbit/sec' <<<"$pp")" = 2 ] ||
  fail "ibv_rc_pingpong did not report 1638400 bytes (200 x 4096 each way) at both ends"
[ "$(grep -c '200 iters in .* usec/iter' <<<"$pp")" = 2 ] || fail "ibv_rc_pingpong did not finish 200 iterations at both ends"

# Counters: commands were forwarded, no bad access, and the pingpong's cost is reported.
cmds=$(awk '$1 == "commands" {print $2}' <<<"$out")
[ "${cmds:-0}" -gt 0 ] || fail "the demo shows no forwarded commands"
[ "$(awk '$1 == "bad_accesses" {print $2}' <<<"$out")" = 0 ] || fail "the demo shows bad accesses"
grep -q 'the pingpong cost [0-9]* control commands and [0-9]* trapped writes' <<<"$out" ||
  fail "the demo does not report the pingpong's cost"

# detach: hyvctl list is empty afterwards and the guest lists no device.
after=$(sed -n '/detaching rxe0/,$p' <<<"$out")
! grep -q "$node_guid" <<<"$(sed -n '/^\$ hyvctl list/,/^vm1\$/p' <<<"$after")" ||
  fail "hyvctl list still shows $node_guid after the detach"
grep -q '^0 HCAs found' <<<"$after" || fail "the guest still lists an RDMA device after the detach"
grep -q 'done: vm1 got an RDMA device live' <<<"$out" || fail "the demo did not finish"
echo "ok: the demo attached rxe0 ($node_guid) to vm1 live, ran ibv_rc_pingpong in it and detached it"
