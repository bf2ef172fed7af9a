/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Helpers shared by the harness' guest programs. Define PROG (the name errors
 * start with) and SAY (the tag of progress lines) before including.
 */
#ifndef LUO_NET_GUEST_UTIL_H
#define LUO_NET_GUEST_UTIL_H

#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

/* Seconds since boot, as /proc/uptime counts them. */
static inline double uptime(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_BOOTTIME, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* Seconds on CLOCK_MONOTONIC: for durations. */
static inline double mono(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* Raise the soft RLIMIT_NOFILE to the hard one (the guests': 4096). */
static inline void raise_nofile(void)
{
	struct rlimit rl;

	if (!getrlimit(RLIMIT_NOFILE, &rl) && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
}

/* qsort() comparison of doubles, ascending. */
static inline int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

/*
 * Keep what this process holds (/dev/liveupdate, sessions, sockets) open until
 * the kexec, in a detached child. Returns the child's pid in the parent, -1
 * (errno set) if there is none; never returns in the child.
 */
static inline pid_t hold_until_kexec(void)
{
	pid_t pid = fork();

	if (pid)
		return pid;
	setsid();
	close(STDIN_FILENO);
	close(STDOUT_FILENO);
	close(STDERR_FILENO);
	for (;;)
		pause();
}

/* Progress, on stderr: "# SAY: ...". */
#define say(fmt, ...) \
	fprintf(stderr, "# " SAY ": " fmt "\n", ##__VA_ARGS__)
/* A clear error, on stderr, and exit 1. */
#define die(fmt, ...) do { \
	fprintf(stderr, PROG ": " fmt "\n", ##__VA_ARGS__); \
	exit(1); \
} while (0)

#endif /* LUO_NET_GUEST_UTIL_H */
