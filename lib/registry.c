/*
 * registry.c: the machines table as the operator's endpoints and the
 * one-live-key rule read and change it. Statements are prepared once per
 * handle (db_prepare) and bound, never formatted; each call is its own
 * transaction (sqlite's autocommit), ended by resetting the statement.
 */
#include "config.h"

#include <string.h>

#include <sqlite3.h>

#include "registry.h"

/* Binds s, or NULL when it is "" (a filter not asked for). */
static int
bind_or_null(sqlite3_stmt *st, int col, const char *s)
{
	if (*s == '\0')
		return sqlite3_bind_null(st, col);
	return sqlite3_bind_text(st, col, s, -1, SQLITE_STATIC);
}

/* Steps st into rows until max or the end, then resets it. */
static enum prov_err
collect(struct db *db, sqlite3_stmt *st, struct machine *rows, size_t max,
    size_t *n, const char *what)
{
	int	rc = SQLITE_DONE;

	*n = 0;
	while (*n < max && (rc = sqlite3_step(st)) == SQLITE_ROW) {
		if (db_machine_row(st, &rows[*n]) == -1) {
			db_set_error(db, "malformed row in machines");
			rc = SQLITE_CORRUPT;
			break;
		}
		(*n)++;
	}
	if (rc == SQLITE_ROW)
		rc = SQLITE_DONE;
	if (rc != SQLITE_DONE && rc != SQLITE_CORRUPT)
		db_set_error(db, what);
	/* Ends the read transaction: no snapshot outlives this call. */
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	return rc == SQLITE_DONE ? PROV_OK : PROV_UNAVAIL;
}

enum prov_err
registry_page(struct db *db, const struct registry_filter *f,
    int64_t before, struct machine *rows, size_t max, size_t *n)
{
	sqlite3_stmt	*st;

	*n = 0;
	/*
	 * Keyset on the primary key: each page starts below the last id
	 * the previous one returned, so rows arriving meanwhile (higher ids)
	 * never shift what is left to read. "Newest per MAC" is one probe of
	 * the (mac, id) index per row.
	 */
	if ((st = db_prepare(db, "SELECT " DB_MACHINE_COLUMNS " FROM machines m "
	    "WHERE id < ?1 AND (?2 IS NULL OR mac = ?2) "
	    "AND (?3 IS NULL OR hostname = ?3) "
	    "AND (?4 OR mac IS NULL OR NOT EXISTS (SELECT 1 FROM machines n "
	    "WHERE n.mac = m.mac AND n.id > m.id)) "
	    "ORDER BY id DESC LIMIT ?5")) == NULL)
		return PROV_UNAVAIL;
	if (sqlite3_bind_int64(st, 1, before) != SQLITE_OK ||
	    bind_or_null(st, 2, f->mac) != SQLITE_OK ||
	    bind_or_null(st, 3, f->hostname) != SQLITE_OK ||
	    sqlite3_bind_int(st, 4, f->all != 0) != SQLITE_OK ||
	    sqlite3_bind_int64(st, 5, (sqlite3_int64)max) != SQLITE_OK) {
		db_set_error(db, "bind page");
		sqlite3_clear_bindings(st);
		return PROV_UNAVAIL;
	}
	return collect(db, st, rows, max, n, "list machines");
}

enum prov_err
registry_get(struct db *db, int64_t id, struct machine *m, int *found)
{
	sqlite3_stmt	*st;
	size_t		 n;
	enum prov_err	 e;

	*found = 0;
	if ((st = db_prepare(db, "SELECT " DB_MACHINE_COLUMNS
	    " FROM machines WHERE id = ?1")) == NULL)
		return PROV_UNAVAIL;
	if (sqlite3_bind_int64(st, 1, id) != SQLITE_OK) {
		db_set_error(db, "bind machine id");
		return PROV_UNAVAIL;
	}
	e = collect(db, st, m, 1, &n, "read machine");
	*found = e == PROV_OK && n == 1;
	return e;
}

/* Runs a one-row UPDATE with ?1 = at and ?2 = id. */
static enum prov_err
update(struct db *db, const char *sql, int64_t id, int64_t at,
    const char *what)
{
	sqlite3_stmt	*st;
	int		 rc;

	if ((st = db_prepare(db, sql)) == NULL)
		return PROV_UNAVAIL;
	if (sqlite3_bind_int64(st, 1, at) != SQLITE_OK ||
	    sqlite3_bind_int64(st, 2, id) != SQLITE_OK)
		rc = SQLITE_MISUSE;
	else
		rc = sqlite3_step(st);
	if (rc != SQLITE_DONE)
		db_set_error(db, what);
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	return rc == SQLITE_DONE ? PROV_OK : PROV_UNAVAIL;
}

enum prov_err
registry_revoke(struct db *db, int64_t id, int64_t at)
{
	/* The first revocation's time stands: repeating it changes nothing. */
	return update(db, "UPDATE machines SET revoked_at = ?1 "
	    "WHERE id = ?2 AND revoked_at IS NULL", id, at, "revoke machine");
}

enum prov_err
registry_key_expired(struct db *db, int64_t id, int64_t at)
{
	return update(db, "UPDATE machines SET key_expired_at = ?1 "
	    "WHERE id = ?2 AND key_expired_at IS NULL", id, at,
	    "record key expiry");
}

enum prov_err
registry_live_keys(struct db *db, const char *mac, int64_t now,
    struct machine *rows, size_t max, size_t *n)
{
	sqlite3_stmt	*st;

	*n = 0;
	if ((st = db_prepare(db, "SELECT " DB_MACHINE_COLUMNS " FROM machines "
	    "WHERE mac = ?1 AND key_id IS NOT NULL AND revoked_at IS NULL "
	    "AND key_expired_at IS NULL AND key_expires_at > ?2 "
	    "ORDER BY id DESC LIMIT ?3")) == NULL)
		return PROV_UNAVAIL;
	if (sqlite3_bind_text(st, 1, mac, -1, SQLITE_STATIC) != SQLITE_OK ||
	    sqlite3_bind_int64(st, 2, now) != SQLITE_OK ||
	    sqlite3_bind_int64(st, 3, (sqlite3_int64)max) != SQLITE_OK) {
		db_set_error(db, "bind live keys");
		sqlite3_clear_bindings(st);
		return PROV_UNAVAIL;
	}
	return collect(db, st, rows, max, n, "live keys");
}
