/*
 * revoke.h: withdrawing what we handed out: the operator's revocation of
 * one registration, and the rule that a machine holds one live key from
 * us at a time.
 */
#ifndef PROV_REVOKE_H
#define PROV_REVOKE_H

#include <stddef.h>
#include <stdint.h>

#include "conf.h"
#include "db.h"
#include "err.h"

/*
 * Before a MAC gets a new key: expires in headscale every key of its
 * earlier registrations that our records still show live, and records
 * that. PROV_OK when none is left, else the failure (reason in why); the
 * caller then mints nothing.
 */
enum prov_err	revoke_previous_keys(const struct conf *cfg, struct db *db,
		    const char *mac, char *why, size_t whylen);

/*
 * Revokes registration m (read by the caller, not yet revoked): expires
 * its key if headscale still lists it unused and unexpired, deletes the
 * node that joined with it if there is one (checked afterwards), then
 * marks the row revoked. Headscale failing leaves the row unmarked:
 * PROV_UPSTREAM or PROV_TIMEOUT. Sets m->revoked_at on success.
 */
enum prov_err	revoke_machine(const struct conf *cfg, struct db *db,
		    struct machine *m, char *why, size_t whylen);

#endif /* PROV_REVOKE_H */
