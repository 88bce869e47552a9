/*
 * supervise.h: keeping N worker processes running ("--workers N").
 */
#ifndef PROV_SUPERVISE_H
#define PROV_SUPERVISE_H

#include <signal.h>

/*
 * Forks n workers, each running work(arg) and exiting with its result;
 * starts a new one when one dies (after a pause if it died young, so a
 * broken setup does not spin). On SIGTERM or SIGINT passes SIGTERM on,
 * waits for every worker and returns 0, with the signal mask set back to
 * *mask. Workers start with the supervisor's mask (SIGTERM, SIGINT and
 * SIGCHLD blocked) and are expected to restore *mask themselves.
 */
int	supervise(unsigned int n, int (*work)(void *), void *arg,
	    const sigset_t *mask);

#endif /* PROV_SUPERVISE_H */
