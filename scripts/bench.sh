#!/usr/bin/env bash
# make bench: established-path TCP cost of the series against the base kernel.
# Builds both kernels without the test kernels' debug options, then boots them
# alternately (base, series, base, ...; RUNS each) in one invocation; each boot runs
# guest/tcpbench between two namespaces joined by veth: bulk throughput and 1-byte
# request/response rate. Guests run with -icount, so guest time counts executed
# instructions and host noise does not enter the numbers. Prints mean, spread and the
# series/base ratio, then compares the disassembly of tcp_rcv_established().
set -euo pipefail
# shellcheck source=scripts/lib.sh
. "$(dirname "$0")/lib.sh"

RUNS=${RUNS:-5} BULK_MB=${BULK_MB:-32} RR=${RR:-3000}
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
awk '
{ n[$1]++; b[$1] += $2; r[$1] += $3
  if (!($1 in bmin) || $2 < bmin[$1]) bmin[$1] = $2; if ($2 > bmax[$1]) bmax[$1] = $2
  if (!($1 in rmin) || $3 < rmin[$1]) rmin[$1] = $3; if ($3 > rmax[$1]) rmax[$1] = $3 }
END {
  printf "%-8s %12s %10s %12s %10s\n", "kernel", "bulk MB/s", "spread", "rr per s", "spread"
  for (k = 0; k < 2; k++) {
    m = k ? "series" : "base"
    printf "%-8s %12.2f %9.2f%% %12.1f %9.2f%%\n", m, b[m] / n[m],
      100 * (bmax[m] - bmin[m]) / (b[m] / n[m]), r[m] / n[m], 100 * (rmax[m] - rmin[m]) / (r[m] / n[m])
  }
  br = (b["series"] / n["series"]) / (b["base"] / n["base"])
  rr = (r["series"] / n["series"]) / (r["base"] / n["base"])
  printf "ratio series/base: bulk %.4f, rr %.4f (target >= 0.99): %s\n", br, rr,
    (br >= 0.99 && rr >= 0.99) ? "met" : "NOT met"
}' "$results"

echo
"$TOP/scripts/fastpath-diff.sh" "$bench/kernel-base/vmlinux" "$bench/kernel-series/vmlinux"
