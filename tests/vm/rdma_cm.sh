#!/bin/bash
# rdma_cm in a nested guest (docs/rdma-cm.md), with the instance bound to a network identity (a macvlan
# of rxe0's netdev with the guest's address), against test host processes, all unmodified rdmacm-utils:
# - rping with data verification, guest client -> test host server, then test host client -> guest
#   server; the guest server binds the wildcard, which the host turns into the identity's address;
# - ucmatose, guest client -> test host server and test host client -> guest server;
# - udaddy (UD), guest client -> test host server (a guest UD server needs the guest's net device);
# - perftest ib_write_bw -R, guest client -> test host server;
# - the guest's CM IDs are QEMU's on the host (rdma res show cm_id): a listen carries the guest's address;
# - a bind to the test host's own address is refused (EADDRNOTAVAIL) and counted in gid_refusals;
# - nothing is left on the host afterwards: no CM ID, QP or CQ, and quota/cm_ids is back to 0;
# - then again with the guest's net device (virtio_hyv netdev=1, docs/network.md): the port is RoCE v2, its
#   GIDs the addresses the guest gives that device, so udaddy answers as the guest server too; rping and
#   udaddy from the guest; an address outside the identity does not become a GID, and is counted.
# As in identity.sh the test host's peer address is on the macvlan too: RoCE between two addresses of
# one host in the test bed works only through rxe's loopback (docs/network.md).
source "$(dirname "$0")/device_lib.sh"
require_host

link=hyvtcm mac=02:00:0a:4d:02:05 ip=10.77.2.5 peer_ip=10.77.2.1
netdev=$(rdma link show rxe0/1 | grep -o 'netdev [^ ]*' | awk '{print $2}')
[ -n "$netdev" ] || fail "rxe0 has no netdev"
host_ip=$(rxe_gid_ipv4 "$(rxe_ipv4_gid_index)")
count=5
dmesg_mark
host_objects_mark
use_guest gc --mem 1024
trap 'ip link del "$link" 2>/dev/null || true; cleanup' EXIT

# The test host's CM IDs (rdma_cm's, the guest's among them) whose source is one of this case's addresses.
cm_ids() { rdma resource show cm_id | grep -F "src-addr 10.77.2." || true; }
# The test host's listening CM IDs.
listening() { rdma resource show cm_id | grep 'state LISTEN' || true; }
export -f listening
# A test host server (HOST_CMD, in the background) until its listen matches PATTERN, then the guest's
# client (GUEST_CMD); their outputs in $work/PREFIX.host and $work/PREFIX.guest.
host_server_guest_client_cm() { # PREFIX PATTERN "HOST_CMD" "GUEST_CMD"
  local prefix=$1 pattern=$2 pid
  # shellcheck disable=SC2086 # commands are lists
  timeout 600 $3 > "$work/$prefix.host" 2>&1 &
  pid=$!
  wait_for 60 "the test host's $prefix server" "listening | grep -q '$pattern'"
  # shellcheck disable=SC2086
  gexec "$guest" timeout 600 $4 > "$work/$prefix.guest" 2>&1 ||
    { cat "$work/$prefix.guest"; kill "$pid" 2>/dev/null; cat "$work/$prefix.host"; fail "guest $prefix client against the test host's server failed"; }
  wait "$pid" || { cat "$work/$prefix.host"; fail "the test host's $prefix server failed"; }
}
# The guest's server (GUEST_CMD, in the background) until the test host sees it listen on PORT, then the
# test host's client (HOST_CMD); their outputs in $work/PREFIX.guest and $work/PREFIX.host.
guest_server_host_client_cm() { # PREFIX "GUEST_CMD" PORT "HOST_CMD"
  local prefix=$1
  guest_bg "$guest" "/tmp/$prefix.srv" "$2"
  wait_for 300 "the guest's $prefix server to listen" "listening | grep qemu | grep -q ':$3'"
  # shellcheck disable=SC2086 # a command list
  timeout 600 $4 > "$work/$prefix.host" 2>&1 ||
    { cat "$work/$prefix.host"; gexec "$guest" cat "/tmp/$prefix.srv"; fail "test host $prefix client against the guest's server failed"; }
  guest_wait "$guest" "/tmp/$prefix.srv" "$work/$prefix.guest" 300 ||
    { cat "$work/$prefix.guest"; fail "the guest's $prefix server failed"; }
}
# Until COMMAND (a function of this script, which wait_for's own shell does not have) succeeds.
until_true() { # SECONDS COMMAND
  local deadline=$((SECONDS + $1))
  until "$2"; do
    [ $SECONDS -lt "$deadline" ] || return 1
    sleep 1
  done
}
# rping, guest client -> test host server: $count pings verified. Outputs $work/PREFIX.{host,guest}.
rping_from_guest() { # PREFIX
  host_server_guest_client_cm "$1" "src-addr $peer_ip:7174" "rping -s -a $peer_ip -C $count -V -v" \
    "rping -c -a $peer_ip -I $ip -C $count -V -v"
  [ "$(grep -c 'ping data: rdma-ping-' "$work/$1.guest")" = "$count" ] ||
    { cat "$work/$1.guest"; fail "the guest's rping ($1) did not verify $count pings"; }
}
# udaddy (UD over rdma_cm), guest client -> test host server.
udaddy_from_guest() { # PREFIX
  host_server_guest_client_cm "$1" "src-addr $peer_ip:7174" "udaddy -b $peer_ip" "udaddy -s $peer_ip -b $ip"
  grep -q 'test complete' "$work/$1.guest" || { cat "$work/$1.guest"; fail "the guest's udaddy ($1) did not complete"; }
}

