/*
 * test-db.c: the sqlite store on real files in a temporary directory:
 * creation and its mode, migrations (applied once, idempotent, refused
 * when the file is newer than the program), machines in and out, a
 * database the process may not write, and several processes creating the
 * same new database at once.
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
#include "migrations.h"
#include "scratch.h"
#include "tap.h"

/* The longest DNS label, so the longest hostname a machine can have. */
#define HOST63	"a-63-character-hostname-is-the-longest-" \
		"dns-label-we-accept-wxyz"

/* Reads an integer pragma through a separate, plain sqlite connection. */
static long long
raw_int(const char *path, const char *sql)
{
	sqlite3		*h;
	sqlite3_stmt	*st;
	long long	 v = -1;

	if (sqlite3_open_v2(path, &h, SQLITE_OPEN_READONLY,
	    NULL) == SQLITE_OK &&
	    sqlite3_prepare_v2(h, sql, -1, &st, NULL) == SQLITE_OK) {
		if (sqlite3_step(st) == SQLITE_ROW)
			v = sqlite3_column_int64(st, 0);
		sqlite3_finalize(st);
	}
	sqlite3_close(h);
	return v;
}

static int
raw_exec(const char *path, const char *sql)
{
	sqlite3	*h;
	int	 rc;

	if (sqlite3_open_v2(path, &h, SQLITE_OPEN_READWRITE,
	    NULL) != SQLITE_OK) {
		sqlite3_close(h);
		return -1;
	}
	rc = sqlite3_exec(h, sql, NULL, NULL, NULL);
	sqlite3_close(h);
	return rc == SQLITE_OK ? 0 : -1;
}

static struct machine
mk(const char *host, int n)
{
	struct machine	m;

	memset(&m, 0, sizeof(m));
	(void)snprintf(m.hostname, sizeof(m.hostname), "%s", host);
	(void)snprintf(m.mac, sizeof(m.mac), "aa:bb:cc:dd:ee:%02x", n);
	(void)snprintf(m.ip, sizeof(m.ip), "192.0.2.%d", n);
	m.registered_at = 1770240000 + n;
	m.key_id = (uint64_t)n;
	m.key_expires_at = 1770243600 + n;
	return m;
}

/* Collects what db_machines_each() hands over. */
struct seen {
	struct machine	m[8];
	int		n;
	int		stop_after;	/* 0: never stop */
};

static int
collect(const struct machine *m, void *arg)
{
	struct seen	*s = arg;

	if (s->n < 8)
		s->m[s->n] = *m;
	s->n++;
	return s->stop_after != 0 && s->n >= s->stop_after;
}

static int
count_rows(struct db *db)
{
	struct seen	s;

	memset(&s, 0, sizeof(s));
	return db_machines_each(db, collect, &s) == PROV_OK ? s.n : -1;
}

static void
test_create_and_migrate(void)
{
	char		path[512], wal[600];
	struct db	*db;
	struct stat	st;
	int		i;

	scratch_path(path, sizeof(path), "new.db");
	ok(db_open(&db, path, 0) == PROV_UNAVAIL && db == NULL,
	    "a missing file without DB_CREATE is refused");
	ok(*db_errmsg(NULL) != '\0', "with a reason for the log: %s",
	    db_errmsg(NULL));
	ok(access(path, F_OK) == -1, "and no file appears");

	ok(db_open(&db, path, DB_CREATE) == PROV_OK && db != NULL,
	    "DB_CREATE creates it");
	ok(stat(path, &st) == 0 && (st.st_mode & 07777) == 0600,
	    "mode 0600");
	(void)snprintf(wal, sizeof(wal), "%s-wal", path);
	ok(db_ping(db) == PROV_OK, "ping answers");
	db_close(db);
	ok(raw_int(path, "PRAGMA user_version") ==
	    (long long)prov_migrations_count,
	    "schema at version %zu", prov_migrations_count);
	ok(raw_int(path, "SELECT count(*) FROM sqlite_master WHERE name IN "
	    "('machines', 'attempt_counts', 'attempt_counts_by_time')")
	    == 3, "tables and indexes exist");
	ok(access(wal, F_OK) == 0, "WAL files are kept after close");

	for (i = 0; i < 3; i++) {
		ok(db_open(&db, path, i == 1 ? DB_CREATE : 0) == PROV_OK,
		    "reopen %d (%s)", i + 1, i == 1 ? "DB_CREATE" : "plain");
		db_close(db);
	}
	ok(raw_int(path, "PRAGMA user_version") ==
	    (long long)prov_migrations_count, "reopening changes nothing");
	ok(raw_exec(path, "SELECT count(*) FROM machines") == 0,
	    "still a usable database");
	db_close(NULL);
	ok(1, "db_close(NULL) is a no-op");
}

