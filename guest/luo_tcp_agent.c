// SPDX-License-Identifier: GPL-2.0
/*
 * A live update agent for TCP connections, the way an operator would run one
 * (make demo). Its dump/restore code is the selftests' library
 * (tools/testing/selftests/liveupdate/lib/luo_tcp.c), shared with the
 * kselftests, not a copy.
 *
 *   luo_tcp_agent save SESSION PID
 *	Freeze PID (SIGTSTP, then SIGSTOP if it has not stopped after about
 *	a second), take its established TCP sockets, IPv4 and IPv6, however
 *	many (pidfd_getfd), put each in repair mode and save it (luo_tcp_save())
 *	into a memfd, and preserve the memfd in a new LUO session SESSION. Then
 *	stay in the background holding /dev/liveupdate and the session until
 *	the kexec. On any error before the session is preserved, repair mode is
 *	switched off again, the network lock (below) removed and PID continued:
 *	the service loses nothing.
 *	LUO_TCP_AGENT_DUMP=kernel: no TCP_REPAIR here; preserve each socket in
 *	the session itself (LIVEUPDATE_SESSION_PRESERVE_FD: the kernel's LUO
 *	file handler for TCP sockets saves it at the reboot). The memfd then
 *	only says how many there are. Needs no network lock: the kernel that
 *	has the handler has the repair-mode drop too.
 *
 *   luo_tcp_agent restore SESSION -- COMMAND [ARG...]
 *	In the new kernel: retrieve SESSION, recreate every socket
 *	(luo_tcp_restore(): repair mode off at the end; or retrieve it from the
 *	session, if the kernel saved it), finish the session
 *	(the restore window closes when it was the last one), and exec COMMAND
 *	with the sockets as fds 3, 4, ... and LISTEN_FDS/LISTEN_PID set
 *	(systemd's socket passing convention).
 *
 *   luo_tcp_agent restore SESSION --to PATH
 *	The same, but each socket goes to a service already running, as soon
 *	as it is restored: over the Unix stream socket PATH the service
 *	listens on, one SCM_RIGHTS message per socket, carrying its index
 *	(__u32) in the session. So the connections restored so far belong to
 *	the service, not to the agent, should the agent die halfway.
 *	LUO_TCP_AGENT_STOP_AFTER=N: stop itself (SIGSTOP) once N sockets are
 *	handed over, for a test to kill it there (luo_agent_dies).
 *
 *   luo_tcp_agent probe
 *	Say whether this kernel drops what a socket in repair mode receives
 *	(exit 0) or still queues and ACKs it (exit 1), or that the probe failed
 *	(exit 2); see repair_drops_input().
 *
 * The network lock. A kernel without the repair-mode drop ("tcp: do not queue
 * or ACK data on a socket in repair mode"), e.g. the one a fleet's first update
 * onto this series starts from, keeps ACKing what a saved socket receives: the
 * peer then never sends those bytes again and the restored connection hangs.
 * There the agent does what CRIU does: before the first TCP_REPAIR_ON it
 * installs an nftables table (LOCK_TABLE) that drops every segment of the saved
 * 4-tuples, both ways, in PID's network namespace (nft must be in PATH). The
 * kexec wipes it. Whether it is needed is probed, not guessed from a version:
 * LUO_TCP_AGENT_LOCK=auto (default) locks when the probe finds no drop (or
 * fails), nft always locks, none never does (a test of all this).
 *
 * Progress goes to stderr as "# agent: EVENT ... uptime=SECONDS ...".
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>

#include <libliveupdate.h>

#define PROG	"luo_tcp_agent"
#define SAY	"agent"
#include "guest_util.h"
#include <luo_tcp.h>

#define AGENT_MAGIC	0x4c554132	/* "LUA2" */
#define AGENT_KERNEL	0x4c554b31	/* "LUK1": the sockets are in the session */
#define IMAGES_TOKEN	1
#define SOCK_TOKEN	2	/* of the first socket, with AGENT_KERNEL */
#define RETRY_MAX	300	/* retrieves 100 ms apart while an address or route is missing */
#define MAX_SOCKS	65536
#define IMAGES_MAX	(1UL << 30)	/* sparse: only what is written is memory */
#define STATE_ESTABLISHED 1		/* tcpi_state, as TCP_ESTABLISHED in net/tcp_states.h */
#define LOCK_TABLE	"luo_tcp_agent_lock"
#define PROBE_MS	2000	/* for the probe segment to arrive */
#define RESTORE_FDS	16	/* fds restore holds besides the sockets */

