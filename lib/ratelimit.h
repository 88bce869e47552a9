/*
 * ratelimit.h: sliding-window rate limiting kept in sqlite, so the count is
 * exact across worker processes and survives restarts.
 */
#ifndef PROV_RATELIMIT_H
#define PROV_RATELIMIT_H

#include <stdint.h>

#include "db.h"
#include "err.h"

/*
 * Counts one attempt by key (a client address) at now_ms. When fewer than
 * max attempts by key lie in the last window seconds, records this one and
 * returns PROV_OK. Otherwise records nothing and returns PROV_LIMITED
 * with *retry_after set to the whole seconds until a slot frees (at least
 * 1). An attempt is counted in a slice of time (a second for windows up to
 * a minute) and stays until the slice's end has left the window: up to one
 * slice longer than the window, never shorter.
 * Returns PROV_UNAVAIL when the database cannot be used (reason in
 * db_errmsg(db)), PROV_BADREQ when key is empty or PROV_MAX_ADDR bytes or
 * longer.
 */
enum prov_err	ratelimit_hit(struct db *db, const char *key, int64_t now_ms,
		    unsigned int max, unsigned int window,
		    unsigned int *retry_after);

#endif /* PROV_RATELIMIT_H */
