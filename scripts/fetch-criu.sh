#!/usr/bin/env bash
# Download Debian's criu 4.2.1 (forky/sid: trixie's 4.1.1 lacks the SO_PASSCRED fix for
# Linux >= 6.16) with its whole runtime closure from the same suite (glibc >= 2.38: more
# than bookworm has), iperf3, and what CRIU runs at dump and restore time (iptables for its
# default network lock, through "sh -c"; the nftables lock only needs libnftables), cache
# the .debs, unpack them into a small root directory and print its path. The DUT guest
# chroots into that root, so that criu, iperf3 and the restored process see one filesystem.
#
# Pinned to the exact versions (and SHA-256) below; a pinned version gone from the archive
# is replaced by the suite's current one with a NOTICE. With every pinned .deb in the cache
# this runs offline.
#
# Environment:
#   CRIU_SUITE=forky       Debian suite to take the packages from (forky or sid)
#   CRIU_ROOT=DIR          where to unpack (default: $BUILD/criu-root)
#   CRIU_EXTRA_PKGS='...'  more packages for the root (e.g. nftables for nft), unpinned
#   DEBIAN_MIRROR=URL      archive to use (default: the machine's own Debian mirror)
# Output: the root's path on stdout; progress and NOTICEs on stderr. The .debs stay in
# $CACHE/criu-4.2.1/, the resolved list of the last download in its resolved-SUITE.txt.
set -euo pipefail
# shellcheck source=scripts/lib.sh
. "$(dirname "$0")/lib.sh"

