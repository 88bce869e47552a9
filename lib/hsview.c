/*
 * hsview.c: the operator's view of headscale: which node joined with
 * which of our keys, and which keys were used or expired, from two CLI
 * listings (headscale 0.28 has no call for one key or one node's key).
 *
 * Relied on, as printed by v0.28.0 (gen/go/headscale/v1/node.pb.go and
 * preauthkey.pb.go, encoding/json with omitempty): every node carries
 * pre_auth_key.id when it joined with a key; "online" is present only when
 * true; a key's "used" likewise; "expiration" is {"seconds", "nanos"}.
 * "nodes delete -o json" prints null and exits 0 when the delete failed
 * (cmd/headscale/cli/nodes.go), hence the check afterwards.
 *
 * The view lives in this process for HSVIEW_TTL_S seconds (monotonic
 * clock), so neither a long listing nor an operator reloading a dashboard
 * runs the CLI more than twice per TTL.
 */
#include "config.h"

#include <inttypes.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "headscale.h"
#include "hsview.h"

const char *const hs_state_names[HS_NSTATES] = {
	"pending", "joined", "expired", "gone", "revoked"
};

static struct {
	struct hs_view	view;
	int		valid;
	int64_t		fetched_ms;	/* CLOCK_MONOTONIC */
} cache;

static int64_t
mono_ms(void)
{
	struct timespec	ts;

	(void)clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void
hsview_free(struct hs_view *v)
{
	free(v->nodes);
	free(v->keys);
	memset(v, 0, sizeof *v);
}

/* Runs "<what> list -o json" and hands the output to parse. */
static enum prov_err
run_list(const struct conf *cfg, const char *what, struct hs_view *v,
    char *why, size_t whylen)
{
	const char *const argv[] = {
		cfg->headscale_bin, what, "list", "-o", "json", NULL
	};
	char		*out;
	size_t		 len;
	enum prov_err	 e;

	if ((e = hs_run(cfg, argv, &out, &len, why, whylen)) != PROV_OK)
		return e;
	if (strcmp(what, "nodes") == 0)
		e = hsjson_nodes(out, len, &v->nodes, &v->nnodes);
	else
		e = hsjson_keys(out, len, &v->keys, &v->nkeys);
	if (e == PROV_UPSTREAM)
		(void)snprintf(why, whylen, "headscale %s list: unexpected "
		    "output", what);
	/* Key listings are masked, but wipe anyway: it is CLI output. */
	explicit_bzero(out, len);
	free(out);
	return e;
}

enum prov_err
hsview_get(const struct conf *cfg, int fresh, const struct hs_view **v,
    char *why, size_t whylen)
{
	struct hs_view	nv;
	enum prov_err	e;

	if (cache.valid && !fresh &&
	    mono_ms() - cache.fetched_ms < HSVIEW_TTL_S * 1000) {
		*v = &cache.view;
		return PROV_OK;
	}
	memset(&nv, 0, sizeof nv);
	if ((e = run_list(cfg, "nodes", &nv, why, whylen)) != PROV_OK ||
	    (e = run_list(cfg, "preauthkeys", &nv, why, whylen)) != PROV_OK) {
		hsview_free(&nv);
		return e;
	}
	hsview_free(&cache.view);
#ifdef __GLIBC__
	/*
	 * Parsing up to two 1 MiB listings with json-c peaks at about ten
	 * times their size in small blocks, all freed by now, but glibc
	 * keeps them and the worker would stay that large between
	 * listings: give the free pages back.
	 */
	(void)malloc_trim(0);
#endif
	nv.fetched_at = (int64_t)time(NULL);
	cache.view = nv;
	cache.valid = 1;
	cache.fetched_ms = mono_ms();
	*v = &cache.view;
	return PROV_OK;
}

const struct hs_node *
hsview_node(const struct hs_view *v, uint64_t key_id)
{
	size_t	lo = 0, hi = v->nnodes, mid;

	if (key_id == 0)
		return NULL;
	/* The first index past every node with this key id or less. */
	while (lo < hi) {
		mid = lo + (hi - lo) / 2;
		if (v->nodes[mid].key_id <= key_id)
			lo = mid + 1;
		else
			hi = mid;
	}
	/* Sorted by id within a key: the last one is the newest. */
	if (lo > 0 && v->nodes[lo - 1].key_id == key_id)
		return &v->nodes[lo - 1];
	return NULL;
}

const struct hs_keyinfo *
hsview_key(const struct hs_view *v, uint64_t id)
{
	size_t	lo = 0, hi = v->nkeys, mid;

	while (lo < hi) {
		mid = lo + (hi - lo) / 2;
		if (v->keys[mid].id == id)
			return &v->keys[mid];
		if (v->keys[mid].id < id)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

enum prov_err
hsview_delete_node(const struct conf *cfg, uint64_t id, char *why,
    size_t whylen)
{
	char		 idbuf[24];
	const char *const argv[] = {
		cfg->headscale_bin, "nodes", "delete", "-i", idbuf, "--force",
		"-o", "json", NULL
	};
	const struct hs_view	*v;
	const struct hs_node	*n;
	char		*out;
	size_t		 len, i;
	enum prov_err	 e;

	(void)snprintf(idbuf, sizeof idbuf, "%" PRIu64, id);
	e = hs_run(cfg, argv, &out, &len, why, whylen);
	if (e == PROV_OK)
		free(out);
	cache.valid = 0;
	if (e != PROV_OK)
		return e;
	if ((e = hsview_get(cfg, 1, &v, why, whylen)) != PROV_OK)
		return e;
	for (i = 0, n = v->nodes; i < v->nnodes; i++, n++)
		if (n->id == id) {
			(void)snprintf(why, whylen, "headscale nodes delete: "
			    "node %" PRIu64 " is still there", id);
			return PROV_UPSTREAM;
		}
	return PROV_OK;
}

enum hs_state
hsview_state(const struct machine *m, const struct hs_view *v, int64_t now,
    const struct hs_node **node)
{
	const struct hs_keyinfo	*k;

	*node = v != NULL ? hsview_node(v, m->key_id) : NULL;
	if (m->revoked_at != 0)
		return ST_REVOKED;
	if (m->key_id == 0)
		return ST_NONE;		/* imported: no key of ours */
	if (*node != NULL)
		return ST_JOINED;
	k = v != NULL ? hsview_key(v, m->key_id) : NULL;
	/*
	 * Our own records decide when headscale cannot be asked, and for a
	 * key minted after the (cached) view was taken.
	 */
	if (v == NULL || (k == NULL && m->registered_at >= v->fetched_at))
		return m->key_expires_at > now && m->key_expired_at == 0 ?
		    ST_PENDING : ST_EXPIRED;
	if (k != NULL && k->used)
		return ST_GONE;
	/* A key headscale no longer lists cannot be used any more either. */
	if (k == NULL || k->expires_at <= now)
		return ST_EXPIRED;
	return ST_PENDING;
}
