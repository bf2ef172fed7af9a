// SPDX-License-Identifier: GPL-2.0
/*
 * The live-update demo's TCP stream (make demo).
 *
 *   lu_stream peer [ADDR]     the client, on the peer guest: connects to ADDR
 *                             (default 192.0.2.1) port 7030 and sends one
 *                             64-byte record every 10 ms; checks every record the
 *                             server echoes back; logs the DUT's marks (UDP 7031)
 *   lu_stream serve PORT      the server, on the DUT: accepts one connection and
 *                             echoes every record after checking it
 *   lu_stream serve-fds       the same on a connection handed over as fd 3
 *                             (LISTEN_FDS=1), e.g. by luo_tcp_agent restore
 *   lu_stream mark TEXT...    send TEXT to the peer's mark port (DUT -> peer)
 *
 * Records carry their number, the peer's send time and a checksum, so the peer
 * counts at the application level what was lost, duplicated or reordered. The
 * server reads whole records only (ioctl SIOCINQ first), and stops for a dump
 * where its state is whole: SIGTSTP (what luo_tcp_agent sends first) makes it
 * finish echoing what it has read, then stop itself (SIGSTOP), so that every
 * record it consumed is in its socket's send queue when the socket is saved.
 * A SIGSTOP between its read and its echo would lose those records: its memory
 * is not part of the dump. LU_STREAM_ECHO_DELAY_MS=N in its environment makes
 * it wait N ms between the two, so that a freeze lands there (a test of that).
 *
 * The peer prints KTAP, and for scripts/demo-report.sh: "# d T SENT ECHOED"
 * every 100 ms (T in seconds since the connection, bytes), "# mark T TEXT" for
 * every mark, "# reset T ERRNO" when the connection fails, "# stall T0 T1" for
 * the record that took longest to come back (sent at T0, echoed at T1) and
 * "# gap T0 T1" for the longest time without any echo. With
 * luonet.rto_max_ms=N on its kernel command line (or LU_STREAM_RTO_MAX_MS=N in
 * its environment), the peer caps its retransmission backoff with
 * TCP_RTO_MAX_MS; with luonet.canary=1 it also
 * sends the canary (see canary_open()).
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
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include <linux/sockios.h>

#define PORT		7030
#define MARK_PORT	7031
#define PEER_ADDR	"192.0.2.2"
#define CANARY_PORT	7099
#define REC		64
#define MAGIC		0x4c555354	/* "LUST" */
#define TICK_MS		10
#define CONNECT_S	180	/* the DUT boots and starts its server */
#define RESUMED_S	3	/* stream this long after it resumed */
#define TOTAL_S		300	/* give up: the peer never gets its echoes back */
#define AFTER_RESET_S	20	/* wait for the DUT's report after a reset */
#define USER_TIMEOUT_MS	(120 * 1000)	/* with a capped RTO */

struct rec {
	uint32_t magic;
	uint32_t pad;
	uint64_t seq;
	uint64_t sent_ns;
	uint8_t payload[36];
	uint32_t sum;
};

_Static_assert(sizeof(struct rec) == REC, "record size");

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

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
	r->sent_ns = (uint64_t)(now() * 1e9);
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

static volatile sig_atomic_t tstp;

static void on_tstp(int sig)
{
	tstp = 1;
}

