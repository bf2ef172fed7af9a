#!/bin/sh
# The peer side of make demo-criu (issue 6), run by the peer guest's /init as
# "criu_peer.sh peer": an iperf3 client against the DUT's iperf3 server (criu_dut.sh),
# for luonet.criu_time seconds (default 60), reporting each second. Retries only
# while the server is not there yet (nothing connected); any failure after that is
# the test's. KTAP: "ok 1" when the client finished its run without error, "ok 2" when
# its data stream moved data again after the stall (iperf3 does not report a stream
# that failed, see below), and "# stall ..." with the longest run of 1-second
# intervals that moved 0 bytes.
# iperf3 is the DUT's: Debian's, chrooted into the CRIU root of the initramfs
# (/criu-root, scripts/fetch-criu.sh).
# Its retransmission backoff is capped at luonet.criu_rto_max_ms (default 1000 ms,
# net.ipv4.tcp_rto_max_ms, as make demo's capped peer does with TCP_RTO_MAX_MS): with
# the default backoff, whether a retransmission lands between the new kernel's NIC
# coming up and CRIU's restore is luck (the gaps grow to several seconds); capped, one
# lands there every time, so the suppressor-off run fails with an RST, deterministically.
set -u
if [ "${1:-}" != peer ]; then
	echo "usage: criu_peer.sh peer" >&2
	exit 2
fi
# shellcheck source=guest/lib.sh
. /tests/lib.sh
secs=$(arg criu_time)
# luonet.criu_rate=RATE: iperf3 -b RATE (bits/s, e.g. 20M), a rate the server keeps up
# with, so that its receive window is open when the dump freezes it and the client's
# data keeps arriving at the old kernel's dumped socket (default: as fast as it goes,
# which under TCG often fills the server's buffer first)
rate=$(arg criu_rate)
root=/criu-root
rto=$(arg criu_rto_max_ms)
echo "${rto:-1000}" >/proc/sys/net/ipv4/tcp_rto_max_ms
# The cap has a side effect on a peer whose data the server has not read yet: when the
# dump freezes the server with a full receive buffer (iperf3 under TCG often falls
# behind), the client's socket sends zero-window probes, and tcp_probe_timer() aborts it
# after net.ipv4.tcp_retries2 (15) unanswered probes; one every capped RTO makes that
# 15 s, less than a live update here, where the default backoff would take minutes.
# 120 probes restore a budget of about 2 minutes.
echo 120 >/proc/sys/net/ipv4/tcp_retries2
mount -t proc proc "$root/proc"
mount -t devtmpfs devtmpfs "$root/dev"
mount -t tmpfs tmpfs "$root/tmp"
# estab_resets: the peer's Tcp EstabResets (/proc/net/snmp)
estab_resets() {
	awk '$1 == "Tcp:" && !k { for (i = 2; i <= NF; i++) if ($i == "EstabResets") k = i; next }
		$1 == "Tcp:" && k { print $k; exit }' /proc/net/snmp
}
resets0=$(estab_resets)
echo "TAP version 13"
echo "1..2"
echo "# net.ipv4.tcp_rto_max_ms $(cat /proc/sys/net/ipv4/tcp_rto_max_ms)," \
	"net.ipv4.tcp_retries2 $(cat /proc/sys/net/ipv4/tcp_retries2)"
i=0
while :; do
	# shellcheck disable=SC2086 # no option, or one
	chroot "$root" iperf3 -c 192.0.2.1 -p 5201 -t "${secs:-60}" -i 1 --forceflush --connect-timeout 3000 \
		--snd-timeout 120000 ${rate:+-b "$rate"} >/tmp/iperf3.out 2>&1
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
resets=$(($(estab_resets) - resets0))
echo "# peer Tcp EstabResets +$resets during the run (connections that left ESTABLISHED for CLOSE: resets, aborts)"
# Intervals "[  5]  3.00-4.00  sec  0.00 Bytes  0.00 bits/sec ...": the longest run of
# empty ones is the stall the live update caused, to a second. "resumed" says whether
# the stream moved data after it: iperf3 (>= 3.16, one thread per stream) does not
# report a stream that failed (its worker thread just ends; the client still ends with
# "iperf Done" and exit 0), so a connection the DUT reset shows only as a stall that
# lasts to the end of the run.
awk '{
		for (i = 1; i + 2 <= NF; i++)
			if ($i ~ /^[0-9.]+-[0-9.]+$/ && $(i + 1) == "sec") break
		if (i + 2 > NF || /sender|receiver/) next
		split($i, t, "-")
		n++
		if ($(i + 2) + 0 == 0) {
			if (!run) s = t[1]
			run++
			if (run > max) { max = run; from = s; to = t[2]; end = n }
		} else run = 0
	}
	END { if (max) printf "# stall %d s of 0-byte intervals, from %s s to %s s of the run\n", max, from, to
		else print "# stall none (every 1 s interval moved data)"
		r = "no"
		if (n && (!max || end < n)) r = "yes"
		print "# resumed " r }' /tmp/iperf3.out >/tmp/stall.out
cat /tmp/stall.out
rc2=0
if [ "$rc" -eq 0 ]; then
	echo "ok 1 the iperf3 client finished its run"
else
	echo "not ok 1 the iperf3 client failed (exit $rc): $(grep -m1 'iperf3: error' /tmp/iperf3.out)"
fi
if grep -q '^# resumed yes' /tmp/stall.out; then
	echo "ok 2 the data stream moved data again after its stall"
else
	rc2=1
	echo "not ok 2 the data stream never moved data again after its stall (its connection is gone;" \
		"Tcp EstabResets +$resets)"
fi
[ "$rc" -eq 0 ] && [ "$rc2" -eq 0 ]
