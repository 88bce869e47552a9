/*
 * test-hsjson.c: the parsers of headscale 0.28 "-o json" output, against
 * documents shaped like what the CLI prints (tab-indented, ids as numbers,
 * null for empty lists) and against everything it must refuse: older
 * formats, wrong types, missing fields, trailing data, deep nesting and
 * bytes that are not UTF-8.
 */
#include "config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "hsjson.h"
#include "tap.h"

/* A string literal and its length, NULs inside included. */
#define S(lit)	(lit), (sizeof(lit) - 1)

/* 88 bytes: hskey-auth- + 12 + '-' + 64, with '-' and '_' inside both. */
#define KEY88	"hskey-auth-Q2x_aB3dE-fG-" \
		"0123456789abcdefghijklmnopqrstuvwxyz" \
		"ABCDEFGHIJKLMNOPQRSTUVWXYZ-_"
#define KEY48	"6f2c1d0e9a8b7c6d5e4f3a2b1c0d9e8f7a6b5c4d3e2f1a0b"

static const char users[] =
	"[\n"
	"\t{\n"
	"\t\t\"id\": 3,\n"
	"\t\t\"name\": \"alice\",\n"
	"\t\t\"created_at\": {\n"
	"\t\t\t\"seconds\": 1770240000,\n"
	"\t\t\t\"nanos\": 123456789\n"
	"\t\t},\n"
	"\t\t\"display_name\": \"Alice Example\",\n"
	"\t\t\"email\": \"alice@example.com\"\n"
	"\t},\n"
	"\t{\n"
	"\t\t\"id\": 4,\n"
	"\t\t\"name\": \"sovran-deploy\",\n"
	"\t\t\"created_at\": {\n"
	"\t\t\t\"seconds\": 1770240100\n"
	"\t\t}\n"
	"\t}\n"
	"]\n";

static const char key_user[] =
	"{\n"
	"\t\"user\": {\n"
	"\t\t\"id\": 3,\n"
	"\t\t\"name\": \"alice\",\n"
	"\t\t\"created_at\": {\n"
	"\t\t\t\"seconds\": 1770240000,\n"
	"\t\t\t\"nanos\": 123456789\n"
	"\t\t}\n"
	"\t},\n"
	"\t\"id\": 7,\n"
	"\t\"key\": \"" KEY88 "\",\n"
	"\t\"reusable\": true,\n"
	"\t\"expiration\": {\n"
	"\t\t\"seconds\": 1770326400,\n"
	"\t\t\"nanos\": 500000000\n"
	"\t},\n"
	"\t\"created_at\": {\n"
	"\t\t\"seconds\": 1770240000,\n"
	"\t\t\"nanos\": 600000000\n"
	"\t}\n"
	"}\n";

static const char key_tags[] =
	"{\n"
	"\t\"id\": 8,\n"
	"\t\"key\": \"" KEY48 "\",\n"
	"\t\"expiration\": {\n"
	"\t\t\"seconds\": 1770243600\n"
	"\t},\n"
	"\t\"created_at\": {\n"
	"\t\t\"seconds\": 1770240000,\n"
	"\t\t\"nanos\": 2000\n"
	"\t},\n"
	"\t\"acl_tags\": [\n"
	"\t\t\"tag:server\"\n"
	"\t]\n"
	"}\n";

/* Looks name up in a users list; returns the parser's answer. */
static enum prov_err
find(const char *buf, size_t len, const char *name, uint64_t *id, int *found)
{
	*id = 99;
	*found = 99;
	return hsjson_user_id(buf, len, name, id, found);
}

/* PROV_UPSTREAM and nothing found, the answer to anything malformed. */
static int
refused(const char *buf, size_t len)
{
	uint64_t	id;
	int		found;

	return find(buf, len, "alice", &id, &found) == PROV_UPSTREAM &&
	    found == 0 && id == 0;
}

