#!/bin/sh
# The demo's peer with its retransmission backoff capped at 1 s (TCP_RTO_MAX_MS): with
# the default backoff, whether one of the peer's retransmissions lands between the new
# kernel's NIC coming up and the restore is luck (the gaps between them grow to several
# seconds), so the suppressor may have nothing to do and the suppressor-off run may
# survive; capped, a retransmission lands there every time, in both runs.
# luonet.rto_max_ms on the kernel command line wins over this (make demo PEER=default:
# 0, Linux's default backoff after all, to measure what it costs).
LU_STREAM_RTO_MAX_MS=1000 exec /tests/lu_stream "$@"
