#!/bin/sh
# The demo's peer with its retransmission backoff capped at 1 s (TCP_RTO_MAX_MS): with
# the default backoff, whether one of the peer's retransmissions lands between the new
# kernel's NIC coming up and the restore is luck (the gaps between them grow to several
# seconds), so the suppressor may have nothing to do and the suppressor-off run may
# survive; capped, a retransmission lands there every time, in both runs.
LU_STREAM_RTO_MAX_MS=1000 exec /tests/lu_stream "$@"
