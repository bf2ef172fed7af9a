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
"$TOP/scripts/deps.sh"
"$TOP/scripts/tree.sh"
"$TOP/scripts/build-series.sh" --last-only
"$TOP/scripts/build-tests.sh" "$KTREE" "$BUILD/tests"
"$TOP/scripts/initramfs.sh" "$BUILD/out/series/bzImage" "$BUILD/tests/bin" "$BUILD/out/series/initramfs.cpio"
rm -rf "$out" && mkdir -p "$out"

# variant: test from tests.list (demo_off drops the suppressor from the kexec) and
# extra kernel command line
variants=(
	"none|demo_off|luonet.canary=1"
	"nft-service|demo_off|luonet.canary=1 luonet.demo_filter=1"
	"nft-initramfs|demo_off|luonet.canary=1 luonet.early_filter=1"
	"suppressor|demo|luonet.canary=1"
)
for v in "${variants[@]}"; do
	IFS='|' read -r name test cmdline <<<"$v"
	log "race: $name ($test, $cmdline)"
	EXTRA_CMDLINE=$cmdline "$TOP/scripts/run-test.sh" "$test" "$BUILD/out/series" "$out/$name" \
		2>/dev/null || true
	[ -s "$out/$name/peer.pcap" ] || die "race $name: no capture (see $out/$name)"
	tcpdump -r "$out/$name/peer.pcap" -nn -tt 'tcp' 2>/dev/null >"$out/$name/peer.pcap.txt"
done

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
bad = False
for name, label in names.items():
    peer = open(f"{out}/{name}/peer-stage.ktap").read()
    rep = re.search(r"^# mark \S+ report (.*)$", peer, re.M)
    kv = dict(re.findall(r"(\w+)=(\S*)", rep.group(1))) if rep else {}
    sent = re.search(r"^# canary segments (\d+)", peer, re.M)
    sent = int(sent.group(1)) if sent else 0
    stream = canary = 0
    fin = False
    for line in open(f"{out}/{name}/peer.pcap.txt"):
        m = seg.match(line)
        if not m or m.group(2) != DUT or int(m.group(3)) != PORT:
            continue
        if int(m.group(5)) == CANARY and "R" in m.group(6):
            canary += 1
        elif "F" in m.group(6):
            fin = True
        elif "R" in m.group(6) and not fin:
            stream += 1
    def num(k):
        try:
            return float(kv[k])
        except (KeyError, ValueError):
            return None
    up, closed = num("link_up"), num("closed_at")
    win = f"{closed - up:.2f} s" if up is not None and closed is not None else "?"
    inst = "-"
    if num("filter_on") is not None and num("filter_installing") is not None:
        inst = f"{1000 * (num('filter_on') - num('filter_installing')):.0f} ms"
        gap = num("filter_on") - up
        inst += f" ({'+' if gap >= 0 else ''}{gap:.2f} s)"
    kept = "kept" if re.search(r"^ok 2 ", peer, re.M) else "RESET"
    print(f"{label:27} {stream:6d} {canary:7d}/{sent:<7d} {canary * 0.01:9.2f} s "
          f"{win:>15} {inst:>14} {kv.get('suppressed', '?'):>10}  {kept}")
    if not sent or not rep:
        bad = True
print("stream: RSTs on the demo's connection before its FIN; canary: RSTs for the canary flow "
      "over canary segments sent (one per 10 ms tick from stage 1 end to the restore report); "
      "unprotected: canary RSTs x 10 ms; filter install: time nft took (and when the rule was "
      "in place relative to the NIC coming up); suppressed: TCPLiveUpdateRstSuppressed.")
print(f"the nft variants also need netfilter in the kernel and {nft_kb} KiB of nft and its "
      "libraries in the initramfs, and must remove the rule after the restore (rst_filter.sh "
      "off); until then it drops every RST the machine sends, for any flow")
if bad:
    sys.exit("race: a run did not report (no canary or no DUT report); see " + out)
PY
