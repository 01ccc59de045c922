# Sourced by control_path.sh once guest gc runs virtio_hyv on instance $uuid: memory registration.
#  - unmodified ibv_rc_pingpong between the guest (hyv0) and a test host process (rxe0), guest as
#    server and as client, 4 KiB and 1 MiB messages, -c (the server checks the first byte of every
#    page of its receive buffer, which starts out 0x7b, and prints "invalid data" for a bad one);
#  - mr_write: the guest registers 64 MiB, a test host process RDMA-WRITEs a pattern into it, the
#    guest finds the whole pattern in its own memory (the host device wrote guest RAM in place) while
#    the instance's quota/pinned_bytes shows the region pinned;
#  - quotas: with quota/pinned_bytes_max below 64 MiB the guest's ibv_reg_mr fails with ENOMEM, with
#    quota/qps_max 0 its ibv_create_qp fails with EAGAIN; the host has nothing left afterwards.

quota() { cat "/sys/bus/mdev/devices/$uuid/quota/$1"; }

# Enough exchanges to cross many pages and wrap the receive queue, few enough for two levels of TCG.
pp_iters() { [ "$1" -ge 1048576 ] && echo 20 || echo 200; }

pp_check() { # WHAT OUTPUT_FILE: both sides print their rate; a -c server names bad pages
  grep -q ' iters in .* usec/iter' "$2" || { cat "$2"; fail "$1: no 'iters in' line"; }
  ! grep -q 'invalid data' "$2" || { cat "$2"; fail "$1: received data invalid"; }
}

pp_guest_server() { # SIZE
  local size=$1 n pp
  n=$(pp_iters "$size")
  pp="ibv_rc_pingpong -d hyv0 -g $gid_index -s $size -n $n -c -p $pp_guest_port"
  guest_bg "$guest" /tmp/pp.srv "$pp"
  guest_wait_listening "$pp_guest_port" 600 || { gexec "$guest" cat /tmp/pp.srv; fail "the guest's pingpong server never listened on port $pp_guest_port"; }
  timeout 900 ibv_rc_pingpong -d rxe0 -g "$gid_index" -s "$size" -n "$n" -c -p "$pp_fwd_port" 127.0.0.1 \
    > "$work/pp.cli.$size" 2>&1 || { cat "$work/pp.cli.$size"; fail "host pingpong client against the guest server failed (size $size)"; }
  guest_wait "$guest" /tmp/pp.srv "$work/pp.srv.$size" 600 ||
    { cat "$work/pp.srv.$size"; fail "guest pingpong server failed (size $size)"; }
  pp_check "host client (size $size)" "$work/pp.cli.$size"
  pp_check "guest server (size $size)" "$work/pp.srv.$size"
  log "pingpong guest server <- host client, $size bytes x $n: guest $(grep -o '[0-9.]* usec/iter' "$work/pp.srv.$size")"
}

pp_host_server() { # SIZE
  local size=$1 n pid
  n=$(pp_iters "$size")
  ibv_rc_pingpong -d rxe0 -g "$gid_index" -s "$size" -n "$n" -c -p "$pp_host_port" > "$work/pp.hsrv.$size" 2>&1 &
  pid=$!
  wait_for 60 "the host's pingpong server on port $pp_host_port" "ss -ltn | grep -q ':$pp_host_port '"
  gexec "$guest" timeout 900 ibv_rc_pingpong -d hyv0 -g "$gid_index" -s "$size" -n "$n" -c -p "$pp_host_port" 10.0.2.100 \
    > "$work/pp.gcli.$size" 2>&1 || { cat "$work/pp.gcli.$size"; kill "$pid" 2>/dev/null; fail "guest pingpong client against the host server failed (size $size)"; }
  wait "$pid" || { cat "$work/pp.hsrv.$size"; fail "host pingpong server failed (size $size)"; }
  pp_check "guest client (size $size)" "$work/pp.gcli.$size"
  pp_check "host server (size $size)" "$work/pp.hsrv.$size"
  log "pingpong guest client -> host server, $size bytes x $n: guest $(grep -o '[0-9.]* usec/iter' "$work/pp.gcli.$size")"
}

host_clean() { # WHAT: the guest's processes are gone, so only the driver's device context is left
  [ "$(host_res ctx)" = $((base_ctx + 1)) ] && [ "$(host_res pd)" = "$base_pd" ] &&
    [ "$(host_res cq)" = "$base_cq" ] && [ "$(host_res qp)" = "$base_qp" ] && [ "$(host_res mr)" = "$base_mr" ] &&
    [ "$(host_res srq)" = "$base_srq" ] ||
    fail "host objects left after $1: ctx $(host_res ctx) pd $(host_res pd) cq $(host_res cq) qp $(host_res qp) mr $(host_res mr) srq $(host_res srq)"
  [ "$(quota mrs)" = 0 ] && [ "$(quota pinned_bytes)" = 0 ] && [ "$(quota qps)" = 0 ] ||
    fail "instance usage after $1: mrs $(quota mrs) pinned_bytes $(quota pinned_bytes) qps $(quota qps)"
}

