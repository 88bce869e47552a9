/*
 * import.c: brings the Flask provisioner's registration history over.
 *
 * That service kept machines.json in the same data directory: one JSON
 * object keyed by MAC, each value {"hostname", "mac", "registered_at" (a
 * float of Unix seconds), "tailscale_ip" (mostly "")}. Each record is
 * checked as a registration would be (hostname a DNS label, MAC six hex
 * octets or unknown), registered_at must be a time, and tailscale_ip is
 * kept only when it is an IP address. A record that fails is named in the
 * log and skipped. The rows have no key and no client address (NULL).
 *
 * All records go in as one transaction: a crash or a failure half-way
 * leaves the database as it was and the file where it was. Once committed,
 * the file is renamed machines.json.imported so no later boot reads it
 * again; a crash between the commit and the rename costs nothing, since a
 * row already there (same hostname, MAC and time, no key) is not added
 * twice.
 */
#include "config.h"

#include <sys/stat.h>

#include <arpa/inet.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <json-c/json.h>
#include <sqlite3.h>

#include "bounds.h"
#include "db.h"
#include "import.h"
#include "log.h"
#include "validate.h"

#define IMPORT_NAME	"machines.json"
#define IMPORT_DONE	"machines.json.imported"

/*
 * Largest file read. The Flask service kept one record per MAC, about 150
 * bytes each; 16 MiB is a hundred thousand machines.
 */
#define IMPORT_MAX	(16 * 1024 * 1024)

/* 9999-12-31T23:59:59Z: the last second an RFC 3339 time can show. */
#define IMPORT_MAX_TIME	253402300799.0

/*
 * Adds a row unless the same one is there already, which is what makes a
 * second run after a crash between commit and rename harmless.
 */
static const char	sql_add[] =
    "INSERT INTO machines (hostname, mac, registered_at, legacy_tailscale_ip) "
    "SELECT ?1, ?2, ?3, ?4 WHERE NOT EXISTS (SELECT 1 FROM machines "
    "WHERE key_id IS NULL AND ip IS NULL AND hostname = ?1 AND mac IS ?2 "
    "AND registered_at = ?3)";

/*
 * Reads the whole file into a NUL-terminated buffer the caller frees.
 * Returns NULL when there is no file (*missing set) or on an error, which
 * is logged.
 */
static char *
read_file(int dirfd, size_t *len, int *missing)
{
	struct stat	 st;
	char		*buf = NULL;
	size_t		 got = 0;
	ssize_t		 n;
	int		 fd;

	*missing = 0;
	fd = openat(dirfd, IMPORT_NAME,
	    O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
	if (fd == -1) {
		if (errno == ENOENT)
			*missing = 1;
		else
			log_msg("%s: %s; not imported", IMPORT_NAME,
			    strerror(errno));
		return NULL;
	}
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
		log_msg("%s: not a regular file; not imported", IMPORT_NAME);
		goto fail;
	}
	if (st.st_size > IMPORT_MAX) {
		log_msg("%s: larger than %d bytes; not imported", IMPORT_NAME,
		    IMPORT_MAX);
		goto fail;
	}
	if ((buf = malloc((size_t)st.st_size + 1)) == NULL) {
		log_msg("%s: out of memory; not imported", IMPORT_NAME);
		goto fail;
	}
	/* Read no more than it was: it cannot grow past the cap meanwhile. */
	while (got < (size_t)st.st_size &&
	    (n = read(fd, buf + got, (size_t)st.st_size - got)) != 0) {
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1) {
			log_msg("%s: %s; not imported", IMPORT_NAME,
			    strerror(errno));
			goto fail;
		}
		got += (size_t)n;
	}
	close(fd);
	buf[got] = '\0';
	*len = got;
	return buf;
fail:
	free(buf);
	close(fd);
	return NULL;
}

/* A string member, or NULL when absent or not a string. */
static const char *
member(struct json_object *obj, const char *name, size_t *len)
{
	struct json_object	*v;

	if (!json_object_object_get_ex(obj, name, &v) ||
	    !json_object_is_type(v, json_type_string))
		return NULL;
	*len = (size_t)json_object_get_string_len(v);
	return json_object_get_string(v);
}

/*
 * Checks one record and fills m. Returns NULL, or why it is refused (a
 * fixed text: the record's content is not trusted into the log).
 */
static const char *
check_record(const char *key, struct json_object *rec, struct machine *m)
{
	struct json_object	*v;
	struct in6_addr		 a6;
	struct in_addr		 a4;
	const char		*s;
	size_t			 len = 0;
	double			 t;

	memset(m, 0, sizeof(*m));
	if (!json_object_is_type(rec, json_type_object))
		return "not a JSON object";
	if ((s = member(rec, "hostname", &len)) == NULL)
		return "hostname missing or not a string";
	if (!validate_hostname(s, len))
		return "hostname is not 1-63 letters, digits or '-'";
	memcpy(m->hostname, s, len);

	/* The record's own mac, else the key it is filed under. */
	if (json_object_object_get_ex(rec, "mac", &v)) {
		if ((s = member(rec, "mac", &len)) == NULL)
			return "mac is not a string";
	} else {
		s = key;
		len = strlen(key);
	}
	if (!validate_reg_mac(s, len, m->mac))
		return "mac is neither six hex octets nor unknown";

	if (!json_object_object_get_ex(rec, "registered_at", &v) ||
	    (!json_object_is_type(v, json_type_double) &&
	    !json_object_is_type(v, json_type_int)))
		return "registered_at missing or not a number";
	t = json_object_get_double(v);
	if (!isfinite(t) || t <= 0 || t > IMPORT_MAX_TIME)
		return "registered_at is not a time";
	m->registered_at = (int64_t)t;	/* whole seconds, as stored */

	/* Kept when it is an address; "" (what Flask always wrote) is not. */
	if ((s = member(rec, "tailscale_ip", &len)) != NULL &&
	    len < sizeof(m->tailscale_ip) && strlen(s) == len &&
	    (inet_pton(AF_INET, s, &a4) == 1 ||
	    inet_pton(AF_INET6, s, &a6) == 1))
		memcpy(m->tailscale_ip, s, len + 1);
	return NULL;
}

