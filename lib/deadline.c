/*
 * deadline.c: a deadline on one socket, enforced by a timer signal.
 *
 * Why a timer and not poll(): the FastCGI connection is read and written
 * by libfcgi (2.4.2, libfcgi/fcgiapp.c), inside its own loops. One
 * FCGX_GetStr() may read a record header, then content, then padding;
 * one FCGX_PutStr() or FCGX_FFlush() ends in write_it_all(), which writes
 * again after every partial write; FCGX_Finish_r() flushes and then, in
 * OS_Close() (os_unix.c), reads whatever the peer still sends for as long
 * as each read comes within two seconds. A poll() before calling in would
 * bound only the first of those system calls. Making the socket
 * non-blocking would turn a merely full buffer into an error.
 *
 * So the deadline is a one-shot interval timer whose SIGALRM handler
 * shuts the socket down. shutdown() is async-signal-safe, and it works
 * wherever the signal lands: in a blocked read() or write(), which then
 * returns, or between two system calls, since every later read sees end
 * of file and every later write fails with EPIPE (SIGPIPE is ignored).
 * libfcgi treats both as a stream error, and the request unwinds without
 * touching the socket again. Not depending on EINTR matters: a signal
 * that arrives between two calls would otherwise be lost.
 *
 * The handler is installed without SA_RESTART, and the timer is armed
 * only around calls into libfcgi's streams, so no other code (sqlite,
 * the headscale child's pipes) ever sees it. ITIMER_REAL counts elapsed
 * time; Linux runs it on the monotonic clock, so a step of the wall clock
 * neither fires nor delays it.
 */
#include "config.h"

#include <sys/socket.h>
#include <sys/time.h>

#include <errno.h>
#include <signal.h>
#include <string.h>
#include <time.h>

#include "deadline.h"

static volatile sig_atomic_t	deadline_fd = -1;
static volatile sig_atomic_t	deadline_how;
static volatile sig_atomic_t	deadline_fired;

static void
deadline_on_alarm(int sig)
{
	int	saved = errno;

	(void)sig;
	if (deadline_fd >= 0) {
		(void)shutdown(deadline_fd, deadline_how);
		deadline_fired = 1;
	}
	errno = saved;
}

void
deadline_init(void)
{
	struct sigaction	sa;

	memset(&sa, 0, sizeof sa);
	sa.sa_handler = deadline_on_alarm;
	sigemptyset(&sa.sa_mask);
	sa.sa_flags = 0;
	(void)sigaction(SIGALRM, &sa, NULL);
}

static void
deadline_timer(int64_t ms)
{
	struct itimerval	it;

	memset(&it, 0, sizeof it);
	it.it_value.tv_sec = (time_t)(ms / 1000);
	it.it_value.tv_usec = (suseconds_t)(ms % 1000) * 1000;
	(void)setitimer(ITIMER_REAL, &it, NULL);
}

void
deadline_arm(int fd, int how, int64_t ms)
{
	if (ms < 1)
		ms = 1;
	deadline_fired = 0;
	deadline_how = how;
	deadline_fd = fd;
	deadline_timer(ms);
}

int
deadline_disarm(void)
{
	deadline_timer(0);
	deadline_fd = -1;
	return deadline_fired != 0;
}

int64_t
deadline_now_ms(void)
{
	struct timespec	ts;

	(void)clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}
