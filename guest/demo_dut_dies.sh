#!/bin/sh
# Tests luo_agent_dies* and luo_agent_hangs (tests.list): the restore agent dies, or
# hangs, halfway through the restore. Stage 1 is the demo's (demo_dut.sh -s 1:
# luonet.conns connections from the peer, saved by the agent with TCP_REPAIR, or by
# the kernel with luonet.agent_dump=kernel). Stage 2, in the new kernel:
#   - the server runs first (lu_stream serve-unix), and the agent hands it each socket
#     as soon as it is restored (luo_tcp_agent restore --to), so that the restored
#     ones are the server's, not the agent's;
#   - the agent stops itself after half of them (LUO_TCP_AGENT_STOP_AFTER), and is
#     killed there with SIGKILL (luonet.agent_fate=hang: left stopped);
#   - LUO finishes a session whose fd is closed, so the window closes when the agent
#     dies; a hung agent keeps it open to its bound (liveupdate_restore_timeout=).
#     Either way, what the kernel still holds for the flows not restored is received
#     again at the close and answered with a reset: one held segment per flow not
#     restored (with liveupdate_tcp_rst_suppress=drop, none: the control);
#   - marks to the peer: "closed ago=S" (the window closed S s before the mark was
#     sent, from the kernel log's timestamp) and "report ... lost=N": the peer checks
#     that exactly those N connections were reset, at most 2 s after the close, and
#     that every record of the others came back (guest/lu_stream.c).
set -u
# shellcheck source=guest/lib.sh
. /tests/lib.sh
if [ "${1:-}" = -s ] && [ "${2:-}" = 1 ]; then
	exec /tests/demo_dut.sh -s 1
fi
if [ $# -ne 2 ] || [ "$1" != -s ] || [ "$2" != 2 ]; then
	echo "usage: demo_dut_dies.sh -s 1|2" >&2
	exit 2
fi
dump=$(arg agent_dump)
[ -z "$dump" ] || export LUO_TCP_AGENT_DUMP="$dump"
fate=$(arg agent_fate)
fate=${fate:-kill}
n=$(arg conns)
n=${n:-2}
half=$((n / 2))
bound=$(karg liveupdate_restore_timeout)
bound=${bound:-120}
sock=/run/lu_stream.sock

echo "TAP version 13"
echo "1..3"
echo "# kernel $(uname -r), $n connections, the agent ${fate}s after $half (dump: ${dump:-repair})"
/tests/lu_stream serve-unix "$sock" >/tmp/server.log 2>&1 &
srv=$!
if ! wait_for /tmp/server.log 'waiting for connections' 30; then
	cat /tmp/server.log
	echo "not ok 1 the server did not start"
	mark "report failed server"
	exit 1
fi
# The rest of userspace booting; the peer's retransmissions reach the new kernel.
sleep 3
LUO_TCP_AGENT_STOP_AFTER=$half /tests/luo_tcp_agent restore demo-1 --to "$sock" \
	>/tmp/agent.log 2>&1 &
agent=$!
if ! wait_for /tmp/agent.log 'stopping after' 120 ||
   ! grep -q '^[^)]*) T' "/proc/$agent/stat" 2>/dev/null; then
	cat /tmp/agent.log
	echo "not ok 1 the agent did not stop after $half connections"
	mark "report failed agent"
	exit 1
fi
handed=$(grep -c '^# agent: handed over' /tmp/agent.log)
if [ "$fate" = kill ]; then
	kill -KILL "$agent"
	wait "$agent" 2>/dev/null
	echo "luonet: agent killed" >/dev/kmsg
	echo "ok 1 the agent handed over $handed of $n connections, then was killed (SIGKILL)"
else
	echo "luonet: agent left stopped" >/dev/kmsg
	echo "ok 1 the agent handed over $handed of $n connections, then hung (stopped)"
fi
mark "restored stage=2 handed=$handed uptime=$(up)"

# The window closes when the agent's session is released (killed), or at its bound.
i=0
while [ "$(cat /sys/kernel/liveupdate/restore_window)" = open ] && [ $i -lt $(((bound + 30) * 10)) ]; do
	i=$((i + 1))
	sleep 0.1
done
now=$(up)
closed=$(window_closed)
at=${closed%% *}
if [ -n "$closed" ]; then
	mark "closed ago=$(echo "$now $at" | awk '{ printf "%.3f", $1 - $2 }')"
fi
# The hold's line follows LUO's, from its notifier.
sleep 1
held=$(dmesg | sed -n 's/.*TCP: live update restore window closed: \([0-9]*\) held segment.*/\1/p' | tail -n 1)
freed=$(counter /proc/net/netstat TcpExt TCPLiveUpdateHoldFreed)
echo "# restore window: ${closed:-not closed} (now $now)"
echo "# TCP: ${held:-no} held segments of flows not restored received again; TCPLiveUpdateHoldFreed $freed, OutRsts $(counter /proc/net/snmp Tcp OutRsts)"
# How long the kernel took to answer them all (its log's clock: the hold's line
# comes after the last; the peer's own reading adds its guest's delays).
hold=$(dmesg_at 'TCP: live update restore window closed:')
[ -z "$hold" ] || [ -z "$closed" ] ||
	echo "# answered $(echo "$hold $at" | awk '{ printf "%.3f", $1 - $2 }') s after the close (kernel log)"
lost=$((n - handed))
case $fate in
kill) how='finished after' ;;
*) how='timed out after' ;;
esac
mark "report lost=$lost held=${held:-none} window=${closed#* }"
if [ -n "$closed" ] && echo "$closed" | grep -q "$how" && [ "${held:-none}" = "$lost" ]; then
	echo "ok 2 the window closed ($how ..., as the agent's fate $fate says), and a held segment of each of the $lost flows not restored was received again then ($held; the peer checks their resets)"
	ok=1
else
	echo "not ok 2 the window closed ('$how' wanted: ${closed:-not closed}) with $lost held segments answered (got: ${held:-none})"
	ok=0
fi
# A hung agent still holds the server's hand-over socket: it goes now.
[ "$fate" = kill ] || kill -KILL "$agent" 2>/dev/null
# The restored half: the peer FINs after its checks, the server echoes to EOF.
rc=0
wait "$srv" || rc=$?
cat /tmp/agent.log /tmp/server.log
if [ $rc -eq 0 ] && grep -q "on $handed connections handed over" /tmp/server.log; then
	echo "ok 3 the server served the $handed restored connections to the peer's EOF"
else
	echo "not ok 3 the server served the $handed restored connections to the peer's EOF (exit $rc)"
	ok=0
fi
[ $ok = 1 ]
