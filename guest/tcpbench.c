// SPDX-License-Identifier: GPL-2.0
/*
 * Established-path TCP cost, for scripts/bench.sh: one TCP connection between two
 * network namespaces joined by veth (the guest's /init sets them up: bs holds
 * SERVER_ADDR, bc CLIENT_ADDR), both ends driven in lockstep by this one process.
 *
 *   tcpbench SERVER_NETNS CLIENT_NETNS MB ROUNDS [BUF_KB]
 *	(e.g. /run/netns/bs /run/netns/bc 64 3000)
 *
 * A socket keeps the network namespace it was created in, so the listener is created
 * after setns() into SERVER_NETNS, the client socket after setns() into CLIENT_NETNS,
 * and the process then drives both: nothing depends on how the scheduler interleaves
 * a server and a client process on the one vCPU (with two processes, how much each
 * side batches per wakeup changed from run to run, and bulk throughput was bimodal).
 * A write on one end runs the whole receive path of the other end in the softirq
 * that veth raises, before the write returns; the next read finds the data queued.
 *
 *   bulk: MB megabytes client -> server over non-blocking sockets (after an unmeasured
 *	   warm-up of MB/8): write up to 64 KiB, then read everything queued at the
 *	   server; poll() both only when neither made progress (counted, "bulk_waits").
 *   rr:   ROUNDS times (after ROUNDS/10 unmeasured): 1 byte client -> server, read it,
 *	   1 byte server -> client, read it; TCP_NODELAY on both ends.
 *
 * Output, guest CLOCK_MONOTONIC nanoseconds per unit of work:
 *   # bulk_insn_per_kb: X     per KiB transferred
 *   # rr_insn_per_round: Y    per round trip
 * scripts/bench.sh runs the guest with QEMU's -icount shift=0: the virtual clock
 * advances 2^0 = 1 ns per guest instruction executed, and the guest's clocksource (TSC)
 * counts that clock (calibrated at about 1000 MHz; the calibration error, some 20 ppm,
 * is the same on every boot). So while the vCPU is busy, guest nanoseconds are
 * instructions; with sleep=off an idle vCPU jumps the clock to the next timer instead
 * of waiting.
 * The loops here never leave the CPU idle unless they block in poll() or read(), and
 * then only on a TCP timer: "bulk_waits" reports how often the bulk loop had to.
 *
 * SO_SNDBUF/SO_RCVBUF are fixed (BUF_KB, default 256): that turns off send- and
 * receive-buffer autotuning, whose decisions depend on RTT samples and on when the
 * application reads, so every run moves data through the same window and buffer sizes.
 * The client binds fixed ports, so that no random ephemeral port enters the lookups.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define SERVER_ADDR	"198.51.100.1"	/* guest/init: veth_s in bs */
#define CLIENT_ADDR	"198.51.100.2"	/* guest/init: veth_c in bc */
#define SERVER_PORT	7100
#define CHUNK		65536

static char wbuf[CHUNK], rbuf[CHUNK];
static int bufsize;

static void die(const char *what)
{
	perror(what);
	exit(1);
}

static long long now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static void enter(const char *netns)
{
	int fd = open(netns, O_RDONLY | O_CLOEXEC);

	if (fd < 0 || setns(fd, CLONE_NEWNET))
		die(netns);
	close(fd);
}

static void set_int(int fd, int level, int opt, int val, const char *what)
{
	if (setsockopt(fd, level, opt, &val, sizeof(val)))
		die(what);
}

static void set_nonblock(int fd, int on)
{
	int fl = fcntl(fd, F_GETFL);

	if (fl < 0 || fcntl(fd, F_SETFL, on ? fl | O_NONBLOCK : fl & ~O_NONBLOCK))
		die("fcntl");
}

/* Connect a client socket in CLIENT_NETNS from CLIENT_ADDR:cport to the listener. */
static void pair(int ls, const char *cns, int cport, int *c, int *s)
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons(SERVER_PORT) };
	struct sockaddr_in ca = { .sin_family = AF_INET, .sin_port = htons(cport) };

	enter(cns);
	*c = socket(AF_INET, SOCK_STREAM, 0);
	if (*c < 0)
		die("socket");
	set_int(*c, SOL_SOCKET, SO_REUSEADDR, 1, "SO_REUSEADDR");
	set_int(*c, SOL_SOCKET, SO_SNDBUF, bufsize, "SO_SNDBUF");
	set_int(*c, SOL_SOCKET, SO_RCVBUF, bufsize, "SO_RCVBUF");
	set_int(*c, IPPROTO_TCP, TCP_NODELAY, 1, "TCP_NODELAY");
	inet_pton(AF_INET, CLIENT_ADDR, &ca.sin_addr);
	inet_pton(AF_INET, SERVER_ADDR, &sa.sin_addr);
	if (bind(*c, (void *)&ca, sizeof(ca)))
		die("bind client");
	if (connect(*c, (void *)&sa, sizeof(sa)))
		die("connect");
	*s = accept(ls, NULL, NULL);	/* accepted sockets inherit the listener's buffers */
	if (*s < 0)
		die("accept");
	set_int(*s, IPPROTO_TCP, TCP_NODELAY, 1, "TCP_NODELAY");
}

