/*
 * revoke.c: expiring keys and deleting nodes on the operator's behalf.
 *
 * Headscale is asked first and our row is changed only once it agreed, so
 * a row marked revoked always means the key is dead and the node gone; a
 * failure leaves everything to be tried again. Expiring a key that was
 * used does not touch its node (headscale 0.28 checks a pre-auth key's
 * expiry only when a node registers with it), so "expire what our records
 * show live" is safe without asking whether it was used.
 */
#include "config.h"

#include <time.h>

#include "headscale.h"
#include "hsview.h"
#include "log.h"
#include "registry.h"
#include "revoke.h"

/* More than one live key per MAC only follows a crash between steps. */
#define REVOKE_MAX_LIVE		8

enum prov_err
revoke_previous_keys(const struct conf *cfg, struct db *db, const char *mac,
    char *why, size_t whylen)
{
	struct machine	rows[REVOKE_MAX_LIVE];
	int64_t		now = (int64_t)time(NULL);
	size_t		n, i;
	enum prov_err	e;

	if (mac == NULL || *mac == '\0')
		return PROV_OK;
	if ((e = registry_live_keys(db, mac, now, rows, REVOKE_MAX_LIVE,
	    &n)) != PROV_OK)
		return e;
	for (i = 0; i < n; i++) {
		if ((e = hs_expire_key(cfg, rows[i].key_id, why, whylen)) !=
		    PROV_OK)
			return e;
		/* Dead in headscale either way; this only keeps us in step. */
		if (registry_key_expired(db, rows[i].id, now) != PROV_OK)
			log_msg("key %llu expired, not recorded: %s",
			    (unsigned long long)rows[i].key_id,
			    db_errmsg(db));
	}
	return PROV_OK;
}

enum prov_err
revoke_machine(const struct conf *cfg, struct db *db, struct machine *m,
    char *why, size_t whylen)
{
	const struct hs_view	*v;
	const struct hs_keyinfo	*k;
	const struct hs_node	*n;
	uint64_t		 node_id = 0;
	int64_t			 now = (int64_t)time(NULL);
	enum prov_err		 e;

	if (m->key_id != 0) {
		if ((e = hsview_get(cfg, 1, &v, why, whylen)) != PROV_OK)
			return e;
		k = hsview_key(v, m->key_id);
		if ((n = hsview_node(v, m->key_id)) != NULL)
			node_id = n->id;
		if (k != NULL && !k->used && k->expires_at > now &&
		    (e = hs_expire_key(cfg, m->key_id, why, whylen)) !=
		    PROV_OK)
			return e;
		if (node_id != 0 &&
		    (e = hsview_delete_node(cfg, node_id, why, whylen)) !=
		    PROV_OK)
			return e;
	}
	if ((e = registry_revoke(db, m->id, now)) != PROV_OK)
		return e;
	m->revoked_at = now;
	return PROV_OK;
}
