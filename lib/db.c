/*
 * db.c: the sqlite store. Opens the database file, applies the migrations
 * compiled in from sql/, and keeps one cache of prepared statements per
 * handle, which the machines functions here and ratelimit.c share.
 *
 * Every statement is prepared once per handle and bound, never formatted;
 * the only SQL run as text is the fixed migrations. Any sqlite failure is
 * PROV_UNAVAIL to the caller, with the detail kept for the log.
 */
#include "config.h"

#include <sys/statvfs.h>

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sqlite3.h>

#include "db.h"
#include "migrations.h"

/*
 * How long a statement waits for another process's write lock. Writes are
 * a few rows, so the lock is held for milliseconds; five seconds covers a
 * busy machine without letting a stuck writer hold requests for long.
 */
#define DB_BUSY_MS		5000

/*
 * Distinct statements one handle can cache; the library uses about a
 * dozen (eight of them the rate limiter's), so there is room to grow.
 */
#define DB_MAX_STMTS		32

/* The WAL file is cut back to this size after a checkpoint. */
#define DB_WAL_LIMIT		"4194304"

/*
 * sqlite's page cache per connection, in KiB. The default (2000 KiB) fills
 * up whenever /machines streams a large table, although each page is read
 * once; every other statement touches a handful of pages, and the kernel's
 * page cache keeps re-reading them cheap. 256 KiB keeps a worker's own
 * memory small whatever the table size.
 */
#define DB_CACHE_KIB		"256"

struct db {
	sqlite3		*h;
	struct {
		const char	*sql;
		sqlite3_stmt	*st;
	}		 stmts[DB_MAX_STMTS];
	char		 why[256];
};

/* Why the last db_open() failed: there is no handle to hold it. */
static char	open_why[256];

static void	set_why(char *why, size_t len, const char *fmt, ...)
		    __attribute__((format(printf, 3, 4)));

static void
set_why(char *why, size_t len, const char *fmt, ...)
{
	va_list	ap;

	va_start(ap, fmt);
	(void)vsnprintf(why, len, fmt, ap);
	va_end(ap);
}

const char *
db_errmsg(const struct db *db)
{
	return db != NULL ? db->why : open_why;
}

void
db_set_error(struct db *db, const char *what)
{
	set_why(db->why, sizeof(db->why), "%s: %s", what,
	    sqlite3_errmsg(db->h));
}

struct sqlite3 *
db_handle(struct db *db)
{
	return db->h;
}

struct sqlite3_stmt *
db_prepare(struct db *db, const char *sql)
{
	size_t	i;

	for (i = 0; i < DB_MAX_STMTS && db->stmts[i].sql != NULL; i++)
		if (db->stmts[i].sql == sql)
			return db->stmts[i].st;
	if (i == DB_MAX_STMTS) {
		set_why(db->why, sizeof(db->why), "statement cache full");
		return NULL;
	}
	/* PERSISTENT: these live as long as the handle, tell sqlite so. */
	if (sqlite3_prepare_v3(db->h, sql, -1, SQLITE_PREPARE_PERSISTENT,
	    &db->stmts[i].st, NULL) != SQLITE_OK) {
		db_set_error(db, "prepare");
		return NULL;
	}
	db->stmts[i].sql = sql;
	return db->stmts[i].st;
}

/* Makes a statement from the cache ready for its next use. */
static void
done(sqlite3_stmt *st)
{
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
}

/* Reads PRAGMA user_version into *v. Returns 0, or -1 with the reason set. */
static int
user_version(struct db *db, int *v)
{
	sqlite3_stmt	*st;
	int		 rc;

	if ((st = db_prepare(db, "PRAGMA user_version")) == NULL)
		return -1;
	if ((rc = sqlite3_step(st)) == SQLITE_ROW)
		*v = sqlite3_column_int(st, 0);
	else
		db_set_error(db, "read schema version");
	done(st);
	return rc == SQLITE_ROW ? 0 : -1;
}

/*
 * Switches a new database to WAL, once: the mode is stored in the file.
 * WAL lets /machines and /health read while a registration writes, and
 * makes each write one append instead of a journal and a rewrite.
 *
 * The switch needs the file to itself and sqlite does not wait for that
 * through the busy handler, so when several processes open a new database
 * at once it is retried here, within the same busy timeout.
 */
