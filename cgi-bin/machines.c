/*
 * machines: the operator's view of every machine we enrolled, and its
 * revocation. Admin token only (the enrollment token gets 403).
 *
 *	GET /machines[?all=1][&mac=M][&hostname=H][&state=S][&limit=N
 *	    [&cursor=C]]
 *	DELETE /machines/<id>
 *
 * A row is a registration joined with what headscale knows of its key
 * (hsview.c): state pending, joined, expired, gone or revoked, and the
 * node's addresses when one joined. By default the newest registration
 * per MAC is listed; all=1 lists them all.
 *
 * The table is read in pages (registry.c), each its own short read
 * transaction, copied out before a byte of it is written: a client that
 * stops reading holds a worker, never a read snapshot, so the WAL keeps
 * being checkpointed. Memory stays one page whatever the table holds.
 * Without limit the whole list streams ("[", rows, "]", no
 * Content-Length); headers go out with the first row, so a database that
 * fails before that still gets a clean 503, and one that fails later
 * leaves the array unclosed, so no client takes a partial list for the
 * whole. With limit=N (1..1000) the page is gathered first and a Link
 * header (RFC 8288) names the next page by an opaque cursor.
 *
 * When headscale cannot be asked, rows come from our own records: node
 * fields null, state from the key's expiry, and the response carries
 * "Headscale-Status: unreachable".
 */
#include "config.h"

#include <json-c/json.h>

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "hsview.h"
#include "registry.h"
#include "resp.h"
#include "revoke.h"
#include "serve.h"
#include "validate.h"

/* Rows read per transaction when streaming. */
#define PAGE_ROWS		64
#define LIMIT_MAX		1000
/* Longest query string taken: every parameter at its longest fits. */
#define QUERY_MAX		512


struct query {
	struct registry_filter	 f;
	int			 state;		/* ST_NONE: any */
	unsigned int		 limit;		/* 0: stream everything */
	int64_t			 before;	/* the cursor, INT64_MAX */
};

struct listing {
	struct req		*r;
	const struct hs_view	*view;		/* NULL: headscale unreachable */
	int64_t			 now;
	unsigned long		 rows;		/* written so far */
};

/* "%2C" and "+" decoded into dst (size bytes); -1 when malformed. */
static int
url_decode(const char *s, size_t len, char *dst, size_t size, size_t *out)
{
	size_t	i, n = 0;
	int	hi, lo;

	for (i = 0; i < len; i++) {
		if (n + 1 >= size)
			return -1;
		if (s[i] == '%') {
			if (i + 2 >= len || !isxdigit((unsigned char)s[i + 1]) ||
			    !isxdigit((unsigned char)s[i + 2]))
				return -1;
			hi = isdigit((unsigned char)s[i + 1]) ? s[i + 1] - '0' :
			    (tolower((unsigned char)s[i + 1]) - 'a' + 10);
			lo = isdigit((unsigned char)s[i + 2]) ? s[i + 2] - '0' :
			    (tolower((unsigned char)s[i + 2]) - 'a' + 10);
			dst[n++] = (char)(hi * 16 + lo);
			i += 2;
		} else
			dst[n++] = s[i] == '+' ? ' ' : s[i];
	}
	dst[n] = '\0';
	*out = n;
	return memchr(dst, '\0', n) != NULL ? -1 : 0;
}

/* A decimal number in [1, max], digits only. */
static int
parse_number(const char *s, int64_t max, int64_t *v)
{
	char		*end;
	long long	 n;

	if (*s < '1' || *s > '9')
		return -1;
	errno = 0;
	n = strtoll(s, &end, 10);
	if (errno != 0 || *end != '\0' || n < 1 || n > max)
		return -1;
	*v = n;
	return 0;
}

/* Sets q from one name=value pair; a fixed message into *msg on error. */
static int
query_param(struct query *q, const char *name, const char *val, size_t len,
    unsigned int *seen, const char **msg)
{
	static const char *const names[] = {
		"all", "mac", "hostname", "state", "limit", "cursor"
	};
	int64_t		v;
	size_t		i;

	for (i = 0; i < sizeof names / sizeof names[0]; i++)
		if (strcmp(name, names[i]) == 0)
			break;
	if (i == sizeof names / sizeof names[0]) {
		*msg = "unknown query parameter";
		return -1;
	}
	if (*seen & (1u << i)) {
		*msg = "query parameter given twice";
		return -1;
	}
	*seen |= 1u << i;
	switch (i) {
	case 0:
		if (strcmp(val, "1") != 0 && strcmp(val, "0") != 0)
			goto bad;
		q->f.all = val[0] == '1';
		return 0;
	case 1:
		if (!validate_mac(val, len, q->f.mac))
			goto bad;
		return 0;
	case 2:
		if (!validate_hostname(val, len))
			goto bad;
		memcpy(q->f.hostname, val, len + 1);
		return 0;
	case 3:
		for (v = 0; v < (int64_t)HS_NSTATES; v++)
			if (strcmp(val, hs_state_names[v]) == 0)
				break;
		if (v == (int64_t)HS_NSTATES)
			goto bad;
		q->state = (int)v;
		return 0;
	case 4:
		if (parse_number(val, LIMIT_MAX, &v) == -1)
			goto bad;
		q->limit = (unsigned int)v;
		return 0;
	default:
		/* The cursor is the id the next page starts below. */
		if (parse_number(val, INT64_MAX, &q->before) == -1)
			goto bad;
		return 0;
	}
bad:
	*msg = "invalid query parameter value";
	return -1;
}

