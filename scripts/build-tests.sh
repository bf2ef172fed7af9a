#!/usr/bin/env bash
# Build the guest userspace: the liveupdate kselftests and the series' other tests from
# SRC_TREE (static, warnings as errors, against SRC_TREE's uapi headers), and the
# harness' own guest programs.
# Usage: build-tests.sh SRC_TREE OUT_DIR
set -euo pipefail
# shellcheck source=scripts/lib.sh
. "$(dirname "$0")/lib.sh"

src=$(realpath "$1") out=$(realpath -m "$2")
sel=$src/tools/testing/selftests/liveupdate
mkdir -p "$out/bin" "$out/hdr"
make -s -C "$src" O="$out/hdr-build" INSTALL_HDR_PATH="$out/hdr" headers_install

CFLAGS=(-static -O2 -Wall -Wextra -Werror -Wno-unused-parameter -Wno-sign-compare
	-Wno-missing-field-initializers -D_GNU_SOURCE= -isystem "$out/hdr/include")
for c in "$sel"/*.c; do
	name=$(basename "$c" .c)
	[ "$name" = init ] && continue	# upstream's nolibc init, not a test
	gcc "${CFLAGS[@]}" -I "$sel/lib/include" -o "$out/bin/$name" "$c" "$sel"/lib/*.c ||
		die "building selftest $name failed"
done
# Tests of the series that live elsewhere in selftests/.
OTHER_TESTS=(net/tcp_repair_drop.c)
for t in "${OTHER_TESTS[@]}"; do
	gcc "${CFLAGS[@]}" -o "$out/bin/$(basename "$t" .c)" "$src/tools/testing/selftests/$t" ||
		die "building selftest $t failed"
done
# The harness' guest programs may use the liveupdate selftests' library (e.g. the
# demo's agent is built on its luo_tcp.c: one copy of the dump/restore code).
for c in "$TOP"/guest/*.c; do
	gcc "${CFLAGS[@]}" -I "$sel/lib/include" -o "$out/bin/$(basename "$c" .c)" "$c" \
		"$sel"/lib/*.c || die "building guest program $(basename "$c") failed"
done
# Guest shell programs (e.g. the demo's DUT side) run as they are.
for s in "$TOP"/guest/*.sh; do
	install -m 755 "$s" "$out/bin/"
done
