#!/usr/bin/env bash
# The README's demo as tools/demo.sh runs it, minus its bootstrap and build (done already under
# meson): the test host VM boots, tools/demo-in-host.sh starts hyvd there, and its output must list
# rxe0 twice: by ibv_devinfo -l and in `hyvctl devices`, with a non-zero GUID that is rxe0's node GUID,
# present and served by hyv_mdev.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
fail() { echo "FAIL: $*" >&2; exit 1; }

# The same command line as the last line of tools/demo.sh, plus the node GUID from sysfs for the check.
out=$("$repo/tools/vm.sh" run --timeout 1800 -- sh -c \
  "$(printf %q "$repo/tools/demo-in-host.sh")"' && echo "node_guid=$(cat /sys/class/infiniband/rxe0/node_guid)"')
printf '%s\n' "$out"

sed -n '/^\$ ibv_devinfo -l/,/^\$ hyvctl devices/p' <<<"$out" | grep -qw rxe0 \
  || fail "ibv_devinfo -l in the demo does not list rxe0"
row=$(sed -n '/^\$ hyvctl devices/,$p' <<<"$out" | awk '$2 == "rxe0"')
[ -n "$row" ] || fail "hyvctl devices in the demo lists no rxe0"
read -r guid _ driver _ _ present hyv _ <<<"$row"
[[ $guid =~ ^[0-9a-f]{4}(:[0-9a-f]{4}){3}$ ]] || fail "rxe0's GUID '$guid' is not a GUID"
[ "$guid" != 0000:0000:0000:0000 ] || fail "rxe0's GUID is zero"
node_guid=$(sed -n 's/^node_guid=//p' <<<"$out")
[ "$guid" = "$node_guid" ] || fail "hyvctl devices shows GUID $guid for rxe0, its node_guid is $node_guid"
[ "$driver" = rdma_rxe ] || fail "rxe0's driver is '$driver', expected rdma_rxe"
[ "$present" = yes ] || fail "rxe0 not present: $row"
[ "$hyv" = yes ] || fail "rxe0 has no hyv_mdev parent: $row"
echo "ok: the demo lists rxe0 with GUID $guid (its node GUID), rdma_rxe, present, served by hyv_mdev"
