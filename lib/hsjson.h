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

/* A node, reduced to what the operator's list shows. */
struct hs_node {
	uint64_t	id;
	uint64_t	key_id;		/* pre_auth_key.id; 0: none */
	char		ipv4[PROV_MAX_ADDR];	/* "" when none */
	char		ipv6[PROV_MAX_ADDR];
	int		online;
	int64_t		last_seen;	/* unix seconds; 0: never */
	char		name[PROV_MAX_HOSTNAME + 1];	/* given_name */
};

/* A pre-auth key as listed. */
struct hs_keyinfo {
	uint64_t	id;
	int		used;
	int64_t		expires_at;	/* unix seconds */
};

/*
 * Parses "nodes list -o json" (an array of nodes, or null for none) into
 * a malloc'ed array sorted by key_id, then id. PROV_OK with *out (NULL
 * when empty) and *n set, PROV_ENOMEM, or PROV_UPSTREAM.
 */
enum prov_err	hsjson_nodes(const char *buf, size_t len,
		    struct hs_node **out, size_t *n);

/* The same for "preauthkeys list -o json", sorted by id. */
enum prov_err	hsjson_keys(const char *buf, size_t len,
		    struct hs_keyinfo **out, size_t *n);

#endif /* PROV_HSJSON_H */
