/*
 * hsjson.h: pure parsers for what the headscale 0.28 CLI prints with
 * "-o json". No I/O here, so every function can be fuzzed.
 */
#ifndef PROV_HSJSON_H
#define PROV_HSJSON_H

#include <stddef.h>
#include <stdint.h>

#include "err.h"
#include "bounds.h"

/* A freshly created pre-auth key. The key is a secret: wipe it after use. */
struct hs_key {
	char		key[PROV_MAX_KEY + 1];
	uint64_t	id;
	int64_t		expires_at;	/* unix seconds */
};

/*
 * Finds the user called name in the output of "users list -o json" (an
 * array, or null for none). Returns PROV_OK with *found set to 1 and *id
 * filled, or to 0 when absent; PROV_UPSTREAM when the text is not what
 * headscale prints.
 */
enum prov_err	hsjson_user_id(const char *buf, size_t len, const char *name,
		    uint64_t *id, int *found);

/*
 * Parses the output of "preauthkeys create ... -o json". Returns PROV_OK
 * with *k filled, or PROV_UPSTREAM when the text is not a key object with a
 * usable key, id and expiration.
 */
enum prov_err	hsjson_preauthkey(const char *buf, size_t len, struct hs_key *k);

#endif /* PROV_HSJSON_H */
