#!/usr/bin/env bash
# make bench: established-path TCP cost of the series against the base kernel.
# Builds both kernels without the test kernels' debug options, then boots them
# alternately (base, series, base, ...; RUNS each) in one invocation; each boot runs
# guest/tcpbench, one process driving both ends of a TCP connection in lockstep between
# two namespaces joined by veth: bulk transfer and 1-byte request/response. Guests run
# with -icount shift=0, so guest nanoseconds count executed instructions (see
# guest/tcpbench.c) and host noise does not enter the numbers. Prints, per kernel, the
# median and min..max cost (instructions per KiB, per round trip) and the run-to-run
# spread ((max-min)/median, target < 1%), and the series/base ratio; then compares the
# disassembly of tcp_rcv_established(). Then the no-socket path cost under an ACK flood
# (bench-flood.sh) and the race comparison: RSTs that escape a live update with no
# protection, an nft rule, or the suppressor (bench-race.sh, on the test kernel).
#
# Environment:
#   RUNS=7 BULK_MB=64 RR=3000 BUF_KB=256   boots per kernel, bulk MiB, round trips,
#                                          tcpbench's fixed SO_SNDBUF/SO_RCVBUF (KiB)
#   BENCH_ONLY=established   only the established-path part (skips the disassembly
#                            comparison, bench-flood and bench-race)
#   KEEP_TREE=1              benchmark build/linux as it is (its HEAD against its base
#                            commit) without first syncing it to patches/ (scripts/tree.sh)
set -euo pipefail
# shellcheck source=scripts/lib.sh
. "$(dirname "$0")/lib.sh"

RUNS=${RUNS:-7} BULK_MB=${BULK_MB:-64} RR=${RR:-3000} BUF_KB=${BUF_KB:-256}
BENCH_ONLY=${BENCH_ONLY:-}
case $BENCH_ONLY in
"" | established) ;;
*) die "BENCH_ONLY=$BENCH_ONLY: the only value is 'established'" ;;
esac
bench=$BUILD/bench
"$TOP/scripts/deps.sh"
[ -n "${KEEP_TREE:-}" ] || "$TOP/scripts/tree.sh"
"$TOP/scripts/build-variant.sh" bench base series
"$TOP/scripts/build-tests.sh" "$KTREE" "$BUILD/tests"
for k in base series; do
	"$TOP/scripts/kernel-dir.sh" "$bench/$k/bzImage" "$bench/$k/bzImage" "$bench/$k"
done

# Determinism: -icount shift=0 makes guest time the count of executed instructions;
# sleep=off lets an idle vCPU jump to its next timer instead of waiting for the host,
# align=off never slows the guest down to host time. The RTC runs on the virtual clock
# from a fixed date: by default it reads the host's time at boot, the one host input
# left, which seeds the guest's wall clock and entropy pool (TCP sequence numbers, hash
# seeds) and moved the results by up to 0.1% from boot to boot. With it fixed, every
# boot of a kernel executes the same instructions and reports the same numbers.
results=$bench/results.txt
: >"$results"
for i in $(seq 1 "$RUNS"); do
	for k in base series; do
		res=$bench/run-$k-$i
		mkdir -p "$res"
		guest_qemu_args "$bench/$k" "luonet.role=bench luonet.bench_mb=$BULK_MB luonet.bench_rr=$RR luonet.bench_buf=$BUF_KB" \
			1G 1 "$res/console" "$res/out"
		start=$SECONDS
		timeout 900 qemu-system-x86_64 -icount shift=0,sleep=off,align=off \
			-rtc base=2026-01-01T00:00:00,clock=vm "${QARGS[@]}" ||
			die "$k run $i: guest failed or timed out (see $res)"
		bulk=$(tr -d '\r' <"$res/out" | sed -n 's/^# bulk_insn_per_kb: //p')
		rr=$(tr -d '\r' <"$res/out" | sed -n 's/^# rr_insn_per_round: //p')
		waits=$(tr -d '\r' <"$res/out" | sed -n 's/^# bulk_waits: //p')
		if [ -z "$bulk" ] || [ -z "$rr" ]; then die "$k run $i: no result (see $res/out)"; fi
		log "run $i $k: bulk $bulk insn/KiB (waits $waits), rr $rr insn/round ($((SECONDS - start)) s)"
		echo "$k $bulk $rr" >>"$results"
	done
done

echo
echo "== established-path cost, $RUNS interleaved runs each (guest instructions under -icount shift=0;"
echo "   bulk: $BULK_MB MiB, rr: $RR 1-byte round trips, buffers $BUF_KB KiB; lower is better)"
python3 - "$results" <<'PY'
import statistics, sys
runs = {"base": {"bulk": [], "rr": []}, "series": {"bulk": [], "rr": []}}
for line in open(sys.argv[1]):
    k, bulk, rr = line.split()
    runs[k]["bulk"].append(float(bulk))
    runs[k]["rr"].append(float(rr))
names = {"bulk": "bulk insn/KiB", "rr": "rr insn/round"}
print(f"{'metric':14} {'kernel':7} {'median':>10} {'min..max':>23} {'spread':>7}")
worst = 0.0
for m in ("bulk", "rr"):
    for k in ("base", "series"):
        v = runs[k][m]
        med = statistics.median(v)
        spread = (max(v) - min(v)) / med
        worst = max(worst, spread)
        print(f"{names[m]:14} {k:7} {med:10.1f} {min(v):11.1f}..{max(v):<10.1f} {100 * spread:6.2f}%")
for m in ("bulk", "rr"):
    ratio = statistics.median(runs["series"][m]) / statistics.median(runs["base"][m])
    print(f"ratio series/base, {names[m]}: {ratio:.4f} (medians; above 1: the series costs more)")
print(f"run-to-run spread < 1% (every kernel and metric; worst {100 * worst:.2f}%):",
      "met" if worst < 0.01 else "NOT met")
PY
[ "$BENCH_ONLY" = established ] && exit 0
echo
"$TOP/scripts/fastpath-diff.sh" "$bench/kernel-base/vmlinux" "$bench/kernel-series/vmlinux"
"$TOP/scripts/bench-flood.sh"
echo
echo "== race: RSTs that escape during a live update, by protection"
"$TOP/scripts/bench-race.sh"
