/*
 * test-deadline.c: a deadline shuts its socket down whether the process
 * is blocked in a read or write at the time or only gets there later,
 * and a deadline disarmed in time does nothing.
 */
#include "config.h"

#include <sys/socket.h>

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "deadline.h"
#include "tap.h"

int
main(void)
{
	char	buf[65536];
	int	sv[2];
	int64_t	start, took;
	ssize_t	n;
	int	fired;

	(void)signal(SIGPIPE, SIG_IGN);
	deadline_init();

	/* A blocked read ends at the deadline with end of file. */
	if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == -1)
		return 1;
	start = deadline_now_ms();
	deadline_arm(sv[0], SHUT_RD, 200);
	n = read(sv[0], buf, sizeof buf);
	fired = deadline_disarm();
	took = deadline_now_ms() - start;
	ok(fired && took >= 190 && took < 5000,
	    "a blocked read ends at the deadline (%lld ms)", (long long)took);
	ok(n <= 0 && read(sv[0], buf, sizeof buf) == 0,
	    "and every later read sees end of file at once");
	ok(write(sv[0], "x", 1) == 1, "SHUT_RD leaves writing open");
	close(sv[0]);
	close(sv[1]);

	/* A blocked write to a peer that never reads, with SHUT_RDWR. */
	if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == -1)
		return 1;
	memset(buf, 'x', sizeof buf);
	start = deadline_now_ms();
	deadline_arm(sv[0], SHUT_RDWR, 200);
	do
		n = write(sv[0], buf, sizeof buf);
	while (n > 0);
	fired = deadline_disarm();
	took = deadline_now_ms() - start;
	ok(fired && n == -1 && took >= 190 && took < 5000,
	    "a write blocked on a full socket fails at the deadline "
	    "(%lld ms, %s)", (long long)took, strerror(errno));
	ok(write(sv[0], "x", 1) == -1 && errno == EPIPE,
	    "and every later write fails with EPIPE");
	close(sv[0]);
	close(sv[1]);

	/* Fired between system calls: the next one still does not block. */
	if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == -1)
		return 1;
	deadline_arm(sv[0], SHUT_RD, 1);
	usleep(100 * 1000);
	fired = deadline_disarm();
	ok(fired && read(sv[0], buf, sizeof buf) == 0,
	    "a deadline that fired outside a read still ends the next one");
	close(sv[0]);
	close(sv[1]);

	/* Disarmed in time: nothing happens. */
	if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == -1)
		return 1;
	deadline_arm(sv[0], SHUT_RDWR, 300);
	fired = deadline_disarm();
	usleep(400 * 1000);
	ok(!fired && write(sv[1], "y", 1) == 1 &&
	    read(sv[0], buf, 1) == 1 && write(sv[0], "z", 1) == 1,
	    "a deadline disarmed in time leaves the socket alone");
	close(sv[0]);
	close(sv[1]);
	return done_testing();
}
