#!/usr/bin/env bash
# make bench-restore: what a live update costs as the number of connections grows.
# For each N in CONNS (default "1 10 100 1000"), one run of the demo (test "demo" of
# tests.list: guest/demo_dut.sh and lu_stream, the peer's RTO capped at 1 s) with N
# connections, IPv4 and IPv6 alternating, on the non-debug build of the series
# (scripts/build-nodebug.sh), kexec'ing into itself. Prints one table:
#   dump      the agent's freeze-to-saved time (luo_tcp_save() of every socket) in ms
#   image     bytes of socket images preserved in the LUO session
#   restore   the agent's luo_tcp_restore() of every socket, ms, and per socket, us
#   stall     per connection, the longest a record took to come back at the peer:
#             median and max over the N connections, s
#   RST       RST segments from the DUT in the capture of the peer's link
#   lost/dup  records lost, duplicated or reordered (the peer's accounting)
#   window    restore window open -> closed (the new kernel's log), s
# and exits non-zero unless every run kept every connection with 0 RST and 0 lost.
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
dir=$BUILD/bench-restore
kdir=$BUILD/bench/series
if [ -z "${REPORT_ONLY:-}" ]; then
	"$TOP/scripts/deps.sh"
	"$TOP/scripts/tree.sh"
	mkdir -p "$dir"
	log "building the series' kernel without debug options (log: $dir/build.log)"
	{ "$TOP/scripts/build-nodebug.sh" series && "$TOP/scripts/build-tests.sh" "$KTREE" "$BUILD/tests" &&
	  "$TOP/scripts/initramfs.sh" "$kdir/bzImage" "$BUILD/tests/bin" "$kdir/initramfs.cpio"; } \
		>"$dir/build.log" 2>&1 || { tail -n 30 "$dir/build.log" >&2; die "build failed"; }
	for n in $conns; do
		t0=$(date +%s)
		log "N=$n: the demo with $n connections (logs: $dir/$n)"
		EXTRA_CMDLINE="luonet.conns=$n" "$TOP/scripts/run-test.sh" demo "$kdir" "$dir/$n" \
			2>/dev/null || true
		log "N=$n: $(paste -sd';' "$dir/$n/verdict" 2>/dev/null || echo 'no verdict'), $(($(date +%s) - t0)) s"
	done
fi
for n in $conns; do
	r=$dir/$n
	[ -s "$r/peer.pcap" ] || die "no run for N=$n in $r"
	tcpdump -r "$r/peer.pcap" -nn -tt tcp 2>/dev/null | grep 'Flags \[R' >"$r/rst.txt" || true
done

echo
echo "== a live update with N connections (non-debug series kernel, TCG; $(date +%F))"
python3 - "$dir" "$conns" <<'PY'
import re, statistics, sys

d, conns = sys.argv[1], sys.argv[2].split()
def grab(path, pat, conv=float):
    try:
        for line in open(path, errors="replace"):
            m = re.search(pat, line)
            if m:
                return conv(m.group(1))
    except OSError:
        pass
    return None

hdr = (f"{'N':>5} {'dump ms':>8} {'image B':>9} {'restore ms':>10} {'us/sock':>8} "
       f"{'stall med':>9} {'stall max':>9} {'RST':>4} {'lost':>5} {'dup':>4} {'window s':>8}  verdict")
print(hdr)
ok = True
for n in conns:
    r = f"{d}/{n}"
    dump = grab(f"{r}/stage1.ktap", r"# agent: saved sockets=\d+ bytes=\d+ save_ms=([0-9.]+)")
    img = grab(f"{r}/stage1.ktap", r"# agent: saved sockets=\d+ bytes=(\d+)", int)
    rest = grab(f"{r}/stage2.ktap", r"# agent: restored sockets=\d+ restore_ms=([0-9.]+)")
    per = grab(f"{r}/stage2.ktap", r"per_socket_us=([0-9.]+)")
    smed = grab(f"{r}/peer-stage.ktap", r"# stalls n \d+ median ([0-9.]+)")
    smax = grab(f"{r}/peer-stage.ktap", r"# stalls n \d+ median [0-9.]+ max ([0-9.]+)")
    lost = grab(f"{r}/peer-stage.ktap", r"lost (\d+),", int)
    dup = grab(f"{r}/peer-stage.ktap", r"duplicated or reordered (\d+)", int)
    opened = grab(f"{r}/peer-stage.ktap", r"# mark [0-9.]+ report .*opened=([0-9.]+)")
    closed = grab(f"{r}/peer-stage.ktap", r"# mark [0-9.]+ report .*closed_at=([0-9.]+)")
    # RSTs from the DUT (192.0.2.1 / 2001:db8::1, port 7030) in the capture.
    rst = sum(1 for l in open(f"{r}/rst.txt") if re.search(r" (192\.0\.2\.1|2001:db8::1)\.7030 >", l))
    verdict = open(f"{r}/verdict").read().strip().replace("\n", "; ")
    win = closed - opened if opened is not None and closed is not None else None
    f = lambda x, p: "?" if x is None else f"{x:.{p}f}"
    print(f"{n:>5} {f(dump, 1):>8} {img if img is not None else '?':>9} {f(rest, 1):>10} "
          f"{f(per, 1):>8} {f(smed, 2):>9} {f(smax, 2):>9} {rst:>4} {lost if lost is not None else '?':>5} "
          f"{dup if dup is not None else '?':>4} {f(win, 2):>8}  {verdict[:60]}")
    ok &= verdict == "pass" and rst == 0 and lost == 0 and dup == 0
print("every connection kept, 0 RST, 0 lost:", "yes" if ok else "NO")
sys.exit(0 if ok else 1)
PY
