// SPDX-License-Identifier: GPL-2.0
/*
 * Harness smoke test for the two-guest topology: TCP and ping from the peer
 * guest to the DUT, over IPv4 and IPv6, before and after a DUT kexec.
 *
 *   DUT:  netsmoke -s N     serve one IPv4 and one IPv6 connection, answer
 *                           each line with "stage N: <line>", then exit
 *   peer: netsmoke peer     for phase 1 and 2: ping the DUT, connect over
 *                           both families (retrying while the DUT kexecs) and
 *                           check that stage 1, then stage 2, answered
 * Output is KTAP.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define PORT		7000
#define DUT4		"192.0.2.1"
#define DUT6		"2001:db8::1"
/*
 * For the DUT between two phases: the end of its stage, the kexec, the boot,
 * the server up. Under KASAN on TCG (make check-sanitize) that took more than
 * 90 s: the old kernel refused the peer's SYNs for 45 s (its end of stage,
 * kmemleak's scan among it), and the new one booted for 40.
 */
#define WAIT_S		240

static int failures, tests;

static void result(int ok, const char *fmt, const char *a, const char *b)
{
	tests++;
	failures += !ok;
	printf("%s %d ", ok ? "ok" : "not ok", tests);
	printf(fmt, a, b);
	printf("\n");
	fflush(stdout);
}

static time_t now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec;
}

static int serve(int stage)
{
	struct sockaddr_in6 a = { .sin6_family = AF_INET6, .sin6_port = htons(PORT) };
	int one = 1, zero = 0, ls, i;
	char tag[16];

	snprintf(tag, sizeof(tag), "%d", stage);
	printf("TAP version 13\n1..2\n");
	ls = socket(AF_INET6, SOCK_STREAM, 0);
	setsockopt(ls, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	setsockopt(ls, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof(zero));
	if (bind(ls, (void *)&a, sizeof(a)) || listen(ls, 4)) {
		printf("Bail out! bind/listen: %s\n", strerror(errno));
		return 1;
	}
	for (i = 0; i < 2; i++) {
		struct pollfd p = { .fd = ls, .events = POLLIN };
		char buf[128], out[160], from[INET6_ADDRSTRLEN] = "?";
		struct sockaddr_in6 peer;
		socklen_t len = sizeof(peer);
		ssize_t n;
		int c;

		if (poll(&p, 1, WAIT_S * 1000) != 1) {
			result(0, "stage %s: timed out waiting for connection from the peer%s",
			       tag, "");
			continue;
		}
		c = accept(ls, (void *)&peer, &len);
		inet_ntop(AF_INET6, &peer.sin6_addr, from, sizeof(from));
		n = c < 0 ? -1 : read(c, buf, sizeof(buf) - 1);
		if (n <= 0) {
			result(0, "stage %s: no data from %s", tag, from);
		} else {
			buf[n] = '\0';
			n = snprintf(out, sizeof(out), "stage %d: %s", stage, buf);
			result(write(c, out, n) == n, "stage %s: answered %s", tag, from);
		}
		if (c >= 0)
			close(c);
	}
	close(ls);
	printf("# totals: pass:%d fail:%d\n", tests - failures, failures);
	return failures ? 1 : 0;
}

/* Connect with a bounded wait per attempt; retry until the deadline. */
static int connect_retry(int family, const char *addr, time_t deadline)
{
	struct sockaddr_storage ss = {};
	socklen_t len;

	if (family == AF_INET) {
		struct sockaddr_in *s = (void *)&ss;

		s->sin_family = AF_INET;
		s->sin_port = htons(PORT);
		inet_pton(AF_INET, addr, &s->sin_addr);
		len = sizeof(*s);
	} else {
		struct sockaddr_in6 *s = (void *)&ss;

		s->sin6_family = AF_INET6;
		s->sin6_port = htons(PORT);
		inet_pton(AF_INET6, addr, &s->sin6_addr);
		len = sizeof(*s);
	}
	while (now() < deadline) {
		int fd = socket(family, SOCK_STREAM | SOCK_NONBLOCK, 0);
		struct pollfd p = { .fd = fd, .events = POLLOUT };
		int err = 0;
		socklen_t el = sizeof(err);

		if (connect(fd, (void *)&ss, len) == 0 ||
		    (errno == EINPROGRESS && poll(&p, 1, 2000) == 1 &&
		     !getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &el) && !err)) {
			fcntl(fd, F_SETFL, 0);
			return fd;
		}
		close(fd);
		sleep(1);
	}
	return -1;
}

static void probe(int phase, int family, const char *addr)
{
	char msg[64], want[96], buf[128] = "", ph[8];
	struct pollfd p;
	ssize_t n = -1;
	int fd;

	snprintf(ph, sizeof(ph), "%d", phase);
	fd = connect_retry(family, addr, now() + WAIT_S);
	if (fd < 0) {
		result(0, "phase %s: TCP connect to %s timed out", ph, addr);
		return;
	}
	snprintf(msg, sizeof(msg), "hello from the peer, phase %d", phase);
	snprintf(want, sizeof(want), "stage %d: %s", phase, msg);
	p = (struct pollfd){ .fd = fd, .events = POLLIN };
	if (write(fd, msg, strlen(msg)) == (ssize_t)strlen(msg) &&
	    poll(&p, 1, 30000) == 1)
		n = read(fd, buf, sizeof(buf) - 1);
	if (n > 0)
		buf[n] = '\0';
	close(fd);
	result(n > 0 && !strcmp(buf, want), "phase %s: TCP echo over %s", ph, addr);
}

static void ping(int phase, const char *addr)
{
	char cmd[128], ph[8];
	time_t deadline = now() + WAIT_S;
	int ok = 0;

	snprintf(ph, sizeof(ph), "%d", phase);
	snprintf(cmd, sizeof(cmd), "ping -c 1 -W 2 %s >/dev/null 2>&1", addr);
	while (!ok && now() < deadline)
		ok = system(cmd) == 0;
	result(ok, "phase %s: ping %s", ph, addr);
}

static int peer(void)
{
	int phase;

	printf("TAP version 13\n1..8\n");
	for (phase = 1; phase <= 2; phase++) {
		/* Ping first: the DUT kexecs as soon as both probes are served. */
		ping(phase, DUT4);
		ping(phase, DUT6);
		probe(phase, AF_INET, DUT4);
		probe(phase, AF_INET6, DUT6);
	}
	printf("# totals: pass:%d fail:%d\n", tests - failures, failures);
	return failures ? 1 : 0;
}

int main(int argc, char *argv[])
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (argc == 2 && !strcmp(argv[1], "peer"))
		return peer();
	if (argc == 3 && !strcmp(argv[1], "-s"))
		return serve(atoi(argv[2]));
	fprintf(stderr, "usage: %s -s STAGE | peer\n", argv[0]);
	return 2;
}
