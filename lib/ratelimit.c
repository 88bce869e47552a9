/*
 * ratelimit.c: a sliding-window log of attempts per client address, kept
 * in the shared sqlite store.
 *
 * A window log rather than a counter, so a client cannot double its rate
 * across a window boundary. Every decision is one BEGIN IMMEDIATE
 * transaction: it takes the write lock before reading, so concurrent worker
 * processes are serialised and the count is exact, and sqlite never has to
 * upgrade a read lock (the case where it gives SQLITE_BUSY without waiting).
 * Only accepted attempts are stored: a client flooding past its limit
 * neither extends its own lockout nor grows the table.
 */
#include "config.h"

#include <stdint.h>
#include <string.h>

#include <sqlite3.h>

#include "ratelimit.h"

/*
 * Runs one statement from db's cache that returns no rows, with up to two
 * integer parameters. Returns 0, or -1 with the reason recorded.
 */
static int
run_stmt(struct db *db, const char *sql, int nparam, int64_t a, int64_t b)
{
	sqlite3_stmt	*st;
	int		 rc = SQLITE_ERROR;

	if ((st = db_prepare(db, sql)) == NULL)
		return -1;
	if ((nparam < 1 || sqlite3_bind_int64(st, 1, a) == SQLITE_OK) &&
	    (nparam < 2 || sqlite3_bind_int64(st, 2, b) == SQLITE_OK))
		rc = sqlite3_step(st);
	if (rc != SQLITE_DONE)
		db_set_error(db, "rate limit");
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	return rc == SQLITE_DONE ? 0 : -1;
}

/*
 * Counts key's attempts after cutoff into *count and the time of the
 * oldest into *oldest (unset when there are none). Returns 0 or -1.
 */
static int
count_attempts(struct db *db, const char *key, size_t keylen,
    int64_t cutoff, int64_t *count, int64_t *oldest)
{
	sqlite3_stmt	*st;
	int		 rc = SQLITE_ERROR;

	if ((st = db_prepare(db, "SELECT count(*), min(at_ms) FROM attempts "
	    "WHERE key = ?1 AND at_ms > ?2")) == NULL)
		return -1;
	if (sqlite3_bind_text(st, 1, key, (int)keylen, SQLITE_STATIC) ==
	    SQLITE_OK && sqlite3_bind_int64(st, 2, cutoff) == SQLITE_OK)
		rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		*count = sqlite3_column_int64(st, 0);
		*oldest = sqlite3_column_int64(st, 1);
	} else
		db_set_error(db, "rate limit count");
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	return rc == SQLITE_ROW ? 0 : -1;
}

static int
insert_attempt(struct db *db, const char *key, size_t keylen, int64_t now_ms)
{
	sqlite3_stmt	*st;
	int		 rc = SQLITE_ERROR;

	if ((st = db_prepare(db, "INSERT INTO attempts (key, at_ms) "
	    "VALUES (?1, ?2)")) == NULL)
		return -1;
	if (sqlite3_bind_text(st, 1, key, (int)keylen, SQLITE_STATIC) ==
	    SQLITE_OK && sqlite3_bind_int64(st, 2, now_ms) == SQLITE_OK)
		rc = sqlite3_step(st);
	if (rc != SQLITE_DONE)
		db_set_error(db, "rate limit record");
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	return rc == SQLITE_DONE ? 0 : -1;
}

/*
 * An attempt at t is in the window at now while t > now - window, so the
 * oldest one frees its slot at oldest + window: the client is told to come
 * back then, rounded up to whole seconds, at least 1 and (should the clock
 * have stepped back) at most the window.
 */
static unsigned int
seconds_until_free(int64_t oldest, int64_t span_ms, int64_t now_ms,
    unsigned int window)
{
	int64_t	wait_ms = oldest + span_ms - now_ms;
	int64_t	secs = (wait_ms + 999) / 1000;

	if (secs > (int64_t)window)
		secs = window;
	return secs < 1 ? 1 : (unsigned int)secs;
}

/*
 * The key (a client address, which the caller has validated) must be
 * 1..PROV_MAX_ADDR-1 bytes, else PROV_BADREQ. A locked or broken database
 * is PROV_UNAVAIL: failing closed, since an endpoint that cannot count its
 * attempts should not serve them.
 */
enum prov_err
ratelimit_hit(struct db *db, const char *key, int64_t now_ms,
    unsigned int max, unsigned int window, unsigned int *retry_after)
{
	const int64_t	span_ms = (int64_t)window * 1000;
	const int64_t	cutoff = now_ms - span_ms;
	int64_t		count = 0, oldest = 0;
	size_t		keylen;
	enum prov_err	rc = PROV_UNAVAIL;

	*retry_after = 0;
	keylen = key != NULL ? strnlen(key, PROV_MAX_ADDR) : 0;
	if (keylen == 0 || keylen == PROV_MAX_ADDR)
		return PROV_BADREQ;

	if (run_stmt(db, "BEGIN IMMEDIATE", 0, 0, 0) == -1)
		return PROV_UNAVAIL;
	/*
	 * Expired attempts of every client go, not only this one's: the
	 * index on at_ms makes it a range delete, and it keeps the table no
	 * bigger than one window of accepted traffic.
	 */
	if (run_stmt(db, "DELETE FROM attempts WHERE at_ms <= ?1", 1, cutoff,
	    0) == -1 ||
	    count_attempts(db, key, keylen, cutoff, &count, &oldest) == -1)
		goto out;
	if (count < (int64_t)max) {
		if (insert_attempt(db, key, keylen, now_ms) == -1)
			goto out;
		rc = PROV_OK;
	} else {
		*retry_after = count > 0 ?
		    seconds_until_free(oldest, span_ms, now_ms, window) :
		    (window > 0 ? window : 1);
		rc = PROV_LIMITED;
	}
	/* A refusal commits too, so the pruning is kept. */
	if (run_stmt(db, "COMMIT", 0, 0, 0) == -1) {
		*retry_after = 0;
		rc = PROV_UNAVAIL;
	}
out:
	if (!sqlite3_get_autocommit(db_handle(db)))
		(void)run_stmt(db, "ROLLBACK", 0, 0, 0);
	return rc;
}