/* Echo whole, valid records until EOF; stop between two echoes on SIGTSTP. */
static int serve_conn(int fd)
{
	struct sigaction sa = { .sa_handler = on_tstp };	/* no SA_RESTART */
	const char *d = getenv("LU_STREAM_ECHO_DELAY_MS");
	struct timespec delay = { 0 };
	struct rec buf[64];
	uint64_t first = 0, next = 0, count = 0;
	struct pollfd p = { .fd = fd, .events = POLLIN };
	int avail, n, i;

	if (d && atoi(d) > 0) {
		delay.tv_sec = atoi(d) / 1000;
		delay.tv_nsec = atoi(d) % 1000 * 1000000L;
		printf("# server: %s ms between reading records and echoing them\n", d);
	}
	sigaction(SIGTSTP, &sa, NULL);
	for (;;) {
		if (tstp) {
			tstp = 0;
			raise(SIGSTOP);
		}
		if (poll(&p, 1, -1) < 0) {
			if (errno == EINTR)
				continue;
			perror("server: poll");
			return 1;
		}
		if (ioctl(fd, SIOCINQ, &avail) < 0) {
			perror("server: SIOCINQ");
			return 1;
		}
		if (avail < REC) {
			/* EOF (or reset) once nothing is left but a partial record. */
			char c;

			n = recv(fd, &c, 1, MSG_PEEK | MSG_DONTWAIT);
			if (n == 0 || (n < 0 && errno != EAGAIN)) {
				if (n < 0)
					printf("# server: %s\n", strerror(errno));
				if (avail)
					printf("# server: %d bytes of a partial record at EOF\n", avail);
				printf("# server: echoed %llu records, %llu..%llu\n",
				       (unsigned long long)count, (unsigned long long)first,
				       (unsigned long long)(next ? next - 1 : 0));
				return n == 0 && !avail ? 0 : 1;
			}
			usleep(1000);
			continue;
		}
		if (avail > (int)sizeof(buf))
			avail = sizeof(buf);
		avail -= avail % REC;
		n = read(fd, buf, avail);
		if (n != avail) {
			printf("# server: short read %d of %d\n", n, avail);
			return 1;
		}
		for (i = 0; i < n / REC; i++) {
			if (!rec_ok(&buf[i])) {
				printf("# server: bad record after %llu\n", (unsigned long long)next);
				return 1;
			}
			if (!count) {
				first = buf[i].seq;
				printf("# server: first record %llu\n", (unsigned long long)first);
				fflush(stdout);
			} else if (buf[i].seq != next) {
				printf("# server: record %llu after %llu\n",
				       (unsigned long long)buf[i].seq, (unsigned long long)next - 1);
				return 1;
			}
			next = buf[i].seq + 1;
			count++;
		}
		if (delay.tv_sec || delay.tv_nsec)
			nanosleep(&delay, NULL);	/* cut short by SIGTSTP */
		if (write_full(fd, buf, n)) {
			printf("# server: echo: %s\n", strerror(errno));
			return 1;
		}
	}
}

static int serve(int port)
{
	struct sockaddr_in6 a = { .sin6_family = AF_INET6, .sin6_port = htons(port) };
	int one = 1, zero = 0, ls, fd;

	ls = socket(AF_INET6, SOCK_STREAM, 0);
	setsockopt(ls, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	setsockopt(ls, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof(zero));
	if (bind(ls, (void *)&a, sizeof(a)) || listen(ls, 1)) {
		perror("server: bind/listen");
		return 1;
	}
	fd = accept(ls, NULL, NULL);
	if (fd < 0) {
		perror("server: accept");
		return 1;
	}
	close(ls);
	printf("# server: accepted\n");
	fflush(stdout);
	return serve_conn(fd);
}

static int serve_fds(void)
{
	const char *n = getenv("LISTEN_FDS");

	if (!n || strcmp(n, "1")) {
		fprintf(stderr, "serve-fds: want LISTEN_FDS=1 (one connection as fd 3)\n");
		return 2;
	}
	printf("# server: took over fd 3\n");
	fflush(stdout);
	return serve_conn(3);
}

static int mark(int argc, char *argv[])
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(MARK_PORT) };
	char text[1024] = "";
	int fd, i;

	for (i = 0; i < argc; i++) {
		if (i)
			strncat(text, " ", sizeof(text) - strlen(text) - 1);
		strncat(text, argv[i], sizeof(text) - strlen(text) - 1);
	}
	inet_pton(AF_INET, PEER_ADDR, &a.sin_addr);
	fd = socket(AF_INET, SOCK_DGRAM, 0);
	if (fd < 0 || sendto(fd, text, strlen(text), 0, (void *)&a, sizeof(a)) < 0) {
		perror("mark");
		return 1;
	}
	return 0;
}

struct peer {
	int fd, udp;
	double t0;			/* connection established */
	uint64_t sent, echoed;		/* records */
	size_t out_off;			/* of the record being sent */
	struct rec out;
	char in[REC];
	size_t in_len;
	uint64_t lost, dup, bad;
	double last_echo, stall_from, stall_to, gap_from, gap_to;
	double stage1_at, report_at, resumed_at, reset_at;
	int err;
};

/* luonet.NAME=N on the kernel command line, 0 without it. */
static int cmdline_int(const char *name)
{
	char buf[4096], key[64], *p;
	FILE *f = fopen("/proc/cmdline", "r");
	int n = 0;

	snprintf(key, sizeof(key), " luonet.%s=", name);
	buf[0] = ' ';
	if (f && fgets(buf + 1, sizeof(buf) - 1, f)) {
		p = strstr(buf, key);
		if (p)
			n = atoi(p + strlen(key));
	}
	if (f)
		fclose(f);
	return n;
}