/* Up to 40 bytes of an untrusted key, fit for one log line. */
static void
printable(const char *s, char *out, size_t size)
{
	size_t	i;

	for (i = 0; s[i] != '\0' && i + 1 < size && i < 40; i++)
		out[i] = (s[i] >= 0x20 && s[i] < 0x7f && s[i] != '"') ?
		    s[i] : '?';
	out[i] = '\0';
}

/* Adds m unless it is there. Returns 1 added, 0 there already, -1 error. */
static int
add(struct db *db, const struct machine *m)
{
	sqlite3_stmt	*st;
	int		 rc;

	if ((st = db_prepare(db, sql_add)) == NULL)
		return -1;
	if (sqlite3_bind_text(st, 1, m->hostname, -1, SQLITE_STATIC) !=
	    SQLITE_OK ||
	    (m->mac[0] != '\0' ? sqlite3_bind_text(st, 2, m->mac, -1,
	    SQLITE_STATIC) : sqlite3_bind_null(st, 2)) != SQLITE_OK ||
	    sqlite3_bind_int64(st, 3, m->registered_at) != SQLITE_OK ||
	    (m->tailscale_ip[0] != '\0' ? sqlite3_bind_text(st, 4,
	    m->tailscale_ip, -1, SQLITE_STATIC) : sqlite3_bind_null(st,
	    4)) != SQLITE_OK ||
	    (rc = sqlite3_step(st)) != SQLITE_DONE) {
		db_set_error(db, "import");
		rc = -1;
	} else
		rc = sqlite3_changes(db_handle(db)) > 0;
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	return rc;
}

/*
 * Adds every good record of obj in one transaction. Returns 0 with the
 * counts set, or -1 (logged) with nothing added.
 */
static int
import_all(struct db *db, struct json_object *obj, unsigned int *added,
    unsigned int *there, unsigned int *skipped)
{
	sqlite3		*h = db_handle(db);
	struct machine	 m;
	const char	*why;
	char		 name[48];
	unsigned int	 n = 0;
	int		 rc;

	if (sqlite3_exec(h, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK) {
		db_set_error(db, "begin import");
		goto fail;
	}
	json_object_object_foreach(obj, key, rec) {
		n++;
		if ((why = check_record(key, rec, &m)) != NULL) {
			printable(key, name, sizeof(name));
			log_msg("%s: record %u (\"%s\") skipped: %s",
			    IMPORT_NAME, n, name, why);
			(*skipped)++;
			continue;
		}
		if ((rc = add(db, &m)) == -1)
			goto fail;
		if (rc == 1)
			(*added)++;
		else
			(*there)++;
	}
	if (sqlite3_exec(h, "COMMIT", NULL, NULL, NULL) != SQLITE_OK) {
		db_set_error(db, "commit import");
		goto fail;
	}
	return 0;
fail:
	if (!sqlite3_get_autocommit(h))
		(void)sqlite3_exec(h, "ROLLBACK", NULL, NULL, NULL);
	log_msg("%s: nothing imported, file left in place: %s", IMPORT_NAME,
	    db_errmsg(db));
	return -1;
}

void
import_machines(const struct conf *cfg, int dirfd)
{
	struct json_tokener	*tok;
	struct json_object	*obj = NULL;
	struct db		*db = NULL;
	char			*buf;
	size_t			 len = 0;
	unsigned int		 added = 0, there = 0, skipped = 0;
	int			 missing;

	if ((buf = read_file(dirfd, &len, &missing)) == NULL)
		return;
	if ((tok = json_tokener_new_ex(PROV_MAX_JSON_DEPTH)) != NULL) {
		json_tokener_set_flags(tok, JSON_TOKENER_STRICT |
		    JSON_TOKENER_VALIDATE_UTF8);
		obj = json_tokener_parse_ex(tok, buf, (int)len);
		if (json_tokener_get_error(tok) != json_tokener_success ||
		    json_tokener_get_parse_end(tok) != len) {
			json_object_put(obj);
			obj = NULL;
		}
		json_tokener_free(tok);
	}
	free(buf);
	if (len > INT_MAX || obj == NULL ||
	    !json_object_is_type(obj, json_type_object)) {
		log_msg("%s: not one JSON object; not imported", IMPORT_NAME);
		goto out;
	}

	/* Run as root in a directory the service user writes: no symlinks. */
	if (db_open(&db, cfg->db_path, DB_NOFOLLOW) != PROV_OK) {
		log_msg("%s: not imported: %s", IMPORT_NAME, db_errmsg(NULL));
		goto out;
	}
	if (import_all(db, obj, &added, &there, &skipped) == -1)
		goto out;
	if (renameat(dirfd, IMPORT_NAME, dirfd, IMPORT_DONE) != 0 ||
	    fsync(dirfd) != 0) {
		log_msg("%s: imported, but not renamed %s: %s", IMPORT_NAME,
		    IMPORT_DONE, strerror(errno));
		goto out;
	}
	log_msg("%s: imported %u records (%u there already, %u skipped); "
	    "renamed %s", IMPORT_NAME, added, there, skipped, IMPORT_DONE);
out:
	db_close(db);
	json_object_put(obj);
}
