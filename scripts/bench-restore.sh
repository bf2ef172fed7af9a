#!/usr/bin/env bash
# make bench-restore: what a live update costs as the number of connections grows.
# For each N in CONNS (default "1 10 100 1000"), one run of the demo (test "demo" of
# tests.list: guest/demo_dut.sh and lu_stream, the peer's RTO capped at 1 s) with N
# connections, IPv4 and IPv6 alternating, on the non-debug build of the series
# (scripts/build-variant.sh bench), kexec'ing into itself. Prints one table:
#   dump      the agent's freeze-to-saved time, ms: finding the sockets (/proc, pidfd_getfd),
#             the network lock if any (none on the series) and luo_tcp_save() of each
#   image     bytes of socket images preserved in the LUO session
#   restore   the agent's luo_tcp_restore() of every socket, ms; per socket, us: the
#             median (the per-connection cost) and the max (the first socket of each
#             family pays what is done once: page faults on the images, first lookups,
#             and under TCG the translation of the code the restore runs; below N = 100
#             the median still shows that one-time cost, so the goal, <= 200 us per
#             connection, is checked at N >= 100)
#   stall     per connection, the longest a record took to come back at the peer:
#             median and max over the N connections, s
#   RST       RST segments from the DUT in the capture of the peer's link, while their
#             connection was open (scripts/capture-rsts.sh)
#   lost/dup  records lost, duplicated or reordered (the peer's accounting)
#   window    restore window open -> closed (the new kernel's log), s
# and exits non-zero unless every run kept every connection with 0 RST and 0 lost.
# AGENT=kernel: the agent preserves the sockets themselves in the LUO session and the
# kernel's LUO file handler saves them at the reboot and recreates them at retrieve
# (results in build/bench-restore-kernel): "dump" is then freeze to preserved (the
# kernel's own copy happens in the reboot, inside the kexec time), "image" is 0 and
# "restore" is LIVEUPDATE_SESSION_RETRIEVE_FD of every socket.
# SUPPRESS=drop: the new kernel drops the segments of flows not restored yet instead of
# holding the newest of each (liveupdate_tcp_rst_suppress=drop; results in a directory
# with a "-drop" suffix); PEER=default: the peer keeps Linux's default retransmission
# backoff (no 1 s cap; "-default" suffix). The stall columns then show what holding
# saves a backed-off peer.
# Guest time is TCG time, noisy from run to run: compare rows of one run.
# Usage: bench-restore.sh   (CONNS="1 10 100 1000"; REPORT_ONLY=1: the table again)
set -euo pipefail
# shellcheck source=scripts/lib.sh
. "$(dirname "$0")/lib.sh"

conns=${CONNS:-1 10 100 1000}
for n in $conns; do
	if ! [[ "$n" =~ ^[1-9][0-9]*$ ]] || [ "$n" -gt 4000 ]; then
		die "CONNS: '$n' is not a number of connections in 1..4000"
	fi
done
case ${AGENT:-repair} in
repair) dir=$BUILD/bench-restore extra= ;;
kernel) dir=$BUILD/bench-restore-kernel extra=" luonet.agent_dump=kernel" ;;
*) die "AGENT must be repair or kernel, not '$AGENT'" ;;
esac
case ${SUPPRESS:-on} in
on) ;;
drop) dir+=-drop extra+=" luonet.suppress=drop" ;;
*) die "SUPPRESS must be on or drop, not '$SUPPRESS'" ;;
esac
case ${PEER:-capped} in
capped) ;;
default) dir+=-default extra+=" luonet.rto_max_ms=0" ;;
*) die "PEER must be capped or default, not '$PEER'" ;;
esac
kdir=$BUILD/bench/series
if [ -z "${REPORT_ONLY:-}" ]; then
	"$TOP/scripts/deps.sh"
	"$TOP/scripts/tree.sh"
	mkdir -p "$dir"
	log "building the series' kernel without debug options (log: $dir/build.log)"
	{ "$TOP/scripts/build-variant.sh" bench series && "$TOP/scripts/build-tests.sh" "$KTREE" "$BUILD/tests" &&
	  "$TOP/scripts/kernel-dir.sh" "$kdir/bzImage" "$kdir/bzImage" "$kdir"; } \
		>"$dir/build.log" 2>&1 || { tail -n 30 "$dir/build.log" >&2; die "build failed"; }
	for n in $conns; do
		t0=$(date +%s)
		log "N=$n: the demo with $n connections (logs: $dir/$n)"
		EXTRA_CMDLINE="luonet.conns=$n$extra" "$TOP/scripts/run-test.sh" demo "$kdir" "$dir/$n" \
			2>/dev/null || true
		log "N=$n: $(paste -sd';' "$dir/$n/verdict" 2>/dev/null || echo 'no verdict'), $(($(date +%s) - t0)) s"
	done
