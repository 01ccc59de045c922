#!/bin/bash
# The data path's trap budget: unmodified perftest ib_write_bw in a nested guest (hyv0) sending
# 4 KiB RDMA WRITEs to a test host server (rxe0). Each ibv_post_send is one trapped write, the send
# kick (HYV_CTRL_SEND_KICK), and nothing is read back, so across N iterations the instance's
# trapped_writes may rise by at most N plus the set-up's commands, and trapped_reads by the set-up's
# alone. The figures are the test host server's: in the nested guest the cycle counter is unreliable.
source "$(dirname "$0")/device_lib.sh"
require_host

pp_guest_port=18515 pp_fwd_port=18516 pp_host_port=18517
iters=2000
# Set-up and teardown: context, PD, CQ, QP, MR, modify QP and queries, 4 writes and 1 read each,
# plus the ring releases: 21 commands (84 writes, 21 reads) measured for ib_write_bw.
setup_writes=200 setup_reads=50
gid_index=$(rxe_ipv4_gid_index)
dmesg_mark
base_ctx=$(host_res ctx)
use_guest gk --mem 1024 --hostfwd "tcp:127.0.0.1:$pp_fwd_port-:$pp_guest_port" --guestfwd "$pp_host_port"
plug_instance hyvkick

bw="-s 4096 -n $iters -x $gid_index -p $pp_host_port -F"
# shellcheck disable=SC2086 # bw is a list of options
ib_write_bw -d rxe0 $bw > "$work/bw.host" 2>&1 &
pid=$!
wait_for 60 "the host's ib_write_bw server" "ss -ltn | grep -q ':$pp_host_port '"
writes=$(counter "$uuid" trapped_writes) reads=$(counter "$uuid" trapped_reads) cmds=$(counter "$uuid" commands)
# shellcheck disable=SC2086
gexec "$guest" timeout 900 ib_write_bw -d hyv0 $bw 10.0.2.100 > "$work/bw.guest" 2>&1 ||
  { cat "$work/bw.guest"; kill "$pid" 2>/dev/null; fail "guest ib_write_bw against the host server failed"; }
wait "$pid" || { cat "$work/bw.host"; fail "host ib_write_bw server failed"; }
d_writes=$(($(counter "$uuid" trapped_writes) - writes)) d_reads=$(($(counter "$uuid" trapped_reads) - reads))
d_cmds=$(($(counter "$uuid" commands) - cmds))
sed 's/^/  host| /' "$work/bw.host"
line=$(awk '$1 == 4096 && $2 == '"$iters"' {print; exit}' "$work/bw.host")
[ -n "$line" ] || fail "the host server printed no 4096-byte, $iters-iteration result"
log "ib_write_bw guest -> host, 4 KiB x $iters: host reports '$line'; trapped writes +$d_writes, reads +$d_reads, commands +$d_cmds"
[ "$d_writes" -ge "$iters" ] || fail "trapped_writes rose by $d_writes over $iters sends: the kicks were not counted"
[ "$d_writes" -le $((iters + setup_writes)) ] ||
  fail "trapped_writes rose by $d_writes over $iters sends, more than one per send (+$setup_writes for the set-up)"
[ "$d_reads" -le "$setup_reads" ] || fail "trapped_reads rose by $d_reads over $iters sends: sends read something back"
[ "$(counter "$uuid" command_errors)" = 0 ] || fail "command_errors $(counter "$uuid" command_errors): a kick failed"
[ "$(host_res ctx)" = $((base_ctx + 1)) ] || fail "host ctx count $(host_res ctx) after ib_write_bw"

hotplug_del hyvkick
mdev_remove "$uuid"
assert_kernel_clean
log "PASS send_kick"
