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
sys.path.insert(0, sys.argv[1])
from results import dut_rsts
port = sys.argv[2]
seg = re.compile(r"^(\d+\.\d+) IP6? (\S+)\.(\d+) > (\S+)\.(\d+): Flags \[([^\]]*)\]")
segs = [(float(m[1]), m[2], m[3], m[4], m[5], m[6]) for m in map(seg.match, sys.stdin) if m]
opened, late, _ = dut_rsts(segs, {("192.0.2.1", port), ("2001:db8::1", port)})
print(len(opened), len(late))
' "$(dirname "$0")" "${2:-7030}")
echo "$counts"
[ -z "${3:-}" ] || [ "${counts% *}" = "$3" ] ||
	die "$1: ${counts% *} RSTs from the DUT on open connections to port ${2:-7030}, want $3"
