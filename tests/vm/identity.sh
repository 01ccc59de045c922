#!/bin/bash
# Network identity (docs/network.md): an instance bound to a macvlan of rxe0's netdev, with its own MAC
# and IPv4 address, in a nested guest (the guest session's, or one booted for this run).
# - The guest's GID table is exactly the host GIDs whose net device is the macvlan, in host order,
#   renumbered from 0 (identity/host_indices lists them), and follows the host: an address added to
#   or removed from the macvlan appears in or leaves the guest's table.
# - Unmodified ibv_rc_pingpong from the guest, with its own IPv4 GID, to a test host server. rxe
#   accepts a packet for an RC QP only from the address its path names (rxe_recv.c, check_addr), so the
#   run completing with the server's path naming the guest's address shows the guest's packets carry it.
#   The server's address is on the macvlan too: in the test bed RoCE between two addresses of one host
#   works only through rxe's loopback (same MAC), and 6.1's rxe drops RoCE received on a macvlan
#   (docs/network.md).
# The host's refusal of a source GID index outside the identity (a guest kernel that ignores its own
# GID table) is cmd_fuzz's part, in the host session's control-channel case.
source "$(dirname "$0")/device_lib.sh"
require_host

pp_guest_port=18515 pp_fwd_port=18516 pp_host_port=18517
iters=20
link=hyvtid mac=02:00:0a:4d:01:05 ip=10.77.1.5 ip2=10.77.1.6 peer_ip=10.77.1.1
netdev=$(rdma link show rxe0/1 | grep -o 'netdev [^ ]*' | awk '{print $2}')
[ -n "$netdev" ] || fail "rxe0 has no netdev"
host_gid_index=$(rxe_ipv4_gid_index)
port=/sys/class/infiniband/rxe0/ports/1
dmesg_mark
host_objects_mark
use_guest gi --mem 1024 --hostfwd "tcp:127.0.0.1:$pp_fwd_port-:$pp_guest_port" --guestfwd "$pp_host_port"
trap 'ip link del "$link" 2>/dev/null || true; cleanup' EXIT

# The GID of an IPv4 address as sysfs prints it.
ipv4_gid() { printf '0000:0000:0000:0000:0000:ffff:%02x%02x:%02x%02x\n' ${1//./ }; }
# Host indices of the GIDs whose net device is the macvlan, in table order. One grep over rxe's 1024
# entries: a cat per entry took tens of seconds per call in the test host.
own_host_indices() {
  { grep -lx "$link" "$port"/gid_attrs/ndevs/* 2>/dev/null || true; } | sed 's|.*/||' | sort -n
}
# The host index of the macvlan's RoCE v2 GID for IPv4 address IP; empty while there is none.
own_v2_index() { # IP
  local h
  for h in $(own_host_indices); do
    if [ "$(cat "$port/gids/$h")" = "$(ipv4_gid "$1")" ] && [ "$(cat "$port/gid_attrs/types/$h")" = "RoCE v2" ]; then
      echo "$h"
      return 0
    fi
  done
}
# The guest's non-empty GID table entries, index by index (one exec: each costs seconds in a nested guest).
guest_gids() {
  gexec "$guest" cat $(printf '/sys/class/infiniband/hyv0/ports/1/gids/%d ' $(seq 0 15)) |
    awk '$1 != "0000:0000:0000:0000:0000:0000:0000:0000" {print NR - 1, $1}'
}
# What the guest must see: the host's own GIDs renumbered from 0.
expected_gids() {
  local i=0 h
  for h in $(own_host_indices); do echo "$i $(cat "$port/gids/$h")"; i=$((i + 1)); done
}

ip link add "$link" link "$netdev" address "$mac" type macvlan mode bridge
# IPv4 only: IPv6 GIDs (link-local, router-advertised) would come and go at their own pace.
sysctl -qw "net.ipv6.conf.$link.disable_ipv6=1"
ip addr add "$ip/24" dev "$link"
ip addr add "$peer_ip/24" dev "$link"
ip link set "$link" up
export -f ipv4_gid own_host_indices own_v2_index
export port link
wait_for 60 "rxe0's RoCE v2 GIDs for $link's $ip and $peer_ip" "[ -n \"\$(own_v2_index $ip)\" ] && [ -n \"\$(own_v2_index $peer_ip)\" ]"
plug_instance hyvid "$link"
[ "$(cat "/sys/bus/mdev/devices/$uuid/identity/netdev")" = "$link" ] || fail "identity/netdev does not name $link"
[ "$(cat "/sys/bus/mdev/devices/$uuid/identity/host_indices")" = "$(own_host_indices)" ] ||
  fail "identity/host_indices '$(tr '\n' ' ' < "/sys/bus/mdev/devices/$uuid/identity/host_indices")' is not the GIDs of $link: $(own_host_indices | tr '\n' ' ')"

guest_gids > "$work/gids.guest"
expected_gids > "$work/gids.expected"
[ -s "$work/gids.expected" ] || fail "no host GID belongs to $link"
diff "$work/gids.expected" "$work/gids.guest" >&2 || fail "the guest's GID table is not exactly $link's GIDs"
grep -q " $(cat "$port/gids/$host_gid_index")\$" "$work/gids.guest" &&
  fail "the guest sees the test host's own GID $host_gid_index"
log "guest GID table = the $(wc -l < "$work/gids.expected") GIDs of $link (host indices $(own_host_indices | tr '\n' ' '))"

# The guest's index of the macvlan's RoCE v2 IPv4 GID.
v2_host=$(own_v2_index "$ip")
v2_guest=$(($(grep -nx "$v2_host" "/sys/bus/mdev/devices/$uuid/identity/host_indices" | cut -d: -f1) - 1))

# Guest -> test host with the identity's GID.
peer_host=$(own_v2_index "$peer_ip")
host_server_guest_client rc ibv_rc_pingpong "-g $peer_host -s 1024 -n $iters" "-g $v2_guest -s 1024 -n $iters"
grep -q "$iters iters in" "$work/rc.guest" || { cat "$work/rc.guest"; fail "guest ibv_rc_pingpong did not finish $iters iterations"; }
grep -q "remote address: .*GID ::ffff:$ip\$" "$work/rc.host" ||
  { cat "$work/rc.host"; fail "the test host's QP was not connected to the guest's $ip"; }
log "ibv_rc_pingpong guest (GID $v2_guest = host $v2_host, $ip) -> test host ($peer_ip): $(grep -o '[0-9.]* usec/iter' "$work/rc.guest")"
assert_host_clean "the guest's ibv_rc_pingpong"

# The guest's table follows the identity's addresses.
ip addr add "$ip2/24" dev "$link"
wait_for 120 "the guest's GID table to show $ip2" "'$vm' exec $guest --timeout 60 -- grep -qx '$(ipv4_gid $ip2)' /sys/class/infiniband/hyv0/ports/1/gids/{0..15}"
ip addr del "$ip2/24" dev "$link"
wait_for 120 "$ip2 to leave the guest's GID table" "! '$vm' exec $guest --timeout 60 -- grep -qx '$(ipv4_gid $ip2)' /sys/class/infiniband/hyv0/ports/1/gids/{0..15}"
guest_gids > "$work/gids.after"
diff "$work/gids.expected" "$work/gids.after" >&2 || fail "the guest's GID table differs after $ip2 came and went"
log "$ip2 added to and removed from $link: the guest's GID table followed"

hotplug_del hyvid
mdev_remove "$uuid"
ip link del "$link"
[ -z "$(own_host_indices)" ] || fail "GIDs of $link left on rxe0"
assert_kernel_clean
log "PASS identity"
