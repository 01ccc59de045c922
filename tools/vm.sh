#!/usr/bin/env bash
# hyv test VMs: the test host (Debian's kernel under QEMU TCG, the build machine's / shared read-only over
# virtio-9p, Soft-RoCE and the project's host module loaded) and, run from inside it, a nested guest.
set -euo pipefail

usage() {
  cat <<'EOT'
usage: tools/vm.sh run   [OPTIONS] -- CMD [ARG...]   boot, run CMD inside, power off; exit with CMD's status
       tools/vm.sh start NAME [OPTIONS]              boot in the background and wait for the agent
       tools/vm.sh exec  NAME [--timeout S] -- CMD [ARG...]
       tools/vm.sh stop  NAME
       tools/vm.sh shell [OPTIONS]                   interactive shell on the VM console
       tools/vm.sh path  NAME                        the VM's state dir (console.log, qmp.sock, agent.sock)
       tools/vm.sh boot-options                      the kernel options a nested guest boots with
       tools/vm.sh kernel                            the kernel it boots (an ELF vmlinux: no decompression)

Run on the build machine it boots the test host; run inside the test host it boots a nested guest
(same kernel and shared root, role guest). CMD runs as root, exec'd by the VM's agent (no shell: use
sh -c for one) with the caller's cwd.

options:
  --role host|guest   override the role chosen from where the script runs
  --timeout S         command timeout (default 600); boot timeout is separate (--boot-timeout, default 180/420)
  --mem MB            guest memory (default host 6144, guest 1536)
  --smp N             vCPUs (default host $HYV_HOST_SMP or 2, guest 1)
  --qmp PATH          also expose a QMP socket at PATH (always at <state dir>/qmp.sock; a second
                      monitor at <state dir>/qmp2.sock serves a test while a daemon holds the first)
  --qemu-arg ARG      one extra QEMU argument (repeatable), e.g. --qemu-arg -device --qemu-arg vfio-pci,sysfsdev=...
  --no-hyv            test host without the project's host module loaded
  --no-guest-image    nested guest whose root is only the shared root over 9p (no guest root image,
                      tools/mkguestroot.sh); every exec then reads through 9p twice, 1.5-4 s each
  --memfd, --no-memfd guest RAM in a shared memfd (-object memory-backend-memfd,share=on, backend id pc.ram),
                      so its pages are shmem pages a module can map; default on for role guest, off for host
  --hostfwd SPEC      add hostfwd=SPEC to the VM's slirp netdev (repeatable): the VM's caller connects to a
                      server in the VM, e.g. tcp:127.0.0.1:18515-:18515; a bare PORT means tcp:127.0.0.1:PORT-:PORT
  --guestfwd SPEC     add guestfwd=SPEC (repeatable): the VM connects to a server of its caller, e.g.
                      'tcp:10.0.2.100:18515-cmd:socat - TCP:127.0.0.1:18515' (cmd: spawns one command per
                      connection); a bare PORT means exactly that with PORT, socat logging to <state dir>/guestfwd.log
                      Commas in SPEC are escaped for QEMU. restrict=on stays: only these rules get through.
  --fork-to FILE      nested guest: at its fork point (kernel and modules up, before any 9p mount) save
                      its state to FILE (QEMU migration), then go on booting; FILE appears when complete
  --fork-from FILE    nested guest: start as a copy of the VM saved in FILE (waits for FILE to appear),
                      instead of booting; --mem and --smp must be the saved VM's
environment: HYV_BUILD_DIR (default <repo>/build), HYV_VM_DIR (state dirs), HYV_KERNEL_VERSION,
             HYV_HOST_SMP (the test host's vCPUs; tests/vm/meson.build sets it per test),
             HYV_VM_APPEND (extra kernel arguments, e.g. "initcall_debug" to see where a boot spends its time)
Free PCIe root ports hp0..hp3 are there for hot-plug.
EOT
}

die() { echo "vm.sh: $*" >&2; exit 125; }

repo=$(cd "$(dirname "$0")/.." && pwd)
build=${HYV_BUILD_DIR:-$repo/build}
build=$(cd "$build" 2>/dev/null && pwd) || die "build dir ${HYV_BUILD_DIR:-$repo/build} missing; run: meson setup build && ninja -C build"

case "$repo/:$build/" in
  /run/*|/proc/*|/sys/*|/dev/*|*:/run/*|*:/proc/*|*:/sys/*|*:/dev/*)
    die "the checkout ($repo) and build dir ($build) cannot live under /run, /proc, /sys or /dev: the test VMs mount their own there" ;;
esac

current_role() { sed -n 's/.*hyv\.role=\([a-z]*\).*/\1/p' /proc/cmdline; }
default_role() {
  case "$(current_role)" in
    host) echo guest ;;
    guest) die "already inside a nested guest; hyv does not nest three levels" ;;
    *) echo host ;;
  esac
}

