#!/usr/bin/env bash
# An initramfs for the CRIU tests (tests.list's "root" column "criu"): a guest initramfs
# (scripts/initramfs.sh) with the CRIU root of scripts/fetch-criu.sh (Debian's criu
# 4.2.1, iperf3, iptables and their libraries) appended as /criu-root, a second cpio
# archive: the kernel unpacks concatenated archives in turn. guest/init leaves the
# initramfs to the next kernel (retain_initrd), so the root is byte-identical on both
# sides of a kexec.
# Usage: criu-initramfs.sh IN.cpio OUT.cpio
set -euo pipefail
# shellcheck source=scripts/lib.sh
. "$(dirname "$0")/lib.sh"

[ $# -eq 2 ] || die "usage: criu-initramfs.sh IN.cpio OUT.cpio"
in=$(realpath "$1") out=$(realpath -m "$2")
[ -s "$in" ] || die "no initramfs $in"
root=$("$TOP/scripts/fetch-criu.sh")
[ -x "$root/usr/sbin/criu" ] || die "no criu in $root"
stage=$(mktemp -d "${TMPDIR:-/tmp}/luo-net-criu.XXXXXX")
trap 'rm -rf "$stage"' EXIT
cp -a "$root" "$stage/criu-root"
{
	cat "$in"
	(cd "$stage" && find criu-root | LC_ALL=C sort |
		cpio --quiet -o -H newc -R 0:0 --reproducible)
} >"$out.tmp"
mv "$out.tmp" "$out"
log "$out: $(du -m "$out" | cut -f1) MB (criu $("$root/usr/lib64/ld-linux-x86-64.so.2" \
	--library-path "$root/usr/lib/x86_64-linux-gnu" "$root/usr/sbin/criu" --version |
	sed -n 's/^Version: //p') in /criu-root)"
