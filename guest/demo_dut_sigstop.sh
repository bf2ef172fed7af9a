#!/bin/sh
# Test demo_freeze_sigstop (tests.list), the negative control of demo_freeze
# (guest/demo_dut_freeze.sh): the agent freezes the server with SIGSTOP at once, and the
# records the server had read but not echoed yet are lost with its memory.
export LUO_TCP_AGENT_FREEZE=SIGSTOP
exec /tests/demo_dut_freeze.sh "$@"