/*
 * The canary (luonet.canary=1): from the DUT's "stage1" mark to its "report"
 * mark, one ACK segment every tick for a flow that never existed
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

static int dial(const char *addr)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(PORT) };
	double deadline = now() + CONNECT_S;
	int fd;

	if (inet_pton(AF_INET, addr, &a.sin_addr) != 1)
		return -1;
	while (now() < deadline) {
		fd = socket(AF_INET, SOCK_STREAM, 0);
		if (!connect(fd, (void *)&a, sizeof(a)))
			return fd;
		close(fd);
		sleep(1);
	}
	return -1;
}

static void peer_fail(struct peer *p, int err)
{
	if (p->reset_at)
		return;
	p->err = err;
	p->reset_at = now();
	printf("# reset %.3f %s\n", p->reset_at - p->t0, strerror(err));
}

static void peer_send(struct peer *p)
{
	ssize_t n;

	if (!p->out_off && p->out.seq != p->sent)
		rec_make(&p->out, p->sent);
	n = send(p->fd, (char *)&p->out + p->out_off, REC - p->out_off,
		 MSG_DONTWAIT | MSG_NOSIGNAL);
	if (n < 0) {
		if (errno != EAGAIN)
			peer_fail(p, errno);
		return;
	}
	p->out_off += n;
	if (p->out_off == REC) {
		p->out_off = 0;
		p->sent++;
	}
}

static void peer_echo(struct peer *p, const struct rec *r)
{
	double t = now();

	if (!rec_ok(r)) {
		p->bad++;
	} else if (r->seq > p->echoed) {
		p->lost += r->seq - p->echoed;
		p->echoed = r->seq + 1;
	} else if (r->seq < p->echoed) {
		p->dup++;
	} else {
		p->echoed++;
	}
	/* The stall: the longest any record took to come back. */
	if (rec_ok(r) && t - r->sent_ns / 1e9 > p->stall_to - p->stall_from) {
		p->stall_from = r->sent_ns / 1e9;
		p->stall_to = t;
	}
	if (p->last_echo && t - p->last_echo > p->gap_to - p->gap_from) {
		p->gap_from = p->last_echo;
		p->gap_to = t;
	}
	p->last_echo = t;
	/* Resumed: a record sent after the DUT reported its restore came back. */
	if (p->report_at && !p->resumed_at && rec_ok(r) && r->sent_ns / 1e9 >= p->report_at)
		p->resumed_at = t;
}

/* Returns 1 when it read something, 0 at EOF, -1 when nothing is there (or on error). */
static int peer_recv(struct peer *p)
{
	ssize_t n = recv(p->fd, p->in + p->in_len, REC - p->in_len, MSG_DONTWAIT);

	if (n == 0)
		return 0;
	if (n < 0) {
		if (errno != EAGAIN)
			peer_fail(p, errno);
		return -1;
	}
	p->in_len += n;
	if (p->in_len == REC) {
		peer_echo(p, (const struct rec *)p->in);
		p->in_len = 0;
	}
	return 1;
}

static void peer_marks(struct peer *p)
{
	char buf[1024];
	ssize_t n;

	while ((n = recv(p->udp, buf, sizeof(buf) - 1, MSG_DONTWAIT)) > 0) {
		buf[n] = '\0';
		printf("# mark %.3f %s\n", now() - p->t0, buf);
		if (!strncmp(buf, "report", 6))
			p->report_at = now();
		if (!strncmp(buf, "stage1", 6))
			p->stage1_at = now();
	}
}