static int
enable_wal(struct db *db)
{
	sqlite3_stmt	*st;
	const char	*mode;
	int		 rc, tries, ok = 0;

	if (sqlite3_prepare_v2(db->h, "PRAGMA journal_mode = WAL", -1, &st,
	    NULL) != SQLITE_OK) {
		db_set_error(db, "enable WAL");
		return -1;
	}
	for (tries = 0; tries < DB_BUSY_MS / 10; tries++) {
		rc = sqlite3_step(st);
		if (rc == SQLITE_ROW) {
			/* Where WAL cannot work sqlite keeps the old mode. */
			mode = (const char *)sqlite3_column_text(st, 0);
			if (mode != NULL && strcmp(mode, "wal") == 0)
				ok = 1;
			else
				set_why(db->why, sizeof(db->why), "enable WAL: "
				    "journal mode stays %s",
				    mode != NULL ? mode : "unknown");
			break;
		}
		db_set_error(db, "enable WAL");
		if ((rc & 0xff) != SQLITE_BUSY &&
		    (rc & 0xff) != SQLITE_LOCKED)
			break;
		sqlite3_reset(st);
		(void)sqlite3_sleep(10);
	}
	sqlite3_finalize(st);
	return ok ? 0 : -1;
}

/* Records that the schema is newer than the migrations compiled in. */
static void
too_new(struct db *db, int v)
{
	set_why(db->why, sizeof(db->why), "database schema version %d is "
	    "newer than this program knows (%zu)", v, prov_migrations_count);
}

/*
 * Brings the schema from its user_version up to the newest migration. Each
 * migration runs in its own BEGIN IMMEDIATE transaction and the version is
 * read again inside it, so several processes opening a new database at
 * once apply each migration exactly once. A database that is already
 * current is only read, which is what lets a read-only one open.
 */
static int
migrate(struct db *db)
{
	const int	newest = (int)prov_migrations_count;
	int		v, after;

	if (user_version(db, &v) == -1)
		return -1;
	if (v == newest)
		return 0;
	if (v < 0 || v > newest) {
		too_new(db, v);
		return -1;
	}
	if (v == 0 && enable_wal(db) == -1)
		return -1;

	for (;;) {
		if (sqlite3_exec(db->h, "BEGIN IMMEDIATE", NULL, NULL,
		    NULL) != SQLITE_OK) {
			db_set_error(db, "begin migration");
			return -1;
		}
		if (user_version(db, &v) == -1)
			goto fail;
		if (v == newest)
			break;
		if (v < 0 || v > newest) {
			too_new(db, v);
			goto fail;
		}
		if (sqlite3_exec(db->h, prov_migrations[v], NULL, NULL,
		    NULL) != SQLITE_OK) {
			set_why(db->why, sizeof(db->why), "migration %03d: %s",
			    v + 1, sqlite3_errmsg(db->h));
			goto fail;
		}
		/* One that forgot to set its version would run again. */
		if (user_version(db, &after) == -1)
			goto fail;
		if (after != v + 1) {
			set_why(db->why, sizeof(db->why), "migration %03d set "
			    "user_version %d", v + 1, after);
			goto fail;
		}
		if (sqlite3_exec(db->h, "COMMIT", NULL, NULL, NULL) !=
		    SQLITE_OK) {
			db_set_error(db, "commit migration");
			goto fail;
		}
	}
	/* Another process finished the work: end the empty transaction. */
	if (sqlite3_exec(db->h, "COMMIT", NULL, NULL, NULL) != SQLITE_OK) {
		db_set_error(db, "commit migration");
		goto fail;
	}
	return 0;
fail:
	if (!sqlite3_get_autocommit(db->h))
		(void)sqlite3_exec(db->h, "ROLLBACK", NULL, NULL, NULL);
	return -1;
}

/*
 * Creates path with mode 0600 (less under a stricter umask) unless it
 * exists. O_EXCL makes this a no-op on an existing file, however its
 * permissions are, and refuses a symbolic link planted in its place.
 */
