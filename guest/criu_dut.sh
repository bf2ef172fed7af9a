#!/bin/sh
# The DUT side of make demo-criu (issues 6 and 12): Debian's CRIU (4.2.1, from the root
# scripts/fetch-criu.sh unpacks, carried in the initramfs as /criu-root) checkpoints a
# running iperf3 server and restores it across a kexec live update, its images carried
# in a memfd preserved in a LUO session. A staged test like the kselftests:
#   criu_dut.sh -s 1   set the root up, log "criu --version" and "criu check"; start
#                      "iperf3 -s" in the root with a high PID; once the peer's client
#                      (criu_peer.sh) is connected, "criu dump --tcp-established" it,
#                      tar the images into a memfd preserved in LUO session "criu"
#                      (criu_images save), and ask for a kexec with
#                      liveupdate_tcp_rst_suppress=on
#   criu_dut.sh -s 2   in the new kernel (the same initramfs, so the same root, byte for
#                      byte), after luonet.criu_delay seconds (default 4), retrieve the
#                      archive (criu_images restore), unpack it into the root,
#                      "criu restore --tcp-established -d", then finish the session (the
#                      restore window closes)
# criu, iperf3 and the restored process all run chrooted into the root, so that they see
# one filesystem (Debian's libraries, not the initramfs' bookworm ones): the root is
# bind-mounted onto itself (CRIU wants the task's root to be a mount point) with proc,
# sysfs, devtmpfs, devpts and tmpfs on /run and /tmp inside; the images live in the
# root's /tmp; the dumped process holds no fd from outside the root. criu_images (our
# static helper) runs outside.
# Every CRIU command is logged as "# criu-cmd: ...", its output as "# | ..." and its
# exit status as "# criu-rc: N" (scripts/demo-criu.sh builds its report from them).
# CRIU's network lock: the dump (default method, iptables) inserts DROP rules for each
# connection and leaves them in place; they protect the connection in the old kernel
# until the kexec, which wipes them. In the new kernel nothing replaces them until the
# restore: that is the RST suppressor's job. The restore's unlock ("iptables -D") then
# fails harmlessly ("Iptables configuration failed") and CRIU carries on.
set -u
if [ $# -ne 2 ] || [ "$1" != -s ] || { [ "$2" != 1 ] && [ "$2" != 2 ]; }; then
	echo "usage: criu_dut.sh -s 1|2" >&2
	exit 2
fi
stage=$2
session=criu
# The root (scripts/fetch-criu.sh) and the images' directory inside it
root=/criu-root
img=/tmp/criu-img
port=5201
# shellcheck source=guest/lib.sh
. /tests/lib.sh
# luonet.criu_opts=OPT[,OPT...]: more options for criu dump and restore
# (make demo-criu CRIU_OPTS='...')
criu_opts=$(arg criu_opts | tr ',' ' ')
# luonet.criu_dump_opts=OPT[,OPT...]: more options for criu dump only
# (make demo-criu CRIU_DUMP_OPTS='...', e.g. --leave-stopped)
dump_opts=$(arg criu_dump_opts | tr ',' ' ')
# luonet.criu_hold=1: the images stay outside LUO (make demo-criu HOLD=1), an empty
# LUO session holds the restore window
hold=$(arg criu_hold)
# run CMD...: run a command; its command line, output and exit status go to
# /tmp/run.ktap (printed by the caller after its TAP line, so that a stage's first
# failure line is the TAP verdict, not CRIU's output)
run() {
	"$@" >/tmp/cmd.out 2>&1
	rc=$?
	{
		echo "# criu-cmd: $*"
		sed 's/^/# | /' /tmp/cmd.out
		echo "# criu-rc: $rc"
	} >/tmp/run.ktap
	return "$rc"
}
# log_of FILE: CRIU's errors and warnings from a -o log, then its last lines
log_of() {
	[ -f "$1" ] || { echo "# (no log $1)"; return; }
	echo "# criu-log: $1, errors and warnings:"
	grep -E '(Error|Warn) \(' "$1" | sed 's/^/# | /'
	echo "# criu-log: $1, last 25 lines:"
	tail -n 25 "$1" | sed 's/^/# | /'
}
# established: TCP connections in state ESTABLISHED on the iperf3 port
established() {
	cat /proc/net/tcp /proc/net/tcp6 2>/dev/null |
		awk -v p="$(printf ':%04X' "$port")" '$4 == "01" && substr($2, length($2) - 4) == p' |
		wc -l
}
# in_root CMD...: run a command chrooted into the root
in_root() { chroot "$root" "$@"; }
# root_up: the root as CRIU wants it (a mount point, with what criu check and a dump
# read: /proc, /sys, /dev with devpts for check_tty, /run for iptables' lock, /tmp).
root_up() {
	[ -x "$root/usr/sbin/criu" ] || { echo "no $root/usr/sbin/criu in the initramfs"; return 1; }
	mount -o bind "$root" "$root" &&
		mount -t proc proc "$root/proc" &&
		mount -t sysfs sysfs "$root/sys" &&
		mount -t devtmpfs devtmpfs "$root/dev" &&
		mkdir -p "$root/dev/pts" &&
		mount -t devpts -o newinstance,ptmxmode=0666 devpts "$root/dev/pts" &&
		mount -t tmpfs tmpfs "$root/run" &&
		mount -t tmpfs tmpfs "$root/tmp"
}
if ! root_up >/tmp/root.out 2>&1; then
	echo "TAP version 13"
	echo "1..1"
	echo "not ok 1 could not set up the CRIU root $root: $(paste -sd' ' /tmp/root.out)"
	exit 1
fi

echo "TAP version 13"
if [ "$stage" = 1 ]; then
	echo "1..4"
	run in_root criu --version
	cat /tmp/run.ktap
	# Informational (the dump below is the test): its output is printed at the end of
	# this stage, whatever the outcome.
	run in_root criu check
	mv /tmp/run.ktap /tmp/check.ktap
	trap 'cat /tmp/check.ktap' EXIT
	echo "# criu check: exit $rc (output at the end of this stage)"
	echo "# vDSO mappings of a process: $(grep -oE '\[(vdso|vvar[a-z_]*)\]' /proc/self/maps | paste -sd' ')"

	echo 20000 >/proc/sys/kernel/ns_last_pid	# a PID that is free after the kexec
	# In its own session, with stdio on the root's /dev/null: nothing from outside
	# the root (CRIU could not restore it).
	# shellcheck disable=SC2016 # expanded by the inner sh
	setsid chroot "$root" /bin/sh -c 'exec iperf3 -s -p "$1" </dev/null >/dev/null 2>&1' \
		sh "$port" </dev/null >/dev/null 2>&1 &
	i=0
	srv=''
	while [ -z "$srv" ] && [ "$i" -lt 50 ]; do
		srv=$(pidof iperf3)
		i=$((i + 1))
		sleep 0.1
	done
	echo "# iperf3 server pid ${srv:-none} uptime=$(up)"
	i=0
	while [ "$(established)" -lt 2 ]; do
		i=$((i + 1))
		if [ "$i" -gt 1800 ]; then
			echo "not ok 1 the peer's iperf3 client did not connect in 180 s"
			exit 1
		fi
		sleep 0.1
	done
	echo "ok 1 the peer's iperf3 client is connected (control and data connection)"
	sleep 3
	echo "# dump at uptime=$(up)"
	mkdir -p "$root$img"
	# shellcheck disable=SC2086 # a list of options
	if ! run in_root criu dump -t "$srv" -D "$img" --tcp-established -v4 -o dump.log $criu_opts $dump_opts; then
		echo "not ok 2 criu dump of the iperf3 server failed (exit $rc)"
		cat /tmp/run.ktap
		log_of "$root$img/dump.log"
		kill "$srv" 2>/dev/null	# the peer's client fails at once instead of stalling
		echo "# the iperf3 server was stopped: the peer's client ends now"
		exit 1
	fi
	cat /tmp/run.ktap
	log_of "$root$img/dump.log"
	grep 'Running iptables' "$root$img/dump.log" | sed 's/^/# lock rule: /'
	echo "ok 2 criu dump of the iperf3 server (pid $srv) at uptime=$(up)"
	if [ "$hold" = 1 ]; then
		# Images outside LUO: an archive appended to the next kernel's initramfs
		# (guest/init), where a disk would keep them; an empty LUO session, all that
		# opens the restore window in the new kernel.
		if ! mkdir -p /tmp/next/criu-disk ||
			! tar -C "$root$img" -cf /tmp/next/criu-disk/criu-img.tar . ||
			! (cd /tmp/next && find criu-disk | cpio -o -H newc >/tmp/next.cpio) ||
			! /tests/criu_images save "$session" </dev/null; then
			echo "not ok 3 the images could not be kept for the next kernel, or the empty" \
				"LUO session '$session' not created"
			exit 1
		fi
		echo "ok 3 images ($(wc -c </tmp/next/criu-disk/criu-img.tar) bytes of tar) kept" \
			"outside LUO; empty LUO session '$session' holds the restore window"
		echo "# kexec-initrd-append: /tmp/next.cpio"
	else
		if ! tar -C "$root$img" -cf /tmp/criu-img.tar . ||
			! /tests/criu_images save "$session" </tmp/criu-img.tar; then
			echo "not ok 3 the images could not be preserved in LUO session '$session'"
			exit 1
		fi
		echo "ok 3 images ($(wc -c </tmp/criu-img.tar) bytes of tar) preserved in LUO session '$session'"
	fi
	echo "ok 4 ready for the live update"
	echo "# kexec-append: liveupdate_tcp_rst_suppress=on"
	exit 0
fi

echo "1..3"
boot=$(up)
window=$(cat /sys/kernel/liveupdate/restore_window 2>/dev/null || echo missing)
echo "# userspace at uptime $boot, restore window $window"
run in_root criu --version
cat /tmp/run.ktap
# luonet.criu_delay (default 4 s, as make demo's luonet.demo_delay): the rest of
# userspace booting before the restore agent runs.
delay=$(arg criu_delay)
sleep "${delay:-4}"
echo "# restore at uptime=$(up)"
# The restore runs under criu_images, which finishes the session when it is done.
file=/tmp/criu-img.tar
if [ "$hold" = 1 ]; then
	# The images from where stage 1 kept them; the session holds nothing.
	cp /criu-disk/criu-img.tar /tmp/criu-img.tar ||
		{ echo "not ok 1 no images in /criu-disk (kept outside LUO by stage 1)"; exit 1; }
	file=/dev/null
fi
# shellcheck disable=SC2016,SC2086 # expanded by the inner sh; a list of options
run /tests/criu_images restore "$session" "$file" -- sh -c \
	'r=$1 d=$2 && shift 2 && mkdir -p "$r$d" && tar -C "$r$d" -xf /tmp/criu-img.tar &&
	exec chroot "$r" criu restore -D "$d" --tcp-established -d -v4 -o restore.log "$@"' \
	sh "$root" "$img" $criu_opts
restored=$rc
if [ "$restored" -ne 0 ]; then
	echo "not ok 1 criu restore of the iperf3 server failed (exit $restored)"
	cat /tmp/run.ktap
	log_of "$root$img/restore.log"
	exit 1
fi
cat /tmp/run.ktap
log_of "$root$img/restore.log"
echo "ok 1 criu restored the iperf3 server (pid $(pidof iperf3)) at uptime=$(up)"
window=$(cat /sys/kernel/liveupdate/restore_window)
closed=$(window_closed)
echo "# restore window: now $window (${closed:-no log line})"
echo "# TCPLiveUpdateRstSuppressed $(counter /proc/net/netstat TcpExt TCPLiveUpdateRstSuppressed)," \
	"OutRsts $(counter /proc/net/snmp Tcp OutRsts)"
not=''
[ "$window" = finished ] || not='not '
echo "${not}ok 2 restore window closed when the session was finished ($window)"
if [ -n "$(pidof iperf3)" ]; then
	echo "ok 3 the restored iperf3 server is running"
else
	not='not '
	echo "not ok 3 the restored iperf3 server is gone"
fi
[ -z "$not" ]
