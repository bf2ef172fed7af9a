#!/usr/bin/env bash
# Install every host package the harness needs (Debian bookworm). Idempotent and quiet
# when everything is present already.
set -euo pipefail
# shellcheck source=scripts/lib.sh
. "$(dirname "$0")/lib.sh"

PKGS=(
	build-essential bc bison flex libelf-dev libssl-dev cpio xz-utils zstd kmod
	git ccache rsync python3 python3-ply python3-git perl shellcheck file
	qemu-system-x86 kexec-tools busybox-static iproute2 iputils-ping
	tcpdump gnuplot-nox nftables
)

missing=()
for p in "${PKGS[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' ||
		missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

log "installing: ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
as_root apt-get update -qq
as_root apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