ip link add "$link" link "$netdev" address "$mac" type macvlan mode bridge
sysctl -qw "net.ipv6.conf.$link.disable_ipv6=1"
ip addr add "$ip/24" dev "$link"
ip addr add "$peer_ip/24" dev "$link"
ip link set "$link" up
wait_for 60 "rxe0's GIDs for $link's $ip and $peer_ip" \
  "grep -qx '0000:0000:0000:0000:0000:ffff:0a4d:0205' /sys/class/infiniband/rxe0/ports/1/gids/* && grep -qx '0000:0000:0000:0000:0000:ffff:0a4d:0201' /sys/class/infiniband/rxe0/ports/1/gids/*"
plug_instance hyvcm "$link"
gexec "$guest" test -c /dev/infiniband/rdma_cm || fail "the guest has no /dev/infiniband/rdma_cm"
refusals0=$(counter "$uuid" gid_refusals)

# Guest client -> test host server.
rping_from_guest rping1
log "rping guest ($ip) -> test host ($peer_ip): $count pings verified"

# Test host client -> guest server bound to the wildcard. The server sleeps in GET_EVENT: each host
# event reaches it as an interrupt.
interrupts0=$(counter "$uuid" interrupts)
guest_bg "$guest" /tmp/rping.srv "rping -s -a 0.0.0.0 -C $count -V -v"
wait_for 300 "the guest's rping server to listen" "listening | grep qemu | grep -q ':7174'"
listen=$(listening | grep qemu)
log "the guest's listen on the host: $listen"
grep -q 'src-addr 0.0.0.0' <<<"$listen" && fail "the guest listens on the test host's wildcard address"
listen_ip=$(grep -o 'src-addr 10.77.2.[0-9]*' <<<"$listen" | cut -d' ' -f2)
timeout 600 rping -c -a "$listen_ip" -C "$count" -V -v > "$work/rping2.host" 2>&1 ||
  { cat "$work/rping2.host"; gexec "$guest" cat /tmp/rping.srv; fail "test host rping client against the guest's server failed"; }
guest_wait "$guest" /tmp/rping.srv "$work/rping2.guest" 300 ||
  { cat "$work/rping2.guest"; fail "the guest's rping server failed"; }
[ "$(grep -c 'ping data: rdma-ping-' "$work/rping2.host")" = "$count" ] ||
  { cat "$work/rping2.host"; fail "the test host's rping did not verify $count pings"; }
interrupts1=$(counter "$uuid" interrupts)
[ "$interrupts1" -gt "$interrupts0" ] || fail "no interrupt announced the guest server's rdma_cm events"
log "rping test host -> guest (wildcard bound as $listen_ip): $count pings verified; interrupts $interrupts0 -> $interrupts1"

