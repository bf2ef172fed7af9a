#!/usr/bin/env bash
# make demo-criu: issues 6 and 12, a real-world restore agent. Debian's CRIU 4.2.1
# checkpoints a running iperf3 server in the DUT guest while the peer guest's iperf3
# client streams to it, the images cross a kexec live update in a memfd preserved in a
# LUO session, and CRIU restores the server in the new kernel (guest/criu_dut.sh,
# guest/criu_peer.sh, guest/criu_images.c; test "criu_iperf3" of tests.list).
# Runs it with liveupdate_tcp_rst_suppress=on and, when that run got through CRIU,
# again with the suppressor left out of the kexec, and reports for each: the peer's
# iperf3 result, its longest stall, RSTs in the capture of the peer's link.
#
# What an operator passes: "criu dump --tcp-established" (CRIU's default iptables
# network lock then drops each connection's segments in the old kernel until the kexec,
# so iptables must be there) and "criu restore --tcp-established"; the kexec wipes
# the lock rules, liveupdate_tcp_rst_suppress=on keeps the new kernel from answering
# the peer's retransmissions with RST until the restore, whose unlock ("iptables -D")
# then fails harmlessly (criu/netfilter.c "Iptables configuration failed").
#
# CRIU, iperf3, iptables and their libraries come from Debian forky's packages, unpacked
# by scripts/fetch-criu.sh into a root ($BUILD/criu-root, cached and pinned) that is
# appended to the guests' initramfs as /criu-root (a second cpio archive: the kernel
# unpacks concatenated archives in turn); the DUT runs criu and iperf3 chrooted into it,
# the peer its iperf3 client. The retained initramfs is the new kernel's too, so the root
# is byte-identical on both sides of the kexec.
#
# The guests boot the series' kernel built with configs/criu.config on top of the test
# kernel's config (CONFIG_CGROUPS: every CRIU dump reads /proc/PID/cgroup), from a
# worktree of build/linux at its HEAD (build/criu-src) into build/criu-kernel, built
# first when missing or out of date (ccache makes an unchanged tree a few minutes).
#
# KERNEL_IMAGE=PATH: boot this bzImage instead (it needs CONFIG_CGROUPS=y).
# CRIU_ROOT=DIR: where scripts/fetch-criu.sh unpacks the root (default $BUILD/criu-root).
# CRIU_OPTS='OPT ...': more options for criu dump and restore in the guest.
# CRIU_DELAY=SECONDS: how long the new kernel's userspace waits before the restore
#   (luonet.criu_delay, default 4: the rest of userspace booting).
#
# Exit 0 only when the suppressor-on run kept the connection (iperf3 finished without
# error) with 0 RST during the live update, and the suppressor-off run lost it for the
# reason it is about: RST from the new kernel during the live update and the peer's
# iperf3 failing with a reset. When CRIU cannot do its part on this kernel, prints
# "BLOCKED" with the failing command, its output and CRIU's error locations, and exits 1.
set -euo pipefail
# shellcheck source=scripts/lib.sh
. "$(dirname "$0")/lib.sh"

dir=$BUILD/criu
res=$dir/results
test=criu_iperf3
t_start=$(date +%s)
"$TOP/scripts/deps.sh"
[ -z "${CRIU:-}" ] || die "CRIU=PATH is gone: CRIU comes from Debian's packages (scripts/fetch-criu.sh)"
root=$("$TOP/scripts/fetch-criu.sh")
[ -x "$root/usr/sbin/criu" ] || die "no criu in $root"
criu_version=$("$root/usr/lib64/ld-linux-x86-64.so.2" --library-path "$root/usr/lib/x86_64-linux-gnu" \
	"$root/usr/sbin/criu" --version | sed -n 's/^Version: //p')
if [ -n "${KERNEL_IMAGE:-}" ]; then
	kernel=$KERNEL_IMAGE
else
	# The series with configs/criu.config, in a worktree of its own.
	src=$BUILD/criu-src
	kout=$BUILD/criu-kernel
	[ -d "$KTREE/.git" ] || "$TOP/scripts/tree.sh"
	worktree_at "$src" "$(git -C "$KTREE" rev-parse HEAD)"
	log "building the series' kernel with configs/criu.config into $kout (log: $kout.log)"
	t0=$(date +%s)
	CONFIG_EXTRA=$TOP/configs/criu.config nice -n 10 "$TOP/scripts/kmake.sh" "$src" "$kout" \
		>"$kout.log" 2>&1 || { tail -n 30 "$kout.log" >&2; die "building the kernel failed"; }
	log "kernel built in $(($(date +%s) - t0)) s"
	kernel=$kout/arch/x86/boot/bzImage
