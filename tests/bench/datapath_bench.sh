#!/usr/bin/env bash
# Data path: unmodified perftest in a nested guest (hyv0) against a test host process (rxe0), each
# row beside the same test between two bare-metal processes on rxe0 in the same test host run
# (docs/benchmarks.md, "Data path"). Every figure is the test host process's: in the nested guest
# perftest's cycle counter calibration fails and it prints 0.00 MB/s.
#   send bandwidth:  the guest sends, the test host receives and reports (ib_send_bw server);
#   write and read:  the test host writes into / reads from the guest's buffer and reports (client);
#   latency, 64 B:   ib_send_lat and ib_write_lat, the test host's side of the ping-pong;
#   traps:           the instance's trapped writes and reads per iteration of each guest run.
# Not a test: it fails only when something breaks, never on a slow number.
# usage: tests/bench/datapath_bench.sh   (on the build machine, as root; about 25 minutes)
here=$(cd "$(dirname "$0")" && pwd)
source "$here/bench_lib.sh"

if [ "${1:-}" != --inside ]; then
  bench_build host-modules/hyv_mdev.ko guest/virtio_hyv.ko
  HYV_BUILD_DIR=$build exec "$repo/tools/vm.sh" run --timeout 3600 -- "$here/datapath_bench.sh" --inside
fi

source "$repo/tests/vm/device_lib.sh"
require_host
dmesg_mark
gid_index=$(rxe_ipv4_gid_index)
guest_port=18515 fwd_port=18516 host_port=18517 bare_port=18600
use_guest gb --mem 1536 --hostfwd "tcp:127.0.0.1:$fwd_port-:$guest_port" --guestfwd "$host_port"
plug_instance hyvbench

# A result line of perftest, the one for SIZE bytes and ITERS iterations, into $line.
result() { line=$(awk -v s="$2" -v n="$3" '$1 == s && $2 == n {print; exit}' "$1"); }
# BW average (MB/s) of a bandwidth result, t_avg (usec) of a latency result.
bw_of() { awk '{print $4}' <<<"$1"; }
lat_of() { awk '{print $6}' <<<"$1"; }
ratio() { awk -v g="$1" -v b="$2" 'BEGIN {if (b > 0) printf "%.2f", g / b; else print "-"}'; }

bare() { # TOOL SIZE ITERS REPORTER(server|client): the reporting side's result line in $line
  local tool=$1 size=$2 iters=$3 pid opts
  opts="-d rxe0 -x $gid_index -s $size -n $iters -F -p $bare_port"
  # shellcheck disable=SC2086 # opts is a list of options
  $tool $opts > "$work/bare.srv" 2>&1 &
  pid=$!
  wait_for 60 "the bare-metal $tool server" "ss -ltn | grep -q ':$bare_port '"
  # shellcheck disable=SC2086
  timeout 900 $tool $opts 127.0.0.1 > "$work/bare.cli" 2>&1 || { cat "$work/bare.cli"; fail "bare-metal $tool client failed"; }
  wait "$pid" || { cat "$work/bare.srv"; fail "bare-metal $tool server failed"; }
  result "$work/bare.$([ "$4" = server ] && echo srv || echo cli)" "$size" "$iters"
}

guest_sends() { # TOOL SIZE ITERS: the test host server's result line in $line, traps in $traps
  local tool=$1 size=$2 iters=$3 pid opts w r
  opts="-x $gid_index -s $size -n $iters -F -p $host_port"
  # shellcheck disable=SC2086
  $tool -d rxe0 $opts > "$work/guest.srv" 2>&1 &
  pid=$!
  wait_for 60 "the test host's $tool server" "ss -ltn | grep -q ':$host_port '"
  w=$(counter "$uuid" trapped_writes) r=$(counter "$uuid" trapped_reads)
  # shellcheck disable=SC2086
  gexec "$guest" timeout 900 $tool -d hyv0 $opts 10.0.2.100 > "$work/guest.cli" 2>&1 ||
    { cat "$work/guest.cli"; kill "$pid" 2>/dev/null; fail "guest $tool client failed"; }
  wait "$pid" || { cat "$work/guest.srv"; fail "test host $tool server failed"; }
  traps "$w" "$r" "$iters"
  result "$work/guest.srv" "$size" "$iters"
}

