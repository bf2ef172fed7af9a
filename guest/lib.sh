# shellcheck shell=sh
# Shared by the guests' test scripts (sourced as /tests/lib.sh; dash, not bash).
# karg NAME: the last value of NAME= on the kernel command line; arg NAME: of luonet.NAME=
karg() { tr ' ' '\n' </proc/cmdline | sed -n "s/^$1=//p" | tail -n 1; }
arg() { karg "luonet\.$1"; }
# up: this kernel's uptime, seconds
up() { cut -d' ' -f1 /proc/uptime; }
# dmesg_at TEXT: kernel log time of the last line with TEXT
dmesg_at() { dmesg | sed -n "s/^\[ *\([0-9.]*\)\] $1.*/\1/p" | tail -n 1; }
# window_closed: kernel log time and text of LUO's last "restore window closed" line
window_closed() { dmesg | sed -n 's/^\[ *\([0-9.]*\)\] luo: restore window closed: \(.*\)/\1 \2/p' | tail -n 1; }
# mark TEXT...: send TEXT to the peer (lu_stream mark), which logs it on its own clock
mark() { /tests/lu_stream mark "$@" || echo "# could not send mark: $*"; }
# wait_for FILE REGEX SECONDS: until FILE has a line matching REGEX; 1 if it never did
wait_for() {
	_i=0
	while ! grep -q "$2" "$1" 2>/dev/null; do
		_i=$((_i + 1))
		[ "$_i" -le $(($3 * 10)) ] || return 1
		sleep 0.1
	done
}
# counter FILE GROUP NAME: a counter of /proc/net/netstat or /proc/net/snmp
counter() {
	awk -v g="$2:" -v n="$3" '$1 == g && !k { for (i = 2; i <= NF; i++) if ($i == n) k = i; next }
		$1 == g && k { print $k; exit }' "$1"
}
