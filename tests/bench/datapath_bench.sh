#!/usr/bin/env bash
# Data path: unmodified perftest in a nested guest (hyv0) against a test host process (rxe0), each
# row beside the same test between two bare-metal processes on rxe0 in the same test host run
# (docs/benchmarks.md, "Data path"). Every figure is the test host process's: in the nested guest
# perftest's cycle counter calibration fails and it prints 0.00 MB/s.
#   send bandwidth:  the guest sends, the test host receives and reports (ib_send_bw server);
#   write and read:  the test host writes into / reads from the guest's buffer and reports (client);
#   latency, 64 B:   ib_send_lat and ib_write_lat, the test host's side of the ping-pong;
#   traps:           the instance's trapped writes and reads per iteration of each guest run.
# One run of a row is a few seconds of emulated time on a shared machine, so a single scheduling
# hiccup decides it: --repeat runs each bare-metal/guest pair N times in turn and reports the medians,
# with every run's ratio beside them.
# Not a test: it fails only when something breaks, never on a slow number.
# --events: the send rows' processes, bare metal and guest alike, sleep on completion events (-e)
# instead of polling their CQs (perftest has no -e for writes and reads).
# --busy-guest: the bare-metal runs go on beside a shell loop that keeps the nested guest's vCPU busy,
# as a guest process polling its CQ does: what the emulated guest CPU alone costs the test host's rxe.
# usage: tests/bench/datapath_bench.sh [--repeat N] [--sizes "BYTES..."] [--no-latency] [--events]
#        [--busy-guest]
#        (on the build machine, as root; about 12 minutes with the defaults: 1 run, all sizes, latency)
here=$(cd "$(dirname "$0")" && pwd)
source "$here/bench_lib.sh"

if [ "${1:-}" != --inside ]; then
  bench_build host-modules/hyv_mdev.ko guest/virtio_hyv.ko
  HYV_BUILD_DIR=$build exec "$repo/tools/vm.sh" run --timeout 3600 -- "$here/datapath_bench.sh" --inside "$@"
fi
shift
repeat=1 sizes="4096 65536 1048576" latency=1 events='' busy_guest=0
while [ $# -gt 0 ]; do
  case $1 in
    --repeat) [[ ${2:-} =~ ^[1-9][0-9]*$ ]] || fail "--repeat takes a count of runs, e.g. --repeat 5"
      repeat=$2; shift 2 ;;
    --sizes) [[ ${2:-} =~ ^[0-9]+( [0-9]+)*$ ]] || fail "--sizes takes message sizes in bytes, e.g. --sizes \"4096 1048576\""
      sizes=$2; shift 2 ;;
    --no-latency) latency=0; shift ;;
    --events) events=-e; shift ;;
    --busy-guest) busy_guest=1; shift ;;
    *) fail "unknown option $1 (see the usage at the top of $0)" ;;
  esac
done

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

events_for() { if [ "$1" = ib_send_bw ]; then echo "$events"; fi; }
# The nested QEMU's CPU time (all threads, test host clock ticks): what the guest's side of a run costs
# the test host, whose two vCPUs also run rxe.
qemu_ticks() { awk '{print $14 + $15}' "/proc/$(cat "$("$vm" path "$guest")/pid")/stat"; }
# The nested QEMU's CPU seconds since TICKS_BEFORE, over the wall seconds since T0.
nested_cpu_since() { # TICKS_BEFORE T0
  awk -v t=$(($(qemu_ticks) - $1)) -v hz="$(getconf CLK_TCK)" -v w=$((SECONDS - $2)) \
    'BEGIN {printf "nested QEMU %.1f s CPU in %d s", t / hz, w}'
}

# A shell loop in the guest, in a session of its own; busy_stop kills it (its pid in /tmp/busy.pid).
busy_start() {
  gexec "$guest" sh -c "setsid sh -c 'while :; do :; done' < /dev/null > /dev/null 2>&1 & echo \$! > /tmp/busy.pid"
}
busy_stop() { gexec "$guest" sh -c 'kill $(cat /tmp/busy.pid)'; }

bare() { # TOOL SIZE ITERS REPORTER(server|client): the reporting side's result line in $line
  local tool=$1 size=$2 iters=$3 pid opts ticks t0
  if [ "$busy_guest" = 1 ]; then busy_start; fi
  ticks=$(qemu_ticks) t0=$SECONDS
  opts="-d rxe0 -x $gid_index -s $size -n $iters -F $(events_for "$tool") -p $bare_port"
  # shellcheck disable=SC2086 # opts is a list of options
  $tool $opts > "$work/bare.srv" 2>&1 &
  pid=$!
  wait_for 60 "the bare-metal $tool server" "ss -ltn | grep -q ':$bare_port '"
  # shellcheck disable=SC2086
  timeout 900 $tool $opts 127.0.0.1 > "$work/bare.cli" 2>&1 || { cat "$work/bare.cli"; fail "bare-metal $tool client failed"; }
  wait "$pid" || { cat "$work/bare.srv"; fail "bare-metal $tool server failed"; }
  bare_cpu=$(nested_cpu_since "$ticks" "$t0")
  if [ "$busy_guest" = 1 ]; then busy_stop; fi
  result "$work/bare.$([ "$4" = server ] && echo srv || echo cli)" "$size" "$iters"
}

