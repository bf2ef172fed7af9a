#!/bin/sh
# The peer of test luo_flood (guest/flood_dut.sh): the demo's peer (lu_stream, its
# backoff capped), and guest/ackflood serving one flood, when the DUT asks for it.
/tests/ackflood serve >/tmp/flood.log 2>&1 &
/tests/lu_stream_capped.sh "$@"
rc=$?
sed 's/^/# flooder: /' /tmp/flood.log
exit $rc
