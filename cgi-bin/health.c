/*
 * health: GET or HEAD /health, for load balancers and the operator.
 *
 * Answers 200 {"status":"ok"} when the database answers, 503 when it does
 * not. No token and no rate limit: it reveals nothing and costs one
 * trivial query.
 */
#include "config.h"

#include <json-c/json.h>

#include "resp.h"
#include "serve.h"

static enum prov_err
health(struct req *r)
{
	struct json_object	*obj;
	enum prov_err		 e;

	if (db_ping(r->db) != PROV_OK) {
		req_why(r, "database does not answer: %s", db_errmsg(r->db));
		return PROV_UNAVAIL;
	}
	obj = json_object_new_object();
	if (resp_set(obj, "status", json_object_new_string("ok")) == -1)
		e = PROV_ENOMEM;
	else
		e = resp_json(r, 200, obj, 0);
	json_object_put(obj);
	return e;
}

static const struct endpoint ep_health = {
	.name = "health",
	.methods = REQ_GET | REQ_HEAD,
	.handler = health,
};

int
main(int argc, char *argv[])
{
	return serve_main(&ep_health, argc, argv);
}
