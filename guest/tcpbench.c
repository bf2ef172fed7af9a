// SPDX-License-Identifier: GPL-2.0
/*
 * Established-path TCP cost, for scripts/bench.sh: a server and a client in two
 * network namespaces joined by veth (the guest's /init sets them up).
 *
 *   tcpbench server PORT              serve: bulk (read to EOF), then request/response
 *   tcpbench client ADDR PORT MB N    bulk-send MB megabytes, then N 1-byte round trips
 * The client prints "# bulk_MBps: X" and "# rr_per_s: Y".
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static char buf[65536];

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static int serve(int port)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(port) };
	int one = 1, ls, c, round;
	ssize_t n;

	ls = socket(AF_INET, SOCK_STREAM, 0);
	setsockopt(ls, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(ls, (void *)&a, sizeof(a)) || listen(ls, 2)) {
		perror("bind/listen");
		return 1;
	}
	for (round = 0; round < 2; round++) {
		c = accept(ls, NULL, NULL);
		if (c < 0)
			return 1;
		setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		while ((n = read(c, buf, round ? 1 : sizeof(buf))) > 0)
			if (round && write(c, buf, 1) != 1)
				break;
		close(c);
	}
	return 0;
}

static int dial(const char *addr, int port)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(port) };
	int one = 1, fd = socket(AF_INET, SOCK_STREAM, 0);
	int i;

	inet_pton(AF_INET, addr, &a.sin_addr);
	for (i = 0; i < 100; i++) {
		if (!connect(fd, (void *)&a, sizeof(a)))
			break;
		close(fd);
		fd = socket(AF_INET, SOCK_STREAM, 0);
		usleep(100000);
	}
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	return fd;
}

static int client(const char *addr, int port, long mb, long rounds)
{
	long left = mb << 20, i;
	double t;
	int fd;

	fd = dial(addr, port);
	t = now();
	while (left > 0) {
		ssize_t n = write(fd, buf, left < (long)sizeof(buf) ? left : (long)sizeof(buf));

		if (n <= 0)
			return 1;
		left -= n;
	}
	shutdown(fd, SHUT_WR);
	if (read(fd, buf, 1) != 0)	/* the server closes after reading it all */
		return 1;
	printf("# bulk_MBps: %.2f\n", mb / (now() - t));
	close(fd);

	fd = dial(addr, port);
	t = now();
	for (i = 0; i < rounds; i++)
		if (write(fd, buf, 1) != 1 || read(fd, buf, 1) != 1)
			return 1;
	printf("# rr_per_s: %.1f\n", rounds / (now() - t));
	close(fd);
	return 0;
}

int main(int argc, char *argv[])
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (argc == 3 && !strcmp(argv[1], "server"))
		return serve(atoi(argv[2]));
	if (argc == 6 && !strcmp(argv[1], "client"))
		return client(argv[2], atoi(argv[3]), atol(argv[4]), atol(argv[5]));
	fprintf(stderr, "usage: %s server PORT | client ADDR PORT MB ROUNDS\n", argv[0]);
	return 2;
}