static void
test_journal_mode(void)
{
	char		 path[512];
	sqlite3		*h;
	sqlite3_stmt	*st;
	int		 wal = 0;

	scratch_path(path, sizeof(path), "new.db");
	if (sqlite3_open_v2(path, &h, SQLITE_OPEN_READONLY,
	    NULL) == SQLITE_OK &&
	    sqlite3_prepare_v2(h, "PRAGMA journal_mode", -1, &st,
	    NULL) == SQLITE_OK) {
		if (sqlite3_step(st) == SQLITE_ROW)
			wal = strcmp((const char *)sqlite3_column_text(st, 0),
			    "wal") == 0;
		sqlite3_finalize(st);
	}
	sqlite3_close(h);
	ok(wal, "the journal is WAL");
}

static void
test_machines(void)
{
	char		path[512];
	struct db	*db;
	struct machine	m;
	struct seen	s;

	scratch_path(path, sizeof(path), "machines.db");
	if (db_open(&db, path, DB_CREATE) != PROV_OK) {
		ok(0, "open machines.db: %s", db_errmsg(NULL));
		return;
	}
	memset(&s, 0, sizeof(s));
	ok(db_machines_each(db, collect, &s) == PROV_OK && s.n == 0,
	    "an empty store lists nothing");

	m = mk("web-1", 1);
	ok(db_machine_add(db, &m) == PROV_OK, "add web-1");
	m = mk("web-2", 2);
	m.key_id = UINT64_C(1) << 53;
	ok(db_machine_add(db, &m) == PROV_OK, "add web-2");
	m = mk(HOST63, 3);
	ok(strlen(m.hostname) == PROV_MAX_HOSTNAME &&
	    db_machine_add(db, &m) == PROV_OK, "add a 63-byte hostname");
	/* Not NUL-terminated within its array: refused, not overrun. */
	m = mk("x", 4);
	memset(m.mac, 'f', sizeof(m.mac));
	ok(db_machine_add(db, &m) == PROV_UNAVAIL,
	    "an unterminated field is refused");
	m = mk("x", 4);
	ok(db_machine_add(db, &m) == PROV_OK, "add x");

	memset(&s, 0, sizeof(s));
	ok(db_machines_each(db, collect, &s) == PROV_OK && s.n == 4,
	    "four listed");
	ok(strcmp(s.m[0].hostname, "x") == 0 &&
	    strcmp(s.m[1].hostname, HOST63) == 0 &&
	    strcmp(s.m[2].hostname, "web-2") == 0 &&
	    strcmp(s.m[3].hostname, "web-1") == 0, "newest first");
	ok(strcmp(s.m[3].mac, "aa:bb:cc:dd:ee:01") == 0 &&
	    strcmp(s.m[3].ip, "192.0.2.1") == 0 &&
	    s.m[3].registered_at == 1770240001 && s.m[3].key_id == 1 &&
	    s.m[3].key_expires_at == 1770243601, "every field round-trips");
	ok(s.m[2].key_id == UINT64_C(1) << 53, "a 2^53 key id round-trips");

	memset(&s, 0, sizeof(s));
	s.stop_after = 2;
	ok(db_machines_each(db, collect, &s) == PROV_OK && s.n == 2,
	    "the callback stops the listing early");
	ok(count_rows(db) == 4, "and the next listing starts afresh");
	ok(db_ping(db) == PROV_OK, "ping after listing");
	db_close(db);

	ok(db_open(&db, path, 0) == PROV_OK && count_rows(db) == 4,
	    "rows survive a reopen");
	db_close(db);
}

/*
 * A store written by a program of schema 1, with its rate-limit log of one
 * row per attempt, opened by this one: the log becomes per-second counts,
 * so no attempt still in its window is forgotten.
 */
