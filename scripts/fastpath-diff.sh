#!/usr/bin/env bash
# Compare the disassembly of tcp_rcv_established() in two vmlinux images, addresses and
# jump offsets normalized away, and print the diff. The series must only add the
# slow-path repair test: no line of the base kernel's function may change or go.
# Usage: fastpath-diff.sh BASE_VMLINUX SERIES_VMLINUX [OUT_DIR]
set -euo pipefail
# shellcheck source=scripts/lib.sh
. "$(dirname "$0")/lib.sh"

out=${3:-$(dirname "$2")}
norm() {
	objdump -d --no-show-raw-insn --disassemble=tcp_rcv_established "$1" |
		sed -n '/<tcp_rcv_established>:$/,/^$/p' | sed 1d |
		sed -E 's/^ *[0-9a-f]+:\t//; s/[0-9a-f]{16} </</; s/<([a-z_0-9.]+)\+0x[0-9a-f]+>/<\1+OFF>/g' |
		sed -E 's/ +$//; /^$/d'
}
norm "$1" >"$out/tcp_rcv_established.base.s"
norm "$2" >"$out/tcp_rcv_established.series.s"
echo "== tcp_rcv_established(): base $(wc -l <"$out/tcp_rcv_established.base.s") instructions, series $(wc -l <"$out/tcp_rcv_established.series.s")"
diff -U2 "$out/tcp_rcv_established.base.s" "$out/tcp_rcv_established.series.s" >"$out/tcp_rcv_established.diff" || true
removed=$(grep -c '^-[^-]' "$out/tcp_rcv_established.diff" || true)
added=$(grep -c '^+[^+]' "$out/tcp_rcv_established.diff" || true)
cat "$out/tcp_rcv_established.diff"
echo "base instructions changed or removed: $removed; instructions added: $added"
