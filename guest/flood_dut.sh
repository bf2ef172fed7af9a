#!/bin/sh
# Test luo_flood (tests.list): a flood from the peer while the restore window is open.
# Stage 1 is the demo's (demo_dut.sh -s 1: luonet.conns connections from the peer,
# saved by the agent, kexec with liveupdate_tcp_rst_suppress=on). Stage 2, in the new
# kernel, before anything is restored: the DUT asks the peer (guest/ackflood trigger)
# for luonet.flood_n segments of each kind, ACK, data and SYN, every one for a flow of
# its own, and checks
#   1. the window was open through the flood;
#   2. TCP saw exactly the segments the peer sent (the demo's flows are kept out
#      meanwhile), each either suppressed or answered with a reset (Tcp InSegs =
#      TCPLiveUpdateRstSuppressed + Tcp OutRsts);
#   3. no ACK or data segment was answered with a reset (the peer counts what came
#      back, by flow);
#   4. every SYN was (peer: one reset each; Tcp OutRsts grew by the SYNs);
#   5. each ACK or data flow was held or counted over the bound (TCPLiveUpdateHeld +
#      TCPLiveUpdateHoldOverflow), the bound was reached, and the slab memory in use
#      grew by no more than it (TCP_LU_HOLD_BYTES, 4 MiB: a copy's truesize and its
#      entry) and 1 MiB for what else the kernel allocated meanwhile (runs: +4167248
#      and +4333880 bytes with 4193584 and 4193520 held; 16808 and 309544 bytes were
#      still in use after the close, without anything held), measured in
#      /sys/kernel/slab (objects in use times their size, without KASAN's redzones and
#      metadata) after every cache was shrunk (which also empties KASAN's
#      quarantine), kmemleak's objects left out;
# then
#   6. restores the connections as the demo does (demo_dut.sh -s 2, its output as a
#      subtest): the peer checks that every one resumed with no byte lost;
#   7. once the window closed: every held segment was replayed into its restored
#      socket or received again at the close (TCPLiveUpdateHeld = Replayed +
#      HoldFreed), the kernel's peak of held bytes is within the bound, and the slab
#      memory is back within 1 MiB of what it was before the flood.
set -u
# shellcheck source=guest/lib.sh
. /tests/lib.sh
if [ "${1:-}" = -s ] && [ "${2:-}" = 1 ]; then
	exec /tests/demo_dut.sh -s 1
fi
if [ $# -ne 2 ] || [ "$1" != -s ] || [ "$2" != 2 ]; then
	echo "usage: flood_dut.sh -s 1|2" >&2
	exit 2
fi
n=$(arg flood_n)
n=${n:-2500}
bound=4194304
# slab: bytes of slab objects in use (their object size: KASAN's redzones and
# metadata left out), every cache shrunk first, kmemleak's own objects left out
# (builtins only: a fork per cache took a KASAN guest some 40 s per call)
slab() {
	_b=0
	for d in /sys/kernel/slab/*; do
		# Merged caches: one directory, the other names link to it.
		if [ -L "$d" ] || [ "${d##*/}" = kmemleak_object ]; then continue; fi
		echo 1 >"$d/shrink" 2>/dev/null
		read -r _objs _ <"$d/objects" && read -r _size <"$d/object_size" &&
			_b=$((_b + _objs * _size))
	done
	echo "$_b"
}
tcp() { counter /proc/net/snmp Tcp "$1"; }
ext() { counter /proc/net/netstat TcpExt "TCPLiveUpdate$1"; }
window() { cat /sys/kernel/liveupdate/restore_window 2>/dev/null || echo missing; }

echo "TAP version 13"
echo "1..7"
echo "# kernel $(uname -r), $(arg conns) connections, a flood of $n segments of each kind"
# The demo's own flows (port 7030) are kept out of TCP during the flood (nft, input
# hook): their retransmissions would otherwise land between the counters' reads, and
# TCP's counts must be the flood's alone.
nft -f - <<'NFT' || echo "# could not keep the demo's flows out during the flood"
table inet luonet_flood {
	chain in {
		type filter hook input priority 0; policy accept;
		tcp dport 7030 drop
	}
}
NFT
sleep 0.2
w0=$(window) slab0=$(slab)
in0=$(tcp InSegs) rst0=$(tcp OutRsts) sup0=$(ext RstSuppressed)
held0=$(ext Held) over0=$(ext HoldOverflow)
/tests/ackflood trigger 192.0.2.2 "$n" >/tmp/flood.log 2>&1
cat /tmp/flood.log
# The peer answers SETTLE_MS after its last segment: TCP has seen them all by then.
in1=$(tcp InSegs) rst1=$(tcp OutRsts) sup1=$(ext RstSuppressed)
held1=$(ext Held) over1=$(ext HoldOverflow)
w1=$(window) slab1=$(slab)
nft delete table inet luonet_flood
f() { sed -n "s/^# flood .* $1=\([0-9.]*\).*/\1/p" /tmp/flood.log; }
sent=$(f sent)
if [ -z "$sent" ]; then
	echo "not ok 1 no flood: the peer did not answer"
	mark "report failed flood"
	exit 1
