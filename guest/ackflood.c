// SPDX-License-Identifier: GPL-2.0
/*
 * Cost of the TCP no-socket path, for scripts/bench-flood.sh: a flood of ACK
 * segments for unknown flows (random ports and sequence numbers, ACK set, SYN
 * clear) against a DUT network namespace (the guest's /init sets it up).
 *
 *   ackflood hold                 create the LUO session "ackflood" with a memfd
 *                                 and keep it open in a daemon, so that the next
 *                                 kexec hands it over (the restore window opens)
 *   ackflood finish               retrieve that session and finish it (the
 *                                 restore window closes)
 *   ackflood flood NETNS PHASE N [mix]
 *                                 from the current namespace, send N segments to
 *                                 DUT_ADDR in the namespace NETNS (a path such as
 *                                 /run/netns/fd): ACK segments, or with "mix", ACK,
 *                                 data and SYN segments in turn (as the flood of
 *                                 test luo_flood, below); print one result line:
 *   # flood phase=PHASE kind=ack|mix n=N ns=T insegs=I outrsts=R suppressed=S window=W0,W1
 * T is the guest time the flood took, I, R and S the growth of the DUT's
 * Tcp InSegs, Tcp OutRsts and TcpExt TCPLiveUpdateRstSuppressed (-1: no such
 * counter, base kernel), W0 and W1 the restore window's state before and after
 * ("missing": no such file, base kernel).
 *
 * What the time covers: the segments leave a raw socket through veth, which
 * hands them to the peer device with netif_rx(); the NET_RX softirq runs at the
 * local_bh_enable() that ends the sender's dev_queue_xmit(), on the same (only)
 * vCPU. So the sender's guest time, from the first segment until the DUT has
 * counted the last one, contains the DUT's whole processing of every segment
 * (IP input, socket lookups, then the RST built and sent, or the drop), plus
 * the sender's own cost (syscall, raw IP output, veth), which is the same in
 * every configuration. Under QEMU -icount, guest time counts instructions.
 * The flows are the same pseudo-random sequence in every run.
 *
 * Test luo_flood (tests.list), a flood from the peer guest while the DUT's
 * restore window is open:
 *
 *   ackflood serve                on the peer: wait for the DUT's request on UDP
 *                                 port FLOOD_PORT, flood the DUT, answer
 *   ackflood trigger ADDR N       on the DUT: ask the peer at ADDR for a flood of
 *                                 N segments of each kind, print its answer
 *
 * The flood: N ACK segments, N data segments (ACK and PSH, DATA_LEN bytes) and
 * N SYN segments, interleaved, each for a flow of its own (the peer's address,
 * a random source port, a destination port of the kind's range that is used
 * once: see flow_port()), random sequence numbers. Then, for SETTLE_MS, the
 * peer counts the resets that came back for each kind (a raw TCP socket sees
 * every segment the peer receives) and answers, on one line:
 *   # flood n=N sent=S secs=T pps=P rst_ack=A rst_data=D rst_syn=Y rst_other=O drops=X
 * X: segments the raw socket could not queue (its count would be short).
 */
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/ip.h>
#include <netinet/tcp.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <poll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include <errno.h>

#include <libliveupdate.h>

#define PROG	"ackflood"
#define SAY	"ackflood"
#include "guest_util.h"

#define SESSION		"ackflood"
#define MEMFD_TOKEN	0xf100d
#define WINDOW_PATH	"/sys/kernel/liveupdate/restore_window"
#define DUT_ADDR	"198.51.100.1"
/* Not on the DUT's veth: its resets go out a device that discards them. */
#define SRC_ADDR	"203.0.113.1"
#define WARMUP		2000	/* neighbour resolution, first allocations */
#define BATCH		64
#define PKT_LEN		(sizeof(struct iphdr) + sizeof(struct tcphdr))
/* Test luo_flood */
#define FLOOD_PORT	7032
#define PEER_ADDR	"192.0.2.2"
#define DATA_LEN	512
#define KINDS		3	/* ACK, data, SYN */
#define KIND_PORTS	16000	/* destination ports of a kind: 10000 + 16000 * kind ... */
#define SETTLE_MS	2000
#define TRIGGER_WAIT_S	300

