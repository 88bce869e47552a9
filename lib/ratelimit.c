/*
 * ratelimit.c: a sliding window of attempts per client address, kept in
 * the shared sqlite store.
 *
 * The window slides rather than resets, so a client cannot double its rate
 * across a window boundary. It is counted in slices: one row per client
 * and slice of time holds how many attempts the client made in it, so a
 * decision reads at most about RATELIMIT_SLICES rows however high the
 * limit, where a row per attempt made it read every attempt in the window.
 * The price is resolution: a slice stays in the window until its end, not
 * its start, has aged out, so an attempt counts up to one slice longer
 * than the window and never shorter, and no client ever gets more than the
 * limit into any window-long stretch of time.
 *
 * A client already at its limit is refused on a plain read. An attempt
 * that may pass is decided in one BEGIN IMMEDIATE transaction, which takes
 * the write lock before reading: concurrent worker processes are
 * serialised, the count is exact, and sqlite never has to upgrade a read
 * lock (the case where it gives SQLITE_BUSY without waiting). Only accepted
 * attempts are stored: a client flooding past its limit neither extends
 * its own lockout nor grows the table, nor takes the write lock.
 *
 * The clock is the wall clock (the count must agree across processes and
 * restarts), and it can step. A step forward only ages slices sooner. A
 * step back would leave slices "in the future", counting until the clock
 * caught up with them: a lockout as long as the step, while Retry-After
 * promised a window. So a slice found starting after the current one is
 * moved back into the current one, under the write lock: the attempts
 * still count, as if made now, and leave the window a window and a slice
 * later at most, which is what Retry-After then says.
 */
#include "config.h"

#include <stdint.h>
#include <string.h>

#include <sqlite3.h>

#include "ratelimit.h"

/*
 * A window is cut into about this many slices: a slice is one second for
 * windows up to this many seconds, and window / RATELIMIT_SLICES (rounded
 * up) beyond, so the rows read per decision stay bounded for the longest
 * window too, while an attempt outstays the window by under 2 %.
 */
#define RATELIMIT_SLICES	60

/* The window as the limiter keeps it, all in seconds. */
struct window {
	int64_t	slice;		/* a slice's length */
	int64_t	now_slice;	/* the slice this attempt falls in */
	int64_t	cutoff;		/* slices starting at or before it are out */
};

/*
 * A slice starting at s holds attempts made before s + slice, and those
 * are out of the window once now - window has passed them: the slice is
 * out when s + slice + window <= now, to the second, rounded down.
 */
static void
window_at(struct window *w, int64_t now_ms, unsigned int window)
{
	const int64_t	now_s = now_ms / 1000;

	w->slice = ((int64_t)window + RATELIMIT_SLICES - 1) / RATELIMIT_SLICES;
	if (w->slice < 1)
		w->slice = 1;
	w->now_slice = now_s - now_s % w->slice;
	w->cutoff = now_s - w->slice - (int64_t)window;
}

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
 * Runs a statement from db's cache binding key as ?1 and t as ?2, and
 * reads up to three integer columns of its one row into c[0..2] (NULL
 * columns read as 0). Returns 0, or -1 with the reason recorded.
 */
static int
run_keyed(struct db *db, const char *sql, const char *key, size_t keylen,
    int64_t t, int64_t c[3])
{
	sqlite3_stmt	*st;
	int		 rc = SQLITE_ERROR;

	if ((st = db_prepare(db, sql)) == NULL)
		return -1;
	if (sqlite3_bind_text(st, 1, key, (int)keylen, SQLITE_STATIC) ==
	    SQLITE_OK && sqlite3_bind_int64(st, 2, t) == SQLITE_OK)
		rc = sqlite3_step(st);
	if (rc == SQLITE_ROW && c != NULL) {
		c[0] = sqlite3_column_int64(st, 0);
		c[1] = sqlite3_column_int64(st, 1);
		c[2] = sqlite3_column_int64(st, 2);
	}
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		db_set_error(db, "rate limit");
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	return rc == SQLITE_ROW || rc == SQLITE_DONE ? 0 : -1;
}

/*
 * Counts key's attempts in the window, finds its oldest slice, and tells
 * whether any slice starts after the current one (the clock stepped back).
 */
static int
count_attempts(struct db *db, const char *key, size_t keylen,
    const struct window *w, int64_t *count, int64_t *oldest, int *future)
{
	int64_t	c[3] = { 0, 0, 0 };

	if (run_keyed(db, "SELECT coalesce(sum(n), 0), min(slice_s), "
	    "coalesce(max(slice_s), 0) FROM attempt_counts "
	    "WHERE key = ?1 AND slice_s > ?2",
	    key, keylen, w->cutoff, c) == -1)
		return -1;
	*count = c[0];
	*oldest = c[1];
	if (future != NULL)
		*future = c[2] > w->now_slice;
	return 0;
}

