/*
 * hsview.h: what headscale knows about the keys we handed out, for the
 * operator's endpoints: which key a node joined with, whether a key was
 * used or has expired, and deleting a node.
 *
 * The view is built from "nodes list -o json" and "preauthkeys list -o
 * json" and cached per process for HSVIEW_TTL_S seconds, so a listing asks
 * headscale at most twice, and a busy operator at most twice per TTL.
 */
#ifndef PROV_HSVIEW_H
#define PROV_HSVIEW_H

#include <stddef.h>
#include <stdint.h>

#include "bounds.h"
#include "conf.h"
#include "db.h"
#include "err.h"
#include "hsjson.h"

/* How long a view is reused. A change in headscale shows within this. */
#define HSVIEW_TTL_S	5

struct hs_view {
	struct hs_node		*nodes;		/* sorted by key_id, then id */
	size_t			 nnodes;
	struct hs_keyinfo	*keys;		/* sorted by id */
	size_t			 nkeys;
	int64_t			 fetched_at;	/* unix seconds, when asked */
};

/*
 * The current view: the cached one when younger than HSVIEW_TTL_S and
 * fresh is 0, else asked anew. PROV_OK with *v set (valid until the next
 * call), or as hs_run() (reason in why), or PROV_UPSTREAM for output that
 * is not what headscale 0.28 prints.
 */
enum prov_err	hsview_get(const struct conf *cfg, int fresh,
		    const struct hs_view **v, char *why, size_t whylen);

/* The newest node that joined with key_id, or NULL. */
const struct hs_node	*hsview_node(const struct hs_view *v, uint64_t key_id);

/* The key with id, or NULL when headscale does not list it. */
const struct hs_keyinfo	*hsview_key(const struct hs_view *v, uint64_t id);

/* What became of a registration, by headscale's account. */
enum hs_state { ST_NONE = -1, ST_PENDING, ST_JOINED, ST_EXPIRED, ST_GONE,
	ST_REVOKED };
#define HS_NSTATES	5
extern const char *const hs_state_names[HS_NSTATES];

/*
 * The state of registration m as of view v (NULL: headscale could not be
 * asked; judged by our records), and in *node the node that joined with
 * its key, if any. ST_NONE for a row without a key of ours (imported).
 */
enum hs_state	hsview_state(const struct machine *m, const struct hs_view *v,
		    int64_t now, const struct hs_node **node);

/* Frees v's arrays; v may be parsed into again. */
void		hsview_free(struct hs_view *v);

/*
 * Deletes node id: "nodes delete -i <id> --force -o json". headscale
 * 0.28 prints null and exits 0 when the delete itself failed, so success
 * here is only that the node is no longer in "nodes list" afterwards.
 * Drops the cached view. PROV_OK, or as hs_run(), or PROV_UPSTREAM.
 */
enum prov_err	hsview_delete_node(const struct conf *cfg, uint64_t id,
		    char *why, size_t whylen);

#endif /* PROV_HSVIEW_H */
