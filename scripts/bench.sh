#!/usr/bin/env bash
# make bench: established-path TCP cost of the series against the base kernel.
# Builds both kernels without the test kernels' debug options, then boots them
# alternately (base, series, base, ...; RUNS each) in one invocation; each boot runs
# guest/tcpbench between two namespaces joined by veth: bulk throughput and 1-byte
# request/response rate. Guests run with -icount, so guest time counts executed
# instructions and host noise does not enter the numbers. Prints mean, spread and the
# series/base ratio, then compares the disassembly of tcp_rcv_established(). Then the
# no-socket path cost under an ACK flood (bench-flood.sh) and the race comparison:
# RSTs that escape a live update with no protection, an nft rule, or the suppressor
# (bench-race.sh, on the test kernel).
set -euo pipefail
# shellcheck source=scripts/lib.sh
. "$(dirname "$0")/lib.sh"

RUNS=${RUNS:-7} BULK_MB=${BULK_MB:-64} RR=${RR:-3000}
bench=$BUILD/bench
"$TOP/scripts/deps.sh"
"$TOP/scripts/tree.sh"
base=$(git -C "$KTREE" rev-list --max-parents=0 HEAD)
head=$(git -C "$KTREE" rev-parse HEAD)

for k in base series; do
	src=$bench/src-$k
	rev=$base
	[ "$k" = series ] && rev=$head
	if [ ! -e "$src/.git" ]; then
		git -C "$KTREE" worktree prune
		git -C "$KTREE" worktree add -q --detach "$src" "$rev"
	fi
	git -C "$src" checkout -q --detach "$rev"
	log "building the $k kernel (non-debug)"
	CONFIG_EXTRA=$TOP/configs/bench.config "$TOP/scripts/kmake.sh" "$src" "$bench/kernel-$k" vmlinux
	mkdir -p "$bench/$k"
	cp "$bench/kernel-$k/arch/x86/boot/bzImage" "$bench/$k/bzImage"
done
"$TOP/scripts/build-tests.sh" "$KTREE" "$BUILD/tests"
for k in base series; do
	"$TOP/scripts/initramfs.sh" "$bench/$k/bzImage" "$BUILD/tests/bin" "$bench/$k/initramfs.cpio"
done

results=$bench/results.txt
: >"$results"
for i in $(seq 1 "$RUNS"); do
	for k in base series; do
		res=$bench/run-$k-$i
		mkdir -p "$res"
		guest_qemu_args "$bench/$k" "luonet.role=bench luonet.bench_mb=$BULK_MB luonet.bench_rr=$RR" \
			1G 1 "$res/console" "$res/out"
		timeout 900 qemu-system-x86_64 -icount shift=0,sleep=off "${QARGS[@]}" ||
			die "$k run $i: guest failed or timed out (see $res)"
		bulk=$(tr -d '\r' <"$res/out" | sed -n 's/^# bulk_MBps: //p')
		rr=$(tr -d '\r' <"$res/out" | sed -n 's/^# rr_per_s: //p')
		if [ -z "$bulk" ] || [ -z "$rr" ]; then die "$k run $i: no result (see $res/out)"; fi
		log "run $i $k: bulk $bulk MB/s, rr $rr /s"
		echo "$k $bulk $rr" >>"$results"
	done
done

echo
echo "== established-path cost, $RUNS interleaved runs each (guest time under -icount)"
python3 - "$results" <<'PY'
import statistics, sys
runs = {"base": {"bulk": [], "rr": []}, "series": {"bulk": [], "rr": []}}
for line in open(sys.argv[1]):
    k, bulk, rr = line.split()
    runs[k]["bulk"].append(float(bulk))
    runs[k]["rr"].append(float(rr))
print(f"{'kernel':8} {'bulk MB/s median':>17} {'min..max':>19} {'rr/s median':>12} {'min..max':>19}")
for k, r in runs.items():
    b, q = r["bulk"], r["rr"]
    print(f"{k:8} {statistics.median(b):17.1f} {min(b):9.1f}..{max(b):<9.1f} "
          f"{statistics.median(q):12.1f} {min(q):9.1f}..{max(q):<9.1f}")
ok = True
for m in ("bulk", "rr"):
    ratio = statistics.median(runs["series"][m]) / statistics.median(runs["base"][m])
    spread = max((max(v) - min(v)) / statistics.median(v) for v in (runs["base"][m], runs["series"][m]))
    print(f"ratio series/base, {m}: {ratio:.4f} (medians; run-to-run spread up to {100 * spread:.1f}%)")
    ok &= ratio >= 0.99
print("target ratio >= 0.99:", "met" if ok else "NOT met")
PY
echo
"$TOP/scripts/fastpath-diff.sh" "$bench/kernel-base/vmlinux" "$bench/kernel-series/vmlinux"
"$TOP/scripts/bench-flood.sh"
echo
echo "== race: RSTs that escape during a live update, by protection"
"$TOP/scripts/bench-race.sh"