static int
create_file(const char *path)
{
	int	fd;

	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
	    0600);
	if (fd == -1 && errno != EEXIST) {
		set_why(open_why, sizeof(open_why), "cannot create %s: %s",
		    path, strerror(errno));
		return -1;
	}
	if (fd != -1)
		(void)close(fd);
	return 0;
}

/*
 * Per-connection settings. synchronous=NORMAL is safe under WAL (a power
 * cut can lose the last commits but never corrupts the file) and spares an
 * fsync on every request, which the rate limiter writes: losing the last
 * few counted attempts costs nothing. A registration is another matter (a
 * key was handed out), so db_machine_add() syncs its own commit.
 * PERSIST_WAL keeps the -wal and -shm files when the last connection
 * closes, so a process that may not create them can still read.
 */
static int
configure(struct db *db)
{
	int	persist = 1;

	sqlite3_extended_result_codes(db->h, 1);
	if (sqlite3_busy_timeout(db->h, DB_BUSY_MS) != SQLITE_OK ||
	    sqlite3_file_control(db->h, "main", SQLITE_FCNTL_PERSIST_WAL,
	    &persist) != SQLITE_OK ||
	    sqlite3_exec(db->h, "PRAGMA synchronous = NORMAL; "
	    "PRAGMA cache_size = -" DB_CACHE_KIB "; "
	    "PRAGMA journal_size_limit = " DB_WAL_LIMIT, NULL, NULL,
	    NULL) != SQLITE_OK) {
		db_set_error(db, "configure");
		return -1;
	}
	return 0;
}

enum prov_err
db_open(struct db **out, const char *path, unsigned int flags)
{
	struct db	*db;

	*out = NULL;
	open_why[0] = '\0';
	if (path == NULL || *path == '\0') {
		set_why(open_why, sizeof(open_why), "no database path");
		return PROV_UNAVAIL;
	}
	if ((flags & DB_CREATE) && create_file(path) == -1)
		return PROV_UNAVAIL;
	if ((db = calloc(1, sizeof(*db))) == NULL) {
		set_why(open_why, sizeof(open_why), "out of memory");
		return PROV_UNAVAIL;
	}
	/*
	 * Never SQLITE_OPEN_CREATE: the file exists by now or it is an
	 * error. READWRITE falls back to read-only when the file may not be
	 * written, which is what we want for a read-only store.
	 */
	if (sqlite3_open_v2(path, &db->h, SQLITE_OPEN_READWRITE |
	    SQLITE_OPEN_NOMUTEX | ((flags & DB_NOFOLLOW) ?
	    SQLITE_OPEN_NOFOLLOW : 0), NULL) != SQLITE_OK) {
		set_why(open_why, sizeof(open_why), "cannot open %s: %s", path,
		    db->h != NULL ? sqlite3_errmsg(db->h) : "out of memory");
		db_close(db);
		return PROV_UNAVAIL;
	}
	if (configure(db) == -1 || migrate(db) == -1) {
		set_why(open_why, sizeof(open_why), "%s: %s", path, db->why);
		db_close(db);
		return PROV_UNAVAIL;
	}
	*out = db;
	return PROV_OK;
}

void
db_close(struct db *db)
{
	size_t	i;

	if (db == NULL)
		return;
	for (i = 0; i < DB_MAX_STMTS; i++)
		sqlite3_finalize(db->stmts[i].st);
	sqlite3_close(db->h);
	free(db);
}

enum prov_err
db_ping(struct db *db)
{
	sqlite3_stmt	*st;
	int		 rc;

	/* Touches the file and the schema, not just the handle. */
	if ((st = db_prepare(db, "SELECT 1 FROM machines LIMIT 1")) == NULL)
		return PROV_UNAVAIL;
	rc = sqlite3_step(st);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		db_set_error(db, "ping");
	done(st);
	return rc == SQLITE_ROW || rc == SQLITE_DONE ? PROV_OK : PROV_UNAVAIL;
}

/*
 * Asks the kernel rather than writing: a probe write every second would
 * grow the WAL for nothing, and the WAL's reserved space can hide a full
 * disk from a small write anyway. f_bavail is what an unprivileged service
 * user may still use.
 */