state_root=${HYV_VM_DIR:-$([ -d /run ] && [ -w /run ] && [ "$(current_role)" = host ] && echo /run/hyv-vm || echo "${TMPDIR:-/tmp}/hyv-vm.$(id -u)")}

kernel_version() {
  if [ -n "${HYV_KERNEL_VERSION:-}" ]; then
    [ -f "/boot/vmlinuz-$HYV_KERNEL_VERSION" ] && [ -d "/lib/modules/$HYV_KERNEL_VERSION" ] ||
      die "HYV_KERNEL_VERSION=$HYV_KERNEL_VERSION: no /boot/vmlinuz-$HYV_KERNEL_VERSION with /lib/modules/$HYV_KERNEL_VERSION; unset it or install that kernel"
    echo "$HYV_KERNEL_VERSION"; return
  fi
  local v
  for v in $(ls /lib/modules 2>/dev/null | sort -rV); do
    [ -f "/boot/vmlinuz-$v" ] && { echo "$v"; return; }
  done
  die "no kernel image with modules (/boot/vmlinuz-* + /lib/modules/*); install linux-image-amd64 (tools/bootstrap.sh)"
}

# The initramfs is rebuilt when its inputs change; inside the test host the build dir is read-only, so the
# outer run must have built it (it always has: it booted with it).
initramfs_stale() { # IMAGE
  [ ! -f "$1" ] || [ "$repo/tools/vm-initramfs-init.sh" -nt "$1" ] || [ "$repo/tools/mkinitramfs.sh" -nt "$1" ] \
    || [ "$repo/tools/vm-agent.sh" -nt "$1" ] || [ "$repo/tools/vm-agent.c" -nt "$1" ] \
    || [ ! -x "$(dirname "$1")/hyv-agent" ]
}
ensure_initramfs() {
  local kver=$1 img=$build/vm/initramfs-$1.cpio lock
  initramfs_stale "$img" || { echo "$img"; return 0; }
  [ -w "$build" ] || die "initramfs $img missing and $build is read-only"
  mkdir -p "$build/vm"
  # Tests run in parallel: one builds the image, the others wait for it instead of racing on it.
  exec {lock}>"$build/vm/initramfs.lock"
  flock "$lock"
  # Runs in a command substitution, where set -e does not apply.
  if initramfs_stale "$img"; then "$repo/tools/mkinitramfs.sh" "$kver" "$img" >&2 || exit; fi
  exec {lock}>&-
  echo "$img"
}

# The nested guest's initramfs: the VM initramfs with the guest root image appended (tools/mkguestroot.sh),
# made on the build machine whenever it boots a test host (the build dir is read-only inside).
guest_initramfs() { echo "$build/vm/initramfs-guest-$1.cpio"; }
ensure_guest_root() { # KVER BASE_INITRAMFS
  local lock
  exec {lock}>"$build/vm/initramfs.lock"
  flock "$lock"
  "$repo/tools/mkguestroot.sh" "$build" "$2" "$(guest_initramfs "$1")" >&2 || exit
  exec {lock}>&-
}