/*
 * The memfd: this header, then @count entries, then the images, each at an
 * 8-byte aligned offset. @size is what the memfd holds. With AGENT_KERNEL, the
 * header alone: socket i is in the session under token SOCK_TOKEN + i.
 */
struct agent_header {
	__u32 magic;
	__u32 count;
	__u64 size;
	struct agent_entry {
		__u32 offset, size;	/* of a struct luo_tcp_image */
	} sock[];
};

static int is_established_tcp(int fd)
{
	struct tcp_info ti;
	socklen_t len = sizeof(int);
	int proto;

	if (getsockopt(fd, SOL_SOCKET, SO_PROTOCOL, &proto, &len) || proto != IPPROTO_TCP)
		return 0;
	len = sizeof(ti);
	return !getsockopt(fd, IPPROTO_TCP, TCP_INFO, &ti, &len) &&
	       ti.tcpi_state == STATE_ESTABLISHED;
}

/*
 * Does this kernel drop what a socket in repair mode receives? One byte goes
 * over a loopback connection whose receiving end is in repair mode. Once the
 * receiver has seen the segment (tcpi_segs_in moved), its tcpi_bytes_received
 * says what became of it: counted (queued and ACKed) or not (dropped). Both
 * are read under the socket lock, which the receive path holds while it
 * processes the segment, so the answer never depends on timing; only a
 * segment that never arrives does (an error: lock to be safe). Both ends are
 * closed in repair mode, silently. Returns 1 (drops), 0 (queues) or -errno.
 */
static int repair_drops_input(void)
{
	struct sockaddr_in a = { .sin_family = AF_INET };
	int ls, c = -1, s = -1, on = TCP_REPAIR_ON, ret = -ETIMEDOUT, i;
	socklen_t len = sizeof(a);
	struct tcp_info t0, t;

	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	ls = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (ls < 0)
		return -errno;
	if (bind(ls, (void *)&a, sizeof(a)) || listen(ls, 1) ||
	    getsockname(ls, (void *)&a, &len))
		goto err;
	c = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (c < 0 || connect(c, (void *)&a, sizeof(a)))
		goto err;
	s = accept4(ls, NULL, NULL, SOCK_CLOEXEC);
	len = sizeof(t0);
	if (s < 0 || setsockopt(s, IPPROTO_TCP, TCP_REPAIR, &on, sizeof(on)) ||
	    getsockopt(s, IPPROTO_TCP, TCP_INFO, &t0, &len) || send(c, "?", 1, 0) != 1)
		goto err;
	for (i = 0; i < PROBE_MS; i++) {
		len = sizeof(t);
		if (getsockopt(s, IPPROTO_TCP, TCP_INFO, &t, &len))
			goto err;
		if (t.tcpi_segs_in != t0.tcpi_segs_in) {
			ret = t.tcpi_bytes_received == t0.tcpi_bytes_received;
			break;
		}
		usleep(1000);
	}
	goto out;
err:
	ret = errno ? -errno : -EIO;
out:
	if (c >= 0) {
		setsockopt(c, IPPROTO_TCP, TCP_REPAIR, &on, sizeof(on));
		close(c);
	}
	if (s >= 0)
		close(s);
	close(ls);
	return ret;
}

/* Run "nft -f -" in @pid's network namespace with @script on its stdin. */
static int nft_run(pid_t pid, const char *script)
{
	int p[2], st, ns, err;
	char path[64];
	size_t len;
	ssize_t n;
	pid_t child;

	snprintf(path, sizeof(path), "/proc/%d/ns/net", pid);
	if (pipe2(p, O_CLOEXEC))
		return -errno;
	child = fork();
	if (child < 0)
		return -errno;
	if (!child) {
		ns = open(path, O_RDONLY);
		if (ns < 0 || setns(ns, CLONE_NEWNET)) {
			fprintf(stderr, PROG ": %s: %s\n", path, strerror(errno));
			_exit(127);
		}
		dup2(p[0], STDIN_FILENO);	/* without O_CLOEXEC */
		execlp("nft", "nft", "-f", "-", (char *)NULL);
		fprintf(stderr, PROG ": nft: %s\n", strerror(errno));
		_exit(127);
	}
	close(p[0]);
	/* SIGPIPE is ignored: an nft that stops reading early fails here. */
	for (len = strlen(script), err = 0; len && !err; len -= n, script += n) {
		n = write(p[1], script, len);
		if (n <= 0)
			err = n < 0 ? -errno : -EIO;
	}
	close(p[1]);
	if (err)
		kill(child, SIGKILL);
	if (waitpid(child, &st, 0) < 0)
		return -errno;
	if (err)
		return err;
	return WIFEXITED(st) && !WEXITSTATUS(st) ? 0 : -EIO;
}