fi
for n in $conns; do
	[ -s "$dir/$n/peer.pcap" ] || die "no run for N=$n in $dir/$n"
	"$TOP/scripts/capture-rsts.sh" "$dir/$n" >"$dir/$n/rsts"
done

echo
echo "== a live update with N connections (non-debug series kernel, TCG, agent ${AGENT:-repair}," \
	"liveupdate_tcp_rst_suppress=${SUPPRESS:-on}, ${PEER:-capped} peer; $(date +%F))"
python3 - "$TOP/scripts" "$dir" "$conns" <<'PY'
import sys

sys.path.insert(0, sys.argv[1])
from results import grab as grab_str, read

d, conns = sys.argv[2], sys.argv[3].split()
def grab(path, pat, conv=float):
    return grab_str(path, pat, conv)

hdr = (f"{'N':>5} {'dump ms':>8} {'image B':>9} {'restore ms':>10} {'med us':>7} {'max us':>7} "
       f"{'stall med':>9} {'stall max':>9} {'RST':>4} {'lost':>5} {'dup':>4} {'window s':>8}  verdict")
print(hdr)
ok = True
rows = []
for n in conns:
    r = f"{d}/{n}"
    dump = grab(f"{r}/stage1.ktap", r"# agent: saved sockets=\d+ bytes=\d+ save_ms=([0-9.]+)")
    img = grab(f"{r}/stage1.ktap", r"# agent: saved sockets=\d+ bytes=(\d+)", int)
    rest = grab(f"{r}/stage2.ktap", r"# agent: restored sockets=\d+ restore_ms=([0-9.]+)")
    per = grab(f"{r}/stage2.ktap", r"median_us=([0-9.]+)")
    pmax = grab(f"{r}/stage2.ktap", r"max_us=([0-9.]+)")
    smed = grab(f"{r}/peer-stage.ktap", r"# stalls n \d+ median ([0-9.]+)")
    smax = grab(f"{r}/peer-stage.ktap", r"# stalls n \d+ median [0-9.]+ max ([0-9.]+)")
    lost = grab(f"{r}/peer-stage.ktap", r"lost (\d+),", int)
    dup = grab(f"{r}/peer-stage.ktap", r"duplicated or reordered (\d+)", int)
    opened = grab(f"{r}/peer-stage.ktap", r"# mark [0-9.]+ report .*opened=([0-9.]+)")
    closed = grab(f"{r}/peer-stage.ktap", r"# mark [0-9.]+ report .*closed_at=([0-9.]+)")
    # RSTs from the DUT while their connection was open (scripts/capture-rsts.sh).
    rst = int((read(f"{r}/rsts") or "-1").split()[0])
    verdict = read(f"{r}/verdict").replace("\n", "; ") or "no verdict"
    win = closed - opened if opened is not None and closed is not None else None
    f = lambda x, p: "?" if x is None else f"{x:.{p}f}"
    print(f"{n:>5} {f(dump, 1):>8} {img if img is not None else '?':>9} {f(rest, 1):>10} "
          f"{f(per, 1):>7} {f(pmax, 1):>7} {f(smed, 2):>9} {f(smax, 2):>9} {rst:>4} {lost if lost is not None else '?':>5} "
          f"{dup if dup is not None else '?':>4} {f(win, 2):>8}  {verdict[:60]}")
    ok &= verdict == "pass" and rst == 0 and lost == 0 and dup == 0
    rows.append((int(n), rest, per, smed))
print("every connection kept, 0 RST, 0 lost:", "yes" if ok else "NO")
big = max(rows)
# The median per socket is the per-connection cost once what is paid once is paid
# (the first socket of each family: page faults, first lookups, and under TCG the
# translation of the restore path's code on its first run). Below 100 sockets, those
# are a tenth or more of the sockets and the median shows them, not the steady cost.
steady = [r for r in rows if r[0] >= 100]
meds = [r[2] for r in steady]
print("restore cost per connection (median) by N: "
      + ", ".join(f"{r[0]}: {'?' if r[2] is None else f'{r[2]:.0f}'} us" for r in rows))
if steady and None not in meds:
    print(f"  at N >= 100: at most {max(meds):.0f} us (goal <= 200 us under TCG, non-debug "
          f"kernel): {'met' if max(meds) <= 200 else 'NOT met'}")
    ok &= max(meds) <= 200
else:
    print("  at N >= 100: not measured (no such N, or no agent line)")
    ok = False
small = min(rows)
if big[0] != small[0] and None not in (big[1], big[3], small[3]):
    print(f"stall median at N = {big[0]} minus at N = {small[0]}: {big[3] - small[3]:+.2f} s, "
          f"restore of all {big[0]}: {big[1] / 1e3:.2f} s (guest boot times vary by ~1 s between runs)")
sys.exit(0 if ok else 1)
PY
