// SPDX-License-Identifier: GPL-2.0
/*
 * The live-update demo's TCP streams (make demo): N connections to one service.
 *
 *   lu_stream peer [ADDR]     the client, on the peer guest: opens N connections
 *                             to port 7030, connection i (from 0) to the IPv4
 *                             address ADDR (default 192.0.2.1) when i is even, to
 *                             the IPv6 address 2001:db8::1 when i is odd; sends
 *                             64-byte records on all of them; checks every record
 *                             the server echoes back; logs the DUT's marks (UDP
 *                             7031)
 *   lu_stream serve PORT      the server, on the DUT: accepts N connections, then
 *                             echoes every record on all of them after checking it
 *   lu_stream serve-fds       the same on N connections handed over as fds 3..N+2
 *                             (LISTEN_FDS=N), e.g. by luo_tcp_agent restore
 *   lu_stream serve-unix PATH the same on connections handed over one by one, as
 *                             they are restored, over the Unix socket PATH
 *                             (luo_tcp_agent restore --to PATH, SCM_RIGHTS); up
 *                             to N, serving each at once. An agent that goes away
 *                             early leaves the rest unserved: counted, not an
 *                             error here
 *   lu_stream mark TEXT...    send TEXT to the peer's mark port (DUT -> peer)
 *
 * N is LU_STREAM_CONNS=N in the environment, else luonet.conns=N on the kernel
 * command line, else 2 (one IPv4 and one IPv6 connection); 1..4000. Both sides
 * raise their RLIMIT_NOFILE to the hard limit and need N + 16 fds.
 *
 * The rate is bounded in all, for TCG guests: every 10 ms tick the peer sends
 * at most 20 records, round robin over the connections, so that each one sends
 * a record every max(1, ceil(N / 20)) ticks (N <= 20: every tick).
 *
 * Records carry their number, the peer's send time and a checksum, so the peer
 * counts at the application level, per connection, what was lost, duplicated
 * or reordered. The server reads whole records only (SO_RCVLOWAT, then ioctl
 * SIOCINQ), and stops for a dump where its state is whole: SIGTSTP (what
 * luo_tcp_agent sends first) makes it finish echoing what it has read on every
 * connection, then stop itself (SIGSTOP), so that every record it consumed is
 * in its sockets' send queues when they are saved. A SIGSTOP between its read
 * and its echo would lose those records: its memory is not part of the dump.
 * LU_STREAM_ECHO_DELAY_MS=N in its environment makes it wait N ms between the
 * two, so that a freeze lands there (a test of that).
 *
 * The peer prints KTAP, and for scripts/demo-report.sh (T in seconds since the
 * first connection, sums over the connections):
 *   "# connected T"       (absolute) when the first connection was established
 *   "# conns N ipv4 A ipv6 B"  once all are
 *   "# d T SENT ECHOED"   every 100 ms, bytes
 *   "# mark T TEXT"       for every mark
 *   "# reset T ERRNO"     when the first connection fails (only the first; the
 *                         next few as "# failed conn I ...")
 *   "# stall T0 T1"       the record that took longest to come back, on any
 *                         connection (sent at T0, echoed at T1)
 *   "# gap T0 T1"         the longest time without any echo on any connection
 *   "# records sent ..."  the record counts
 *   "# stalls n N median S max S"  each connection's longest record round trip,
 *                         over the N connections that echoed anything
 *   "# resets K"          connections that failed
 *   "# unresumed K"       connections neither failed nor resumed
 *   "# lost n N ..."      with lost=N (below): how long after the window closed,
 *                         and since the DUT froze, the N were reset
 * The DUT's marks: "stage1 ..." (and "stage2 ..." for a second live update in a
 * row) when it froze, "report ..." after the last restore, "restored ..." only
 * logged. A connection resumed when a record it sent after the report came
 * back. The peer streams until every connection resumed or failed (then 3 s
 * more), or a connection failed and the report came (or 20 s passed), or 30 s
 * after the report some connection has not resumed, or 300 s in all.
 * A report with "lost=N" says that the DUT left N connections unrestored on
 * purpose (its agent died halfway: guest/demo_dut_dies.sh); then test 2 wants
 * exactly N resets, each at most LOST_WAIT_S (luonet.lost_wait=S on the peer's
 * command line: S) after the DUT's restore window closed (its mark "closed
 * ago=S": S seconds before the mark was sent), and tests 3 and 4 are about the
 * others.
 *
 * Environment of the peer: LU_STREAM_ADDR4 (when no ADDR is given) and
 * LU_STREAM_ADDR6 replace the addresses; with luonet.rto_max_ms=N on its kernel
 * command line (or else LU_STREAM_RTO_MAX_MS=N; 0: no cap), the peer caps its
 * retransmission backoff with TCP_RTO_MAX_MS on every connection; with luonet.canary=1 it also
 * sends the canary (see canary_open()). LU_STREAM_MARK_ADDR replaces the
 * address marks go to (a local test).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <linux/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>
#include <linux/sockios.h>

#define PROG	"lu_stream"
#define SAY	"lu_stream"
#include "guest_util.h"

#ifndef TCP_RTO_MAX_MS
#define TCP_RTO_MAX_MS	44	/* uapi of the series' kernel, for older headers */
#endif

#define PORT		7030
#define MARK_PORT	7031
#define PEER_ADDR	"192.0.2.2"
#define DUT_ADDR4	"192.0.2.1"
#define DUT_ADDR6	"2001:db8::1"
#define CANARY_PORT	7099
#define REC		64
#define MAGIC		0x4c555354	/* "LUST" */
#define TICK_MS		10
#define TICK_RECS	20	/* records per tick, over all connections */
#define CONNECT_S	180	/* the DUT boots and starts its server */
#define RESUMED_S	3	/* stream this long after the last one resumed */
#define RESUME_WAIT_S	30	/* after the report, for every connection to resume */
#define TOTAL_S		300	/* give up: the peer never gets its echoes back */
#define AFTER_RESET_S	20	/* wait for the DUT's report after a reset */
#define EOF_WAIT_S	60	/* for the server's EOF after ours */
#define FINISH_S	5	/* to finish sending partly sent records */
#define USER_TIMEOUT_MS	(120 * 1000)	/* with a capped RTO */
#define DEFAULT_CONNS	2
#define MAX_CONNS	4000
#define SPARE_FDS	16
#define FAILED_SHOWN	10	/* failures printed after the first */
#define LOST_WAIT_S	2	/* a connection not restored: for its reset, after the close */
#define VERBOSE_CONNS	8	/* the server logs each connection up to this many */
#define SERVE_RECS	32	/* records the server reads at a time, per connection */

