#!/usr/bin/env bash
# Run one test from tests.list in QEMU guests and judge it.
# Usage: run-test.sh NAME KERNEL_DIR RESULT_DIR
#   KERNEL_DIR holds bzImage and initramfs.cpio (scripts/initramfs.sh makes it, with
#   the kernel to kexec into), and initramfs-criu.cpio for the tests whose root is
#   "criu" (scripts/criu-initramfs.sh). EXTRA_CMDLINE: more kernel command line for
#   both guests.
# Boots the DUT (and the peer guest when the test has one, joined by a QEMU socket
# netdev), lets the DUT's /init run every stage and kexec between them, then checks
# the markers in the DUT's test output. Exit 0 when every stage passed.
set -euo pipefail
# shellcheck source=scripts/lib.sh
. "$(dirname "$0")/lib.sh"

name=$1 kdir=$(realpath "$2") res=$(realpath -m "$3")
read -r _ bin stages peer _ _ drop root _ boot < <(awk -v n="$name" '$1 == n' "$TOP/tests.list") ||
	die "no test '$name' in tests.list"
[ "$drop" = - ] && drop=
# The test's own kernel command line (tests.list column "cmdline", comma-separated)
# goes first: what EXTRA_CMDLINE says after it wins (the guests take the last value).
[ "${boot:--}" = - ] && boot=
# GUEST_CMDLINE (make check-sanitize: a larger KHO scratch area) goes first of all.
EXTRA_CMDLINE="${GUEST_CMDLINE:-}${GUEST_CMDLINE:+ }${boot//,/ }${boot:+ }${EXTRA_CMDLINE:-}"
case $root in
-)	unset GUEST_INITRD ;;
criu)	# both guests: the CRIU root is in the initramfs (scripts/criu-initramfs.sh)
	export GUEST_INITRD=$kdir/initramfs-criu.cpio
	[ -s "$GUEST_INITRD" ] || die "no $GUEST_INITRD (scripts/criu-initramfs.sh makes it)" ;;
*)	die "tests.list: test '$name' has an unknown root '$root'" ;;
esac
STAGE_TIMEOUT=${STAGE_TIMEOUT:-150}
# Guest memory: 2 GiB for the DUT (KHO reserves its scratch area in it), 512 MiB for the
# peer; make check-sanitize gives more (KASAN's shadow takes an eighth of it).
dut_mem=${DUT_MEM:-2G} peer_mem=${PEER_MEM:-512M}
rm -rf "$res" && mkdir -p "$res"

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
# qemu_args ROLE PROGRAM NETDEV_MODE MEM SMP CONSOLE KTAP MAC: fill QARGS for one guest.
qemu_args() {
	local cmdline="${EXTRA_CMDLINE:-} luonet.role=$1 luonet.test=$2 luonet.stages=$stages"
	cmdline+=" luonet.stage=1${drop:+ luonet.kexec_drop=$drop}"
	guest_qemu_args "$kdir" "$cmdline" "$4" "$5" "$6" "$7" "socket,id=n0,$3=127.0.0.1:$port" "$8"
}

limit=$((STAGE_TIMEOUT * stages + 60))
start=$(date +%s.%N)
linger=''
peer_pid=''
# With a peer, the DUT stays up after its last stage, passed or failed (the peer may
# still need it, e.g. to see a reset), until the peer is done.
[ "$peer" = - ] || linger=" luonet.linger=1"
EXTRA_CMDLINE="${EXTRA_CMDLINE:-}$linger" qemu_args dut "$bin" listen "$dut_mem" 2 "$res/dut.console" \
	"$res/dut.ktap" 52:54:00:12:34:01
timeout "$limit" qemu-system-x86_64 "${QARGS[@]}" &
dut=$!
dut_rc=0
if [ "$peer" != - ]; then
	sleep 1	# the listening side must exist before the peer connects
	qemu_args peer "$peer" connect "$peer_mem" 1 "$res/peer.console" "$res/peer.ktap" 52:54:00:12:34:02
	# A packet capture of the peer's link, both directions: what really crossed it.
	QARGS+=(-object "filter-dump,id=cap0,netdev=n0,file=$res/peer.pcap")
	timeout "$limit" qemu-system-x86_64 "${QARGS[@]}" &
	peer_pid=$!
	first=
	wait -n -p first "$dut" "$peer_pid" || true
	if [ "$first" = "$peer_pid" ]; then
		# The peer is done: let the DUT end the stage it is in (on a sanitized
		# kernel, guest/init's kmemleak scan at a stage's end takes seconds),
		# for at most 60 s; give it a moment to log, then stop it.
		for _ in $(seq 600); do
			began=$(grep -c '^LUONET BEGIN stage' "$res/dut.ktap" 2>/dev/null || true)
			ended=$(grep -c '^LUONET END stage' "$res/dut.ktap" 2>/dev/null || true)
			[ "${ended:-0}" -lt "${began:-0}" ] || break
			sleep 0.1
		done
		sleep 2
		kill "$dut" 2>/dev/null || true
		wait "$dut" || true
	else
		# The DUT stopped first (it failed, or timed out): the peer's own
		# timeouts end it, or this watchdog.
		wait "$dut" || dut_rc=$?
		( sleep 120; kill "$peer_pid" 2>/dev/null ) & watchdog=$!
		wait "$peer_pid" || true
		kill "$watchdog" 2>/dev/null || true
	fi
