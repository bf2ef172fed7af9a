#!/usr/bin/env bash
# make bench, race table: how many RSTs escape during a live update with no protection,
# with the netfilter rule an operator would install today (guest/rst_filter.sh, real
# nft, from the new kernel's userspace: at service start, or in the initramfs before
# the NIC is up), and with liveupdate_tcp_rst_suppress=on. Each variant is one run of
# the demo (guest/demo_dut.sh, lu_stream) with the peer's canary on: from the DUT's
# stage 1 end to its restore report, the peer sends one ACK every 10 ms for a flow that
# never existed, so the RSTs it gets back measure how long an unrestored connection
# would have been reset. Counts come from the capture of the peer's link.
# Runs on the test kernel (build/out/series, built like make check does).
set -euo pipefail
# shellcheck source=scripts/lib.sh
. "$(dirname "$0")/lib.sh"

out=$BUILD/bench/race
run_variants() {
	"$TOP/scripts/deps.sh"
	"$TOP/scripts/tree.sh"
	"$TOP/scripts/build-series.sh" --last-only
	"$TOP/scripts/build-tests.sh" "$KTREE" "$BUILD/tests"
	"$TOP/scripts/initramfs.sh" "$BUILD/out/series/bzImage" "$BUILD/tests/bin" "$BUILD/out/series/initramfs.cpio"
	rm -rf "$out" && mkdir -p "$out"

	# variant: test from tests.list (demo_off drops the suppressor from the kexec; its
	# peer caps its RTO at 1 s, and so does the suppressor's, so that the stream's
	# retransmissions probe the gap every second in all four) and extra command line
	variants=(
		"none|demo_off|luonet.canary=1"
		"nft-service|demo_off|luonet.canary=1 luonet.demo_filter=1"
		"nft-initramfs|demo_off|luonet.canary=1 luonet.early_filter=1"
		"suppressor|demo|luonet.canary=1 luonet.rto_max_ms=1000"
	)
	for v in "${variants[@]}"; do
		IFS='|' read -r name test cmdline <<<"$v"
		log "race: $name ($test, $cmdline)"
		EXTRA_CMDLINE=$cmdline "$TOP/scripts/run-test.sh" "$test" "$BUILD/out/series" "$out/$name" \
			2>/dev/null || true
		[ -s "$out/$name/peer.pcap" ] || die "race $name: no capture (see $out/$name)"
		tcpdump -r "$out/$name/peer.pcap" -nn -tt 'tcp' 2>/dev/null >"$out/$name/peer.pcap.txt"
	done
}

# REPORT_ONLY=1: print the table again from the last run's results.
[ -n "${REPORT_ONLY:-}" ] || run_variants

# Size of what the netfilter variants add to an initramfs.
nft_kb=$(for f in $(command -v nft) $(ldd "$(command -v nft)" | grep -o '/[^ ]*'); do
	du -kL "$f" | cut -f1; done | paste -sd+ | bc)

python3 - "$out" "$nft_kb" <<'PY'
import re, sys
out, nft_kb = sys.argv[1], sys.argv[2]
DUT, PORT, CANARY = "192.0.2.1", 7030, 7099
names = {"none": "no protection", "nft-service": "nft rule at service start",
         "nft-initramfs": "nft rule before NIC up", "suppressor": "in-kernel suppressor"}
seg = re.compile(r"^(\d+\.\d+) IP (\S+)\.(\d+) > (\S+)\.(\d+): Flags \[([^\]]*)\]")
print(f"{'protection':27} {'stream':>6} {'canary RST/sent':>15} {'unprotected':>11} "
      f"{'NIC up->restore':>15} {'filter install':>14} {'suppressed':>10}  connection")
