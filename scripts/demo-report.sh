#!/usr/bin/env bash
# Report on one run of the live-update demo (the "demo" tests of tests.list): reads the
# peer's output (lu_stream peer: its stream accounting and the DUT's marks, all on the
# peer's clock) and the capture of the peer's link (QEMU filter-dump, read with
# tcpdump), writes RESULT_DIR/report.txt and RESULT_DIR/timeline.png, and prints the
# report. With --summary, prints one line instead:
#   STALL KEXEC RESTORE PEER_RTO RSTS LOST DUP kept|FAILED met|NOT-met DUMP SUPPRESSED
#   met|NOT-met OUTAGE TCP_STALL FLOW_OUTAGE RTT met|NOT-met RESUME
# (seconds, counts; the first met: from the restore, the stream flowed again within one
# peer RTO plus 0.1 s for the echo's round trip; the second: stall <= dump + kexec +
# restore + the peer's RTO; OUTAGE: the DUT's longest silence on the service's
# connections, seen by the peer; TCP_STALL: on the timeline's connection, from the
# first transmission of the segment the stall began with to the DUT's first ACK past
# it; FLOW_OUTAGE: the DUT's longest silence on that connection; RTT: the peer's data
# -> ACK time before the update (median); RESUME: from the DUT's first segment on
# that connection after its silence to that ACK; the last met: RESUME <= 2 RTT, the
# peer's snd_una moved within two round trips of the DUT's return).
# Usage: demo-report.sh [--summary] RESULT_DIR [TITLE]
set -euo pipefail
# shellcheck source=scripts/lib.sh
. "$(dirname "$0")/lib.sh"

summary=
if [ "${1:-}" = --summary ]; then summary=1; shift; fi
res=$(realpath "$1") title=${2:-$(basename "$1")}
[ -s "$res/peer-stage.ktap" ] || die "no peer output in $res (did the demo run?)"
[ -s "$res/peer.pcap" ] || die "no packet capture in $res"

# Every TCP segment on the peer's link: time, source, destination, flags, seq, length.
tcpdump -r "$res/peer.pcap" -nn -tt -S 'tcp' 2>/dev/null >"$res/peer.pcap.txt"

python3 - "$res" "$title" "${summary:-}" "$TOP/scripts" <<'PY'
import os, re, sys
sys.path.insert(0, sys.argv[4])
from results import dut_rsts

res, title, summary = sys.argv[1], sys.argv[2], sys.argv[3]
DUT, PEER, PORT = "192.0.2.1", "192.0.2.2", 7030
DUT6 = "2001:db8::1"

d, marks, ktap = [], {}, []
reset = stall = gap = records = connected = rto_max = conns = stalls = None
resets = 0
for line in open(f"{res}/peer-stage.ktap"):
    line = line.rstrip("\n")
    if line.startswith("# d "):
        t, sent, echoed = line.split()[2:5]
        d.append((float(t), int(sent), int(echoed)))
    elif line.startswith("# mark "):
        _, _, t, name, *rest = line.split(" ", 4) + [""]
        text = rest[0] if rest else ""
        kv = dict(re.findall(r"(\w+)=(\S*)", text.split(" close_log=")[0]))
        if "close_log=" in text:
            kv["close_log"] = text.split("close_log=", 1)[1]
        kv["at"] = float(t)
        marks[name] = kv
    elif line.startswith("# reset "):
        reset = (float(line.split()[2]), line.split(" ", 3)[3])
    elif line.startswith("# stall "):
        stall = tuple(map(float, line.split()[2:4]))
    elif line.startswith("# gap "):
        gap = tuple(map(float, line.split()[2:4]))
    elif line.startswith("# rto_max_ms "):
        rto_max = int(line.split()[2])
    elif line.startswith("# records "):
        records = line[2:]
    elif line.startswith("# connected "):
        connected = float(line.split()[2])
    elif line.startswith("# conns "):
        conns = line.split()[2:]
    elif line.startswith("# stalls "):
        stalls = line.split()[2:]
    elif line.startswith("# resets "):
        resets = int(line.split()[2])
    elif re.match(r"(not )?ok \d", line):
        ktap.append(line)