enum prov_err
db_writable(struct db *db)
{
	struct statvfs	 sv;
	const char	*path = sqlite3_db_filename(db->h, "main");

	if (sqlite3_db_readonly(db->h, "main") != 0) {
		set_why(db->why, sizeof db->why, "database opened read-only");
		return PROV_UNAVAIL;
	}
	if (path == NULL || *path == '\0' || statvfs(path, &sv) == -1) {
		set_why(db->why, sizeof db->why, "cannot check the database's "
		    "file system: %s", path == NULL || *path == '\0' ?
		    "no file name" : strerror(errno));
		return PROV_UNAVAIL;
	}
	if (sv.f_flag & ST_RDONLY) {
		set_why(db->why, sizeof db->why, "the database's file system "
		    "is read-only");
		return PROV_UNAVAIL;
	}
	if (sv.f_bavail == 0) {
		set_why(db->why, sizeof db->why, "the database's file system "
		    "is full");
		return PROV_UNAVAIL;
	}
	return PROV_OK;
}

/*
 * Binds a fixed-size text field. One that fills its array without a NUL
 * is refused: it could not be read back into the same array.
 */
static int
bind_field(sqlite3_stmt *st, int col, const char *s, size_t size)
{
	size_t	len = strnlen(s, size);

	if (len == size)
		return SQLITE_MISUSE;
	return sqlite3_bind_text(st, col, s, (int)len, SQLITE_STATIC);
}

/* Binds a text field, or NULL when it is empty. */
static int
bind_opt_field(sqlite3_stmt *st, int col, const char *s, size_t size)
{
	if (*s == '\0')
		return sqlite3_bind_null(st, col);
	return bind_field(st, col, s, size);
}

/* Binds a number, or NULL when it is 0. */
static int
bind_opt_int64(sqlite3_stmt *st, int col, int64_t v)
{
	if (v == 0)
		return sqlite3_bind_null(st, col);
	return sqlite3_bind_int64(st, col, v);
}

/*
 * Sets how the next commits on db reach the disk: FULL syncs the WAL at
 * each commit, NORMAL only at checkpoints. Returns 0, or -1 with the
 * reason recorded.
 */
static int
set_synchronous(struct db *db, int full)
{
	if (sqlite3_exec(db->h, full ? "PRAGMA synchronous = FULL" :
	    "PRAGMA synchronous = NORMAL", NULL, NULL, NULL) != SQLITE_OK) {
		db_set_error(db, "set synchronous");
		return -1;
	}
	return 0;
}

/*
 * The caller answers 200 once this returns PROV_OK, so the row must
 * survive a power cut from then on: this one commit is synced
 * (synchronous=FULL), then the connection goes back to NORMAL for the
 * rate limiter. The cost is measured by bench/run (docs/performance.md).
 */
enum prov_err
db_machine_add(struct db *db, const struct machine *m)
{
	sqlite3_stmt	*st;
	int		 rc;

	if (set_synchronous(db, 1) == -1)
		return PROV_UNAVAIL;
	if ((st = db_prepare(db, "INSERT INTO machines (hostname, mac, ip, "
	    "registered_at, key_id, key_expires_at, revoked_at, "
	    "legacy_tailscale_ip) "
	    "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)")) == NULL)
		return PROV_UNAVAIL;
	/* The key id goes in as its 64-bit pattern and comes out the same. */
	if (bind_field(st, 1, m->hostname, sizeof(m->hostname)) != SQLITE_OK ||
	    bind_opt_field(st, 2, m->mac, sizeof(m->mac)) != SQLITE_OK ||
	    bind_opt_field(st, 3, m->ip, sizeof(m->ip)) != SQLITE_OK ||
	    sqlite3_bind_int64(st, 4, m->registered_at) != SQLITE_OK ||
	    bind_opt_int64(st, 5, (int64_t)m->key_id) != SQLITE_OK ||
	    bind_opt_int64(st, 6, m->key_id != 0 ? m->key_expires_at : 0) !=
	    SQLITE_OK ||
	    bind_opt_int64(st, 7, m->revoked_at) != SQLITE_OK ||
	    bind_opt_field(st, 8, m->tailscale_ip, sizeof(m->tailscale_ip)) !=
	    SQLITE_OK) {
		set_why(db->why, sizeof(db->why), "machine field unterminated");
		rc = SQLITE_MISUSE;
	} else if ((rc = sqlite3_step(st)) != SQLITE_DONE)
		db_set_error(db, "record machine");
	done(st);
	/* The row is on disk; failing to relax again only costs speed. */
	(void)set_synchronous(db, 0);
	return rc == SQLITE_DONE ? PROV_OK : PROV_UNAVAIL;
}