for size in 4096 1048576; do
  pp_guest_server "$size"
  pp_host_server "$size"
done
host_clean "ibv_rc_pingpong"
assert_kernel_clean

# 64 MiB, registered in the guest, written by a host process.
mr_mib=64
gexec "$guest" sh -c "rm -f /tmp/mrw.in && mkfifo /tmp/mrw.in" || fail "mkfifo in the guest failed"
# <> opens the fifo without waiting for a writer: the target prints its address first.
guest_bg "$guest" /tmp/mrw.out "$mr_write hyv0 $gid_index target $mr_mib 0<>/tmp/mrw.in"
guest_poll "$guest" /tmp/mrw.out "$work/mrw.gc" 600 '^mr_write: target QPN ' || true
target=$(sed -n 's/^mr_write: target QPN \([0-9]*\) ADDR \(0x[0-9a-f]*\) RKEY \(0x[0-9a-f]*\) LEN \([0-9]*\)$/\1 \2 \3 \4/p' "$work/mrw.gc")
[ -n "$target" ] || { cat "$work/mrw.gc"; fail "the guest's mr_write target did not register its buffer"; }
pinned=$(quota pinned_bytes)
[ "$pinned" -ge $((mr_mib << 20)) ] || fail "quota/pinned_bytes $pinned while the guest holds a $mr_mib MiB MR"
mkfifo "$work/writer.in"
# shellcheck disable=SC2086 # QPN ADDR RKEY LEN
"$mr_write" rxe0 "$gid_index" writer $target > "$work/mrw.host" 2>&1 &
writer_pid=$!
wait_for 120 "the host writer's QPN" "grep -q '^mr_write: writer QPN' '$work/mrw.host'"
writer_qpn=$(awk '/^mr_write: writer QPN/ {print $4; exit}' "$work/mrw.host")
gexec "$guest" sh -c "echo $writer_qpn > /tmp/mrw.in" || fail "passing the writer's QPN to the guest failed"
wait "$writer_pid" || { cat "$work/mrw.host"; fail "host mr_write writer failed"; }
guest_wait "$guest" /tmp/mrw.out "$work/mrw.gc" 900 || { cat "$work/mrw.gc"; fail "the guest's mr_write target failed"; }
sed 's/^/  host| /' "$work/mrw.host"
sed 's/^/  guest| /' "$work/mrw.gc"
grep -q "^mr_write: PASS target $mr_mib MiB pattern verified$" "$work/mrw.gc" || fail "the guest did not find the pattern in its buffer"
host_clean "mr_write"
log "zero copy: $mr_mib MiB guest MR (quota/pinned_bytes $pinned) RDMA-written by a host process, pattern verified in guest memory"

# Quotas, seen by the guest application as the errno of the verb.
max_pinned=$(quota pinned_bytes_max) max_qps=$(quota qps_max)
echo $(((mr_mib << 20) - 4096)) > "/sys/bus/mdev/devices/$uuid/quota/pinned_bytes_max"
gexec "$guest" "$mr_write" hyv0 "$gid_index" target "$mr_mib" < /dev/null > "$work/quota.mr" 2>&1 &&
  fail "mr_write registered $mr_mib MiB beyond a smaller pinned-bytes quota"
grep -q 'FAIL: .*(errno 12 ' "$work/quota.mr" || { cat "$work/quota.mr"; fail "ibv_reg_mr beyond the pinned-bytes quota did not fail with ENOMEM"; }
echo "$max_pinned" > "/sys/bus/mdev/devices/$uuid/quota/pinned_bytes_max"
echo 0 > "/sys/bus/mdev/devices/$uuid/quota/qps_max"
gexec "$guest" "$qp_loop" hyv0 "$gid_index" > "$work/quota.qp" 2>&1 && fail "qp_loop created a QP with quota/qps_max 0"
grep -q 'FAIL: .*(errno 11 ' "$work/quota.qp" || { cat "$work/quota.qp"; fail "ibv_create_qp beyond the QP quota did not fail with EAGAIN"; }
echo "$max_qps" > "/sys/bus/mdev/devices/$uuid/quota/qps_max"
host_clean "the quota checks"
assert_kernel_clean
log "quotas in the guest: ibv_reg_mr ENOMEM beyond pinned_bytes_max, ibv_create_qp EAGAIN beyond qps_max; host unaffected"