/* Move len bytes c -> s; returns how many times both ends had to wait in poll(). */
static long bulk(int c, int s, long long len)
{
	long long sent = 0, got = 0;
	long waits = 0;
	ssize_t n;

	while (got < len) {
		int progress = 0;

		if (sent < len) {
			n = write(c, wbuf, len - sent < CHUNK ? len - sent : CHUNK);
			if (n > 0) {
				sent += n;
				progress = 1;
			} else if (n < 0 && errno != EAGAIN) {
				die("write");
			}
		}
		while ((n = read(s, rbuf, CHUNK)) > 0) {
			got += n;
			progress = 1;
		}
		if (n == 0)
			die("read: early EOF");
		if (errno != EAGAIN)
			die("read");
		if (!progress) {
			struct pollfd p[2] = {
				{ .fd = c, .events = sent < len ? POLLOUT : 0 },
				{ .fd = s, .events = POLLIN },
			};

			waits++;
			if (poll(p, 2, 60000) <= 0)
				die("poll (stalled)");
		}
	}
	return waits;
}

static void rr(int c, int s, long rounds)
{
	long i;

	for (i = 0; i < rounds; i++)
		if (write(c, wbuf, 1) != 1 || read(s, rbuf, 1) != 1 ||
		    write(s, wbuf, 1) != 1 || read(c, rbuf, 1) != 1)
			die("request/response");
}

int main(int argc, char *argv[])
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons(SERVER_PORT) };
	long long t, len;
	long mb, rounds, waits;
	int ls, c, s;

	setvbuf(stdout, NULL, _IOLBF, 0);
	if (argc != 5 && argc != 6) {
		fprintf(stderr, "usage: %s SERVER_NETNS CLIENT_NETNS MB ROUNDS [BUF_KB]\n", argv[0]);
		return 2;
	}
	mb = atol(argv[3]);
	rounds = atol(argv[4]);
	bufsize = (argc == 6 ? atoi(argv[5]) : 256) * 1024;
	if (mb <= 0 || rounds <= 0 || bufsize <= 0) {
		fprintf(stderr, "MB, ROUNDS and BUF_KB must be positive\n");
		return 2;
	}
	len = (long long)mb << 20;
	memset(wbuf, 'x', sizeof(wbuf));
	memset(rbuf, 0, sizeof(rbuf));

	enter(argv[1]);
	ls = socket(AF_INET, SOCK_STREAM, 0);
	if (ls < 0)
		die("socket");
	set_int(ls, SOL_SOCKET, SO_REUSEADDR, 1, "SO_REUSEADDR");
	set_int(ls, SOL_SOCKET, SO_SNDBUF, bufsize, "SO_SNDBUF");
	set_int(ls, SOL_SOCKET, SO_RCVBUF, bufsize, "SO_RCVBUF");
	inet_pton(AF_INET, SERVER_ADDR, &sa.sin_addr);
	if (bind(ls, (void *)&sa, sizeof(sa)) || listen(ls, 4))
		die("bind/listen");

	pair(ls, argv[2], SERVER_PORT + 101, &c, &s);
	set_nonblock(c, 1);
	set_nonblock(s, 1);
	waits = bulk(c, s, len / 8);
	t = now_ns();
	waits += bulk(c, s, len);
	t = now_ns() - t;
	printf("# bulk_ns: %lld for %ld MiB\n", t, mb);
	printf("# bulk_waits: %ld\n", waits);
	printf("# bulk_insn_per_kb: %.2f\n", (double)t / (len >> 10));
	close(c);
	close(s);

	pair(ls, argv[2], SERVER_PORT + 102, &c, &s);
	rr(c, s, rounds / 10 + 1);
	t = now_ns();
	rr(c, s, rounds);
	t = now_ns() - t;
	printf("# rr_ns: %lld for %ld rounds\n", t, rounds);
	printf("# rr_insn_per_round: %.2f\n", (double)t / rounds);
	close(c);
	close(s);
	close(ls);
	return 0;
}
