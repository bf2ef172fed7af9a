#!/usr/bin/env bash
# make demo-criu: a real-world restore agent. Debian's CRIU 4.2.1 checkpoints a running
# iperf3 server in the DUT guest while the peer guest's iperf3 client streams to it, the
# images cross a kexec live update in a memfd preserved in a LUO session, and CRIU
# restores the server in the new kernel (tests criu_iperf3 and criu_iperf3_off of
# tests.list, which make check runs too; guest/criu_dut.sh, guest/criu_peer.sh,
# guest/criu_images.c). Prints scripts/criu-report.sh's report of each run and writes
# its picture.
#
# What an operator passes: "criu dump --tcp-established" (CRIU's default iptables
# network lock then drops each connection's segments in the old kernel until the kexec)
# and "criu restore --tcp-established"; the kexec wipes the lock rules,
# liveupdate_tcp_rst_suppress=on keeps the new kernel from answering the peer's
# retransmissions with RST until the restore, whose unlock ("iptables -D") then fails
# harmlessly (criu/netfilter.c "Iptables configuration failed").
#
# Variables (make demo-criu VAR=...):
#   LOCK=iptables|nftables|skip  CRIU's --network-lock for dump and restore (default
#       iptables, CRIU's own default). With skip the dump also gets --leave-stopped:
#       without a lock, only the dumped sockets, kept in repair mode by the stopped
#       task until the kexec, stand between the peer and the old kernel (the series'
#       repair-mode drop keeps them silent; a closed socket would answer with RST).
#   KERNELS=series|base|base-series  which kernels the DUT runs: the series on both
#       sides of the kexec (default: the run with the suppressor on, then the same
#       with it off, which must lose the connection to an RST), the unpatched base
#       kernel on both sides, or the base kernel updated into the series (the first
#       update onto our kernel). The base kernel comes from build/out/base (make
#       check's, built by scripts/build-series.sh when missing).
#   HOLD=1  the images stay outside LUO (appended to the next kernel's initramfs, as a
#       disk would keep them) and an empty LUO session only holds the restore window
#       open: "criu_images save SESSION </dev/null" before the kexec, "criu_images
#       restore SESSION /dev/null -- criu restore ..." after it (the README's recipe)
#   RATE=BITS  the peer's iperf3 -b (e.g. 20M): slow enough for the server to keep up, so
#       that the client's data, not just zero-window probes, reaches the dumped socket
#       in the old kernel between the dump and the kexec
#   CRIU_OPTS='OPT ...'       more options for criu dump and restore
#   CRIU_DUMP_OPTS='OPT ...'  more options for criu dump only
#   CRIU_DELAY=SECONDS        how long the new kernel's userspace waits before the
#                             restore (luonet.criu_delay, default 4)
#
# Exit 0 when the runs did what they must: with KERNELS=series, the suppressor-on run
# kept the connection (iperf3 finished, its stream moved again, 0 RST from the DUT
# during the live update) and the suppressor-off run lost it to the new kernel's RST.
# The other KERNELS are measurements: exit 0 when the run happened (the report says
# whether the connection was kept). When CRIU itself fails, the report says BLOCKED,
# with the failing command, its output and CRIU's error locations, and this exits 1.
set -euo pipefail
# shellcheck source=scripts/lib.sh
. "$(dirname "$0")/lib.sh"

lock=${LOCK:-iptables}
kernels=${KERNELS:-series}
[[ "$lock" =~ ^(iptables|nftables|skip)$ ]] || die "LOCK must be iptables, nftables or skip, not '$lock'"
[[ "$kernels" =~ ^(series|base|base-series)$ ]] ||
	die "KERNELS must be series, base or base-series, not '$kernels'"
[[ "${CRIU_DELAY:-4}" =~ ^[0-9]+$ ]] || die "CRIU_DELAY must be a number of seconds, not '$CRIU_DELAY'"
dump_opts=${CRIU_DUMP_OPTS:-}
[ "$lock" != skip ] || dump_opts="--leave-stopped $dump_opts"
opts="--network-lock $lock ${CRIU_OPTS:-}"
# The guest's kernel command line takes each option list as one word.
words() { local w; w=$(echo "$1" | xargs | tr ' ' ','); echo "${w:+$2=$w}"; }
cmdline="$(words "$opts" luonet.criu_opts) $(words "$dump_opts" luonet.criu_dump_opts)"
cmdline+=" luonet.criu_delay=${CRIU_DELAY:-4}"
if [ -n "${RATE:-}" ]; then
	[[ "$RATE" =~ ^[0-9]+[KMG]?$ ]] || die "RATE must be bits/s like 20M, not '$RATE'"
	cmdline+=" luonet.criu_rate=$RATE"
