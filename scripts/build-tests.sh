#!/usr/bin/env bash
# Build the guest userspace: the liveupdate kselftests and the series' other tests from
# SRC_TREE through the kselftest Makefiles, and the harness' own guest programs.
# Usage: build-tests.sh SRC_TREE OUT_DIR
set -euo pipefail
# shellcheck source=scripts/lib.sh
. "$(dirname "$0")/lib.sh"

src=$(realpath "$1") out=$(realpath -m "$2")
sel=$src/tools/testing/selftests/liveupdate
mkdir -p "$out/bin" "$out/hdr"
make -s -C "$src" O="$out/hdr-build" INSTALL_HDR_PATH="$out/hdr" headers_install

# The series' selftests are built the way upstream builds them: the liveupdate
# directory through its kselftest Makefile, tcp_repair_drop through
# selftests/net's Makefile (just that target). Static (the guests' initramfs has
# no libc of its own), warnings as errors, against SRC_TREE's uapi headers.
kst=$out/kselftest
rm -rf "$kst" && mkdir -p "$kst/liveupdate" "$kst/net"
ksel() {	# ksel DIR [TARGET...]: one selftests directory, output in $kst/DIR
	local dir=$1
	shift
	CFLAGS=-Werror LDFLAGS=-static make -s -C "$src/tools/testing/selftests/$dir" \
		OUTPUT="$kst/$dir" KHDR_INCLUDES="-isystem $out/hdr/include" "$@" ||
		die "building selftests/$dir ${*:-(all)} failed"
}
ksel liveupdate
ksel net "$kst/net/tcp_repair_drop"
find "$kst/liveupdate" "$kst/net" -maxdepth 1 -type f -executable -exec cp {} "$out/bin/" \;

CFLAGS=(-static -O2 -Wall -Wextra -Werror -Wno-unused-parameter -Wno-sign-compare
	-Wno-missing-field-initializers -D_GNU_SOURCE= -isystem "$out/hdr/include")
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