static void
test_users(void)
{
	uint64_t	id;
	int		found;

	ok(find(S(users), "alice", &id, &found) == PROV_OK && found == 1 &&
	    id == 3, "users: finds alice, id 3");
	ok(find(S(users), "sovran-deploy", &id, &found) == PROV_OK &&
	    found == 1 && id == 4, "users: finds the second user");
	ok(find(S(users), "carol", &id, &found) == PROV_OK && found == 0 &&
	    id == 0, "users: an absent user is OK, not found");
	ok(find(S(users), "alic", &id, &found) == PROV_OK && found == 0,
	    "users: a prefix is not a match");
	ok(find(S(users), "Alice", &id, &found) == PROV_OK && found == 0,
	    "users: matching is exact, case included");
	ok(find(S("null\n"), "alice", &id, &found) == PROV_OK && found == 0,
	    "users: null is the empty list");
	ok(find(S("[]\n"), "alice", &id, &found) == PROV_OK && found == 0,
	    "users: [] is the empty list");
	ok(find(S("[]"), "alice", &id, &found) == PROV_OK && found == 0,
	    "users: no trailing newline needed after an array");
	ok(find(S("[]\n\n \t\r\n"), "alice", &id, &found) == PROV_OK,
	    "users: trailing whitespace is fine");
	ok(find(S("[{\"id\": 2147455555, \"name\": \"tagged-devices\"}]\n"),
	    "tagged-devices", &id, &found) == PROV_OK && id == 2147455555,
	    "users: the tagged-devices id");
	ok(find(S("[{\"id\": 9007199254740992, \"name\": \"alice\"}]"),
	    "alice", &id, &found) == PROV_OK && id == UINT64_C(1) << 53,
	    "users: id 2^53 is the largest accepted");
	ok(find(S("[{\"name\": \"alice\\u0000x\", \"id\": 1}]"), "alice",
	    &id, &found) == PROV_OK && found == 0,
	    "users: a name with a NUL inside does not match its prefix");
	ok(find(S("[{\"id\": 5, \"name\": \"alice\", \"future\": [1, {}]}]"),
	    "alice", &id, &found) == PROV_OK && id == 5,
	    "users: unknown fields are ignored");

	ok(refused(S("[{\"id\": \"3\", \"name\": \"alice\"}]\n")),
	    "users: a string id (pre-0.24) is refused");
	ok(refused(S("[{\"id\": -3, \"name\": \"alice\"}]")),
	    "users: a negative id is refused");
	ok(refused(S("[{\"id\": 3.0, \"name\": \"alice\"}]")),
	    "users: a fractional id is refused");
	ok(refused(S("[{\"id\": 0, \"name\": \"alice\"}]")),
	    "users: id 0 is refused");
	ok(refused(S("[{\"id\": 9007199254740993, \"name\": \"alice\"}]")),
	    "users: an id above 2^53 is refused");
	ok(refused(S("[{\"id\": 18446744073709551615, \"name\": \"a\"}]")),
	    "users: a uint64-max id is refused");
	ok(refused(S("[{\"name\": \"alice\"}]")),
	    "users: a missing id is refused");
	ok(refused(S("[{\"id\": 3}]")), "users: a missing name is refused");
	ok(refused(S("[{\"id\": 3, \"name\": 3}]")),
	    "users: a numeric name is refused");
	ok(refused(S("[{\"id\": 3, \"name\": \"bob\"}, {\"id\": 4}]")),
	    "users: every element is checked, not only the match");
	ok(refused(S("[{\"id\": 3, \"name\": \"alice\"}, "
	    "{\"id\": 4, \"name\": \"alice\"}]")),
	    "users: two users of the same name are refused");
	ok(refused(S("[1]")), "users: a non-object element is refused");
	ok(refused(S("{\"id\": 3, \"name\": \"alice\"}\n")),
	    "users: an object instead of a list is refused");
	ok(refused(S("\"alice\"\n")), "users: a string is refused");
	ok(refused(S("")), "users: empty output is refused");
	ok(refused(S("\n")), "users: a bare newline is refused");
	ok(refused(S("null")),
	    "users: an unterminated null is refused (headscale ends in \\n)");
	ok(refused(S("Error: unknown flag: --output=json\n")),
	    "users: cobra's text is refused");
	ok(refused(S("2026-02-04T12:00:05Z FTL Could not connect\n")),
	    "users: a log line is refused");
	ok(refused(S("[{\"id\": 3, \"name\": \"alice\"},]")),
	    "users: a trailing comma is refused (strict)");
	ok(refused(S("[{'id': 3, 'name': 'alice'}]")),
	    "users: single quotes are refused (strict)");
	ok(refused(S("[]\n[]\n")), "users: a second document is refused");
	ok(refused(S("null\nx")), "users: trailing text is refused");
	ok(refused(S("[]\n\0[{\"id\": 3, \"name\": \"alice\"}]")),
	    "users: data hidden after a NUL is refused");
	ok(refused(S("[{\"id\": 3, \"name\": \"al\xff" "ice\"}]")),
	    "users: invalid UTF-8 is refused");
	ok(refused(S("[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[["
	    "]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]")),
	    "users: deep nesting is refused");
	ok(refused(S("[{\"id\": 3, \"name\": \"alice\", \"x\": "
	    "{\"a\": {\"b\": {\"c\": {\"d\": {\"e\": {\"f\": "
	    "{\"g\": {\"h\": {\"i\": {}}}}}}}}}}}]")),
	    "users: deep nesting inside a user is refused");
	ok(refused(NULL, 0), "users: no buffer is refused");
}

