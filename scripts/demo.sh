#!/usr/bin/env bash
# make demo [RUNS=N]: a TCP stream from a peer guest kept across a kexec live update of
# the DUT guest. Builds what is missing, runs the demo with the RST suppressor on and,
# side by side, the same run with it off (tests "demo" and "demo_off" of tests.list),
# prints both reports (scripts/demo-report.sh) and writes their PNG timelines. With
# RUNS=N, runs the suppressor-on demo N times in all and prints the distribution of
# the stall and whether every run met the targets.
# The peer caps its retransmission backoff at 1 s (guest/lu_stream_capped.sh; PEER=default
# below: no cap). Extra
# kernel command line for both guests: DEMO_CMDLINE (e.g. "luonet.demo_delay=2").
# CONNS=N: the stream runs over N connections, IPv4 and IPv6 alternating (default 2,
# one of each; the report's timeline shows the first, IPv4, connection).
# AGENT=kernel: the agent preserves the server's sockets in its LUO session as they are,
# and the kernel's LUO file handler for TCP sockets saves them at the reboot and
# recreates them at retrieve (no TCP_REPAIR in userspace); AGENT=repair (default): the
# agent saves them itself with TCP_REPAIR, into a memfd.
# SUPPRESS=drop: the new kernel runs with liveupdate_tcp_rst_suppress=drop (segments of
# flows not restored yet are dropped, none held: the peer's next retransmission after
# the restore resumes the stream) instead of =on (the newest segment of each flow is
# held and received again at the restore); runs the "demo" test only, no demo_off.
set -euo pipefail
# shellcheck source=scripts/lib.sh
. "$(dirname "$0")/lib.sh"

RUNS=${RUNS:-1}
[[ "$RUNS" =~ ^[1-9][0-9]*$ ]] || die "RUNS must be a positive number, not '$RUNS'"
export RESULTS=$BUILD/demo
export EXTRA_CMDLINE=${DEMO_CMDLINE:-}
if [ -n "${CONNS:-}" ]; then
	if ! [[ "$CONNS" =~ ^[1-9][0-9]*$ ]] || [ "$CONNS" -gt 4000 ]; then
		die "CONNS must be a number of connections in 1..4000, not '$CONNS'"
	fi
	EXTRA_CMDLINE+=" luonet.conns=$CONNS"
fi
# PEER=default: the peer keeps Linux's default retransmission backoff (no TCP_RTO_MAX_MS
# cap): what a real peer does; the report's "stall / outage" shows what that costs.
case ${PEER:-capped} in
capped) ;;
default) EXTRA_CMDLINE+=" luonet.rto_max_ms=0" ;;
*) die "PEER must be capped or default, not '$PEER'" ;;
esac
case ${AGENT:-repair} in
repair) ;;
kernel) EXTRA_CMDLINE+=" luonet.agent_dump=kernel" ;;
*) die "AGENT must be repair or kernel, not '$AGENT'" ;;
esac
# PAUSE=1: the peer pauses its stream for a second before the dump and resumes after
# it (the DUT's marks), so that the old kernel acknowledged all it received: the
# restored sockets' window probes then move nothing, and only a held segment
# (SUPPRESS=on) gets the backed-off peer going at the restore.
case ${PAUSE:-0} in
0) ;;
1) EXTRA_CMDLINE+=" luonet.demo_pause=1" ;;
*) die "PAUSE must be 0 or 1, not '$PAUSE'" ;;
esac
tests="demo demo_off"
case ${SUPPRESS:-on} in
on) ;;
drop) EXTRA_CMDLINE+=" luonet.suppress=drop" tests=demo ;;
*) die "SUPPRESS must be on or drop, not '$SUPPRESS'" ;;
esac
rc=0
# REPORT_ONLY=1: no guests; the reports and the RUNS summary again, from build/demo.
[ -n "${REPORT_ONLY:-}" ] || T=$tests "$TOP/scripts/check.sh" || rc=$?
on=$RESULTS/series/demo off=$RESULTS/series/demo_off
[ -s "$on/verdict" ] || die "the demo did not run; see above"
[ "$tests" = demo ] || [ -s "$off/verdict" ] || die "the demo did not run; see above"

echo
"$TOP/scripts/demo-report.sh" "$on" "live update with liveupdate_tcp_rst_suppress=${SUPPRESS:-on}" || rc=1
cp "$on/report.txt" "$RESULTS/report-on.txt"
cp "$on/timeline.png" "$RESULTS/timeline-on.png"
if [ "$tests" != demo ]; then
	echo
	"$TOP/scripts/demo-report.sh" "$off" "the same live update with the suppressor off" || rc=1
	cp "$off/report.txt" "$RESULTS/report-off.txt"
	cp "$off/timeline.png" "$RESULTS/timeline-off.png"
fi
echo
echo "reports and pictures: $RESULTS/{report,timeline}-{on,off}.{txt,png}"