# The kernel QEMU boots: the ELF vmlinux extracted by tools/mkvmlinux.sh (PVH boot, no decompression
# in the VM), or /boot/vmlinuz when that kernel has no PVH entry (remembered in vmlinux-KVER.unusable).
vmlinux_stale() { # KVER
  local elf=$build/vm/vmlinux-$1 made
  made=$([ -f "$elf" ] && echo "$elf" || echo "$elf.unusable")
  [ ! -f "$made" ] || [ "/boot/vmlinuz-$1" -nt "$made" ] || [ "$repo/tools/mkvmlinux.sh" -nt "$made" ]
}
ensure_kernel() {
  local kver=$1 elf=$build/vm/vmlinux-$1 lock
  if vmlinux_stale "$kver"; then
    [ -w "$build" ] || die "kernel $elf missing and $build is read-only"
    mkdir -p "$build/vm"
    exec {lock}>"$build/vm/initramfs.lock"
    flock "$lock"
    if vmlinux_stale "$kver"; then
      rm -f "$elf" "$elf.unusable"
      "$repo/tools/mkvmlinux.sh" "$kver" "$elf" >&2 || { echo "vm.sh: booting /boot/vmlinuz-$kver instead" >&2; touch "$elf.unusable"; }
    fi
    exec {lock}>&-
  fi
  if [ -f "$elf" ]; then echo "$elf"; else echo "/boot/vmlinuz-$kver"; fi
}

role= timeout=600 boot_timeout= mem= smp= qmp= hyvmod=1 memfd= guest_image=1 fork_to= fork_from=
extra=() netfwd=()
parse_opts() {
  while [ $# -gt 0 ]; do
    case $1 in
      --role) role=$2; shift 2 ;;
      --timeout) timeout=$2; shift 2 ;;
      --boot-timeout) boot_timeout=$2; shift 2 ;;
      --mem) mem=$2; shift 2 ;;
      --smp) smp=$2; shift 2 ;;
      --qmp) qmp=$2; shift 2 ;;
      --qemu-arg) extra+=("$2"); shift 2 ;;
      --no-hyv) hyvmod=0; shift ;;
      --memfd) memfd=1; shift ;;
      --no-memfd) memfd=0; shift ;;
      --no-guest-image) guest_image=0; shift ;;
      --fork-to) fork_to=$2; shift 2 ;;
      --fork-from) fork_from=$2; shift 2 ;;
      --hostfwd|--guestfwd) [ $# -ge 2 ] || die "$1 needs a SPEC"; netfwd+=("${1#--}=$2"); shift 2 ;;
      --) shift; rest=("$@"); return ;;
      -h|--help) usage; exit 0 ;;
      *) die "unknown option $1 (see tools/vm.sh --help)" ;;
    esac
  done
  rest=()
}

