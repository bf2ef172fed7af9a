#!/bin/sh
# Test update_first_nolock (tests.list), the negative control of update_first: the first
# live update from the base kernel onto the series, with the agent's network lock off.
# The base kernel keeps ACKing what the saved sockets receive after the dump, so the
# restored connections are behind their peers and never move again.
export LUO_TCP_AGENT_LOCK=none
exec /tests/demo_dut.sh "$@"
