# Shared by the test VM's initramfs (busybox sh, nested guests) and stage 2 (bash, test host): POSIX sh only.
# Boot helpers and the start of the command agent behind `tools/vm.sh exec` (protocol: tools/vm-agent.c).

hyv_param() { sed -n "s/.*hyv\.$1=\([^ ]*\).*/\1/p" /proc/cmdline; }
hyv_console() { echo "hyv-init: [$(cut -d' ' -f1 /proc/uptime)] $*" > /dev/console; }
hyv_poweroff() { echo o > /proc/sysrq-trigger; while :; do sleep 1; done; }
hyv_die() { hyv_console "FATAL: $*"; hyv_poweroff; }

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
