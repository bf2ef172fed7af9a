#!/usr/bin/env bash
# Report on one run of a CRIU test (criu_iperf3 and its controls in tests.list; make
# demo-criu): what CRIU did in the DUT (version, "criu check", dump, restore, the
# restore window), what the peer's iperf3 client saw, and what crossed the peer's link
# (the QEMU capture, read with tcpdump): the live update's silence of the DUT, the
# peer's retransmissions into it, and RSTs. Writes RESULT_DIR/report.txt and the
# picture RESULT_DIR/timeline.png (bytes the DUT's iperf3 server acknowledged over the
# capture's time, with the silence and every RST), and prints the report.
# Usage: criu-report.sh RESULT_DIR TITLE kept|reset
#   kept:  exit 0 when the run passed and the DUT sent no RST during the live update
#   reset: exit 0 when the run failed and the DUT sent at least one RST during the live
#          update (the negative controls: what the suppressor prevents)
# When CRIU itself failed (criu dump or restore), prints "BLOCKED" with the failing
# command, its output and CRIU's error locations, and exits 1 either way.
set -euo pipefail
# shellcheck source=scripts/lib.sh
. "$(dirname "$0")/lib.sh"

if [ $# -ne 3 ] || [[ ! "$3" =~ ^(kept|reset)$ ]]; then
	die "usage: criu-report.sh RESULT_DIR TITLE kept|reset"
fi
res=$(realpath "$1") title=$2 want=$3
[ -s "$res/verdict" ] || die "no verdict in $res (did the test run?)"
out=$res/report.txt
exec 3>&1 >"$out"

echo "== $title"
echo "verdict: $(paste -sd';' "$res/verdict")"
# The DUT's own account, per stage: CRIU's commands and what the test logged around them.
for k in 1 2; do
	[ -s "$res/stage$k.ktap" ] || continue
	echo "-- DUT stage $k:"
	grep -E '^(ok|not ok) |^# (criu check:|\| Version:|\| Looks good|\| Does not look|vDSO|iperf3 server|dump at|lock rule|userspace|restore at|restore window|TCPLive|images:)' \
		"$res/stage$k.ktap" | sed 's/^/  /'
done
if [ -s "$res/peer-stage.ktap" ]; then
	echo "-- peer (iperf3 client):"
	grep -E '^(ok|not ok) |^# (stall|resumed|peer Tcp|net\.ipv4)|error|sender|receiver' \
		"$res/peer-stage.ktap" | sed 's/^/  /'
fi

# CRIU failed: the test is blocked, not passed or failed for its reason.
blocked=
for k in 1 2; do
	if grep -qE '^not ok [0-9]+ criu (dump|restore) ' "$res/stage$k.ktap" 2>/dev/null; then
		blocked=$k
	fi
done
if [ -n "$blocked" ]; then
	ktap=$res/stage$blocked.ktap
	echo
	echo "BLOCKED: CRIU could not do its part on this kernel" \
		"($(grep -m1 -o 'Linux version [^ ]*' "$res/dut.console"))"
	echo "failing step (DUT stage $blocked): $(grep -m1 -E '^not ok [0-9]+ criu' "$ktap")"
	echo "commands that failed in that stage, with their output and the errors of their log:"
	awk '/^# criu-cmd: / { n = 0; failed = 0; p = 0; buf[n++] = $0; next }
		/^# criu-rc: / { if ($3 != 0) { for (i = 0; i < n; i++) print buf[i]; print; failed = 1 }
			n = 0; next }
		/^# criu-log: .*errors and warnings:$/ { p = failed; if (p) print; next }
		/^# \| / { if (n) buf[n++] = $0; else if (p) print; next }
		{ p = 0 }' "$ktap" | sed 's/^# //; s/^/  /'
	echo "CRIU's error locations (source file:line):"
	grep -o 'Error ([^)]*)' "$ktap" | sort | uniq -c | sed 's/^ */  /' || echo "  (none: not CRIU itself)"
	exec 1>&3
	cat "$out"
	exit 1
fi

