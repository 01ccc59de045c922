#!/usr/bin/env bash
# The harness's failure paths (a clear error when a piece is missing, cleanup, a timeout
# instead of a hang), on the build machine and, cheaply, one level down inside the test host:
#   - HYV_KERNEL_VERSION naming a kernel that is not installed: non-zero, one line naming that kernel;
#   - no qemu-system-x86_64 on PATH: exit 125, one line naming QEMU;
#   - a boot that does not finish within --boot-timeout: exit 124 within seconds, a message, no QEMU
#     process and no state dir left;
#   - a normal `vm.sh run` (one test host boot): its state dir is gone and no QEMU process of it is left
#     afterwards; inside it, the nested level's missing kernel and boot timeout come back non-zero
#     (no nested guest boots: the nested QEMU is killed after 1 s), and so does a nested guest started
#     as a copy of a saved VM state that is missing or not a VM state (--fork-from).
# Every VM here uses a private HYV_VM_DIR, so "left behind" means exactly this test's VMs.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
vm=$repo/tools/vm.sh

fail() { echo "FAIL: $*" >&2; exit 1; }

no_qemu_left() { # WHAT
  local left
  left=$(pgrep -af "$HYV_VM_DIR/" || true)
  [ -z "$left" ] || fail "$1: QEMU left running: $left"
}
no_state_left() { # WHAT
  [ -z "$(ls -A "$HYV_VM_DIR" 2>/dev/null)" ] || fail "$1: state left in $HYV_VM_DIR: $(ls -A "$HYV_VM_DIR")"
}
one_line() { # WHAT TEXT
  [ "$(printf '%s\n' "$2" | wc -l)" = 1 ] || fail "$1: expected a one-line message, got: $2"
}

# A kernel that is not installed: non-zero, one line naming it, nothing left. LEVEL names the caller.
check_missing_kernel() { # LEVEL
  local err rc
  set +e
  err=$(HYV_KERNEL_VERSION=0.0-bogus "$vm" run -- true 2>&1 >/dev/null); rc=$?
  set -e
  [ "$rc" != 0 ] || fail "$1: HYV_KERNEL_VERSION=0.0-bogus: vm.sh run exited 0"
  one_line "$1: missing kernel" "$err"
  grep -q '0\.0-bogus' <<<"$err" || fail "$1: missing kernel: the message does not name the kernel: $err"
  no_qemu_left "$1: missing kernel"; no_state_left "$1: missing kernel"
  echo "ok: $1, missing kernel: exit $rc, '$err'"
}

# A boot that does not finish within --boot-timeout: 124 within seconds, a message, nothing left.
check_boot_timeout() { # LEVEL
  local err rc start took
  start=$(date +%s)
  set +e
  err=$("$vm" run --boot-timeout 1 -- true 2>&1 >/dev/null); rc=$?
  set -e
  took=$(($(date +%s) - start))
  [ "$rc" = 124 ] || fail "$1: --boot-timeout 1: vm.sh run exited $rc, expected 124: $err"
  grep -q 'not ready after 1s' <<<"$err" || fail "$1: --boot-timeout 1: no timeout message: $err"
  [ "$took" -le 30 ] || fail "$1: --boot-timeout 1: took ${took}s to give up"
  no_qemu_left "$1: boot timeout"; no_state_left "$1: boot timeout"
  echo "ok: $1, boot timeout: exit 124 after ${took}s, '$(head -n1 <<<"$err")', no QEMU or state left"
}

# A copy of a VM whose saved state is missing or not a VM state: non-zero, a message naming the
# state, nothing left.
check_bad_fork() { # LEVEL
  local err rc bogus=$HYV_VM_DIR/bogus.state
  set +e
  err=$("$vm" start fx --fork-from "$HYV_VM_DIR/missing.state" --boot-timeout 1 2>&1 >/dev/null); rc=$?
  set -e
  [ "$rc" = 125 ] || fail "$1: --fork-from a missing state: exit $rc, expected 125: $err"
  one_line "$1: --fork-from a missing state" "$err"
  grep -q 'no saved VM state .*missing.state' <<<"$err" || fail "$1: --fork-from a missing state: $err"
  no_qemu_left "$1: missing state"; no_state_left "$1: missing state"
  echo "ok: $1, --fork-from a missing state: exit 125, '$err'"
  echo "not a VM state" > "$bogus"
  set +e
  err=$("$vm" start fx --fork-from "$bogus" --boot-timeout 60 2>&1 >/dev/null); rc=$?
  set -e
  rm -f "$bogus"
  [ "$rc" = 125 ] || fail "$1: --fork-from a file that is no VM state: exit $rc, expected 125: $err"
  grep -q "loading the state $bogus failed" <<<"$(head -n1 <<<"$err")" ||
    fail "$1: --fork-from a file that is no VM state: the first line does not name it: $err"
  no_qemu_left "$1: bogus state"; no_state_left "$1: bogus state"
  echo "ok: $1, --fork-from a file that is no VM state: exit 125, '$(head -n1 <<<"$err")', no QEMU or state left"
}

# --- inside the test host: the nested level (called by the outer part below through vm.sh run)
if [ "${1:-}" = --inside ]; then
  export HYV_VM_DIR=/run/hyv-vm-failures
  mkdir -p "$HYV_VM_DIR"
  check_missing_kernel "nested level"
  check_boot_timeout "nested level"
  check_bad_fork "nested level"
  exit 0
fi

work=$(mktemp -d)
export HYV_VM_DIR=$work/vms
mkdir -p "$HYV_VM_DIR"
cleanup() {
  local p
  for p in $(pgrep -f "$HYV_VM_DIR/" || true); do kill "$p" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT
check_missing_kernel "build machine"

# --- no QEMU on PATH: every other command vm.sh may run stays reachable
bin=$work/bin
mkdir -p "$bin"
for d in /usr/local/sbin /usr/local/bin /usr/sbin /usr/bin /sbin /bin; do
  [ -d "$d" ] || continue
  for f in "$d"/*; do
    n=${f##*/}
    case $n in qemu-system-*) continue ;; esac
    [ -e "$bin/$n" ] || ln -s "$f" "$bin/$n"
  done
done
PATH=$bin command -v qemu-system-x86_64 >/dev/null && fail "test setup: qemu-system-x86_64 still on the test PATH"
set +e
err=$(PATH=$bin "$vm" run -- true 2>&1 >/dev/null); rc=$?
set -e
[ "$rc" = 125 ] || fail "no QEMU: vm.sh run exited $rc, expected 125: $err"
one_line "no QEMU" "$err"
grep -qi 'qemu' <<<"$err" || fail "no QEMU: the message does not name QEMU: $err"
no_state_left "no QEMU"
echo "ok: no QEMU: exit 125, '$err'"

check_boot_timeout "build machine"

# --- a normal run cleans up after itself; inside it, the nested level's failures come back
"$vm" run --timeout 300 -- "$here/harness_failures.sh" --inside \
  || fail "vm.sh run of the nested-level checks exited $?"
no_qemu_left "normal run"; no_state_left "normal run"
echo "ok: normal run: state dir removed, no QEMU left"