# Kernel options of every test VM (and of vm-libvirt's nested domains, through `tools/vm.sh boot-options`).
# No speculation mitigations (PTI's CR3 switch on every syscall flushes TCG's soft TLB) and no crypto
# self-tests at boot; both cost minutes under two levels of TCG. Pages are not zeroed on allocation (a
# hardening default). Three initcalls nothing here uses are skipped: the kprobe trace interface (21 s
# of a nested boot by initcall_debug), the SP800-108 KDF self-test (18 s) and the module signing
# certificates (2.5 s; Debian does not enforce signatures, ours are unsigned).
# no_timer_check: on a loaded machine a nested TCG guest's timer IRQ can miss the kernel's boot-time
# IO-APIC check, which then panics ("IO-APIC + timer doesn't work!", seen in a CI-like run).
# tsc=reliable: a test host's two TCG vCPUs fail the TSC sync check, and its clocksource fell back to
# the HPET: every clock read of the nested QEMU was then an emulated MMIO access (docs/testing.md).
# norandmaps: TCG looks translated code up by virtual address, so with randomised mappings every exec
# translates ld.so and libc again; without, an exec in a nested guest went from 1.5 s to 0.2 s.
# Devices and services no test VM uses, each timed by initcall_debug in a nested boot (docs/testing.md):
# PCIe port services (4.4 s; hot-plug stays ACPI's, as QEMU's q35 does it), the RTC driver (1.8 s; the
# clock is still read from the CMOS at boot), the PS/2 controller (1 s), the HPET character device, the
# trace eval maps, the serial ports past ttyS0, the encrypted-key type (5.5 s: it instantiates its
# hashes and ciphers at boot) and tracefs (2.6 s).
# A nested guest also boots without IPv6 (7 s): its traffic is the IPv4 rendezvous over slirp, and its
# GIDs are the host's. The test host keeps IPv6: rxe's link-local GIDs and the identities need it.
boot_options() { # [ROLE]: host, or guest (the default: vm-libvirt's domains are guests too)
  echo "mitigations=off cryptomgr.notests init_on_alloc=0 no_timer_check tsc=reliable norandmaps" \
    "pcie_ports=compat 8250.nr_uarts=1" \
    "initcall_blacklist=init_kprobe_trace,crypto_kdf108_init,load_system_certificate_list" \
    "initcall_blacklist=cmos_init,i8042_init,hpet_init,trace_eval_init,init_encrypted,tracer_init_tracefs" \
    "$([ "${1:-guest}" = host ] || echo ipv6.disable=1)"
}

qemu_command() {
  local dir=$1 console=$2 shell=$3
  local kver img kernel
  kver=$(kernel_version)
  img=$(ensure_initramfs "$kver")
  kernel=$(ensure_kernel "$kver")
  if [ "$role" = host ] && [ -w "$build" ]; then
    ensure_guest_root "$kver" "$img"
  elif [ "$role" = guest ] && [ "$guest_image" = 1 ]; then
    img=$(guest_initramfs "$kver")
    [ -f "$img" ] || die "guest root image $img missing: the test host was booted by an older tools/vm.sh; restart it"
  fi
  command -v qemu-system-x86_64 >/dev/null || die "qemu-system-x86_64 not found; install qemu-system-x86 (tools/bootstrap.sh)"
  if [ "$role" = host ] && [ "$hyvmod" = 1 ] && [ ! -f "$build/host-modules/hyv_mdev.ko" ]; then
    die "$build/host-modules/hyv_mdev.ko not built; run: ninja -C $build"
  fi
  [ "$role" = host ] || [ "$role" = guest ] || die "--role must be host or guest, not '$role'"
  [ -z "$fork_to$fork_from" ] || [ "$role" = guest ] || die "--fork-to and --fork-from are for nested guests only"
  [ -z "$fork_to" ] || [ -z "$fork_from" ] || die "--fork-to and --fork-from exclude each other"
  mem=${mem:-$([ "$role" = host ] && echo 6144 || echo 1536)}
  smp=${smp:-$([ "$role" = host ] && echo "${HYV_HOST_SMP:-2}" || echo 1)}
  # Shared memfd RAM for nested guests: shmem pages, which the host module can map again (anonymous RAM
  # cannot). The backend keeps the default RAM block name pc.ram; -m must equal its size.
  memfd=${memfd:-$([ "$role" = guest ] && echo 1 || echo 0)}
  local machine=q35 memobj=()
  if [ "$memfd" = 1 ]; then
    machine=q35,memory-backend=pc.ram
    memobj=(-object "memory-backend-memfd,id=pc.ram,size=${mem}M,share=on")
  fi
  # Slirp stays isolated (restrict=on); explicit forwarding rules are not affected by it.
  local netdev=user,id=n0,restrict=on f spec
  for f in "${netfwd[@]}"; do
    spec=${f#*=}
    case $f in
      hostfwd=*) [[ $spec =~ ^[0-9]+$ ]] && spec="tcp:127.0.0.1:$spec-:$spec" ;;
      guestfwd=*) [[ $spec =~ ^[0-9]+$ ]] && spec="tcp:10.0.2.100:$spec-cmd:socat -lf $dir/guestfwd.log - TCP:127.0.0.1:$spec" ;;
    esac
    netdev+=",${f%%=*}=${spec//,/,,}"
  done
  cmd=(qemu-system-x86_64 -accel tcg -machine "$machine" "${memobj[@]}" -cpu max -smp "$smp" -m "$mem"
    -nodefaults -nographic -no-reboot
    -kernel "$kernel" -initrd "$img"
    -append "console=ttyS0 panic=-1 quiet $(boot_options "$role") hyv.role=$role hyv.stage2=$repo/tools/vm-init.sh hyv.repo=$repo hyv.build=$build hyv.hyvmod=$hyvmod hyv.shell=$shell${fork_to:+ hyv.fork=1}${fork_from:+ hyv.fork=1}${HYV_VM_APPEND:+ $HYV_VM_APPEND}"
    -serial "$console"
    -virtfs local,path=/,mount_tag=host,security_model=none,readonly=on,multidevs=remap
    -netdev "$netdev" -device virtio-net-pci,netdev=n0
    -device virtio-serial-pci,id=vser0
    -chardev "socket,id=agent,path=$dir/agent.sock,server=on,wait=off"
    -device virtserialport,chardev=agent,name=hyv.agent
    -qmp "unix:$dir/qmp.sock,server=on,wait=off"
    -qmp "unix:$dir/qmp2.sock,server=on,wait=off")
  local i
  for i in 0 1 2 3; do
    cmd+=(-device "pcie-root-port,id=hp$i,chassis=$((i + 1)),slot=$((i + 1))")
  done
  # A copy of a saved VM: QEMU loads the state instead of booting (the kernel and initramfs above
  # are overwritten by it; the device list must be the saved VM's, the network forwards may differ).
  [ -z "$fork_from" ] || cmd+=(-incoming "exec:cat $(printf %q "$fork_from")")
  cmd+=("${extra[@]}")
}