# ucmatose: guest client -> test host server.
host_server_guest_client_cm ucmatose "src-addr $peer_ip:7471" "ucmatose -b $peer_ip" "ucmatose -s $peer_ip -b $ip"
grep -q 'test complete' "$work/ucmatose.guest" || { cat "$work/ucmatose.guest"; fail "the guest's ucmatose did not complete"; }
log "ucmatose guest -> test host: $(grep -c 'receiving data transfers' "$work/ucmatose.guest") receive round(s), test complete"

# Test host client -> guest server (wildcard, as the rping server's).
guest_server_host_client_cm ucmatose2 "ucmatose" 7471 "ucmatose -s $listen_ip -b $peer_ip"
grep -q 'test complete' "$work/ucmatose2.host" || { cat "$work/ucmatose2.host"; fail "the test host's ucmatose did not complete"; }
log "ucmatose test host -> guest: test complete"

# perftest over rdma_cm, guest client -> test host server. Under two levels of TCG the guest's cycle
# counter can fail perftest's calibration ("Can't produce a report", docs/benchmarks.md); -F lets it
# finish anyway: this checks the connection and the transfer, not the figures.
host_server_guest_client_cm bw ":18600" "ib_write_bw -R -d rxe0 -p 18600 -s 4096 -n 200" \
  "ib_write_bw -R -F -d hyv0 -p 18600 -s 4096 -n 200 --source_ip $ip $peer_ip"
grep -q '^ *4096 *200 ' "$work/bw.guest" || { cat "$work/bw.guest"; fail "the guest's ib_write_bw -R printed no result line"; }
log "ib_write_bw -R guest -> test host: 200 writes of 4096 B done"

# udaddy (UD over rdma_cm). librxe resolves an address handle's MAC in the guest's own network stack
# (ibv_resolve_eth_l2_from_gid) before the host sees it, so the guest needs its identity's address on an
# interface and a neighbour entry for the peer; the host ignores that MAC and resolves its own.
gexec "$guest" sh -c "ip addr add $ip/24 dev eth0 && ip neigh replace $peer_ip lladdr $mac dev eth0 nud permanent" ||
  fail "giving the guest's eth0 $ip and a neighbour $peer_ip failed"
udaddy_from_guest udaddy
log "udaddy guest -> test host: test complete"
gexec "$guest" sh -c "ip neigh del $peer_ip dev eth0; ip addr del $ip/24 dev eth0" ||
  fail "taking $ip and the neighbour off the guest's eth0 failed"

# A bind to the test host's own address is refused, and counted.
if gexec "$guest" timeout 120 rping -s -a "$host_ip" -C 1 > "$work/refused.guest" 2>&1; then
  cat "$work/refused.guest"; fail "the guest's rping could bind the test host's address $host_ip"
fi
grep -q 'Cannot assign requested address' "$work/refused.guest" ||
  { cat "$work/refused.guest"; fail "the guest's bind to $host_ip failed for another reason than EADDRNOTAVAIL"; }
[ "$(counter "$uuid" gid_refusals)" -gt "$refusals0" ] || fail "the refused bind was not counted in gid_refusals"
log "a bind to the test host's $host_ip: refused (EADDRNOTAVAIL), gid_refusals $refusals0 -> $(counter "$uuid" gid_refusals)"

# Nothing of the tools left on the host; then the instance goes.
unplug_clean() { # AFTER_WHAT
  wait_for 60 "the guest's CM IDs to leave the test host" "[ -z \"\$(rdma resource show cm_id | grep qemu)\" ]"
  [ -z "$(cm_ids)" ] || fail "CM IDs left on the test host after $1: $(cm_ids)"
  # Every CM ID the guest made or was handed (the servers' connection requests) was counted and given back.
  [ "$(cat "/sys/bus/mdev/devices/$uuid/quota/cm_ids")" = 0 ] ||
    fail "quota/cm_ids $(cat "/sys/bus/mdev/devices/$uuid/quota/cm_ids") after $1"
  assert_host_clean "$1"
  hotplug_del hyvcm
  mdev_remove "$uuid"
  qmp_close
}
unplug_clean "the rdma_cm tools"