# The capture: find the stream's connection, align its clock with the peer's
# (t=0 is the SYN-ACK that completed connect()), collect RSTs and retransmissions.
seg = re.compile(r"^(\d+\.\d+) IP6? (\S+)\.(\d+) > (\S+)\.(\d+): Flags \[([^\]]*)\](?:, seq (\d+)(?::(\d+))?)?.*length (\d+)")
pkts = []
for line in open(f"{res}/peer.pcap.txt"):
    m = seg.match(line)
    if m:
        t, src, sp, dst, dp, flags, s0, s1, ln = m.groups()
        ack = re.search(r", ack (\d+)", line)
        pkts.append((float(t), src, int(sp), dst, int(dp), flags, int(s0 or 0), int(ln),
                     int(ack.group(1)) if ack else None))
synack = [p for p in pkts if p[1] == DUT and p[2] == PORT and p[5] == "S."]
if not synack:
    sys.exit(f"no SYN-ACK from {DUT}:{PORT} in the capture of {res}")
# The timeline follows the first connection (IPv4): its last SYN-ACK is t = 0.
pport = synack[0][4]
t0 = [p for p in synack if p[4] == pport][-1][0]
flow = lambda p: {p[2], p[4]} == {PORT, pport}
# A segment of the service's connections (IPv4 and IPv6).
service = lambda p: (p[1], p[2]) in ((DUT, PORT), (DUT6, PORT)) or (p[3], p[4]) in ((DUT, PORT), (DUT6, PORT))
# RSTs from the DUT on the service's connections while they were open, after their
# first FIN, and those that refused a SYN sent before the server listened (the rule
# capture-rsts.sh prints); RSTs of other flows.
opened, late_rsts, refused = dut_rsts([p[:6] for p in pkts], {(DUT, PORT), (DUT6, PORT)})
rsts = [(t - t0, conn) for t, conn in opened]
other_rsts = [p for p in pkts if "R" in p[5] and p[0] >= t0 and not service(p)]
seen, rexmit, rexmit_seq = set(), [], []
for p in pkts:
    if flow(p) and p[1] == PEER and p[7] > 0:
        if p[6] in seen:
            rexmit.append(p[0] - t0)
            rexmit_seq.append((p[0] - t0, p[6]))
        seen.add(p[6])

def at(name, key, base="boot"):
    """DUT uptime KEY of mark NAME on the peer clock, via mark BASE's offset."""
    try:
        b = marks[base]
        ref = float(b["uptime"] if base == "boot" else b["end"])
        return b["at"] - ref + float(marks[name][key])
    except (KeyError, ValueError):
        return None

ev = {}
ev["frozen"] = at("stage1", "frozen", "stage1")
ev["kexec"] = marks.get("stage1", {}).get("at")
if "boot" in marks:
    ev["new kernel"] = marks["boot"]["at"] - float(marks["boot"]["uptime"])
    ev["userspace"] = marks["boot"]["at"]
ev["window open"] = at("report", "opened")
ev["restored"] = at("report", "restored")
ev["window closed"] = at("report", "finished")
ev = {k: v for k, v in ev.items() if v is not None}
# The restore, exactly: the restored socket's first segment (the window probe that
# TCP_REPAIR_OFF sends) in the capture; the marks' clock is only good to their delay.
if "frozen" in ev:
    probe = [p[0] - t0 for p in pkts if flow(p) and p[1] == DUT and "R" not in p[5]
             and p[0] - t0 > ev.get("new kernel", ev["frozen"])]
    if probe and "restored" in ev and abs(probe[0] - ev["restored"]) < 1:
        ev["restored"] = probe[0]
rep = marks.get("report", {})

def f(x, unit=" s"):
    return "?" if x is None else f"{x:.2f}{unit}"

kexec = ev["userspace"] - ev["kexec"] if "userspace" in ev and "kexec" in ev else None
# The freeze and dump before stage 1 ends: the stall covers it too.
dump = ev["kexec"] - ev["frozen"] if "kexec" in ev and "frozen" in ev else 0.0
restore = ev["restored"] - ev["userspace"] if "restored" in ev and "userspace" in ev else None
stall_s = stall[1] - stall[0] if stall else None
kept = reset is None and all(l.startswith("ok") for l in ktap)
m = re.search(r"sent (\d+), echoed (\d+), lost (\d+), duplicated or reordered (\d+), corrupt (\d+)", records or "")
sent, echoed, lost, dup, bad = map(int, m.groups()) if m else (None,) * 5

