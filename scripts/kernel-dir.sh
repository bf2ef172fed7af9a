#!/usr/bin/env bash
# Make the kernel directory a guest boots from (what scripts/run-test.sh takes): DIR/bzImage,
# the kernel it boots, and DIR/initramfs.cpio (scripts/initramfs.sh), which carries the
# test programs and the kernel its stages kexec into: the same one, or another for a live
# update from one kernel into another (e.g. the base kernel into the series').
# Usage: kernel-dir.sh BOOT_BZIMAGE KEXEC_BZIMAGE DIR   (the programs: build/tests/bin)
set -euo pipefail
# shellcheck source=scripts/lib.sh
. "$(dirname "$0")/lib.sh"

boot=$(realpath "$1") dir=$(realpath -m "$3")
mkdir -p "$dir"
[ "$boot" = "$dir/bzImage" ] || cp "$boot" "$dir/bzImage"
"$TOP/scripts/initramfs.sh" "$2" "$BUILD/tests/bin" "$dir/initramfs.cpio"
