#!/usr/bin/env bash
# Write the test kernel's .config into an output directory: upstream's liveupdate selftest
# fragments plus configs/luo-net.config, completed with olddefconfig. Fails, naming the
# option, when any requested option did not make it into the final .config.
# Usage: config.sh SRC_TREE OUT_DIR
set -euo pipefail
# shellcheck source=scripts/lib.sh
. "$(dirname "$0")/lib.sh"

src=$(realpath "$1") out=$(realpath -m "$2")
sel=$src/tools/testing/selftests/liveupdate
frags=("$sel/config.x86_64" "$sel/config" "$TOP/configs/luo-net.config")
mkdir -p "$out"
want=$(cat "${frags[@]}" | grep -E '^CONFIG_[A-Z0-9_]+=' | sort -u)
if [ -f "$out/.config" ] && [ -f "$out/.luo-net-frags" ] &&
   [ "$want" = "$(cat "$out/.luo-net-frags")" ]; then
	exit 0
fi
printf '%s\n' "$want" >"$out/.config"
make -s -C "$src" O="$out" olddefconfig >/dev/null
missing=0
while IFS= read -r opt; do
	if ! grep -qxF "$opt" "$out/.config"; then
		log "required option not in final .config: $opt (got: $(grep -E "^(# )?${opt%%=*}[= ]" "$out/.config" || echo unset))"
		missing=1
	fi
done <<<"$want"
[ $missing -eq 0 ] || die "kernel config is missing required options (see above)"
printf '%s\n' "$want" >"$out/.luo-net-frags"
