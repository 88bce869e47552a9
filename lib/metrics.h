/*
 * metrics.h: counters every program and worker shares, for /metrics.
 *
 * They live in one small file in the data directory ("metrics"), mapped
 * shared into every process that counts, and are bumped with atomic adds:
 * no system call and no write to the database on any request, so the 401,
 * 429 and /health paths cost what they did. The file outlives restarts,
 * so the counters keep counting; it is never synced, so after a power
 * loss they may step back, which Prometheus reads as a counter reset.
 * When the file cannot be used, counting is off (logged once) and
 * nothing else changes.
 */
#ifndef PROV_METRICS_H
#define PROV_METRICS_H

#include <stddef.h>
#include <stdint.h>

#include "conf.h"
#include "err.h"

/* Counts one answered request of endpoint ("register") with status. */
void	metrics_request(const struct conf *cfg, const char *endpoint,
	    int status);

/*
 * Counts one headscale CLI run: argv as given to hs_run(), its result and
 * how long it took.
 */
void	metrics_headscale(const struct conf *cfg, const char *const argv[],
	    enum prov_err rc, int64_t elapsed_ms);

/* Counts of machines by state, for the gauge; filled by the caller. */
struct metrics_states {
	uint64_t	n[5];		/* pending joined expired gone revoked */
};

/*
 * Appends the Prometheus text exposition (format 0.0.4) of every counter
 * and the states to *buf (malloc'ed, grown as needed). 0, or -1 when out
 * of memory or the counters cannot be read.
 */
int	metrics_render(const struct conf *cfg, const struct metrics_states *s,
	    int have_states, char **buf, size_t *len);

#endif /* PROV_METRICS_H */
