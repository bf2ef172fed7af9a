#!/usr/bin/env bash
# Print the live update timeline of one DUT console log: each boot (the first, then one
# per kexec), the harness' stage markers and the restore window's open/close lines,
# with the kernel's timestamps (seconds since that boot).
# Usage: timeline.sh DUT_CONSOLE_LOG
set -euo pipefail

awk '
/Linux version/ { boot++; printf "\nboot %d%s\n", boot, boot == 1 ? " (cold boot)" : " (after kexec)"; next }
/KHO: exec from/ { sub(/^.*KHO: /, ""); printf "  %-12s KHO: %s\n", "", $0; next }
/Kernel command line|\] Command line:/ { next }
/restore window|liveupdate_restore_timeout|LUONET (BEGIN|END|KEXEC|ERROR)/ {
	t = ""
	if (match($0, /^\[ *[0-9]+\.[0-9]+\]/)) { t = substr($0, RSTART + 1, RLENGTH - 2); gsub(/ /, "", t) }
	msg = $0; sub(/^\[ *[0-9.]+\] */, "", msg); sub(/^LUONET /, "harness: ", msg)
	printf "  %10s s  %s\n", t, msg
}' "$1"
