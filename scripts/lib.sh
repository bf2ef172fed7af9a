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

# The Debian archive this machine's apt uses (DEBIAN_MIRROR overrides it): the URI of
# the machine's main suite, the one its release codename names (not security). The
# harness fetches other suites of the same archive through private sources lists.
debian_mirror() {
	local codename mirror
	# shellcheck disable=SC1091
	codename=$(. /etc/os-release && echo "${VERSION_CODENAME:-}")
	# shellcheck disable=SC2016 # apt's format string, not ours to expand
	mirror=${DEBIAN_MIRROR:-$(apt-get indextargets --format '$(REPO_URI)' \
		"Codename: $codename" 'Identifier: Packages' 2>/dev/null | head -n1)}
	[ -n "$mirror" ] || die "no Debian archive in this machine's apt sources: set DEBIAN_MIRROR"
	echo "${mirror%/}"
}

# worktree_at DIR REV: DIR is a detached worktree of build/linux, checked out at REV
# (created on first use; each build that needs its own sources keeps its own DIR).
worktree_at() {
	if [ ! -e "$1/.git" ]; then
		git -C "$KTREE" worktree prune
		git -C "$KTREE" worktree add -q --detach "$1" "$2"
	fi
	git -C "$1" checkout -q --detach "$2"
}

# The kernel work is two submissions that apply in order, listed in patches/series one
# per line as "NAME PATCHES SUBJECT-PREFIX". Their patches share one numbering in
# patches/ (NNNN-*.patch, in the order `git am` applies them; each file's subject keeps
# its own submission's numbering), and each has its cover letter,
# patches/0000-NAME-cover-letter.patch.
series_list() { grep -v -e '^[[:space:]]*#' -e '^[[:space:]]*$' "$TOP/patches/series"; }

# Every patch of every submission, in the order `git am` applies them.
series_patches() {
	find "$TOP/patches" -maxdepth 1 -name '[0-9][0-9][0-9][0-9]-*.patch' ! -name '0000-*' | sort
}

# guest_qemu_args KDIR CMDLINE MEM SMP CONSOLE_LOG TEST_LOG [NETDEV MAC]
# Fill the array QARGS with a QEMU (TCG) command line for one guest booting
# KDIR/bzImage with KDIR/initramfs.cpio (or the file GUEST_INITRD names): console on
# the first serial port, test output (guest/init's markers) on the second, and
# optionally one virtio-net NIC on NETDEV (a QEMU -netdev value, e.g.
# socket,id=n0,listen=127.0.0.1:PORT) with MAC.
guest_qemu_args() {
	local cmdline="console=ttyS0 loglevel=7 printk.time=1 log_buf_len=1M panic=-1"
	# tsc=nowatchdog: the clocksource watchdog's skew check can deadlock with
	# the stop_machine() of the first clocksource switch (its timeout reads
	# jiffies, which stop with interrupts off on both CPUs); under TCG, a
	# descheduled vCPU thread widens that window enough to hang about one boot
	# in a hundred. The guest TSC comes from the host: nothing to watch.
	cmdline+=" retain_initrd liveupdate=on tsc=nowatchdog $2"
	QARGS=(-accel tcg -m "$3" -smp "$4" -nographic -nodefaults -no-reboot
		-serial "file:$5" -serial "file:$6"
		-kernel "$1/bzImage" -initrd "${GUEST_INITRD:-$1/initramfs.cpio}" -append "$cmdline")
	if [ -n "${7:-}" ]; then
		QARGS+=(-netdev "$7" -device "virtio-net-pci,netdev=n0,mac=$8")
	fi
}
