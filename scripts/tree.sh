#!/usr/bin/env bash
# Materialize build/linux: a git tree with one base commit (Debian's linux-source-7.3, or
# the user's own tree given as LINUX_SRC=/path) and the patches of patches/ (the
# submissions that patches/series lists, numbered in order) applied on top with
# `git am`. An existing tree is left alone when it already carries exactly the series;
# a tree with work that is not exported to patches/ is never overwritten.
#
# With --base-only the tree is left at the base commit (used for negative controls).
set -euo pipefail
# shellcheck source=scripts/lib.sh
. "$(dirname "$0")/lib.sh"

tree=$KTREE
apply=1
case "${1:-}" in
--base-only) apply=0; tree=${2:-$BUILD/linux-base} ;;
"") ;;
*) die "usage: $0 [--base-only [DIR]]" ;;
esac

GIT=(git -c user.name=luo-net -c user.email=luo-net@invalid -c commit.gpgsign=false)

if [ -d "$tree/.git" ]; then
	base=$(git -C "$tree" rev-list --max-parents=0 HEAD)
	if [ $apply -eq 0 ]; then
		[ "$(git -C "$tree" rev-parse HEAD)" = "$base" ] ||
			die "$tree is expected to be at its base commit"
		exit 0
	fi
	# Same series as patches/? Compare the patch ids, which ignore hashes and dates.
	have=$(git -C "$tree" log --reverse -p "$base..HEAD" | git patch-id --stable | awk '{print $1}')
	want=$(series_patches | xargs -r cat | git patch-id --stable | awk '{print $1}')
	if [ "$have" = "$want" ]; then
		exit 0
	fi
	if [ -n "$(git -C "$tree" status --porcelain --untracked-files=no)" ]; then
		die "$tree has uncommitted changes; commit and run scripts/export.sh, or remove the tree"
	fi
	if [ -z "${FORCE:-}" ] && [ "$(git -C "$tree" rev-list --count "$base..HEAD")" -gt 0 ]; then
		die "$tree carries commits that differ from patches/; export them (scripts/export.sh) or rerun with FORCE=1 to reset the tree to patches/"
	fi
	log "re-applying patches/ on the base of $tree"
	"${GIT[@]}" -C "$tree" reset -q --hard "$base"
else
	rm -rf "$tree.tmp"
	mkdir -p "$tree.tmp"
	if [ -n "${LINUX_SRC:-}" ]; then
		if [ ! -f "$LINUX_SRC/Makefile" ] || [ ! -d "$LINUX_SRC/kernel/liveupdate" ]; then
			die "LINUX_SRC=$LINUX_SRC does not look like a Linux 7.3.y tree"
		fi
		log "copying base tree from $LINUX_SRC"
		rsync -a --exclude=.git "$LINUX_SRC/" "$tree.tmp/"
	else
		tarball=$("$TOP/scripts/fetch-base.sh")
		log "unpacking $tarball"
		tar -xJf "$tarball" -C "$tree.tmp" --strip-components=1
	fi
	ver=$(make -s -C "$tree.tmp" kernelversion)
	case "$ver" in
	7.3.*) ;;
	*) die "base tree is Linux $ver, the series targets 7.3.y" ;;
	esac
	log "creating base commit for Linux $ver"
	(
		cd "$tree.tmp"
		"${GIT[@]}" init -q
		"${GIT[@]}" add -A -f .
		# A fixed date makes the base commit reproducible for identical sources.
		GIT_AUTHOR_DATE='2026-01-01T00:00:00Z' GIT_COMMITTER_DATE='2026-01-01T00:00:00Z' \
			"${GIT[@]}" commit -q -m "Linux $ver (base)"
	)
	mv "$tree.tmp" "$tree"
fi

if [ $apply -eq 1 ] && [ -n "$(series_patches)" ]; then
	log "applying $(series_patches | wc -l) patches"
	series_patches | xargs "${GIT[@]}" -C "$tree" am -q --whitespace=error-all ||
		die "the series does not apply on the base (see $tree, git am --abort to reset)"
fi
