/*
 * registry.h: the operator's questions to the machines table: a page of
 * the list, one row by id, a row's revocation, and the live keys of a MAC.
 *
 * Every function here is one short read or write transaction: a page is
 * copied out and its statement reset before the caller writes a byte to a
 * client, so a client that stops reading never holds a read snapshot (and
 * with it the WAL) open.
 */
#ifndef PROV_REGISTRY_H
#define PROV_REGISTRY_H

#include <stddef.h>
#include <stdint.h>

#include "db.h"
#include "err.h"

/* Which rows a listing wants. */
struct registry_filter {
	int	all;		/* every registration, not the newest per MAC */
	char	mac[18];	/* only this MAC, when not "" */
	char	hostname[PROV_MAX_HOSTNAME + 1];	/* only this name */
};

/*
 * Reads at most max rows with id below before (INT64_MAX: from the top),
 * newest first, matching f, into rows; *n is how many. Without f->all,
 * a row is left out when a newer one has the same MAC; rows without a MAC
 * are each their own machine. PROV_OK or PROV_UNAVAIL.
 */
enum prov_err	registry_page(struct db *db, const struct registry_filter *f,
		    int64_t before, struct machine *rows, size_t max,
		    size_t *n);

/* Row id into m; *found 0 when there is none. PROV_OK or PROV_UNAVAIL. */
enum prov_err	registry_get(struct db *db, int64_t id, struct machine *m,
		    int *found);

/* Marks row id revoked at time at, unless it already is. */
enum prov_err	registry_revoke(struct db *db, int64_t id, int64_t at);

/*
 * The rows of mac whose key is still live by our records (not revoked,
 * not expired early, key_expires_at after now): at most max, ids in rows[]. PROV_OK or
 * PROV_UNAVAIL.
 */
enum prov_err	registry_live_keys(struct db *db, const char *mac,
		    int64_t now, struct machine *rows, size_t max, size_t *n);

/* Records that row id's key was expired at time at. */
enum prov_err	registry_key_expired(struct db *db, int64_t id, int64_t at);

#endif /* PROV_REGISTRY_H */
