#!/usr/bin/env bash
# A nested guest boots inside the test host and a value computed in it comes back through both levels.
set -euo pipefail
vm=$(dirname "$0")/../../tools/vm.sh
out=$("$vm" run --timeout 1200 -- \
  "$vm" run -- bash -c 'echo "role=$(sed -n "s/.*hyv\.role=\([a-z]*\).*/\1/p" /proc/cmdline) product=$((6 * 7)) kernel=$(uname -r)"')
echo "$out"
grep -qx "role=guest product=42 kernel=$(ls /lib/modules | sort -V | tail -n1)" <<<"$out" \
  || { echo "FAIL: nested guest answer missing or wrong" >&2; exit 1; }
echo "ok: nested guest answered"
