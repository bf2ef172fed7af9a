#!/bin/sh
# Test splat_warning (tests.list), the negative control of the harness' splat scan
# (scripts/splat-scan.sh): the stage itself passes, but it has the kernel splat through
# LKDTM (CONFIG_LKDTM, Documentation/dev-tools/lkdtm.rst), so the test must fail on
# the splat alone. luonet.provoke=NAME picks LKDTM's crash type (default WARNING;
# make check-sanitize: READ_AFTER_FREE for KASAN, ARRAY_BOUNDS for UBSAN).
# shellcheck source=guest/lib.sh
. /tests/lib.sh
what=$(arg provoke)
what=${what:-WARNING}
echo "TAP version 13"
echo "1..1"
direct=/sys/kernel/debug/provoke-crash/DIRECT
if [ ! -w "$direct" ]; then
	echo "not ok 1 provoke $what: no $direct (CONFIG_LKDTM missing?)"
	exit 1
fi
# LKDTM writes its own report to the kernel log; the write fails for a crash type it
# does not know or cannot run on this kernel.
if ! echo "$what" >"$direct"; then
	echo "not ok 1 provoke $what: LKDTM refused it"
	exit 1
fi
echo "ok 1 provoked $what (the splat scan must fail this test)"
