// SPDX-License-Identifier: GPL-2.0
/*
 * A live update agent for TCP connections, the way an operator would run one
 * (make demo). Its dump/restore code is the selftests' library
 * (tools/testing/selftests/liveupdate/lib/luo_tcp.c), shared with the
 * kselftests, not a copy.
 *
 *   luo_tcp_agent save SESSION PID
 *	Freeze PID (SIGTSTP, then SIGSTOP if it has not stopped after about
 *	a second), take its established TCP sockets (pidfd_getfd),
 *	put each in repair mode and save it (luo_tcp_save()) into a memfd, and
 *	preserve the memfd in a new LUO session SESSION. Then stay in the
 *	background holding /dev/liveupdate and the session until the kexec.
 *	On any error before the session is preserved, repair mode is switched
 *	off again and PID continued: the service loses nothing.
 *
 *   luo_tcp_agent restore SESSION -- COMMAND [ARG...]
 *	In the new kernel: retrieve SESSION, recreate every socket
 *	(luo_tcp_restore(): repair mode off at the end), finish the session
 *	(the restore window closes when it was the last one), and exec COMMAND
 *	with the sockets as fds 3, 4, ... and LISTEN_FDS/LISTEN_PID set
 *	(systemd's socket passing convention).
 *
 * Progress goes to stderr as "# agent: EVENT uptime=SECONDS ...".
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>
#include <netinet/in.h>

#include <libliveupdate.h>

#define PROG	"luo_tcp_agent"
#define SAY	"agent"
#include "guest_util.h"
#include <luo_tcp.h>

#define AGENT_MAGIC	0x4c554f41	/* "LUOA" */
#define IMAGES_TOKEN	1
#define MAX_SOCKS	64
#define IMAGES_MAX	(4 << 20)
#define HIGH_FD		1000
#define STATE_ESTABLISHED 1		/* tcpi_state, as TCP_ESTABLISHED in net/tcp_states.h */

