#!/bin/sh
# The peer of test luo_flood (guest/flood_dut.sh): the demo's peer (lu_stream, its
# backoff capped), and guest/ackflood serving one flood, when the DUT asks for it.
/tests/ackflood serve >/tmp/flood.log 2>&1 &
flooder=$!
/tests/lu_stream_capped.sh "$@"
rc=$?
# A flood under way (the streams may have ended first, reset: the control) ends and
# is answered: at most 300 s. One never asked for is not waited for.
i=0
while grep -q 'flooding' /tmp/flood.log && kill -0 "$flooder" 2>/dev/null && [ $i -lt 3000 ]; do
	i=$((i + 1))
	sleep 0.1
done
kill "$flooder" 2>/dev/null
sed 's/^/# flooder: /' /tmp/flood.log
exit $rc