static int
record_attempt(struct db *db, const char *key, size_t keylen,
    const struct window *w)
{
	return run_keyed(db, "INSERT INTO attempt_counts (key, slice_s, n) "
	    "VALUES (?1, ?2, 1) ON CONFLICT (key, slice_s) DO UPDATE "
	    "SET n = n + 1", key, keylen, w->now_slice, NULL);
}

/*
 * Moves the slices of every client that start after the current one into
 * the current one (see the top of the file). Finds nothing, through the
 * index on slice_s, unless the clock stepped back.
 */
static int
pull_back_future(struct db *db, const struct window *w)
{
	return run_stmt(db, "INSERT INTO attempt_counts (key, slice_s, n) "
	    "SELECT key, ?1, sum(n) FROM attempt_counts WHERE slice_s > ?1 "
	    "GROUP BY key ON CONFLICT (key, slice_s) DO UPDATE "
	    "SET n = n + excluded.n", 1, w->now_slice, 0) == -1 ||
	    run_stmt(db, "DELETE FROM attempt_counts WHERE slice_s > ?1", 1,
	    w->now_slice, 0) == -1 ? -1 : 0;
}

/*
 * The oldest slice leaves the window at oldest + slice + window: the
 * client is told to come back then, rounded up to whole seconds, at least
 * 1; the oldest slice is never after the current one, so it is at most a
 * window and a slice (the cap only guards that). With nothing stored (a
 * limit of 0) it is the window.
 */
static unsigned int
seconds_until_free(int64_t count, int64_t oldest, const struct window *w,
    int64_t now_ms, unsigned int window)
{
	const int64_t	longest = (int64_t)window + w->slice;
	int64_t		secs;

	if (count == 0)
		return window > 0 ? window : 1;
	secs = ((oldest + longest) * 1000 - now_ms + 999) / 1000;
	if (secs > longest)
		secs = longest;
	return secs < 1 ? 1 : (unsigned int)secs;
}

/*
 * Decides an attempt that may pass, under the write lock: recounts, and
 * records the attempt when there is room. Returns PROV_OK, PROV_LIMITED
 * with *count and *oldest as the recount found them, or PROV_UNAVAIL.
 */
static enum prov_err
decide_locked(struct db *db, const char *key, size_t keylen,
    const struct window *w, unsigned int max, int64_t *count,
    int64_t *oldest)
{
	enum prov_err	rc = PROV_UNAVAIL;

	if (run_stmt(db, "BEGIN IMMEDIATE", 0, 0, 0) == -1)
		return PROV_UNAVAIL;
	/*
	 * Expired slices of every client go, not only this one's: the index
	 * on slice_s makes it a range delete, and it keeps the table no
	 * bigger than one window of accepted traffic.
	 */
	if (run_stmt(db, "DELETE FROM attempt_counts WHERE slice_s <= ?1", 1,
	    w->cutoff, 0) == -1 || pull_back_future(db, w) == -1 ||
	    count_attempts(db, key, keylen, w, count, oldest, NULL) == -1)
		goto out;
	if (*count < (int64_t)max &&
	    record_attempt(db, key, keylen, w) == -1)
		goto out;
	/* A refusal commits too, so the pruning is kept. */
	if (run_stmt(db, "COMMIT", 0, 0, 0) == 0)
		rc = *count < (int64_t)max ? PROV_OK : PROV_LIMITED;
out:
	if (!sqlite3_get_autocommit(db_handle(db)))
		(void)run_stmt(db, "ROLLBACK", 0, 0, 0);
	return rc;
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
	struct window	w;
	int64_t		count = 0, oldest = 0;
	size_t		keylen;
	int		future = 0;
	enum prov_err	rc;

	*retry_after = 0;
	keylen = key != NULL ? strnlen(key, PROV_MAX_ADDR) : 0;
	if (keylen == 0 || keylen == PROV_MAX_ADDR)
		return PROV_BADREQ;
	window_at(&w, now_ms, window);

	/*
	 * A count only grows by accepted attempts, which a refusal does not
	 * add to, so a client at its limit now is refused on what a plain
	 * read sees, without waiting for the write lock; unless some of its
	 * slices lie in the future, which only the write lock can move.
	 */
	if (count_attempts(db, key, keylen, &w, &count, &oldest, &future) ==
	    -1)
		return PROV_UNAVAIL;
	if ((count < (int64_t)max || future) &&
	    (rc = decide_locked(db, key, keylen, &w, max, &count, &oldest)) !=
	    PROV_LIMITED)
		return rc;
	*retry_after = seconds_until_free(count, oldest, &w, now_ms, window);
	return PROV_LIMITED;
}
