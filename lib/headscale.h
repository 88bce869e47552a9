/*
 * headscale.h: running the headscale CLI safely, and the few commands the
 * programs need.
 *
 * No shell is involved: execve with a fixed argv built from validated
 * values, a minimal environment, stdin from /dev/null, a wall-clock timeout
 * and a cap on what is read back.
 */
#ifndef PROV_HEADSCALE_H
#define PROV_HEADSCALE_H

#include <stddef.h>
#include <stdint.h>

#include "conf.h"
#include "err.h"
#include "hsjson.h"

/*
 * Runs cfg->headscale_bin with argv (argv[0] included, NULL-terminated) and
 * collects its stdout into a NUL-terminated buffer the caller frees.
 * Returns PROV_OK only when the child exited 0 within cfg->headscale_timeout
 * seconds; PROV_TIMEOUT when it did not (the child is killed);
 * PROV_UPSTREAM when it could not start, exited otherwise or printed more
 * than PROV_MAX_CLI_OUTPUT; PROV_SYSTEM or PROV_ENOMEM when this process
 * ran out of descriptors, processes or memory. On failure a short reason
 * goes into why, for the log: how the CLI ended and, when it failed, one
 * cleaned line of what it printed on stderr (hsdiag.h), never its stdout
 * nor anything key-shaped. The CLI gets HEADSCALE_CLI_TIMEOUT two seconds
 * past cfg->headscale_timeout, so this timeout, not its own, ends a slow
 * call.
 */
enum prov_err	hs_run(const struct conf *cfg, const char *const argv[],
		    char **out, size_t *outlen, char *why, size_t whylen);

/*
 * Looks up the numeric id of cfg->headscale_user with "users list -o json".
 * The answer is cached for the life of the process; hs_forget_user() drops
 * it (after headscale says the user is gone). PROV_OK, or as hs_run(), or
 * PROV_UPSTREAM when the user does not exist.
 */
enum prov_err	hs_user_id(const struct conf *cfg, uint64_t *id,
		    char *why, size_t whylen);
void		hs_forget_user(void);

/*
 * Creates a one-use key for user id expiring after cfg->key_expiry:
 * "preauthkeys create -u <id> -e <expiry> --ephemeral -o json". PROV_OK
 * with *k filled, or as hs_run().
 */
enum prov_err	hs_create_key(const struct conf *cfg, uint64_t user_id,
		    struct hs_key *k, char *why, size_t whylen);

/*
 * Expires the key with the given id at once: "preauthkeys expire --id <id>
 * -o json". For a key that was minted but could not be accounted for.
 * PROV_OK, or as hs_run().
 */
enum prov_err	hs_expire_key(const struct conf *cfg, uint64_t key_id,
		    char *why, size_t whylen);

/*
 * For the bootstrap: makes sure the user called name exists, running
 * "users create <name> -o json" only when "users list" does not show it.
 * Sets *created to 1 when this call created it. A failed create is
 * followed by another listing, so a user created meanwhile by someone else
 * counts as success. PROV_OK, PROV_BADREQ for an unusable name, or as
 * hs_run().
 */
enum prov_err	hs_user_ensure(const struct conf *cfg, const char *name,
		    int *created, char *why, size_t whylen);

/*
 * For wait loops: PROV_OK when "users list -o json" runs and answers
 * something that parses as a users list, else as hs_run() or
 * PROV_UPSTREAM.
 */
enum prov_err	hs_ping(const struct conf *cfg, char *why, size_t whylen);

#endif /* PROV_HEADSCALE_H */
