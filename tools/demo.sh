#!/usr/bin/env bash
# The hyv demo on a fresh Debian 12 machine: installs and builds what is missing, boots the test host VM
# (Debian's kernel under QEMU TCG, Soft-RoCE rxe0, hyv_mdev loaded), starts hyvd there, boots a guest VM
# inside it, attaches rxe0 to the running guest with hyvctl, runs unmodified rdma-core in the guest
# against a test host process, shows the instance's counters and detaches the device live
# (tools/demo-in-host.sh). Tested by vm-demo (tests/vm/demo.sh), which runs the last line below.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
build=${HYV_BUILD_DIR:-$repo/build}
started=$SECONDS
echo "== installing missing packages and building (minutes the first time, seconds after)" >&2
"$repo/tools/bootstrap.sh" >&2
[ -f "$build/build.ninja" ] || meson setup "$build" >&2
ninja -C "$build" >&2
echo "== [$((SECONDS - started)) s] built; booting the test host VM (QEMU TCG, about 15 s)" >&2
HYV_BUILD_DIR=$build exec "$repo/tools/vm.sh" run --timeout 1800 -- "$repo/tools/demo-in-host.sh"
