#!/bin/bash
# Boots the test host VM (hyv_mdev.ko loaded, rxe0 up) and runs the real-mdev hot-plug test in it.
set -euo pipefail
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
build=${HYV_BUILD_DIR:-$repo/build}
# The sleeping guest it boots is nested: tools/vm.sh's kernel and options, not /boot's vmlinuz with
# the defaults (its boot took most of this test's 170 s in CI).
exec "$repo/tools/vm.sh" run --timeout 1500 -- env HYV_GUEST_KERNEL="$("$repo/tools/vm.sh" kernel)" \
  HYV_GUEST_BOOT_OPTIONS="$("$repo/tools/vm.sh" boot-options)" "$build/tests/integration/hotplug_mdev_vm_test"
