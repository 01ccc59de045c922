#!/bin/bash
# The real-mdev hot-plug test (hotplug_mdev_vm_test) in the test host VM (hyv_mdev.ko loaded, rxe0 up).
# The sleeping guest it boots is nested: tools/vm.sh's kernel and options, not /boot's vmlinuz with
# the defaults (its boot took most of this test's 170 s in CI).
# usage: hotplug_mdev_vm.sh                 (on the build machine; boots the test host VM)
#        hotplug_mdev_vm.sh --inside BUILD  (in a running test host: vm-host-session's case)
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)

if [ "${1:-}" != --inside ]; then
  build=$(cd "${HYV_BUILD_DIR:-$repo/build}" && pwd)
  exec "$repo/tools/vm.sh" run --timeout 1500 -- "$here/hotplug_mdev_vm.sh" --inside "$build"
fi
build=$2
HYV_GUEST_KERNEL=$("$repo/tools/vm.sh" kernel) HYV_GUEST_BOOT_OPTIONS=$("$repo/tools/vm.sh" boot-options) \
  exec "$build/tests/integration/hotplug_mdev_vm_test"
