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
 *   ackflood flood NETNS PHASE N  from the current namespace, send N segments to
 *                                 DUT_ADDR in the namespace NETNS (a path such as
 *                                 /run/netns/fd) and print one result line:
 *   # flood phase=PHASE n=N ns=T insegs=I outrsts=R suppressed=S window=W0,W1
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

struct pkt {
	struct iphdr ip;
	struct tcphdr tcp;
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

static unsigned int csum_add(unsigned int sum, const void *data, size_t len)
{
	const unsigned short *p = data;

	for (; len > 1; len -= 2)
		sum += *p++;
	return sum;
}

static unsigned short csum_fold(unsigned int sum)
{
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return ~sum;
}

/* Fill @p with an ACK segment of a new pseudo-random flow. */
static void make_segment(struct pkt *p)
{
	unsigned long long r = xorshift();
	unsigned int sum;

	memset(p, 0, sizeof(*p));
	p->ip.version = 4;
	p->ip.ihl = 5;
	p->ip.ttl = 64;
	p->ip.protocol = IPPROTO_TCP;
	p->ip.tot_len = htons(PKT_LEN);
	inet_pton(AF_INET, SRC_ADDR, &p->ip.saddr);
	p->ip.daddr = dut.sin_addr.s_addr;
	p->tcp.source = htons(1024 + (r & 0xffff) % 64512);
	p->tcp.dest = htons(1024 + (r >> 16 & 0xffff) % 64512);
	p->tcp.seq = htonl(r >> 32);
	p->tcp.ack_seq = htonl(xorshift());
	p->tcp.doff = 5;
	p->tcp.ack = 1;
	p->tcp.window = htons(65535);
	/* Pseudo header: addresses, protocol, TCP length. */
	sum = csum_add(0, &p->ip.saddr, 8);
	sum += htons(IPPROTO_TCP) + htons(sizeof(p->tcp));
	p->tcp.check = csum_fold(csum_add(sum, &p->tcp, sizeof(p->tcp)));
}

static int send_segments(int fd, long n)
{
	while (n > 0) {
		int want = n < BATCH ? n : BATCH, i, sent;

		for (i = 0; i < want; i++)
			make_segment(&pkts[i]);
		for (i = 0; i < want; i += sent) {
			sent = sendmmsg(fd, msgs + i, want - i, 0);
			if (sent <= 0) {
				perror("sendmmsg");
				return -1;
			}
		}
		n -= want;
	}
	return 0;
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

static int flood(const char *netns, const char *phase, long n)
{
	char w0[32], w1[32];
	struct counters a, b;
	double t0, t1;
	int fd, nsfd, i, tries;

	inet_pton(AF_INET, DUT_ADDR, &dut.sin_addr);
	for (i = 0; i < BATCH; i++) {
		iov[i].iov_base = &pkts[i];
		iov[i].iov_len = PKT_LEN;
		msgs[i].msg_hdr.msg_name = &dut;
		msgs[i].msg_hdr.msg_namelen = sizeof(dut);
		msgs[i].msg_hdr.msg_iov = &iov[i];
		msgs[i].msg_hdr.msg_iovlen = 1;
	}
	/* The socket sends from this namespace; counters are the DUT's. */
	fd = socket(AF_INET, SOCK_RAW, IPPROTO_RAW);
	nsfd = open(netns, O_RDONLY);
	if (fd < 0 || nsfd < 0 || setns(nsfd, CLONE_NEWNET)) {
		perror("raw socket or setns");
		return 1;
	}
	if (send_segments(fd, WARMUP))
		return 1;
	read_counters(&a);
	if (a.insegs < WARMUP) {
		fprintf(stderr, "the DUT counted %ld of %d warm-up segments\n",
			a.insegs, WARMUP);
		return 1;
	}
	window_state(w0, sizeof(w0));
	t0 = mono();
	if (send_segments(fd, n))
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
	printf("# flood phase=%s n=%ld ns=%.0f insegs=%ld outrsts=%ld",
	       phase, n, (t1 - t0) * 1e9, b.insegs - a.insegs,
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

int main(int argc, char *argv[])
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (argc == 2 && !strcmp(argv[1], "hold"))
		return hold();
	if (argc == 2 && !strcmp(argv[1], "finish"))
		return finish();
	if (argc == 5 && !strcmp(argv[1], "flood") && atol(argv[4]) > 0)
		return flood(argv[2], argv[3], atol(argv[4]));
	fprintf(stderr, "usage: %s hold | finish | flood NETNS PHASE N\n", argv[0]);
	return 2;
}
