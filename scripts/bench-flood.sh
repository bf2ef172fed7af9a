#!/usr/bin/env bash
# make bench, no-socket path: what the TCP no-socket path costs under a flood of ACK
# segments for unknown flows (random ports and sequence numbers, ACK set, SYN clear),
# and under a mixed flood (ACK, data and SYN segments in turn, each for a flow of its
# own: test luo_flood's), on the base kernel and on the series' kernel with
# liveupdate_tcp_rst_suppress off and on. Uses the non-debug kernels and initramfs images that scripts/bench.sh builds
# in build/bench/{base,series}. Each guest (1 vCPU, -icount: guest time counts
# instructions) goes through a live update first: stage 1 hands a LUO session over
# with a kexec, stage 2 runs guest/ackflood's two floods between two namespaces joined
# by veth, "pre" (session not finished yet: on the series' kernel the restore window
# is open), then both again "post" (session finished, window closed). Boots alternate
# base, series knob off, series knob on, RUNS times. Every flood's counters are
# checked (the DUT counts all segments; resets, or with the knob on and the window
# open drops, and resets for the SYNs only) and a wrong count stops the script before
# any number is printed.
# Usage: bench-flood.sh   (RUNS=5 boots of each kernel, FLOOD_N=50000 segments a flood)
set -euo pipefail
# shellcheck source=scripts/lib.sh
. "$(dirname "$0")/lib.sh"

RUNS=${RUNS:-5} FLOOD_N=${FLOOD_N:-50000}
bench=$BUILD/bench
for k in base series; do
	for f in bzImage initramfs.cpio; do
		[ -s "$bench/$k/$f" ] || die "$bench/$k/$f is missing: run scripts/bench.sh (make bench) first"
	done
	cpio -it --quiet <"$bench/$k/initramfs.cpio" | grep -x tests/ackflood >/dev/null ||
		die "$bench/$k/initramfs.cpio has no guest/ackflood: run scripts/bench.sh (make bench) again"
done
if [ -e "$bench/src-series/.git" ] &&
	[ "$(git -C "$bench/src-series" rev-parse HEAD)" != "$(git -C "$KTREE" rev-parse HEAD)" ]; then
	log "warning: the series' bench kernel was not built from $KTREE's HEAD (scripts/bench.sh rebuilds it)"
fi

# check_flood KERNEL KNOB PHASE KIND LINE: die unless the counters of one flood (LINE,
# as guest/ackflood prints it) are right; print the flood's guest time in ns.
check_flood() {
	local n ns insegs outrsts supp window want_rst want_supp want_window syn=0
	set -- "$1" "$2" "$3" "$5" "$4"
	n=$(sed -n 's/.* n=\([0-9]*\) .*/\1/p' <<<"$4")
	ns=$(sed -n 's/.* ns=\([0-9]*\) .*/\1/p' <<<"$4")
	insegs=$(sed -n 's/.* insegs=\([0-9-]*\) .*/\1/p' <<<"$4")
	outrsts=$(sed -n 's/.* outrsts=\([0-9-]*\) .*/\1/p' <<<"$4")
	supp=$(sed -n 's/.* suppressed=\([0-9-]*\) .*/\1/p' <<<"$4")
	window=$(sed -n 's/.* window=\([a-z_]*,[a-z_]*\)$/\1/p' <<<"$4")
	want_rst=$FLOOD_N want_supp=0 want_window=finished,finished
	[ "$3" = pre ] && want_window=open,open
	if [ "$1" = base ]; then
		want_supp=-1 want_window=missing,missing	# no such counter, no such file
	elif [ "$2" = on ] && [ "$3" = pre ]; then
		# The mixed flood's SYNs (every third segment) still get their reset.
		[ "$5" = ack ] || syn=$((FLOOD_N / 3))
		want_rst=$syn want_supp=$((FLOOD_N - syn))
	fi
	if [ "$n" != "$FLOOD_N" ] || [ "$insegs" != "$FLOOD_N" ] || [ "$outrsts" != "$want_rst" ] ||
		[ "$supp" != "$want_supp" ] || [ "$window" != "$want_window" ] || [ -z "$ns" ]; then
		die "$1 knob $2 $3 $5: wrong counters: '$4' (want n=insegs=$FLOOD_N outrsts=$want_rst suppressed=$want_supp window=$want_window)"
	fi
	echo "$ns"
}