struct pkt {
	struct iphdr ip;
	struct tcphdr tcp;
	unsigned char data[DATA_LEN];
};

static struct pkt pkts[BATCH];
static struct iovec iov[BATCH];
static struct mmsghdr msgs[BATCH];
static struct sockaddr_in dut = { .sin_family = AF_INET };
static unsigned long long rnd = 0x2545f4914f6cdd1dULL;

static unsigned long long xorshift(void)
{
	rnd ^= rnd << 13;
	rnd ^= rnd >> 7;
	rnd ^= rnd << 17;
	return rnd;
}

/*
 * Add @len bytes at @data to a ones' complement sum of big-endian 16-bit words.
 * Bytes, not a cast to a 16-bit type: the caller has just written the header
 * through its own fields, and reading them through another type is not
 * ordered after those stores (strict aliasing).
 */
static unsigned int csum_add(unsigned int sum, const void *data, size_t len)
{
	const unsigned char *p = data;

	for (; len > 1; len -= 2, p += 2)
		sum += p[0] << 8 | p[1];
	return sum;
}

static unsigned short csum_fold(unsigned int sum)
{
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return ~sum;
}

/*
 * The destination port of the @i-th flow of @kind: one of the kind's own
 * KIND_PORTS, all different for i < KIND_PORTS (7919 is prime to KIND_PORTS),
 * none of them the demo's (lu_stream: 7030 to 7099). -1: not a flood port.
 */
static int flow_port(int kind, long i)
{
	return 10000 + KIND_PORTS * kind + (int)(i * 7919 % KIND_PORTS);
}

static int port_kind(int port)
{
	return port < 10000 || port >= 10000 + KINDS * KIND_PORTS ? -1 :
		(port - 10000) / KIND_PORTS;
}

/*
 * Fill @p with a segment of @kind (0: ACK, 1: data, 2: SYN) from @src to @dst,
 * port @dport (-1: a pseudo-random one), from a pseudo-random port with
 * pseudo-random sequence numbers. Returns its length.
 */
static size_t make_segment(struct pkt *p, int kind, int dport, in_addr_t src,
			   in_addr_t dst)
{
	size_t tcp_len = sizeof(p->tcp) + (kind == 1 ? DATA_LEN : 0);
	unsigned long long r = xorshift();
	unsigned int sum;

	memset(p, 0, sizeof(*p));
	p->ip.version = 4;
	p->ip.ihl = 5;
	p->ip.ttl = 64;
	p->ip.protocol = IPPROTO_TCP;
	p->ip.tot_len = htons(sizeof(p->ip) + tcp_len);
	p->ip.saddr = src;
	p->ip.daddr = dst;
	p->tcp.source = htons(1024 + (r & 0xffff) % 64512);
	p->tcp.dest = htons(dport >= 0 ? dport : 1024 + (r >> 16 & 0xffff) % 64512);
	p->tcp.seq = htonl(r >> 32);
	p->tcp.doff = 5;
	p->tcp.window = htons(65535);
	if (kind == 2) {
		p->tcp.syn = 1;
	} else {
		p->tcp.ack = 1;
		p->tcp.ack_seq = htonl(xorshift());
	}
	if (kind == 1) {
		p->tcp.psh = 1;
		memset(p->data, 'f', DATA_LEN);
	}
	/* Pseudo header: addresses, protocol, TCP length. */
	sum = csum_add(0, &p->ip.saddr, 8);
	sum += IPPROTO_TCP + tcp_len;
	p->tcp.check = htons(csum_fold(csum_add(sum, &p->tcp, tcp_len)));
	return sizeof(p->ip) + tcp_len;
}

/*
 * Send @n segments: ACK segments for pseudo-random flows, or with @mix, ACK,
 * data and SYN segments in turn, each for a flow of its own.
 */
static int send_segments(int fd, long n, int mix, in_addr_t src)
{
	long k = 0;

	while (n > 0) {
		int want = n < BATCH ? n : BATCH, i, sent;

		for (i = 0; i < want; i++, k++)
			iov[i].iov_len = mix ?
				make_segment(&pkts[i], k % KINDS, flow_port(k % KINDS, k / KINDS),
					     src, dut.sin_addr.s_addr) :
				make_segment(&pkts[i], 0, -1, src, dut.sin_addr.s_addr);
		for (i = 0; i < want; i += sent) {
			sent = sendmmsg(fd, msgs + i, want - i, 0);
			if (sent < 0 && errno == ENOBUFS) {
				/* The device's queue is full: let it drain. */
				usleep(1000);
				sent = 0;
			} else if (sent <= 0) {
				perror("sendmmsg");
				return -1;
			}
		}
		n -= want;
	}
	return 0;
}