SUITE=${CRIU_SUITE:-forky}
# What the root is for; everything else comes in as their dependencies.
TOP_PKGS=(criu iperf3 iptables dash)
# Needed only by maintainer scripts (iperf3's postinst adds a user, dash's registers
# itself in /etc/shells): marked as installed so that apt does not pull them (and PAM,
# passwd, debconf's perl) into the root. Nothing in the root runs them.
STUB_PKGS=(adduser debconf debianutils)
# name version architecture sha256: the closure of TOP_PKGS as resolved from forky (each
# download writes its resolution in this form to $CACHE/criu-4.2.1/resolved-SUITE.txt).
PINNED="
gcc-16-base 16.2.0-3 amd64 7dcc6404b44ad8a9d58e83c1e987eecb4d6a24623a92438eeb11829ed1129635
libc-gconv-modules-extra 2.43-7 amd64 8abae40b5e2bfca58fbc838329b48f525c98463e930b8d3ed075d0c9e960a57a
libc6 2.43-7 amd64 5c71715c51103beb4fbba9fe9f8dff604af6610dfa71c70bff342f54a7860803
libgcc-s1 16.2.0-3 amd64 e716dc8baad27e884c45ff83a76955047a7a9e33a80e94f9459ee996ebb800b0
dash 0.5.12-12 amd64 a8902cb6d8650134764a25fb80aec8589d858ef71ece1680a62e84816c37bb04
netbase 6.6 all 7bc354cb841d2e35cd8b581cfdf7383fbe6cfec95c54a619f756499ee3e10a4b
libmd0 1.3.0-1 amd64 b93615e08319799bedd98a68643d607b06a7713365f829fb3cae131f8a3b81b1
libbsd0 0.12.2-3 amd64 0383e47d704a5e58080606cbcafd2f2aa725702767ccf8b877fb224d04ff38c5
libgmp10 2:6.3.0+dfsg-5+b2 amd64 032743c787f0e1e644e4dcfbdb38f01be8cb150cb9633f8be5e79aba6938f349
libnettle8t64 3.10.2-1+b1 amd64 213f9f0119cd63efc2529401547bad5f6d2cea4cae5d05cffdef22f19aabb30e
libhogweed6t64 3.10.2-1+b1 amd64 d5872392a9d3b9b6e06f3dbd07a3f954346226d9fa2f318c4a3b5732b060fc44
libunistring5 1.4.2-1 amd64 509fb596f6b4de34f1d9cb5a0001abc3c6c51f4800e908ef888262ebdaaefa3b
libidn2-0 2.3.8-5 amd64 25a38f7d9ba5bb3daf47a21ad5d348303e602f3c9037a48d621683fe87e7ce28
libffi8 3.8.0-2 amd64 8f52979b2f3831088c419aae858f10fd3ad7e42cc6c1d28967bae996a98223a4
libp11-kit0 0.26.5-1 amd64 7f6187247766dca57582c4fa327928fb612de3cd17a13786c1762c57357b4930
libtasn1-6 4.21.0-2+b1 amd64 097059368c29f6bac5253cc9a4ee3b8c2f449326de016feddf5a00b896fabe49
libgnutls30t64 3.8.13-1 amd64 81f7f28a3968228293cabf6a92f7d6b2a8807f64ccf57469f2ce9a06b7b226af
libnet9 1.3+dfsg-3+b2 amd64 2a27e79bb376a1052a77b6373e17b3c2e71b2b2d15bc05d899f2a6318e5d36ea
libjansson4 2.15.1-1 amd64 024a1537ca17a8215c7b03c6e84ea961ae96d3ecce9cd1db6a5226c180568419
libmnl0 1.0.5-3+b2 amd64 5c058833d7f95cea335627f8ae48dbac38749493867ed3151113150e1612b264
libnftnl11 1.3.2-1 amd64 409b62c0d383ae181e3550d0ec9279359856d98a449d8bce9983f69e1995dbc6
libxtables12 1.8.13-1 amd64 08ca0b50ecc24b84faf75716b4a7a279a5e5fb01d7a5c602fe3f473b6d9ffcb9
libnftables1 1.1.7-3 amd64 a9fe852108aa99288b9305534203869e406aedaebeb833a48a32c48e50affd75
libnl-3-200 3.12.0-2+b1 amd64 a5ca78bbb9d5cc067b78952c5d38b7caac831d42e94b85b91edf1f6f00dfd48a
libprotobuf-c1 1.5.1-1+b2 amd64 8f0f2c76c4574b986aec4d3ed53e5b5939a8ce26c21294adf9020ebed9d2b3da
libuuid1 2.42.4-1 amd64 bdef15911ca5748219f5257bf4f1e81444fb40966499c02b1176bfbbcd9a2d08
libcompel1 4.2.1-1 amd64 c41087440d28973c9abc04dcd31674a28969e5dc0cefde5023a89aaf07ef357d
criu 4.2.1-1 amd64 4039578de7dd6480964754c1348416f0f0658fba3eadaa918bfe43e9a5fb9b04
libsctp1 1.0.21+dfsg-2 amd64 87021f87e4a3ac66e0e6c482a73f371252a4d5542a842fad3df7676296b0f633
libzstd1 1.5.7+dfsg-4 amd64 93e7930e4c25b918f1dd980cc1c6d4487654a248f5fa71eacb976ed7bbe954bd
zlib1g 1:1.3.dfsg+really1.3.2-3 amd64 52c585b07bea72ef36df9ddd5d1937f4739d3caec057d827954baec256292651
openssl-provider-legacy 3.6.5-1 amd64 82b7c056f7dfd91e4eedb1a0738d655867b6e13bd25ce03406e9cf464e9345ad
libssl3t64 3.6.5-1 amd64 0a0ec84fe860c5c93c74d53cbb071aea0793327a3761b483080e9d7b73c21b37
libiperf0 3.22-0.1 amd64 6b66ba6c7da008a0980d19e7775c5deac2bfdd0fbc12910763a5b81264f35736
iperf3 3.22-0.1 amd64 6d5369aadfbecf29e86ebd19c22e9aabf659db5c7ad2737fe500f7d4fbcdf4a4
libip4tc2 1.8.13-1 amd64 c69832cdf76b6a20d2883e034282455bacb23cfc502f26252de267f8c8d4f6bb
libip6tc2 1.8.13-1 amd64 3f32b64dc89ea0b128621157cc932b3f3a6cbe63b9445179a7ba4fa3b6828900
libnfnetlink0 1.0.2-3+b2 amd64 f5b00d0540b8f7472708dd0479dde86015908a3213e82585df1bdccd3bdbf474
libnetfilter-conntrack3 1.1.1-1 amd64 c6a6a4e5182fd698bba97e33ce3185c96fad641658941a2f39892dbbe50be9bc
iptables 1.8.13-1 amd64 188a26c3ae2a431018ab769897f82c1ac40a25d902186f17d31f00d103a78f71
"

root=${CRIU_ROOT:-$BUILD/criu-root}
dl=$CACHE/criu-4.2.1
apt_dir=$CACHE/criu-apt
mkdir -p "$dl"

pins() { awk 'NF == 4' <<<"$PINNED"; }
# deb NAME VERSION ARCH: the file name apt-get download gives that package
deb() { printf '%s_%s_%s.deb\n' "$1" "${2//:/%3a}" "$3"; }