/* Parses a key document; returns the parser's answer. */
static enum prov_err
key(const char *buf, size_t len, struct hs_key *k)
{
	memset(k, 'x', sizeof(*k));
	return hsjson_preauthkey(buf, len, k);
}

/* Refused, and the output struct left empty rather than half filled. */
static int
key_refused(const char *buf, size_t len)
{
	static const struct hs_key	zero;
	struct hs_key			k;

	return key(buf, len, &k) == PROV_UPSTREAM &&
	    memcmp(&k, &zero, sizeof(k)) == 0;
}

static void
test_preauthkey(void)
{
	struct hs_key	k;
	char		doc[1024], longkey[PROV_MAX_KEY + 2];

	ok(key(S(key_user), &k) == PROV_OK && k.id == 7 &&
	    k.expires_at == 1770326400 && strcmp(k.key, KEY88) == 0 &&
	    strlen(k.key) == 88, "key: user-owned sample, 88-byte key");
	ok(key(S(key_tags), &k) == PROV_OK && k.id == 8 &&
	    k.expires_at == 1770243600 && strcmp(k.key, KEY48) == 0,
	    "key: tag-only sample, legacy 48-hex key, no nanos");
	ok(key(S("{\"id\":1,\"key\":\"k\",\"expiration\":{\"seconds\":5}}"),
	    &k) == PROV_OK && strcmp(k.key, "k") == 0,
	    "key: json-line form, one-byte key");

	memset(longkey, 'a', PROV_MAX_KEY);
	longkey[PROV_MAX_KEY] = '\0';
	(void)snprintf(doc, sizeof(doc), "{\"id\": 1, \"key\": \"%s\", "
	    "\"expiration\": {\"seconds\": 5}}\n", longkey);
	ok(key(doc, strlen(doc), &k) == PROV_OK &&
	    strlen(k.key) == PROV_MAX_KEY, "key: PROV_MAX_KEY bytes fit");
	longkey[PROV_MAX_KEY] = 'a';
	longkey[PROV_MAX_KEY + 1] = '\0';
	(void)snprintf(doc, sizeof(doc), "{\"id\": 1, \"key\": \"%s\", "
	    "\"expiration\": {\"seconds\": 5}}\n", longkey);
	ok(key_refused(doc, strlen(doc)), "key: one byte more is refused");

	ok(key_refused(S("{\"id\": 1, \"expiration\": {\"seconds\": 5}}")),
	    "key: a missing key is refused");
	ok(key_refused(S("{\"id\": 1, \"key\": \"\", "
	    "\"expiration\": {\"seconds\": 5}}")),
	    "key: an empty key is refused");
	ok(key_refused(S("{\"id\": 1, \"key\": \"a b\", "
	    "\"expiration\": {\"seconds\": 5}}")),
	    "key: a key with a space is refused");
	ok(key_refused(S("{\"id\": 1, \"key\": \"ab\\n\", "
	    "\"expiration\": {\"seconds\": 5}}")),
	    "key: a key with a control character is refused");
	ok(key_refused(S("{\"id\": 1, \"key\": \"a\\u0000b\", "
	    "\"expiration\": {\"seconds\": 5}}")),
	    "key: a key with a NUL inside is refused");
	ok(key_refused(S("{\"id\": 1, \"key\": \"caf\xc3\xa9\", "
	    "\"expiration\": {\"seconds\": 5}}")),
	    "key: a key outside ASCII is refused");
	ok(key_refused(S("{\"id\": 1, \"key\": 12345, "
	    "\"expiration\": {\"seconds\": 5}}")),
	    "key: a numeric key is refused");
	ok(key_refused(S("{\"id\": \"7\", \"key\": \"k\", "
	    "\"expiration\": {\"seconds\": 5}}")),
	    "key: a string id (pre-0.26) is refused");
	ok(key_refused(S("{\"key\": \"k\", \"expiration\": {\"seconds\": 5}}")),
	    "key: a missing id is refused");
	ok(key_refused(S("{\"id\": 1, \"key\": \"k\"}")),
	    "key: a missing expiration is refused");
	ok(key_refused(S("{\"id\": 1, \"key\": \"k\", "
	    "\"expiration\": \"2026-02-04T13:00:00Z\"}")),
	    "key: an RFC3339 expiration is refused");
	ok(key_refused(S("{\"id\": 1, \"key\": \"k\", "
	    "\"expiration\": {\"nanos\": 5}}")),
	    "key: an expiration without seconds is refused");
	ok(key_refused(S("{\"id\": 1, \"key\": \"k\", "
	    "\"expiration\": {\"seconds\": -62135596800}}")),
	    "key: the Go zero time is refused");
	ok(key_refused(S("{\"id\": 1, \"key\": \"k\", "
	    "\"expiration\": {\"seconds\": 5.5}}")),
	    "key: fractional seconds are refused");
	ok(key_refused(S("{\"id\": 1, \"key\": \"k\", "
	    "\"expiration\": {\"seconds\": 5, \"nanos\": \"1\"}}")),
	    "key: string nanos are refused");
	ok(key_refused(S("{\"id\": 1, \"key\": \"k\", "
	    "\"expiration\": {\"seconds\": 5, \"nanos\": 1000000000}}")),
	    "key: out-of-range nanos are refused");
	ok(key_refused(S("{\"id\": 1, \"key\": \"k\", "
	    "\"expiration\": {\"seconds\": 99999999999999999999}}")),
	    "key: seconds past int64 are refused");
	ok(key_refused(S("[]\n")), "key: a list is refused");
	ok(key_refused(S("null\n")), "key: null is refused");
	ok(key_refused(S("{}\n")), "key: {} is refused");
	ok(key_refused(S("hskey-auth-Q2x_aB3dE-fG-abc\n")),
	    "key: human output is refused");
	ok(key_refused(S("{\"id\": 1, \"key\": \"k\", "
	    "\"expiration\": {\"seconds\": 5}}\n{}")),
	    "key: trailing data is refused");
	ok(key_refused(S("{\"id\": 1, \"key\": \"k\xfe\", "
	    "\"expiration\": {\"seconds\": 5}}")),
	    "key: invalid UTF-8 is refused");
	ok(key_refused(S("{\"id\": 1, \"key\": \"k\", "
	    "\"x\": [[[[[[[[[[[[]]]]]]]]]]]], "
	    "\"expiration\": {\"seconds\": 5}}")),
	    "key: deep nesting is refused");
}