static int socks[MAX_SOCKS], nsocks, nrepair, locked;
static ino_t inos[MAX_SOCKS];
static pid_t frozen;

/* The 4-tuple of @fd as "LOCAL . LPORT . REMOTE . RPORT", 4 or 6 in @family. */
static int flow_key(int fd, char *buf, size_t cap, int *family)
{
	struct sockaddr_storage ss[2];
	char addr[2][INET6_ADDRSTRLEN];
	int port[2], i;

	for (i = 0; i < 2; i++) {
		socklen_t len = sizeof(ss[i]);
		struct sockaddr_in6 *s6 = (void *)&ss[i];
		struct sockaddr_in *s4 = (void *)&ss[i];

		if (i ? getpeername(fd, (void *)&ss[i], &len) :
			getsockname(fd, (void *)&ss[i], &len))
			return -errno;
		if (ss[i].ss_family == AF_INET6 && IN6_IS_ADDR_V4MAPPED(&s6->sin6_addr)) {
			/* On the wire, an IPv4-mapped address is IPv4. */
			inet_ntop(AF_INET, &s6->sin6_addr.s6_addr[12], addr[i], sizeof(addr[i]));
			*family = 4;
			port[i] = ntohs(s6->sin6_port);
		} else if (ss[i].ss_family == AF_INET6) {
			inet_ntop(AF_INET6, &s6->sin6_addr, addr[i], sizeof(addr[i]));
			*family = 6;
			port[i] = ntohs(s6->sin6_port);
		} else {
			inet_ntop(AF_INET, &s4->sin_addr, addr[i], sizeof(addr[i]));
			*family = 4;
			port[i] = ntohs(s4->sin_port);
		}
	}
	snprintf(buf, cap, "%s . %d . %s . %d", addr[0], port[0], addr[1], port[1]);
	return 0;
}

/*
 * Drop every segment of the sockets in socks[], both ways, in @pid's network
 * namespace: one nft transaction, whatever their number.
 */
static int lock_flows(pid_t pid)
{
	size_t cap = 64 + (size_t)nsocks * 112, len[2] = { 0, 0 };
	char *el[2], *script, key[112];
	int i, f = 4, err = 0;

	el[0] = calloc(1, cap);
	el[1] = calloc(1, cap);
	script = calloc(1, 2 * cap + 1024);
	if (!el[0] || !el[1] || !script) {
		err = -ENOMEM;
		goto out;
	}
	for (i = 0; i < nsocks; i++) {
		err = flow_key(socks[i], key, sizeof(key), &f);
		if (err)
			goto out;
		f = f == 6;
		len[f] += snprintf(el[f] + len[f], cap - len[f], "%s%s",
				   len[f] ? ", " : " elements = { ", key);
	}
	for (f = 0; f < 2; f++)
		if (len[f])
			snprintf(el[f] + len[f], cap - len[f], " }");
	/* The first two lines: a table left by an earlier run goes. */
	snprintf(script, 2 * cap + 1024,
		 "table inet %1$s\ndelete table inet %1$s\n"
		 "table inet %1$s {\n"
		 " set f4 { type ipv4_addr . inet_service . ipv4_addr . inet_service;%2$s }\n"
		 " set f6 { type ipv6_addr . inet_service . ipv6_addr . inet_service;%3$s }\n"
		 " chain in { type filter hook input priority -300; policy accept;\n"
		 "  ip daddr . tcp dport . ip saddr . tcp sport @f4 drop\n"
		 "  ip6 daddr . tcp dport . ip6 saddr . tcp sport @f6 drop\n }\n"
		 " chain out { type filter hook output priority -300; policy accept;\n"
		 "  ip saddr . tcp sport . ip daddr . tcp dport @f4 drop\n"
		 "  ip6 saddr . tcp sport . ip6 daddr . tcp dport @f6 drop\n }\n"
		 "}\n", LOCK_TABLE, el[0], el[1]);
	err = nft_run(pid, script);
out:
	free(el[0]);
	free(el[1]);
	free(script);
	return err;
}