/* Parses QUERY_STRING into q. 0, or -1 with *msg for a 400. */
static int
parse_query(const char *qs, struct query *q, const char **msg)
{
	char		 name[16], val[QUERY_MAX];
	const char	*p, *amp, *eq;
	size_t		 nlen, vlen;
	unsigned int	 seen = 0;

	memset(q, 0, sizeof *q);
	q->state = ST_NONE;
	q->before = INT64_MAX;
	if (qs == NULL || *qs == '\0')
		return 0;
	if (strlen(qs) > QUERY_MAX) {
		*msg = "query string too long";
		return -1;
	}
	for (p = qs; *p != '\0'; p = *amp != '\0' ? amp + 1 : amp) {
		amp = p + strcspn(p, "&");
		eq = memchr(p, '=', (size_t)(amp - p));
		if (amp == p)
			continue;
		if (eq == NULL || url_decode(p, (size_t)(eq - p), name,
		    sizeof name, &nlen) == -1 || url_decode(eq + 1,
		    (size_t)(amp - eq - 1), val, sizeof val, &vlen) == -1) {
			*msg = "malformed query string";
			return -1;
		}
		if (query_param(q, name, val, vlen, &seen, msg) == -1)
			return -1;
	}
	if (q->before != INT64_MAX && q->limit == 0) {
		*msg = "cursor needs limit";
		return -1;
	}
	return 0;
}

/* Adds key: a timestamp, or null when t is 0 (or out of range). */
static int
set_time(struct json_object *obj, const char *key, int64_t t)
{
	char	buf[RESP_TIME_LEN];

	if (t == 0 || resp_time(t, buf, sizeof buf) == -1)
		return json_object_object_add(obj, key, NULL) != 0 ? -1 : 0;
	return resp_set(obj, key, json_object_new_string(buf));
}

/* Adds key: the string s, or null when it is "". */
static int
set_str(struct json_object *obj, const char *key, const char *s)
{
	if (*s == '\0')
		return json_object_object_add(obj, key, NULL);
	return resp_set(obj, key, json_object_new_string(s));
}

/* One row as JSON, or NULL when out of memory. */
static struct json_object *
row_json(const struct machine *m, const struct hs_view *v, int64_t now)
{
	struct json_object	*obj, *ips = NULL;
	const struct hs_node	*n;
	enum hs_state		 st;
	int			 fail;

	st = hsview_state(m, v, now, &n);
	if ((obj = json_object_new_object()) == NULL)
		return NULL;
	fail = resp_set(obj, "id", json_object_new_int64(m->id)) ||
	    resp_set(obj, "hostname", json_object_new_string(m->hostname)) ||
	    set_str(obj, "mac", m->mac) ||
	    set_str(obj, "ip", m->ip) ||
	    set_time(obj, "registered_at", m->registered_at) ||
	    (m->key_id != 0 ? resp_set(obj, "key_id",
	    json_object_new_uint64(m->key_id)) :
	    json_object_object_add(obj, "key_id", NULL)) ||
	    set_time(obj, "key_expires_at", m->key_id == 0 ? 0 :
	    m->key_expired_at != 0 && m->key_expired_at < m->key_expires_at ?
	    m->key_expired_at : m->key_expires_at) ||
	    (st != ST_NONE ? resp_set(obj, "state",
	    json_object_new_string(hs_state_names[st])) :
	    json_object_object_add(obj, "state", NULL)) ||
	    set_time(obj, "revoked_at", m->revoked_at);
	if (!fail && n != NULL) {
		if ((ips = json_object_new_array()) == NULL ||
		    (n->ipv4[0] != '\0' && json_object_array_add(ips,
		    json_object_new_string(n->ipv4)) != 0) ||
		    (n->ipv6[0] != '\0' && json_object_array_add(ips,
		    json_object_new_string(n->ipv6)) != 0))
			fail = 1;
		fail = fail ||
		    resp_set(obj, "node_id", json_object_new_uint64(n->id)) ||
		    set_str(obj, "tailscale_ip", n->ipv4) ||
		    resp_set(obj, "ip_addresses", ips) ||
		    resp_set(obj, "online", json_object_new_boolean(n->online)) ||
		    set_time(obj, "last_seen", n->last_seen) ||
		    set_str(obj, "node_name", n->name);
		ips = NULL;
	} else if (!fail) {
		/* Rows imported from the old provisioner keep their address. */
		fail = json_object_object_add(obj, "node_id", NULL) ||
		    set_str(obj, "tailscale_ip", m->tailscale_ip) ||
		    json_object_object_add(obj, "ip_addresses", NULL) ||
		    json_object_object_add(obj, "online", NULL) ||
		    json_object_object_add(obj, "last_seen", NULL) ||
		    json_object_object_add(obj, "node_name", NULL);
	}
	json_object_put(ips);
	if (fail) {
		json_object_put(obj);
		return NULL;
	}
	return obj;
}