/* "nodes list -o json" as v0.28.0 prints it: online and routes optional. */
static const char nodes[] =
	"[\n"
	"\t{\n\t\t\"id\": 9,\n"
	"\t\t\"ip_addresses\": [\n\t\t\t\"100.64.0.9\",\n"
	"\t\t\t\"fd7a:115c:a1e0::9\"\n\t\t],\n"
	"\t\t\"name\": \"Web-1\",\n"
	"\t\t\"last_seen\": {\n\t\t\t\"seconds\": 1770250000,\n"
	"\t\t\t\"nanos\": 42\n\t\t},\n"
	"\t\t\"pre_auth_key\": {\n\t\t\t\"id\": 7,\n"
	"\t\t\t\"used\": true\n\t\t},\n"
	"\t\t\"given_name\": \"web-1\",\n"
	"\t\t\"online\": true,\n"
	"\t\t\"approved_routes\": [\n\t\t\t\"10.0.0.0/24\"\n\t\t]\n"
	"\t},\n"
	"\t{\n\t\t\"id\": 3,\n"
	"\t\t\"ip_addresses\": [\n\t\t\t\"100.64.0.3\"\n\t\t],\n"
	"\t\t\"given_name\": \"db\"\n"
	"\t}\n"
	"]\n";

static void
test_nodes_and_keys(void)
{
	struct hs_node		*n;
	struct hs_keyinfo	*k;
	size_t			 count;

	ok(hsjson_nodes(S(nodes), &n, &count) == PROV_OK && count == 2,
	    "nodes list parsed");
	/* Sorted by key id: the node without a key (0) first. */
	ok(n[0].id == 3 && n[0].key_id == 0 && !n[0].online &&
	    strcmp(n[0].ipv4, "100.64.0.3") == 0 && n[0].ipv6[0] == '\0',
	    "a node without key or online flag");
	ok(n[1].id == 9 && n[1].key_id == 7 && n[1].online &&
	    n[1].last_seen == 1770250000 &&
	    strcmp(n[1].ipv4, "100.64.0.9") == 0 &&
	    strcmp(n[1].ipv6, "fd7a:115c:a1e0::9") == 0 &&
	    strcmp(n[1].name, "web-1") == 0, "a joined, online node");
	free(n);
	ok(hsjson_nodes(S("null\n"), &n, &count) == PROV_OK && count == 0 &&
	    n == NULL, "no nodes is null");
	ok(hsjson_nodes(S("[{\"id\": 1, \"online\": \"yes\"}]"), &n,
	    &count) == PROV_UPSTREAM, "online must be a boolean");
	ok(hsjson_nodes(S("[{\"id\": 1, \"pre_auth_key\": {}}]"), &n,
	    &count) == PROV_UPSTREAM, "a pre_auth_key without an id");
	ok(hsjson_nodes(S("{\"id\": 1}"), &n, &count) == PROV_UPSTREAM,
	    "an object is not a list");

	ok(hsjson_keys(S("[{\"id\": 5, \"expiration\": {\"seconds\": 9}},"
	    "{\"id\": 2, \"used\": true, \"expiration\": {\"seconds\": 8,"
	    "\"nanos\": 1}}]"), &k, &count) == PROV_OK && count == 2 &&
	    k[0].id == 2 && k[0].used && k[0].expires_at == 8 &&
	    k[1].id == 5 && !k[1].used && k[1].expires_at == 9,
	    "keys list parsed and sorted by id");
	free(k);
	ok(hsjson_keys(S("[{\"id\": 5, \"used\": 1}]"), &k, &count) ==
	    PROV_UPSTREAM, "used must be a boolean");
}

int
main(void)
{
	test_users();
	test_preauthkey();
	test_nodes_and_keys();
	return done_testing();
}