bad = []
for name, label in names.items():
    peer = open(f"{out}/{name}/peer-stage.ktap").read()
    rep = re.search(r"^# mark \S+ report (.*)$", peer, re.M)
    boot = re.search(r"^# mark (\S+) boot uptime=(\S+)", peer, re.M)
    if not rep or not boot:
        bad.append(name)
        continue
    kv = dict(re.findall(r"(\w+)=(\S*)", rep.group(1)))
    def num(k):
        try:
            return float(kv[k])
        except (KeyError, ValueError):
            return None
    # The new kernel's life until the restore, on the peer's clock (t=0: connected).
    kstart = float(boot.group(1)) - float(boot.group(2))
    up, restored, closed = num("link_up"), num("restored"), num("closed_at")
    lo, hi = kstart, kstart + (restored or 0)
    pkts = []
    for line in open(f"{out}/{name}/peer.pcap.txt"):
        m = seg.match(line)
        if m:
            pkts.append((float(m.group(1)), m.group(2), int(m.group(3)), int(m.group(5)), m.group(6)))
    synack = [p for p in pkts if p[1] == DUT and p[2] == PORT and p[4] == "S."]
    if not synack or restored is None:
        bad.append(name)
        continue
    t0, sport = synack[-1][0], synack[-1][3]
    # The end, exactly: the restored socket's first segment (the window probe that
    # TCP_REPAIR_OFF sends) in the capture; the mark's clock is only good to its delay.
    probe = [p[0] - t0 for p in pkts if p[1] == DUT and p[2] == PORT and p[3] == sport
             and "R" not in p[4] and p[0] - t0 > lo]
    if probe:
        hi = probe[0]
    fin = min([p[0] for p in pkts if p[2] == PORT and p[3] != CANARY and "F" in p[4]] + [1e18])
    stream = sum(1 for p in pkts if p[1] == DUT and p[2] == PORT and p[3] != CANARY
                 and "R" in p[4] and p[0] < fin)
    canary = sum(1 for p in pkts if p[1] == DUT and p[3] == CANARY and "R" in p[4]
                 and lo <= p[0] - t0 <= hi)
    sent = sum(1 for p in pkts if p[1] != DUT and p[3] == PORT and p[2] == CANARY
               and lo <= p[0] - t0 <= hi)
    win = f"{restored - up:.2f} s" if up is not None else "?"
    inst = "-"
    if num("filter_on") is not None and num("filter_installing") is not None:
        inst = f"{1000 * (num('filter_on') - num('filter_installing')):.0f} ms"
        gap = num("filter_on") - up
        inst += f" ({'+' if gap >= 0 else ''}{gap:.2f} s)"
    kept = "kept" if re.search(r"^ok 2 ", peer, re.M) else "RESET"
    print(f"{label:27} {stream:6d} {canary:7d}/{sent:<7d} {canary * 0.01:9.2f} s "
          f"{win:>15} {inst:>14} {kv.get('suppressed', '?'):>10}  {kept}")
    if not sent:
        bad.append(name)
print("""
stream:      RSTs on the demo's connection (before its FIN), from the capture of the peer's link
canary:      RSTs for the canary flow / canary segments that reached the new kernel before the
             restore (the peer sends one ACK for a flow that never existed every 10 ms; the
             restore is the restored socket's first segment in the capture)
unprotected: canary RSTs x 10 ms, i.e. how long an unrestored connection would have been reset
NIC up->restore: how long the new kernel had the NIC up before the socket was restored
filter install: how long nft took (and when the rule was in place relative to NIC up)
suppressed:  TCPLiveUpdateRstSuppressed in the new kernel (the canary's drops included)""")
print(f"The nft variants also need netfilter in the kernel, {nft_kb} KiB of nft and its\n"
      "libraries in the initramfs, and someone to remove the rule after the restore\n"
      "(rst_filter.sh off): until then it drops every RST the machine sends, for any flow,\n"
      "and it stays forever if the agent dies.")
if bad:
    sys.exit("race: no usable report from " + ", ".join(bad) + "; see " + out)
PY
