#!/usr/bin/env bash
# make demo: build what is missing, run the restore window test in a QEMU guest and show
# the live update timeline: the window opening at boot after a kexec, closing when the
# last session is finished, and closing at its bound when a session is never retrieved.
set -euo pipefail
# shellcheck source=scripts/lib.sh
. "$(dirname "$0")/lib.sh"

test=luo_restore_window
export RESULTS=$BUILD/demo
rc=0
T=$test "$TOP/scripts/check.sh" || rc=$?
log=$RESULTS/series/$test/dut.console
[ -f "$log" ] || die "the demo did not run; see above"
echo
echo "== live update timeline (DUT kernel log, $log)"
"$TOP/scripts/timeline.sh" "$log"
echo
echo "restore window states seen by the test (sysfs /sys/kernel/liveupdate/restore_window):"
grep -h -E '^(ok|not ok) ' "$RESULTS/series/$test"/stage*.ktap | sed 's/^/  /'
exit "$rc"
