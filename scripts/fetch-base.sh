#!/usr/bin/env bash
# Download Debian's linux-source-7.3 binary package into the cache and print the path of
# the source tarball it holds. Pinned to BASE_VERSION; if that version is gone from the
# archive, fall back to the newest 7.3.y and say so loudly.
set -euo pipefail
# shellcheck source=scripts/lib.sh
. "$(dirname "$0")/lib.sh"

BASE_PKG=linux-source-7.3
BASE_VERSION=${BASE_VERSION:-7.3.4-1~bpo13+1}
SUITE=trixie-backports

dl=$CACHE/base
apt_dir=$CACHE/apt
mkdir -p "$dl" "$apt_dir/lists/partial" "$apt_dir/archives/partial"

tarball() { echo "$dl/$1/usr/src/linux-source-7.3.tar.xz"; }

if [ -f "$(tarball "$BASE_VERSION")" ]; then
	tarball "$BASE_VERSION"
	exit 0
fi

# A private sources list: the machine's own does not list trixie-backports and we must
# not change it.
echo "deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] $(debian_mirror) $SUITE main" \
	>"$apt_dir/sources.list"
APT=(-o "Dir::Etc::sourcelist=$apt_dir/sources.list" -o Dir::Etc::sourceparts=-
     -o "Dir::State::Lists=$apt_dir/lists" -o "Dir::Cache::archives=$apt_dir/archives"
     -o Debug::NoLocking=1 -o APT::Get::List-Cleanup=0 -qq)

log "refreshing $SUITE package list"
apt-get "${APT[@]}" update >&2

version=$BASE_VERSION
if ! apt-cache "${APT[@]}" madison "$BASE_PKG" | grep -qF " $version "; then
	version=$(apt-cache "${APT[@]}" madison "$BASE_PKG" | awk '{print $3}' |
		  sort -V | tail -n1)
	[ -n "$version" ] || die "$BASE_PKG not found in $SUITE"
	log "NOTICE: pinned $BASE_PKG $BASE_VERSION is gone; falling back to $version"
	[ -f "$(tarball "$version")" ] && { tarball "$version"; exit 0; }
fi

log "downloading $BASE_PKG=$version"
(cd "$apt_dir/archives" && apt-get "${APT[@]}" download "$BASE_PKG=$version" >&2)
deb=$(find "$apt_dir/archives" -maxdepth 1 -name "${BASE_PKG}_*.deb" | sort -V | tail -n1)
[ -n "$deb" ] || die "download of $BASE_PKG=$version produced no .deb"
rm -rf "$dl/$version.tmp"
dpkg-deb -x "$deb" "$dl/$version.tmp"
mv "$dl/$version.tmp" "$dl/$version"
rm -f "$deb"
tarball "$version"
