#!/bin/bash
# The TAP runner of the shared VM sessions (guest_session.sh, host_session.sh): each case is a command
# run in turn against what the session booted once, reported as its own TAP line; after each, the
# session's own check says whether the case left anything behind, and its reset cleans up after a case
# that failed, so the next one starts clean. Sourced after device_lib.sh.
# HYV_CASES=REGEX runs only the cases whose name matches (the others are reported as skipped).

# TAP goes to the original stdout; everything the cases print goes to stderr (meson keeps both).
exec 3>&1 1>&2
tap_n=0
tap() { tap_n=$((tap_n + 1)); echo "$1 $tap_n - $2" >&3; }

# session_run CLEAN_FN RESET_FN CASE...: a CASE is "NAME COMMAND [ARG...]" (split on blanks). CLEAN_FN
# prints what a case left behind and fails if it left anything.
session_run() {
  local clean=$1 reset=$2 entry name command took rc why t0
  shift 2
  for entry in "$@"; do
    read -r name command <<<"$entry"
    if [ -n "${HYV_CASES:-}" ] && ! [[ $name =~ $HYV_CASES ]]; then
      tap ok "$name # SKIP not selected by HYV_CASES=$HYV_CASES"; continue
    fi
    log "session: case $name ($command)"
    t0=$SECONDS
    rc=0
    # shellcheck disable=SC2086 # command is a list
    $command || rc=$?
    took=$((SECONDS - t0))
    # The name stays the same from run to run (junit keeps it); what varies goes after the '#'.
    if [ "$rc" != 0 ]; then
      tap "not ok" "$name # $took s, exit $rc"; "$reset"
    elif ! why=$("$clean"); then
      tap "not ok" "$name # $took s, left behind: $why"; "$reset"
    else
      tap ok "$name # $took s"
    fi
    log "session: case $name: exit $rc after $took s"
  done
}

session_end() { echo "1..$tap_n" >&3; }