struct rec {
	uint32_t magic;
	uint32_t pad;
	uint64_t seq;
	uint64_t sent_ns;
	uint8_t payload[36];
	uint32_t sum;
};

_Static_assert(sizeof(struct rec) == REC, "record size");

static uint32_t fnv1a(const void *p, size_t len)
{
	const uint8_t *b = p;
	uint32_t h = 2166136261u;

	while (len--)
		h = (h ^ *b++) * 16777619u;
	return h;
}

static void rec_make(struct rec *r, uint64_t seq)
{
	unsigned int i;

	memset(r, 0, sizeof(*r));
	r->magic = MAGIC;
	r->seq = seq;
	r->sent_ns = (uint64_t)(mono() * 1e9);
	for (i = 0; i < sizeof(r->payload); i++)
		r->payload[i] = (uint8_t)(seq * 31 + i);
	r->sum = fnv1a(r, offsetof(struct rec, sum));
}

static int rec_ok(const struct rec *r)
{
	unsigned int i;

	if (r->magic != MAGIC || r->sum != fnv1a(r, offsetof(struct rec, sum)))
		return 0;
	for (i = 0; i < sizeof(r->payload); i++)
		if (r->payload[i] != (uint8_t)(r->seq * 31 + i))
			return 0;
	return 1;
}

static int write_full(int fd, const void *buf, size_t len)
{
	const char *p = buf;
	ssize_t n;

	while (len) {
		n = write(fd, p, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		p += n;
		len -= n;
	}
	return 0;
}

/* The value of luonet.NAME= on the kernel command line in @buf; 0 without it. */
static int cmdline_str(const char *name, char *val, size_t size)
{
	char buf[4096], key[64], *p;
	FILE *f = fopen("/proc/cmdline", "r");
	int found = 0;
	size_t len;

	snprintf(key, sizeof(key), " luonet.%s=", name);
	buf[0] = ' ';
	if (f && fgets(buf + 1, sizeof(buf) - 1, f)) {
		/* The last one wins, as in guest/init's arg(). */
		for (p = strstr(buf, key); p; p = strstr(p, key)) {
			p += strlen(key);
			len = strcspn(p, " \t\n");
			if (len >= size)
				len = size - 1;
			memcpy(val, p, len);
			val[len] = '\0';
			found = 1;
		}
	}
	if (f)
		fclose(f);
	return found;
}

/* luonet.NAME=N on the kernel command line, 0 without it. */
static int cmdline_int(const char *name)
{
	char val[64];

	return cmdline_str(name, val, sizeof(val)) ? atoi(val) : 0;
}

/* A count in 1..MAX_CONNS, -1 for anything else. */
static int parse_count(const char *s)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno || end == s || *end || v < 1 || v > MAX_CONNS)
		return -1;
	return v;
}

/* Whether @n connections fit in RLIMIT_NOFILE; complains with @pfx if not. */
static int fds_fit(int n, FILE *out, const char *pfx)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) || rl.rlim_cur == RLIM_INFINITY ||
	    (rlim_t)n + SPARE_FDS <= rl.rlim_cur)
		return 1;
	fprintf(out, "%s%d connections need %d fds, RLIMIT_NOFILE is %llu (hard %llu)\n",
		pfx, n, n + SPARE_FDS, (unsigned long long)rl.rlim_cur,
		(unsigned long long)rl.rlim_max);
	return 0;
}

/*
 * N: LU_STREAM_CONNS=N, else luonet.conns=N, else DEFAULT_CONNS. -1 (after
 * saying why on @out, each line starting with @pfx) when it is out of range or
 * the fds do not fit.
 */
static int conns_wanted(FILE *out, const char *pfx)
{
	const char *s = getenv("LU_STREAM_CONNS"), *what = "LU_STREAM_CONNS";
	char val[64];
	int n = DEFAULT_CONNS;

	if (!s && cmdline_str("conns", val, sizeof(val))) {
		s = val;
		what = "luonet.conns";
	}
	if (s) {
		n = parse_count(s);
		if (n < 0) {
			fprintf(out, "%s%s=%s: the number of connections must be 1..%d\n",
				pfx, what, s, MAX_CONNS);
			return -1;
		}
	}
	return fds_fit(n, out, pfx) ? n : -1;
}

static volatile sig_atomic_t tstp;

static void on_tstp(int sig)
{
	tstp = 1;
}

/* A connection the server echoes. */
struct sconn {
	int fd, id, done, failed;
	uint64_t first, next, count;
	int len;			/* bytes in buf, read and not echoed yet */
	struct rec buf[SERVE_RECS];
};

struct server {
	int n, open, verbose;
	struct sconn *c;
	struct pollfd *pfd;
};

/* "conn I: " before a connection's log lines when there are several. */
static const char *sc_name(const struct server *s, const struct sconn *c)
{
	static char name[32];

	if (s->n == 1)
		return "";
	snprintf(name, sizeof(name), "conn %d: ", c->id);
	return name;
}

static void sc_close(struct server *s, struct sconn *c, int failed)
{
	close(c->fd);
	s->pfd[c->id].fd = -1;
	c->done = 1;
	c->failed = failed;
	c->len = 0;
	s->open--;
}

/*
 * Read the whole records there are on @c (and check them), or handle its EOF
 * or error. Returns 1 when it read records or closed the connection, 0 when
 * there was nothing to do.
 */
