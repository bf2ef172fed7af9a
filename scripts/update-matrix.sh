#!/usr/bin/env bash
# make update-matrix: the live updates a fleet makes, each run once with N connections
# (MATRIX_CONNS, default 100; IPv4 and IPv6 alternating) through the demo's agent and
# stream (guest/demo_dut.sh, lu_stream with the peer's RTO capped at 1 s):
#   series -> the same image                        kept
#   series -> another build of the series           kept  (scripts/build-variant.sh bench:
#             no lockdep or atomic-sleep checks, LOCALVERSION -nodebug)
#   series -> series -> series, the second update   kept  (test update_twice)
#             right after the first restore
#   base 7.3.4 -> series                            kept  (update_first: the agent finds
#             no repair-mode drop in the base kernel and locks the flows with nft)
#   base 7.3.4 -> series, the lock off (control)    lost  (update_first_nolock)
#   series -> base 7.3.4                            reset (update_to_base: no suppressor)
# make check runs the last four at N = 8 (tests.list); the different build needs a
# second kernel build, so it runs here only. Prints the table (also written to
# build/matrix/table.md) and exits non-zero unless every row did what it must.
set -euo pipefail
# shellcheck source=scripts/lib.sh
. "$(dirname "$0")/lib.sh"

n=${MATRIX_CONNS:-100}
if ! [[ "$n" =~ ^[1-9][0-9]*$ ]] || [ "$n" -gt 4000 ]; then
	die "MATRIX_CONNS: '$n' is not a number of connections in 1..4000"
fi
dir=$BUILD/matrix
# row: NAME TEST KERNEL_DIR EXPECTED DESCRIPTION
rows=(
	"same demo series kept series -> the same image"
	"other demo series-nodebug kept series -> another build (-nodebug)"
	"twice update_twice series kept series -> series -> series (two in a row)"
	"first update_first base-series kept base 7.3.4 -> series (the agent's nft lock)"
	"nolock update_first_nolock base-series lost base 7.3.4 -> series, no lock (control)"
	"back update_to_base series-base reset series -> base 7.3.4"
)
t_start=$(date +%s)
if [ -z "${REPORT_ONLY:-}" ]; then
	"$TOP/scripts/deps.sh"
	"$TOP/scripts/tree.sh"
	mkdir -p "$dir"
	log "building the base kernel, the series' and its non-debug build (log: $dir/build.log)"
	build=()
	[ ! -s "$BUILD/out/base/bzImage" ] || build=(--last-only)
	{ "$TOP/scripts/build-series.sh" "${build[@]}" && "$TOP/scripts/build-variant.sh" bench series &&
	  "$TOP/scripts/build-tests.sh" "$KTREE" "$BUILD/tests"; } >"$dir/build.log" 2>&1 ||
		{ tail -n 30 "$dir/build.log" >&2; die "build failed"; }
	# kernel dir FROM-TO: boots FROM, kexecs into TO (in its initramfs)
	for k in series-series series-nodebug base-series series-base; do
		to=$BUILD/out/${k#*-}/bzImage
		[ "${k#*-}" != nodebug ] || to=$BUILD/bench/series/bzImage
		"$TOP/scripts/kernel-dir.sh" "$BUILD/out/${k%-*}/bzImage" "$to" "$dir/kernel-$k" \
			>>"$dir/build.log" 2>&1 || die "initramfs for $k failed"
	done
	for row in "${rows[@]}"; do
		read -r name test kd _ desc <<<"$row"
		[ "$kd" != series ] || kd=series-series
		t0=$(date +%s)
		log "$desc: test $test, $n connections (logs: $dir/$name)"
		EXTRA_CMDLINE="luonet.conns=$n" "$TOP/scripts/run-test.sh" "$test" "$dir/kernel-$kd" \
			"$dir/$name" 2>/dev/null || true
		log "$desc: $(paste -sd';' "$dir/$name/verdict" 2>/dev/null || echo 'no verdict'), $(($(date +%s) - t0)) s"
	done
fi

printf '%s\n' "${rows[@]}" >"$dir/rows"
for row in "${rows[@]}"; do
	read -r name _ <<<"$row"
	"$TOP/scripts/capture-rsts.sh" "$dir/$name" >"$dir/$name/rsts" || rm -f "$dir/$name/rsts"
done
python3 - "$TOP/scripts" "$dir" "$n" <<'PY' | tee "$dir/table.md"
import re, sys

sys.path.insert(0, sys.argv[1])
from results import grab, read

d, n = sys.argv[2], sys.argv[3]

print(f"N = {n} connections per update (IPv4 and IPv6 alternating), peer RTO capped at 1 s\n")
print("| old kernel -> new kernel | expected | result | kernels (uname -r) | agent's lock | "
      "RST from the DUT (open connections) | records lost / dup | stall median / max (s) |")
print("|---|---|---|---|---|---|---|---|")
bad = 0
for line in open(f"{d}/rows"):
    name, test, kd, want, desc = line.split(None, 4)
    r = f"{d}/{name}"
    verdict = read(f"{r}/verdict").replace("\n", "; ") or "no verdict"
    peer = f"{r}/peer-stage.ktap"
    resets = grab(peer, r"# resets (\d+)", int) or 0
    lost = grab(peer, r"lost (\d+),")
    dup = grab(peer, r"duplicated or reordered (\d+)")
    smed = grab(peer, r"# stalls n \d+ median ([0-9.]+)")
    smax = grab(peer, r"# stalls n \d+ median [0-9.]+ max ([0-9.]+)")
    unres = grab(peer, r"# unresumed (\d+)", int) or 0
    # Every boot of the DUT, as its console has it.
    kern = " -> ".join(re.findall(r"Linux version (\S+)", read(f"{r}/dut.console")))
    lock = grab(f"{r}/stage1.ktap", r"# agent: lock=(\S+)") or "?"
    rst = (read(f"{r}/rsts") or "?").split()[0]
    saved = re.search(r"^ok 2 the agent froze", read(f"{r}/stage1.ktap"), re.M)
    report = re.search(r"^# mark \S+ report (?!failed)", read(peer), re.M)
    # What became of the connections, and only from what shows it: kept (every
    # check passed); reset (the peer saw connections reset, and the capture RSTs
    # from the DUT); lost (saved and restored, no reset, but not resumed).
    if verdict == "pass":
        got = "kept"
    elif resets and rst not in ("?", "0"):
        got = "reset"
    elif saved and report and not resets and unres:
        got = "lost"
    else:
        got = "failed otherwise"
    detail = {"kept": "", "failed otherwise": f": {verdict[:120]}"}.get(
        got, f" ({resets} reset, {unres} never resumed)")
    mark = "" if got == want else " **unexpected**"
    bad += got != want
    # Records lost and stalls mean something for a connection that came through.
    acct = f"{lost or '?'} / {dup or '?'}" if got == "kept" else "n/a"
    stall = f"{smed or '?'} / {smax or '?'}" if got == "kept" else "n/a"
    print(f"| {desc.strip()} | {want} | {got}{detail}{mark} | {kern or '?'} | {lock} | {rst} | "
          f"{acct} | {stall} |")
print()
print("every row as expected:", "yes" if not bad else f"NO ({bad} not)")
sys.exit(1 if bad else 0)
PY
rc=${PIPESTATUS[0]}
log "make update-matrix: $(($(date +%s) - t_start)) s wall"
exit "$rc"
