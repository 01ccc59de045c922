#!/bin/bash
# Two tenants on one host device (docs/network.md, docs/rdma-cm.md): nested guests g1 and g2, each with
# an instance of rxe0 bound to its own identity, an upper device of rxe0's netdev with its own address,
# run unmodified tools against each other:
# - rping -V, g2 client -> g1 server (bound to the wildcard) and g1 client -> g2 server; the test host
#   shows each guest's listen as QEMU's, on that guest's own address only;
# - ibv_rc_pingpong, g2 client -> g1 server, each with the GID of its own address: rxe accepts RC
#   packets only from the address the receiving QP's path names (rxe_recv.c, check_addr), so completing
#   shows each guest's packets carried its own source GID;
# - neither guest sees the other's GID, and g2's bind to g1's address is refused and counted.
# The identities are ipvlan devices (L2 mode) on one subnet, not hyvd's macvlans or VLANs, for the test
# bed's sake: between two addresses of one host RoCE works here only through rxe's loopback, which
# needs the destination MAC to be the sending device's own. A macvlan has a MAC of its own, and 6.1's
# rxe drops RoCE received on a macvlan (docs/network.md); two VLAN devices share their parent's MAC,
# but a looped-back packet keeps the sender's VLAN id and the receiver looks its destination GID up on
# that VLAN, so the CM's request is dropped. ipvlan devices share the parent's MAC and carry no VLAN.
# A permanent neighbour entry on each gives the other's address that MAC (no ARP between them: Linux
# takes an ARP request from a local source address as martian). To the module an identity is only
# "the net device whose GIDs are the guest's", whatever its type.
# A case of the guest session with its second guest (HYV_SESSION_GUEST2); not runnable alone.
source "$(dirname "$0")/device_lib.sh"
require_host

g1=${HYV_SESSION_GUEST:?run as a guest session case} g2=${HYV_SESSION_GUEST2:?run as a guest session case}
netdev=$(rdma link show rxe0/1 | grep -o 'netdev [^ ]*' | awk '{print $2}')
[ -n "$netdev" ] || fail "rxe0 has no netdev"
link1=hyvi71 ip1=10.77.7.5 link2=hyvi72 ip2=10.77.7.6
# ibv_rc_pingpong's TCP rendezvous: g2 -> 10.0.2.100:18517 (its guestfwd) -> this relay -> g1's hostfwd.
pp_guest_port=18515 pp_fwd_port=18516 pp_host_port=18517
count=5 iters=20
dmesg_mark
trap 'kill "${relay:-}" 2>/dev/null || true; ip link del "$link1" 2>/dev/null || true; ip link del "$link2" 2>/dev/null || true; cleanup' EXIT

