#!/usr/bin/env bash
# Runs inside the test host VM (see tools/demo.sh).
set -euo pipefail
build=$HYV_BUILD_DIR
repo=$(cd "$(dirname "$0")/.." && pwd)
mkdir -p /run/hyv /var/lib/hyv
"$build/hyvd/hyvd" --db /var/lib/hyv/hyv.db --socket /run/hyv/hyvd.sock --log-level warn &
hyvd_pid=$!
trap 'kill $hyvd_pid 2>/dev/null; wait $hyvd_pid 2>/dev/null' EXIT
for _ in $(seq 100); do [ -S /run/hyv/hyvd.sock ] && break; sleep 0.1; done
hyvctl=$build/hyvctl/hyvctl

echo "\$ ibv_devinfo -l"
ibv_devinfo -l
echo
echo "\$ hyvctl devices"
"$hyvctl" devices
