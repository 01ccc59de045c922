#!/usr/bin/env bash
# Hot-plug benchmark: hyvctl attach/detach latency over raw QMP device_add/device_del in the
# same run, and attach throughput across many VMs. Not a test: it fails only when something breaks,
# never on a slow number. Results: stdout, and $HYV_BUILD_DIR/bench/hotplug.{txt,json}.
# usage: tests/bench/hotplug_bench.sh [--iterations N] [--vms M]    (on the build machine, as root)
here=$(cd "$(dirname "$0")" && pwd)
source "$here/bench_lib.sh"

iterations=10 vms=16
parse_opts() {
  while [ $# -gt 0 ]; do
    case $1 in
      --iterations) iterations=$2; shift 2 ;;
      --vms) vms=$2; shift 2 ;;
      *) fail "unknown option $1 (usage: $0 [--iterations N] [--vms M])" ;;
    esac
  done
}

if [ "${1:-}" != --inside ]; then
  parse_opts "$@"
  bench_build hyvd/hyvd hyvctl/hyvctl host-modules/hyv_mdev.ko guest/virtio_hyv.ko
  out=$build/bench/hotplug.txt
  echo "# $(date -u +%FT%TZ) $(git -C "$repo" rev-parse --short HEAD 2>/dev/null || echo '?') load: $(cut -d' ' -f1-3 /proc/loadavg)" >"$out"
  status=0
  HYV_BUILD_DIR=$build "$repo/tools/vm.sh" run --timeout 5400 -- \
    "$here/hotplug_bench.sh" --inside "$build" --iterations "$iterations" --vms "$vms" 2>&1 | tee -a "$out" ||
    status=$?
  echo "# load after: $(cut -d' ' -f1-3 /proc/loadavg)" >>"$out"
  sed -n 's/^RESULT_JSON //p' "$out" >"$build/bench/hotplug.json"
  [ "$status" = 0 ] || fail "benchmark run failed (exit $status); log in $out"
  [ -s "$build/bench/hotplug.json" ] || fail "no RESULT_JSON line in $out"
  echo "results: $out, $build/bench/hotplug.json"
  exit 0
fi

# --- inside the test host VM
build=$2; shift 2
parse_opts "$@"
grep -q 'hyv.role=host' /proc/cmdline || fail "the inner part runs inside the test host (tools/vm.sh run)"
[ -d /sys/class/hyv/rxe0 ] || fail "no /sys/class/hyv/rxe0: hyv_mdev not loaded or rxe0 missing"
vm=$repo/tools/vm.sh
hyvctl=$build/hyvctl/hyvctl
work=$(mktemp -d /tmp/hyv-bench.XXXXXX)
sock=$work/hyvd.sock
guest=g1
hyvd_pid=
cleanup() {
  "$vm" stop "$guest" >/dev/null 2>&1 || true
  if [ -n "$hyvd_pid" ]; then kill -TERM "$hyvd_pid" 2>/dev/null && wait "$hyvd_pid" || true; fi
  if [ "${bench_status:-1}" != 0 ]; then echo "--- hyvd log (tail)"; tail -n 40 "$work/hyvd.log" 2>/dev/null || true; fi
}
trap cleanup EXIT

guid=$(cat /sys/class/infiniband/rxe0/node_guid)
echo "test host: $(nproc) vCPU, $(uname -r), rxe0 GUID $guid; $iterations iterations, $vms VMs"

: >"$work/empty.conf"
"$build/hyvd/hyvd" --config "$work/empty.conf" --db "$work/hyv.db" --socket "$sock" --log-level debug \
  >"$work/hyvd.log" 2>&1 &
hyvd_pid=$!
for _ in $(seq 100); do [ -S "$sock" ] && break; sleep 0.1; done
[ -S "$sock" ] || fail "hyvd did not create $sock: $(cat "$work/hyvd.log")"
"$hyvctl" --socket "$sock" devices >/dev/null || fail "hyvctl devices failed"

boot_start=$SECONDS
"$vm" start "$guest" --qmp "$work/$guest.qmp" || fail "nested guest $guest did not boot"
"$vm" exec "$guest" --timeout 120 -- insmod "$build/guest/virtio_hyv.ko" || fail "insmod virtio_hyv.ko in $guest"
echo "nested guest $guest booted in $((SECONDS - boot_start)) s (virtio_hyv loaded)"

bench_status=0
PYTHONPATH="$repo/tests/support" python3 "$here/hotplug_bench.py" --hyvctl "$hyvctl" --socket "$sock" --guest "$guest" \
  --guest-qmp "$work/$guest.qmp" --hyvd-log "$work/hyvd.log" --vm-sh "$vm" --guid "$guid" --iterations "$iterations" --vms "$vms" \
  --work "$work" || bench_status=$?
exit "$bench_status"