ipv4_gid() { printf '0000:0000:0000:0000:0000:ffff:%02x%02x:%02x%02x\n' ${1//./ }; }
# The guest index of the GID of IPv4 address IP in guest G's table; empty when it has none.
guest_gid_index() { # G IP
  gexec "$1" cat $(printf '/sys/class/infiniband/hyv0/ports/1/gids/%d ' $(seq 0 15)) |
    awk -v g="$(ipv4_gid "$2")" '$1 == g {print NR - 1; exit}'
}
listening() { rdma resource show cm_id | grep 'state LISTEN' || true; }
export -f listening

mac=$(cat "/sys/class/net/$netdev/address")
for spec in "$link1 $ip1 $ip2" "$link2 $ip2 $ip1"; do
  read -r link addr other <<<"$spec"
  ip link add "$link" link "$netdev" type ipvlan mode l2
  sysctl -qw "net.ipv6.conf.$link.disable_ipv6=1"
  ip addr add "$addr/24" dev "$link"
  ip link set "$link" up
  ip neigh replace "$other" lladdr "$mac" dev "$link" nud permanent
  wait_for 60 "rxe0's GID for $link's $addr" "grep -qx '$(ipv4_gid "$addr")' /sys/class/infiniband/rxe0/ports/1/gids/*"
done
guest=$g1; plug_instance hyvt1 "$link1"; uuid1=$uuid; qmp_close
guest=$g2; plug_instance hyvt2 "$link2"; uuid2=$uuid; qmp_close

gi1=$(guest_gid_index "$g1" "$ip1") gi2=$(guest_gid_index "$g2" "$ip2")
[ -n "$gi1" ] && [ -n "$gi2" ] || fail "a guest lacks its own GID: g1 index '$gi1', g2 index '$gi2'"
[ -z "$(guest_gid_index "$g1" "$ip2")" ] && [ -z "$(guest_gid_index "$g2" "$ip1")" ] ||
  fail "a guest sees the other guest's GID"
log "g1 has $ip1 at GID $gi1, g2 has $ip2 at GID $gi2; neither sees the other's"

# rping g2 -> g1, g1's server on the wildcard.
guest_bg "$g1" /tmp/rping.srv "rping -s -a 0.0.0.0 -C $count -V -v"
wait_for 300 "g1's rping server to listen" "listening | grep qemu | grep -q ':7174'"
listen=$(listening | grep qemu)
grep -q "src-addr $ip1:7174" <<<"$listen" || fail "g1's listen is not on its own $ip1: $listen"
gexec "$g2" timeout 600 rping -c -a "$ip1" -C "$count" -V -v > "$work/rping1.g2" 2>&1 ||
  { cat "$work/rping1.g2"; gexec "$g1" cat /tmp/rping.srv; fail "g2's rping client against g1's server failed"; }
guest_wait "$g1" /tmp/rping.srv "$work/rping1.g1" 300 || { cat "$work/rping1.g1"; fail "g1's rping server failed"; }
[ "$(grep -c 'ping data: rdma-ping-' "$work/rping1.g2")" = "$count" ] ||
  { cat "$work/rping1.g2"; fail "g2's rping did not verify $count pings"; }
log "rping g2 ($ip2) -> g1 ($ip1, listening on the host as $(grep -o 'comm [^ ]*' <<<"$listen")): $count pings verified"

# rping g1 -> g2.
guest_bg "$g2" /tmp/rping.srv "rping -s -a $ip2 -C $count -V -v"
wait_for 300 "g2's rping server to listen" "listening | grep qemu | grep -q 'src-addr $ip2:7174'"
gexec "$g1" timeout 600 rping -c -a "$ip2" -C "$count" -V -v > "$work/rping2.g1" 2>&1 ||
  { cat "$work/rping2.g1"; gexec "$g2" cat /tmp/rping.srv; fail "g1's rping client against g2's server failed"; }
guest_wait "$g2" /tmp/rping.srv "$work/rping2.g2" 300 || { cat "$work/rping2.g2"; fail "g2's rping server failed"; }
[ "$(grep -c 'ping data: rdma-ping-' "$work/rping2.g1")" = "$count" ] ||
  { cat "$work/rping2.g1"; fail "g1's rping did not verify $count pings"; }
log "rping g1 -> g2: $count pings verified"

# ibv_rc_pingpong g2 -> g1, each with its own GID.
socat "TCP-LISTEN:$pp_host_port,bind=127.0.0.1,reuseaddr" "TCP:127.0.0.1:$pp_fwd_port" &
relay=$!
guest_bg "$g1" /tmp/rc.srv "ibv_rc_pingpong -d hyv0 -g $gi1 -s 1024 -n $iters -p $pp_guest_port"
guest=$g1 guest_wait_listening "$pp_guest_port" || { gexec "$g1" cat /tmp/rc.srv; fail "g1's ibv_rc_pingpong never listened"; }
gexec "$g2" timeout 600 ibv_rc_pingpong -d hyv0 -g "$gi2" -s 1024 -n "$iters" -p "$pp_host_port" 10.0.2.100 \
  > "$work/rc.g2" 2>&1 || { cat "$work/rc.g2"; gexec "$g1" cat /tmp/rc.srv; fail "g2's ibv_rc_pingpong against g1 failed"; }
guest_wait "$g1" /tmp/rc.srv "$work/rc.g1" 300 || { cat "$work/rc.g1"; fail "g1's ibv_rc_pingpong server failed"; }
grep -q "remote address: .*GID ::ffff:$ip2\$" "$work/rc.g1" ||
  { cat "$work/rc.g1"; fail "g1's QP was not connected to g2's $ip2"; }
grep -q "$iters iters in" "$work/rc.g2" || { cat "$work/rc.g2"; fail "g2's ibv_rc_pingpong did not finish $iters iterations"; }
log "ibv_rc_pingpong g2 (GID $gi2, $ip2) -> g1 (GID $gi1, $ip1): $(grep -o '[0-9.]* usec/iter' "$work/rc.g2")"

# g2 may not take g1's address.
refusals=$(counter "$uuid2" gid_refusals)
if gexec "$g2" timeout 120 rping -s -a "$ip1" -C 1 > "$work/refused.g2" 2>&1; then
  cat "$work/refused.g2"; fail "g2's rping could bind g1's address $ip1"
fi
grep -q 'Cannot assign requested address' "$work/refused.g2" || { cat "$work/refused.g2"; fail "g2's bind to $ip1 failed for another reason"; }
[ "$(counter "$uuid2" gid_refusals)" -gt "$refusals" ] || fail "g2's refused bind was not counted"
log "g2's bind to g1's $ip1: refused, counted"

wait_for 60 "the guests' CM IDs to leave the test host" "[ -z \"\$(rdma resource show cm_id | grep qemu)\" ]"
for spec in "$g1 hyvt1 $uuid1" "$g2 hyvt2 $uuid2"; do
  read -r guest id uuid <<<"$spec"
  qmp_open "$("$vm" path "$guest")/qmp2.sock"
  hotplug_del "$id"
  qmp_close
  mdev_remove "$uuid"
done
ip link del "$link1"
ip link del "$link2"
assert_kernel_clean
log "PASS two guests"