static int sc_read(struct server *s, struct sconn *c, short revents)
{
	int avail, n, i, err = 0;
	socklen_t len = sizeof(err);

	if (ioctl(c->fd, SIOCINQ, &avail) < 0) {
		printf("# server: %sSIOCINQ: %s\n", sc_name(s, c), strerror(errno));
		sc_close(s, c, 1);
		return 1;
	}
	if (avail < REC) {
		/* EOF (or reset) once nothing is left but a partial record. */
		if (!getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len) && err)
			printf("# server: %s%s\n", sc_name(s, c), strerror(err));
		else if (!(revents & (POLLRDHUP | POLLHUP)))
			return 0;	/* woken below SO_RCVLOWAT: memory pressure */
		if (avail)
			printf("# server: %s%d bytes of a partial record at EOF\n",
			       sc_name(s, c), avail);
		sc_close(s, c, err || avail);
		return 1;
	}
	if (avail > (int)sizeof(c->buf))
		avail = sizeof(c->buf);
	avail -= avail % REC;
	n = read(c->fd, c->buf, avail);
	if (n != avail) {
		printf("# server: %sshort read %d of %d\n", sc_name(s, c), n, avail);
		sc_close(s, c, 1);
		return 1;
	}
	for (i = 0; i < n / REC; i++) {
		if (!rec_ok(&c->buf[i])) {
			printf("# server: %sbad record after %llu\n", sc_name(s, c),
			       (unsigned long long)c->next);
			sc_close(s, c, 1);
			return 1;
		}
		if (!c->count) {
			c->first = c->buf[i].seq;
			if (s->verbose) {
				printf("# server: %sfirst record %llu\n", sc_name(s, c),
				       (unsigned long long)c->first);
				fflush(stdout);
			}
		} else if (c->buf[i].seq != c->next) {
			printf("# server: %srecord %llu after %llu\n", sc_name(s, c),
			       (unsigned long long)c->buf[i].seq,
			       (unsigned long long)c->next - 1);
			sc_close(s, c, 1);
			return 1;
		}
		c->next = c->buf[i].seq + 1;
		c->count++;
	}
	c->len = n;
	return 1;
}

/* Set up connection @i on @fd. */
static int sc_add(struct server *s, int i, int fd)
{
	int lowat = REC;

	s->c[i].fd = fd;
	s->c[i].id = i;
	s->pfd[i].fd = fd;
	s->pfd[i].events = POLLIN | POLLRDHUP;
	s->open++;
	/* poll() wakes for a whole record, or EOF: never for a partial one. */
	if (setsockopt(fd, SOL_SOCKET, SO_RCVLOWAT, &lowat, sizeof(lowat))) {
		printf("# server: conn %d: SO_RCVLOWAT: %s\n", i, strerror(errno));
		return -1;
	}
	return 0;
}

/*
 * Take the connection the agent sent on @feed (SCM_RIGHTS, its index as a
 * u32). Returns 1 when it took one, 0 at EOF, -1 on error.
 */
static int sc_feed(struct server *s, int feed, int *handed)
{
	char cbuf[CMSG_SPACE(sizeof(int))];
	uint32_t i;
	struct iovec iov = { .iov_base = &i, .iov_len = sizeof(i) };
	struct msghdr msg = {
		.msg_iov = &iov, .msg_iovlen = 1,
		.msg_control = cbuf, .msg_controllen = sizeof(cbuf),
	};
	struct cmsghdr *cm;
	ssize_t r;
	int fd;

	r = recvmsg(feed, &msg, MSG_CMSG_CLOEXEC);
	if (r == 0)
		return 0;
	cm = CMSG_FIRSTHDR(&msg);
	if (r != sizeof(i) || !cm || cm->cmsg_type != SCM_RIGHTS ||
	    cm->cmsg_len != CMSG_LEN(sizeof(int))) {
		printf("# server: bad hand-over message (%zd bytes): %s\n", r,
		       r < 0 ? strerror(errno) : "no single fd");
		return -1;
	}
	memcpy(&fd, CMSG_DATA(cm), sizeof(fd));
	if (i >= (uint32_t)s->n || s->pfd[i].fd >= 0 || s->c[i].done) {
		printf("# server: connection %u handed over twice or out of 0..%d\n", i,
		       s->n - 1);
		close(fd);
		return -1;
	}
	(*handed)++;
	return sc_add(s, i, fd) ? -1 : 1;
}

/*
 * Echo whole, valid records on every connection until EOF on all of them; on
 * SIGTSTP, stop between two rounds: after echoing everything read. With @feed
 * (else -1), the connections come over it one by one (fds[] all -1), until its
 * EOF.
 */
