/*
 * metrics: GET or HEAD /metrics, the Prometheus text exposition (format
 * 0.0.4) of the counters every program keeps in lib/metrics.c, and a
 * gauge of machines by state. Admin token only.
 *
 * The gauge counts the newest registration per MAC, each judged as GET
 * /machines judges it (the cached view of headscale, hsview.c), reading
 * the table a page per transaction. When headscale cannot be asked the
 * gauge comes from our records alone, like the listing.
 */
#include "config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "hsview.h"
#include "metrics.h"
#include "registry.h"
#include "resp.h"
#include "serve.h"

#define PAGE_ROWS	256

/* Counts machines by state into s. PROV_OK or PROV_UNAVAIL. */
static enum prov_err
count_states(struct req *r, struct metrics_states *s)
{
	struct registry_filter	 f;
	const struct hs_view	*v;
	const struct hs_node	*n;
	struct machine		*rows;
	char			 why[PROV_MAX_REASON];
	int64_t			 before = INT64_MAX, now = (int64_t)time(NULL);
	size_t			 got, i;
	enum hs_state		 st;
	enum prov_err		 e;

	memset(&f, 0, sizeof f);
	memset(s, 0, sizeof *s);
	if (hsview_get(r->cfg, 0, &v, why, sizeof why) != PROV_OK) {
		v = NULL;
		req_why(r, "headscale unreachable, own records only: %s", why);
	}
	if ((rows = calloc(PAGE_ROWS, sizeof *rows)) == NULL)
		return PROV_ENOMEM;
	do {
		if ((e = registry_page(r->db, &f, before, rows, PAGE_ROWS,
		    &got)) != PROV_OK)
			break;
		for (i = 0; i < got; i++)
			if ((st = hsview_state(&rows[i], v, now, &n)) !=
			    ST_NONE)
				s->n[st]++;
		if (got > 0)
			before = rows[got - 1].id;
	} while (got == PAGE_ROWS);
	free(rows);
	return e;
}

static enum prov_err
metrics(struct req *r)
{
	struct metrics_states	 s;
	char			*text;
	size_t			 len;
	enum prov_err		 e;

	if ((e = count_states(r, &s)) != PROV_OK) {
		if (e == PROV_UNAVAIL)
			req_why(r, "counting machines: %s", db_errmsg(r->db));
		return e;
	}
	if (metrics_render(r->cfg, &s, 1, &text, &len) == -1) {
		req_why(r, "metrics file unusable or out of memory");
		return PROV_UNAVAIL;
	}
	if (resp_begin_as(r, 200, (long long)len,
	    "text/plain; version=0.0.4; charset=utf-8") == -1 ||
	    resp_end_headers(r) == -1 || resp_write(r, text, len) == -1)
		e = PROV_SYSTEM;
	free(text);
	return r->status != 0 ? PROV_OK : e;
}

static const struct endpoint ep_metrics = {
	.name = "metrics",
	.methods = REQ_GET | REQ_HEAD,
	.auth = ENDPOINT_AUTH_ADMIN,
	.handler = metrics,
};

int
main(int argc, char *argv[])
{
	return serve_main(&ep_metrics, argc, argv);
}