static int unlock_flows(pid_t pid)
{
	int err = nft_run(pid, "delete table inet " LOCK_TABLE "\n");

	if (err)
		fprintf(stderr, PROG ": could not remove the network lock: run nft delete table inet "
			LOCK_TABLE " in the network namespace of process %d\n", pid);
	return err;
}

/*
 * Wait until @pid is stopped (state T in /proc/PID/stat): @polls reads of it,
 * 1 ms apart (so at least that many ms; more on a slow or loaded machine).
 */
static int wait_stopped(pid_t pid, int polls)
{
	char path[64], buf[512], *p;
	int i, fd, n;

	snprintf(path, sizeof(path), "/proc/%d/stat", pid);
	for (i = 0; i < polls; i++) {
		fd = open(path, O_RDONLY);
		if (fd < 0)
			return -1;
		n = read(fd, buf, sizeof(buf) - 1);
		close(fd);
		if (n <= 0)
			return -1;
		buf[n] = '\0';
		p = strrchr(buf, ')');
		if (p && p[1] == ' ' && p[2] == 'T')
			return 0;
		usleep(1000);
	}
	return -1;
}

/* Undo what save did so far: the service goes on as if nothing happened. */
static void save_failed(const char *what, int err)
{
	int i, off = TCP_REPAIR_OFF;

	const char *lock = "";

	/* The lock first: the window probes of TCP_REPAIR_OFF must get out. */
	if (locked)
		lock = unlock_flows(frozen) ? ", network lock NOT removed" : ", network lock removed";
	for (i = 0; i < nrepair; i++)
		setsockopt(socks[i], IPPROTO_TCP, TCP_REPAIR, &off, sizeof(off));
	if (frozen)
		kill(frozen, SIGCONT);
	die("save: %s: %s (repair mode off again%s, process %d continued)", what,
	    strerror(err), lock, frozen);
}

/* Whether to lock the flows (LUO_TCP_AGENT_LOCK=auto|nft|none), and why. */
static int want_lock(const char **why)
{
	const char *mode = getenv("LUO_TCP_AGENT_LOCK");
	static char buf[128];
	int drops;

	if (mode && !strcmp(mode, "none")) {
		*why = "LUO_TCP_AGENT_LOCK=none";
		return 0;
	}
	if (mode && !strcmp(mode, "nft")) {
		*why = "LUO_TCP_AGENT_LOCK=nft";
		return 1;
	}
	if (mode && strcmp(mode, "auto"))
		die("save: LUO_TCP_AGENT_LOCK=%s: want auto, nft or none", mode);
	drops = repair_drops_input();
	if (drops < 0) {
		snprintf(buf, sizeof(buf), "the repair-mode probe failed: %s", strerror(-drops));
		*why = buf;
		return 1;
	}
	*why = drops ? "this kernel drops input in repair mode" :
		       "this kernel queues and ACKs input in repair mode";
	return !drops;
}

/* LUO_TCP_AGENT_DUMP=kernel: the sockets go into the session as they are. */
static int save_in_kernel(int luo, int mfd, struct agent_header *hdr,
			  const char *session_name, double t_frozen)
{
	int session, n, i;

	hdr->count = nsocks;
	hdr->size = sizeof(*hdr);
	munmap(hdr, IMAGES_MAX);
	if (ftruncate(mfd, sizeof(*hdr)))
		save_failed("shrink the memfd", errno);
	session = luo_create_session(luo, session_name);
	if (session < 0)
		save_failed("create LUO session", -session);
	n = luo_session_preserve_fd(session, mfd, IMAGES_TOKEN);
	for (i = 0; !n && i < nsocks; i++) {
		n = luo_session_preserve_fd(session, socks[i], SOCK_TOKEN + i);
		if (n)
			say("socket %d refused by the kernel: %s", i, strerror(-n));
	}
	/* On error, closing the session (at exit) unpreserves what it holds. */
	if (n)
		save_failed("preserve the sockets", -n);
	say("saved sockets=%d bytes=0 save_ms=%.3f session=%s dump=kernel uptime=%.3f", nsocks,
	    (mono() - t_frozen) * 1e3, session_name, uptime());
	if (hold_until_kexec() < 0)
		save_failed("fork", errno);
	return 0;
}

