/*
 * deadline.h: a deadline on one socket, whatever code is blocked on it.
 */
#ifndef PROV_DEADLINE_H
#define PROV_DEADLINE_H

#include <stdint.h>

/* Installs the SIGALRM handler. Once per process, before deadline_arm(). */
void	deadline_init(void);

/*
 * In ms milliseconds (at least 1), unless deadline_disarm() comes first,
 * shuts fd down with shutdown(fd, how): SHUT_RD makes every read on it
 * return end of file at once, SHUT_RDWR also makes every write fail. At
 * most one deadline is armed at a time.
 */
void	deadline_arm(int fd, int how, int64_t ms);

/* Cancels the deadline. Returns 1 when it had already fired, else 0. */
int	deadline_disarm(void);

/* CLOCK_MONOTONIC in milliseconds: what deadlines are measured on. */
int64_t	deadline_now_ms(void);

#endif /* PROV_DEADLINE_H */
