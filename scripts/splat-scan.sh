#!/usr/bin/env bash
# Find kernel splats in guest consoles: warnings, BUGs (KASAN's and sleeping in atomic
# context among them), UBSAN and lockdep reports, oopses, panics, RCU stalls, hung
# tasks and kmemleak's leaks (guest/init has kmemleak scan before each kexec and at
# the end, when the kernel has it). Only kernel log lines count (those that start with
# a printk timestamp, so the command line's "panic=-1" or a test's own output cannot
# match), plus the leak report guest/init copies to the console.
# A splat whose first line matches an entry of scripts/splat-allowlist is not
# reported (each entry has its reason above it; only the base kernel's own splats
# belong there).
# Usage: splat-scan.sh [-a] CONSOLE...
#   -a: the console has no printk timestamps (upstream's vmtest.sh guest): every line
#       is taken as a kernel log line (its test output is KTAP, which cannot match).
# Prints one line per splat: "FILE: first line | next line | next line" (at most 3
# splats per file), and exits 1 when it printed any.
set -euo pipefail

allow=${SPLAT_ALLOWLIST:-$(dirname "$0")/splat-allowlist}
all=0
if [ "${1:-}" = -a ]; then all=1; shift; fi
found=0
for f in "$@"; do
	[ -f "$f" ] || continue
	out=$(awk -v allowf="$allow" -v all=$all -v name="$(basename "$f")" '
	BEGIN {
		n = 0
		while ((getline l < allowf) > 0) {
			if (l ~ /^#/ || l ~ /^[[:space:]]*$/) continue
			allowed[n++] = l
		}
		splat = "^(BUG:|kernel BUG at|WARNING:|UBSAN:|KASAN:|Oops[: ]|general protection fault|" \
			"Kernel panic - not syncing|rcu: INFO: .*detected stall|INFO: task .* blocked for more than|" \
			"INFO: possible (recursive|irq lock inversion)|DEBUG_LOCKS_WARN_ON|" \
			"kmemleak: [0-9]+ new suspected memory leak|unreferenced object 0x)"
	}
	{
		sub(/\r$/, "")
		line = $0
		if (sub(/^\[ *[0-9]+\.[0-9]+\] (\[ *[CT][0-9]+\] )?/, "", line) == 0 && !all &&
		    line !~ /^unreferenced object 0x/)
			next	# not a kernel log line
		if (line ~ splat && !is_allowed(line)) {
			flush()
			if (reported < 3) { text = line; want = 2 }
			next
		}
		if (want > 0 && line !~ /^[[:space:]]*$/ && line !~ /^-+\[ cut here \]-+$/) {
			text = text " | " line
			if (--want == 0) flush()
		}
	}
	function is_allowed(s,    i) {
		for (i = 0; i < n; i++)
			if (s ~ allowed[i]) return 1
		return 0
	}
	function flush() {
		if (text != "") { print name ": " substr(text, 1, 400); reported++ }
		text = ""; want = 0
	}
	END { flush() }' "$f")
	if [ -n "$out" ]; then
		printf '%s\n' "$out"
		found=1
	fi
done
exit $found