static int cmd_save(const char *session_name, pid_t pid)
{
	const char *stop, *how = NULL, *why, *dump;
	struct agent_header *hdr;
	char path[320], link[64];
	int pidfd, mfd, luo, session, n, lock, i, in_kernel;
	double t_frozen, t_saved;
	struct rlimit rl;
	struct dirent *de;
	size_t off;
	char *map;
	DIR *dir;

	raise_nofile();
	pidfd = syscall(SYS_pidfd_open, pid, 0);
	if (pidfd < 0)
		die("save: process %d: %s", pid, strerror(errno));
	luo = open(LUO_DEVICE, O_RDWR | O_CLOEXEC);
	if (luo < 0)
		die("save: %s: %s (liveupdate=on? another agent holds it?)", LUO_DEVICE,
		    strerror(errno));
	mfd = memfd_create("luo-tcp-images", MFD_CLOEXEC);
	if (mfd < 0 || ftruncate(mfd, IMAGES_MAX))
		die("save: memfd: %s", strerror(errno));
	map = mmap(NULL, IMAGES_MAX, PROT_READ | PROT_WRITE, MAP_SHARED, mfd, 0);
	if (map == MAP_FAILED)
		die("save: mmap: %s", strerror(errno));
	hdr = (struct agent_header *)map;
	dump = getenv("LUO_TCP_AGENT_DUMP");
	if (dump && strcmp(dump, "kernel") && strcmp(dump, "repair"))
		die("save: LUO_TCP_AGENT_DUMP=%s: want repair or kernel", dump);
	in_kernel = dump && !strcmp(dump, "kernel");
	hdr->magic = in_kernel ? AGENT_KERNEL : AGENT_MAGIC;
	lock = !in_kernel && want_lock(&why);
	say("dump=%s lock=%s (%s)", in_kernel ? "kernel" : "repair", lock ? "nft" : "none",
	    in_kernel ? "the kernel saves the sockets" : why);

	/*
	 * Only the sockets are saved, not the process: it must stop where its
	 * state is whole. SIGTSTP stops it like SIGSTOP by default, and lets a
	 * service that catches it stop itself at such a point (lu_stream: after
	 * echoing what it has read). The kernel discards SIGTSTP for an orphaned
	 * process group, hence SIGSTOP after about a second.
	 * LUO_TCP_AGENT_FREEZE=SIGSTOP: SIGSTOP at once (a test of the above).
	 */
	stop = getenv("LUO_TCP_AGENT_FREEZE");
	if (!stop || strcmp(stop, "SIGSTOP")) {
		if (kill(pid, SIGTSTP))
			die("save: cannot signal process %d: %s", pid, strerror(errno));
		how = "SIGTSTP";
	}
	if (!how || wait_stopped(pid, 1000)) {
		how = "SIGSTOP";
		if (kill(pid, SIGSTOP) || wait_stopped(pid, 5000))
			die("save: cannot freeze process %d: %s", pid, strerror(errno));
	}
	frozen = pid;
	t_frozen = mono();
	say("frozen pid=%d by=%s uptime=%.3f", pid, how, uptime());

	snprintf(path, sizeof(path), "/proc/%d/fd", pid);
	dir = opendir(path);
	if (!dir)
		save_failed(path, errno);
	while ((de = readdir(dir))) {
		struct stat st;
		int fd;

		snprintf(path, sizeof(path), "/proc/%d/fd/%s", pid, de->d_name);
		n = readlink(path, link, sizeof(link) - 1);
		if (n <= 0 || strncmp(link, "socket:", 7))
			continue;
		fd = syscall(SYS_pidfd_getfd, pidfd, atoi(de->d_name), 0);	/* close-on-exec */
		if (fd < 0)
			save_failed("pidfd_getfd", errno);
		if (!is_established_tcp(fd) || fstat(fd, &st)) {
			close(fd);
			continue;
		}
		/* One socket at several fds (dup(), inetd style) is one connection. */
		for (i = 0; i < nsocks && inos[i] != st.st_ino; i++)
			;
		if (i < nsocks) {
			close(fd);
			continue;
		}
		if (nsocks == MAX_SOCKS)
			save_failed("too many connections", E2BIG);
		inos[nsocks] = st.st_ino;
		socks[nsocks++] = fd;
	}
	closedir(dir);
	if (!nsocks)
		save_failed("no established TCP connection in the process", ENOENT);
	/* What restore needs: a socket and an fd 3, 4, ... for each (see there). */
	if (getrlimit(RLIMIT_NOFILE, &rl) || rl.rlim_max < (rlim_t)nsocks + RESTORE_FDS)
		save_failed("more connections than RLIMIT_NOFILE lets a restore hold", EMFILE);

	/* Before the first TCP_REPAIR_ON: nothing they receive is ACKed then. */
	if (lock) {
		n = lock_flows(pid);
		if (n)
			save_failed("network lock (nft)", -n);
		locked = 1;
		say("locked flows=%d uptime=%.3f", nsocks, uptime());
	}

	if (in_kernel)
		return save_in_kernel(luo, mfd, hdr, session_name, t_frozen);
	off = sizeof(*hdr) + (size_t)nsocks * sizeof(hdr->sock[0]);
	off = (off + 7) & ~7UL;
	for (i = 0; i < nsocks; i++) {
		struct luo_tcp_image *img = (struct luo_tcp_image *)(map + off);

		nrepair++;	/* in repair mode from now on, even if the save fails */
		n = luo_tcp_save(socks[i], img, IMAGES_MAX - off);
		if (n < 0)
			save_failed("luo_tcp_save", -n);
		hdr->sock[i].offset = off;
		hdr->sock[i].size = n;
		off += (n + 7) & ~7;
		if (nsocks <= 16)
			say("saved socket=%d queued_in=%u queued_out=%u", i, img->inq_len,
			    img->outq_len);
	}
	hdr->count = nsocks;
	hdr->size = off;
	t_saved = mono();
	/* The memfd keeps what was written, no more (LUO preserves all of it). */
	munmap(map, IMAGES_MAX);
	if (ftruncate(mfd, off))
		save_failed("shrink the memfd", errno);

	session = luo_create_session(luo, session_name);
	if (session < 0)
		save_failed("create LUO session", -session);
	n = luo_session_preserve_fd(session, mfd, IMAGES_TOKEN);
	if (n)
		save_failed("preserve the images", -n);
	say("saved sockets=%d bytes=%zu save_ms=%.3f session=%s uptime=%.3f", nsocks, off,
	    (t_saved - t_frozen) * 1e3, session_name, uptime());

	/* Hold /dev/liveupdate, the session and the sockets until the kexec. */
	if (hold_until_kexec() < 0)
		save_failed("fork", errno);
	return 0;
}

