/*
 * health: GET or HEAD /health, for load balancers and the operator.
 *
 * Answers 200 {"status":"ok"} when the database answers and could take a
 * registration, 503 when it does not answer or when it sits read-only or
 * on a full file system (reads would still be served, but every
 * registration refused, and a monitor should see that). No token and no
 * rate limit: it reveals nothing and costs at most one trivial query and
 * one statvfs a second per process.
 */
#include "config.h"

#include <stdint.h>
#include <time.h>

#include "resp.h"
#include "serve.h"

/*
 * How long a successful ping stands for the database. A monitor polling
 * many times a second would otherwise open a read transaction (and take
 * two file locks) for every request, learning nothing new each time.
 */
#define HEALTH_PING_EVERY_NS	1000000000LL

/*
 * The body of every healthy answer. It is a constant with nothing from a
 * request or the database in it, so json-c would have nothing to escape
 * and building it with json-c for every request would only cost time.
 */
static const char	health_ok[] = "{\"status\":\"ok\"}";

/*
 * Until when (CLOCK_MONOTONIC, ns) the last successful ping of this
 * process stands; 0 before the first. Per process, so every FastCGI worker
 * and every plain CGI run (a new process each time) pings on its first
 * request. Only a success is remembered: after a failure every request
 * pings, so a repaired database shows at once and a failed one within a
 * second.
 */
static int64_t		health_ok_until;

static int64_t
now_ns(void)
{
	struct timespec	ts;

	if (clock_gettime(CLOCK_MONOTONIC, &ts) == -1)
		return -1;
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static enum prov_err
health(struct req *r)
{
	int64_t	now = now_ns();

	/* Without a clock, every request pings. */
	if (now < 0 || now >= health_ok_until) {
		health_ok_until = 0;
		if (db_ping(r->db) != PROV_OK) {
			req_why(r, "database does not answer: %s",
			    db_errmsg(r->db));
			return PROV_UNAVAIL;
		}
		if (db_writable(r->db) != PROV_OK) {
			req_why(r, "registrations cannot be recorded: %s",
			    db_errmsg(r->db));
			return PROV_UNAVAIL;
		}
		if (now >= 0)
			health_ok_until = now + HEALTH_PING_EVERY_NS;
	}
	if (resp_begin(r, 200, (long long)(sizeof health_ok - 1)) == -1 ||
	    resp_end_headers(r) == -1 ||
	    resp_write(r, health_ok, sizeof health_ok - 1) == -1)
		return PROV_SYSTEM;
	return PROV_OK;
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
