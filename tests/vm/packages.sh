#!/usr/bin/env bash
# The Debian packages on a host, for real: tools/package.sh builds hyv, hyv-dkms and hyv-guest-dkms
# (lintian clean, both DKMS trees built by dkms against this machine's headers, which are the test
# host's kernel's); then in a test host booted without the project's module:
# - `dpkg -i hyv hyv-dkms`: the postinst's DKMS loads that build of hyv_mdev as a binaries-only
#   tarball (DKMS's path for prebuilt modules; compiling under TCG took 761 s in CI) and installs it;
# - systemd as PID 1 of a container (a PID and mount namespace of the test host: the test host's own
#   PID 1 is the harness) loads hyv_mdev through the package's modules-load.d and runs the package's
#   hyvd.service: Type=notify readiness, journald fields, the sandbox still lets hyvd create an mdev
#   and hot-add it over QMP, reload of the log level, restart after SIGKILL, clean stop;
# - mdevctl lists hyv's parent and type, and mdevs it defines and starts survive hyvd's reconcile;
# - `dpkg --purge` leaves no DKMS module or source tree behind.
# usage: packages.sh       (on the build machine; builds the packages into BUILD/pkg, boots the test host)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
fail() { echo "FAIL: $*" >&2; exit 1; }

if [ "${1:-}" != --inside ]; then
  build=$(cd "${HYV_BUILD_DIR:-$repo/build}" && pwd)
  "$repo/tools/package.sh" --fast "$build/pkg"
  exec "$repo/tools/vm.sh" run --no-hyv --timeout 1200 -- "$here/packages.sh" --inside "$build/pkg"
fi
pkg=$2
# Not under /tmp: the container gets a /tmp of its own (its systemd-tmpfiles empties /tmp at boot),
# and hyvd in it must reach the QMP socket of a QEMU started out here.
work=/srv/hyv-packages-test
rm -rf "$work" && mkdir -p "$work"
ct_pid=
qemu_pid=
in_ct() { nsenter -t "$ct_pid" -m -p "$@"; }
passed=0
cleanup() {
  if [ -n "$ct_pid" ] && [ $passed = 0 ]; then
    echo "--- hyvd's journal"; in_ct journalctl -u hyvd -o short-monotonic --no-pager 2>/dev/null | tail -40 || true
  fi
  [ -n "$qemu_pid" ] && kill "$qemu_pid" 2>/dev/null || true
}
trap cleanup EXIT
wait_until() { # SECONDS WHAT COMMAND...: polls COMMAND every 0.2 s
  local seconds=$1 what=$2; shift 2
  for _ in $(seq $((seconds * 5))); do "$@" && return 0; sleep 0.2; done
  fail "timed out after $seconds s waiting for $what"
}
json_field() { python3 -c "import json,sys; d=json.load(sys.stdin); print(eval(sys.argv[1], {'d': d}))" "$1"; }

version=$(dpkg-deb -f "$pkg"/hyv-dkms_*_all.deb Version)
kver=$(uname -r)
guid=$(cat /sys/class/infiniband/rxe0/node_guid)
! grep -q '^hyv_mdev ' /proc/modules || fail "hyv_mdev is loaded before the packages are installed (boot with --no-hyv)"

# --- install: DKMS installs hyv_mdev for this kernel
# man-db's trigger would re-index every manual page on the machine: minutes under TCG, nothing tested.
rm -f /var/lib/man-db/auto-update
# The test host's module tree is the build machine's, over 9p: DKMS's `depmod -a` at install and at
# removal reads all 4000 modules of it (44 of dpkg -i's 93 s here, by strace), and its two `find`s walk
# it (9 s). A tree of the modules this test host has loaded, hyv_mdev's dependencies among them, takes
# its place: DKMS still runs depmod and finds its module, over those files instead of 4000.
modules=/lib/modules/$kver
small_tree=/run/hyv-packages-modules
rm -rf "$small_tree" && mkdir -p "$small_tree"
cp -a "$modules"/modules.* "$modules"/build "$modules"/source "$small_tree"/ || fail "cannot copy $modules' indexes"
for module in $(awk '{print $1}' /proc/modules); do
  path=$(modinfo -n "$module") && [ "${path#"$modules"/}" != "$path" ] || fail "modinfo finds no file for loaded $module"
  (cd "$modules" && cp --parents "${path#"$modules"/}" "$small_tree"/)