vm_start() {
  local name=$1 dir=$state_root/$1 why
  [ -e "$dir/pid" ] && kill -0 "$(cat "$dir/pid")" 2>/dev/null && die "VM $name already running (tools/vm.sh stop $name)"
  boot_limit=${boot_timeout:-$([ "$role" = host ] && echo 180 || echo 420)}
  deadline=$((SECONDS + boot_limit))
  if [ -n "$fork_from" ]; then
    # The VM it copies may still be booting towards its fork point.
    while [ ! -f "$fork_from" ]; do
      [ "$SECONDS" -lt "$deadline" ] || die "VM $name: no saved VM state $fork_from after ${boot_limit}s; start the VM it copies with --fork-to $fork_from"
      sleep 0.5
    done
  fi
  rm -rf "$dir"; mkdir -p "$dir"
  qemu_command "$dir" "file:$dir/console.log" 0
  "${cmd[@]}" </dev/null >"$dir/qemu.log" 2>&1 &
  echo $! > "$dir/pid"
  [ -n "$qmp" ] && ln -sf "$dir/qmp.sock" "$qmp"
  if [ -n "$fork_to" ]; then
    wait_console "$name" HYV-FORK-POINT
    why=$(python3 "$repo/tools/vm-fork.py" save "$dir" "$fork_to" 2>&1) ||
      boot_failed "$name" "saving its state to $fork_to failed: $why"
  elif [ -n "$fork_from" ]; then
    wait_console "$name" QMP  # the monitor is up (a console stays empty until the copy runs)
    why=$(python3 "$repo/tools/vm-fork.py" resume "$dir" 2>&1) ||
      boot_failed "$name" "loading the state $fork_from failed: $why"
  fi
  wait_console "$name" HYV-AGENT-READY
}

