#!/usr/bin/env bash
# hyv with a real libvirtd 9.0 in the test host VM (docs/libvirt.md): the qemu hook installed
# in /etc/libvirt/hooks/qemu.d, hyvd following libvirt's events, nested TCG domains with a busybox
# guest that prints the hyv PCI functions it sees. One boot of the test host for every step.
# usage: libvirt_domain.sh   (on the build machine; boots the test host VM and runs itself inside)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
if [ "${1:-}" != --inside ]; then
  build=$(cd "${HYV_BUILD_DIR:-$repo/build}" && pwd)
  exec "$repo/tools/vm.sh" run --timeout 2400 -- "$here/libvirt_domain.sh" --inside "$build"
fi
build=$2
hyvd_bin=$build/hyvd/hyvd
hyvctl=$build/hyvctl/hyvctl
work=$(mktemp -d /tmp/hyv-libvirt-test.XXXXXX)
sock=$work/hyvd.sock
hyvd_pid=
libvirtd_pid=
t0=$(date +%s)

# Progress also goes to the test host's console, so `tail -f $(tools/vm.sh path run-*)/console.log` follows it.
log() { echo "[$(( $(date +%s) - t0 ))s] $*"; echo "libvirt test: [$(( $(date +%s) - t0 ))s] $*" >/dev/console 2>/dev/null || true; }
show_logs() {
  echo "--- hyvd log"; tail -n 60 "$work/hyvd.log" 2>/dev/null || true
  echo "--- libvirtd log"; tail -n 30 "$work/libvirtd.log" 2>/dev/null || true
  for c in "$work"/*.console; do [ -e "$c" ] && { echo "--- $c"; tail -n 5 "$c"; }; done
  for q in /var/log/libvirt/qemu/*.log; do [ -e "$q" ] && { echo "--- $q"; tail -n 5 "$q"; }; done
}
# The cause comes after the logs on stderr: CI shows the tail of a failing test's output.
fail() { log "FAIL: $*"; show_logs >&2; echo "FAIL: $*" >&2; exit 1; }
cleanup() {
  for d in $(virsh list --name 2>/dev/null); do virsh destroy "$d" >/dev/null 2>&1 || true; done
  [ -n "$hyvd_pid" ] && kill -TERM "$hyvd_pid" 2>/dev/null && wait "$hyvd_pid" 2>/dev/null || true
  [ -n "$libvirtd_pid" ] && kill -TERM "$libvirtd_pid" 2>/dev/null && wait "$libvirtd_pid" 2>/dev/null || true
}
trap cleanup EXIT
ctl() { "$hyvctl" --socket "$sock" "$@"; }
# wait_for SECONDS DESCRIPTION CMD...: polls CMD every 0.5 s.
wait_for() {
  local seconds=$1 what=$2; shift 2
  local end=$(( $(date +%s) + seconds ))
  until "$@" >/dev/null 2>&1; do
    [ "$(date +%s)" -lt "$end" ] || fail "timed out after ${seconds}s waiting for $what"
    sleep 0.5
  done
}
row() {  # row VM GUID -> "state persistent" or "none"
  ctl --json list "$1" | python3 -c "import json,sys
rows=[r for r in json.load(sys.stdin) if r['guid']==sys.argv[1]]
print(f\"{rows[0]['state']} {str(rows[0]['persistent']).lower()}\" if rows else 'none')" "$2"
}
row_is() { [ "$(row "$1" "$2")" = "$3" ]; }
mdev_of() { ctl --json list "$1" | python3 -c "import json,sys
print(next(r['mdev'] for r in json.load(sys.stdin) if r['guid']==sys.argv[1]))" "$2"; }
mdev_exists() { [ -e "/sys/bus/mdev/devices/$1" ]; }
mdev_gone() { [ ! -e "/sys/bus/mdev/devices/$1" ]; }
domstate_is() { [ "$(virsh domstate "$1" 2>/dev/null)" = "$2" ]; }
# The guest prints "HYV-PCI n: <bus addresses of 1af4:107f functions>" whenever the list changes.
guest_sees() { grep -q "^HYV-PCI $2:" <<<"$(grep -a "^HYV-PCI" "$work/$1.console" 2>/dev/null | tail -n1)"; }
guest_boots() { grep -ac "^HYV-GUEST-READY" "$work/$1.console" 2>/dev/null || true; }

# --- libvirtd without systemd, with hyv's hook installed
cat > /etc/libvirt/qemu.conf <<'EOF'
user = "root"
group = "root"
namespaces = [ ]
security_driver = "none"
cgroup_controllers = [ ]
stdio_handler = "file"
EOF
rm -f /etc/libvirt/qemu/networks/autostart/*.xml
mkdir -p /etc/libvirt/hooks/qemu.d /var/lib/libvirt /var/cache/libvirt /var/log/libvirt/qemu
ln -sf "$build/libvirt-hooks/hyv-libvirt-hook" /etc/libvirt/hooks/qemu.d/hyv
start_libvirtd() {
  /usr/sbin/libvirtd >>"$work/libvirtd.log" 2>&1 &
  libvirtd_pid=$!
  wait_for 60 "libvirtd" virsh -q version
}
# start_hyvd [BINARY [ENV...]]: waits until it answers (a SIGKILLed hyvd leaves its socket file behind).
# Unplug needs the nested guest's acknowledgement, which can take many seconds under nested TCG.
start_hyvd() {
  local binary=${1:-$hyvd_bin}; shift $(( $# > 0 ? 1 : 0 ))
  env "$@" "$binary" --config "$work/empty.conf" --db "$work/hyv.db" --socket "$sock" --log-level debug \
    --detach-timeout 300 --reconcile-detach-timeout 300 >>"$work/hyvd.log" 2>&1 &
  hyvd_pid=$!
  wait_for 30 "hyvd ($binary) to serve $sock" ctl status
}
stop_hyvd() { kill -TERM "$hyvd_pid"; wait "$hyvd_pid" || fail "hyvd exited $? on SIGTERM"; hyvd_pid=; }
: > "$work/empty.conf"
start_libvirtd
start_hyvd
log "libvirtd and hyvd up"

# --- two RDMA devices: rxe0 on eth0, rxe1 on a veth
ip link add hyvveth0 type veth peer name hyvveth1
ip link set hyvveth0 up && ip link set hyvveth1 up
rdma link add rxe1 type rxe netdev hyvveth0
wait_for 10 "hyv parent of rxe1" test -e /sys/class/hyv/rxe1/node_guid
guid0=$(cat /sys/class/hyv/rxe0/node_guid)
guid1=$(cat /sys/class/hyv/rxe1/node_guid)
[ "$guid0" != "$guid1" ] || fail "rxe0 and rxe1 have the same GUID $guid0"

# --- the guest: busybox, ACPI power button handled by powering off, hyv functions printed on change
kver=$(uname -r)
mkdir -p "$work/initramfs/bin" "$work/initramfs/proc" "$work/initramfs/sys" "$work/initramfs/dev"
cp /bin/busybox "$work/initramfs/bin/busybox"
for applet in $(/bin/busybox --list); do [ "$applet" = busybox ] || ln -s busybox "$work/initramfs/bin/$applet"; done
cp "/lib/modules/$kver/kernel/drivers/acpi/button.ko" "$work/initramfs/button.ko"
cat > "$work/initramfs/init" <<'EOF'
#!/bin/busybox sh
mount -t proc proc /proc; mount -t sysfs sysfs /sys; mount -t devtmpfs dev /dev
insmod /button.ko
echo "HYV-GUEST-READY" > /dev/ttyS0
last=
# Shell builtins only, but for sleep: a fork costs tens of milliseconds under two levels of TCG, and
# this loop runs every second for the whole test.
while true; do
  now=
  for d in /sys/bus/pci/devices/*; do
    read vendor < $d/vendor; read device < $d/device
    [ "$vendor:$device" = 0x1af4:0x107f ] && now="$now ${d##*/}"
  done
  set -- $now
  [ "$now" != "$last" ] && echo "HYV-PCI $#:$now" > /dev/ttyS0 && last=$now
  read presses _ < /sys/firmware/acpi/interrupts/ff_pwr_btn
  [ "$presses" != 0 ] && poweroff -f
  sleep 1
