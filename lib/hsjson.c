/*
 * hsjson.c: parsers for the JSON the headscale 0.28 CLI prints with
 * "-o json" (Go's encoding/json over its protobuf structs: tab-indented,
 * ids as numbers, timestamps as {"seconds", "nanos"}, empty lists as null,
 * one trailing newline).
 *
 * Everything here is pure computation on a byte buffer, so it can be
 * fuzzed. The text comes from a child process we started, but it is still
 * treated as hostile: one strict parse of the whole buffer, a type check
 * before every access, and anything unexpected is PROV_UPSTREAM rather than
 * a guess. Unknown fields are ignored, so additions in later releases do
 * not break us; changed types do, on purpose.
 */
#include "config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "hsjson.h"

/*
 * Deepest nesting accepted. The documents we read nest three levels (list,
 * user, created_at); a little room for fields added later, no more.
 */
#define HSJSON_MAX_DEPTH	10

/* Ids above 2^53 do not occur (the largest is 2147455555) and would not
 * survive a trip through JSON numbers in other tools. */
#define HSJSON_MAX_ID		(UINT64_C(1) << 53)

/*
 * Parses all of buf[0..len) as one JSON value. Go's encoder never produces
 * anything json-c's strict mode rejects, so strict mode costs nothing and
 * keeps out what only a lenient parser would accept. Trailing whitespace
 * is consumed by the tokener; anything else after the value (including a
 * NUL byte) leaves the parse end short of len and fails. Returns 0 with
 * *root set (NULL for a JSON null; caller puts it), or -1.
 */
static int
parse_whole(const char *buf, size_t len, struct json_object **root)
{
	struct json_tokener	*tok;
	struct json_object	*obj;
	int			 rc = -1;

	*root = NULL;
	if (buf == NULL || len == 0 || len > PROV_MAX_CLI_OUTPUT)
		return -1;
	if ((tok = json_tokener_new_ex(HSJSON_MAX_DEPTH)) == NULL)
		return -1;
	json_tokener_set_flags(tok,
	    JSON_TOKENER_STRICT | JSON_TOKENER_VALIDATE_UTF8);
	obj = json_tokener_parse_ex(tok, buf, (int)len);
	if (json_tokener_get_error(tok) == json_tokener_success &&
	    json_tokener_get_parse_end(tok) == len) {
		*root = obj;
		rc = 0;
	} else
		json_object_put(obj);
	json_tokener_free(tok);
	return rc;
}

/*
 * Reads a headscale id: a JSON integer in [1, 2^53]. Strings ("1", the
 * pre-0.24 form), fractions, negatives and zero (which Go would have
 * omitted) are all refused. Returns 0 and sets *id, or -1.
 */
static int
get_id(struct json_object *parent, const char *field, uint64_t *id)
{
	struct json_object	*o;
	int64_t			 v;

	if (!json_object_object_get_ex(parent, field, &o) ||
	    !json_object_is_type(o, json_type_int))
		return -1;
	/* Values past INT64_MAX come back clamped to it: still refused. */
	v = json_object_get_int64(o);
	if (v < 1 || (uint64_t)v > HSJSON_MAX_ID)
		return -1;
	*id = (uint64_t)v;
	return 0;
}

/*
 * Returns the string member field of parent and its length, or NULL when
 * it is missing or not a string. The pointer is borrowed from parent.
 */
static const char *
get_string(struct json_object *parent, const char *field, size_t *len)
{
	struct json_object	*o;
	int			 n;

	if (!json_object_object_get_ex(parent, field, &o) ||
	    !json_object_is_type(o, json_type_string))
		return NULL;
	if ((n = json_object_get_string_len(o)) < 0)
		return NULL;
	*len = (size_t)n;
	return json_object_get_string(o);
}

/*
 * Finds name among the users of "users list -o json". Every element must
 * look like a user (an object with a string name and a numeric id), not
 * only the one we want, so a change of format is noticed rather than
 * half-read. Two users with the same name (possible with OIDC users) make
 * the answer ambiguous: refused, since a key for the wrong user would put
 * machines in the wrong namespace.
 */
enum prov_err
hsjson_user_id(const char *buf, size_t len, const char *name,
    uint64_t *id, int *found)
{
	struct json_object	*root, *user;
	const char		*uname;
	size_t			 i, n, namelen, ulen;
	uint64_t		 uid;
	enum prov_err		 rc = PROV_UPSTREAM;

	*found = 0;
	*id = 0;
	if (name == NULL || parse_whole(buf, len, &root) == -1)
		return PROV_UPSTREAM;
	if (root == NULL)		/* "null": no users at all */
		return PROV_OK;
	if (!json_object_is_type(root, json_type_array))
		goto out;

	namelen = strlen(name);
	n = json_object_array_length(root);
	for (i = 0; i < n; i++) {
		user = json_object_array_get_idx(root, i);
		if (!json_object_is_type(user, json_type_object) ||
		    (uname = get_string(user, "name", &ulen)) == NULL ||
		    get_id(user, "id", &uid) == -1)
			goto out;
		/* Length first: a JSON string may hold a NUL byte. */
		if (ulen != namelen || memcmp(uname, name, namelen) != 0)
			continue;
		if (*found)
			goto out;
		*found = 1;
		*id = uid;
	}
	rc = PROV_OK;
out:
	if (rc != PROV_OK) {
		*found = 0;
		*id = 0;
	}
	json_object_put(root);
	return rc;
}