/* Point the batch's messages at @to, their segments at pkts[]. */
static void setup_msgs(struct sockaddr_in *to)
{
	int i;

	for (i = 0; i < BATCH; i++) {
		iov[i].iov_base = &pkts[i];
		msgs[i].msg_hdr.msg_name = to;
		msgs[i].msg_hdr.msg_namelen = sizeof(*to);
		msgs[i].msg_hdr.msg_iov = &iov[i];
		msgs[i].msg_hdr.msg_iovlen = 1;
	}
}

/* A counter of /proc/self/net/@file ("Tcp:" header line, then values), or -1. */
static long counter(const char *file, const char *prefix, const char *name)
{
	static char head[8192], vals[8192];
	char path[64], *hs, *vs, *h, *v;
	long ret = -1;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/self/net/%s", file);
	f = fopen(path, "r");
	if (!f)
		return -1;
	while (fgets(head, sizeof(head), f) && fgets(vals, sizeof(vals), f)) {
		if (strncmp(head, prefix, strlen(prefix)))
			continue;
		h = strtok_r(head, " \n", &hs);
		v = strtok_r(vals, " \n", &vs);
		while (h && v) {
			if (!strcmp(h, name)) {
				ret = atol(v);
				break;
			}
			h = strtok_r(NULL, " \n", &hs);
			v = strtok_r(NULL, " \n", &vs);
		}
		break;
	}
	fclose(f);
	return ret;
}

struct counters {
	long insegs, outrsts, suppressed;
};

static void read_counters(struct counters *c)
{
	c->insegs = counter("snmp", "Tcp:", "InSegs");
	c->outrsts = counter("snmp", "Tcp:", "OutRsts");
	c->suppressed = counter("netstat", "TcpExt:", "TCPLiveUpdateRstSuppressed");
}

/* The restore window's state into @buf, "missing" without such a file. */
static void window_state(char *buf, size_t len)
{
	FILE *f = fopen(WINDOW_PATH, "r");

	snprintf(buf, len, "%s", f ? "unreadable" : "missing");
	if (!f)
		return;
	if (!fgets(buf, len, f))
		snprintf(buf, len, "unreadable");
	fclose(f);
	buf[strcspn(buf, "\n")] = '\0';
}

static int flood(const char *netns, const char *phase, long n, int mix)
{
	char w0[32], w1[32];
	struct counters a, b;
	double t0, t1;
	int fd, nsfd, tries;

	inet_pton(AF_INET, DUT_ADDR, &dut.sin_addr);
	setup_msgs(&dut);
	/* The socket sends from this namespace; counters are the DUT's. */
	fd = socket(AF_INET, SOCK_RAW, IPPROTO_RAW);
	nsfd = open(netns, O_RDONLY);
	if (fd < 0 || nsfd < 0 || setns(nsfd, CLONE_NEWNET)) {
		perror("raw socket or setns");
		return 1;
	}
	if (send_segments(fd, WARMUP, 0, inet_addr(SRC_ADDR)))
		return 1;
	read_counters(&a);
	if (a.insegs < WARMUP) {
		fprintf(stderr, "the DUT counted %ld of %d warm-up segments\n",
			a.insegs, WARMUP);
		return 1;
	}
	window_state(w0, sizeof(w0));
	t0 = mono();
	if (send_segments(fd, n, mix, inet_addr(SRC_ADDR)))
		return 1;
	/* Normally all processed already; otherwise ksoftirqd finishes. */
	for (tries = 0; tries < 1000; tries++) {
		read_counters(&b);
		if (b.insegs - a.insegs >= n)
			break;
		usleep(1000);
	}
	t1 = mono();
	window_state(w1, sizeof(w1));
	printf("# flood phase=%s kind=%s n=%ld ns=%.0f insegs=%ld outrsts=%ld",
	       phase, mix ? "mix" : "ack", n, (t1 - t0) * 1e9, b.insegs - a.insegs,
	       b.outrsts - a.outrsts);
	printf(" suppressed=%ld window=%s,%s\n",
	       a.suppressed < 0 ? -1 : b.suppressed - a.suppressed, w0, w1);
	return 0;
}