/* @fd at the lowest free fd >= @min (close-on-exec), the old one closed. */
static int move_above(int fd, int min)
{
	int to = fcntl(fd, F_DUPFD_CLOEXEC, min);

	if (to < 0)
		die("restore: F_DUPFD: %s (nothing restored)", strerror(errno));
	close(fd);
	return to;
}

/* Connect to the Unix stream socket @path: where restore --to sends sockets. */
static int connect_unix(const char *path)
{
	struct sockaddr_un a = { .sun_family = AF_UNIX };
	int fd;

	if (strlen(path) >= sizeof(a.sun_path))
		die("restore: --to %s: path too long (nothing restored)", path);
	strcpy(a.sun_path, path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || connect(fd, (void *)&a, sizeof(a)))
		die("restore: --to %s: %s (nothing restored)", path, strerror(errno));
	return fd;
}

/* Hand socket @fd, number @i of the session, to the service behind @to. */
static void send_sock(int to, __u32 i, int fd)
{
	char cbuf[CMSG_SPACE(sizeof(int))] = { 0 };
	struct iovec iov = { .iov_base = &i, .iov_len = sizeof(i) };
	struct msghdr msg = {
		.msg_iov = &iov, .msg_iovlen = 1,
		.msg_control = cbuf, .msg_controllen = sizeof(cbuf),
	};
	struct cmsghdr *cm = CMSG_FIRSTHDR(&msg);

	cm->cmsg_level = SOL_SOCKET;
	cm->cmsg_type = SCM_RIGHTS;
	cm->cmsg_len = CMSG_LEN(sizeof(int));
	memcpy(CMSG_DATA(cm), &fd, sizeof(int));
	if (sendmsg(to, &msg, 0) != sizeof(i))
		die("restore: socket %u: hand over: %s", i, strerror(errno));
}

