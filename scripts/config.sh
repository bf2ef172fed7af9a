#!/usr/bin/env bash
# Write the test kernel's .config into an output directory: upstream's liveupdate selftest
# fragments plus configs/luo-net.config, completed with olddefconfig. Fails, naming the
# option, when any requested option did not make it into the final .config.
# Usage: config.sh SRC_TREE OUT_DIR [EXTRA_FRAGMENT]
#   EXTRA_FRAGMENT overrides the others option by option ("# CONFIG_X is not set" too).
set -euo pipefail
# shellcheck source=scripts/lib.sh
. "$(dirname "$0")/lib.sh"

src=$(realpath "$1") out=$(realpath -m "$2")
sel=$src/tools/testing/selftests/liveupdate
frags=("$sel/config.x86_64" "$sel/config" "$TOP/configs/luo-net.config" ${3:+"$3"})
mkdir -p "$out"
# One line per option, the last fragment that names it wins.
want=$(cat "${frags[@]}" |
	sed -nE 's/^# (CONFIG_[A-Z0-9_]+) is not set$/\1=n/p; /^CONFIG_[A-Z0-9_]+=/p' |
	awk -F= '{ v[$1] = $0 } END { for (k in v) print v[k] }' | sort)
if [ -f "$out/.config" ] && [ -f "$out/.luo-net-frags" ] &&
   [ "$want" = "$(cat "$out/.luo-net-frags")" ]; then
	exit 0
fi
printf '%s\n' "$want" | sed -E 's/^(CONFIG_[A-Z0-9_]+)=n$/# \1 is not set/' >"$out/.config"
make -s -C "$src" O="$out" olddefconfig >/dev/null
missing=0
while IFS= read -r opt; do
	case $opt in
	*=n) grep -qE "^${opt%%=*}=" "$out/.config" || continue ;;
	*) grep -qxF "$opt" "$out/.config" && continue ;;
	esac
	log "required option not in final .config: $opt (got: $(grep -E "^(# )?${opt%%=*}[= ]" "$out/.config" || echo unset))"
	missing=1
done <<<"$want"
[ $missing -eq 0 ] || die "kernel config is missing required options (see above)"
printf '%s\n' "$want" >"$out/.luo-net-frags"
