#!/bin/sh
# The peer side of make demo-criu (issue 6), run by the peer guest's /init as
# "criu_peer.sh peer": an iperf3 client against the DUT's iperf3 server (criu_dut.sh),
# for luonet.criu_time seconds (default 60), reporting each second. Retries only
# while the server is not there yet (nothing connected); any failure after that is
# the test's. KTAP: "ok 1" when the client finished its run without error, and
# "# stall ..." with the longest run of 1-second intervals that moved 0 bytes.
set -u
if [ "${1:-}" != peer ]; then
	echo "usage: criu_peer.sh peer" >&2
	exit 2
fi
arg() { tr ' ' '\n' </proc/cmdline | sed -n "s/^luonet\.$1=//p" | tail -n 1; }
secs=$(arg criu_time)
echo "TAP version 13"
echo "1..1"
i=0
while :; do
	iperf3 -c 192.0.2.1 -p 5201 -t "${secs:-60}" -i 1 --forceflush --connect-timeout 3000 \
		--snd-timeout 120000 >/tmp/iperf3.out 2>&1
	rc=$?
	if [ "$rc" -ne 0 ] && grep -q 'unable to connect to server' /tmp/iperf3.out &&
		! grep -q 'connected to' /tmp/iperf3.out && [ "$i" -lt 90 ]; then
		i=$((i + 1))
		sleep 2
		continue
	fi
	break
done
sed 's/^/# /' /tmp/iperf3.out
# Intervals "[  5]  3.00-4.00  sec  0.00 Bytes  0.00 bits/sec ...": the longest run of
# empty ones is the stall the live update caused, to a second.
awk '{
		for (i = 1; i + 2 <= NF; i++)
			if ($i ~ /^[0-9.]+-[0-9.]+$/ && $(i + 1) == "sec") break
		if (i + 2 > NF || /sender|receiver/) next
		split($i, t, "-")
		if ($(i + 2) + 0 == 0) {
			if (!run) s = t[1]
			run++
			if (run > max) { max = run; from = s; to = t[2] }
		} else run = 0
	}
	END { if (max) printf "# stall %d s of 0-byte intervals, from %s s to %s s of the run\n", max, from, to
		else print "# stall none (every 1 s interval moved data)" }' /tmp/iperf3.out
if [ "$rc" -eq 0 ]; then
	echo "ok 1 the iperf3 client finished its run"
else
	echo "not ok 1 the iperf3 client failed (exit $rc): $(grep -m1 'iperf3: error' /tmp/iperf3.out)"
fi
exit "$rc"