/*
 * Restore SESSION's sockets, then exec @argv with them, or, with @to_path,
 * send each to the service listening there as soon as it is restored.
 */
static int cmd_restore(const char *session_name, char *argv[], const char *to_path)
{
	const char *stop = getenv("LUO_TCP_AGENT_STOP_AFTER");
	int to = -1;
	const struct agent_header *hdr;
	int luo, session, mfd, fd, err, in_kernel, tries;
	double t0, t1, t2, t, *cost;
	struct rlimit rl;
	char env[32];
	struct stat st;
	const char *map;
	__u32 i, count;

	raise_nofile();
	t0 = mono();
	luo = open(LUO_DEVICE, O_RDWR | O_CLOEXEC);
	if (luo < 0)
		die("restore: %s: %s", LUO_DEVICE, strerror(errno));
	session = luo_retrieve_session(luo, session_name);
	if (session < 0)
		die("restore: no incoming session '%s': %s", session_name, strerror(-session));
	mfd = luo_session_retrieve_fd(session, IMAGES_TOKEN);
	if (mfd < 0 || fstat(mfd, &st))
		die("restore: session '%s' has no socket images", session_name);
	map = mmap(NULL, st.st_size, PROT_READ, MAP_SHARED, mfd, 0);
	if (map == MAP_FAILED)
		die("restore: mmap: %s", strerror(errno));
	hdr = (const struct agent_header *)map;
	in_kernel = (size_t)st.st_size >= sizeof(*hdr) && hdr->magic == AGENT_KERNEL &&
		    hdr->count && hdr->count <= MAX_SOCKS;
	if (!in_kernel &&
	    ((size_t)st.st_size < sizeof(*hdr) || hdr->magic != AGENT_MAGIC ||
	     !hdr->count || hdr->count > MAX_SOCKS || hdr->size > (__u64)st.st_size ||
	     sizeof(*hdr) + (size_t)hdr->count * sizeof(hdr->sock[0]) > hdr->size))
		die("restore: session '%s' holds no luo_tcp_agent images of this version",
		    session_name);
	count = hdr->count;
	for (i = 0; !in_kernel && i < count; i++) {
		const struct luo_tcp_image *img;
		__u32 o = hdr->sock[i].offset, sz = hdr->sock[i].size;

		img = (const struct luo_tcp_image *)(map + o);
		if (o % 8 || o > hdr->size || sz > hdr->size - o ||
		    sz < sizeof(struct luo_tcp_image) || img->size != sz)
			die("restore: image %u is corrupt (nothing restored)", i);
	}
	/*
	 * The sockets become fds 3 .. count + 2; what restore holds besides
	 * them moves above. Checked before the first socket: a restore that
	 * fails half-way loses the connections it had recreated.
	 */
	if (getrlimit(RLIMIT_NOFILE, &rl) || rl.rlim_cur < (rlim_t)count + RESTORE_FDS)
		die("restore: %u connections need RLIMIT_NOFILE >= %u (nothing restored)", count,
		    count + RESTORE_FDS);
	luo = move_above(luo, count + 3);
	session = move_above(session, count + 3);
	mfd = move_above(mfd, count + 3);
	cost = calloc(count, sizeof(*cost));
	if (!cost)
		die("restore: %s (nothing restored)", strerror(ENOMEM));
	if (to_path)
		to = move_above(connect_unix(to_path), count + 3);

	t1 = mono();
	for (i = 0, t = t1; i < count; i++) {
		/*
		 * The kernel keeps a socket whose local address or route does
		 * not exist yet (it says which in its log) for another
		 * retrieve. Closing the ones already restored would end their
		 * connections: wait for it.
		 */
		for (tries = 0; in_kernel; tries++) {
			fd = luo_session_retrieve_fd(session, SOCK_TOKEN + i);
			if ((fd != -EADDRNOTAVAIL && fd != -ENETUNREACH && fd != -EHOSTUNREACH) ||
			    tries == RETRY_MAX)
				break;
			if (!tries)
				say("socket %u: no address or route for it yet, waiting up to %d s",
				    i, RETRY_MAX / 10);
			usleep(100000);
		}
		if (!in_kernel)
			fd = luo_tcp_restore((const struct luo_tcp_image *)(map + hdr->sock[i].offset));
		if (fd < 0)
			die("restore: socket %u: %s", i, strerror(-fd));
		if (to >= 0) {
			send_sock(to, i, fd);
			close(fd);
			say("handed over socket=%u uptime=%.3f", i, uptime());
			if (stop && i + 1 == strtoul(stop, NULL, 10)) {
				say("stopping after %u sockets (LUO_TCP_AGENT_STOP_AFTER) uptime=%.3f",
				    i + 1, uptime());
				raise(SIGSTOP);
			}
		} else if (fd != (int)(3 + i)) {
			/* dup2() clears close-on-exec; LUO's retrieve sets it. */
			if (dup2(fd, 3 + i) < 0)
				die("restore: dup2: %s", strerror(errno));
			close(fd);
		} else if (fcntl(fd, F_SETFD, 0)) {
			die("restore: fcntl: %s", strerror(errno));
		}
		t2 = mono();
		cost[i] = t2 - t;
		t = t2;
	}
	t2 = mono();
	/*
	 * Per socket: the median, and the max (the first socket of each family
	 * pays what is done once: page faults on the images, first lookups).
	 */
	qsort(cost, count, sizeof(*cost), cmp_double);
	say("restored sockets=%u restore_ms=%.3f median_us=%.1f max_us=%.1f retrieve_ms=%.3f uptime=%.3f",
	    count, (t2 - t1) * 1e3, cost[count / 2] * 1e6, cost[count - 1] * 1e6,
	    (t1 - t0) * 1e3, uptime());
	free(cost);

	err = luo_session_finish(session);
	if (err)
		die("restore: finish session '%s': %s", session_name, strerror(-err));
	say("finished session=%s uptime=%.3f", session_name, uptime());
	munmap((void *)map, st.st_size);
	close(mfd);
	close(session);
	close(luo);
	if (to >= 0) {
		close(to);
		return 0;
	}
	snprintf(env, sizeof(env), "%u", count);
	setenv("LISTEN_FDS", env, 1);
	snprintf(env, sizeof(env), "%d", getpid());
	setenv("LISTEN_PID", env, 1);
	execvp(argv[0], argv);
	die("restore: exec %s: %s", argv[0], strerror(errno));
}

