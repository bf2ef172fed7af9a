# shellcheck shell=bash
# Common paths and helpers for the luo-net harness. Sourced, never run.

TOP=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD=${BUILD:-$TOP/build}
# Downloads and ccache live outside the work tree so a fresh clone reuses them.
CACHE=${LUO_NET_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/luo-net}
# shellcheck disable=SC2034 # used by the scripts that source this file
KTREE=$BUILD/linux
export CCACHE_DIR=${CCACHE_DIR:-$CACHE/ccache}

log() { printf '[%s] %s\n' "$(date +%T)" "$*" >&2; }
die() { printf '[%s] ERROR: %s\n' "$(date +%T)" "$*" >&2; exit 1; }

# Run a command as root, through sudo when we are not root already.
as_root() {
	if [ "$(id -u)" -eq 0 ]; then
		"$@"
	else
		sudo "$@"
	fi
}