static int serve_conns(const int *fds, int n, int feed)
{
	struct sigaction sa = { .sa_handler = on_tstp };	/* no SA_RESTART */
	const char *d = getenv("LU_STREAM_ECHO_DELAY_MS");
	struct timespec delay = { 0 };
	struct server s = { .n = n, .verbose = n <= VERBOSE_CONNS };
	unsigned long long count = 0;
	int i, r, got, failed = 0, handed = 0;
	struct sconn *c;

	s.c = calloc(n, sizeof(*s.c));
	s.pfd = calloc(n + 1, sizeof(*s.pfd));
	if (!s.c || !s.pfd) {
		printf("# server: out of memory for %d connections\n", n);
		return 1;
	}
	if (d && atoi(d) > 0) {
		delay.tv_sec = atoi(d) / 1000;
		delay.tv_nsec = atoi(d) % 1000 * 1000000L;
		printf("# server: %s ms between reading records and echoing them\n", d);
	}
	for (i = 0; i < n; i++) {
		s.c[i].id = i;
		s.pfd[i].fd = -1;
		if (fds[i] >= 0 && sc_add(&s, i, fds[i]))
			return 1;
	}
	s.pfd[n].fd = feed;
	s.pfd[n].events = POLLIN;
	fflush(stdout);
	sigaction(SIGTSTP, &sa, NULL);
	while (s.open || s.pfd[n].fd >= 0) {
		if (tstp) {
			tstp = 0;
			raise(SIGSTOP);
		}
		r = poll(s.pfd, n + 1, -1);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			perror("server: poll");
			return 1;
		}
		if (s.pfd[n].fd >= 0 && s.pfd[n].revents) {
			r = sc_feed(&s, feed, &handed);
			if (r < 0)
				return 1;
			if (!r) {
				printf("# server: the agent closed the hand-over socket after %d of %d connections\n",
				       handed, n);
				fflush(stdout);
				close(feed);
				s.pfd[n].fd = -1;
			}
			continue;
		}
		got = 0;
		for (i = 0; i < n; i++)
			if (s.pfd[i].fd >= 0 && s.pfd[i].revents)
				got |= sc_read(&s, &s.c[i], s.pfd[i].revents);
		if (!got) {
			usleep(1000);	/* below SO_RCVLOWAT everywhere: not spin */
			continue;
		}
		if (delay.tv_sec || delay.tv_nsec)
			nanosleep(&delay, NULL);	/* cut short by SIGTSTP */
		for (i = 0; i < n; i++) {
			c = &s.c[i];
			if (c->done || !c->len)
				continue;
			if (write_full(c->fd, c->buf, c->len)) {
				printf("# server: %secho: %s\n", sc_name(&s, c), strerror(errno));
				sc_close(&s, c, 1);
				continue;
			}
			c->len = 0;
		}
	}
	for (i = 0; i < n; i++) {
		c = &s.c[i];
		if (!c->done)
			continue;	/* never handed over */
		count += c->count;
		failed += c->failed;
		if (n == 1 || s.verbose || c->failed)
			printf("# server: %sechoed %llu records, %llu..%llu%s\n",
			       sc_name(&s, c), (unsigned long long)c->count,
			       (unsigned long long)c->first,
			       (unsigned long long)(c->next ? c->next - 1 : 0),
			       c->failed ? " (with an error)" : "");
	}
	if (feed >= 0)
		printf("# server: echoed %llu records on %d connections handed over (of %d), %d with an error\n",
		       count, handed, n, failed);
	else if (n > 1)
		printf("# server: echoed %llu records on %d connections, %d with an error\n",
		       count, n, failed);
	return !!failed;
}

static int serve(int port)
{
	struct sockaddr_in6 a = { .sin6_family = AF_INET6, .sin6_port = htons(port) };
	int one = 1, zero = 0, ls, n, i, *fds;

	n = conns_wanted(stdout, "# server: ");
	if (n < 0)
		return 2;
	fds = calloc(n, sizeof(*fds));
	ls = socket(AF_INET6, SOCK_STREAM, 0);
	if (!fds || ls < 0) {
		perror("server: socket");
		return 1;
	}
	setsockopt(ls, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	setsockopt(ls, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof(zero));
	if (bind(ls, (void *)&a, sizeof(a)) || listen(ls, n < 128 ? 128 : n)) {
		perror("server: bind/listen");
		return 1;
	}
	for (i = 0; i < n; i++) {
		fds[i] = accept(ls, NULL, NULL);
		if (fds[i] < 0) {
			if (errno == EINTR) {
				i--;
				continue;
			}
			printf("# server: accept (after %d of %d connections): %s\n", i, n,
			       strerror(errno));
			return 1;
		}
	}
	close(ls);
	/* Only now: a script waits for the word. */
	printf("# server: accepted %d connection%s\n", n, n == 1 ? "" : "s");
	fflush(stdout);
	return serve_conns(fds, n, -1);
}

static int serve_fds(void)
{
	const char *s = getenv("LISTEN_FDS");
	struct stat st;
	int n, i, *fds;

	n = s ? parse_count(s) : -1;
	if (n < 0) {
		fprintf(stderr, "serve-fds: want LISTEN_FDS=N, 1..%d (connections as fds 3...)\n",
			MAX_CONNS);
		return 2;
	}
	fds = calloc(n, sizeof(*fds));
	if (!fds)
		return 1;
	for (i = 0; i < n; i++) {
		fds[i] = 3 + i;
		if (fstat(fds[i], &st) || !S_ISSOCK(st.st_mode)) {
			fprintf(stderr, "serve-fds: fd %d (of LISTEN_FDS=%d from 3) is not a socket\n",
				fds[i], n);
			return 2;
		}
	}
	printf("# server: took over %d fd%s (3..%d)\n", n, n == 1 ? "" : "s", n + 2);
	fflush(stdout);
	return serve_conns(fds, n, -1);
}

/* Serve the connections an agent hands over on the Unix socket @path. */
static int serve_unix(const char *path)
{
	struct sockaddr_un a = { .sun_family = AF_UNIX };
	int ls, feed, n, i, *fds;

	n = conns_wanted(stdout, "# server: ");
	if (n < 0)
		return 2;
	fds = calloc(n, sizeof(*fds));
	if (!fds || strlen(path) >= sizeof(a.sun_path))
		return 2;
	for (i = 0; i < n; i++)
		fds[i] = -1;
	strcpy(a.sun_path, path);
	unlink(path);
	ls = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (ls < 0 || bind(ls, (void *)&a, sizeof(a)) || listen(ls, 1)) {
		printf("# server: %s: %s\n", path, strerror(errno));
		return 1;
	}
	/* Only now: a script waits for the word. */
	printf("# server: waiting for connections on %s\n", path);
	fflush(stdout);
	feed = accept4(ls, NULL, NULL, SOCK_CLOEXEC);
	if (feed < 0) {
		printf("# server: accept on %s: %s\n", path, strerror(errno));
		return 1;
	}
	close(ls);
	return serve_conns(fds, n, feed);
}

static int mark(int argc, char *argv[])
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(MARK_PORT) };
	const char *to = getenv("LU_STREAM_MARK_ADDR") ?: PEER_ADDR;
	char text[1024] = "";
	int fd, i;

	for (i = 0; i < argc; i++) {
		if (i)
			strncat(text, " ", sizeof(text) - strlen(text) - 1);
		strncat(text, argv[i], sizeof(text) - strlen(text) - 1);
	}
	if (inet_pton(AF_INET, to, &a.sin_addr) != 1) {
		fprintf(stderr, "lu_stream: bad mark address %s\n", to);
		return 1;
	}
	fd = socket(AF_INET, SOCK_DGRAM, 0);
	if (fd < 0 || sendto(fd, text, strlen(text), 0, (void *)&a, sizeof(a)) < 0) {
		perror("mark");
		return 1;
	}
	return 0;
}

