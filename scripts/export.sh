#!/usr/bin/env bash
# Export the commits of build/linux on top of its base commit to patches/, split into
# the submissions that patches/series lists (the first PATCHES commits to the first
# directory, and so on), each numbered from 1 with its subject prefix. Each
# directory's cover letter (0000-cover-letter.patch) is hand-written down to its
# shortlog; the subject's count, the shortlog and the diffstat are regenerated.
# Deterministic: re-exporting an unchanged tree changes no byte.
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
from=$base
i=0
while read -r dir n prefix; do
	to=${commits[$((i + n - 1))]}
	i=$((i + n))
	git -C "$KTREE" -c core.abbrev=12 format-patch -q --zero-commit --no-signature \
		--cover-letter --numbered --subject-prefix="$prefix" -o "$tmp/$dir" "$from..$to"
	mkdir -p "$TOP/patches/$dir"
	find "$TOP/patches/$dir" -maxdepth 1 -name '[0-9][0-9][0-9][0-9]-*.patch' ! -name '0000-*' -delete
	gen=$tmp/$dir/0000-cover-letter.patch
	cover=$TOP/patches/$dir/0000-cover-letter.patch
	if [ -f "$cover" ]; then
		# The hand-written part ends where the shortlog ("Author (N):") begins.
		awk '/^[^ ].* \([0-9]+\):$/ { exit } { print }' "$cover" >"$tmp/head"
		sed -i -E "s|^Subject: \[[^]]* [0-9]+/[0-9]+\]|Subject: [$prefix 0/$n]|" "$tmp/head"
		sed -n '/^\*\*\* BLURB HERE \*\*\*$/,$p' "$gen" | sed '1,2d' >"$tmp/tail"
		cat "$tmp/head" "$tmp/tail" >"$cover"
	else
		cp "$gen" "$cover"
		log "patches/$dir: new cover letter from git format-patch, write its text"
	fi
	rm "$gen"
	cp "$tmp/$dir"/*.patch "$TOP/patches/$dir/"
	log "exported $n patches to patches/$dir ($prefix)"
	from=$to
done < <(series_list)