static int peer(const char *addr)
{
	struct sockaddr_in ua = { .sin_family = AF_INET, .sin_port = htons(MARK_PORT) };
	struct timespec tick = { 0, TICK_MS * 1000 * 1000 };
	struct peer p = { .out.seq = ~0ULL };
	double next_d, end_at;
	int eof = 0, ok, r, canary = -1;
	uint32_t canaries = 0;

	setvbuf(stdout, NULL, _IOLBF, 0);
	printf("TAP version 13\n1..4\n");
	p.udp = socket(AF_INET, SOCK_DGRAM, 0);
	if (p.udp < 0 || bind(p.udp, (void *)&ua, sizeof(ua))) {
		printf("Bail out! mark port %d: %s\n", MARK_PORT, strerror(errno));
		return 1;
	}
	p.fd = dial(addr);
	if (p.fd < 0) {
		printf("Bail out! could not connect to %s port %d\n", addr, PORT);
		return 1;
	}
	p.t0 = now();
	printf("# connected %.6f\n", p.t0);
	r = getenv("LU_STREAM_RTO_MAX_MS") ? atoi(getenv("LU_STREAM_RTO_MAX_MS")) :
					      cmdline_int("rto_max_ms");
	if (r) {
		if (setsockopt(p.fd, IPPROTO_TCP, TCP_RTO_MAX_MS, &r, sizeof(r))) {
			printf("Bail out! TCP_RTO_MAX_MS %d: %s\n", r, strerror(errno));
			return 1;
		}
		printf("# rto_max_ms %d (TCP_RTO_MAX_MS)\n", r);
		/*
		 * tcp_retries2 counts retransmissions: capped at 1 s, 15 of them
		 * give up after some 13 s of outage. Wait as long as uncapped.
		 */
		r = USER_TIMEOUT_MS;
		if (setsockopt(p.fd, IPPROTO_TCP, TCP_USER_TIMEOUT, &r, sizeof(r))) {
			printf("Bail out! TCP_USER_TIMEOUT: %s\n", strerror(errno));
			return 1;
		}
	}
	printf("ok 1 connected to the server on %s port %d\n", addr, PORT);
	if (cmdline_int("canary")) {
		canary = canary_open();
		if (canary < 0) {
			printf("Bail out! canary raw socket: %s\n", strerror(errno));
			return 1;
		}
		printf("# canary %d\n", CANARY_PORT);
	}
	next_d = p.t0;
	end_at = p.t0 + TOTAL_S;

	/* Stream until RESUMED_S after the DUT reported its restore. */
	while (now() < end_at) {
		peer_marks(&p);
		if (canary >= 0 && p.stage1_at && !p.report_at)
			canary_send(canary, addr, 1000 * ++canaries);
		if (p.reset_at) {
			if (p.report_at || now() > p.reset_at + AFTER_RESET_S)
				break;
		} else {
			if (p.resumed_at && now() > p.resumed_at + RESUMED_S)
				break;
			peer_send(&p);
			while ((r = peer_recv(&p)) > 0)
				;
			if (!r)		/* the server must not close first */
				peer_fail(&p, EPIPE);
		}
		if (now() >= next_d) {
			printf("# d %.3f %llu %llu\n", now() - p.t0,
			       (unsigned long long)(p.sent * REC),
			       (unsigned long long)(p.echoed * REC));
			next_d += 0.1;
		}
		nanosleep(&tick, NULL);
	}
	/* Finish the record being sent, then FIN; the server echoes to EOF. */
	if (!p.reset_at) {
		while (p.out_off && !p.reset_at && now() < end_at) {
			peer_send(&p);
			nanosleep(&tick, NULL);
		}
		shutdown(p.fd, SHUT_WR);
		while (!p.reset_at && now() < end_at + 60) {
			struct pollfd pf = { .fd = p.fd, .events = POLLIN };

			if (poll(&pf, 1, 1000) == 1 && peer_recv(&p) == 0) {
				eof = 1;
				break;
			}
		}
	}
	peer_marks(&p);
	printf("# d %.3f %llu %llu\n", now() - p.t0, (unsigned long long)(p.sent * REC),
	       (unsigned long long)(p.echoed * REC));
	if (canary >= 0)
		printf("# canary segments %u\n", canaries);
	if (p.stall_to)
		printf("# stall %.3f %.3f\n", p.stall_from - p.t0, p.stall_to - p.t0);
	if (p.gap_to)
		printf("# gap %.3f %.3f\n", p.gap_from - p.t0, p.gap_to - p.t0);
	printf("# records sent %llu, echoed %llu, lost %llu, duplicated or reordered %llu, corrupt %llu\n",
	       (unsigned long long)p.sent, (unsigned long long)p.echoed,
	       (unsigned long long)p.lost, (unsigned long long)p.dup,
	       (unsigned long long)p.bad);

	if (p.reset_at)
		printf("not ok 2 the connection failed: %s at %.3f s%s\n", strerror(p.err),
		       p.reset_at - p.t0, p.err == ECONNRESET ? " (RST from the DUT)" : "");
	else
		printf("ok 2 no RST, the connection stayed up\n");
	ok = eof && !p.reset_at && p.echoed == p.sent && !p.lost && !p.dup && !p.bad;
	printf("%sok 3 every record echoed once, in order, to EOF (%llu records, %llu bytes)\n",
	       ok ? "" : "not ", (unsigned long long)p.echoed,
	       (unsigned long long)(p.echoed * REC));
	ok = p.resumed_at;
	printf("%sok 4 the stream resumed after the DUT's live update%s\n", ok ? "" : "not ",
	       p.report_at ? "" : " (no report from the DUT)");
	return !(eof && !p.reset_at && p.echoed == p.sent && !p.lost && !p.dup && !p.bad &&
		 ok);
}

int main(int argc, char *argv[])
{
	signal(SIGPIPE, SIG_IGN);
	if (argc >= 2 && !strcmp(argv[1], "peer"))
		return peer(argc > 2 ? argv[2] : "192.0.2.1");
	if (argc == 3 && !strcmp(argv[1], "serve"))
		return serve(atoi(argv[2]));
	if (argc == 2 && !strcmp(argv[1], "serve-fds"))
		return serve_fds();
	if (argc >= 3 && !strcmp(argv[1], "mark"))
		return mark(argc - 2, argv + 2);
	fprintf(stderr, "usage: lu_stream peer [ADDR] | serve PORT | serve-fds | mark TEXT...\n");
	return 2;
}
