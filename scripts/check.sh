#!/usr/bin/env bash
# The whole suite (make check): static checks, the series applied and built patch by
# patch, every test from tests.list in QEMU guests on the series' kernel, and the
# negative controls (tests marked "fail" in tests.list must fail on the base kernel).
# Ends with "N passed, N failed" (skips counted separately) and exits non-zero on any
# failure.
set -euo pipefail
# shellcheck source=scripts/lib.sh
. "$(dirname "$0")/lib.sh"

only=${T:-}
pass=0 fail=0 skip=0
results=${RESULTS:-$BUILD/results}
summary=()
record() {	# record pass|fail|skip NAME [DETAIL]
	case $1 in
	pass) pass=$((pass + 1)); summary+=("ok - $2${3:+ ($3)}") ;;
	fail) fail=$((fail + 1)); summary+=("not ok - $2${3:+: $3}") ;;
	skip) skip=$((skip + 1)); summary+=("ok - $2 # SKIP ${3:-}") ;;
	esac
	log "${summary[-1]}"
}
step() {	# step NAME CMD...: run a build/check step, record its outcome
	local name=$1 t0 logf
	shift
	t0=$(date +%s)
	logf=$results/steps/$name.log
	mkdir -p "$(dirname "$logf")"
	log "== $name"
	if "$@" >"$logf" 2>&1; then
		record pass "$name" "$(($(date +%s) - t0)) s"
	else
		tail -n 30 "$logf" >&2
		record fail "$name" "see $logf"
		return 1
	fi
}
finish() {
	echo
	echo "== summary"
	printf '%s\n' "${summary[@]}"
	echo "results and guest logs: $results"
	echo "${pass} passed, ${fail} failed, ${skip} skipped"
	[ "$fail" -eq 0 ]
	exit $?
}

t_start=$(date +%s)
"$TOP/scripts/deps.sh"
rm -rf "$results" && mkdir -p "$results"

if [ -z "$only" ]; then
	step shellcheck bash -c "cd '$TOP' && shellcheck -x scripts/*.sh guest/init .ci/run" || true
fi
step series-applies "$TOP/scripts/tree.sh" || finish
if [ -z "$only" ]; then
	step checkpatch-strict "$TOP/scripts/checkpatch.sh" || true
	step build-each-patch "$TOP/scripts/build-series.sh" || finish
else
	step build-kernel "$TOP/scripts/build-series.sh" --last-only || finish
fi
step build-tests "$TOP/scripts/build-tests.sh" "$KTREE" "$BUILD/tests" || finish
kinds=(series)
[ -n "$only" ] || kinds+=(base)
for k in "${kinds[@]}"; do
	step "initramfs-$k" "$TOP/scripts/initramfs.sh" "$BUILD/out/$k/bzImage" \
		"$BUILD/tests/bin" "$BUILD/out/$k/initramfs.cpio" || finish
done

guest_test() {	# guest_test NAME KERNEL EXPECT(pass|fail)
	local name=$1 kind=$2 expect=$3 label res t0 secs got
	label=$name
	[ "$kind" = base ] && label="$name [negative control: base kernel must fail]"
	res=$results/$kind/$name
	t0=$(date +%s)
	if "$TOP/scripts/run-test.sh" "$name" "$BUILD/out/$kind" "$res" 2>/dev/null; then
		got=pass
	else
		got=fail
	fi
	secs=$(($(date +%s) - t0))
	echo "$name $kind $secs" >>"$results/guest-times"
	if [ "$got" = "$expect" ]; then
		if [ "$kind" = base ]; then
			record pass "$label" "failed as expected: $(head -n1 "$res/verdict"); ${secs} s"
		else
			record pass "$label" "${secs} s"
		fi
	elif [ "$kind" = base ]; then
		record fail "$label" "passed on the base kernel: the test cannot see the bug"
	else
		record fail "$label" "$(paste -sd';' "$res/verdict") [logs: $res]"
	fi
}

while read -r name _ _ _ baseline; do
	case $name in ''|'#'*) continue ;; esac
	[ -z "$only" ] || [ "$only" = "$name" ] || continue
	guest_test "$name" series pass
	if [ "$baseline" = fail ] && [ -z "$only" ]; then
		guest_test "$name" base fail
	fi
done < "$TOP/tests.list"
[ -z "$only" ] || [ $((pass + fail)) -gt 0 ] || die "no test named '$only' in tests.list"
log "suite wall time: $(($(date +%s) - t_start)) s"
finish
