/*
 * test-ratelimit.c: the sliding window on a real database file. Times are
 * passed in, so the window's edges are tested to the millisecond without
 * sleeping: an attempt counts until the end of its slice (a second for
 * windows up to a minute) has left the window, never shorter. The last test runs several processes against one file and key
 * at once and counts what got through: it must be exactly the limit.
 */
#include "config.h"

#include <sys/stat.h>
#include <sys/wait.h>

#include <ftw.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sqlite3.h>

#include "db.h"
#include "ratelimit.h"
#include "scratch.h"
#include "tap.h"

#define T0	INT64_C(1770240000000)	/* some instant, in ms */
#define T1	(T0 + INT64_C(7200000))	/* two hours on */
#define A	"192.0.2.1"
#define B	"2001:db8::2"

/*
 * Attempts stored for key (or with what = 1, the rows holding them), read
 * through the handle's own connection.
 */
static long long
stored(struct db *db, const char *key, int what)
{
	sqlite3_stmt	*st;
	long long	 n = -1;

	if (sqlite3_prepare_v2(db_handle(db), what == 1 ?
	    "SELECT count(*) FROM attempt_counts WHERE key = ?1" :
	    "SELECT coalesce(sum(n), 0) FROM attempt_counts WHERE key = ?1",
	    -1, &st, NULL) != SQLITE_OK)
		return -1;
	if (sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC) == SQLITE_OK &&
	    sqlite3_step(st) == SQLITE_ROW)
		n = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	return n;
}

#define rows(db, key)	stored((db), (key), 0)
#define slices(db, key)	stored((db), (key), 1)

/* One attempt; returns the verdict and leaves the Retry-After in *ra. */
static enum prov_err
hit_in(struct db *db, const char *key, int64_t at, unsigned int max,
    unsigned int window, unsigned int *ra)
{
	*ra = 12345;
	return ratelimit_hit(db, key, at, max, window, ra);
}

#define hit(db, key, at, max, ra)	hit_in((db), (key), (at), (max), 60, (ra))

static void
test_window(struct db *db)
{
	unsigned int	ra;
	int		i, okays = 0;

	for (i = 0; i < 3; i++)
		okays += hit(db, A, T0 + i * 1000, 3, &ra) == PROV_OK &&
		    ra == 0;
	ok(okays == 3, "three attempts within the limit of 3 pass");
	ok(hit(db, A, T0 + 3000, 3, &ra) == PROV_LIMITED,
	    "the fourth is limited");
	ok(ra == 58, "Retry-After is when the oldest second leaves: %u == 58",
	    ra);
	ok(hit(db, A, T0 + 3500, 3, &ra) == PROV_LIMITED && ra == 58,
	    "a partial second rounds up: %u == 58", ra);
	ok(hit(db, A, T0 + 60999, 3, &ra) == PROV_LIMITED && ra == 1,
	    "1 ms before the slot frees: %u == 1", ra);
	ok(rows(db, A) == 3, "refused attempts are not recorded");

	ok(hit(db, A, T0 + 61000, 3, &ra) == PROV_OK,
	    "the oldest leaves once the end of its second is 60 s old");
	ok(hit(db, A, T0 + 61001, 3, &ra) == PROV_LIMITED && ra == 1,
	    "the window slides: full again, next slot in %u s", ra);
	ok(hit(db, A, T0 + 62000, 3, &ra) == PROV_OK,
	    "the second oldest leaves at +62 s");
	ok(rows(db, A) == 3, "the window holds 3 attempts, expired ones gone");

	ok(hit(db, B, T0 + 62000, 3, &ra) == PROV_OK,
	    "another client is not affected");
	ok(rows(db, B) == 1 && rows(db, A) == 3, "each key counts alone");
}

/*
 * Never more than the limit in any window-long stretch: attempts at the
 * end of one second and the start of the next are both still counted a
 * full window after the first of them.
 */
static void
test_never_early(struct db *db)
{
	unsigned int	ra;

	ok(hit(db, "edge", T0 + 999, 2, &ra) == PROV_OK &&
	    hit(db, "edge", T0 + 1000, 2, &ra) == PROV_OK,
	    "two attempts 1 ms apart, across a second");
	ok(hit(db, "edge", T0 + 60999, 2, &ra) == PROV_LIMITED && ra == 1,
	    "60 s after the first, both still count (Retry-After %u)", ra);
	ok(hit(db, "edge", T0 + 61000, 2, &ra) == PROV_OK &&
	    hit(db, "edge", T0 + 61001, 2, &ra) == PROV_LIMITED,
	    "the first second's attempt leaves at its end + 60 s, one slot");
}