# The guest's net device: hyv0's port becomes RoCE v2 over it, with the identity's MAC; the guest gives
# it the identity's address, as it would an SR-IOV function's net device. It resolves no neighbour (the
# host resolves every MAC itself): librxe's own lookup gets a permanent entry, as on eth0 above.
gexec "$guest" sh -c 'echo 1 > /sys/module/virtio_hyv/parameters/netdev' || fail "virtio_hyv has no netdev parameter"
plug_instance hyvcm "$link"
gnet=$(gexec "$guest" ls /sys/class/infiniband/hyv0/device/net) || fail "hyv0 brought no net device"
[ "$(gexec "$guest" cat "/sys/class/net/$gnet/address")" = "$mac" ] ||
  fail "the guest's $gnet has MAC $(gexec "$guest" cat "/sys/class/net/$gnet/address"), not the identity's $mac"
gexec "$guest" sh -c "ip link set $gnet up && ip addr add $ip/24 dev $gnet && ip neigh replace $peer_ip lladdr $mac dev $gnet nud permanent" ||
  fail "giving the guest's $gnet $ip and a neighbour $peer_ip failed"
roce_v2_gid() { grep -q "::ffff:$ip, RoCE v2" <<<"$(gexec "$guest" ibv_devinfo -v -d hyv0)"; }
if ! until_true 60 roce_v2_gid; then
  gexec "$guest" sh -c "ibv_devinfo -v -d hyv0 | grep GID; ip addr show $gnet; dmesg | tail -n 20"
  fail "the guest's hyv0 has no RoCE v2 GID of $ip (above: its GIDs, $gnet and its kernel log)"
fi
log "the guest's $gnet ($mac, $ip): $(gexec "$guest" ibv_devinfo -v -d hyv0 | grep -c 'GID\[') GID(s), $ip's RoCE v2; host indices $(tr '\n' ' ' < "/sys/bus/mdev/devices/$uuid/identity/host_indices")"

# udaddy, test host client -> guest server: the guest answers from the work completion.
guest_server_host_client_cm udaddy2 "udaddy -b $ip" 7174 "udaddy -s $ip -b $peer_ip"
if ! grep -q 'sending replies' "$work/udaddy2.guest" || ! grep -q 'test complete' "$work/udaddy2.host"; then
  cat "$work/udaddy2.guest" "$work/udaddy2.host"; fail "the guest's udaddy server did not answer"
fi
log "udaddy test host -> guest: the guest server replied, test complete"

udaddy_from_guest udaddy3
rping_from_guest rping3
log "udaddy and rping guest -> test host over $gnet: test complete, $count pings verified"

# An address that is not the identity's never becomes a GID of the guest; the attempt counts.
refusals0=$(counter "$uuid" gid_refusals)
gexec "$guest" ip addr add 10.77.2.9/24 dev "$gnet" || fail "adding 10.77.2.9 to the guest's $gnet failed"
refused_gid() { grep -q '10.77.2.9 is not one of the VM' <<<"$(gexec "$guest" dmesg)"; }
until_true 60 refused_gid || fail "the guest driver did not refuse 10.77.2.9 as a GID within 60 s"
[ "$(counter "$uuid" gid_refusals)" -gt "$refusals0" ] || fail "the host did not count the refusal of 10.77.2.9"
grep -q '::ffff:10.77.2.9' <<<"$(gexec "$guest" ibv_devinfo -v -d hyv0)" && fail "10.77.2.9, not the identity's, is a GID of the guest"
log "10.77.2.9 on the guest's $gnet: not a GID, gid_refusals $refusals0 -> $(counter "$uuid" gid_refusals)"
unplug_clean "the rdma_cm tools over $gnet"
gexec "$guest" sh -c 'echo 0 > /sys/module/virtio_hyv/parameters/netdev'
gexec "$guest" test -e "/sys/class/net/$gnet" && fail "the guest's $gnet outlived its device"
ip link del "$link"
assert_kernel_clean
log "PASS rdma_cm"