# The list of .debs for the root, as "name version arch sha256" lines.
resolve() {
	local mirror req=() name ver arch sum pinned f missing=0
	# pinned_ok: every pinned .deb is in the cache with its checksum
	while read -r name ver arch sum; do
		[ -f "$dl/$(deb "$name" "$ver" "$arch")" ] || { missing=1; break; }
	done < <(pins)
	if [ "$missing" = 0 ] && [ -n "$(pins)" ] && [ -z "${CRIU_EXTRA_PKGS:-}" ] &&
	   (cd "$dl" && pins | while read -r name ver arch sum; do
		echo "$sum  $(deb "$name" "$ver" "$arch")"; done | sha256sum --quiet -c - >&2); then
		pins
		return
	fi

	mirror=$(debian_mirror)

	# A private apt: its own sources list (the machine's does not list $SUITE and we must
	# not change it), lists, cache and an empty dpkg status but for the stubs, so that
	# apt resolves the full closure the root needs, and no more.
	mkdir -p "$apt_dir/lists/partial" "$apt_dir/cache/archives/partial" \
		"$apt_dir/sources.list.d" "$apt_dir/preferences.d"
	echo "deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] $mirror $SUITE main" \
		>"$apt_dir/sources.list"
	for name in "${STUB_PKGS[@]}"; do
		printf 'Package: %s\nStatus: install ok installed\nVersion: 99:0\n' "$name"
		printf 'Architecture: all\nMaintainer: luo-net\nDescription: stub\n\n'
	done >"$apt_dir/status"
	APT=(-o "Dir::Etc::sourcelist=$apt_dir/sources.list"
	     -o "Dir::Etc::sourceparts=$apt_dir/sources.list.d"
	     -o "Dir::Etc::preferences=$apt_dir/preferences"
	     -o "Dir::Etc::preferencesparts=$apt_dir/preferences.d"
	     -o "Dir::State::Lists=$apt_dir/lists" -o "Dir::State::status=$apt_dir/status"
	     -o "Dir::Cache=$apt_dir/cache" -o APT::Architectures::=amd64
	     -o APT::Architecture=amd64 -o APT::Install-Recommends=0
	     -o APT::Install-Suggests=0 -o Acquire::Languages=none -o Debug::NoLocking=1
	     -o APT::Sandbox::User=root -qq)
	log "refreshing $SUITE package list"
	apt-get "${APT[@]}" update >&2

	# Ask for every pinned version still in the archive; the others by name.
	local avail names
	mapfile -t names < <(pins | cut -d' ' -f1)
	avail=$(apt-cache "${APT[@]}" madison "${names[@]}" | awk '{ print $1, $3 }')
	while read -r name ver arch sum; do
		if grep -qxF "$name $ver" <<<"$avail"; then
			req+=("$name=$ver")
		else
			log "NOTICE: pinned $name $ver is gone from $SUITE; falling back to its current version"
			req+=("$name")
		fi
	done < <(pins)
	# shellcheck disable=SC2206 # a list of package names
	req+=("${TOP_PKGS[@]}" ${CRIU_EXTRA_PKGS:-})
	# "Inst NAME (VERSION SUITE [ARCH])": apt's resolution of the closure
	inst() { apt-get "${APT[@]}" -s install "$@" 2>&1 |
		sed -n 's/^Inst \([^ ]*\) (\([^ ]*\) .*\[\([^]]*\)\]).*/\1 \2 \3/p'; }
	list=$(inst "${req[@]}")
	if [ -z "$list" ]; then
		log "NOTICE: the pinned set does not resolve in $SUITE any more; taking its current closure"
		# shellcheck disable=SC2086 # a list of package names
		list=$(inst "${TOP_PKGS[@]}" ${CRIU_EXTRA_PKGS:-})
		[ -n "$list" ] || { apt-get "${APT[@]}" -s install "${TOP_PKGS[@]}" >&2 || true
				    die "cannot resolve ${TOP_PKGS[*]} in $SUITE"; }
	fi

	local todo=()
	while read -r name ver arch; do
		pinned=$(pins | awk -v n="$name" '$1 == n { print $2 }')
		if [ -z "$pinned" ]; then
			log "NOTICE: $name $ver is not pinned (new dependency or CRIU_EXTRA_PKGS)"
		elif [ "$pinned" != "$ver" ]; then
			log "NOTICE: $name: using $ver instead of the pinned $pinned"
		fi
		f=$dl/$(deb "$name" "$ver" "$arch")
		sum=$(pins | awk -v n="$name" -v v="$ver" '$1 == n && $2 == v { print $4 }')
		if [ -f "$f" ] && [ -n "$sum" ] && ! echo "$sum  $f" | sha256sum --quiet -c - >/dev/null 2>&1; then
			log "cached $(basename "$f") fails its checksum: downloading it again"
			rm -f "$f"
		fi
		[ -f "$f" ] || todo+=("$name=$ver")
	done <<<"$list"
	if [ "${#todo[@]}" -gt 0 ]; then
		log "downloading ${#todo[@]} packages from $SUITE"
		# apt-get checks each file against the signed index.
		(cd "$dl" && apt-get "${APT[@]}" download "${todo[@]}" >&2)
	fi
	while read -r name ver arch; do
		sum=$(sha256sum "$dl/$(deb "$name" "$ver" "$arch")" | cut -d' ' -f1)
		pinned=$(pins | awk -v n="$name" -v v="$ver" '$1 == n && $2 == v { print $4 }')
		[ -z "$pinned" ] || [ "$pinned" = "$sum" ] ||
			die "$(deb "$name" "$ver" "$arch"): sha256 $sum, pinned $pinned"
		echo "$name $ver $arch $sum"
	done <<<"$list" | tee "$dl/resolved-$SUITE.txt"
}

