#!/usr/bin/env bash
# Build a guest initramfs: busybox, dash, kexec-tools' kexec, iproute2's ip and nftables' nft (with
# the libraries they need), the test binaries, guest/init and the kernel to kexec into.
# Usage: initramfs.sh BZIMAGE BIN_DIR OUT.cpio
# Optional, for guests that need more host software (e.g. make demo-criu); unset, the
# initramfs is the default one:
#   EXTRA_EXES='NAME|PATH ...'  more executables, copied into /bin under their base name
#                               (a NAME is looked up in PATH, /usr/sbin and /sbin)
#   EXTRA_FILES='PATH ...'      files or directories copied to the same path in the guest
#                               (e.g. plugins that are dlopen'ed, which ldd does not list)
#   Both get the libraries ldd lists for them (for a directory: for every file in it).
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
copy_libs() {	# copy_libs FILE: the libraries (and loader) FILE needs, if any
	local lib
	for lib in $(ldd "$1" 2>/dev/null | grep -o '/[^ ]*'); do
		mkdir -p "$root$(dirname "$lib")"
		cp -L "$lib" "$root$lib"
	done
}
# shellcheck disable=SC2206 # EXTRA_EXES is a list of words
exes=(dash kexec ip nft ${EXTRA_EXES:-})
for exe in "${exes[@]}"; do
	real=$(PATH=$PATH:/usr/sbin:/sbin command -v "$exe") || die "$exe not installed"
	cp "$real" "$root/bin/$(basename "$exe")"
	copy_libs "$real"
done
for extra in ${EXTRA_FILES:-}; do
	[ -e "$extra" ] || die "EXTRA_FILES: $extra does not exist"
	extra=$(realpath "$extra")
	mkdir -p "$root$(dirname "$extra")"
	cp -a "$extra" "$root$extra"
	while read -r f; do copy_libs "$f"; done < <(find "$extra" -type f)
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
