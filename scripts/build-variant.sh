#!/usr/bin/env bash
# Build the kernels with another configuration than the test kernels', on top of
# configs/luo-net.config, each from its own worktree of build/linux, incrementally,
# with ccache:
#   bench      configs/bench.config: no lockdep, no atomic-sleep or preempt checks (what
#              make bench and make bench-restore measure, and the "different build" of
#              make update-matrix)
#   sanitize   configs/sanitize.config: KASAN, UBSAN, kmemleak on top of the test
#              kernels' lockdep and atomic-sleep checks (make check-sanitize)
# Usage: build-variant.sh VARIANT KIND...   KIND: base (the base commit) or series (HEAD)
# Output: build/VARIANT/KIND/bzImage (build/VARIANT/kernel-KIND: the build directory)
set -euo pipefail
# shellcheck source=scripts/lib.sh
. "$(dirname "$0")/lib.sh"

variant=${1:-}
case $variant in
bench|sanitize) shift ;;
*) die "build-variant.sh: VARIANT is bench or sanitize, not '$variant'" ;;
esac
dir=$BUILD/$variant
for k in "$@"; do
	case $k in
	base) rev=$(git -C "$KTREE" rev-list --max-parents=0 HEAD) ;;
	series) rev=$(git -C "$KTREE" rev-parse HEAD) ;;
	*) die "build-variant.sh: KIND is base or series, not '$k'" ;;
	esac
	worktree_at "$dir/src-$k" "$rev"
	log "building the $k kernel ($variant)"
	CONFIG_EXTRA=$TOP/configs/$variant.config "$TOP/scripts/kmake.sh" "$dir/src-$k" \
		"$dir/kernel-$k" vmlinux
	mkdir -p "$dir/$k"
	cp "$dir/kernel-$k/arch/x86/boot/bzImage" "$dir/$k/bzImage"
done