struct agent_header {
	__u32 magic;
	__u32 count;
	struct {
		__u32 offset, size;	/* of a struct luo_tcp_image */
	} sock[MAX_SOCKS];
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

static int socks[MAX_SOCKS], nsocks;
static pid_t frozen;

/* Undo what save did so far: the service goes on as if nothing happened. */
static void save_failed(const char *what, int err)
{
	int i, off = TCP_REPAIR_OFF;

	for (i = 0; i < nsocks; i++)
		setsockopt(socks[i], IPPROTO_TCP, TCP_REPAIR, &off, sizeof(off));
	if (frozen)
		kill(frozen, SIGCONT);
	die("save: %s: %s (repair mode off again, process %d continued)", what,
	    strerror(err), frozen);
}

static int cmd_save(const char *session_name, pid_t pid)
{
	const char *stop, *how = NULL;
	struct agent_header *hdr;
	char path[320], link[64];
	struct dirent *de;
	int pidfd, mfd, luo, session, n;
	__u32 off;
	char *map;
	DIR *dir;

	pidfd = syscall(SYS_pidfd_open, pid, 0);
	if (pidfd < 0)
		die("save: process %d: %s", pid, strerror(errno));
	luo = open(LUO_DEVICE, O_RDWR);
	if (luo < 0)
		die("save: %s: %s (liveupdate=on? another agent holds it?)", LUO_DEVICE,
		    strerror(errno));
	mfd = memfd_create("luo-tcp-images", 0);
	if (mfd < 0 || ftruncate(mfd, IMAGES_MAX))
		die("save: memfd: %s", strerror(errno));
	map = mmap(NULL, IMAGES_MAX, PROT_READ | PROT_WRITE, MAP_SHARED, mfd, 0);
	if (map == MAP_FAILED)
		die("save: mmap: %s", strerror(errno));
	hdr = (struct agent_header *)map;
	hdr->magic = AGENT_MAGIC;

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
	say("frozen pid=%d by=%s uptime=%.3f", pid, how, uptime());

	snprintf(path, sizeof(path), "/proc/%d/fd", pid);
	dir = opendir(path);
	if (!dir)
		save_failed(path, errno);
	off = sizeof(*hdr);
	while ((de = readdir(dir))) {
		int target = atoi(de->d_name), fd;
		struct luo_tcp_image *img;

		snprintf(path, sizeof(path), "/proc/%d/fd/%s", pid, de->d_name);
		n = readlink(path, link, sizeof(link) - 1);
		if (n <= 0 || strncmp(link, "socket:", 7))
			continue;
		fd = syscall(SYS_pidfd_getfd, pidfd, target, 0);
		if (fd < 0)
			save_failed("pidfd_getfd", errno);
		if (!is_established_tcp(fd)) {
			close(fd);
			continue;
		}
		if (nsocks == MAX_SOCKS)
			save_failed("too many connections", E2BIG);
		socks[nsocks] = fd;
		img = (struct luo_tcp_image *)(map + off);
		n = luo_tcp_save(fd, img, IMAGES_MAX - off);
		nsocks++;	/* in repair mode from now on, even if the save failed */
		if (n < 0)
			save_failed("luo_tcp_save", -n);
		hdr->sock[hdr->count].offset = off;
		hdr->sock[hdr->count].size = n;
		hdr->count++;
		off += (n + 7) & ~7;
		say("saved fd=%d queued_in=%u queued_out=%u", target, img->inq_len,
		    img->outq_len);
	}
	closedir(dir);
	if (!hdr->count)
		save_failed("no established TCP connection in the process", ENOENT);

	session = luo_create_session(luo, session_name);
	if (session < 0)
		save_failed("create LUO session", -session);
	n = luo_session_preserve_fd(session, mfd, IMAGES_TOKEN);
	if (n)
		save_failed("preserve the images", -n);
	say("saved sockets=%u session=%s uptime=%.3f", hdr->count, session_name, uptime());

	/* Hold /dev/liveupdate, the session and the sockets until the kexec. */
	if (hold_until_kexec() < 0)
		save_failed("fork", errno);
	return 0;
}

static int cmd_restore(const char *session_name, char *argv[])
{
	const struct agent_header *hdr;
	int luo, session, mfd, fd, err;
	char env[32];
	struct stat st;
	const char *map;
	__u32 i, count;

	luo = open(LUO_DEVICE, O_RDWR);
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
	if ((size_t)st.st_size < sizeof(*hdr) || hdr->magic != AGENT_MAGIC ||
	    hdr->count > MAX_SOCKS)
		die("restore: session '%s' holds no luo_tcp_agent images", session_name);

	for (i = 0; i < hdr->count; i++) {
		__u32 o = hdr->sock[i].offset, sz = hdr->sock[i].size;

		if (o > st.st_size || sz > st.st_size - o)
			die("restore: image %u out of bounds", i);
		fd = luo_tcp_restore((const struct luo_tcp_image *)(map + o));
		if (fd < 0)
			die("restore: socket %u: %s", i, strerror(-fd));
		/* Out of the way of fds 3, 4, ... until they are handed over. */
		socks[i] = fcntl(fd, F_DUPFD, HIGH_FD);
		if (socks[i] < 0)
			die("restore: F_DUPFD: %s", strerror(errno));
		close(fd);
	}
	say("restored sockets=%u uptime=%.3f", hdr->count, uptime());

	err = luo_session_finish(session);
	if (err)
		die("restore: finish session '%s': %s", session_name, strerror(-err));
	say("finished session=%s uptime=%.3f", session_name, uptime());
	count = hdr->count;
	munmap((void *)map, st.st_size);
	close(mfd);
	close(session);
	close(luo);
	for (i = 0; i < count; i++) {
		if (dup2(socks[i], 3 + i) < 0)
			die("restore: dup2: %s", strerror(errno));
		close(socks[i]);
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

	if (argc == 4 && !strcmp(argv[1], "save")) {
		pid = strtol(argv[3], &end, 10);
		if (*end || pid <= 0 || pid > INT_MAX)
			die("save: bad PID '%s'", argv[3]);
		return cmd_save(argv[2], pid);
	}
	if (argc >= 5 && !strcmp(argv[1], "restore") && !strcmp(argv[3], "--"))
		return cmd_restore(argv[2], argv + 4);
	fprintf(stderr, "usage: luo_tcp_agent save SESSION PID\n"
		"       luo_tcp_agent restore SESSION -- COMMAND [ARG...]\n");
	return 2;
}