/*
 * Reads rows below *before into rows[0..max) that pass the state filter,
 * page by page, until max are kept or the table ends (*end set). *before
 * moves past every row read.
 */
static enum prov_err
gather(struct listing *l, const struct query *q, int64_t *before,
    struct machine *rows, size_t max, size_t *kept, int *end)
{
	const struct hs_node	*n;
	size_t			 got, i, w;
	enum prov_err		 e;

	*kept = 0;
	*end = 0;
	while (*kept < max && !*end) {
		e = registry_page(l->r->db, &q->f, *before, rows + *kept,
		    max - *kept, &got);
		if (e != PROV_OK)
			return e;
		if (got < max - *kept)
			*end = 1;
		if (got > 0)
			*before = rows[*kept + got - 1].id;
		/* Compacted in place: what the state filter keeps moves down. */
		for (i = 0, w = *kept; i < got; i++) {
			if (q->state != ST_NONE && (int)hsview_state(&rows[*kept + i],
			    l->view, l->now, &n) != q->state)
				continue;
			if (w != *kept + i)
				rows[w] = rows[*kept + i];
			w++;
		}
		*kept = w;
	}
	return PROV_OK;
}

/* Headers of a 200 listing: the headscale note and Link when given. */
static int
listing_start(struct listing *l, const char *link)
{
	struct req	*r = l->r;

	if (resp_begin(r, 200, -1) == -1 ||
	    (l->view == NULL &&
	    resp_header(r, "Headscale-Status", "unreachable") == -1) ||
	    (link != NULL && resp_header(r, "Link", link) == -1) ||
	    resp_end_headers(r) == -1 || resp_write(r, "[", 1) == -1)
		return -1;
	return 0;
}

/* Writes rows[0..n) as array elements. 0, or -1 with the reason set. */
static int
write_rows(struct listing *l, const struct machine *rows, size_t n,
    enum prov_err *err)
{
	struct json_object	*obj;
	size_t			 i;
	int			 rc;

	for (i = 0; i < n; i++) {
		if ((obj = row_json(&rows[i], l->view, l->now)) == NULL) {
			*err = PROV_ENOMEM;
			return -1;
		}
		rc = l->rows == 0 ? 0 : resp_write(l->r, ",", 1);
		if (rc == 0)
			rc = resp_write_json(l->r, obj);
		json_object_put(obj);
		if (rc == -1) {
			*err = l->r->out_failed ? PROV_SYSTEM : PROV_ENOMEM;
			return -1;
		}
		l->rows++;
	}
	return 0;
}

/* The Link header naming the page after the row with id last. */
static void
next_link(const struct query *q, int64_t last, char *buf, size_t len)
{
	int	n;

	n = snprintf(buf, len, "</machines?limit=%u&cursor=%" PRId64 "%s%s%s"
	    "%s%s%s%s>; rel=\"next\"", q->limit, last,
	    q->f.all ? "&all=1" : "",
	    q->f.mac[0] != '\0' ? "&mac=" : "", q->f.mac,
	    q->f.hostname[0] != '\0' ? "&hostname=" : "", q->f.hostname,
	    q->state != ST_NONE ? "&state=" : "",
	    q->state != ST_NONE ? hs_state_names[q->state] : "");
	if (n < 0 || (size_t)n >= len)
		buf[0] = '\0';
}

