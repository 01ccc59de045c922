#!/usr/bin/env bash
# The install step (`meson install`, README "Installing on a real host", docs/libvirt.md "The hook"):
# into a scratch DESTDIR, hyvd, hyvctl, the hook and the bash completion land where the docs say, the
# hook's qemu.d link points at the installed binary, the man pages hyvd(8), hyvctl(8), hyvd.conf(5)
# the systemd unit and the modules-load.d file are installed, and the installed binaries run: hyvctl --help,
# hyvd --help, and the hook refusing a migration of a domain with a hyv device in one line.
# usage: install_test.sh BUILD_DIR
set -euo pipefail
build=$1
dest=$(mktemp -d)
trap 'rm -rf "$dest"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

meson install -C "$build" --no-rebuild --quiet --destdir "$dest" > "$dest.log" 2>&1 ||
  { cat "$dest.log"; rm -f "$dest.log"; fail "meson install --destdir failed"; }
rm -f "$dest.log"
prefix=$(meson introspect "$build" --buildoptions | python3 -c \
  'import json,sys; print(next(o["value"] for o in json.load(sys.stdin) if o["name"] == "prefix"))')
hook_dir=$(meson introspect "$build" --buildoptions | python3 -c \
  'import json,sys; print(next(o["value"] for o in json.load(sys.stdin) if o["name"] == "libvirt_hook_dir"))')

for f in sbin/hyvd bin/hyvctl libexec/hyv-libvirt-hook; do
  [ -x "$dest$prefix/$f" ] || fail "meson install did not install an executable $prefix/$f"
done
[ -f "$dest$prefix/share/bash-completion/completions/hyvctl" ] || fail "no bash completion for hyvctl installed"
link=$dest$hook_dir/hyv
[ -L "$link" ] || fail "no hook link $hook_dir/hyv (libvirt runs every executable in qemu.d/)"
[ "$(readlink "$link")" = "$prefix/libexec/hyv-libvirt-hook" ] ||
  fail "$hook_dir/hyv points at $(readlink "$link"), not $prefix/libexec/hyv-libvirt-hook"
echo "ok: meson install: hyvd, hyvctl, hyv-libvirt-hook, completion, $hook_dir/hyv -> $(readlink "$link")"

mandir=$(meson introspect "$build" --buildoptions | python3 -c \
  'import json,sys; print(next(o["value"] for o in json.load(sys.stdin) if o["name"] == "mandir"))')
# PAGE:TEXT it must hold (roff writes an option's dashes as \-).
for page in 'man8/hyvd.8:\-\-db' 'man8/hyvctl.8:hyvctl attach' 'man5/hyvd.conf.5:metrics-file'; do
  file=$dest$prefix/$mandir/${page%%:*}
  [ -f "$file" ] || fail "meson install did not install the man page $prefix/$mandir/${page%%:*}"
  grep -q '^\.TH ' "$file" && grep -qF -- "${page##*:}" "$file" ||
    fail "man page $prefix/$mandir/${page%%:*} is not a man page listing ${page##*:}"
done
unit_dir=$(pkg-config --variable=systemdsystemunitdir systemd 2>/dev/null || echo "$prefix/lib/systemd/system")
unit=$dest$unit_dir/hyvd.service
[ -f "$unit" ] || fail "no systemd unit $unit_dir/hyvd.service installed"
[ "$(cat "$dest$prefix/lib/modules-load.d/hyv.conf" 2>/dev/null | grep -v '^#')" = hyv_mdev ] ||
  fail "no $prefix/lib/modules-load.d/hyv.conf loading hyv_mdev installed"
grep -qx "ExecStart=$prefix/sbin/hyvd" "$unit" ||
  fail "hyvd.service does not start $prefix/sbin/hyvd: $(grep ExecStart "$unit")"
echo "ok: man pages hyvd(8), hyvctl(8), hyvd.conf(5) in $prefix/$mandir, hyvd.service starts $prefix/sbin/hyvd"

grep -q "attach" <<<"$("$dest$prefix/bin/hyvctl" --help)" || fail "installed hyvctl --help does not list attach"
grep -q -- "--db" <<<"$("$dest$prefix/sbin/hyvd" --help)" || fail "installed hyvd --help does not list --db"
# What libvirt runs for `virsh migrate` on the destination: the hook refuses with its one line.
xml="<domain type='qemu'><name>vm1</name><metadata><hyv:devices xmlns:hyv='https://hyv.dev/xmlns/libvirt/1'><hyv:device guid='5054:00ff:fe12:3456' unisolated='yes'/></hyv:devices></metadata></domain>"
set +e
out=$("$dest$(readlink "$link")" vm1 migrate begin - <<<"$xml" 2>&1)
rc=$?
set -e
[ "$rc" = 1 ] || fail "installed hook on migrate: exit $rc ($out), expected 1"
[ "$(wc -l <<<"$out")" = 1 ] && grep -q "which cannot migrate: detach them" <<<"$out" ||
  fail "installed hook on migrate did not refuse in the documented line: $out"
echo "ok: the installed binaries run; the hook refuses a migration: $out"