static void
test_upgrade_from_1(void)
{
	char		 path[512];
	struct db	*db;
	FILE		*f;

	scratch_path(path, sizeof(path), "v1.db");
	if ((f = fopen(path, "w")) != NULL)	/* sqlite takes it as empty */
		fclose(f);
	ok(raw_exec(path, prov_migrations[0]) == 0 &&
	    raw_int(path, "PRAGMA user_version") == 1,
	    "a store at schema 1, made by migration 001");
	ok(raw_exec(path, "INSERT INTO attempts VALUES "
	    "('192.0.2.1', 1770240000100), ('192.0.2.1', 1770240000900), "
	    "('192.0.2.1', 1770240001000), ('192.0.2.2', 1770240000000)") == 0,
	    "holding four attempts");

	ok(db_open(&db, path, 0) == PROV_OK, "opens: %s", db_errmsg(NULL));
	db_close(db);
	ok(raw_int(path, "PRAGMA user_version") ==
	    (long long)prov_migrations_count, "migrated to version %zu",
	    prov_migrations_count);
	ok(raw_int(path, "SELECT count(*) FROM sqlite_master WHERE name = "
	    "'attempts'") == 0, "the per-attempt log is gone");
	ok(raw_int(path, "SELECT group_concat(key || '@' || slice_s || '=' || "
	    "n, ' ') = '192.0.2.1@1770240000=2 192.0.2.1@1770240001=1 "
	    "192.0.2.2@1770240000=1' FROM (SELECT * FROM attempt_counts "
	    "ORDER BY key, slice_s)") == 1,
	    "its attempts are counted per client and second");
}

/*
 * A store written by a program of schema 2 keeps its registrations, ids
 * included, when the machines table is rebuilt to allow NULLs; the new
 * columns start NULL and the (mac, id) index exists.
 */
static void
test_upgrade_from_2(void)
{
	char		 path[512];
	struct db	*db;
	struct seen	 s;
	FILE		*f;

	scratch_path(path, sizeof(path), "v2.db");
	if ((f = fopen(path, "w")) != NULL)
		fclose(f);
	ok(raw_exec(path, prov_migrations[0]) == 0 &&
	    raw_exec(path, prov_migrations[1]) == 0 &&
	    raw_int(path, "PRAGMA user_version") == 2,
	    "a store at schema 2, made by migrations 001 and 002");
	ok(raw_exec(path, "INSERT INTO machines VALUES "
	    "(7, 'web-1', 'aa:bb:cc:dd:ee:01', '192.0.2.1', 1770240001, 11, "
	    "1770243601), "
	    "(9, 'web-2', 'aa:bb:cc:dd:ee:02', '192.0.2.2', 1770240002, 12, "
	    "1770243602)") == 0, "holding two registrations");

	ok(db_open(&db, path, 0) == PROV_OK, "opens: %s", db_errmsg(NULL));
	memset(&s, 0, sizeof(s));
	ok(db_machines_each(db, collect, &s) == PROV_OK && s.n == 2,
	    "both rows kept");
	ok(s.m[0].id == 9 && s.m[1].id == 7, "with their ids");
	ok(strcmp(s.m[1].hostname, "web-1") == 0 &&
	    strcmp(s.m[1].mac, "aa:bb:cc:dd:ee:01") == 0 &&
	    strcmp(s.m[1].ip, "192.0.2.1") == 0 &&
	    s.m[1].registered_at == 1770240001 && s.m[1].key_id == 11 &&
	    s.m[1].key_expires_at == 1770243601 && s.m[1].revoked_at == 0 &&
	    s.m[1].tailscale_ip[0] == '\0', "and every field");
	db_close(db);
	ok(raw_int(path, "PRAGMA user_version") ==
	    (long long)prov_migrations_count, "migrated to version %zu",
	    prov_migrations_count);
	ok(raw_int(path, "SELECT count(*) FROM machines WHERE revoked_at IS "
	    "NULL AND legacy_tailscale_ip IS NULL") == 2,
	    "the new columns start NULL");
	ok(raw_int(path, "SELECT count(*) FROM sqlite_master WHERE type = "
	    "'index' AND name = 'machines_by_mac'") == 1,
	    "the (mac, id) index exists");
	ok(raw_int(path, "SELECT count(*) FROM sqlite_master WHERE name = "
	    "'machines_new'") == 0, "no rebuild leftovers");
}

