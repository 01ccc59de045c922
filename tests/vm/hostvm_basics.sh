#!/usr/bin/env bash
# The test host VM harness itself: Soft-RoCE and hyv_mdev are up inside, and a command's status and
# output come back to the caller unchanged (a failing command fails the caller).
set -euo pipefail
vm=$(dirname "$0")/../../tools/vm.sh
name=basics-$$
trap '"$vm" stop "$name"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

"$vm" start "$name"

devinfo=$("$vm" exec "$name" -- ibv_devinfo -d rxe0)
guid=$(awk '/node_guid:/ {print $2}' <<<"$devinfo")
[ -n "$guid" ] || fail "ibv_devinfo in the test host lists no rxe0: $devinfo"
[ "$guid" != 0000:0000:0000:0000 ] || fail "rxe0 node GUID is zero"
grep -q 'PORT_ACTIVE' <<<"$devinfo" || fail "rxe0 port not active: $devinfo"
echo "ok: rxe0 node_guid $guid"

"$vm" exec "$name" -- grep -q '^hyv_mdev ' /proc/modules || fail "hyv_mdev not loaded in the test host"
echo "ok: hyv_mdev loaded"

set +e
"$vm" exec "$name" -- false; rc_false=$?
"$vm" exec "$name" -- sh -c 'exit 7'; rc_seven=$?
out=$("$vm" exec "$name" -- sh -c 'echo to-stdout; echo to-stderr >&2' 2>/dev/null)
err=$("$vm" exec "$name" -- sh -c 'echo to-stdout; echo to-stderr >&2' 2>&1 >/dev/null)
set -e
[ "$rc_false" = 1 ] || fail "false inside the VM returned $rc_false to the caller, expected 1"
[ "$rc_seven" = 7 ] || fail "exit 7 inside the VM returned $rc_seven to the caller"
[ "$out" = to-stdout ] || fail "stdout came back as '$out'"
[ "$err" = to-stderr ] || fail "stderr came back as '$err'"
echo "ok: exit status and both output streams come back"

# A command that outlives its timeout is killed and reported, not waited for forever.
set +e
"$vm" exec "$name" --timeout 3 -- sleep 60; rc_slow=$?
set -e
[ "$rc_slow" = 124 ] || fail "a command past its timeout returned $rc_slow, expected 124"
echo "ok: timeouts"

# `run` is the one-shot form used by tests: same status propagation, VM gone afterwards.
set +e
"$vm" run -- sh -c 'exit 3'; rc_run=$?
set -e
[ "$rc_run" = 3 ] || fail "vm.sh run returned $rc_run for exit 3"
echo "ok: vm.sh run propagates the status"
