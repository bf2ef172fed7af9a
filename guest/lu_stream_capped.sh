#!/bin/sh
# The demo's peer with its retransmission backoff capped at 1 s (TCP_RTO_MAX_MS), for
# the demo_off negative control: with the default backoff, whether one of the peer's
# retransmissions lands between the new kernel's NIC coming up and the restore is
# luck (the gaps between them grow to several seconds); capped, one does, every time.
LU_STREAM_RTO_MAX_MS=1000 exec /tests/lu_stream "$@"