/*
 * What a store holds as NULL reads back as "" or 0, and "" or 0 is written
 * as NULL: an unknown MAC, an imported row without address or key.
 */
static void
test_nulls(void)
{
	char		 path[512];
	struct db	*db;
	struct machine	 m;
	struct seen	 s;

	scratch_path(path, sizeof(path), "nulls.db");
	if (db_open(&db, path, DB_CREATE) != PROV_OK) {
		ok(0, "open nulls.db: %s", db_errmsg(NULL));
		return;
	}
	m = mk("legacy", 1);
	m.mac[0] = '\0';
	ok(db_machine_add(db, &m) == PROV_OK, "add one with an unknown MAC");
	m = mk("imported", 2);
	m.mac[0] = m.ip[0] = '\0';
	m.key_id = 0;
	(void)snprintf(m.tailscale_ip, sizeof(m.tailscale_ip), "100.64.0.2");
	ok(db_machine_add(db, &m) == PROV_OK, "add one without key or address");
	memset(&s, 0, sizeof(s));
	ok(db_machines_each(db, collect, &s) == PROV_OK && s.n == 2,
	    "both listed");
	ok(s.m[1].mac[0] == '\0' && strcmp(s.m[1].ip, "192.0.2.1") == 0 &&
	    s.m[1].key_id == 1, "the unknown MAC reads back empty");
	ok(s.m[0].mac[0] == '\0' && s.m[0].ip[0] == '\0' &&
	    s.m[0].key_id == 0 && s.m[0].key_expires_at == 0 &&
	    strcmp(s.m[0].tailscale_ip, "100.64.0.2") == 0,
	    "the keyless row reads back with its tailnet address");
	db_close(db);
	ok(raw_int(path, "SELECT count(*) FROM machines WHERE mac IS NULL") ==
	    2 && raw_int(path, "SELECT count(*) FROM machines WHERE key_id IS "
	    "NULL AND key_expires_at IS NULL AND ip IS NULL") == 1,
	    "stored as NULL, not as empty text or 0");
	ok(raw_exec(path, "UPDATE machines SET hostname = NULL") == -1,
	    "a hostname is still required");
}

static void
test_refusals(void)
{
	char		path[512], link[512];
	struct db	*db;
	FILE		*f;

	scratch_path(path, sizeof(path), "machines.db");
	ok(raw_exec(path, "PRAGMA user_version = 99") == 0, "set version 99");
	ok(db_open(&db, path, 0) == PROV_UNAVAIL && db == NULL,
	    "a schema newer than the program is refused");
	ok(strstr(db_errmsg(NULL), "newer") != NULL, "saying why: %s",
	    db_errmsg(NULL));
	ok(db_open(&db, path, DB_CREATE) == PROV_UNAVAIL,
	    "with DB_CREATE too");
	ok(raw_int(path, "PRAGMA user_version") == 99,
	    "and the file is left alone");

	scratch_path(path, sizeof(path), "garbage.db");
	if ((f = fopen(path, "w")) != NULL) {
		for (int i = 0; i < 200; i++)
			fputs("this is not a database file at all\n", f);
		fclose(f);
	}
	ok(db_open(&db, path, 0) == PROV_UNAVAIL, "a non-database is refused");
	ok(*db_errmsg(NULL) != '\0', "saying why: %s", db_errmsg(NULL));

	scratch_path(path, sizeof(path), "nowhere.db");
	scratch_path(link, sizeof(link), "link.db");
	ok(symlink(path, link) == 0 && db_open(&db, link, DB_CREATE) ==
	    PROV_UNAVAIL && access(path, F_OK) == -1,
	    "DB_CREATE does not follow a dangling symlink");
	ok(db_open(&db, "", DB_CREATE) == PROV_UNAVAIL, "an empty path");
}

/*
 * Opens path in a child that cannot write it (as nobody when the test runs
 * as root, since root ignores file modes). The exit status holds one bit
 * per check, so the parent can report each.
 */
#define RO_OPEN		0x01
#define RO_PING		0x02
#define RO_LIST		0x04
#define RO_ADD		0x08
#define RO_WHY		0x10
#define RO_WRITABLE	0x20