/* One of the peer's connections. */
struct conn {
	int fd, id, v6;
	uint64_t sent, echoed;		/* records */
	size_t out_off;			/* of the record being sent */
	struct rec out;
	char in[REC];
	size_t in_len;
	uint64_t lost, dup, bad;
	double stall_from, stall_to;
	double resumed_at, reset_at;
	int err, shut, eof;
};

struct peer {
	int udp, n;
	struct conn *c;
	struct pollfd *pfd;		/* the mark socket, then the connections */
	struct conn **pc;		/* the connection of each pfd */
	double t0;			/* the first connection established */
	double last_echo, gap_from, gap_to;	/* over all connections */
	double stage_at, report_at, last_resume;
	double reset_at;		/* of the first connection that failed */
	int err, resets;
	int dut_failed;			/* the DUT's mark "report failed ...": no restore */
	int paused;			/* between the DUT's marks "pause" and "resume" */
	double closed_at;		/* the DUT's restore window closed (its mark) */
	int expect_lost;		/* the report's "lost=N": N were not restored */
};

/*
 * The canary (luonet.canary=1): from the DUT's first "stageN" mark to its
 * "report" mark, one ACK segment every tick for a flow that never existed
 * (PEER_ADDR:CANARY_PORT -> DUT:PORT). Every RST the DUT answers it with is a
 * tick during which an unrestored connection would have been reset.
 */
static int canary_open(void)
{
	return socket(AF_INET, SOCK_RAW, IPPROTO_TCP);
}

static uint16_t csum_fold(uint32_t sum)
{
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return ~sum;
}

static void canary_send(int fd, const char *addr, uint32_t seq)
{
	struct {
		uint16_t sport, dport;
		uint32_t seq, ack;
		uint8_t off, flags;
		uint16_t win, sum, urg;
	} h = {
		.sport = htons(CANARY_PORT), .dport = htons(PORT),
		.seq = htonl(seq), .ack = htonl(0x10000000),
		.off = 5 << 4, .flags = 0x10 /* ACK */, .win = htons(1024),
	};
	struct sockaddr_in dst = { .sin_family = AF_INET };
	struct in_addr src;
	uint32_t sum = 0;
	const uint16_t *w;
	unsigned int i;

	inet_pton(AF_INET, addr, &dst.sin_addr);
	inet_pton(AF_INET, PEER_ADDR, &src);
	/* Pseudo-header, then the header (no payload). */
	sum += (src.s_addr & 0xffff) + (src.s_addr >> 16);
	sum += (dst.sin_addr.s_addr & 0xffff) + (dst.sin_addr.s_addr >> 16);
	sum += htons(IPPROTO_TCP) + htons(sizeof(h));
	for (w = (const uint16_t *)&h, i = 0; i < sizeof(h) / 2; i++)
		sum += w[i];
	h.sum = csum_fold(sum);
	sendto(fd, &h, sizeof(h), 0, (void *)&dst, sizeof(dst));
}

/* Connect to @addr (IPv4 or IPv6) port PORT, retrying until @deadline. */
static int dial(const char *addr, double deadline)
{
	struct sockaddr_in6 a6 = { .sin6_family = AF_INET6, .sin6_port = htons(PORT) };
	struct sockaddr_in a4 = { .sin_family = AF_INET, .sin_port = htons(PORT) };
	int v6 = !!strchr(addr, ':'), fd;

	if (v6 ? inet_pton(AF_INET6, addr, &a6.sin6_addr) != 1 :
		 inet_pton(AF_INET, addr, &a4.sin_addr) != 1)
		return -1;
	while (mono() < deadline) {
		fd = socket(v6 ? AF_INET6 : AF_INET, SOCK_STREAM, 0);
		if (fd < 0)
			return -1;
		if (v6 ? !connect(fd, (void *)&a6, sizeof(a6)) :
			 !connect(fd, (void *)&a4, sizeof(a4)))
			return fd;
		close(fd);
		sleep(1);
	}
	return -1;
}

static int conn_live(const struct conn *c)
{
	return !c->reset_at && !c->eof;
}

static void peer_fail(struct peer *p, struct conn *c, int err)
{
	if (c->reset_at)
		return;
	c->err = err;
	c->reset_at = mono();
	p->resets++;
	if (!p->reset_at) {
		/* The first one, as demo-report.sh reads it (it takes the last line). */
		p->reset_at = c->reset_at;
		p->err = err;
		printf("# reset %.3f %s\n", p->reset_at - p->t0, strerror(err));
	} else if (p->resets <= FAILED_SHOWN + 1) {
		printf("# failed conn %d (%s) at %.3f: %s\n", c->id, c->v6 ? "ipv6" : "ipv4",
		       c->reset_at - p->t0, strerror(err));
	}
}

static void peer_send(struct peer *p, struct conn *c)
{
	ssize_t n;

	if (!c->out_off && c->out.seq != c->sent)
		rec_make(&c->out, c->sent);
	n = send(c->fd, (char *)&c->out + c->out_off, REC - c->out_off,
		 MSG_DONTWAIT | MSG_NOSIGNAL);
	if (n < 0) {
		if (errno != EAGAIN)
			peer_fail(p, c, errno);
		return;
	}
	c->out_off += n;
	if (c->out_off == REC) {
		c->out_off = 0;
		c->sent++;
	}
}

