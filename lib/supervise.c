/*
 * supervise.c: the supervisor behind "--workers N".
 *
 * It keeps n workers running until SIGTERM or SIGINT, then passes SIGTERM
 * on and waits for every worker. Signals are taken synchronously with
 * sigtimedwait, so none can slip between a check and a wait. On Linux a
 * worker gets SIGTERM when the supervisor dies, so killing the supervisor
 * outright never leaves workers behind.
 */
#include "config.h"

#include <sys/types.h>
#include <sys/wait.h>
#ifdef __linux__
#include <sys/prctl.h>
#endif

#include <errno.h>
#include <signal.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "bounds.h"
#include "log.h"
#include "supervise.h"

/* Starts one worker; returns its pid, or -1. Never returns in the child. */
static pid_t
spawn_worker(int (*work)(void *), void *arg)
{
	pid_t	pid, parent = getpid();

	if ((pid = fork()) != 0) {
		if (pid == -1)
			log_msg("fork: %s", strerror(errno));
		return pid;
	}
#ifdef __linux__
	/* A supervisor killed outright takes its workers with it. */
	(void)prctl(PR_SET_PDEATHSIG, SIGTERM);
	if (getppid() != parent)
		_exit(0);
#else
	(void)parent;
#endif
	_exit(work(arg));
}

static double
elapsed_s(const struct timespec *since)
{
	struct timespec	now;

	(void)clock_gettime(CLOCK_MONOTONIC, &now);
	return (double)(now.tv_sec - since->tv_sec) +
	    (double)(now.tv_nsec - since->tv_nsec) / 1e9;
}

int
supervise(unsigned int n, int (*work)(void *), void *arg,
    const sigset_t *mask)
{
	pid_t		 pid[PROV_MAX_WORKERS];
	struct timespec	 born[PROV_MAX_WORKERS];
	int		 young[PROV_MAX_WORKERS];
	struct timespec	 wait = { 1, 0 };
	sigset_t	 set;
	unsigned int	 i, live = 0;
	int		 stopping = 0, status;
	pid_t		 dead;

	if (n > PROV_MAX_WORKERS)
		n = PROV_MAX_WORKERS;
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGCHLD);
	(void)sigprocmask(SIG_BLOCK, &set, NULL);
	memset(pid, 0, sizeof pid);
	memset(young, 0, sizeof young);
	log_msg("supervising %u workers", n);

	for (;;) {
		while ((dead = waitpid(-1, &status, WNOHANG)) > 0) {
			for (i = 0; i < n && pid[i] != dead; i++)
				continue;
			if (i == n)
				continue;
			pid[i] = 0;
			live--;
			if (stopping)
				continue;
			young[i] = elapsed_s(&born[i]) < 1.0;
			if (WIFSIGNALED(status))
				log_msg("worker %ld killed by signal %d",
				    (long)dead, WTERMSIG(status));
			else
				log_msg("worker %ld exited with status %d",
				    (long)dead, WEXITSTATUS(status));
		}
		if (stopping && live == 0)
			break;

		/*
		 * Refill empty slots. One that died young waits a round (about
		 * a second) first, so a worker that cannot start does not spin.
		 */
		for (i = 0; !stopping && i < n; i++) {
			if (pid[i] != 0)
				continue;
			if (young[i]) {
				young[i] = 0;
				continue;
			}
			(void)clock_gettime(CLOCK_MONOTONIC, &born[i]);
			if ((pid[i] = spawn_worker(work, arg)) == -1)
				pid[i] = 0;
			else
				live++;
		}

		/* Wake up at least every second: refills, lost signals. */
		switch (sigtimedwait(&set, NULL, &wait)) {
		case SIGTERM:
		case SIGINT:
			if (stopping)
				break;
			stopping = 1;
			for (i = 0; i < n; i++)
				if (pid[i] != 0)
					(void)kill(pid[i], SIGTERM);
			break;
		default:
			break;
		}
	}
	(void)sigprocmask(SIG_SETMASK, mask, NULL);
	return 0;
}