[ -s "$res/peer.pcap" ] || { exec 1>&3; cat "$out"; die "no packet capture in $res"; }
tcpdump -r "$res/peer.pcap" -nn -tt -S tcp 2>/dev/null >"$res/peer.pcap.txt"
rc=0
rm -f "$res/timeline.gp"
python3 - "$res" "$title" "$want" <<'PY' || rc=$?
import re, sys

res, title, want = sys.argv[1:4]
DUT, PORT = "192.0.2.1", 5201
pat = re.compile(r"^(\d+\.\d+) IP (\S+)\.(\d+) > (\S+)\.(\d+): Flags \[([^\]]*)\]"
                 r"(?:, seq (\d+)(?::(\d+))?)?(?:, ack (\d+))?.*?length (\d+)")
pkts = []
for line in open(f"{res}/peer.pcap.txt"):
    m = pat.match(line)
    if m:
        t, sa, sp, da, dp, fl, s0, s1, ack, ln = m.groups()
        pkts.append((float(t), sa, int(sp), int(dp), fl, int(s0 or 0), int(s1 or 0),
                     int(ack) if ack else None, int(ln)))
if not pkts:
    sys.exit("no TCP segment in the capture")
t0 = pkts[0][0]
# The data connection: the peer's port that sent the most bytes to the server.
sent = {}
for t, sa, sp, dp, fl, s0, s1, ack, ln in pkts:
    if sa != DUT and dp == PORT:
        sent[sp] = sent.get(sp, 0) + ln
data = max(sent, key=sent.get)
# The live update's silence: the first gap longer than 2 s between two segments from
# the DUT (while iperf3 streams, the server ACKs all the time). Not the longest one:
# when the data connection is lost, the idle control connection is silent longer, later.
last = gap = None
for p in pkts:
    if p[1] != DUT or "R" in p[4]:
        continue
    if last is not None and p[0] - last > 2:
        gap = (last, p[0])
        break
    last = p[0]
rst_dut = [p[0] for p in pkts if p[1] == DUT and "R" in p[4]]
rst_peer = [p[0] for p in pkts if p[1] != DUT and "R" in p[4]]
lu_rst = [t for t in rst_dut if gap and gap[0] < t <= gap[1]]
# What the peer sent into the silence on the data connection: retransmissions (data
# below the highest sequence number already sent) and, when the server's receive
# window was closed at the freeze, zero-window probes (segments without data: the
# peer is the sender, it has nothing else to acknowledge).
rexmit, probes, top = [], [], None
acked = []
ack0 = None
for t, sa, sp, dp, fl, s0, s1, ack, ln in pkts:
    inside = gap and gap[0] < t < gap[1]
    if sa != DUT and sp == data and ln:
        if top is not None and s0 < top and inside:
            rexmit.append(t)
        top = max(top or 0, s1)
    elif sa != DUT and sp == data and inside and fl == ".":
        probes.append(t)
    if sa == DUT and dp == data and ack is not None:
        ack0 = ack if ack0 is None else ack0
        acked.append((t, (ack - ack0) % 2**32))

out = []
w = out.append
w(f"-- capture of the peer's link (times in s since its first segment):")
w(f"  data connection: peer port {data}, {sent[data] / 2**20:.1f} MiB sent by the peer")
if gap:
    w(f"  the DUT was silent from {gap[0] - t0:.2f} to {gap[1] - t0:.2f}: {gap[1] - gap[0]:.2f} s "
      "(its last segment before the dump to its first after the restore)")
else:
    w("  the DUT was never silent for more than 2 s")
w("  peer retransmissions into the silence: " +
  (", ".join(f"{t - t0:.2f}" for t in rexmit) if rexmit else "none"))
if probes:
    w(f"  peer zero-window probes into the silence (the server's window was closed): "
      f"{len(probes)}, {probes[0] - t0:.2f} to {probes[-1] - t0:.2f}")
w(f"  RST from the DUT during the live update: {len(lu_rst)}" +
  (" at " + ", ".join(f"{t - t0:.2f}" for t in lu_rst) if lu_rst else "") +
  f" ({len(rst_dut)} in all: the others answer a SYN before the server listened, or end the run)")
w(f"  RST from the peer: {len(rst_peer)}" +
  (" at " + ", ".join(f"{t - t0:.2f}" for t in rst_peer) +
   " (a peer answers with RST once its own socket is gone: e.g. it gave up)" if rst_peer else ""))
