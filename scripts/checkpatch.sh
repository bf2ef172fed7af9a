#!/usr/bin/env bash
# Run the base tree's checkpatch.pl --strict on every patch of every submission.
set -euo pipefail
# shellcheck source=scripts/lib.sh
. "$(dirname "$0")/lib.sh"

# checkpatch calls spdxcheck.py, which needs Debian's python3 with python3-ply/-git.
export PATH=/usr/bin:$PATH
bad=0
while read -r p; do
	# FILE_PATH_CHANGES only asks whether MAINTAINERS needs an update for new
	# files; answer it for real below instead of leaving it as noise.
	# UNKNOWN_COMMIT_ID: the base tree is a release tarball without history, so
	# checkpatch cannot look up the ids of Fixes: tags (their format is still
	# checked); they are verified against upstream when the patch is written.
	if ! report=$("$KTREE/scripts/checkpatch.pl" --strict --no-summary --quiet \
		--ignore FILE_PATH_CHANGES,UNKNOWN_COMMIT_ID --root="$KTREE" "$p" 2>&1) ||
		[ -n "$report" ]; then
		printf 'checkpatch: %s\n%s\n' "${p#"$TOP"/patches/}" "$report" >&2
		bad=1
	fi
	while read -r f; do
		if ! (cd "$KTREE" && ./scripts/get_maintainer.pl --no-git --no-tree -f "$f" 2>/dev/null |
			grep -q '(maintainer'); then
			echo "checkpatch: ${p#"$TOP"/patches/}: new file $f has no MAINTAINERS entry" >&2
			bad=1
		fi
	done < <(awk '/^diff --git / { f = substr($4, 3) } /^new file mode/ { print f }' "$p")
done < <(series_patches)
exit $bad