host_drives_guest() { # TOOL SIZE ITERS: the test host client's result line in $line, traps in $traps
  local tool=$1 size=$2 iters=$3 opts w r
  opts="-x $gid_index -s $size -n $iters -F"
  guest_bg "$guest" /tmp/bench.srv "$tool -d hyv0 $opts -p $guest_port"
  guest_wait_listening "$guest_port" || { gexec "$guest" cat /tmp/bench.srv; fail "the guest's $tool server never listened"; }
  w=$(counter "$uuid" trapped_writes) r=$(counter "$uuid" trapped_reads)
  # shellcheck disable=SC2086
  timeout 900 $tool -d rxe0 $opts -p "$fwd_port" 127.0.0.1 > "$work/host.cli" 2>&1 ||
    { cat "$work/host.cli"; fail "test host $tool client against the guest failed"; }
  guest_wait "$guest" /tmp/bench.srv "$work/guest.srv" 600 || { cat "$work/guest.srv"; fail "guest $tool server failed"; }
  traps "$w" "$r" "$iters"
  result "$work/host.cli" "$size" "$iters"
}

traps() { # WRITES_BEFORE READS_BEFORE ITERS: per iteration, set-up included
  traps=$(awk -v w=$(($(counter "$uuid" trapped_writes) - $1)) -v r=$(($(counter "$uuid" trapped_reads) - $2)) \
    -v n="$3" 'BEGIN {printf "%.2f w / %.2f r", w / n, r / n}')
}

iters_for() { case $1 in 4096) echo 2000 ;; 65536) echo 500 ;; *) echo 100 ;; esac; }

rows=()
row() { rows+=("$(printf '| %s | %s | %s | %s | %s | %s |' "$@")"); log "${rows[-1]}"; }

compare() { # LABEL TOOL SIZE ITERS BARE_REPORTER GUEST_RUN VALUE_OF
  local b
  bare "$2" "$3" "$4" "$5"
  b=$line
  "$6" "$2" "$3" "$4"
  [ -n "$b" ] && [ -n "$line" ] || fail "$2 $3: no result line (bare '$b', guest '$line')"
  row "$1" "$3" "$("$7" "$b")" "$("$7" "$line")" "$(ratio "$("$7" "$line")" "$("$7" "$b")")" "$traps"
}

for size in 4096 65536 1048576; do
  n=$(iters_for "$size")
  compare "ib_send_bw (MB/s), the guest sends" ib_send_bw "$size" "$n" server guest_sends bw_of
  compare "ib_write_bw (MB/s), the test host writes the guest's buffer" ib_write_bw "$size" "$n" client host_drives_guest bw_of
  compare "ib_read_bw (MB/s), the test host reads the guest's buffer" ib_read_bw "$size" "$n" client host_drives_guest bw_of
done
compare "ib_send_lat (usec, t_avg)" ib_send_lat 64 1000 client host_drives_guest lat_of
compare "ib_write_lat (usec, t_avg)" ib_write_lat 64 1000 client host_drives_guest lat_of

{
  echo "| test | bytes | bare metal | guest | guest / bare | traps per iteration (guest) |"
  echo "|---|---|---|---|---|---|"
  printf '%s\n' "${rows[@]}"
} | tee "$build/bench/datapath.md"
gexec "$guest" dmesg > "$work/dmesg.guest"
grep -E "$oops_pattern" "$work/dmesg.guest" && fail "guest kernel log has an oops/warning"
hotplug_del hyvbench
mdev_remove "$uuid"
assert_kernel_clean
