#!/usr/bin/env bash
# Build every step of the series the way a bisecting maintainer would: the base kernel,
# then each patch on top of the previous one, incrementally in one output directory so
# that ccache and make keep the cost of a step to what the patch touches. Saves the
# base kernel (for negative controls) and the full series' kernel.
# Usage: build-series.sh [--last-only]
# Output: build/out/base/bzImage, build/out/series/bzImage, build/out/series.commit
set -euo pipefail
# shellcheck source=scripts/lib.sh
. "$(dirname "$0")/lib.sh"

src=$BUILD/src		# a worktree of build/linux, detached, used only by this script
kout=$BUILD/kernel
out=$BUILD/out
mkdir -p "$out/base" "$out/series"

base=$(git -C "$KTREE" rev-list --max-parents=0 HEAD)
head=$(git -C "$KTREE" rev-parse HEAD)

commits=$(git -C "$KTREE" rev-list --reverse "$base..$head")
steps=("$base")
if [ "${1:-}" = --last-only ]; then
	steps=("$head")
else
	for c in $commits; do steps+=("$c"); done
fi

total=$((${#steps[@]} - 1))
n=0
for c in "${steps[@]}"; do
	subject=$(git -C "$KTREE" log -1 --format=%s "$c")
	worktree_at "$src" "$c"
	t0=$(date +%s)
	if [ "$c" = "$base" ]; then what="base"; else what="patch $n/$total"; fi
	log "building $what: $subject"
	"$TOP/scripts/kmake.sh" "$src" "$kout" ||
		die "build failed at $what: $subject ($c)"
	log "built $what in $(($(date +%s) - t0)) s"
	[ "$c" = "$base" ] && cp "$kout/arch/x86/boot/bzImage" "$out/base/bzImage"
	n=$((n + 1))
done
cp "$kout/arch/x86/boot/bzImage" "$out/series/bzImage"
echo "$head" >"$out/series.commit"