done
EOF
chmod +x "$work/initramfs/init"
(cd "$work/initramfs" && find . | cpio -o -H newc --quiet > "$work/guest.cpio")

# The kernel and boot options of tools/vm.sh's nested guests: the ELF vmlinux it extracted (PVH boot,
# no decompression under two levels of TCG) when there is one, no mitigations, no crypto self-tests.
kernel=$("$repo/tools/vm.sh" kernel)
boot_options=$("$repo/tools/vm.sh" boot-options)
guest_booted() { [ "$(guest_boots "$1")" -ge 1 ]; }
# domain_xml NAME METADATA DEVICES [guest-os]: a q35 TCG domain with free hot-plug ports and a console
# file. With guest-os it boots the busybox guest above. Without, it runs firmware only: SeaBIOS finds
# nothing to boot and halts until an interrupt (rebootTimeout -1: no reset every 60 s). QEMU's PCI
# bus, libvirt's XML and the hook are what hyv acts on there; a kernel boot under two levels of TCG
# costs a minute or more of CPU, and vm2 alone starts four times.
domain_xml() {
  local os="<bios rebootTimeout='-1'/>"
  [ "${4:-}" = guest-os ] && os="<kernel>$kernel</kernel><initrd>$work/guest.cpio</initrd>
    <cmdline>console=ttyS0 panic=-1 quiet $boot_options</cmdline>"
  cat <<EOF
<domain type='qemu'>
  <name>$1</name>
  <memory unit='MiB'>192</memory>
  <vcpu>1</vcpu>
  <metadata>$2</metadata>
  <os><type arch='x86_64' machine='q35'>hvm</type>$os</os>
  <features><acpi/><apic/></features>
  <devices>
    <emulator>/usr/bin/qemu-system-x86_64</emulator>
    <controller type='pci' model='pcie-root'/><controller type='usb' model='none'/>
    <controller type='pci' model='pcie-root-port'/><controller type='pci' model='pcie-root-port'/>
    <controller type='pci' model='pcie-root-port'/><controller type='pci' model='pcie-root-port'/>
    <serial type='file'><source path='$work/$1.console'/><target port='0'/></serial>
    <memballoon model='none'/>$3
  </devices>
</domain>
EOF
}

