#!/bin/sh
# The demo's peer with its retransmission backoff capped at 1 s (TCP_RTO_MAX_MS): with
# the default backoff, whether one of the peer's retransmissions lands between the new
# kernel's NIC coming up and the restore is luck (the gaps between them grow to several
# seconds), so the suppressor may have nothing to do and the suppressor-off run may
# survive; capped, a retransmission lands there every time, in both runs.
# luonet.peer=default on the kernel command line (make demo PEER=default): Linux's
# default backoff after all, to measure what it costs.
if tr ' ' '\n' </proc/cmdline | grep -qx 'luonet.peer=default'; then
	exec /tests/lu_stream "$@"
fi
LU_STREAM_RTO_MAX_MS=1000 exec /tests/lu_stream "$@"