done
for dependency in ib_core vfio mdev; do
  grep -q "^$dependency " /proc/modules || fail "hyv_mdev's dependency $dependency is not loaded"
done
mount --bind "$small_tree" "$modules"
# Where the hyv-dkms postinst looks for a prebuilt tarball (dkms' common.postinst, TARBALL_ROOT).
tarball_root=/usr/share/hyv-dkms
mkdir -p "$tarball_root" && cp "$pkg/hyv-$version.dkms.tar.gz" "$tarball_root/"
start=$SECONDS
DEBIAN_FRONTEND=noninteractive dpkg -i "$pkg/hyv_${version}_amd64.deb" "$pkg/hyv-dkms_${version}_all.deb" \
  > "$work/dpkg.log" 2>&1 || { cat "$work/dpkg.log"; fail "dpkg -i hyv hyv-dkms failed"; }
grep -q "Loading tarball for hyv-$version" "$work/dpkg.log" ||
  fail "the hyv-dkms postinst did not load the prebuilt tarball: $(cat "$work/dpkg.log")"
grep -Eq "^hyv/$version, $kver, [^:]*: installed" <<<"$(dkms status hyv)" || fail "dkms status: $(dkms status hyv)"
[ "$(readlink -f "/var/lib/dkms/hyv/$version/source")" = "/usr/src/hyv-$version" ] ||
  fail "DKMS's hyv/$version does not use the packaged source /usr/src/hyv-$version"
[ "$(modinfo -n hyv_mdev)" = "/lib/modules/$kver/updates/dkms/hyv_mdev.ko" ] ||
  fail "modinfo finds hyv_mdev at $(modinfo -n hyv_mdev 2>&1), not DKMS's"
echo "ok: dpkg -i hyv hyv-dkms in $((SECONDS - start)) s; DKMS installed hyv_mdev for $kver"
getent group hyv >/dev/null || fail "the package did not create group hyv (sysusers.d)"
[ "$(/usr/sbin/hyvd --version)" = "$version" ] || fail "installed hyvd --version: $(/usr/sbin/hyvd --version)"
man -w hyvd.conf >/dev/null 2>&1 || [ -f /usr/share/man/man5/hyvd.conf.5.gz ] || fail "no hyvd.conf(5) installed"

# --- systemd as PID 1 of a container
mkdir -p /sys/fs/cgroup
unshare --pid --fork --mount --propagation private sh -c '
  mount -t proc proc /proc && mount -t tmpfs tmpfs /run && mount -t tmpfs tmpfs /tmp &&
  mount -t tmpfs tmpfs /var/tmp && mount -t cgroup2 cgroup2 /sys/fs/cgroup &&
  exec env container=hyv-test /lib/systemd/systemd --unit=basic.target' </dev/null > "$work/systemd.log" 2>&1 &
unshare_pid=$!
ct_started() { ct_pid=$(pgrep -P "$unshare_pid" -x systemd) && [ -n "$ct_pid" ]; }
wait_until 60 "systemd to start in the container" ct_started
wait_until 60 "systemd's private bus in the container" in_ct test -S /run/systemd/private
state=$(in_ct systemctl is-system-running --wait 2>&1 || true)
case "$state" in running|degraded) ;; *) fail "systemd in the container: $state; $(cat "$work/systemd.log")" ;; esac
echo "ok: systemd is PID 1 of a container, $state ($(in_ct systemctl --failed --plain --no-legend | awk '{print $1}' | xargs))"
grep -q '^hyv_mdev ' /proc/modules ||
  fail "systemd-modules-load did not load hyv_mdev from the package's modules-load.d: $(in_ct systemctl status systemd-modules-load --no-pager 2>&1 | tail -5)"
[ -d /sys/class/hyv/rxe0 ] || fail "hyv_mdev loaded but registered no parent for rxe0"
echo "ok: systemd-modules-load loaded hyv_mdev (modules-load.d/hyv.conf); parent /sys/class/hyv/rxe0"