if [ "$RUNS" -gt 1 ]; then
	runs=$RESULTS/runs
	[ -n "${REPORT_ONLY:-}" ] || rm -rf "$runs"
	mkdir -p "$runs"
	"$TOP/scripts/demo-report.sh" --summary "$on" >"$runs/summary"
	for i in $(seq 2 "$RUNS"); do
		[ -n "${REPORT_ONLY:-}" ] ||
			"$TOP/scripts/run-test.sh" demo "$BUILD/out/series" "$runs/$i" 2>/dev/null || true
		line=$("$TOP/scripts/demo-report.sh" --summary "$runs/$i" 2>&1) || line="? ? ? ? ? ? ? FAILED NOT-met ? ? NOT-met ? ? ? ? NOT-met ?"
		log "run $i/$RUNS: $line ($(paste -sd';' "$runs/$i/verdict" 2>/dev/null || echo 'no verdict'))"
		echo "$line" >>"$runs/summary"
	done
	echo
	echo "== $RUNS demo runs, liveupdate_tcp_rst_suppress=${SUPPRESS:-on}, ${PEER:-capped} peer," \
		"PAUSE=${PAUSE:-0} (times in s; dump: server frozen -> stage 1 end)"
	python3 - "$runs/summary" "${PEER:-capped}" "${SUPPRESS:-on}" <<'PY' || rc=1
import statistics, sys
rows = [l.split() for l in open(sys.argv[1]) if l.strip()]
def col(i):
    return [float(r[i]) for r in rows if r[i] != "?"]
n = len(rows)
kept = sum(r[7] == "kept" for r in rows)
rst0 = sum(r[4] == "0" for r in rows)
clean = sum(r[5] == "0" and r[6] == "0" for r in rows)
met = sum(r[8] == "met" for r in rows)
# The suppressor had something to do: a segment of the peer hit the window.
used = sum(r[10].isdigit() and int(r[10]) > 0 for r in rows)
for name, i in (("stall", 0), ("dump", 9), ("kexec", 1), ("restore", 2),
                ("peer RTO at restore", 3)):
    v = sorted(col(i))
    if v:
        print(f"{name:20} min {v[0]:6.2f}  median {statistics.median(v):6.2f}  "
              f"max {v[-1]:6.2f}  ({len(v)} runs)")
st = sorted(col(0))
print("stall distribution  " + " ".join(f"{x:.1f}" for x in st))
ratios = [float(r[0]) / (float(r[1]) + float(r[2])) for r in rows if "?" not in r[:3]]
if ratios:
    print(f"stall/(kexec+restore) median {statistics.median(ratios):.2f}, max {max(ratios):.2f}")
# The outage is the DUT's silence at the peer (column 13; older summaries lack it).
so = [float(r[0]) / float(r[12]) for r in rows
      if len(r) > 12 and r[0] != "?" and r[12] not in ("?", "") and float(r[12]) > 0]
if so:
    print(f"stall/outage         median {statistics.median(so):.2f}, max {max(so):.2f}, "
          f"min {min(so):.2f} ({len(so)} runs)")
# TCP level, on the timeline's connection (columns 14-17; older summaries lack them).
tcp = [r for r in rows if len(r) > 16 and "?" not in r[13:16] and float(r[14]) > 0]
if tcp:
    v = sorted(float(r[13]) / float(r[14]) for r in tcp)
    extra = sorted((float(r[13]) - float(r[14])) / float(r[15]) for r in tcp if float(r[15]) > 0)
    print(f"TCP stall/outage     median {statistics.median(v):.2f}, min {v[0]:.2f}, max {v[-1]:.2f} "
          f"({len(v)} runs)")
    if extra:
        print(f"TCP stall - outage   median {statistics.median(extra):.1f} peer RTTs, max {extra[-1]:.1f} "
              f"(RTT median {statistics.median(float(r[15]) for r in tcp) * 1000:.1f} ms)")
res = sorted(float(r[17]) / float(r[15]) for r in rows
             if len(r) > 17 and "?" not in (r[15], r[17]) and float(r[15]) > 0)
if res:
    print(f"snd_una moved after the DUT's return: median {statistics.median(res):.1f} peer RTTs, "
          f"max {res[-1]:.1f}")
hold = sum(len(r) > 16 and r[16] == "met" for r in rows)
print(f"snd_una moved within 2 peer RTTs of the DUT's return: {hold}/{n}")
print(f"connection kept      {kept}/{n}")
print(f"0 RST at the peer    {rst0}/{n}")
print(f"0 bytes lost or dup  {clean}/{n}")
literal = sum(r[11] == "met" for r in rows)
print(f"stream flowing again within one peer RTO (+0.1 s) of the restore: {met}/{n}")
print(f"stall <= dump + kexec + restore + peer RTO: {literal}/{n}")
print(f"suppressor exercised (TCPLiveUpdateRstSuppressed > 0): {used}/{n}")
# The capped peer retransmits into every window: the suppressor must have had work in
# every run. A default peer may not; with it and holding on, the goal is the TCP stall.
peer, suppress = sys.argv[2], sys.argv[3]
ok = kept == rst0 == clean == met == n
ok &= used == n if peer == "capped" else (hold == n if suppress == "on" else True)
print("targets:", "met in every run" if ok else "NOT met in every run")
sys.exit(0 if ok else 1)
PY
fi
exit "$rc"
