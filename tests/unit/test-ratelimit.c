/*
 * test-ratelimit.c: the sliding window on a real database file. Times are
 * passed in, so the window's edges are tested to the millisecond without
 * sleeping. The last test runs several processes against one file and key
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
#define A	"192.0.2.1"
#define B	"2001:db8::2"

/* Rows stored for key, read through the handle's own connection. */
static long long
rows(struct db *db, const char *key)
{
	sqlite3_stmt	*st;
	long long	 n = -1;

	if (sqlite3_prepare_v2(db_handle(db), "SELECT count(*) FROM attempts "
	    "WHERE key = ?1", -1, &st, NULL) != SQLITE_OK)
		return -1;
	if (sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC) == SQLITE_OK &&
	    sqlite3_step(st) == SQLITE_ROW)
		n = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	return n;
}

/* One attempt; returns the verdict and leaves the Retry-After in *ra. */
static enum prov_err
hit(struct db *db, const char *key, int64_t at, unsigned int max,
    unsigned int *ra)
{
	*ra = 12345;
	return ratelimit_hit(db, key, at, max, 60, ra);
}

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
	ok(ra == 57, "Retry-After is when the oldest leaves: %u == 57", ra);
	ok(hit(db, A, T0 + 3500, 3, &ra) == PROV_LIMITED && ra == 57,
	    "a partial second rounds up: %u == 57", ra);
	ok(hit(db, A, T0 + 59999, 3, &ra) == PROV_LIMITED && ra == 1,
	    "1 ms before the slot frees: %u == 1", ra);
	ok(rows(db, A) == 3, "refused attempts are not recorded");

	ok(hit(db, A, T0 + 60000, 3, &ra) == PROV_OK,
	    "the oldest leaves the window at exactly +60 s");
	ok(hit(db, A, T0 + 60001, 3, &ra) == PROV_LIMITED && ra == 1,
	    "the window slides: full again, next slot in %u s", ra);
	ok(hit(db, A, T0 + 61000, 3, &ra) == PROV_OK,
	    "the second oldest leaves at +61 s");
	ok(rows(db, A) == 3, "the window holds 3 rows, expired ones gone");

	ok(hit(db, B, T0 + 61000, 3, &ra) == PROV_OK,
	    "another client is not affected");
	ok(rows(db, B) == 1 && rows(db, A) == 3, "each key counts alone");
}

static void
test_pruning(struct db *db)
{
	unsigned int	ra;

	ok(hit(db, "198.51.100.7", T0 + 100000, 10, &ra) == PROV_OK,
	    "a one-off client");
	ok(hit(db, A, T0 + 100000 + 60000, 10, &ra) == PROV_OK &&
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
	    ra >= 1 && ra <= 60,
	    "a clock stepped back keeps Retry-After within the window (%u)",
	    ra);
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
	ok(sqlite3_exec(db_handle(db), "DROP TABLE attempts", NULL, NULL,
	    NULL) == SQLITE_OK, "drop the attempts table");
	ok(ratelimit_hit(db, A, T0, 3, 60, &ra) == PROV_UNAVAIL && ra == 0,
	    "a broken store is PROV_UNAVAIL");
	ok(*db_errmsg(db) != '\0', "with a reason: %s", db_errmsg(db));
	ok(sqlite3_get_autocommit(db_handle(db)),
	    "and no transaction is left open");
	db_close(db);
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
	test_pruning(db);
	test_edges(db);
	db_close(db);
	test_unavailable();
	test_processes();
	scratch_remove();
	return done_testing();
}