/*
 * A usable key: printable ASCII without spaces, 1..PROV_MAX_KEY bytes. The
 * exact shape is not checked (0.28's 88-byte hskey-auth-... and the legacy
 * 48 hex digits both pass) because it is headscale's to choose; what
 * matters is that it is safe to hand on and to put on a command line.
 */
static int
key_ok(const char *key, size_t len)
{
	size_t	i;

	if (len == 0 || len > PROV_MAX_KEY)
		return 0;
	for (i = 0; i < len; i++)
		if (key[i] < '!' || key[i] > '~')
			return 0;
	return 1;
}

/*
 * Parses the PreAuthKey object "preauthkeys create -o json" prints. The
 * expiration must be a timestamp in the future of the epoch: a missing or
 * non-positive "seconds" is the Go zero time or no expiry at all, neither
 * of which a one-use key we hand out should have.
 *
 * The key passes through json-c's own buffers; the copy held by the parsed
 * object is wiped before it is freed. (The tokener's scratch buffer cannot
 * be reached through json-c's API and is freed unwiped.)
 */
enum prov_err
hsjson_preauthkey(const char *buf, size_t len, struct hs_key *k)
{
	struct json_object	*root, *exp, *o;
	const char		*key;
	size_t			 keylen = 0;
	int64_t			 secs, nanos;
	enum prov_err		 rc = PROV_UPSTREAM;

	memset(k, 0, sizeof(*k));
	if (parse_whole(buf, len, &root) == -1)
		return PROV_UPSTREAM;
	if (!json_object_is_type(root, json_type_object))
		goto out;

	if (get_id(root, "id", &k->id) == -1)
		goto out;

	if (!json_object_object_get_ex(root, "expiration", &exp) ||
	    !json_object_is_type(exp, json_type_object) ||
	    !json_object_object_get_ex(exp, "seconds", &o) ||
	    !json_object_is_type(o, json_type_int))
		goto out;
	if ((secs = json_object_get_int64(o)) <= 0 || secs == INT64_MAX)
		goto out;
	if (json_object_object_get_ex(exp, "nanos", &o)) {
		if (!json_object_is_type(o, json_type_int))
			goto out;
		nanos = json_object_get_int64(o);
		if (nanos < 0 || nanos > 999999999)
			goto out;
	}
	k->expires_at = secs;

	if ((key = get_string(root, "key", &keylen)) == NULL ||
	    !key_ok(key, keylen))
		goto out;
	memcpy(k->key, key, keylen);
	k->key[keylen] = '\0';
	rc = PROV_OK;
out:
	if ((key = get_string(root, "key", &keylen)) != NULL)
		explicit_bzero((void *)(uintptr_t)key, keylen);
	if (rc != PROV_OK)
		explicit_bzero(k, sizeof(*k));
	json_object_put(root);
	return rc;
}

/*
 * The "seconds" of timestamp member field, or 0 when it is absent: Go
 * omits what is zero, and the zero time means "never" here.
 */
static int
get_seconds(struct json_object *parent, const char *field, int64_t *sec)
{
	struct json_object	*t, *o;

	*sec = 0;
	if (!json_object_object_get_ex(parent, field, &t))
		return 0;
	if (!json_object_is_type(t, json_type_object))
		return -1;
	if (!json_object_object_get_ex(t, "seconds", &o))
		return 0;
	if (!json_object_is_type(o, json_type_int))
		return -1;
	*sec = json_object_get_int64(o);
	return 0;
}

/* A boolean member that Go omits when false. */
static int
get_flag(struct json_object *parent, const char *field, int *flag)
{
	struct json_object	*o;

	*flag = 0;
	if (!json_object_object_get_ex(parent, field, &o))
		return 0;
	if (!json_object_is_type(o, json_type_boolean))
		return -1;
	*flag = json_object_get_boolean(o);
	return 0;
}

/* Copies an optional string member; too long is an error, absent is "". */
static int
copy_string(struct json_object *parent, const char *field, char *dst,
    size_t size)
{
	const char	*s;
	size_t		 len;

	dst[0] = '\0';
	if (!json_object_object_get_ex(parent, field, NULL))
		return 0;
	if ((s = get_string(parent, field, &len)) == NULL || len >= size ||
	    memchr(s, '\0', len) != NULL)
		return -1;
	memcpy(dst, s, len);
	dst[len] = '\0';
	return 0;
}