static int
read_only_child(const char *path)
{
	struct db	*db;
	struct machine	 m = mk("ro", 9);
	int		 bits = 0;

	if (getuid() == 0 && (setgid(65534) == -1 || setuid(65534) == -1))
		return 0x80;
	if (db_open(&db, path, 0) != PROV_OK)
		return 0;
	bits |= RO_OPEN;
	if (db_ping(db) == PROV_OK)
		bits |= RO_PING;
	if (count_rows(db) == 4)
		bits |= RO_LIST;
	if (db_machine_add(db, &m) == PROV_UNAVAIL)
		bits |= RO_ADD;
	if (*db_errmsg(db) != '\0')
		bits |= RO_WHY;
	if (db_writable(db) == PROV_UNAVAIL &&
	    strstr(db_errmsg(db), "read-only") != NULL)
		bits |= RO_WRITABLE;
	db_close(db);
	return bits;
}

static void
test_read_only(void)
{
	char		path[512], side[600];
	struct db	*db;
	pid_t		pid;
	int		status = 0, bits;

	scratch_path(path, sizeof(path), "ro.db");
	if (db_open(&db, path, DB_CREATE) != PROV_OK) {
		ok(0, "open ro.db: %s", db_errmsg(NULL));
		return;
	}
	for (int i = 1; i <= 4; i++) {
		struct machine	m = mk("ro", i);

		(void)db_machine_add(db, &m);
	}
	db_close(db);
	(void)chmod(path, 0444);
	(void)snprintf(side, sizeof(side), "%s-wal", path);
	(void)chmod(side, 0444);
	(void)snprintf(side, sizeof(side), "%s-shm", path);
	(void)chmod(side, 0444);

	fflush(stdout);
	if ((pid = fork()) == 0)
		_exit(read_only_child(path));
	bits = pid > 0 && waitpid(pid, &status, 0) == pid &&
	    WIFEXITED(status) ? WEXITSTATUS(status) : 0;
	ok(bits & RO_OPEN, "read-only: opens");
	ok(bits & RO_PING, "read-only: ping answers");
	ok(bits & RO_LIST, "read-only: lists the rows");
	ok(bits & RO_ADD, "read-only: adding is PROV_UNAVAIL");
	ok(bits & RO_WHY, "read-only: with a reason");
	ok(bits & RO_WRITABLE, "read-only: db_writable() says so");

	(void)chmod(path, 0600);
	ok(db_open(&db, path, 0) == PROV_OK && count_rows(db) == 4,
	    "read-only: rows intact afterwards");
	ok(db_writable(db) == PROV_OK, "and writable again: %s",
	    db_errmsg(db));
	db_close(db);
}

/* Several processes open (and so migrate) one new database at once. */
static void
test_concurrent_create(void)
{
	enum { NPROC = 4 };
	char		path[512];
	struct db	*db;
	pid_t		pid[NPROC];
	int		i, status, good = 0;

	scratch_path(path, sizeof(path), "race.db");
	fflush(stdout);
	for (i = 0; i < NPROC; i++) {
		if ((pid[i] = fork()) == 0) {
			struct machine	m = mk("race", i);
			int		rc;

			rc = db_open(&db, path, DB_CREATE) == PROV_OK &&
			    db_machine_add(db, &m) == PROV_OK ? 0 : 1;
			if (rc != 0)
				fprintf(stderr, "race %d: %s\n", i,
				    db_errmsg(db));
			db_close(db);
			_exit(rc);
		}
	}
	for (i = 0; i < NPROC; i++)
		if (pid[i] > 0 && waitpid(pid[i], &status, 0) == pid[i] &&
		    WIFEXITED(status) && WEXITSTATUS(status) == 0)
			good++;
	ok(good == NPROC, "%d processes created and wrote one new database",
	    good);
	ok(db_open(&db, path, 0) == PROV_OK && count_rows(db) == NPROC,
	    "every row is there");
	db_close(db);
	ok(raw_int(path, "PRAGMA user_version") ==
	    (long long)prov_migrations_count, "migrated exactly once");
}

int
main(void)
{

	umask(022);
	if (scratch_make("db") == -1 || chmod(scratch_dir, 0755) == -1)
		return 1;
	test_create_and_migrate();
	test_journal_mode();
	test_machines();
	test_upgrade_from_1();
	test_upgrade_from_2();
	test_nulls();
	test_refusals();
	test_read_only();
	test_concurrent_create();
	scratch_remove();
	return done_testing();
}
