#!/usr/bin/env bash
# The hyv demo on a fresh Debian 12 machine: installs and builds what is missing, boots the test host VM
# (Debian's kernel under QEMU TCG, Soft-RoCE rxe0, hyv_mdev loaded), starts hyvd there and prints the host
# RDMA devices: `ibv_devinfo -l`, then `hyvctl devices` (GUID, driver, link, whether hyv_mdev serves it).
# That is all it does today (tools/demo-in-host.sh); attach/detach into a guest: tests/vm/daemon_guest.sh.
# Tested by vm-demo (tests/vm/demo_devices.sh), which runs the last line below.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
build=${HYV_BUILD_DIR:-$repo/build}
"$repo/tools/bootstrap.sh" >&2
[ -f "$build/build.ninja" ] || meson setup "$build" >&2
ninja -C "$build" >&2
echo "== booting the test host VM (QEMU TCG, about a minute) ==" >&2
HYV_BUILD_DIR=$build exec "$repo/tools/vm.sh" run --timeout 1800 -- "$repo/tools/demo-in-host.sh"