/*
 * Parses a top-level list: null is empty, else an array whose length
 * fits. Returns 0 with *root (NULL for null) and *n, or -1.
 */
static int
parse_list(const char *buf, size_t len, struct json_object **root, size_t *n)
{
	*n = 0;
	if (parse_whole(buf, len, root) == -1)
		return -1;
	if (*root == NULL)
		return 0;
	if (!json_object_is_type(*root, json_type_array)) {
		json_object_put(*root);
		*root = NULL;
		return -1;
	}
	*n = json_object_array_length(*root);
	return 0;
}

/* One node; the addresses split by family (IPv4 has no colon). */
static int
node_from(struct json_object *o, void *elem)
{
	struct hs_node		*nd = elem;
	struct json_object	*ips, *ip, *k;
	const char		*s;
	size_t			 i, len;
	char			*dst;

	memset(nd, 0, sizeof *nd);
	if (!json_object_is_type(o, json_type_object) ||
	    get_id(o, "id", &nd->id) == -1 ||
	    get_flag(o, "online", &nd->online) == -1 ||
	    get_seconds(o, "last_seen", &nd->last_seen) == -1 ||
	    copy_string(o, "given_name", nd->name, sizeof nd->name) == -1)
		return -1;
	if (json_object_object_get_ex(o, "pre_auth_key", &k) &&
	    (!json_object_is_type(k, json_type_object) ||
	    get_id(k, "id", &nd->key_id) == -1))
		return -1;
	if (!json_object_object_get_ex(o, "ip_addresses", &ips))
		return 0;
	if (!json_object_is_type(ips, json_type_array))
		return -1;
	for (i = 0; i < json_object_array_length(ips); i++) {
		ip = json_object_array_get_idx(ips, i);
		if (!json_object_is_type(ip, json_type_string))
			return -1;
		s = json_object_get_string(ip);
		len = (size_t)json_object_get_string_len(ip);
		dst = memchr(s, ':', len) != NULL ? nd->ipv6 : nd->ipv4;
		/* The first of each family counts. */
		if (dst[0] != '\0')
			continue;
		if (len >= PROV_MAX_ADDR || memchr(s, '\0', len) != NULL)
			return -1;
		memcpy(dst, s, len);
		dst[len] = '\0';
	}
	return 0;
}

static int
node_cmp(const void *a, const void *b)
{
	const struct hs_node	*x = a, *y = b;

	if (x->key_id != y->key_id)
		return x->key_id < y->key_id ? -1 : 1;
	return x->id < y->id ? -1 : x->id > y->id;
}

static int
key_from(struct json_object *o, void *elem)
{
	struct hs_keyinfo	*k = elem;

	memset(k, 0, sizeof *k);
	if (!json_object_is_type(o, json_type_object) ||
	    get_id(o, "id", &k->id) == -1 ||
	    get_flag(o, "used", &k->used) == -1 ||
	    get_seconds(o, "expiration", &k->expires_at) == -1)
		return -1;
	return 0;
}

static int
key_cmp(const void *a, const void *b)
{
	const struct hs_keyinfo	*x = a, *y = b;

	return x->id < y->id ? -1 : x->id > y->id;
}

/*
 * A top-level list into a malloc'ed array of n elements of size bytes,
 * each filled by from() and the whole sorted with cmp.
 */
static enum prov_err
parse_sorted(const char *buf, size_t len, size_t size,
    int (*from)(struct json_object *, void *),
    int (*cmp)(const void *, const void *), void **out, size_t *n)
{
	struct json_object	*root;
	size_t			 i, count;
	char			*arr = NULL;

	*out = NULL;
	*n = 0;
	if (parse_list(buf, len, &root, &count) == -1)
		return PROV_UPSTREAM;
	if (count > 0 && (arr = calloc(count, size)) == NULL) {
		json_object_put(root);
		return PROV_ENOMEM;
	}
	for (i = 0; i < count; i++)
		if (from(json_object_array_get_idx(root, i),
		    arr + i * size) == -1) {
			json_object_put(root);
			free(arr);
			return PROV_UPSTREAM;
		}
	json_object_put(root);
	if (count > 0)
		qsort(arr, count, size, cmp);
	*out = arr;
	*n = count;
	return PROV_OK;
}

enum prov_err
hsjson_nodes(const char *buf, size_t len, struct hs_node **out, size_t *n)
{
	return parse_sorted(buf, len, sizeof **out, node_from, node_cmp,
	    (void **)out, n);
}

enum prov_err
hsjson_keys(const char *buf, size_t len, struct hs_keyinfo **out, size_t *n)
{
	return parse_sorted(buf, len, sizeof **out, key_from, key_cmp,
	    (void **)out, n);
}