verdict = open(f"{res}/verdict").read().strip()
# No silence found: nothing to count RSTs in, so nothing proven either way.
ok = gap and ((verdict == "pass" and not lu_rst) if want == "kept" else (verdict != "pass" and lu_rst))
w(f"expected: connection {want}: " + ("yes" if ok else "NO") +
  ("" if gap else " (no live-update silence in the capture: the RST count proves nothing)"))
print("\n".join(out))

# The picture: MiB the server acknowledged, bucketed to 50 ms.
pts, b = [], None
for t, a in acked:
    k = int((t - t0) * 20)
    if k != b:
        pts.append((t - t0, a / 2**20))
        b = k
ymax = max([a for _, a in pts] + [1]) * 1.15
with open(f"{res}/timeline.dat", "w") as fh:
    fh.writelines(f"{t:.3f} {a:.3f}\n" for t, a in pts)
with open(f"{res}/rexmit.dat", "w") as fh:
    fh.write("".join(f"{t - t0:.3f} 0\n" for t in rexmit) or "-1 -1\n")
with open(f"{res}/timeline.gp", "w") as g:
    g.write(f"""set terminal pngcairo size 1100,500 font ',10'
set output '{res}/timeline.png'
set title "{title}: {'connection kept' if verdict == 'pass' else 'connection lost'}" noenhanced
set xlabel 'time since the first segment of the capture (s)'
set ylabel 'MiB acknowledged by the DUT (iperf3 server)'
set key bottom right
set grid
set yrange [0:{ymax:.1f}]
set xrange [0:*]
""")
    if gap:
        for x, name, c in ((gap[0], "frozen (dump)", "#888888"), (gap[1], "restored", "#009900")):
            g.write(f"set arrow from {x - t0:.3f},0 to {x - t0:.3f},{ymax:.1f} nohead lc rgb '{c}' dt 2\n")
            g.write(f"set label '{name}' at {x - t0:.3f},{ymax * 0.95:.1f} left offset 0.3,0 tc rgb '{c}'\n")
        g.write(f"set label 'silent {gap[1] - gap[0]:.1f} s' at {(gap[0] + gap[1]) / 2 - t0:.3f},"
                f"{ymax * 0.85:.1f} center\n")
        g.write(f"set object 1 rect from {gap[0] - t0:.3f},0 to {gap[1] - t0:.3f},{ymax:.1f} "
                "fc rgb '#eeeeee' behind\n")
    # RSTs of the live update in red; the others (a SYN before the server listened,
    # the end of the run) in grey
    for t in rst_dut + rst_peer:
        c, name = ("red", "RST") if t in lu_rst else ("#aaaaaa", "")
        if t in rst_peer:
            c, name = "#cc00cc", "peer RST"
        g.write(f"set arrow from {t - t0:.3f},0 to {t - t0:.3f},{ymax:.1f} nohead lc rgb '{c}' lw 2\n")
        if name:
            g.write(f"set label '{name}' at {t - t0:.3f},{ymax * 0.5:.1f} right offset -0.3,0 tc rgb '{c}'\n")
    with open(f"{res}/probes.dat", "w") as fh:
        fh.write("".join(f"{t - t0:.3f} 0\n" for t in probes) or "-1 -1\n")
    g.write(f"plot '{res}/timeline.dat' using 1:2 with lines lw 2 title 'acknowledged by the server', "
            f"'{res}/rexmit.dat' using 1:2 with points pt 9 ps 1.5 lc rgb '#cc0000' "
            "title 'peer retransmission', "
            f"'{res}/probes.dat' using 1:2 with points pt 2 ps 1 lc rgb '#0066cc' "
            "title 'peer zero-window probe'\n")
sys.exit(0 if ok else 1)
PY
rm -f "$res/peer.pcap.txt"
if [ -s "$res/timeline.gp" ] && [ "$rc" -le 1 ]; then
	gnuplot "$res/timeline.gp" || { echo "gnuplot failed"; rc=1; }
	echo "picture: $res/timeline.png"
else
	echo "no picture: reading the capture failed (exit $rc)"
	rc=1
fi
exec 1>&3
cat "$out"
exit "$rc"
