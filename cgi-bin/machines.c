/*
 * machines: GET or HEAD /machines, the operator's list of registrations,
 * newest first.
 *
 * The list is streamed a row at a time ("[", rows, "]"), so memory does
 * not grow with the table and no Content-Length is sent. Headers go out
 * with the first row: a database that fails before that still gets a
 * clean 503. One that fails later leaves the array unclosed, so no client
 * can take a partial list for the whole.
 */
#include "config.h"

#include <json-c/json.h>

#include "resp.h"
#include "serve.h"

struct listing {
	struct req	*r;
	unsigned long	 rows;
	enum prov_err	 err;		/* why a row callback stopped */
};

/* Sends the headers and the opening bracket. 0 or -1. */
static int
listing_start(struct req *r)
{
	if (resp_begin(r, 200, -1) == -1 || resp_end_headers(r) == -1 ||
	    resp_write(r, "[", 1) == -1)
		return -1;
	return 0;
}

/* Sets key to v when known, else to null (and drops v). */
static int
set_opt(struct json_object *obj, const char *key, int known,
    struct json_object *v)
{
	if (known)
		return resp_set(obj, key, v);
	json_object_put(v);
	/* json-c adds a NULL value as JSON null. */
	return obj == NULL || json_object_object_add(obj, key, NULL) != 0 ?
	    -1 : 0;
}

/*
 * One row: {"hostname","mac","ip","registered_at","key_id","key_expires_at"}.
 * What the store does not know (an unknown MAC, an imported row's address
 * and key) is null.
 */
static int
listing_row(const struct machine *m, void *arg)
{
	struct listing		*l = arg;
	struct json_object	*obj;
	char			 reg[RESP_TIME_LEN], exp[RESP_TIME_LEN] = "";
	int			 rc;

	if (resp_time(m->registered_at, reg, sizeof reg) == -1 ||
	    (m->key_id != 0 &&
	    resp_time(m->key_expires_at, exp, sizeof exp) == -1)) {
		req_why(l->r, "timestamp out of range in the database");
		l->err = PROV_UNAVAIL;
		return 1;
	}
	obj = json_object_new_object();
	if (resp_set(obj, "hostname", json_object_new_string(m->hostname)) ||
	    set_opt(obj, "mac", m->mac[0] != '\0',
	    json_object_new_string(m->mac)) ||
	    set_opt(obj, "ip", m->ip[0] != '\0',
	    json_object_new_string(m->ip)) ||
	    resp_set(obj, "registered_at", json_object_new_string(reg)) ||
	    set_opt(obj, "key_id", m->key_id != 0,
	    json_object_new_uint64(m->key_id)) ||
	    set_opt(obj, "key_expires_at", m->key_id != 0,
	    json_object_new_string(exp))) {
		json_object_put(obj);
		l->err = PROV_ENOMEM;
		return 1;
	}
	if (l->rows == 0)
		rc = listing_start(l->r);
	else
		rc = resp_write(l->r, ",", 1);
	if (rc == 0)
		rc = resp_write_json(l->r, obj);
	json_object_put(obj);
	if (rc == -1) {
		/* Out of memory, or the client is gone: either way, stop. */
		l->err = l->r->out_failed ? PROV_SYSTEM : PROV_ENOMEM;
		return 1;
	}
	l->rows++;
	return 0;
}

static enum prov_err
machines(struct req *r)
{
	struct listing	l = { r, 0, PROV_OK };
	enum prov_err	e;

	e = db_machines_each(r->db, listing_row, &l);
	if (e != PROV_OK && r->why[0] == '\0')
		req_why(r, "listing: %s", db_errmsg(r->db));
	if (e == PROV_OK)
		e = l.err;
	if (e != PROV_OK) {
		/* Nothing sent yet: a clean error response is still possible. */
		if (r->status == 0)
			return e;
		if (!r->out_failed && r->why[0] == '\0')
			req_why(r, "listing failed after %lu rows, left unclosed",
			    l.rows);
		return PROV_OK;
	}
	if (r->status == 0 && listing_start(r) == -1)
		return PROV_SYSTEM;
	(void)resp_write(r, "]", 1);
	return PROV_OK;
}

static const struct endpoint ep_machines = {
	.name = "machines",
	.methods = REQ_GET | REQ_HEAD,
	.auth = 1,
	.handler = machines,
};

int
main(int argc, char *argv[])
{
	return serve_main(&ep_machines, argc, argv);
}
