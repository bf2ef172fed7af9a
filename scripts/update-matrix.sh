#!/usr/bin/env bash
# make update-matrix: the live updates a fleet makes, each run once with N connections
# (MATRIX_CONNS, default 100; IPv4 and IPv6 alternating) through the demo's agent and
# stream (guest/demo_dut.sh, lu_stream with the peer's RTO capped at 1 s):
#   series -> the same image                        kept
#   series -> another build of the series           kept  (scripts/build-nodebug.sh:
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
	{ "$TOP/scripts/build-series.sh" "${build[@]}" && "$TOP/scripts/build-nodebug.sh" series &&
	  "$TOP/scripts/build-tests.sh" "$KTREE" "$BUILD/tests"; } >"$dir/build.log" 2>&1 ||
		{ tail -n 30 "$dir/build.log" >&2; die "build failed"; }
	# kernel dir FROM-TO: boots FROM, kexecs into TO (in its initramfs)
	for k in series-series series-nodebug base-series series-base; do
		from=${k%-*} to=${k#*-}
		kdir=$dir/kernel-$k
		mkdir -p "$kdir"
		cp "$BUILD/out/$from/bzImage" "$kdir/bzImage"
		tok=$BUILD/out/$to/bzImage
		[ "$to" != nodebug ] || tok=$BUILD/bench/series/bzImage
		"$TOP/scripts/initramfs.sh" "$tok" "$BUILD/tests/bin" "$kdir/initramfs.cpio" \
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
		tcpdump -r "$dir/$name/peer.pcap" -nn -tt tcp 2>/dev/null | grep 'Flags \[R' \
			>"$dir/$name/rst.txt" || true
	done
fi

printf '%s\n' "${rows[@]}" >"$dir/rows"
python3 - "$dir" "$n" <<'PY' | tee "$dir/table.md"
import os, re, sys

d, n = sys.argv[1], sys.argv[2]
def read(path):
    try:
        return open(path, errors="replace").read().strip()
    except OSError:
        return ""

def grab(path, pat, conv=str):
    try:
        for line in open(path, errors="replace"):
            m = re.search(pat, line)
            if m:
                return conv(m.group(1))
    except OSError:
        pass
    return None

print(f"N = {n} connections per update (IPv4 and IPv6 alternating), peer RTO capped at 1 s\n")
print("| old kernel -> new kernel | expected | result | kernels (uname -r) | agent's lock | "
      "RST from the DUT | records lost / dup | stall median / max (s) |")
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
    kern = [grab(f"{r}/stage{s}.ktap", r"# kernel (\S+)") for s in (1, 2, 3)]
    kern = " -> ".join(k for k in kern if k)
    lock = grab(f"{r}/stage1.ktap", r"# agent: lock=(\S+)") or "?"
    rst = (sum(1 for l in read(f"{r}/rst.txt").splitlines()
               if re.search(r" (192\.0\.2\.1|2001:db8::1)\.7030 >", l))
           if os.path.exists(f"{r}/rst.txt") else "?")
    if verdict == "pass":
        got = "kept"
    elif resets:
        got = "reset"
    elif "harness error" in verdict or "no verdict" in verdict:
        got = "not run"
    else:
        got = "lost"
    detail = "" if got == "kept" else f" ({resets} reset, {unres} never resumed)"
    mark = "" if got == want else " **unexpected**"
    bad += got != want
    print(f"| {desc.strip()} | {want} | {got}{detail}{mark} | {kern or '?'} | {lock} | {rst} | "
          f"{lost or '?'} / {dup or '?'} | {smed or '?'} / {smax or '?'} |")
print()
print("every row as expected:", "yes" if not bad else f"NO ({bad} not)")
sys.exit(1 if bad else 0)
PY
rc=${PIPESTATUS[0]}
log "make update-matrix: $(($(date +%s) - t_start)) s wall"
exit "$rc"
