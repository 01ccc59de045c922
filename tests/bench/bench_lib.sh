# Sourced by the benchmark scripts on the build machine (their outer half, before they boot the test
# host): where the repository and the build are, and that the build has what the benchmark needs.
set -euo pipefail
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
fail() { echo "FAIL: $*" >&2; exit 1; }
# Sets $build to the build dir (HYV_BUILD_DIR or build/) after checking it holds FILE... (paths in it).
bench_build() { # FILE...
  local f
  build=$(cd "${HYV_BUILD_DIR:-$repo/build}" && pwd) || fail "no build dir; meson setup build && ninja -C build"
  for f in "$@"; do
    [ -e "$build/$f" ] || fail "$build/$f missing; run ninja -C $build"
  done
  mkdir -p "$build/bench"
}