static enum prov_err
list_machines(struct req *r)
{
	struct query	 q;
	struct listing	 l = { r, NULL, (int64_t)time(NULL), 0 };
	struct machine	*rows;
	size_t		 max, n;
	int64_t		 before;
	int		 end = 0;
	char		 why[PROV_MAX_REASON] = "", link[256];
	enum prov_err	 e = PROV_OK, werr = PROV_OK;

	if (parse_query(req_param(r, "QUERY_STRING"), &q, &r->errmsg) == -1)
		return PROV_BADREQ;
	/* Once per listing at most, and cached: hsview.c. */
	if (hsview_get(r->cfg, 0, &l.view, why, sizeof why) != PROV_OK) {
		l.view = NULL;
		req_why(r, "headscale unreachable, own records only: %s", why);
	}
	max = q.limit != 0 ? q.limit : PAGE_ROWS;
	if ((rows = calloc(max, sizeof *rows)) == NULL)
		return PROV_ENOMEM;
	before = q.before;

	if (q.limit != 0) {
		/* One page, gathered before the headers for its Link. */
		e = gather(&l, &q, &before, rows, max, &n, &end);
		if (e == PROV_OK) {
			if (n == max)
				next_link(&q, rows[n - 1].id, link, sizeof link);
			if (listing_start(&l, n == max && link[0] != '\0' ?
			    link : NULL) == -1)
				e = PROV_SYSTEM;
			else if (write_rows(&l, rows, n, &werr) == -1)
				e = werr;
		}
	} else {
		while (e == PROV_OK && !end) {
			if ((e = gather(&l, &q, &before, rows, max, &n,
			    &end)) != PROV_OK)
				break;
			if (n == 0 && !end)
				continue;
			if (r->status == 0 && (n > 0 || end) &&
			    listing_start(&l, NULL) == -1)
				e = PROV_SYSTEM;
			else if (write_rows(&l, rows, n, &werr) == -1)
				e = werr;
		}
	}
	free(rows);

	if (e != PROV_OK) {
		if (r->why[0] == '\0' || l.view == NULL)
			req_why(r, "listing: %s", e == PROV_UNAVAIL ?
			    db_errmsg(r->db) : prov_strerror(e));
		/* Nothing sent yet: a clean error response is still possible. */
		if (r->status == 0)
			return e;
		if (!r->out_failed)
			req_why(r, "listing failed after %lu rows, left unclosed",
			    l.rows);
		return PROV_OK;
	}
	if (r->status == 0 && listing_start(&l, NULL) == -1)
		return PROV_SYSTEM;
	(void)resp_write(r, "]", 1);
	return PROV_OK;
}

/* DELETE /machines/<id>: revoke, idempotently. */
static enum prov_err
delete_machine(struct req *r, const char *path)
{
	struct machine		 m;
	struct json_object	*obj;
	const struct hs_view	*v = NULL;
	int64_t			 id;
	int			 found;
	char			 why[PROV_MAX_REASON] = "";
	enum prov_err		 e;

	if (*path != '/' || parse_number(path + 1, INT64_MAX, &id) == -1)
		return PROV_NOTFOUND;
	if ((e = registry_get(r->db, id, &m, &found)) != PROV_OK) {
		req_why(r, "read machine: %s", db_errmsg(r->db));
		return e;
	}
	if (!found)
		return PROV_NOTFOUND;
	if (m.revoked_at == 0) {
		if ((e = revoke_machine(r->cfg, r->db, &m, r->why,
		    sizeof r->why)) != PROV_OK) {
			if (e == PROV_UNAVAIL)
				req_why(r, "revoke: %s", db_errmsg(r->db));
			return e;
		}
		req_why(r, "revoked machine %" PRId64, id);
		/* The stored time, should another request have won. */
		if (registry_get(r->db, id, &m, &found) != PROV_OK || !found)
			return PROV_UNAVAIL;
	}
	if (hsview_get(r->cfg, 0, &v, why, sizeof why) != PROV_OK)
		v = NULL;
	if ((obj = row_json(&m, v, (int64_t)time(NULL))) == NULL)
		return PROV_ENOMEM;
	e = resp_json(r, 200, obj, 0);
	json_object_put(obj);
	return e;
}

static enum prov_err
machines(struct req *r)
{
	const char	*pi = req_param(r, "PATH_INFO");

	if (pi == NULL || *pi == '\0') {
		if (r->method == REQ_DELETE) {
			r->allow = REQ_GET | REQ_HEAD;
			return PROV_METHOD;
		}
		return list_machines(r);
	}
	if (r->method != REQ_DELETE) {
		r->allow = REQ_DELETE;
		return PROV_METHOD;
	}
	return delete_machine(r, pi);
}

static const struct endpoint ep_machines = {
	.name = "machines",
	.methods = REQ_GET | REQ_HEAD | REQ_DELETE,
	.auth = ENDPOINT_AUTH_ADMIN,
	.subpaths = 1,
	.handler = machines,
};

int
main(int argc, char *argv[])
{
	return serve_main(&ep_machines, argc, argv);
}
