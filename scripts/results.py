# SPDX-License-Identifier: GPL-2.0
"""Read what scripts/run-test.sh leaves in a test's result directory (KTAP of each
stage, the peer's output, the guests' consoles) and the capture of the peer's link.
For the Python the report scripts embed: sys.path.insert(0, "scripts"); from results
import read, grab, dut_rsts."""
import re


def read(path):
    """The file's text, stripped; "" when it is missing."""
    try:
        with open(path, errors="replace") as f:
            return f.read().strip()
    except OSError:
        return ""


def grab(path, pattern, conv=str):
    """conv() of group 1 of the first line of the file that matches pattern, or None."""
    for line in read(path).splitlines():
        m = re.search(pattern, line)
        if m:
            return conv(m.group(1))
    return None


def dut_rsts(segs, dut):
    """The RSTs the DUT sent on connections to its endpoints dut (a set of (address,
    port)), from segs, a capture's TCP segments as (time, src, sport, dst, dport, flags)
    with ports of the same type as dut's. Returns three lists of (time, connection),
    a connection being the frozenset of its two endpoints:
    open: after the DUT's SYN-ACK, before the first FIN of either side (a connection
    lost); late: after that FIN (a closed socket's answer to a late segment); refused:
    before any SYN-ACK of that 4-tuple (a SYN sent before the server listened)."""
    fin, synack, rsts = {}, {}, []
    for t, src, sport, dst, dport, flags in segs:
        a, b = (src, sport), (dst, dport)
        if a not in dut and b not in dut:
            continue
        conn = frozenset((a, b))
        if "F" in flags:
            fin.setdefault(conn, t)
        if flags == "S." and a in dut:
            synack.setdefault(conn, t)
        if "R" in flags and a in dut:
            rsts.append((t, conn))
    inf = float("inf")
    refused = [r for r in rsts if r[0] <= synack.get(r[1], inf)]
    counted = [r for r in rsts if r[0] > synack.get(r[1], inf)]
    return ([r for r in counted if r[0] < fin.get(r[1], inf)],
            [r for r in counted if r[0] >= fin.get(r[1], inf)], refused)