/*
 * The rows read per decision are bounded by the window, not the limit:
 * many attempts in one slice are one row, and a long window is cut into
 * longer slices.
 */
static void
test_slices(struct db *db)
{
	unsigned int	ra;
	int		i, okays = 0;

	for (i = 0; i < 500; i++)
		okays += hit(db, "burst", T0 + 200000 + i, 1000, &ra) ==
		    PROV_OK;
	ok(okays == 500 && rows(db, "burst") == 500 &&
	    slices(db, "burst") == 1,
	    "500 attempts in one second: 500 counted in 1 row (%lld)",
	    slices(db, "burst"));

	/* An hour's window: slices of 60 s. T0 starts one. */
	for (i = 0; i < 120; i++)
		okays += hit_in(db, "hour", T0 + i * 1000, 1000, 3600, &ra) ==
		    PROV_OK;
	ok(okays == 620 && rows(db, "hour") == 120 &&
	    slices(db, "hour") == 2,
	    "an hour's window: 120 attempts over 2 minutes in %lld rows",
	    slices(db, "hour"));
	ok(hit_in(db, "hour", T0 + 120000, 120, 3600, &ra) == PROV_LIMITED &&
	    ra == 3660 - 120,
	    "Retry-After is the end of the oldest minute + the window: %u",
	    ra);
	ok(hit_in(db, "hour", T0 + 3660000, 120, 3600, &ra) == PROV_OK,
	    "and then the first minute's 60 attempts leave together");
	ok(rows(db, "hour") == 61, "leaving the second minute's and this one");
}

/*
 * Windows that are not a multiple of 60 s: the slice is the window / 60
 * rounded up, so a client never owns more than about 60 rows, and the
 * Retry-After counts the whole of that slice. T1, after every other
 * test's attempts, and T1 + 240 s start a 2 s and a 60 s slice.
 */
static void
test_odd_windows(struct db *db)
{
	unsigned int	ra;
	int		i, okays = 0;

	ok(hit_in(db, "w61", T1, 1, 61, &ra) == PROV_OK &&
	    hit_in(db, "w61", T1 + 500, 1, 61, &ra) == PROV_LIMITED &&
	    ra == 63,
	    "a 61 s window has 2 s slices: Retry-After %u == 63", ra);
	ok(hit_in(db, "w61", T1 + 62999, 1, 61, &ra) == PROV_LIMITED &&
	    ra == 1, "still counted 1 ms before its slice leaves (%u)", ra);
	ok(hit_in(db, "w61", T1 + 63000, 1, 61, &ra) == PROV_OK,
	    "and free once it has");

	for (i = 0; i < 119; i++)
		okays += hit_in(db, "w119", T1 + i * 1000, 1000, 119, &ra) ==
		    PROV_OK;
	ok(okays == 119 && rows(db, "w119") == 119 &&
	    slices(db, "w119") == 60,
	    "a 119 s window: an attempt a second fills %lld rows, not 119",
	    slices(db, "w119"));

	ok(hit_in(db, "w3599", T1 + 240000, 1, 3599, &ra) == PROV_OK &&
	    hit_in(db, "w3599", T1 + 241000, 1, 3599, &ra) == PROV_LIMITED &&
	    ra == 3599 + 60 - 1,
	    "a 3599 s window has 60 s slices: Retry-After %u == 3658", ra);
}

static void
test_pruning(struct db *db)
{
	unsigned int	ra;

	ok(hit(db, "198.51.100.7", T0 + 100000, 10, &ra) == PROV_OK,
	    "a one-off client");
	ok(hit(db, A, T0 + 100000 + 61000, 10, &ra) == PROV_OK &&
	    rows(db, "198.51.100.7") == 0 && rows(db, B) == 0,
	    "expired rows of every client go on any attempt");
	ok(rows(db, A) == 1, "leaving only what is in the window");
}

static void
test_edges(struct db *db)
{
	char		longkey[PROV_MAX_ADDR + 1];
	unsigned int	ra;

	ok(hit(db, "203.0.113.9", T0, 0, &ra) == PROV_LIMITED && ra == 60,
	    "max 0 refuses everything, Retry-After the window (%u)", ra);
	ok(hit(db, "", T0, 3, &ra) == PROV_BADREQ, "an empty key");
	ok(hit(db, NULL, T0, 3, &ra) == PROV_BADREQ, "no key");
	memset(longkey, '1', PROV_MAX_ADDR);
	longkey[PROV_MAX_ADDR] = '\0';
	ok(hit(db, longkey, T0, 3, &ra) == PROV_BADREQ, "an over-long key");
	longkey[PROV_MAX_ADDR - 1] = '\0';
	ok(hit(db, longkey, T0, 3, &ra) == PROV_OK, "the longest key");

	ok(hit(db, "clock", T0 + 500000, 1, &ra) == PROV_OK &&
	    hit(db, "clock", T0 + 400000, 1, &ra) == PROV_LIMITED &&
	    ra >= 1 && ra <= 61,
	    "a clock stepped back keeps Retry-After within a window and a "
	    "slice (%u)",
	    ra);
}

