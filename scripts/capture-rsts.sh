#!/usr/bin/env bash
# RSTs the DUT sent on a service's connections (PORT of 192.0.2.1 or 2001:db8::1;
# 7030, the demo's, by default), in the capture of the peer's link (RESULT_DIR/peer.pcap, as
# scripts/run-test.sh writes it). Prints "OPEN AFTER": the RSTs sent while their
# connection was open (after the DUT's SYN-ACK, before the first FIN of either side),
# and those sent after its first FIN, which are a closed socket's answer to a late
# segment at the end of the stream, not a lost connection. RSTs that refuse a SYN
# (the peer dialling before the server listens) are neither.
# Usage: capture-rsts.sh RESULT_DIR [PORT [OPEN]]
#   OPEN: fail (exit 1) unless exactly OPEN RSTs were sent on open connections
set -euo pipefail
# shellcheck source=scripts/lib.sh
. "$(dirname "$0")/lib.sh"

[ -s "$1/peer.pcap" ] || die "no packet capture in $1"
counts=$(tcpdump -r "$1/peer.pcap" -nn -tt tcp 2>/dev/null | python3 -c '
import re, sys
port = sys.argv[1]
DUT = {("192.0.2.1", port), ("2001:db8::1", port)}
seg = re.compile(r"^(\d+\.\d+) IP6? (\S+)\.(\d+) > (\S+)\.(\d+): Flags \[([^\]]*)\]")
fin, synack, rst = {}, {}, []
for line in sys.stdin:
    m = seg.match(line)
    if not m:
        continue
    t, sa, sp, da, dp, flags = m.groups()
    src, dst = (sa, sp), (da, dp)
    if src not in DUT and dst not in DUT:
        continue
    key = frozenset((src, dst))
    if "F" in flags:
        fin.setdefault(key, float(t))
    if flags == "S." and src in DUT:
        synack.setdefault(key, float(t))
    if "R" in flags and src in DUT and float(t) > synack.get(key, float("inf")):
        rst.append((float(t), key))
opened = sum(1 for t, k in rst if t < fin.get(k, float("inf")))
print(opened, len(rst) - opened)
' "${2:-7030}")
echo "$counts"
[ -z "${3:-}" ] || [ "${counts% *}" = "$3" ] ||
	die "$1: ${counts% *} RSTs from the DUT on open connections to port ${2:-7030}, want $3"
