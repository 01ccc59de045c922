# Shared by the test VM's initramfs (busybox sh, nested guests) and stage 2 (bash, test host): POSIX sh only.
# Boot helpers and the start of the command agent behind `tools/vm.sh exec` (protocol: tools/vm-agent.c).

hyv_param() { sed -n "s/.*hyv\.$1=\([^ ]*\).*/\1/p" /proc/cmdline; }
hyv_console() { echo "hyv-init: [$(cut -d' ' -f1 /proc/uptime)] $*" > /dev/console; }
hyv_poweroff() { echo o > /proc/sysrq-trigger; while :; do sleep 1; done; }
hyv_die() { hyv_console "FATAL: $*"; hyv_poweroff; }

# hyv_fork_point: with hyv.fork=1 (tools/vm.sh start --fork-to), wait here until the host has saved
# this VM's state and writes a line to the agent's port. A copy started from that state (--fork-from)
# resumes inside this read and goes on as a VM of its own. Called before the 9p mount: QEMU refuses
# to migrate a guest that has a 9p export mounted.
hyv_fork_point() {
  [ "$(hyv_param fork)" = 1 ] || return 0
  local name port=
  for name in /sys/class/virtio-ports/*/name; do
    [ "$(cat "$name")" = hyv.agent ] && port=/dev/$(basename "$(dirname "$name")")
  done
  [ -n "$port" ] || hyv_die "no virtio port named hyv.agent for the fork point"
  hyv_console "HYV-FORK-POINT"
  # The port stays open throughout: what arrives while the guest has it closed is dropped, and a read
  # while the host side is not connected returns at once, with nothing.
  local line=
  exec 3< "$port" || hyv_die "cannot open $port for the fork point"
  until [ "$line" = go ]; do
    read -r line <&3 || sleep 0.5
  done
  exec 3<&-
  hyv_console "resumed after the fork point"
}

# hyv_agent ROOT AGENT: serve commands with AGENT (tools/vm-agent.c, static), each chrooted into ROOT
# (/ in the test host). Not exec'd: this shell stays PID 1 and reaps the orphans of commands.
hyv_agent() {
  "$2" "$1" "$(hyv_param role)"
  hyv_die "the command agent $2 exited with status $?"
}

# hyv_shell ROOT: an interactive login shell on the serial console, then power off.
hyv_shell() {
  hyv_console "shell: exit to power off"
  setsid -c chroot "$1" /bin/bash -l </dev/ttyS0 >/dev/ttyS0 2>&1
  hyv_poweroff
}