/*
 * The wall clock steps back an hour with a client at its limit: it is let
 * in again a window and a slice after the step at the latest (not an hour
 * later), Retry-After says no more than that, and the attempts made
 * "in the future" still count meanwhile. A step forward frees it at once.
 */
static void
test_clock_steps(struct db *db)
{
	const int64_t	later = T0 + 3600 * 1000;
	const char	*key = "198.51.100.7";
	unsigned int	ra, told;
	int		i;

	for (i = 0; i < 3; i++)
		(void)hit(db, key, later, 3, &ra);
	ok(hit(db, key, later, 3, &ra) == PROV_LIMITED,
	    "clock: limited before the step");
	ok(hit(db, key, T0, 3, &ra) == PROV_LIMITED && ra >= 1 && ra <= 61,
	    "clock: right after a step back of an hour still limited, "
	    "Retry-After %u <= window + slice", ra);
	told = ra;
	ok(hit(db, key, T0 + 59 * 1000, 3, &ra) == PROV_LIMITED,
	    "clock: the attempts still count within the window");
	ok(hit(db, key, T0 + (int64_t)told * 1000, 3, &ra) == PROV_OK,
	    "clock: let in when Retry-After said, not an hour later");

	key = "198.51.100.8";
	for (i = 0; i < 3; i++)
		(void)hit(db, key, T0, 3, &ra);
	ok(hit(db, key, T0 + 7200 * 1000, 3, &ra) == PROV_OK,
	    "clock: a step forward frees the client");
}

static void
test_unavailable(void)
{
	char		path[512];
	struct db	*db;
	unsigned int	ra = 7;

	scratch_path(path, sizeof(path), "broken.db");
	if (db_open(&db, path, DB_CREATE) != PROV_OK) {
		ok(0, "open broken.db: %s", db_errmsg(NULL));
		return;
	}
	ok(sqlite3_exec(db_handle(db), "DROP TABLE attempt_counts", NULL, NULL,
	    NULL) == SQLITE_OK, "drop the rate-limit table");
	ok(ratelimit_hit(db, A, T0, 3, 60, &ra) == PROV_UNAVAIL && ra == 0,
	    "a broken store is PROV_UNAVAIL");
	ok(*db_errmsg(db) != '\0', "with a reason: %s", db_errmsg(db));
	ok(sqlite3_get_autocommit(db_handle(db)),
	    "and no transaction is left open");
	db_close(db);
}

/*
 * A client at its limit is refused on a read. While another connection
 * holds the write lock, the refusal still comes: a decision that needed
 * the lock would wait out the busy timeout and report PROV_UNAVAIL.
 */
static void
test_refusal_without_lock(void)
{
	char		 path[512];
	struct db	*db;
	sqlite3		*h = NULL;
	unsigned int	 ra;

	scratch_path(path, sizeof(path), "lock.db");
	if (db_open(&db, path, DB_CREATE) != PROV_OK) {
		ok(0, "open lock.db: %s", db_errmsg(NULL));
		return;
	}
	ok(hit(db, "full", T0, 1, &ra) == PROV_OK, "one attempt, the limit");
	ok(sqlite3_open_v2(path, &h, SQLITE_OPEN_READWRITE, NULL) ==
	    SQLITE_OK && sqlite3_exec(h, "BEGIN IMMEDIATE", NULL, NULL,
	    NULL) == SQLITE_OK, "another connection takes the write lock");
	ok(hit(db, "full", T0 + 1000, 1, &ra) == PROV_LIMITED && ra == 60,
	    "the next is refused all the same (Retry-After %u)", ra);
	(void)sqlite3_exec(h, "ROLLBACK", NULL, NULL, NULL);
	sqlite3_close(h);
	db_close(db);
}

/*
 * A decision rests on the count read under the write lock: an attempt
 * another process records between this one's plain read and its taking
 * the lock counts. A child takes the lock and records the client's last
 * allowed attempt; the parent reads (one of two used), waits for the lock
 * and must then be refused. A parent slow to read would see the commit
 * and be refused on the read: the same verdict, so the test cannot flake.
 */