/* A session with one memfd, held open in the background until the kexec. */
static int hold(void)
{
	int luo = luo_open_device(), session, mfd, err;

	if (luo < 0)
		die("open %s: %s", LUO_DEVICE, strerror(errno));
	session = luo_create_session(luo, SESSION);
	if (session < 0)
		die("create session %s: %s", SESSION, strerror(-session));
	mfd = memfd_create(SESSION, 0);
	if (mfd < 0 || ftruncate(mfd, getpagesize()))
		die("memfd: %s", strerror(errno));
	err = luo_session_preserve_fd(session, mfd, MEMFD_TOKEN);
	if (err)
		die("preserve a memfd in session %s: %s", SESSION, strerror(-err));
	close(mfd);
	if (hold_until_kexec() < 0)
		die("fork: %s", strerror(errno));
	return 0;
}

static int finish(void)
{
	int luo = luo_open_device(), session, mfd, err;

	if (luo < 0)
		die("open %s: %s", LUO_DEVICE, strerror(errno));
	session = luo_retrieve_session(luo, SESSION);
	if (session < 0)
		die("retrieve session %s (was it handed over?): %s", SESSION, strerror(-session));
	mfd = luo_session_retrieve_fd(session, MEMFD_TOKEN);
	if (mfd < 0)
		die("retrieve the memfd of session %s: %s", SESSION, strerror(-mfd));
	close(mfd);
	err = luo_session_finish(session);
	if (err)
		die("finish session %s: %s", SESSION, strerror(-err));
	close(session);
	close(luo);
	return 0;
}

/*
 * Count the resets that came back to the peer, by the kind of their flow;
 * @drops: what the socket could not queue (SO_RXQ_OVFL), as of its last one.
 */
static void count_resets(int fd, long rst[KINDS + 1], unsigned int *drops)
{
	char cbuf[CMSG_SPACE(sizeof(unsigned int))];
	unsigned char buf[256];
	struct iovec v = { buf, sizeof(buf) };
	struct msghdr mh = { .msg_iov = &v, .msg_iovlen = 1 };
	const struct iphdr *ip = (const void *)buf;
	const struct tcphdr *th;
	struct cmsghdr *c;
	ssize_t len;
	int k;

	for (;;) {
		mh.msg_control = cbuf;
		mh.msg_controllen = sizeof(cbuf);
		len = recvmsg(fd, &mh, MSG_DONTWAIT);
		if (len <= 0)
			return;
		for (c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c))
			if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SO_RXQ_OVFL)
				memcpy(drops, CMSG_DATA(c), sizeof(*drops));
		if (len < (ssize_t)sizeof(*ip) || len < ip->ihl * 4 + (ssize_t)sizeof(*th))
			continue;
		th = (const void *)(buf + ip->ihl * 4);
		if (!th->rst)
			continue;
		/* The reset of flow P -> Q comes from Q. */
		k = port_kind(ntohs(th->source));
		rst[k < 0 ? KINDS : k]++;
	}
}

