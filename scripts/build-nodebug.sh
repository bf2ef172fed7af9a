#!/usr/bin/env bash
# Build kernels without the test kernels' debug options (configs/bench.config on top
# of configs/luo-net.config: no lockdep, no atomic-sleep or preempt checks, its own
# LOCALVERSION): the kernels make bench and make bench-restore measure, and the
# "different build" of make update-matrix. Each from its own worktree of build/linux,
# incrementally, with ccache.
# Usage: build-nodebug.sh KIND...   KIND: base (the base commit) or series (HEAD)
# Output: build/bench/KIND/bzImage (build/bench/kernel-KIND: the build directory)
set -euo pipefail
# shellcheck source=scripts/lib.sh
. "$(dirname "$0")/lib.sh"

bench=$BUILD/bench
for k in "$@"; do
	case $k in
	base) rev=$(git -C "$KTREE" rev-list --max-parents=0 HEAD) ;;
	series) rev=$(git -C "$KTREE" rev-parse HEAD) ;;
	*) die "build-nodebug.sh: KIND is base or series, not '$k'" ;;
	esac
	worktree_at "$bench/src-$k" "$rev"
	log "building the $k kernel (non-debug)"
	CONFIG_EXTRA=$TOP/configs/bench.config "$TOP/scripts/kmake.sh" "$bench/src-$k" \
		"$bench/kernel-$k" vmlinux
	mkdir -p "$bench/$k"
	cp "$bench/kernel-$k/arch/x86/boot/bzImage" "$bench/$k/bzImage"
done