fi
[ -s "$kernel" ] || die "no kernel image $kernel"

mkdir -p "$dir"
cp "$kernel" "$dir/bzImage"
log "kernel: $kernel"
log "building the guest programs into $dir/tests"
"$TOP/scripts/build-tests.sh" "$KTREE" "$dir/tests" >"$dir/build-tests.log" 2>&1 ||
	{ tail -n 30 "$dir/build-tests.log" >&2; die "building the guest programs failed"; }
log "initramfs with the CRIU root $root (criu $criu_version, iperf3, iptables-nft) as /criu-root"
"$TOP/scripts/initramfs.sh" "$dir/bzImage" "$dir/tests/bin" "$dir/initramfs-base.cpio"
stage=$(mktemp -d "${TMPDIR:-/tmp}/luo-net-criu.XXXXXX")
trap 'rm -rf "$stage"' EXIT
cp -a "$root" "$stage/criu-root"
(cd "$stage" && find criu-root | LC_ALL=C sort |
	cpio --quiet -o -H newc -R 0:0 --reproducible) >"$dir/criu-root.cpio"
rm -rf "$stage"
cat "$dir/initramfs-base.cpio" "$dir/criu-root.cpio" >"$dir/initramfs.cpio"

opts=${CRIU_OPTS:+luonet.criu_opts=${CRIU_OPTS// /,}}
opts+=${CRIU_DELAY:+ luonet.criu_delay=$CRIU_DELAY}
# run KIND EXTRA_CMDLINE: one run of the test into $res/KIND
run() {
	local t0
	t0=$(date +%s)
	log "run: $1 (guest logs: $res/$1)"
	EXTRA_CMDLINE="$opts $2" "$TOP/scripts/run-test.sh" "$test" "$dir" "$res/$1" 2>/dev/null || true
	log "run $1: $(($(date +%s) - t0)) s wall"
	[ -s "$res/$1/verdict" ] || die "run-test.sh left no verdict in $res/$1: a harness error"
}
# rsts KIND: RSTs from the DUT in the capture of the peer's link, as "LU ALL": LU are
# those of the live update, sent inside the first silence of the DUT's other segments
# longer than 2 s (from its last segment before the dump to its first after the
# restore: while iperf3 streams, the DUT ACKs all the time; the live update's silence
# lasts the kexec, the boot and luonet.criu_delay). Not the longest silence: when the
# data connection is lost, the idle control connection is silent longer, later.
# The others answer a SYN sent before the server listened, or end the iperf3 run.
rsts() {
	tcpdump -r "$res/$1/peer.pcap" -nn -tt 'src host 192.0.2.1 and tcp' 2>/dev/null |
		awk '{ rst = $0 ~ /Flags \[R/ }
			!rst { if (n && !found && $1 - last > 2) { found = 1; from = last; to = $1 } last = $1; n++ }
			rst { t[++r] = $1 }
			END { for (i = 1; i <= r; i++) if (t[i] > from && t[i] <= to) lu++
				printf "%d %d\n", lu, r }'
}
# failed_cmd KTAP: the CRIU commands of a stage that exited non-zero (criu check
# included), each with its output ("# criu-cmd:", "# | ..." and "# criu-rc:" lines)
# and the errors and warnings of its -o log
failed_cmd() {
	awk '/^# criu-cmd: / { n = 0; failed = 0; p = 0; buf[n++] = $0; next }
		/^# criu-rc: / { if ($3 != 0) { for (i = 0; i < n; i++) print buf[i]; print; failed = 1 }
			n = 0; next }
		/^# criu-log: .*errors and warnings:$/ { p = failed; if (p) print; next }
		/^# \| / { if (n) buf[n++] = $0; else if (p) print; next }
		{ p = 0 }' "$1"
}
# report KIND TITLE: print what the run showed; returns 0 when it got through CRIU
report() {
	local r=$res/$1 k lu all
	echo
	echo "== $2"
	echo "verdict: $(paste -sd';' "$r/verdict")"
	for k in 1 2; do
		[ -s "$r/stage$k.ktap" ] || continue
		echo "-- DUT stage $k:"
		grep -E '^(ok|not ok) |^# (criu check:|\| Looks good|\| Does not look|vDSO|iperf3 server|dump at|lock rule|userspace|restore at|restore window|TCPLive|images:)' \
			"$r/stage$k.ktap" | sed 's/^/  /'
		# CRIU's errors and warnings in its dump or restore log when it succeeded
		# (a failure is reported in full below)
		grep -qE '^not ok [0-9]+ criu (dump|restore) ' "$r/stage$k.ktap" ||
			awk '/^# criu-log: .*errors and warnings:$/ { p = 1; print; next } /^# criu-log: / { p = 0 }
			p && /^# \| / { print; next } { p = 0 }' "$r/stage$k.ktap" | sed 's/^# /  /'
	done
	if [ -s "$r/peer-stage.ktap" ]; then
		echo "-- peer (iperf3 client):"
		grep -E '^(ok|not ok) |^# (stall|resumed|peer Tcp|net\.ipv4)|error|sender|receiver' \
			"$r/peer-stage.ktap" | sed 's/^/  /'
	fi
	local blocked=''
	for k in 1 2; do
		[ -s "$r/stage$k.ktap" ] || continue
		if grep -qE '^not ok [0-9]+ criu (dump|restore) ' "$r/stage$k.ktap"; then
			blocked=$k
		fi
	done
	if [ -s "$r/peer.pcap" ]; then
		read -r lu all < <(rsts "$1")
		echo "RST from the DUT in the capture of the peer's link: $lu during the live update" \
			"($all in all; the others answer the peer's SYN before the server listened or end the" \
			"iperf3 run)${blocked:+" (meaningless here: the DUT stopped the server when CRIU failed)"}"
	fi
	[ -z "$blocked" ] && return 0
	local ktap=$r/stage$blocked.ktap
	echo
	echo "BLOCKED: CRIU ($criu_version, $root) could not do" \
		"its part on the series' kernel ($(grep -m1 -o 'Linux version [^ ]*' "$r/dut.console"))"
	echo "failing step (DUT stage $blocked): $(grep -m1 -E '^not ok [0-9]+ criu' "$ktap")"
	echo "commands that failed in that stage, with their output:"
	failed_cmd "$ktap" | sed 's/^# //; s/^/  /'
	echo "CRIU's error locations (source file:line):"
	grep -o 'Error ([^)]*)' "$ktap" | sort | uniq -c | sed 's/^ */  /'
	if grep -q "Can't open [0-9a-z/]*cgroup on procfs: No such file" "$ktap"; then
		cat <<-'EOF'
		why: the test kernel has no CONFIG_CGROUPS, so /proc/PID/cgroup does not exist, and
		  every CRIU dump reads /proc/self/cgroup first (cr_dump_tasks() -> parse_cg_info() ->
		  collect_controllers(), criu/proc_parse.c), with or without --unprivileged.
		fix: a kernel with CONFIG_CGROUPS=y: leave KERNEL_IMAGE unset (this script builds
		  the series with configs/criu.config), or add the option to configs/luo-net.config.
		EOF
	fi
	return 1
}

rc=0
run on ""
if ! report on "CRIU live update with liveupdate_tcp_rst_suppress=on"; then
	echo
	echo "make demo-criu: BLOCKED (not run with the suppressor off: CRIU fails before the kexec matters)"
	exit 1
fi
read -r on_rst _ < <(rsts on)
if [ "$(cat "$res/on/verdict")" != pass ] || [ "$on_rst" -ne 0 ]; then
	rc=1
fi
# The same live update with the suppressor left out of the kexec (as demo_off does).
run off "luonet.kexec_drop=liveupdate_tcp_rst_suppress=on"
report off "the same CRIU live update with the suppressor off" || rc=1
read -r off_rst _ < <(rsts off)
# It must fail for the reason it is about: the new kernel's RST during the live update,
# after which the peer's data stream never moves again (iperf3 itself does not report a
# failed stream: guest/criu_peer.sh).
if [ "$(cat "$res/off/verdict")" = pass ] || [ "$off_rst" -eq 0 ] ||
	! grep -qE '^not ok 2 the data stream never|^not ok 1 .*reset' "$res/off/peer-stage.ktap" 2>/dev/null; then
	echo "the suppressor-off run did not fail as it must (verdict: $(paste -sd';' "$res/off/verdict")," \
		"$off_rst RST during the live update): it cannot show what the suppressor prevents"
	rc=1
fi
echo
log "make demo-criu: $(($(date +%s) - t_start)) s wall in all"
if [ "$rc" -eq 0 ]; then
	echo "make demo-criu: PASS (suppressor on: connection kept, 0 RST; off: reset by the new kernel)"
else
	echo "make demo-criu: FAIL (see above; logs in $res)"
fi
exit "$rc"