# boot_failed NAME WHY: the console and QEMU's output, the VM stopped, exit 125.
boot_failed() {
  local dir=$state_root/$1
  echo "vm.sh: VM $1 failed to boot ($2); console and QEMU output follow" >&2
  tail -n 40 "$dir/console.log" "$dir/qemu.log" >&2 2>/dev/null || true
  vm_stop "$1"; exit 125
}

# wait_console NAME WORD: until the VM's console shows WORD (QMP: until its monitor socket exists),
# or its QEMU dies, its boot fails or the boot's deadline (vm_start) passes.
wait_console() {
  local name=$1 word=$2 dir=$state_root/$1
  while true; do
    if [ "$word" = QMP ]; then [ -S "$dir/qmp.sock" ] && return 0
    elif grep -q "$word" "$dir/console.log" 2>/dev/null; then return 0; fi
    if ! kill -0 "$(cat "$dir/pid")" 2>/dev/null || grep -q 'hyv-init: FATAL\|Kernel panic' "$dir/console.log" 2>/dev/null; then
      boot_failed "$name" "QEMU exited or the guest stopped"
    fi
    if [ "$SECONDS" -ge "$deadline" ]; then
      echo "vm.sh: VM $name not ready after ${boot_limit}s; console tail follows" >&2
      # Under load QEMU may not have opened the console file yet; the timeout stays the error.
      tail -n 40 "$dir/console.log" >&2 2>/dev/null || echo "vm.sh: (no console output yet)" >&2
      vm_stop "$name"; exit 124
    fi
    sleep 0.2
  done
}

vm_exec() {
  local name=$1; shift
  local dir=$state_root/$name agent=$build/vm/hyv-agent
  [ -S "$dir/agent.sock" ] || die "no VM named $name (start it with tools/vm.sh start $name)"
  [ -x "$agent" ] || die "$agent missing: it is built with the VM initramfs (tools/mkinitramfs.sh)"
  # The agent's own client (tools/vm-agent.c): one static process per command, serialised per VM.
  HYV_BUILD_DIR=$build "$agent" call "$dir" "$timeout" "$@"
}

vm_stop() {
  local dir=$state_root/$1 pid
  [ -d "$dir" ] || return 0
  if [ -f "$dir/pid" ]; then
    pid=$(cat "$dir/pid")
    kill "$pid" 2>/dev/null || true
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$pid" 2>/dev/null || true
  fi
  rm -rf "$dir"
}

[ $# -gt 0 ] || { usage; exit 2; }
verb=$1; shift
case $verb in
  -h|--help) usage; exit 0 ;;
  run)
    parse_opts "$@"
    [ ${#rest[@]} -gt 0 ] || die "run needs a command after --"
    role=${role:-$(default_role)}
    name=run-$$
    trap 'vm_stop "$name"' EXIT
    trap 'exit 130' INT TERM
    vm_start "$name"
    set +e; vm_exec "$name" "${rest[@]}"; rc=$?; set -e
    exit "$rc" ;;
  start)
    [ $# -gt 0 ] || die "start needs a NAME"
    name=$1; shift; parse_opts "$@"
    role=${role:-$(default_role)}
    vm_start "$name" ;;
  exec)
    [ $# -gt 0 ] || die "exec needs a NAME"
    name=$1; shift; parse_opts "$@"
    vm_exec "$name" "${rest[@]}" ;;
  stop)
    [ $# -gt 0 ] || die "stop needs a NAME"
    vm_stop "$1" ;;
  path)
    echo "$state_root/$1" ;;
  boot-options)
    boot_options ;;
  kernel)
    ensure_kernel "$(kernel_version)" ;;
  shell)
    parse_opts "$@"
    role=${role:-$(default_role)}
    dir=$state_root/shell-$$; mkdir -p "$dir"; trap 'rm -rf "$dir"' EXIT
    qemu_command "$dir" mon:stdio 1
    "${cmd[@]}" ;;
  *) die "unknown command $verb (see tools/vm.sh --help)" ;;
esac
