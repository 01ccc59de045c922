#!/bin/bash
# Boots the test host VM (hyv_mdev.ko loaded, rxe0 up) and runs the real-mdev hot-plug test in it.
set -euo pipefail
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
build=${HYV_BUILD_DIR:-$repo/build}
exec "$repo/tools/vm.sh" run --timeout 1500 -- "$build/tests/integration/hotplug_mdev_vm_test"
