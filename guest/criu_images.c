// SPDX-License-Identifier: GPL-2.0
/*
 * Carry a CRIU image archive across a kexec live update in a memfd preserved in
 * a LUO session (make demo-criu), instead of on a disk.
 *
 *   criu_images save SESSION <ARCHIVE
 *	Copy stdin into a memfd, preserve it in a new LUO session SESSION, then
 *	stay in the background holding /dev/liveupdate and the session until the
 *	kexec. With an empty stdin (</dev/null) the session only holds the
 *	restore window open in the new kernel, for images kept outside LUO.
 *
 *   criu_images restore SESSION FILE -- COMMAND [ARG...]
 *	In the new kernel: retrieve SESSION, write the archive to FILE, run
 *	COMMAND (e.g. a shell that unpacks FILE and runs "criu restore"), and
 *	finish the session once COMMAND has exited (the restore window closes
 *	when it was the last one). Exits with COMMAND's status.
 *
 * Progress goes to stderr as "# images: EVENT uptime=SECONDS ...".
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <libliveupdate.h>

#define PROG	"criu_images"
#define SAY	"images"
#include "guest_util.h"

#define IMAGES_TOKEN	1


/* Copy everything from @in to @out; returns the byte count or -errno. */
static long long copy_fd(int in, int out)
{
	static char buf[1 << 16];
	long long total = 0;
	ssize_t n, w, off;

	while ((n = read(in, buf, sizeof(buf))) != 0) {
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		for (off = 0; off < n; off += w) {
			w = write(out, buf + off, n - off);
			if (w < 0)
				return -errno;
		}
		total += n;
	}
	return total;
}

static int cmd_save(const char *name)
{
	int luo, session, mfd, err;
	long long size;
	pid_t pid;

	luo = open(LUO_DEVICE, O_RDWR);
	if (luo < 0)
		die("save: %s: %s (liveupdate=on? another agent holds it?)", LUO_DEVICE,
		    strerror(errno));
	mfd = memfd_create("criu-images", 0);
	if (mfd < 0)
		die("save: memfd: %s", strerror(errno));
	size = copy_fd(STDIN_FILENO, mfd);
	if (size < 0)
		die("save: copying the archive: %s", strerror(-size));
	session = luo_create_session(luo, name);
	if (session < 0)
		die("save: create LUO session '%s': %s", name, strerror(-session));
	err = luo_session_preserve_fd(session, mfd, IMAGES_TOKEN);
	if (err)
		die("save: preserve the archive: %s", strerror(-err));
	say("saved bytes=%lld session=%s uptime=%.3f", size, name, uptime());

	/* Hold /dev/liveupdate and the session until the kexec. */
	pid = hold_until_kexec();
	if (pid < 0)
		die("save: fork: %s", strerror(errno));
	return 0;
}

static int cmd_restore(const char *name, const char *file, char *argv[])
{
	int luo, session, mfd, out, err, status;
	long long size;
	pid_t pid;

	luo = open(LUO_DEVICE, O_RDWR);
	if (luo < 0)
		die("restore: %s: %s", LUO_DEVICE, strerror(errno));
	session = luo_retrieve_session(luo, name);
	if (session < 0)
		die("restore: no incoming session '%s': %s", name, strerror(-session));
	mfd = luo_session_retrieve_fd(session, IMAGES_TOKEN);
	if (mfd < 0)
		die("restore: session '%s' has no archive: %s", name, strerror(-mfd));
	if (lseek(mfd, 0, SEEK_SET) < 0)
		die("restore: lseek: %s", strerror(errno));
	out = open(file, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (out < 0)
		die("restore: %s: %s", file, strerror(errno));
	size = copy_fd(mfd, out);
	if (size < 0 || close(out))
		die("restore: writing %s: %s", file, strerror(size < 0 ? -size : errno));
	close(mfd);
	say("retrieved bytes=%lld session=%s uptime=%.3f", size, name, uptime());

	pid = fork();
	if (pid < 0)
		die("restore: fork: %s", strerror(errno));
	if (!pid) {
		close(session);
		close(luo);
		execvp(argv[0], argv);
		die("restore: exec %s: %s", argv[0], strerror(errno));
	}
	if (waitpid(pid, &status, 0) < 0)
		die("restore: waitpid: %s", strerror(errno));
	say("command exit=%d uptime=%.3f", WIFEXITED(status) ? WEXITSTATUS(status) : 128,
	    uptime());

	err = luo_session_finish(session);
	if (err)
		die("restore: finish session '%s': %s", name, strerror(-err));
	say("finished session=%s uptime=%.3f", name, uptime());
	close(session);
	close(luo);
	if (!WIFEXITED(status))
		return 128;
	return WEXITSTATUS(status);
}

int main(int argc, char *argv[])
{
	if (argc == 3 && !strcmp(argv[1], "save"))
		return cmd_save(argv[2]);
	if (argc >= 6 && !strcmp(argv[1], "restore") && !strcmp(argv[4], "--"))
		return cmd_restore(argv[2], argv[3], argv + 5);
	fprintf(stderr, "usage: criu_images save SESSION <ARCHIVE\n"
		"       criu_images restore SESSION FILE -- COMMAND [ARG...]\n");
	return 2;
}