static void peer_echo(struct peer *p, struct conn *c, const struct rec *r)
{
	double t = mono();

	if (!rec_ok(r)) {
		c->bad++;
	} else if (r->seq > c->echoed) {
		c->lost += r->seq - c->echoed;
		c->echoed = r->seq + 1;
	} else if (r->seq < c->echoed) {
		c->dup++;
	} else {
		c->echoed++;
	}
	/* The stall: the longest any record took to come back. */
	if (rec_ok(r) && t - r->sent_ns / 1e9 > c->stall_to - c->stall_from) {
		c->stall_from = r->sent_ns / 1e9;
		c->stall_to = t;
	}
	/* The gap: the longest time without an echo on any connection. */
	if (p->last_echo && t - p->last_echo > p->gap_to - p->gap_from) {
		p->gap_from = p->last_echo;
		p->gap_to = t;
	}
	p->last_echo = t;
	/* Resumed: a record sent after the DUT reported its restore came back. */
	if (p->report_at && !c->resumed_at && rec_ok(r) && r->sent_ns / 1e9 >= p->report_at) {
		c->resumed_at = t;
		p->last_resume = t;
	}
}

/*
 * Returns 1 when it read something, 0 at EOF (the end after our FIN, a failure
 * before it: the server must not close first), -1 when nothing is there (or
 * on error).
 */
static int peer_recv(struct peer *p, struct conn *c)
{
	ssize_t n = recv(c->fd, c->in + c->in_len, REC - c->in_len, MSG_DONTWAIT);

	if (n == 0) {
		if (c->shut)
			c->eof = 1;
		else
			peer_fail(p, c, EPIPE);
		return 0;
	}
	if (n < 0) {
		if (errno != EAGAIN && errno != EINTR)
			peer_fail(p, c, errno);
		return -1;
	}
	c->in_len += n;
	if (c->in_len == REC) {
		peer_echo(p, c, (const struct rec *)c->in);
		c->in_len = 0;
	}
	return 1;
}

static void peer_marks(struct peer *p)
{
	char buf[1024];
	ssize_t n;

	while ((n = recv(p->udp, buf, sizeof(buf) - 1, MSG_DONTWAIT)) > 0) {
		buf[n] = '\0';
		printf("# mark %.3f %s\n", mono() - p->t0, buf);
		if (!strncmp(buf, "report failed", 13))
			p->dut_failed = 1;
		else if (!strcmp(buf, "pause"))
			p->paused = 1;
		else if (!strcmp(buf, "resume"))
			p->paused = 0;
		else if (!strncmp(buf, "report", 6) && !p->report_at)
			p->report_at = mono();
		/* "closed ago=S": the window closed S s before the DUT sent this. */
		if (!strncmp(buf, "closed ago=", 11) && !p->closed_at)
			p->closed_at = mono() - atof(buf + 11);
		if (!strncmp(buf, "report", 6) && strstr(buf, " lost="))
			p->expect_lost = atoi(strstr(buf, " lost=") + 6);
		/* stage1, stage2 (a second live update in a row): the first one counts. */
		if (!strncmp(buf, "stage", 5) && buf[5] >= '0' && buf[5] <= '9' && !p->stage_at)
			p->stage_at = mono();
	}
}

/* Wait up to @timeout s for marks and echoes, and take them. */
static void peer_poll(struct peer *p, double timeout)
{
	struct timespec ts;
	int i, k = 1, r;

	if (timeout < 0)
		timeout = 0;
	ts.tv_sec = (time_t)timeout;
	ts.tv_nsec = (long)((timeout - ts.tv_sec) * 1e9);
	p->pfd[0].fd = p->udp;
	p->pfd[0].events = POLLIN;
	for (i = 0; i < p->n; i++) {
		if (!conn_live(&p->c[i]))
			continue;
		p->pfd[k].fd = p->c[i].fd;
		p->pfd[k].events = POLLIN;
		p->pc[k++] = &p->c[i];
	}
	r = ppoll(p->pfd, k, &ts, NULL);
	if (r <= 0)
		return;
	if (p->pfd[0].revents)
		peer_marks(p);
	for (i = 1; i < k; i++)
		if (p->pfd[i].revents)
			while (peer_recv(p, p->pc[i]) > 0)
				;
}

static void peer_d(struct peer *p)
{
	unsigned long long sent = 0, echoed = 0;
	int i;

	for (i = 0; i < p->n; i++) {
		sent += p->c[i].sent;
		echoed += p->c[i].echoed;
	}
	printf("# d %.3f %llu %llu\n", mono() - p->t0, sent * REC, echoed * REC);
}

/*
 * The DUT did not restore N connections on purpose (its report's "lost=N",
 * e.g. its agent died halfway): exactly N must have been reset, each at
 * most LOST_WAIT_S after the DUT's restore window closed (its "closed" mark),
 * not left unanswered. Prints how long they waited. Both times are this
 * guest's userspace reading them: the bound has to cover a peer guest that
 * QEMU runs late, as on a sanitizer kernel (luonet.lost_wait=S replaces it).
 */
static int lost_ok(const struct peer *p)
{
	double *w, *all, max = 0, amax = 0;
	int i, n = 0, ok, bound = cmdline_int("lost_wait") ?: LOST_WAIT_S;

	w = calloc(p->n, sizeof(*w));
	all = calloc(p->n, sizeof(*all));
	if (!w || !all) {
		printf("not ok 2 out of memory\n");
		return 0;
	}
	for (i = 0; i < p->n; i++) {
		if (!p->c[i].reset_at)
			continue;
		w[n] = p->c[i].reset_at - p->closed_at;
		all[n] = p->c[i].reset_at - p->stage_at;
		max = w[n] > max ? w[n] : max;
		amax = all[n] > amax ? all[n] : amax;
		n++;
	}
	qsort(w, n, sizeof(*w), cmp_double);
	qsort(all, n, sizeof(*all), cmp_double);
	if (n && p->closed_at && p->stage_at)
		printf("# lost n %d reset after the window closed: median %.3f max %.3f s; since the DUT froze: median %.3f max %.3f s\n",
		       n, w[n / 2], max, all[n / 2], amax);
	ok = n == p->expect_lost && p->closed_at && p->stage_at && max <= bound;
	if (!p->closed_at || !p->stage_at)
		printf("not ok 2 the %d connections not restored reset after the window closed (no \"%s\" mark from the DUT)\n",
		       p->expect_lost, p->closed_at ? "stage" : "closed");
	else
		printf("%sok 2 the %d connections not restored reset within %d s after the window closed (%d reset, the last %.3f s after it)\n",
		       ok ? "" : "not ", p->expect_lost, bound, n, max);
	free(w);
	free(all);
	return ok;
}

