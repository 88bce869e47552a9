/*
 * db.h: the sqlite store behind the programs: schema and migrations from
 * sql/, the recorded machines, and the handle the rate limiter shares.
 *
 * One handle per process, opened before the first request (after fork, for
 * workers): WAL journal, a busy timeout, prepared statements only.
 */
#ifndef PROV_DB_H
#define PROV_DB_H

#include <stdint.h>

#include "err.h"
#include "bounds.h"

struct db;

/*
 * One recorded registration. Never holds the key itself. What the store
 * holds as NULL is "" in a text field and 0 in a number: an unknown MAC
 * (legacy clients send "unknown"), no client address or key (rows imported
 * from the Flask provisioner's machines.json), not revoked. Headscale
 * numbers keys from 1, so key_id 0 is never a real key.
 */
struct machine {
	int64_t		id;			/* row id; set when read */
	char		hostname[PROV_MAX_HOSTNAME + 1];
	char		mac[18];		/* "aa:bb:cc:dd:ee:ff" or "" */
	char		ip[PROV_MAX_ADDR];	/* client address or "" */
	int64_t		registered_at;		/* unix seconds */
	uint64_t	key_id;			/* headscale pre-auth key id */
	int64_t		key_expires_at;		/* unix seconds; 0: no key */
	int64_t		revoked_at;		/* unix seconds; 0: standing */
	char		tailscale_ip[PROV_MAX_ADDR]; /* imported rows only */
	int64_t		key_expired_at;		/* 0, or when we expired the key
						   early (registry.c) */
};

/*
 * Opens (and, with DB_CREATE, creates) the database at path and brings its
 * schema up to date. Without DB_CREATE a missing file is an error, so a
 * program never silently starts on an empty store. A new file is mode 0600.
 * A database this process may not write still opens when its schema is
 * current, so reads keep working; every write then fails with PROV_UNAVAIL.
 * A schema newer than this program knows is refused. Returns PROV_OK and
 * sets *out, or PROV_UNAVAIL (reason in db_errmsg(NULL)).
 */
#define DB_CREATE	0x01
/*
 * DB_NOFOLLOW: refuse a path with a symbolic link anywhere in it, for a
 * privileged caller opening a file in a directory others may write
 * (SQLITE_OPEN_NOFOLLOW, sqlite 3.31 and later; Debian 12 has 3.40).
 */
#define DB_NOFOLLOW	0x02
enum prov_err	db_open(struct db **out, const char *path, unsigned int flags);

/* Finalises statements and closes the handle; NULL is a no-op. */
void		db_close(struct db *db);

/* PROV_OK when the database answers a trivial query, else PROV_UNAVAIL. */
enum prov_err	db_ping(struct db *db);

/*
 * PROV_OK when a write could be recorded as far as can be told without
 * writing: the handle is not read-only and the file system holding the
 * database is mounted writable and has space left. Else PROV_UNAVAIL, with
 * the reason in db_errmsg(db).
 */
enum prov_err	db_writable(struct db *db);

/* Records m in one transaction. PROV_OK or PROV_UNAVAIL. */
enum prov_err	db_machine_add(struct db *db, const struct machine *m);

/*
 * Calls fn once per recorded machine, newest first, one row in memory at a
 * time. Stops early when fn returns non-zero. PROV_OK or PROV_UNAVAIL.
 */
enum prov_err	db_machines_each(struct db *db,
		    int (*fn)(const struct machine *, void *), void *arg);

/*
 * The columns db_machine_row() reads, in its order, for SELECTs over
 * machines in other modules (registry.c).
 */
#define DB_MACHINE_COLUMNS	"hostname, mac, ip, registered_at, key_id, " \
	"key_expires_at, id, revoked_at, legacy_tailscale_ip, key_expired_at"
struct sqlite3_stmt;
int		db_machine_row(struct sqlite3_stmt *st, struct machine *m);

/* Borrowed sqlite3 handle for modules that share the store (ratelimit.c). */
struct sqlite3	*db_handle(struct db *db);

/*
 * A short reason for the last failure on db, for the log (never for the
 * client): what failed and sqlite's message. With db NULL, the reason the
 * last db_open() in this process failed. Never NULL; "" when none.
 */
const char	*db_errmsg(const struct db *db);

/*
 * Records "what: <sqlite's message>" as db's last failure, for modules that
 * run their own statements through db_prepare().
 */
void		db_set_error(struct db *db, const char *what);

/*
 * Returns the statement for sql, prepared on first use and kept until
 * db_close(), or NULL (reason in db_errmsg()). sql must be a string literal
 * or otherwise live as long as db: its address is the cache key. The caller
 * steps it and must sqlite3_reset() and sqlite3_clear_bindings() it after.
 */
struct sqlite3_stmt *db_prepare(struct db *db, const char *sql);

#endif /* PROV_DB_H */