# Nested TCG boots are the slow part (about a minute idle, many on a loaded machine), so only vm1's
# guest OS boots, once, in the background while vm2 (firmware only: QEMU's PCI bus is what libvirt and
# hyv act on) goes through the rest; vm1 serves the guest-visible hot-plug and `virsh shutdown` at the end.
domain_xml vm1 "" "" guest-os > "$work/vm1.xml"
virsh define "$work/vm1.xml" >/dev/null
rm -f "$work/vm1.console"
virsh start vm1 >/dev/null || fail "virsh start vm1 failed"
in_qemu() { virsh qemu-monitor-command "$1" --hmp "info pci" | grep -c "PCI device 1af4:107f"; }
qemu_has() { [ "$(in_qemu "$1")" = "$2" ]; }
mdev_guid() { cat "$(readlink -f "/sys/bus/mdev/devices/$1")/../node_guid"; }

# --- 1. persistent and transient attach to a running domain
domain_xml vm2 "" "" > "$work/vm2.xml"
virsh define "$work/vm2.xml" >/dev/null
virsh start vm2 >/dev/null || fail "virsh start vm2 failed"
ctl attach vm2 "$guid0" --unisolated --persistent --quota-qps 32 >/dev/null || fail "attach --persistent: $(ctl attach vm2 "$guid0" --unisolated --persistent 2>&1)"
ctl attach vm2 "$guid1" --unisolated >/dev/null || fail "transient attach failed"
mdev0=$(mdev_of vm2 "$guid0"); mdev1=$(mdev_of vm2 "$guid1")
qemu_has vm2 2 || fail "QEMU of vm2 does not have both hyv functions: $(virsh qemu-monitor-command vm2 --hmp 'info pci')"
live=$(virsh dumpxml vm2); inactive=$(virsh dumpxml --inactive vm2)
for m in "$mdev0" "$mdev1"; do grep -q "uuid='$m'" <<<"$live" || fail "live XML lacks hostdev $m: $live"; done
grep -Eq "guid=.$guid0. mdev=.$mdev0. qps=.32." <<<"$live" || fail "live XML lacks hyv metadata of $guid0: $live"
grep -Eq "guid=.$guid1. mdev=.$mdev1." <<<"$live" || fail "live XML lacks hyv metadata of $guid1: $live"
grep -q "uuid='$mdev0'" <<<"$inactive" || fail "persistent XML lacks hostdev $mdev0: $inactive"
grep -Eq "guid=.$guid0. mdev=.$mdev0." <<<"$inactive" || fail "persistent XML lacks metadata of $guid0: $inactive"
! grep -q "$mdev1\|$guid1" <<<"$inactive" || fail "transient attach leaked into the persistent XML: $inactive"
# docs/libvirt.md's first example is this attach: its hyv elements, with this run's mdev, as written there.
doc_xml=$(awk '/^## The domain XML/ {f=1} f && /^```xml/ {g=1; next} g && /^```/ {exit} g' "$repo/docs/libvirt.md")
doc_mdev=$(grep -oP "<address uuid='\K[0-9a-f-]{36}" <<<"$doc_xml")
doc_guid=$(grep -oP '<device guid="\K[0-9a-f:]+' <<<"$doc_xml")
[ -n "$doc_mdev" ] && [ "$doc_guid" = "$guid0" ] || fail "docs/libvirt.md's domain XML example names no mdev or not GUID $guid0"
for line in "$(grep -o '<devices xmlns=[^>]*>' <<<"$doc_xml")" "$(grep -o '<device guid=[^>]*/>' <<<"$doc_xml")" \
            "$(grep -o "<alias name='[^']*'/>" <<<"$doc_xml")"; do
  line=${line//$doc_mdev/$mdev0}
  grep -qF -- "$line" <<<"$live" || fail "live XML lacks docs/libvirt.md's line $line: $live"
  [[ $line == *alias* ]] || grep -qF -- "$line" <<<"$inactive" || fail "persistent XML lacks docs/libvirt.md's line $line"
done
log "ok: attach --persistent and transient attach: devices in QEMU, live and persistent XML right (as docs/libvirt.md shows it)"

# --- 2. destroy + start: the hook removes both mdevs, then re-creates the persistent one
virsh destroy vm2 >/dev/null
wait_for 20 "hook release to remove $mdev0" mdev_gone "$mdev0"
mdev_gone "$mdev1" || fail "transient mdev $mdev1 survived virsh destroy"
wait_for 30 "hyvd to park $guid0" row_is vm2 "$guid0" "inactive true"
wait_for 30 "hyvd to drop the transient assignment" row_is vm2 "$guid1" none
log "ok: virsh destroy: mdevs gone, persistent assignment inactive, transient gone"
virsh start vm2 >/dev/null || fail "virsh start vm2 (persistent hyv device) failed"
mdev_exists "$mdev0" || fail "virsh start did not re-create $mdev0"
[ "$(mdev_guid "$mdev0")" = "$guid0" ] || fail "re-created mdev $mdev0 is not on $guid0's parent"
qemu_has vm2 1 || fail "vm2 started without its hyv function: $(virsh qemu-monitor-command vm2 --hmp 'info pci')"
wait_for 30 "hyvd to mark $guid0 attached" row_is vm2 "$guid0" "attached true"
[ "$(mdev_of vm2 "$guid0")" = "$mdev0" ] || fail "mdev changed across restart"
log "ok: virsh start: device back with the same GUID and mdev"

# --- 3. libvirtd restart while the domain runs: nothing changes
kill -TERM "$libvirtd_pid"; wait "$libvirtd_pid" || true; libvirtd_pid=
start_libvirtd
domstate_is vm2 running || fail "vm2 not running after libvirtd restart: $(virsh domstate vm2)"
mdev_exists "$mdev0" || fail "mdev $mdev0 gone after libvirtd restart"
grep -q "uuid='$mdev0'" <<<"$(virsh dumpxml vm2)" || fail "live XML lost $mdev0 after libvirtd restart"
wait_for 30 "hyvd to notice that libvirtd went away" grep -q "libvirt connection-lost" "$work/hyvd.log"
# hyvd reconnects within its 5 s retry and reconciles: its second "connected" (counted at every poll).
reconnected() { [ "$(grep -c "libvirt connected" "$work/hyvd.log")" -ge 2 ]; }
wait_for 30 "hyvd to reconnect to libvirtd" reconnected
row_is vm2 "$guid0" "attached true" || fail "assignment after libvirtd restart: $(row vm2 "$guid0")"
log "ok: libvirtd restart: domain, device and assignment unchanged"

# --- 4. migration is refused with the documented message
migrate_out=$(virsh migrate --live vm2 qemu:///system 2>&1) && fail "virsh migrate succeeded: $migrate_out"
echo "virsh migrate said: $migrate_out"
# docs/libvirt.md: libvirt refuses on the source; the hook would on the destination.
grep -Eq "cannot migrate domain: VFIO device doesn't support migration|which cannot migrate: detach them" <<<"$migrate_out" ||
  fail "virsh migrate refused without the documented reason: $migrate_out"
domstate_is vm2 running || fail "vm2 not running after the refused migration"
log "ok: virsh migrate refused"

# --- 5. hyvd down while the domain stops and starts: reconciled at its start
stop_hyvd
virsh destroy vm2 >/dev/null
mdev_gone "$mdev0" || fail "the hook did not remove $mdev0 while hyvd was down"
start_hyvd
wait_for 30 "reconcile to park $guid0" row_is vm2 "$guid0" "inactive true"
stop_hyvd
virsh start vm2 >/dev/null || fail "virsh start with hyvd down failed"
mdev_exists "$mdev0" || fail "the hook did not create $mdev0 while hyvd was down"
start_hyvd
wait_for 30 "reconcile to mark $guid0 attached" row_is vm2 "$guid0" "attached true"
virsh destroy vm2 >/dev/null
wait_for 30 "hyvd to park $guid0" row_is vm2 "$guid0" "inactive true"
log "ok: hyvd restarts around domain stop/start: database reconciled"

# --- 5b. the domain's QEMU dies (SIGKILL): libvirt's stopped event, the hook's release and hyvd agree
virsh start vm2 >/dev/null || fail "virsh start vm2 before the crash failed"
wait_for 30 "hyvd to mark $guid0 attached" row_is vm2 "$guid0" "attached true"
qemu_pid=$(pgrep -f -- '-name guest=vm2,') || fail "no QEMU process of vm2"
# libvirt reports a QEMU that died on its own as stopped (detail failed); hyvd names STOPPED_CRASHED "crashed".
stop_events() { grep -Ec "reconcile after: domain vm2 (stopped|crashed)" "$work/hyvd.log" || true; }
events_before=$(stop_events)
kill -KILL "$qemu_pid"
wait_for 30 "libvirt to see vm2's QEMU gone" domstate_is vm2 "shut off"
wait_for 20 "hook release to remove $mdev0 after the crash" mdev_gone "$mdev0"
wait_for 30 "hyvd to park $guid0 after the crash" row_is vm2 "$guid0" "inactive true"
[ "$(stop_events)" -gt "$events_before" ] ||
  fail "hyvd did not reconcile on libvirt's stopped event of the killed domain"
log "ok: QEMU killed under libvirt: domain shut off, mdev gone, assignment persistent and inactive (from the event)"

# --- 6. the operator's hand-written metadata (docs/libvirt.md, tested as written there)
operator_xml=$(awk '/<!-- tested: operator-metadata -->/ {f=1; next} f && /^```xml/ {g=1; next} g && /^```/ {exit} g' \
  "$repo/docs/libvirt.md")
[ -n "$operator_xml" ] || fail "docs/libvirt.md has no operator-metadata example"
operator_xml=${operator_xml//5054:00ff:fe12:3456/$guid1}
domain_xml vm3 "$operator_xml" "" > "$work/vm3.xml"
virsh define "$work/vm3.xml" >/dev/null
wait_for 20 "hyvd to adopt vm3's declared device" row_is vm3 "$guid1" "inactive true"
mdev3=$(mdev_of vm3 "$guid1")
inactive_has() { grep -Eq "$2" <<<"$(virsh dumpxml --inactive "$1")"; }
wait_for 20 "hyvd to complete vm3's definition" inactive_has vm3 "uuid='$mdev3'"
# The hostdev and the metadata are two separate updates of the definition: wait for both.
wait_for 20 "hyvd to complete vm3's metadata (guid, mdev, default quotas)" \
  inactive_has vm3 "guid=.$guid1. mdev=.$mdev3. qps=.64."
virsh start vm3 >/dev/null || fail "vm3 (hand-written metadata) did not start"
mdev_exists "$mdev3" || fail "vm3's mdev $mdev3 was not created at start"
wait_for 20 "hyvd to mark vm3's device attached" row_is vm3 "$guid1" "attached true"
virsh destroy vm3 >/dev/null
log "ok: hand-written <hyv:device guid=...> from docs/libvirt.md took effect at the next start"

# --- 7. a domain naming a GUID that is not on this host fails to start with the hook's line
bogus_mdev=$(cat /proc/sys/kernel/random/uuid)
domain_xml vm4 "<hyv:devices xmlns:hyv='https://hyv.dev/xmlns/libvirt/1'><hyv:device guid='dead:beef:0000:0001' mdev='$bogus_mdev' unisolated='yes'/></hyv:devices>" \
  "<hostdev mode='subsystem' type='mdev' model='vfio-pci' managed='no'><source><address uuid='$bogus_mdev'/></source></hostdev>" \
  > "$work/vm4.xml"
virsh define "$work/vm4.xml" >/dev/null
start_out=$(virsh start vm4 2>&1) && fail "vm4 started with a GUID that does not exist"
echo "virsh start vm4 said: $start_out"
grep -q "hyv: domain vm4: RDMA device dead:beef:0000:0001 is not on this host" <<<"$start_out" ||
  fail "libvirt's error lacks the hook's message: $start_out"
mdev_gone "$bogus_mdev" || fail "refused start left mdev $bogus_mdev behind"
log "ok: unknown GUID: start refused with the hook's one-line message"
virsh undefine vm4 >/dev/null   # a definition naming a device this host lacks is reconcile's standing problem

# --- 8. the booted guest: a hot-plugged hyv function appears in the guest OS, `virsh shutdown` parks it
wait_for 1200 "vm1's guest to boot" guest_booted vm1
log "vm1's guest booted"
ctl attach vm1 "$guid0" --unisolated --persistent >/dev/null || fail "attach --persistent to vm1 failed"
mdev_vm1=$(mdev_of vm1 "$guid0")
wait_for 120 "vm1's guest to see the hyv function" guest_sees vm1 1
# hyvctl detach of a libvirt domain: a second, transient function comes and goes live.
ctl attach vm1 "$guid1" --unisolated >/dev/null || fail "transient attach of $guid1 to vm1 failed"
mdev_vm1b=$(mdev_of vm1 "$guid1")
wait_for 120 "vm1's guest to see both hyv functions" guest_sees vm1 2
ctl detach vm1 "$guid1" >/dev/null || fail "hyvctl detach vm1 $guid1: $(ctl detach vm1 "$guid1" 2>&1)"
row_is vm1 "$guid1" none || fail "assignment after hyvctl detach: $(row vm1 "$guid1")"
mdev_gone "$mdev_vm1b" || fail "hyvctl detach left mdev $mdev_vm1b"
! grep -q "$mdev_vm1b" <<<"$(virsh dumpxml vm1)" || fail "live XML still names $mdev_vm1b after hyvctl detach"
wait_for 120 "vm1's guest to see one hyv function again" guest_sees vm1 1
log "ok: hyvctl detach of a libvirt domain: gone from the guest, the live XML, sysfs and hyvd"
# The same device taken away behind hyvd's back (virsh detach-device): libvirt's device-removed event
# makes hyvd drop the transient assignment and release its mdev.
ctl attach vm1 "$guid1" --unisolated >/dev/null || fail "second transient attach of $guid1 to vm1 failed"
mdev_vm1c=$(mdev_of vm1 "$guid1")
wait_for 120 "vm1's guest to see both hyv functions again" guest_sees vm1 2
removed_before=$(grep -c "reconcile after: domain vm1 device-removed" "$work/hyvd.log" || true)
echo "<hostdev mode='subsystem' type='mdev' model='vfio-pci' managed='no'><source><address uuid='$mdev_vm1c'/></source></hostdev>" \
  > "$work/vm1c.xml"
virsh detach-device vm1 "$work/vm1c.xml" --live >/dev/null || fail "virsh detach-device of $mdev_vm1c failed"
wait_for 120 "vm1's guest to see one hyv function after virsh detach-device" guest_sees vm1 1
wait_for 30 "hyvd to drop the transient assignment removed behind its back" row_is vm1 "$guid1" none
wait_for 30 "hyvd to release $mdev_vm1c" mdev_gone "$mdev_vm1c"
[ "$(grep -c "reconcile after: domain vm1 device-removed" "$work/hyvd.log")" -gt "$removed_before" ] ||
  fail "hyvd did not reconcile on libvirt's device-removed event"
row_is vm1 "$guid0" "attached true" || fail "vm1's persistent assignment after virsh detach-device: $(row vm1 "$guid0")"
log "ok: virsh detach-device behind hyvd's back: transient assignment dropped and its mdev released, from the event"

# --- 9. SIGKILL at each step where a persistent attach to the running vm1, or its detach, acts through
# libvirt: the crash-point build of hyvd (real sqlite, sysfs and libvirt adapters) dies just before and
# just after each libvirt call; the restarted hyvd reconciles at start and everything must agree
# (daemon_consistency.py --libvirt: rows, sysfs, live and persistent XML of every domain), with nothing
# left for a second reconcile. Every other step of both operations is the core's and the sysfs
# adapter's, killed one by one through raw QEMU in vm-daemon-guest (a libvirt run of each step took
# about 40 s here, 40 steps).
crashy=$build/tests/support/hyvd-crashpoints
[ -x "$crashy" ] || fail "$crashy missing; run ninja -C $build"
check_consistent() { # WHAT
  PYTHONPATH="$repo/tests/support" python3 "$here/daemon_consistency.py" --hyvctl "$hyvctl" --socket "$sock" --libvirt >"$work/consistency.out" 2>&1 ||
    fail "inconsistent after $1: $(cat "$work/consistency.out")"
}
# quiet_log: until hyvd's log has not grown for 2 s (at most 60 s).
quiet_log() {
  local size=-1 now quiet=0
  for _ in $(seq 120); do
    now=$(stat -c %s "$work/hyvd.log")
    if [ "$now" = "$size" ]; then quiet=$((quiet + 1)); [ "$quiet" -ge 4 ] && return 0; else quiet=0; fi
    size=$now
    sleep 0.5
  done
}
# A SIGKILLed child stays a zombie until waited for, and a zombie still answers kill -0.
hyvd_died() { [ "$(ps -o stat= -p "$hyvd_pid" | cut -c1)" = Z ] || ! kill -0 "$hyvd_pid" 2>/dev/null; }
crash_op() { # attach | detach
  if [ "$1" = attach ]; then ctl attach vm1 "$guid1" --unisolated --persistent; else ctl detach vm1 "$guid1"; fi
}
crash_at() { # OPERATION POINT:K (the K-th crash step of that name: 1 before the call, 2 after it)
  local op=$1 point=$2 rc mark again
  # The resting state before the operation, reached with the plain hyvd: detached for attach,
  # attached for detach.
  if [ "$op" = attach ] && ! row_is vm1 "$guid1" none; then ctl detach vm1 "$guid1" >/dev/null || fail "re-detach"; fi
  if [ "$op" = detach ] && row_is vm1 "$guid1" none; then crash_op attach >/dev/null || fail "re-attach"; fi
  stop_hyvd
  mark=$(wc -l <"$work/hyvd.log")
  # Armed by SIGUSR1 once the reconcile that follows hyvd's connection to libvirt is over: that
  # reconcile writes vm1's other device into the definition too (hypervisor.record).
  start_hyvd "$crashy" HYV_CRASH_AT_POINT="$point" HYV_CRASH_ARM=SIGUSR1
  quiet_log
  kill -USR1 "$hyvd_pid"
  crash_op "$op" >/dev/null 2>&1 || true
  wait_for 60 "hyvd-crashpoints to die at $point" hyvd_died
  tail -n +"$((mark + 1))" "$work/hyvd.log" >"$work/crash-run.log"
  grep -q "crash point [0-9]*: SIGKILL" "$work/crash-run.log" || fail "$op never reached crash point $point"
  rc=0
  wait "$hyvd_pid" || rc=$?
  hyvd_pid=
  [ "$rc" = 137 ] || fail "$op: hyvd-crashpoints exited $rc at $point, expected SIGKILL (137)"
  start_hyvd   # reconciles at start
  check_consistent "$op killed at $point"
  again=$(ctl --json reconcile) || fail "reconcile after $op killed at $point"
  python3 -c "import json,sys; d=json.load(sys.stdin); sys.exit(len(d['actions']) + len(d['orphan_mdevs_removed']))" \
    <<<"$again" || fail "second reconcile after $op killed at $point still acted: $again"
  log "  $op killed at $point: $(row vm1 "$guid1") after the restart; $(cat "$work/consistency.out")"
}
# Alternating, so that most runs start where the previous one ended.
for pair in hot_add:1/forget:1 hot_add:2/forget:2 record:1/hot_remove:1 record:2/hot_remove:2; do
  crash_at attach "hypervisor.${pair%/*}"
  crash_at detach "hypervisor.${pair#*/}"
done
[ "$(row vm1 "$guid1")" = none ] || ctl detach vm1 "$guid1" >/dev/null || fail "final detach of $guid1"
wait_for 120 "vm1's guest to see one hyv function after the crash runs" guest_sees vm1 1
check_consistent "the crash runs"
log "ok: SIGKILL before and after each libvirt call of attach and detach: consistent after each restart"

# destroy + start was checked on vm2 above (mdev re-created on the same GUID, the function in QEMU's
# PCI tree); a second guest-OS boot to see it from inside took 8 minutes of CI time.
virsh shutdown vm1 >/dev/null
wait_for 300 "vm1 to shut down" domstate_is vm1 "shut off"
wait_for 20 "hook release to remove $mdev_vm1" mdev_gone "$mdev_vm1"
wait_for 30 "hyvd to park vm1's $guid0" row_is vm1 "$guid0" "inactive true"
log "ok: guest saw the hot-plugged function; virsh shutdown: mdev gone, assignment persistent and inactive"

[ -n "$(ls /sys/bus/mdev/devices/)" ] && fail "mdevs left at the end: $(ls /sys/bus/mdev/devices/)"
stop_hyvd
log "all libvirt steps passed"