list=$(resolve)
stamp=$(sort <<<"$list")
if [ -f "$root/.debs" ] && [ "$(cat "$root/.debs")" = "$stamp" ]; then
	echo "$root"
	exit 0
fi

tmp=$root.tmp
log "unpacking $(wc -l <<<"$list") packages into $root"
rm -rf "$tmp"
mkdir -p "$tmp"
while read -r name ver arch _; do
	dpkg-deb -x "$dl/$(deb "$name" "$ver" "$arch")" "$tmp"
done <<<"$list"
# Merged /usr, as base-files would lay it out (the ELF interpreter is /lib64/...).
for d in bin sbin lib lib64; do
	if [ -d "$tmp/$d" ] && [ ! -L "$tmp/$d" ]; then
		mkdir -p "$tmp/usr/$d"
		cp -a "$tmp/$d/." "$tmp/usr/$d/"
		rm -rf "${tmp:?}/$d"
	fi
	mkdir -p "$tmp/usr/$d"
	ln -sfn "usr/$d" "$tmp/$d"
done
# What maintainer scripts would have set up: /bin/sh (CRIU runs iptables through
# "sh -c") and the iptables alternatives (nft backend, Debian's default).
[ -e "$tmp/usr/bin/sh" ] || ln -s dash "$tmp/usr/bin/sh"
for t in iptables ip6tables; do
	for s in "" -save -restore; do
		ln -sfn xtables-nft-multi "$tmp/usr/sbin/$t$s"
	done
done
# Documentation, and glibc's iconv modules (8 MB; nothing in the root converts charsets).
rm -rf "$tmp"/usr/share/{doc,man,info,lintian,locale,bug} "$tmp"/usr/lib/x86_64-linux-gnu/gconv
mkdir -p "$tmp"/{proc,sys,dev,run,tmp,etc}
chmod 1777 "$tmp/tmp"

# Every ELF file must find its libraries inside the root.
ld=$tmp/usr/lib64/ld-linux-x86-64.so.2
libs=$tmp/usr/lib/x86_64-linux-gnu
bad=0
while read -r f; do
	if "$ld" --library-path "$libs" --list "$f" 2>&1 | grep -q 'not found'; then
		log "missing libraries for ${f#"$tmp"}:"
		"$ld" --library-path "$libs" --list "$f" 2>&1 | grep 'not found' >&2
		bad=1
	fi
done < <(find "$tmp/usr/bin" "$tmp/usr/sbin" "$libs/xtables" -type f \
	-exec sh -c 'head -c4 "$1" | grep -q ELF' _ {} \; -print)
[ "$bad" = 0 ] || die "the root in $tmp is incomplete"
"$ld" --library-path "$libs" "$tmp/usr/sbin/criu" --version >&2 ||
	die "criu from $tmp does not run"

echo "$stamp" >"$tmp/.debs"
rm -rf "$root"
mv "$tmp" "$root"
log "criu root: $root ($(du -sh "$root" | cut -f1))"
echo "$root"
