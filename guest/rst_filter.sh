#!/bin/sh
# The netfilter alternative to liveupdate_tcp_rst_suppress, as an operator would set it
# up today (for make bench's race comparison): "rst_filter.sh on" drops every TCP RST
# this machine sends, "rst_filter.sh off" removes the rule again. Uses nft (nftables).
set -eu
case ${1:-} in
on)
	nft -f - <<'NFT'
table inet luonet_restore {
	chain out {
		type filter hook output priority 0; policy accept;
		tcp flags & rst == rst drop
	}
}
NFT
	;;
off)
	nft delete table inet luonet_restore ;;
*)
	echo "usage: rst_filter.sh on|off" >&2
	exit 2 ;;
esac