[ "$(in_ct systemctl is-enabled hyvd)" = enabled ] || fail "the package did not enable hyvd.service"
start=$SECONDS
in_ct systemctl start hyvd || fail "systemctl start hyvd failed"
# Type=notify: start returns at READY=1, when the socket already serves.
in_ct test -S /run/hyv/hyvd.sock || fail "systemctl start returned before /run/hyv/hyvd.sock existed"
show() { in_ct systemctl show hyvd -p "$1" --value; }
[ "$(show Type)" = notify ] && [ "$(show ActiveState)" = active ] || fail "hyvd: Type $(show Type), $(show ActiveState)"
[ "$(show StatusText)" = "serving on /run/hyv/hyvd.sock" ] || fail "hyvd's status text: $(show StatusText)"
[ "$(show ProtectSystem)" = strict ] || fail "hyvd runs without ProtectSystem=strict"
grep -Eq "^$guid +rxe0 +rdma_rxe +Ethernet +1 +yes +yes" <<<"$(in_ct hyvctl devices)" ||
  fail "installed hyvctl devices against the unit's hyvd: $(in_ct hyvctl devices)"
echo "ok: systemctl start hyvd returned ready in $((SECONDS - start)) s, socket serving; hyvctl devices lists rxe0"

# --- the sandboxed hyvd still makes an mdev (sysfs) and hot-adds it (QMP), into a firmware-only QEMU
qmp=$work/vm1.qmp
qemu-system-x86_64 -accel tcg -machine q35 -nodefaults -nographic -m 128 -serial none -monitor none \
  -qmp "unix:$qmp,server=on,wait=off" -device pcie-root-port,id=hp0,chassis=1,slot=1 > "$work/qemu.log" 2>&1 &
qemu_pid=$!
wait_until 20 "QEMU's QMP socket" test -S "$qmp"
in_ct hyvctl vm add vm1 --qmp "$qmp" > /dev/null || fail "hyvctl vm add vm1"
attach=$(in_ct hyvctl --json attach vm1 "$guid" --unisolated) || fail "attach under the sandbox: $attach"
mdev=$(json_field 'd["assignment"]["mdev"]' <<<"$attach")
[ -e "/sys/bus/mdev/devices/$mdev" ] || fail "attached, but mdev $mdev does not exist"
echo "ok: the sandboxed hyvd created mdev $mdev and hot-added it to vm1"
in_ct journalctl -u hyvd -p warning --no-pager -q > "$work/warnings" || true
op=$(json_field 'd["op_id"]' <<<"$attach")
grep -q "$op" <<<"$(in_ct journalctl HYV_VM=vm1 -o cat --no-pager)" ||
  fail "journalctl HYV_VM=vm1 lacks the attach $op: $(in_ct journalctl -u hyvd -o cat --no-pager | tail -5)"
[ "$(in_ct journalctl HYV_OP_ID="$op" -o json --no-pager | head -n1 | json_field 'd["HYV_GUID"]')" = "$guid" ] ||
  fail "the attach's journal entries lack HYV_GUID=$guid"
echo "ok: journald: journalctl HYV_VM=vm1 shows the attach $op, with HYV_GUID"
kill "$qemu_pid"; wait "$qemu_pid" 2>/dev/null || true; qemu_pid=
in_ct hyvctl reconcile > /dev/null || true
wait_until 20 "the dead VM's mdev to go" test ! -e "/sys/bus/mdev/devices/$mdev"

# --- mdevctl beside hyvd: it sees hyv's parent and type, and its mdevs survive hyvd's reconcile
types=$(mdevctl types)
grep -q "hyv-vrdma" <<<"$types" && grep -q "Name: hyv-vrdma" <<<"$types" || fail "mdevctl types: $types"
grep -Eq "Available instances: [1-9]" <<<"$types" || fail "mdevctl types shows no available instance: $types"
started=$(cat /proc/sys/kernel/random/uuid) defined=$(cat /proc/sys/kernel/random/uuid)
mdevctl start -u "$started" -p rxe0 -t hyv-vrdma || fail "mdevctl start on rxe0 failed"
mdevctl define -u "$defined" -p rxe0 -t hyv-vrdma || fail "mdevctl define failed"
mdevctl start -u "$defined" || fail "mdevctl start of the defined mdev failed"
report=$(in_ct hyvctl --json reconcile)
for uuid in "$started" "$defined"; do
  [ -e "/sys/bus/mdev/devices/$uuid" ] || fail "hyvd's reconcile removed mdevctl's mdev $uuid: $report"
  grep -q "$uuid" <<<"$(json_field 'd["foreign_mdevs"]' <<<"$report")" || fail "reconcile does not list $uuid as foreign: $report"
