#!/usr/bin/env bash
# Export the commits of build/linux on top of its base commit to patches/, replacing
# the numbered patches there and keeping the hand-written cover letter
# (patches/0000-cover-letter.patch). Deterministic: re-exporting an unchanged tree
# changes no byte.
set -euo pipefail
# shellcheck source=scripts/lib.sh
. "$(dirname "$0")/lib.sh"

[ -z "$(git -C "$KTREE" status --porcelain --untracked-files=no)" ] ||
	die "$KTREE has uncommitted changes: commit them first"
base=$(git -C "$KTREE" rev-list --max-parents=0 HEAD)
[ "$(git -C "$KTREE" rev-list --count "$base..HEAD")" -gt 0 ] || die "no commits on the base"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
git -C "$KTREE" -c core.abbrev=12 format-patch -q --zero-commit --no-signature \
	--no-cover-letter --numbered -o "$tmp" "$base..HEAD"
find "$TOP/patches" -maxdepth 1 -name '[0-9][0-9][0-9][0-9]-*.patch' ! -name '0000-*' -delete
cp "$tmp"/*.patch "$TOP/patches/"
n=$(find "$tmp" -name '*.patch' | wc -l)
cover=$TOP/patches/0000-cover-letter.patch
if [ -f "$cover" ]; then
	sed -i -E "s|^Subject: \[PATCH [0-9]+/[0-9]+\]|Subject: [PATCH 0/$n]|" "$cover"
fi
log "exported $n patches to patches/"
