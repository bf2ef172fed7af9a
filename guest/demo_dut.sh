#!/bin/sh
# The DUT side of the live-update demo (make demo), a staged test like the kselftests:
#   demo_dut.sh -s 1   run the server, let the peer (lu_stream peer) stream to it over
#                      luonet.conns connections (lu_stream's default: 2, IPv4 and IPv6),
#                      then have the agent freeze it and save its connections into LUO
#                      session demo-1; ask for a kexec with liveupdate_tcp_rst_suppress=on
#   demo_dut.sh -s S   in the new kernel, after luonet.demo_delay seconds (default 4:
#                      the rest of userspace booting), have the agent restore the
#                      connections of session demo-(S-1), finish the session and start
#                      the server on them. With luonet.stages=N > S (two updates or more
#                      in a row), let it serve for luonet.demo_serve seconds (default
#                      3), then save the restored connections again, into demo-S, for
#                      the next kexec
# Marks go to the peer (lu_stream mark), which timestamps them on its own clock; times
# in them are this kernel's uptime. The agent picks its network lock itself (it probes
# the kernel for the repair-mode drop); LUO_TCP_AGENT_LOCK in the environment
# overrides that (guest/demo_dut_nolock.sh). luonet.agent_dump=kernel: the agent leaves
# saving the sockets to the kernel (LUO_TCP_AGENT_DUMP, see guest/luo_tcp_agent.c).
set -u
# shellcheck source=guest/lib.sh
. /tests/lib.sh
stages=$(arg stages)
stages=${stages:-2}
dump=$(arg agent_dump)
[ -z "$dump" ] || export LUO_TCP_AGENT_DUMP="$dump"
case ${2:-} in
'' | *[!0-9]*) stage=0 ;;
*) stage=$2 ;;
esac
if [ $# -ne 2 ] || [ "$1" != -s ] || [ "$stage" -lt 1 ] || [ "$stage" -gt "$stages" ]; then
	echo "usage: demo_dut.sh -s 1..$stages" >&2
	exit 2
fi
# field NAME FILE: value of NAME=... in the agent's "# agent:" lines
field() { sed -n "s/^# agent: $1 .*uptime=\([0-9.]*\).*/\1/p" "$2" | tail -n 1; }

# save S PID: the agent freezes PID and saves its connections into session demo-S
save() {
	if ! /tests/luo_tcp_agent save "demo-$1" "$2" >/tmp/agent.log 2>&1; then
		cat /tmp/agent.log
		echo "not ok 2 the agent could not save the connections"
		# No live update follows: the peer need not wait for one.
		mark "report failed stage=$1 save"
		exit 1
	fi
	cat /tmp/agent.log
	[ "$(arg demo_pause)" != 1 ] || mark "resume"
	echo "ok 2 the agent froze the server and saved its connections in session 'demo-$1'"
	echo "ok 3 ready for the live update"
	mark "stage$1 frozen=$(field frozen /tmp/agent.log) saved=$(field saved /tmp/agent.log) end=$(up)"
	# luonet.suppress=drop (make demo SUPPRESS=drop): nothing held, drop only.
	echo "# kexec-append: liveupdate_tcp_rst_suppress=$(arg suppress | grep -x drop || echo on)"
	exit 0
}

echo "TAP version 13"
echo "1..3"
echo "# kernel $(uname -r) $(uname -v)"
if [ "$stage" = 1 ]; then
	/tests/lu_stream serve 7030 >/tmp/server.log 2>&1 &
	srv=$!
	if ! wait_for /tmp/server.log accepted 180; then
		cat /tmp/server.log
		echo "not ok 1 the peer did not connect in 180 s"
		exit 1
	fi
	echo "ok 1 the peer connected, streaming ($(grep accepted /tmp/server.log))"
	sleep 3
	# luonet.demo_pause=1 (make demo PAUSE=1): the peer pauses its stream for a second
	# before the dump, so that all it sent is acknowledged first, and resumes after it.
	if [ "$(arg demo_pause)" = 1 ]; then
		mark "pause"
		sleep 1
	fi
	save 1 "$srv"
fi

# luonet.demo_filter=1 (make bench): the netfilter alternative to the RST suppressor,
# installed when this service starts (the NIC is up already), removed after the restore.
if [ "$(arg demo_filter)" = 1 ]; then
	echo "luonet: rst filter installing" >/dev/kmsg
	/tests/rst_filter.sh on || echo "# could not install the RST filter"
	echo "luonet: rst filter on" >/dev/kmsg
fi
boot=$(up)
window=$(cat /sys/kernel/liveupdate/restore_window 2>/dev/null || echo missing)
mark "boot uptime=$boot window=$window"
echo "# userspace at uptime $boot, restore window $window"
opened=$(dmesg | sed -n 's/^\[ *\([0-9.]*\)\] luo: restore window open.*/\1/p' | tail -n 1)
delay=$(arg demo_delay)
sleep "${delay:-4}"

/tests/luo_tcp_agent restore "demo-$((stage - 1))" -- /tests/lu_stream serve-fds >/tmp/server.log 2>&1 &
agent=$!
if ! wait_for /tmp/server.log '^# agent: finished' 60; then
	cat /tmp/server.log
	echo "not ok 1 the agent did not restore the connections"
	mark "report failed boot=$boot"
	exit 1
fi
if [ "$stage" -lt "$stages" ]; then
	# Another live update right after this one: save the restored connections again.
	cat /tmp/server.log
	echo "ok 1 the agent restored the connections and finished the session"
	mark "restored stage=$stage uptime=$(up)"
	serve=$(arg demo_serve)
	sleep "${serve:-3}"
	save "$stage" "$agent"
fi
if [ "$(arg demo_filter)" = 1 ] || [ "$(arg early_filter)" = 1 ]; then
	/tests/rst_filter.sh off || echo "# could not remove the RST filter"
	echo "luonet: rst filter off" >/dev/kmsg
fi
filter="link_up=$(dmesg_at 'luonet: eth0 up') filter_on=$(dmesg_at 'luonet: rst filter on')"
filter="$filter filter_off=$(dmesg_at 'luonet: rst filter off')"
filter="$filter filter_installing=$(dmesg_at 'luonet: rst filter installing')"
restored=$(field restored /tmp/server.log)
finished=$(field finished /tmp/server.log)
echo "ok 1 the agent restored the connections and finished the session"
closed=$(window_closed)
window=$(cat /sys/kernel/liveupdate/restore_window)
suppressed=$(counter /proc/net/netstat TcpExt TCPLiveUpdateRstSuppressed)
rsts=$(counter /proc/net/snmp Tcp OutRsts)
echo "# restore window: opened at ${opened:-?}, now $window (${closed:-no log line})"
echo "# TCPLiveUpdateRstSuppressed $suppressed, OutRsts $rsts"
costs=$(sed -n 's/^# agent: restored \(.*\) uptime=.*/\1/p' /tmp/server.log | tail -n 1)
mark "report boot=$boot opened=${opened:-?} restored=$restored finished=$finished" \
	"$costs" \
	"window=$window closed_at=${closed%% *} suppressed=${suppressed:-?} outrsts=${rsts:-?}" \
	"$filter" \
	"close_log=${closed#* }"
not=''
[ "$window" = finished ] || not='not '
echo "${not}ok 2 restore window closed when the session was finished ($window)"
rc=0
wait "$agent" || rc=$?
cat /tmp/server.log
if [ "$rc" -eq 0 ]; then
	echo "ok 3 the restored server echoed the stream to the peer's EOF"
else
	not='not '
	echo "not ok 3 the restored server failed (exit $rc), see its log above"
fi
[ -z "$not" ]