guest_sends() { # TOOL SIZE ITERS: the test host server's result line in $line, traps in $traps
  local tool=$1 size=$2 iters=$3 pid opts w r ticks t0
  opts="-x $gid_index -s $size -n $iters -F $(events_for "$tool") -p $host_port"
  # shellcheck disable=SC2086
  $tool -d rxe0 $opts > "$work/guest.srv" 2>&1 &
  pid=$!
  wait_for 60 "the test host's $tool server" "ss -ltn | grep -q ':$host_port '"
  w=$(counter "$uuid" trapped_writes) r=$(counter "$uuid" trapped_reads)
  ticks=$(qemu_ticks) t0=$SECONDS
  # shellcheck disable=SC2086
  gexec "$guest" timeout 900 $tool -d hyv0 $opts 10.0.2.100 > "$work/guest.cli" 2>&1 ||
    { cat "$work/guest.cli"; kill "$pid" 2>/dev/null; fail "guest $tool client failed"; }
  wait "$pid" || { cat "$work/guest.srv"; fail "test host $tool server failed"; }
  guest_cpu=$(nested_cpu_since "$ticks" "$t0")
  traps "$w" "$r" "$iters"
  result "$work/guest.srv" "$size" "$iters"
}

host_drives_guest() { # TOOL SIZE ITERS: the test host client's result line in $line, traps in $traps
  local tool=$1 size=$2 iters=$3 opts w r ticks t0
  opts="-x $gid_index -s $size -n $iters -F $(events_for "$tool")"
  guest_bg "$guest" /tmp/bench.srv "$tool -d hyv0 $opts -p $guest_port"
  guest_wait_listening "$guest_port" || { gexec "$guest" cat /tmp/bench.srv; fail "the guest's $tool server never listened"; }
  w=$(counter "$uuid" trapped_writes) r=$(counter "$uuid" trapped_reads)
  ticks=$(qemu_ticks) t0=$SECONDS
  # shellcheck disable=SC2086
  timeout 900 $tool -d rxe0 $opts -p "$fwd_port" 127.0.0.1 > "$work/host.cli" 2>&1 ||
    { cat "$work/host.cli"; fail "test host $tool client against the guest failed"; }
  guest_cpu=$(nested_cpu_since "$ticks" "$t0")
  guest_wait "$guest" /tmp/bench.srv "$work/guest.srv" 600 || { cat "$work/guest.srv"; fail "guest $tool server failed"; }
  traps "$w" "$r" "$iters"
  result "$work/host.cli" "$size" "$iters"
}

traps() { # WRITES_BEFORE READS_BEFORE ITERS: per iteration, set-up included
  traps=$(awk -v w=$(($(counter "$uuid" trapped_writes) - $1)) -v r=$(($(counter "$uuid" trapped_reads) - $2)) \
    -v n="$3" 'BEGIN {printf "%.2f w / %.2f r", w / n, r / n}')
}

iters_for() { case $1 in 4096) echo 2000 ;; 65536) echo 500 ;; *) echo 100 ;; esac; }

median() { printf '%s\n' "$@" | sort -g | awk '{v[NR] = $1} END {print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2}'; }

rows=()
row() { rows+=("$(printf '| %s | %s | %s | %s | %s | %s | %s |' "$@")"); log "${rows[-1]}"; }

compare() { # LABEL TOOL SIZE ITERS BARE_REPORTER GUEST_RUN VALUE_OF
  local run b g bares=() guests=() ratios=()
  for ((run = 1; run <= repeat; run++)); do
    bare "$2" "$3" "$4" "$5"
    b=$line
    "$6" "$2" "$3" "$4"
    [ -n "$b" ] && [ -n "$line" ] || fail "$2 $3: no result line (bare '$b', guest '$line')"
    b=$("$7" "$b") g=$("$7" "$line")
    bares+=("$b") guests+=("$g") ratios+=("$(ratio "$g" "$b")")
    log "  $2 $3 run $run of $repeat: bare $b ($bare_cpu), guest $g ($guest_cpu), ratio ${ratios[-1]}"
  done
  b=$(median "${bares[@]}") g=$(median "${guests[@]}")
  row "$1" "$3" "$b" "$g" "$(ratio "$g" "$b")" "${ratios[*]}" "$traps"
}

for size in $sizes; do
  n=$(iters_for "$size")
  compare "ib_send_bw (MB/s), the guest sends" ib_send_bw "$size" "$n" server guest_sends bw_of
  compare "ib_write_bw (MB/s), the test host writes the guest's buffer" ib_write_bw "$size" "$n" client host_drives_guest bw_of
  compare "ib_read_bw (MB/s), the test host reads the guest's buffer" ib_read_bw "$size" "$n" client host_drives_guest bw_of
done
if [ "$latency" = 1 ]; then
  compare "ib_send_lat (usec, t_avg)" ib_send_lat 64 1000 client host_drives_guest lat_of
  compare "ib_write_lat (usec, t_avg)" ib_write_lat 64 1000 client host_drives_guest lat_of
fi

{
  echo "$repeat run(s) of each pair${events:+, ib_send_bw with -e}$([ "$busy_guest" = 1 ] && echo ", bare metal beside a busy guest"), medians; every run's guest / bare ratio in the sixth column"
  echo
  echo "| test | bytes | bare metal | guest | guest / bare | per run | traps per iteration (guest) |"
  echo "|---|---|---|---|---|---|---|"
  printf '%s\n' "${rows[@]}"
} | tee "$build/bench/datapath.md"
gexec "$guest" dmesg > "$work/dmesg.guest"
grep -E "$oops_pattern" "$work/dmesg.guest" && fail "guest kernel log has an oops/warning"
hotplug_del hyvbench
mdev_remove "$uuid"
assert_kernel_clean
