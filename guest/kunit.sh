#!/bin/sh
# Test tcp_luo_kunit (tests.list): runs a KUnit suite through debugfs after boot (the
# test kernels run none at boot: CONFIG_KUNIT_AUTORUN_ENABLED is off) and reports it
# as one TAP result, the suite's own KTAP log as comments. luonet.kunit=SUITE picks the
# suite (default tcp_luo, net/ipv4/tcp_luo_test.c).
# shellcheck source=guest/lib.sh
. /tests/lib.sh
suite=$(arg kunit)
suite=${suite:-tcp_luo}
dir=/sys/kernel/debug/kunit/$suite
echo "TAP version 13"
echo "1..1"
if [ ! -w "$dir/run" ]; then
	echo "not ok 1 KUnit suite $suite: no $dir/run (CONFIG_KUNIT_DEBUGFS, or no such suite)"
	exit 1
fi
echo run >"$dir/run"
results=$(cat "$dir/results")
printf '%s\n' "$results" | sed 's/^/# /'
# The suite's line closes its log: "ok 1 SUITE" or "not ok 1 SUITE", unindented.
if printf '%s\n' "$results" | grep -qx "ok 1 $suite"; then
	echo "ok 1 KUnit suite $suite"
	exit 0
fi
failed=$(printf '%s\n' "$results" | sed -n 's/^ *not ok [0-9]* \(.*\)/\1/p' | tr '\n' ',')
echo "not ok 1 KUnit suite $suite: ${failed:-no result}"
exit 1