int main(int argc, char *argv[])
{
	char *end;
	long pid;

	signal(SIGPIPE, SIG_IGN);
	if (argc == 4 && !strcmp(argv[1], "save")) {
		pid = strtol(argv[3], &end, 10);
		if (*end || pid <= 0 || pid > INT_MAX)
			die("save: bad PID '%s'", argv[3]);
		return cmd_save(argv[2], pid);
	}
	if (argc >= 5 && !strcmp(argv[1], "restore") && !strcmp(argv[3], "--"))
		return cmd_restore(argv[2], argv + 4, NULL);
	if (argc == 5 && !strcmp(argv[1], "restore") && !strcmp(argv[3], "--to"))
		return cmd_restore(argv[2], NULL, argv[4]);
	if (argc == 2 && !strcmp(argv[1], "probe")) {
		int drops = repair_drops_input();

		if (drops < 0) {
			fprintf(stderr, PROG ": probe: %s\n", strerror(-drops));
			return 2;
		}
		printf("%s\n", drops ? "repair-mode drop: yes (no network lock needed)" :
			"repair-mode drop: no (the agent locks the flows with nft)");
		return !drops;
	}
	fprintf(stderr, "usage: luo_tcp_agent save SESSION PID\n"
		"       luo_tcp_agent restore SESSION -- COMMAND [ARG...]\n"
		"       luo_tcp_agent restore SESSION --to PATH\n"
		"       luo_tcp_agent probe\n");
	return 2;
}