fi
case ${HOLD:-0} in
0) HOLD= ;;
1) cmdline+=" luonet.criu_hold=1" ;;
*) die "HOLD must be 1 or 0, not '$HOLD'" ;;
esac

dir=$BUILD/criu
t_start=$(date +%s)
"$TOP/scripts/deps.sh"
[ -d "$KTREE/.git" ] || "$TOP/scripts/tree.sh"
if [ "$kernels" = series ]; then
	log "building the series' kernel (log: $dir/build-series.log)"
	build=(--last-only)
else
	# The base kernel too: make check's, unless it is missing.
	log "building the base and the series' kernels (log: $dir/build-series.log)"
	build=()
	[ ! -s "$BUILD/out/base/bzImage" ] || build=(--last-only)
fi
mkdir -p "$dir"
"$TOP/scripts/build-series.sh" "${build[@]}" >"$dir/build-series.log" 2>&1 ||
	{ tail -n 30 "$dir/build-series.log" >&2; die "building the kernel failed"; }
"$TOP/scripts/build-tests.sh" "$KTREE" "$BUILD/tests" >"$dir/build-tests.log" 2>&1 ||
	{ tail -n 30 "$dir/build-tests.log" >&2; die "building the guest programs failed"; }

# The DUT boots kernel FROM, whose initramfs carries kernel TO to kexec into.
from=${kernels%-*} to=${kernels#*-}
kdir=$dir/kernel-$kernels
log "initramfs: the $to kernel to kexec into, the guest programs and the CRIU root"
"$TOP/scripts/kernel-dir.sh" "$BUILD/out/$from/bzImage" "$BUILD/out/$to/bzImage" "$kdir"
"$TOP/scripts/criu-initramfs.sh" "$kdir/initramfs.cpio" "$kdir/initramfs-criu.cpio"

# run NAME TEST KIND TITLE: one run of TEST into $dir/NAME and its report; 0 when the
# connection was kept
run() {
	local t0 r=$runs/$1
	t0=$(date +%s)
	log "run $1: $4 (lock $lock; guest logs: $r)"
	EXTRA_CMDLINE="$cmdline" "$TOP/scripts/run-test.sh" "$2" "$kdir" "$r" 2>/dev/null || true
	log "run $1: $(($(date +%s) - t0)) s wall"
	[ -s "$r/verdict" ] || die "run-test.sh left no verdict in $r: a harness error"
	echo
	"$TOP/scripts/criu-report.sh" "$r" "$4 (LOCK=$lock)" "$3"
}

# One directory per variant: runs of different variants can be compared.
runs=$dir/$kernels-$lock${HOLD:+-hold}${RATE:+-$RATE}
rc=0
case $kernels in
series)
	run on criu_iperf3 kept "CRIU live update, liveupdate_tcp_rst_suppress=on" || rc=1
	if grep -q '^BLOCKED' "$runs/on/report.txt"; then
		echo "make demo-criu: BLOCKED (not run with the suppressor off: CRIU fails before the kexec matters)"
		exit 1
	fi
	echo
	run off criu_iperf3_off reset "the same CRIU live update with the suppressor off" || rc=1
	what="suppressor on: connection kept, 0 RST; off: reset by the new kernel" ;;
*)
	run "$kernels" criu_iperf3 kept "CRIU live update, $from kernel -> $to kernel" || true
	grep -q '^BLOCKED' "$runs/$kernels/report.txt" && rc=1
	if grep -q '^expected: connection kept: yes' "$runs/$kernels/report.txt"; then
		what="$from -> $to: the connection was kept"
	else
		what="$from -> $to: the connection was lost"
	fi ;;
esac
echo
log "make demo-criu: $(($(date +%s) - t_start)) s wall in all"
if [ "$rc" -eq 0 ]; then
	echo "make demo-criu (LOCK=$lock KERNELS=$kernels${HOLD:+ HOLD=$HOLD}${RATE:+ RATE=$RATE}): done ($what)"
else
	echo "make demo-criu (LOCK=$lock KERNELS=$kernels${HOLD:+ HOLD=$HOLD}${RATE:+ RATE=$RATE}): FAIL (see above; logs in $runs)"
fi
exit "$rc"
