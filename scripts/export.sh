#!/usr/bin/env bash
# Export the commits of build/linux on top of its base commit to patches/, split into
# the submissions that patches/series lists (the first PATCHES commits to the first one,
# and so on). The files share one numbering, in the order `git am` applies them; each
# file's subject is numbered within its submission and carries its subject prefix.
# Each submission's cover letter (patches/0000-NAME-cover-letter.patch) is hand-written
# down to its shortlog; its subject's count, the shortlog and the diffstat are
# regenerated. Deterministic: re-exporting an unchanged tree changes no byte.
set -euo pipefail
# shellcheck source=scripts/lib.sh
. "$(dirname "$0")/lib.sh"

[ -z "$(git -C "$KTREE" status --porcelain --untracked-files=no)" ] ||
	die "$KTREE has uncommitted changes: commit them first"
base=$(git -C "$KTREE" rev-list --max-parents=0 HEAD)
mapfile -t commits < <(git -C "$KTREE" rev-list --reverse "$base..HEAD")
[ ${#commits[@]} -gt 0 ] || die "no commits on the base"
want=$(series_list | awk '{ n += $2 } END { print n + 0 }')
[ "$want" -eq ${#commits[@]} ] ||
	die "build/linux has ${#commits[@]} commits on its base, patches/series places $want: update its counts"

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
series_patches | xargs -r rm -f
from=$base
i=0
while read -r name n prefix; do
	to=${commits[$((i + n - 1))]}
	git -C "$KTREE" -c core.abbrev=12 format-patch -q --zero-commit --no-signature \
		--cover-letter --numbered --subject-prefix="$prefix" -o "$tmp/$name" "$from..$to"
	gen=$tmp/$name/0000-cover-letter.patch
	cover=$TOP/patches/0000-$name-cover-letter.patch
	if [ -f "$cover" ]; then
		# The hand-written part ends where the shortlog ("Author (N):") begins.
		awk '/^[^ ].* \([0-9]+\):$/ { exit } { print }' "$cover" >"$tmp/head"
		sed -i -E "s|^Subject: \[[^]]* [0-9]+/[0-9]+\]|Subject: [$prefix 0/$n]|" "$tmp/head"
		sed -n '/^\*\*\* BLURB HERE \*\*\*$/,$p' "$gen" | sed '1,2d' >"$tmp/tail"
		cat "$tmp/head" "$tmp/tail" >"$cover"
	else
		cp "$gen" "$cover"
		log "patches/0000-$name-cover-letter.patch: new, from git format-patch: write its text"
	fi
	rm "$gen"
	for f in "$tmp/$name"/*.patch; do
		f=${f##*/}
		cp "$tmp/$name/$f" "$TOP/patches/$(printf '%04d' $((i + 10#${f%%-*})))-${f#*-}"
	done
	log "exported $n patches of $name ($prefix) as patches/$(printf '%04d' $((i + 1)))..$(printf '%04d' $((i + n)))"
	i=$((i + n))
	from=$to
done < <(series_list)
