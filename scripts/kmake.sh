#!/usr/bin/env bash
# Build the kernel image for SRC_TREE into OUT_DIR with ccache.
# Usage: kmake.sh SRC_TREE OUT_DIR [extra make targets...]
#   CONFIG_EXTRA=FRAGMENT: passed to config.sh (e.g. configs/bench.config)
set -euo pipefail
# shellcheck source=scripts/lib.sh
. "$(dirname "$0")/lib.sh"

src=$(realpath "$1") out=$(realpath -m "$2")
shift 2
"$TOP/scripts/config.sh" "$src" "$out" ${CONFIG_EXTRA:+"$CONFIG_EXTRA"}
mkdir -p "$CCACHE_DIR"
export KBUILD_BUILD_TIMESTAMP='2026-01-01' KBUILD_BUILD_USER=luo-net KBUILD_BUILD_HOST=luo-net
# ccache must not key on the path of the tree the sources came from.
export CCACHE_BASEDIR=$BUILD CCACHE_NOHASHDIR=1 CCACHE_MAXSIZE=${CCACHE_MAXSIZE:-5G}
jobs=${JOBS:-$(nproc)}
make -s -C "$src" O="$out" -j"$jobs" CC="ccache gcc" bzImage "$@"