static void
test_recount_under_lock(void)
{
	char		 path[512], c;
	struct db	*db;
	sqlite3		*h;
	unsigned int	 ra;
	enum prov_err	 rc = PROV_SYSTEM;
	pid_t		 pid;
	int		 p[2], status = -1;

	scratch_path(path, sizeof(path), "recount.db");
	if (db_open(&db, path, DB_CREATE) != PROV_OK || pipe(p) == -1) {
		ok(0, "set up recount.db: %s", db_errmsg(NULL));
		return;
	}
	ok(hit(db, "late", T0, 2, &ra) == PROV_OK, "one attempt of two");
	db_close(db);
	fflush(stdout);
	if ((pid = fork()) == 0) {
		close(p[0]);
		if (sqlite3_open_v2(path, &h, SQLITE_OPEN_READWRITE, NULL) !=
		    SQLITE_OK || sqlite3_exec(h, "BEGIN IMMEDIATE; "
		    "UPDATE attempt_counts SET n = n + 1 WHERE key = 'late'",
		    NULL, NULL, NULL) != SQLITE_OK || write(p[1], "x", 1) != 1)
			_exit(1);
		(void)usleep(500000);
		_exit(sqlite3_exec(h, "COMMIT", NULL, NULL, NULL) != SQLITE_OK);
	}
	close(p[1]);
	if (pid > 0 && read(p[0], &c, 1) == 1 &&
	    db_open(&db, path, 0) == PROV_OK) {
		rc = hit(db, "late", T0 + 1000, 2, &ra);
		(void)waitpid(pid, &status, 0);
		ok(WIFEXITED(status) && WEXITSTATUS(status) == 0,
		    "another process recorded the second attempt meanwhile");
		ok(rc == PROV_LIMITED && rows(db, "late") == 2,
		    "the third is refused on the recount (%d)", (int)rc);
		db_close(db);
	} else
		ok(0, "the other process did not start");
	close(p[0]);
}

/*
 * NPROC processes, each with its own handle, start together and each try
 * TRIES times at the same instant on one key. Each reports how many got
 * through in its exit status (255: something failed).
 */
enum { NPROC = 6, TRIES = 25, MAX = 40 };

static int
hammer(const char *path, int gate)
{
	struct db	*db;
	unsigned int	 ra;
	char		 c;
	int		 i, passed = 0;
	enum prov_err	 rc;

	if (db_open(&db, path, 0) != PROV_OK)
		return 255;
	if (read(gate, &c, 1) != 0)	/* wait for the parent's go */
		return 255;
	for (i = 0; i < TRIES; i++) {
		rc = ratelimit_hit(db, "race", T0, MAX, 60, &ra);
		if (rc == PROV_OK)
			passed++;
		else if (rc != PROV_LIMITED) {
			fprintf(stderr, "hammer: %s\n", db_errmsg(db));
			passed = 255;
			break;
		}
	}
	db_close(db);
	return passed;
}

static void
test_processes(void)
{
	char		path[512];
	struct db	*db;
	pid_t		pid[NPROC];
	int		gate[2], i, status, total = 0, failed = 0;

	scratch_path(path, sizeof(path), "race.db");
	if (db_open(&db, path, DB_CREATE) != PROV_OK || pipe(gate) == -1) {
		ok(0, "set up race.db: %s", db_errmsg(NULL));
		return;
	}
	fflush(stdout);
	for (i = 0; i < NPROC; i++)
		if ((pid[i] = fork()) == 0) {
			close(gate[1]);
			_exit(hammer(path, gate[0]));
		}
	close(gate[0]);
	close(gate[1]);			/* go */
	for (i = 0; i < NPROC; i++) {
		if (pid[i] > 0 && waitpid(pid[i], &status, 0) == pid[i] &&
		    WIFEXITED(status) && WEXITSTATUS(status) != 255)
			total += WEXITSTATUS(status);
		else
			failed++;
	}
	ok(failed == 0, "%d processes ran without a database error", NPROC);
	ok(total == MAX, "%d attempts at once, exactly %d passed (%d)",
	    NPROC * TRIES, MAX, total);
	ok(rows(db, "race") == MAX, "and exactly %d are recorded", MAX);
	db_close(db);
}

int
main(void)
{
	char		 path[512];
	struct db	*db;

	if (scratch_make("rl") == -1)
		return 1;
	scratch_path(path, sizeof(path), "rl.db");
	if (db_open(&db, path, DB_CREATE) != PROV_OK) {
		printf("Bail out! %s\n", db_errmsg(NULL));
		return 1;
	}
	test_window(db);
	test_never_early(db);
	test_slices(db);
	test_pruning(db);
	test_edges(db);
	test_clock_steps(db);
	test_odd_windows(db);
	db_close(db);
	test_unavailable();
	test_refusal_without_lock();
	test_recount_under_lock();
	test_processes();
	scratch_remove();
	return done_testing();
}