fi
ins=$((in1 - in0)) rsts=$((rst1 - rst0))
# No such counters on the base kernel: nothing suppressed or held there.
sup=$((${sup1:-0} - ${sup0:-0})) held=$((${held1:-0} - ${held0:-0})) over=$((${over1:-0} - ${over0:-0}))
grown=$((slab1 - slab0))
echo "# DUT: Tcp InSegs +$ins, OutRsts +$rsts; TCPLiveUpdate RstSuppressed +$sup, Held +$held, HoldOverflow +$over; slab in use $slab0 -> $slab1 bytes (+$grown)"
echo "# the DUT took $(f pps) segments/s (the peer's rate, $(f sent) in $(f secs) s, sent as fast as the link took them)"
ok=1
# CONDITION; check N TEXT: test case N passes if CONDITION held
check() {
	if [ $? = 0 ]; then echo "ok $1 $2"; else echo "not ok $1 $2"; ok=0; fi
}
[ "$w0/$w1" = open/open ]
check 1 "the restore window was open through the flood ($w0, then $w1)"
{ [ "$ins" -eq "$sent" ] && [ "$ins" -eq $((sup + rsts)) ]; } 2>/dev/null
check 2 "TCP saw the $sent segments ($ins), each suppressed ($sup) or answered ($rsts)"
{ [ "$(f rst_ack)/$(f rst_data)/$(f rst_other)/$(f drops)" = 0/0/0/0 ] &&
  [ "$sup" -ge $((2 * n)) ]; } 2>/dev/null
check 3 "no reset for the $((2 * n)) ACK and data segments (the peer got $(f rst_ack) and $(f rst_data), $(f rst_other) for other flows, with $(f drops) not queued)"
[ "$(f rst_syn)" = "$n" ] && [ "$rsts" = "$n" ]
check 4 "every one of the $n SYNs got its reset (the peer got $(f rst_syn); Tcp OutRsts +$rsts)"
[ $((held + over)) -ge $((2 * n)) ] && [ $((held + over)) -le "$sup" ] &&
	[ "$over" -gt 0 ] && [ "$grown" -le $((bound + 1048576)) ]
check 5 "the $((2 * n)) ACK and data flows held ($held) or counted over the bound ($over > 0), slab memory +$grown bytes <= $bound + 1 MiB"
if [ $ok = 0 ]; then
	# What the flood left (the control's streams were reset) is not worth restoring.
	mark "report failed flood"
	exit 1
fi

# The restore, as in the demo: the window closes when the agent finishes its session.
/tests/demo_dut.sh -s 2 >/tmp/demo.out 2>&1
rc=$?
sed 's/^/    /' /tmp/demo.out
[ $rc = 0 ]
check 6 "the demo's restore after the flood (exit $rc; the peer checks the streams)"

i=0
while [ "$(window)" = open ] && [ $i -lt 300 ]; do i=$((i + 1)); sleep 0.1; done
sleep 1	# the hold's notifier logs after LUO's line
line=$(dmesg | grep 'TCP: live update restore window closed' | tail -n 1)
echo "# ${line:-no log line from the hold}"
peak=$(echo "$line" | sed -n 's/.* at most \([0-9]*\) of .*/\1/p')
H=$(ext Held) R=$(ext Replayed) F=$(ext HoldFreed) slab2=$(slab)
echo "# TCPLiveUpdate Held $H, Replayed $R, HoldFreed $F; slab in use $slab2 bytes ($((slab2 - slab0)) since before the flood)"
{ [ "$(window)" = finished ] && [ "$H" -eq $((R + F)) ] &&
  [ "$peak" -le "$bound" ] && [ $((slab2 - slab0)) -le 1048576 ]; } 2>/dev/null
check 7 "after the window closed: held $H = replayed $R + received again at the close $F, at most ${peak:-?} of $bound bytes held, slab back within 1 MiB"
[ $ok = 1 ]