start=$(date +%s)
results=$bench/flood/results.txt
rm -rf "$bench/flood"
mkdir -p "$bench/flood"
: >"$results"
for i in $(seq 1 "$RUNS"); do
	for cfg in base:off series:off series:on; do
		k=${cfg%:*} knob=${cfg#*:}
		res=$bench/flood/run-$i-$k-$knob
		mkdir -p "$res"
		guest_qemu_args "$bench/$k" "luonet.role=flood luonet.flood_n=$FLOOD_N luonet.flood_knob=$knob" \
			2G 1 "$res/console" "$res/out"
		timeout 900 qemu-system-x86_64 -icount shift=0,sleep=off "${QARGS[@]}" ||
			die "$k knob $knob run $i: guest failed or timed out (see $res)"
		tr -d '\r' <"$res/out" >"$res/out.txt"
		if grep -q 'ERROR' "$res/out.txt" || ! grep -q '^LUONET END flood' "$res/out.txt"; then
			grep -h 'KHO: Failed to reserve' "$res/console" >&2 || true
			die "$k knob $knob run $i: flood failed (see $res/out.txt and $res/console)"
		fi
		for phase in pre post; do
			for kind in ack mix; do
				line=$(grep "^# flood phase=$phase kind=$kind " "$res/out.txt") ||
					die "$k knob $knob run $i: no $phase $kind result (see $res/out.txt)"
				ns=$(check_flood "$k" "$knob" "$phase" "$kind" "$line")
				echo "$k $knob $phase $kind $ns" >>"$results"
			done
		done
		log "run $i $k knob $knob: $(grep -h '^# flood' "$res/out.txt" | cut -d' ' -f3- | tr '\n' ' ')"
	done
done

echo
echo "== no-socket path: floods for unknown flows, $RUNS interleaved boots each, $FLOOD_N segments a flood"
echo "   (IPv4, veth, 1 vCPU, guest time under -icount; per segment: sender's raw send + the DUT's"
echo "   receive, lookup and RST or drop; flood 'ack': ACK segments, 'mix': ACK, data (512 bytes)"
echo "   and SYN segments in turn; counters checked in every flood: the DUT counted all $FLOOD_N"
echo "   segments, Tcp OutRsts grew by $FLOOD_N and TCPLiveUpdateRstSuppressed by 0, except (4):"
echo "   OutRsts by the SYNs (0, or $((FLOOD_N / 3))) and TCPLiveUpdateRstSuppressed by the rest)"
for k in base series; do
	echo "   $k kernel: $(grep -m1 -ho 'Linux version [^ ]*' "$bench/flood/run-1-$k-off/console" | cut -d' ' -f3)"
done
python3 - "$results" "$FLOOD_N" <<'PY'
import statistics, sys
ns = {}
for line in open(sys.argv[1]):
    k, knob, phase, kind, t = line.split()
    ns.setdefault((k, knob, phase, kind), []).append(int(t) / int(sys.argv[2]))
rows = [("(1) base", "base", "off", "pre", "n/a"),
        ("(1) base", "base", "off", "post", "n/a"),
        ("(2) series knob off", "series", "off", "pre", "open"),
        ("(2) series knob off", "series", "off", "post", "finished"),
        ("(3) series knob on", "series", "on", "post", "finished"),
        ("(4) series knob on", "series", "on", "pre", "open")]
print(f"{'configuration':21} {'flood':9} {'window':9} {'ns/seg':>8} {'min..max':>15} {'spread':>7}"
      f" {'kseg/s':>7} {'rate vs base':>12} {'ns/seg vs base':>14}")
ok, four = True, True
for kind in ("ack", "mix"):
    for name, k, knob, phase, window in rows:
        v = ns[(k, knob, phase, kind)]
        base = statistics.median(ns[("base", "off", phase, kind)])
        med = statistics.median(v)
        ratio = base / med
        print(f"{name:21} {phase + ' ' + kind:9} {window:9} {med:8.1f} {min(v):7.1f}..{max(v):<7.1f}"
              f" {100 * (max(v) - min(v)) / med:6.2f}% {1e6 / med:7.1f} {ratio:12.4f} {med - base:+14.1f}")
        if name.startswith("(4)"):
            four &= ratio > 1
        elif k == "series":
            ok &= ratio >= 0.99
print("(ratio: base's median ns/seg in the same flood of the boot over this row's; 'pre' floods run"
      " before the LUO session is finished, 'post' after)")
print("target (2), (3) vs base >= 0.99:", "met" if ok else "NOT met")
print("(4) cheaper than base, both floods:", "yes" if four else "NO")
PY
log "bench-flood: $((RUNS * 3)) boots in $(($(date +%s) - start)) s"