else
	wait "$dut" || dut_rc=$?
fi
end=$(date +%s.%N)
printf '%.1f\n' "$(echo "$end - $start" | bc)" >"$res/guest-seconds"

# Serial ports write CRLF line ends.
sed -i 's/\r$//' "$res"/*.ktap "$res"/*.console

# Split the DUT's test output into one KTAP file per stage.
awk -v d="$res" '/^LUONET BEGIN stage/ { f = d "/stage" $4 ".ktap"; next }
	/^LUONET/ { f = ""; next } f { print > f }' "$res/dut.ktap"
[ -z "$peer_pid" ] || sed -n '/^LUONET BEGIN peer/,/^LUONET END peer/p' "$res/peer.ktap" |
	grep -v '^LUONET' >"$res/peer-stage.ktap" || true

# Verdict lines that start with "harness error:" say the test could not run at all
# (a guest that did not boot, LUO disabled by the machine): never an expected failure.
why=()
last_line() { grep -v '^[[:space:]]*$' "$1" 2>/dev/null | tail -n 1 | cut -c1-160; }
[ "$dut_rc" -ne 124 ] || why+=("DUT guest timed out after ${limit}s")
grep -v LUONET "$res/dut.console" | grep -q 'KHO: Failed to reserve' &&
	why+=("harness error: KHO: Failed to reserve ... scratch buffer: LUO is disabled in this boot")
if [ -n "$peer_pid" ] && ! grep -q '^LUONET BEGIN peer' "$res/peer.ktap"; then
	why+=("harness error: the peer guest did not reach /init; its console ends with: $(last_line "$res/peer.console")")
fi
while read -r line; do why+=("DUT: ${line#LUONET }"); done < <(grep '^LUONET ERROR' "$res/dut.ktap" || true)
for s in $(seq 1 "$stages"); do
	if ! grep -q "^LUONET BEGIN stage $s " "$res/dut.ktap"; then
		if [ "$s" -eq 1 ]; then
			why+=("harness error: stage 1 never started: the DUT did not reach /init; its console ends with: $(last_line "$res/dut.console")")
		else
			why+=("stage $s never started: waited for the DUT to boot after the kexec from stage $((s - 1))")
		fi
		break
	fi
	rc=$(sed -n "s/^LUONET END stage $s rc=//p" "$res/dut.ktap")
	if [ -z "$rc" ]; then
		why+=("stage $s did not finish: waited for the test binary to exit")
		break
	elif [ "$rc" != 0 ]; then
		# The first failure (not a line of a command's output, "# | ..."), then
		# the name of every failed test case.
		notok=$(sed -nE 's/^not ok [0-9]+ ([^ ]{1,60}).*/\1/p' "$res/stage$s.ktap" | paste -sd, -)
		why+=("stage $s failed (exit $rc): $(grep -m1 -E '^(not ok|Bail out|# [^|].*(FAIL|fail))' "$res/stage$s.ktap" || echo 'see stage'"$s"'.ktap')${notok:+ [all not ok: $notok]}")
		break
	fi
done
if [ -n "$peer_pid" ]; then
	prc=$(sed -n 's/^LUONET END peer rc=//p' "$res/peer.ktap")
	if [ -z "$prc" ]; then
		why+=("peer did not finish: waited for its program to exit")
	elif [ "$prc" != 0 ]; then
		why+=("peer failed: $(grep -m1 '^not ok' "$res/peer-stage.ktap" || echo "exit $prc")")
	fi
fi
# A kernel splat on either guest's console (scripts/splat-scan.sh: warnings, BUGs,
# KASAN, UBSAN, lockdep, kmemleak, oopses, panics, stalls) fails the test even when
# every stage passed, with the splat's first lines.
while read -r line; do
	[ -z "$line" ] || why+=("${line%%.console:*} kernel splat:${line#*.console:}")
done < <("$TOP/scripts/splat-scan.sh" "$res"/*.console || true)

if [ ${#why[@]} -eq 0 ]; then
	echo pass >"$res/verdict"
	exit 0
fi
printf '%s\n' "${why[@]}" >"$res/verdict"
printf '%s\n' "${why[@]}" >&2
exit 1