static int peer(const char *addr4)
{
	struct sockaddr_in ua = { .sin_family = AF_INET, .sin_port = htons(MARK_PORT) };
	const char *addr6 = getenv("LU_STREAM_ADDR6") ?: DUT_ADDR6;
	unsigned long long sent = 0, echoed = 0, lost = 0, dup = 0, bad = 0;
	struct peer p = { 0 };
	double next_d, next_tick, end_at, eof_end, finish_end, t, deadline, *stalls;
	int i, r, ok2, ok3, ok4, canary = -1, every, pending, waiting, nstalls = 0;
	int nv6 = 0, resumed = 0, unresumed = 0;
	unsigned long tick = 0;
	uint32_t canaries = 0;
	struct conn *c;
	char val[64];

	setvbuf(stdout, NULL, _IOLBF, 0);
	printf("TAP version 13\n1..4\n");
	p.n = conns_wanted(stdout, "Bail out! ");
	if (p.n < 0)
		return 2;
	p.c = calloc(p.n, sizeof(*p.c));
	p.pfd = calloc(p.n + 1, sizeof(*p.pfd));
	p.pc = calloc(p.n + 1, sizeof(*p.pc));
	stalls = calloc(p.n, sizeof(*stalls));
	if (!p.c || !p.pfd || !p.pc || !stalls) {
		printf("Bail out! out of memory for %d connections\n", p.n);
		return 1;
	}
	p.udp = socket(AF_INET, SOCK_DGRAM, 0);
	if (p.udp < 0 || bind(p.udp, (void *)&ua, sizeof(ua))) {
		printf("Bail out! mark port %d: %s\n", MARK_PORT, strerror(errno));
		return 1;
	}
	/* The command line wins: luonet.rto_max_ms=0 lifts a wrapper's default cap. */
	if (cmdline_str("rto_max_ms", val, sizeof(val)))
		r = atoi(val);
	else
		r = getenv("LU_STREAM_RTO_MAX_MS") ? atoi(getenv("LU_STREAM_RTO_MAX_MS")) : 0;
	deadline = mono() + CONNECT_S;
	for (i = 0; i < p.n; i++) {
		c = &p.c[i];
		c->id = i;
		c->v6 = i % 2;
		c->out.seq = ~0ULL;
		nv6 += c->v6;
		c->fd = dial(c->v6 ? addr6 : addr4, deadline);
		if (c->fd < 0) {
			printf("Bail out! could not connect to %s port %d (connection %d of %d)\n",
			       c->v6 ? addr6 : addr4, PORT, i + 1, p.n);
			return 1;
		}
		if (!i) {
			p.t0 = mono();
			printf("# connected %.6f\n", p.t0);
		}
		if (r) {
			int uto = USER_TIMEOUT_MS;

			if (setsockopt(c->fd, IPPROTO_TCP, TCP_RTO_MAX_MS, &r, sizeof(r))) {
				printf("Bail out! TCP_RTO_MAX_MS %d: %s\n", r, strerror(errno));
				return 1;
			}
			/*
			 * tcp_retries2 counts retransmissions: capped at 1 s, 15 of
			 * them give up after some 13 s of outage. Wait as long as
			 * uncapped.
			 */
			if (setsockopt(c->fd, IPPROTO_TCP, TCP_USER_TIMEOUT, &uto, sizeof(uto))) {
				printf("Bail out! TCP_USER_TIMEOUT: %s\n", strerror(errno));
				return 1;
			}
		}
	}
	printf("# conns %d ipv4 %d ipv6 %d\n", p.n, p.n - nv6, nv6);
	if (r)
		printf("# rto_max_ms %d (TCP_RTO_MAX_MS)\n", r);
	if (nv6)
		printf("ok 1 connected %d connections to the server on %s and %s port %d\n",
		       p.n, addr4, addr6, PORT);
	else
		printf("ok 1 connected %d connection%s to the server on %s port %d\n",
		       p.n, p.n == 1 ? "" : "s", addr4, PORT);
	if (cmdline_int("canary")) {
		canary = canary_open();
		if (canary < 0) {
			printf("Bail out! canary raw socket: %s\n", strerror(errno));
			return 1;
		}
		printf("# canary %d\n", CANARY_PORT);
	}
	/* Each connection sends a record every that many ticks. */
	every = (p.n + TICK_RECS - 1) / TICK_RECS;
	next_d = p.t0;
	next_tick = mono();
	end_at = p.t0 + TOTAL_S;

	/* Stream until RESUMED_S after the DUT reported its restore. */
	while ((t = mono()) < end_at) {
		if (t < next_tick) {
			peer_poll(&p, next_tick - t);
			continue;
		}
		next_tick += TICK_MS / 1000.0;
		if (next_tick < t)
			next_tick = t + TICK_MS / 1000.0;	/* behind: do not burst */
		peer_marks(&p);
		if (canary >= 0 && p.stage_at && !p.report_at)
			canary_send(canary, addr4, 1000 * ++canaries);
		if (t >= next_d) {
			peer_d(&p);
			next_d += 0.1;
		}
		/*
		 * (b) one failed: all must stay up; stop with the report or after a
		 * while. Unless the report says some were not restored (lost=N).
		 */
		if (p.reset_at && !p.expect_lost &&
		    (p.report_at || t > p.reset_at + AFTER_RESET_S))
			break;
		/* The DUT could not restore the connections: nothing will resume. */
		if (p.dut_failed)
			break;
		for (pending = 0, i = 0; i < p.n; i++)
			pending += conn_live(&p.c[i]) && !p.c[i].resumed_at;
		/* (a) every one resumed (or failed), and streamed on for a while. */
		if (p.report_at && !pending && t > p.last_resume + RESUMED_S)
			break;
		/* (c) a restored socket that is behind its peer never resumes. */
		if (p.report_at && pending && t > p.report_at + RESUME_WAIT_S) {
			printf("# %d connection%s not resumed %d s after the report\n", pending,
			       pending == 1 ? "" : "s", RESUME_WAIT_S);
			break;
		}
		for (i = 0; i < p.n; i++) {
			c = &p.c[i];
			/* Its turn, or the rest of a record it could not send at once. */
			if (conn_live(c) && ((!p.paused && i % every == tick % every) ||
					     c->out_off))
				peer_send(&p, c);
		}
		tick++;
	}
	/*
	 * Finish the records being sent (for at most FINISH_S: a connection
	 * that never resumed has a full send buffer), then FIN; the server
	 * echoes to EOF.
	 */
	finish_end = mono() + FINISH_S;
	for (;;) {
		for (waiting = 0, i = 0; i < p.n; i++) {
			c = &p.c[i];
			if (conn_live(c) && c->out_off) {
				peer_send(&p, c);
				waiting += conn_live(c) && c->out_off;
			}
		}
		if (!waiting || mono() >= end_at || mono() >= finish_end)
			break;
		peer_poll(&p, TICK_MS / 1000.0);
	}
	for (i = 0; i < p.n; i++) {
		c = &p.c[i];
		if (conn_live(c)) {
			shutdown(c->fd, SHUT_WR);
			c->shut = 1;
		}
	}
	/*
	 * After the report, a connection that did not resume will not echo
	 * anything: wait for the others.
	 */
	t = mono();
	eof_end = (t < end_at ? t : end_at) + EOF_WAIT_S;
	while (mono() < eof_end) {
		for (waiting = 0, i = 0; i < p.n; i++)
			waiting += conn_live(&p.c[i]) && (!p.report_at || p.c[i].resumed_at);
		if (!waiting)
			break;
		peer_poll(&p, 1);
	}
	peer_marks(&p);
	peer_d(&p);
	if (canary >= 0)
		printf("# canary segments %u\n", canaries);

	ok2 = !p.reset_at;
	ok3 = 1;
	c = NULL;	/* the longest stall */
	for (i = 0; i < p.n; i++) {
		struct conn *x = &p.c[i];

		sent += x->sent;
		echoed += x->echoed;
		lost += x->lost;
		dup += x->dup;
		bad += x->bad;
		/* Not restored on purpose (lost=N): its reset is checked in 2. */
		if (!p.expect_lost || !x->reset_at)
			ok3 &= x->eof && !x->reset_at && x->echoed == x->sent && !x->lost &&
			       !x->dup && !x->bad;
		if (x->resumed_at)
			resumed++;
		else if (!x->reset_at)
			unresumed++;
		if (x->stall_to) {
			stalls[nstalls++] = x->stall_to - x->stall_from;
			if (!c || x->stall_to - x->stall_from > c->stall_to - c->stall_from)
				c = x;
		}
	}
	if (c)
		printf("# stall %.3f %.3f\n", c->stall_from - p.t0, c->stall_to - p.t0);
	if (p.gap_to)
		printf("# gap %.3f %.3f\n", p.gap_from - p.t0, p.gap_to - p.t0);
	printf("# records sent %llu, echoed %llu, lost %llu, duplicated or reordered %llu, corrupt %llu\n",
	       sent, echoed, lost, dup, bad);
	if (nstalls) {
		qsort(stalls, nstalls, sizeof(*stalls), cmp_double);
		printf("# stalls n %d median %.3f max %.3f\n", nstalls,
		       nstalls % 2 ? stalls[nstalls / 2] :
				     (stalls[nstalls / 2 - 1] + stalls[nstalls / 2]) / 2,
		       stalls[nstalls - 1]);
	} else {
		printf("# stalls n 0 median - max -\n");
	}
	printf("# resets %d\n", p.resets);
	printf("# unresumed %d\n", unresumed);

	if (p.expect_lost)
		ok2 = lost_ok(&p);
	else if (!ok2)
		printf("not ok 2 the connection failed: %s at %.3f s%s (%d of %d connection%s)\n",
		       strerror(p.err), p.reset_at - p.t0,
		       p.err == ECONNRESET ? " (RST from the DUT)" : "", p.resets, p.n,
		       p.n == 1 ? "" : "s");
	else
		printf("ok 2 no RST, the connection stayed up\n");
	printf("%sok 3 every record echoed once, in order, to EOF (%llu records, %llu bytes, %d connection%s)\n",
	       ok3 ? "" : "not ", echoed, echoed * REC, p.n, p.n == 1 ? "" : "s");
	ok4 = p.report_at && resumed && !unresumed;
	if (!p.report_at)
		printf("not ok 4 the stream resumed after the DUT's live update (%s)\n",
		       p.dut_failed ? "the DUT could not restore the connections" :
				      "no report from the DUT");
	else if (unresumed)
		printf("not ok 4 the stream resumed after the DUT's live update (%d of %d connections did not)\n",
		       unresumed, p.n);
	else
		printf("%sok 4 the stream resumed after the DUT's live update\n", ok4 ? "" : "not ");
	return !(ok2 && ok3 && ok4);
}

int main(int argc, char *argv[])
{
	signal(SIGPIPE, SIG_IGN);
	raise_nofile();
	if (argc >= 2 && !strcmp(argv[1], "peer"))
		return peer(argc > 2 ? argv[2] : getenv("LU_STREAM_ADDR4") ?: DUT_ADDR4);
	if (argc == 3 && !strcmp(argv[1], "serve"))
		return serve(atoi(argv[2]));
	if (argc == 2 && !strcmp(argv[1], "serve-fds"))
		return serve_fds();
	if (argc == 3 && !strcmp(argv[1], "serve-unix"))
		return serve_unix(argv[2]);
	if (argc >= 3 && !strcmp(argv[1], "mark"))
		return mark(argc - 2, argv + 2);
	fprintf(stderr, "usage: lu_stream peer [ADDR] | serve PORT | serve-fds | serve-unix PATH | mark TEXT...\n");
	return 2;
}