/* On the peer: one flood for the DUT that asks, then answer it. */
static int serve(void)
{
	struct sockaddr_in me = { .sin_family = AF_INET, .sin_port = htons(FLOOD_PORT) };
	struct sockaddr_in from;
	socklen_t fromlen = sizeof(from);
	long n, sent, rst[KINDS + 1] = { 0 };
	int u, raw, rx, one = 1, big = 32 << 20;
	unsigned int drops = 0;
	char req[64], ans[256];
	in_addr_t src;
	double t0, t1;
	ssize_t len;

	u = socket(AF_INET, SOCK_DGRAM, 0);
	if (u < 0 || bind(u, (struct sockaddr *)&me, sizeof(me)))
		die("UDP port %d: %s", FLOOD_PORT, strerror(errno));
	say("waiting for the DUT on UDP port %d", FLOOD_PORT);
	len = recvfrom(u, req, sizeof(req) - 1, 0, (struct sockaddr *)&from, &fromlen);
	if (len < 0)
		die("recvfrom: %s", strerror(errno));
	req[len] = '\0';
	if (sscanf(req, "flood %ld", &n) != 1 || n < 1 || n > KIND_PORTS)
		die("bad request '%s' (want: flood N, 1 <= N <= %d)", req, KIND_PORTS);
	raw = socket(AF_INET, SOCK_RAW, IPPROTO_RAW);
	rx = socket(AF_INET, SOCK_RAW, IPPROTO_TCP);
	if (raw < 0 || rx < 0 ||
	    setsockopt(rx, SOL_SOCKET, SO_RCVBUFFORCE, &big, sizeof(big)) ||
	    setsockopt(rx, SOL_SOCKET, SO_RXQ_OVFL, &one, sizeof(one)))
		die("raw sockets: %s", strerror(errno));
	inet_pton(AF_INET, PEER_ADDR, &src);
	dut = from;
	dut.sin_port = 0;
	setup_msgs(&dut);
	say("flooding %s with %ld segments of each kind", inet_ntoa(dut.sin_addr), n);
	t0 = mono();
	if (send_segments(raw, n * KINDS, 1, src))
		return 1;
	sent = n * KINDS;
	t1 = mono();
	while (mono() < t1 + SETTLE_MS / 1000.0) {
		struct pollfd pfd = { .fd = rx, .events = POLLIN };

		poll(&pfd, 1, 100);
		count_resets(rx, rst, &drops);
	}
	snprintf(ans, sizeof(ans),
		 "# flood n=%ld sent=%ld secs=%.3f pps=%.0f rst_ack=%ld rst_data=%ld rst_syn=%ld rst_other=%ld drops=%u",
		 n, sent, t1 - t0, sent / (t1 - t0), rst[0], rst[1], rst[2], rst[KINDS], drops);
	puts(ans);
	if (sendto(u, ans, strlen(ans), 0, (struct sockaddr *)&from, fromlen) < 0)
		die("answer the DUT: %s", strerror(errno));
	return 0;
}

/* On the DUT: ask the peer at @addr for a flood, print its answer. */
static int trigger(const char *addr, long n)
{
	struct sockaddr_in to = { .sin_family = AF_INET, .sin_port = htons(FLOOD_PORT) };
	struct pollfd pfd;
	char buf[256];
	ssize_t len;
	int u;

	if (inet_pton(AF_INET, addr, &to.sin_addr) != 1)
		die("bad address %s", addr);
	u = socket(AF_INET, SOCK_DGRAM, 0);
	if (u < 0 || connect(u, (struct sockaddr *)&to, sizeof(to)))
		die("UDP to %s: %s", addr, strerror(errno));
	snprintf(buf, sizeof(buf), "flood %ld", n);
	if (send(u, buf, strlen(buf), 0) < 0)
		die("ask %s for a flood: %s", addr, strerror(errno));
	pfd.fd = u;
	pfd.events = POLLIN;
	if (poll(&pfd, 1, TRIGGER_WAIT_S * 1000) != 1)
		die("no answer from the peer at %s in %d s", addr, TRIGGER_WAIT_S);
	len = recv(u, buf, sizeof(buf) - 1, 0);
	if (len <= 0)
		die("the peer's answer: %s", len ? strerror(errno) : "empty");
	buf[len] = '\0';
	puts(buf);
	return 0;
}

int main(int argc, char *argv[])
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (argc == 2 && !strcmp(argv[1], "serve"))
		return serve();
	if (argc == 4 && !strcmp(argv[1], "trigger") && atol(argv[3]) > 0)
		return trigger(argv[2], atol(argv[3]));
	if (argc == 2 && !strcmp(argv[1], "hold"))
		return hold();
	if (argc == 2 && !strcmp(argv[1], "finish"))
		return finish();
	if ((argc == 5 || (argc == 6 && !strcmp(argv[5], "mix"))) &&
	    !strcmp(argv[1], "flood") && atol(argv[4]) > 0)
		return flood(argv[2], argv[3], atol(argv[4]), argc == 6);
	fprintf(stderr, "usage: %s hold | finish | flood NETNS PHASE N [mix] | serve | trigger ADDR N\n",
		argv[0]);
	return 2;
}