/*
 * Copies text column col into dst (size bytes with the NUL); NULL is "".
 * Returns 0, or -1 when it is NULL and may not be, or too long: only a
 * damaged or foreign database holds such a row, and it is refused rather
 * than cut.
 */
static int
column_field(sqlite3_stmt *st, int col, char *dst, size_t size, int nullable)
{
	const unsigned char	*s;
	int			 n;

	if (sqlite3_column_type(st, col) == SQLITE_NULL) {
		dst[0] = '\0';
		return nullable ? 0 : -1;
	}
	s = sqlite3_column_text(st, col);
	n = sqlite3_column_bytes(st, col);
	if (s == NULL || n < 0 || (size_t)n >= size)
		return -1;
	memcpy(dst, s, (size_t)n);
	dst[n] = '\0';
	return 0;
}

/*
 * The callback runs between steps of a live statement from the cache, so
 * it must not call back into db itself.
 */
enum prov_err
db_machines_each(struct db *db, int (*fn)(const struct machine *, void *),
    void *arg)
{
	sqlite3_stmt	*st;
	struct machine	 m;
	int		 rc;

	if ((st = db_prepare(db, "SELECT hostname, mac, ip, registered_at, "
	    "key_id, key_expires_at, id, revoked_at, legacy_tailscale_ip "
	    "FROM machines ORDER BY id DESC")) == NULL)
		return PROV_UNAVAIL;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		memset(&m, 0, sizeof(m));
		if (column_field(st, 0, m.hostname, sizeof(m.hostname),
		    0) == -1 ||
		    column_field(st, 1, m.mac, sizeof(m.mac), 1) == -1 ||
		    column_field(st, 2, m.ip, sizeof(m.ip), 1) == -1 ||
		    column_field(st, 8, m.tailscale_ip, sizeof(m.tailscale_ip),
		    1) == -1) {
			set_why(db->why, sizeof(db->why),
			    "malformed row in machines");
			done(st);
			return PROV_UNAVAIL;
		}
		m.registered_at = sqlite3_column_int64(st, 3);
		m.key_id = (uint64_t)sqlite3_column_int64(st, 4);
		m.key_expires_at = sqlite3_column_int64(st, 5);
		m.id = sqlite3_column_int64(st, 6);
		m.revoked_at = sqlite3_column_int64(st, 7);
		if (fn(&m, arg) != 0) {
			rc = SQLITE_DONE;
			break;
		}
	}
	if (rc != SQLITE_DONE)
		db_set_error(db, "list machines");
	done(st);
	return rc == SQLITE_DONE ? PROV_OK : PROV_UNAVAIL;
}

/*
 * For modules with their own queries over machines: reads the current row
 * of st, whose columns are DB_MACHINE_COLUMNS, into m. 0, or -1 for a
 * malformed row.
 */
int
db_machine_row(struct sqlite3_stmt *st, struct machine *m)
{
	memset(m, 0, sizeof(*m));
	if (column_field(st, 0, m->hostname, sizeof(m->hostname), 0) == -1 ||
	    column_field(st, 1, m->mac, sizeof(m->mac), 1) == -1 ||
	    column_field(st, 2, m->ip, sizeof(m->ip), 1) == -1 ||
	    column_field(st, 8, m->tailscale_ip, sizeof(m->tailscale_ip),
	    1) == -1)
		return -1;
	m->registered_at = sqlite3_column_int64(st, 3);
	m->key_id = (uint64_t)sqlite3_column_int64(st, 4);
	m->key_expires_at = sqlite3_column_int64(st, 5);
	m->id = sqlite3_column_int64(st, 6);
	m->revoked_at = sqlite3_column_int64(st, 7);
	m->key_expired_at = sqlite3_column_int64(st, 9);
	return 0;
}
