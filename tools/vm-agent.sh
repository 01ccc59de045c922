# Shared by the test VM's initramfs (busybox sh, nested guests) and stage 2 (bash, test host): POSIX sh only.
# The command agent behind `tools/vm.sh exec`, on the virtio-serial port "hyv.agent".
# Request, one line:  ID TIMEOUT BASE64(script)
# Answer, three lines: ID stdout BASE64 / ID stderr BASE64 / ID rc STATUS

hyv_param() { sed -n "s/.*hyv\.$1=\([^ ]*\).*/\1/p" /proc/cmdline; }
hyv_console() { echo "hyv-init: [$(cut -d' ' -f1 /proc/uptime)] $*" > /dev/console; }
hyv_poweroff() { echo o > /proc/sysrq-trigger; while :; do sleep 1; done; }
hyv_die() { hyv_console "FATAL: $*"; hyv_poweroff; }

# hyv_agent ROOT: serve commands, each run as `chroot ROOT bash` (ROOT is / in the test host).
hyv_agent() {
  root=$1 port=
  for p in /sys/class/virtio-ports/*; do
    [ "$(cat "$p/name" 2>/dev/null)" = hyv.agent ] && port=/dev/${p##*/}
  done
  [ -n "$port" ] || hyv_die "no virtio-serial port named hyv.agent"
  exec 3<>"$port"
  hyv_console "HYV-AGENT-READY role=$(hyv_param role)"
  while :; do
    # read fails while the host side is not connected; wait for the next client.
    if ! IFS=' ' read -r id limit script <&3; then
      sleep 0.2
      continue
    fi
    [ -n "$script" ] || continue
    work=$root/tmp/hyv-agent
    mkdir -p "$work"
    printf '%s' "$script" | base64 -d > "$work/cmd.sh"
    # coreutils timeout from the shared root, so a timed-out command reports 124 at both levels.
    chroot "$root" /usr/bin/timeout -k 5 "$limit" /bin/bash /tmp/hyv-agent/cmd.sh \
      </dev/null >"$work/out" 2>"$work/err"
    rc=$?
    {
      printf '%s stdout %s\n' "$id" "$(base64 -w0 < "$work/out")"
      printf '%s stderr %s\n' "$id" "$(base64 -w0 < "$work/err")"
      printf '%s rc %s\n' "$id" "$rc"
    } >&3
    rm -f "$work/cmd.sh" "$work/out" "$work/err"
  done
}

# hyv_shell ROOT: an interactive login shell on the serial console, then power off.
hyv_shell() {
  hyv_console "shell: exit to power off"
  setsid -c chroot "$1" /bin/bash -l </dev/ttyS0 >/dev/ttyS0 2>&1
  hyv_poweroff
}