done
grep -q "$defined" <<<"$(mdevctl list --defined)" || fail "mdevctl lost its definition: $(mdevctl list --defined)"
mdevctl stop -u "$started" && mdevctl stop -u "$defined" && mdevctl undefine -u "$defined" || fail "mdevctl stop/undefine"
echo "ok: mdevctl lists hyv-vrdma on rxe0; its started and defined mdevs survive hyvd's reconcile"

# --- systemctl reload: a new log level applies at once, a setting bound at start is named
pid_before=$(show MainPID)
debug_lines() { in_ct journalctl -u hyvd -p debug..debug -o cat --no-pager | grep -c . || true; }
debug_before=$(debug_lines)
mkdir -p /etc/hyv
printf 'log-level = "debug"\nmetrics-interval = 60\n' > /etc/hyv/hyvd.conf
in_ct systemctl reload hyvd || fail "systemctl reload hyvd failed"
reloaded() { grep -q "reload: log level debug" <<<"$(in_ct journalctl -u hyvd -o cat --no-pager)"; }
wait_until 20 "hyvd to log its reload" reloaded
grep -q "reload: metrics-interval changed; takes effect at the next restart" <<<"$(in_ct journalctl -u hyvd -p warning -o cat --no-pager)" ||
  fail "the reload did not name metrics-interval as waiting for a restart: $(in_ct journalctl -u hyvd -o cat --no-pager | tail -3)"
in_ct hyvctl devices > /dev/null
[ "$(debug_lines)" -gt "$debug_before" ] || fail "no debug line in the journal after reloading with log-level debug"
[ "$(show MainPID)" = "$pid_before" ] && [ "$(show ActiveState)" = active ] || fail "reload restarted hyvd"
rm /etc/hyv/hyvd.conf
echo "ok: systemctl reload hyvd: log level debug at once (same MainPID), metrics-interval named for a restart"

# --- restart on failure, then a clean stop
old=$(show MainPID)
in_ct kill -KILL "$old"
# One read of the three: ActiveState read apart from MainPID can be the killed hyvd's "active" beside
# the new one's PID, while the new one is still starting (seen in CI: its socket refused the check).
restarted() {
  local now
  now=$(in_ct systemctl show hyvd -p ActiveState -p SubState -p MainPID)
  grep -qx 'ActiveState=active' <<<"$now" && grep -qx 'SubState=running' <<<"$now" &&
    ! grep -qxE "MainPID=($old|0)" <<<"$now"
}
wait_until 30 "systemd to restart hyvd after SIGKILL" restarted
[ "$(show NRestarts)" = 1 ] || fail "NRestarts $(show NRestarts) after one SIGKILL"
in_ct hyvctl status > /dev/null || fail "the restarted hyvd does not serve"
echo "ok: SIGKILL: systemd restarted hyvd (MainPID $old -> $(show MainPID)), it serves"
in_ct systemctl stop hyvd
[ "$(show ActiveState)" = inactive ] && [ "$(show Result)" = success ] || fail "stop: $(show ActiveState) $(show Result)"
! in_ct test -e /run/hyv/hyvd.sock || fail "the socket stayed after systemctl stop"
[ -s "$work/warnings" ] && fail "hyvd logged warnings under systemd: $(cat "$work/warnings")"
echo "ok: systemctl stop hyvd: inactive, result success, socket removed; no warning in the journal"

# --- purge: nothing of DKMS stays
dpkg --purge hyv hyv-dkms > "$work/purge.log" 2>&1 || { cat "$work/purge.log"; fail "dpkg --purge failed"; }
rm -rf "$tarball_root"
[ -z "$(dkms status hyv)" ] && [ ! -e "/usr/src/hyv-$version" ] && [ ! -e "/lib/modules/$kver/updates/dkms/hyv_mdev.ko" ] ||
  fail "purge left DKMS state: $(dkms status hyv) $(ls -d /usr/src/hyv-* /lib/modules/"$kver"/updates/dkms/hyv_mdev.ko 2>&1)"
echo "ok: dpkg --purge hyv hyv-dkms removed the module and the DKMS tree"
passed=1
