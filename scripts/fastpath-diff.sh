#!/usr/bin/env bash
# Compare the machine code of tcp_rcv_established() in two vmlinux images.
# Addresses, jump offsets, rip-relative displacements and absolute addresses of
# kernel data (which move when anything is added to the image) are masked; the comparison is
# of the multiset of instructions, modulo register allocation, so that blocks the
# compiler merely moved or recoloured do not count. What the series adds to the
# function, and what it removes from it, are printed instruction by instruction:
# a series that leaves the fast path alone adds only its slow-path test.
# Usage: fastpath-diff.sh BASE_VMLINUX SERIES_VMLINUX [OUT_DIR]
set -euo pipefail
# shellcheck source=scripts/lib.sh
. "$(dirname "$0")/lib.sh"

out=${3:-$(dirname "$2")}
disasm() {
	objdump -d --no-show-raw-insn --disassemble=tcp_rcv_established "$1" |
		sed -n '/<tcp_rcv_established>:$/,/^$/p' | sed 1d |
		sed -E 's/^ *[0-9a-f]+:\t//; s/[0-9a-f]{16} </</; s/<([a-z_0-9.]+)\+0x[0-9a-f]+>/<\1+OFF>/g
			s/-?0x[0-9a-f]+\(%rip\)/DISP(%rip)/g; s/-0x7[0-9a-f]{7}\(/ADDR(/g
			s/ +$//; /^$/d'
}
regs() { sed -E 's/%(r[0-9]+[dwb]?|[re]?[abcd]x|[abcd]l|[re]?[sd]il?|[re]?[sb]pl?)\b/%REG/g'; }
for k in base series; do
	f=$1
	[ "$k" = series ] && f=$2
	disasm "$f" >"$out/tcp_rcv_established.$k.s"
done
diff -U2 "$out/tcp_rcv_established.base.s" "$out/tcp_rcv_established.series.s" \
	>"$out/tcp_rcv_established.diff" || true

echo "== tcp_rcv_established(): base $(wc -l <"$out/tcp_rcv_established.base.s") instructions, series $(wc -l <"$out/tcp_rcv_established.series.s")"
echo "   (full normalized diff: $out/tcp_rcv_established.diff)"
regs <"$out/tcp_rcv_established.base.s" | sort >"$out/base.multiset"
regs <"$out/tcp_rcv_established.series.s" | sort >"$out/series.multiset"
echo "instructions the series adds (modulo registers):"
comm -13 "$out/base.multiset" "$out/series.multiset" | sed 's/^/  + /'
echo "instructions the series removes or changes (modulo registers):"
comm -23 "$out/base.multiset" "$out/series.multiset" | sed 's/^/  - /'
echo "added: $(comm -13 "$out/base.multiset" "$out/series.multiset" | wc -l), removed: $(comm -23 "$out/base.multiset" "$out/series.multiset" | wc -l)"