# Retransmissions of the peer inside the stall, and the backoff interval that ended it.
inside = [t for t in rexmit if stall and stall[0] < t <= stall[1] + 0.01]
# The peer's RTO when the socket came back: from its last retransmission before the
# restore to its first one after (the one that found the restored socket).
# The retransmissions of the head segment (the first one lost): the last of them
# in the stall is the one that came back, and the gap before it the peer's RTO.
head = [sq for t, sq in rexmit_seq if stall and stall[0] < t][:1]
hts = [t for t, sq in rexmit_seq if head and sq == head[0] and t <= stall[1] + 0.01]
after = hts[-1:] if kept else []
rto = hts[-1] - hts[-2] if kept and len(hts) >= 2 else None
# From the restore to the stalled record's echo: the peer's next retransmission (at
# most one of its RTOs later) plus the round trip that brings the echo back.
RTT_SLACK = 0.1
recovery = stall[1] - ev["restored"] if kept and stall and "restored" in ev else None
lead = ev["frozen"] - stall[0] if stall and "frozen" in ev else 0.0
# The outage as the peer sees it: the longest silence of the DUT on the service's
# connections (its last segment before the live update to its first one after).
dut_t = sorted(p[0] for p in pkts if service(p) and p[1] in (DUT, DUT6))
gaps = [(b - a, a, b) for a, b in zip(dut_t, dut_t[1:])]
outage = max(gaps) if gaps else None
# The same at TCP level, on the timeline's connection (absolute sequence numbers):
# the peer's first transmission of the segment the stall began with, the DUT's first
# ACK past it, the DUT's silence on this connection, and the peer's RTT before.
tcp_stall = flow_outage = rtt = resume = None
if head and kept:
    first = min(p[0] for p in pkts if flow(p) and p[1] == PEER and p[6] == head[0])
    acked = [p[0] for p in pkts if flow(p) and p[1] == DUT and p[0] > first
             and p[8] is not None and 0 < (p[8] - head[0]) % 2**32 < 2**31]
    tcp_stall = acked[0] - first if acked else None
    fd = sorted(p[0] for p in pkts if flow(p) and p[1] == DUT)
    silence = max(((b - a, b) for a, b in zip(fd, fd[1:])), default=None)
    flow_outage = silence[0] if silence else None
    resume = acked[0] - silence[1] if acked and silence else None
    samples = []
    for p in pkts:
        if flow(p) and p[1] == PEER and p[7] > 0 and p[0] < first:
            end = (p[6] + p[7]) % 2**32
            a = next((q[0] for q in pkts if q[0] > p[0] and flow(q) and q[1] == DUT
                      and q[8] is not None and (q[8] - end) % 2**32 < 2**31), None)
            if a is not None:
                samples.append(a - p[0])
    samples = sorted(samples[-100:])
    rtt = samples[len(samples) // 2] if samples else None
hold_met = bool(resume is not None and rtt is not None and resume <= 2 * rtt)
if summary:
    met = bool(kept and recovery is not None and rto and recovery <= rto + RTT_SLACK)
    literal = bool(kept and stall_s is not None and kexec and restore and rto
                   and stall_s <= dump + kexec + restore + rto)
    print(f"{f(stall_s, '')} {f(kexec, '')} {f(restore, '')} {f(rto, '')} {len(rsts)} "
          f"{'?' if lost is None else lost} {'?' if dup is None else dup} "
          f"{'kept' if kept else 'FAILED'} {'met' if met else 'NOT-met'} {dump:.2f} "
          f"{rep.get('suppressed', '?') or '?'} {'met' if literal else 'NOT-met'} "
          f"{f(outage[0] if outage else None, '')} {f(tcp_stall, '')} {f(flow_outage, '')} "
          f"{'?' if rtt is None else f'{rtt:.4f}'} {'met' if hold_met else 'NOT-met'} "
          f"{'?' if resume is None else f'{resume:.4f}'}")
    sys.exit(0)
out = []
w = out.append
w(f"== {title}: suppressor {'on' if 'liveupdate_tcp_rst_suppress' in open(res + '/dut.console').read().split('LUONET KEXEC')[-1][:400] else 'off'}")
n_conns = int(conns[0]) if conns else 1
if conns and len(conns) >= 5:
    w(f"connections      {n_conns} to port {PORT} ({conns[2]} IPv4 to {DUT}, {conns[4]} IPv6 to "
      f"{DUT6}), 64-byte records echoed back; the timeline follows {PEER}:{pport}")
else:
    w(f"connection       {PEER}:{pport} -> {DUT}:{PORT}, 64-byte records every 10 ms, echoed back")
if rto_max:
    w(f"                 the peer caps its RTO at {rto_max} ms (TCP_RTO_MAX_MS)")
if kept:
    w(f"result           {'connection' if n_conns == 1 else f'all {n_conns} connections'} KEPT across the kexec")
else:
    w(f"result           FAILED ({resets} of {n_conns} connections reset): "
      f"{reset[1] if reset else 'see the KTAP below'}"
      + (f" at {reset[0]:.2f} s" if reset else ""))
    if rsts:
        t = rsts[0][0]
        prior = [x for x in rexmit if x <= t]
        why = [f"the first RST came at {t:.2f} s"]
        if prior:
            why.append(f"answering the peer's retransmission at {prior[-1]:.2f} s")
        if "userspace" in ev and "restored" in ev:
            why.append(f"{t - ev['new kernel']:.2f} s after the new kernel started, "
                       f"{ev['restored'] - t:.2f} s before the socket was restored")
        w("                 " + ", ".join(why))
w(f"RST at the peer  {len(rsts)} from the DUT in the packet capture while the connections were open"
  + (": at " + ", ".join(f"{t:.2f} s" for t, _ in rsts) if rsts else "")
  + (f"; {len(late_rsts)} after both sides sent FIN (a duplicate ACK for the closed socket)"
     if late_rsts else "")
  + (f"; {len(refused)} refusing a SYN sent before the server listened" if refused else "")
  + (f"; {len(other_rsts)} for other flows" if other_rsts else ""))
if m:
    w(f"records          sent {sent}, echoed {echoed}; lost {lost}, duplicated/reordered {dup}, corrupt {bad}"
      f" ({lost * 64} bytes lost, {dup * 64} duplicated)"
      + ("" if kept else f"; {sent - echoed} records ({(sent - echoed) * 64} bytes) never came back"))
# The agent says how the sockets were saved (luo_tcp_agent: dump=repair|kernel).
s1 = open(res + "/stage1.ktap").read() if os.path.exists(res + "/stage1.ktap") else ""
how = ("sockets preserved in the LUO session, saved by the kernel at the reboot"
       if "# agent: dump=kernel" in s1 else "repair-mode dump, LUO session")
w(f"dump time        {f(dump)} (server frozen at {f(ev.get('frozen'))} -> stage 1 end: {how})")
w(f"kexec time       {f(kexec)} (stage 1 end at {f(ev.get('kexec'))} -> stage 2 userspace at {f(ev.get('userspace'))})")
w(f"restore time     {f(restore)} (stage 2 userspace -> socket restored, incl. the demo's "
  f"'rest of userspace boots' delay)")
if "window open" in ev and "window closed" in ev:
    w(f"restore window   {ev['window closed'] - ev['window open']:.2f} s, opened at boot "
      f"({f(ev['window open'])}), closed: {rep.get('close_log', '?')} -> state {rep.get('window', '?')}")
else:
    w(f"restore window   state {rep.get('window', '?')}, {rep.get('close_log', 'no close logged')}")
w(f"suppressor       TCPLiveUpdateRstSuppressed {rep.get('suppressed', '?')}, Tcp OutRsts {rep.get('outrsts', '?')} (DUT, new kernel)")
if not kept:
    stall_s = None
    w("stall            n/a: the connection did not survive")
if stall_s is not None:
    w(f"stall            {stall_s:.2f} s: the longest a record took to come back "
      f"(sent at {stall[0]:.2f} s, echoed at {stall[1]:.2f} s)"
      + (f"; longest time without any echo {gap[1] - gap[0]:.2f} s" if gap else ""))
    if stalls and len(stalls) >= 6:
        w(f"                 per connection: median {float(stalls[3]):.2f} s, max "
          f"{float(stalls[5]):.2f} s over {stalls[1]} connections")
if kexec and restore and stall_s is not None:
    w(f"                 stall / (kexec + restore) = {stall_s / (kexec + restore):.2f}")
if outage and stall_s is not None:
    w(f"                 stall / outage = {stall_s / outage[0]:.2f}, the outage being the DUT's "
      f"silence at the peer: {outage[0]:.2f} s, from {outage[1] - t0:.2f} to {outage[2] - t0:.2f} s")
    if recovery is not None:
        w(f"                 = {lead:.2f} (records in flight at the freeze) + dump {dump:.2f} + kexec "
          f"{kexec:.2f} + restore {restore:.2f} + {recovery:.2f} from the restore to the echo")
    if rto:
        lim = dump + kexec + restore + rto
        w(f"                 target stall <= kexec + restore + one peer RTO ({rto:.2f} s), plus the "
          f"dump = {lim:.2f} s: " + ("met" if stall_s <= lim else
                                     f"NOT met, by {stall_s - lim:.2f} s"))
    if rto and recovery is not None:
        w(f"                 after the restore, the stream flowed again within one peer RTO "
          f"(+{RTT_SLACK:.1f} s for the echo's round trip): "
          + ("met" if recovery <= rto + RTT_SLACK else "NOT met"))
if tcp_stall is not None and flow_outage and rtt is not None:
    w(f"TCP stall        {tcp_stall:.2f} s: from the peer's first transmission of the segment "
      f"the stall began with to the DUT's first ACK past it; the DUT's silence on this "
      f"connection {flow_outage:.2f} s, the peer's RTT before the update {rtt * 1000:.1f} ms")
    w(f"                 TCP stall / outage = {tcp_stall / flow_outage:.2f}; the ACK came "
      f"{resume * 1000:.1f} ms after the DUT's first segment; target <= 2 RTT: "
      + ("met" if hold_met else "NOT met"))
if inside:
    w("peer retransmits " + ", ".join(f"{t:.2f}" for t in inside) + " s (exponential backoff"
      + (f", capped at {rto_max} ms by TCP_RTO_MAX_MS" if rto_max else "")
      + (f"; the one at {after[0]:.2f} s came back: the socket was restored)" if after else ")"))
w("timeline (s)     " + ", ".join(f"{k} {v:.2f}" for k, v in sorted(ev.items(), key=lambda kv: kv[1])))
w("peer checks      " + "; ".join(ktap))
open(f"{res}/report.txt", "w").write("\n".join(out) + "\n")
print("\n".join(out))

with open(f"{res}/timeline.dat", "w") as fh:
    for t, s, e in d:
        fh.write(f"{t} {s / 1024:.3f} {e / 1024:.3f}\n")
ymax = max([max(s, e) for _, s, e in d] + [1]) / 1024 * 1.15
with open(f"{res}/timeline.gp", "w") as g:
    g.write(f"""set terminal pngcairo size 1100,500 font ',10'
set output '{res}/timeline.png'
set title "{title}: {'connection kept' if kept else 'connection reset'}" noenhanced
set xlabel 'time since the connection was established (s)'
set ylabel 'KiB at the peer'
set key bottom right
set grid
set yrange [0:{ymax:.1f}]
set xrange [0:*]
""")
    colors = {"frozen": "#888888", "kexec": "#cc0000", "new kernel": "#cc6600",
              "window open": "#0066cc", "userspace": "#996600", "restored": "#009900",
              "window closed": "#6600cc"}
    for i, (k, v) in enumerate(sorted(ev.items(), key=lambda kv: kv[1])):
        g.write(f"set arrow from {v},0 to {v},{ymax:.1f} nohead lc rgb '{colors.get(k, '#000000')}' dt 2\n")
        g.write(f"set label '{k}' at {v},{ymax * (0.96 - 0.05 * (i % 6)):.1f} left offset 0.3,0 "
                f"tc rgb '{colors.get(k, '#000000')}'\n")
    for t, _ in rsts:
        g.write(f"set arrow from {t},0 to {t},{ymax:.1f} nohead lc rgb 'red' lw 2\n")
        g.write(f"set label 'RST' at {t},{ymax * 0.5:.1f} right offset -0.3,0 tc rgb 'red'\n")
    with open(f"{res}/rexmit.dat", "w") as fh:
        fh.write("".join(f"{t} 0\n" for t in rexmit) or "-1 -1\n")
    g.write(f"plot '{res}/timeline.dat' using 1:3 with lines lw 2 title 'echoed back to the peer', "
            f"'' using 1:2 with lines dt 3 title 'sent by the peer', "
            f"'{res}/rexmit.dat' using 1:2 with points pt 9 ps 1.5 lc rgb '#cc0000' "
            f"title 'peer retransmission (capture)'\n")
PY
[ -n "$summary" ] || gnuplot "$res/timeline.gp" || die "gnuplot failed"
[ -n "$summary" ] || echo "picture: $res/timeline.png"
