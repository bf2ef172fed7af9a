#!/usr/bin/env bash
# Build a guest initramfs: busybox, dash, kexec-tools' kexec, iproute2's ip and nftables' nft (with
# the libraries they need), the test binaries, guest/init and the kernel to kexec into.
# Usage: initramfs.sh BZIMAGE BIN_DIR OUT.cpio
set -euo pipefail
# shellcheck source=scripts/lib.sh
. "$(dirname "$0")/lib.sh"

kernel=$(realpath "$1") bins=$(realpath "$2") out=$(realpath -m "$3")
root=$(mktemp -d "${TMPDIR:-/tmp}/luo-net-initramfs.XXXXXX")
trap 'rm -rf "$root"' EXIT

mkdir -p "$root"/{bin,sbin,usr/bin,usr/sbin,proc,sys,dev,tmp,run,boot,tests,etc}

# Debian's dash as /bin/sh (busybox's shell would run its own applets, e.g. a
# netns-less "ip", even when iproute2's is first in PATH), kexec-tools' kexec and
# iproute2's ip, with their loader and libraries.
for exe in dash kexec ip nft; do
	real=$(PATH=$PATH:/usr/sbin:/sbin command -v "$exe") || die "$exe not installed"
	cp "$real" "$root/bin/$exe"
	for lib in $(ldd "$real" | grep -o '/[^ ]*'); do
		mkdir -p "$root$(dirname "$lib")"
		cp -L "$lib" "$root$lib"
	done
done
ln -s dash "$root/bin/sh"
cp /bin/busybox "$root/bin/busybox"
for applet in $("$root/bin/busybox" --list); do
	[ -e "$root/bin/$applet" ] || ln -s busybox "$root/bin/$applet"
done

cp "$TOP/guest/init" "$root/init"
chmod 755 "$root/init"
cp "$bins"/* "$root/tests/"
cp "$kernel" "$root/boot/bzImage"
(cd "$root" && find . | LC_ALL=C sort | cpio --quiet -o -H newc --reproducible) >"$out.tmp"
mv "$out.tmp" "$out"
