#!/bin/sh
# Test demo_freeze (tests.list): the demo's DUT side with a server that waits 200 ms
# between reading records and echoing them, so that the agent's freeze lands between
# the two. No record may be lost: luo_tcp_agent stops the server with SIGTSTP, on
# which lu_stream finishes its echo before it stops itself.
export LU_STREAM_ECHO_DELAY_MS=200
exec /tests/demo_dut.sh "$@"
