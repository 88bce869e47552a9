/*
 * headscale.c: a stand-in for the headscale 0.28.0 CLI, which Debian does
 * not package. The programs, the local stack and every test run against
 * it, so it keeps the real CLI's contract: the same commands, aliases and
 * flags; ids as JSON numbers, {seconds, nanos} timestamps, absent empty
 * fields and "null" for empty lists, tab-indented; errors on stderr with
 * exit 1, cobra's plain text for bad flags, {"error": ...} for server
 * errors; the FTL line and exit 1 when the server cannot be reached.
 *
 * There is no server. State lives in "standin/" next to the config file
 * (-c, else HEADSCALE_CONFIG; like the real CLI, a named file that cannot
 * be read is fatal, its contents are not looked at), see
 * store.h. Without a config file the CLI, like the real one, finds no
 * server: it waits HEADSCALE_CLI_TIMEOUT (default 5s) and fails.
 *
 * Fault files in standin/ make a server misbehave on purpose: "fault"
 * for every command that reaches the server, "fault.<command>" (users,
 * preauthkeys, nodes, health) for one group, "fault.<command>.<sub>"
 * (nodes.delete) for one command. They hold a word and an optional
 * number of seconds: fail, hang, garbage, huge, slow N, down [N], exit N,
 * null.
 *
 * Nodes come from the tailscale stand-in: "tailscale up --auth-key" joins
 * (marks the key used, adds the node online), "tailscale down" takes the
 * node offline, "nodes delete" removes it, as headscale removes an
 * ephemeral node that stayed offline.
 *
 * Deliberate differences: "-o yaml" is refused; configtest only checks
 * that the config file can be read; human-readable tables are simplified.
 * Known 0.28 bugs are kept: "users destroy" deletes every pre-auth key,
 * "users rename" by name fails, "nodes delete -o json" prints null when
 * the node vanished before the delete.
 */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include <json-c/json.h>

#include "cobra.h"
#include "gojson.h"
#include "sha256.h"
#include "store.h"

#define HS_VERSION		"0.28.0"
#define KEY_PREFIX	"hskey-auth-"
#define KEY_PREFIX_LEN	12
#define KEY_SECRET_LEN	64
/* Go's zero time, which headscale prints for "never". */
#define GO_ZERO_TIME	(-62135596800LL)
#define TAGGED_USER_ID	2147455555LL

enum {
	CMD_VERSION = 1, CMD_HEALTH, CMD_CONFIGTEST,
	CMD_USERS_CREATE, CMD_USERS_LIST, CMD_USERS_DESTROY, CMD_USERS_RENAME,
	CMD_KEYS_CREATE, CMD_KEYS_LIST, CMD_KEYS_EXPIRE, CMD_KEYS_DELETE,
	CMD_NODES_LIST, CMD_NODES_REGISTER, CMD_NODES_DELETE, CMD_NODES_EXPIRE,
	CMD_NODES_RENAME
};

static const struct flag_def global_flags[] = {
	{ "config", 'c', FLAG_STRING, NULL,
	    "config file (default is /etc/headscale/config.yaml)", 0 },
	{ "force", 0, FLAG_BOOL, NULL, "answer yes to every prompt", 0 },
	{ "output", 'o', FLAG_STRING, NULL,
	    "output format: empty for text, json, json-line or yaml", 0 },
	{ NULL, 0, FLAG_BOOL, NULL, NULL, 0 }
};

static const struct flag_def users_create_flags[] = {
	{ "display-name", 'd', FLAG_STRING, NULL, "display name", 0 },
	{ "email", 'e', FLAG_STRING, NULL, "email address", 0 },
	{ "picture-url", 'p', FLAG_STRING, NULL, "profile picture URL", 0 },
	{ NULL, 0, FLAG_BOOL, NULL, NULL, 0 }
};

static const struct flag_def users_list_flags[] = {
	{ "identifier", 'i', FLAG_INT64, "-1", "only the user with this id", 0 },
	{ "name", 'n', FLAG_STRING, NULL, "only the user with this name", 0 },
	{ "email", 'e', FLAG_STRING, NULL, "only the user with this email", 0 },
	{ NULL, 0, FLAG_BOOL, NULL, NULL, 0 }
};

static const struct flag_def users_pick_flags[] = {
	{ "identifier", 'i', FLAG_INT64, "-1", "user id", 0 },
	{ "name", 'n', FLAG_STRING, NULL, "user name", 0 },
	{ NULL, 0, FLAG_BOOL, NULL, NULL, 0 }
};

static const struct flag_def users_rename_flags[] = {
	{ "identifier", 'i', FLAG_INT64, "-1", "user id", 0 },
	{ "name", 'n', FLAG_STRING, NULL, "user name", 0 },
	{ "new-name", 'r', FLAG_STRING, NULL, "the new user name", 0 },
	{ NULL, 0, FLAG_BOOL, NULL, NULL, 0 }
};

static const struct flag_def keys_create_flags[] = {
	{ "user", 'u', FLAG_UINT64, NULL, "owner's user id", 0 },
	{ "reusable", 0, FLAG_BOOL, NULL, "the key may be used many times", 0 },
	{ "ephemeral", 0, FLAG_BOOL, NULL, "nodes using it are ephemeral", 0 },
	{ "expiration", 'e', FLAG_STRING, "1h",
	    "lifetime (integer and unit: 30m, 24h, 90d)", 0 },
	{ "tags", 0, FLAG_STRINGS, NULL, "tags for the nodes (tag:name)", 0 },
	{ NULL, 0, FLAG_BOOL, NULL, NULL, 0 }
};

static const struct flag_def keys_id_flags[] = {
	{ "id", 'i', FLAG_UINT64, NULL, "pre-auth key id", 0 },
	{ NULL, 0, FLAG_BOOL, NULL, NULL, 0 }
};

static const struct flag_def nodes_list_flags[] = {
	{ "user", 'u', FLAG_STRING, NULL, "only nodes of this user name", 0 },
	{ "namespace", 'n', FLAG_STRING, NULL, "ignored", 0 },
	{ NULL, 0, FLAG_BOOL, NULL, NULL, 0 }
};

static const struct flag_def nodes_register_flags[] = {
	{ "user", 'u', FLAG_STRING, NULL, "user name", 1 },
	{ "key", 'k', FLAG_STRING, NULL, "registration id", 1 },
	{ NULL, 0, FLAG_BOOL, NULL, NULL, 0 }
};

static const struct flag_def nodes_id_flags[] = {
	{ "identifier", 'i', FLAG_UINT64, NULL, "node id", 1 },
	{ NULL, 0, FLAG_BOOL, NULL, NULL, 0 }
};

static const struct flag_def nodes_expire_flags[] = {
	{ "identifier", 'i', FLAG_UINT64, NULL, "node id", 1 },
	{ "expiry", 'e', FLAG_STRING, NULL, "expiry time (RFC 3339)", 0 },
	{ NULL, 0, FLAG_BOOL, NULL, NULL, 0 }
};

static const struct command users_cmds[] = {
	{ "create", "c new", "NAME", "Create a user", users_create_flags,
	    NULL, 1, CMD_USERS_CREATE },
	{ "list", "ls show", NULL, "List users", users_list_flags, NULL, 0,
	    CMD_USERS_LIST },
	{ "destroy", "delete", NULL, "Delete a user", users_pick_flags, NULL,
	    0, CMD_USERS_DESTROY },
	{ "rename", "mv", NULL, "Rename a user", users_rename_flags, NULL, 0,
	    CMD_USERS_RENAME },
	{ NULL, NULL, NULL, NULL, NULL, NULL, 0, 0 }
};

static const struct command keys_cmds[] = {
	{ "create", "c new", NULL, "Create a pre-auth key", keys_create_flags,
	    NULL, 0, CMD_KEYS_CREATE },
	{ "list", "ls show", NULL, "List all pre-auth keys", NULL, NULL, 0,
	    CMD_KEYS_LIST },
	{ "expire", "revoke exp e", NULL, "Expire a pre-auth key",
	    keys_id_flags, NULL, 0, CMD_KEYS_EXPIRE },
	{ "delete", "del rm d", NULL, "Delete a pre-auth key", keys_id_flags,
	    NULL, 0, CMD_KEYS_DELETE },
	{ NULL, NULL, NULL, NULL, NULL, NULL, 0, 0 }
};

static const struct command nodes_cmds[] = {
	{ "list", "ls show", NULL, "List nodes", nodes_list_flags, NULL, 0,
	    CMD_NODES_LIST },
	{ "register", NULL, NULL, "Register a waiting node",
	    nodes_register_flags, NULL, 0, CMD_NODES_REGISTER },
	{ "delete", "del", NULL, "Delete a node", nodes_id_flags, NULL, 0,
	    CMD_NODES_DELETE },
	{ "expire", "logout exp e", NULL, "Expire a node", nodes_expire_flags,
	    NULL, 0, CMD_NODES_EXPIRE },
	{ "rename", NULL, "NEW_NAME", "Rename a node", nodes_id_flags, NULL, 0,
	    CMD_NODES_RENAME },
	{ NULL, NULL, NULL, NULL, NULL, NULL, 0, 0 }
};

static const struct command root_cmds[] = {
	{ "version", NULL, NULL, "Print the version", NULL, NULL, 0,
	    CMD_VERSION },
	{ "health", NULL, NULL, "Check that the server answers", NULL, NULL, 0,
	    CMD_HEALTH },
	{ "configtest", NULL, NULL, "Check the configuration", NULL, NULL, 0,
	    CMD_CONFIGTEST },
	{ "users", "user namespace namespaces ns", NULL, "Manage users", NULL,
	    users_cmds, 0, 0 },
	{ "preauthkeys", "preauthkey authkey pre", NULL,
	    "Manage pre-auth keys", NULL, keys_cmds, 0, 0 },
	{ "nodes", "node machine machines", NULL, "Manage nodes", NULL,
	    nodes_cmds, 0, 0 },
	{ NULL, NULL, NULL, NULL, NULL, NULL, 0, 0 }
};

static const struct command root = {
	"headscale", NULL, NULL,
	"headscale: the control server of a Tailscale network (stand-in)",
	NULL, root_cmds, 0, 0
};

static struct cli	 cli;
static const char	*output = "";

/* Output: what SuccessOutput and ErrorOutput print for each -o. */

static int
machine(void)
{
	return strcmp(output, "json") == 0 || strcmp(output, "json-line") == 0;
}

static void
emit(FILE *f, struct json_object *v)
{
	gojson_write(f, v, strcmp(output, "json") == 0);
	putc('\n', f);
}

static _Noreturn void
success(struct json_object *v, const char *human)
{
	if (machine())
		emit(stdout, v);
	else
		printf("%s\n", human);
	json_object_put(v);
	store_exit(0);
}

static _Noreturn void
failure(const char *err, const char *human)
{
	struct json_object	*o;

	if (machine()) {
		o = json_object_new_object();
		json_object_object_add(o, "error", json_object_new_string(err));
		emit(stderr, o);
		json_object_put(o);
	} else
		fprintf(stderr, "%s\n", human);
	store_exit(1);
}

/* A server error, as the gRPC client formats it. */
static _Noreturn void
rpc_failure(const char *code, const char *desc, const char *human)
{
	char	err[512], text[512];

	snprintf(err, sizeof err, "rpc error: code = %s desc = %s", code, desc);
	snprintf(text, sizeof text, "%s%s", human, desc);
	failure(err, text);
}

/* A zerolog console line on stderr, as the CLI logs without colour. */
static void __attribute__((format(printf, 2, 3)))
log_line(const char *level, const char *fmt, ...)
{
	char		stamp[32];
	time_t		now = time(NULL);
	struct tm	tm;
	va_list		ap;

	gmtime_r(&now, &tm);
	strftime(stamp, sizeof stamp, "%Y-%m-%dT%H:%M:%SZ", &tm);
	fprintf(stderr, "%s %s ", stamp, level);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	putc('\n', stderr);
}

static _Noreturn void
fatal_connect(void)
{
	log_line("FTL", "cmd/headscale/cli/utils.go:124 > Could not connect: "
	    "context deadline exceeded error=\"context deadline exceeded\"");
	store_exit(1);
}

/* Human tables: columns padded and joined with " | ", as pterm draws. */

struct table {
	char	**cells;
	size_t	  n, cap, cols;
};

static void __attribute__((format(printf, 2, 3)))
cell(struct table *t, const char *fmt, ...)
{
	va_list	ap;

	if (t->n == t->cap) {
		t->cap = t->cap ? t->cap * 2 : 64;
		if ((t->cells = realloc(t->cells, t->cap * sizeof *t->cells)) ==
		    NULL)
			abort();
	}
	va_start(ap, fmt);
	if (vasprintf(&t->cells[t->n++], fmt, ap) < 0)
		abort();
	va_end(ap);
}

static _Noreturn void
print_table(struct table *t)
{
	size_t	width[16] = { 0 }, i;

	for (i = 0; i < t->n; i++)
		if (strlen(t->cells[i]) > width[i % t->cols])
			width[i % t->cols] = strlen(t->cells[i]);
	for (i = 0; i < t->n; i++) {
		size_t c = i % t->cols;

		if (c + 1 < t->cols)
			printf("%-*s | ", (int)width[c], t->cells[i]);
		else
			printf("%s\n", t->cells[i]);
	}
	store_exit(0);
}

/* State access: json-c objects with defaults for absent members. */

static int64_t
geti(struct json_object *o, const char *key)
{
	struct json_object	*v;

	return json_object_object_get_ex(o, key, &v) ?
	    json_object_get_int64(v) : 0;
}

static const char *
gets_(struct json_object *o, const char *key)
{
	struct json_object	*v;

	return json_object_object_get_ex(o, key, &v) &&
	    json_object_is_type(v, json_type_string) ?
	    json_object_get_string(v) : "";
}

static struct json_object *
getm(struct json_object *o, const char *key)
{
	struct json_object	*v;

	return json_object_object_get_ex(o, key, &v) &&
	    !json_object_is_type(v, json_type_null) ? v : NULL;
}

/* The array member key of the state, created when absent. */
static struct json_object *
list(struct json_object *state, const char *key)
{
	struct json_object	*a = getm(state, key);

	if (a == NULL || !json_object_is_type(a, json_type_array)) {
		a = json_object_new_array();
		json_object_object_add(state, key, a);
	}
	return a;
}

static struct json_object *
find_id(struct json_object *arr, int64_t id, size_t *idx)
{
	size_t	i;

	for (i = 0; i < json_object_array_length(arr); i++)
		if (geti(json_object_array_get_idx(arr, i), "id") == id) {
			if (idx != NULL)
				*idx = i;
			return json_object_array_get_idx(arr, i);
		}
	return NULL;
}

static struct json_object *
find_str(struct json_object *arr, const char *key, const char *value)
{
	size_t	i;

	for (i = 0; i < json_object_array_length(arr); i++)
		if (strcmp(gets_(json_object_array_get_idx(arr, i), key),
		    value) == 0)
			return json_object_array_get_idx(arr, i);
	return NULL;
}

/* Ids start at 1 and are never reused, like sqlite's rowids here. */
static int64_t
next_id(struct json_object *state, const char *key)
{
	int64_t	id = geti(state, key);

	if (id < 1)
		id = 1;
	json_object_object_add(state, key, json_object_new_int64(id + 1));
	return id;
}

static struct json_object *
stamp(int64_t sec, int32_t nsec)
{
	struct json_object	*t = json_object_new_object();

	json_object_object_add(t, "seconds", json_object_new_int64(sec));
	json_object_object_add(t, "nanos", json_object_new_int(nsec));
	return t;
}

static struct json_object *
stamp_now(void)
{
	int64_t	sec;
	int32_t	nsec;

	store_now(&sec, &nsec);
	return stamp(sec, nsec);
}

/* Output objects: proto field order, every empty field left out. */

static void
put_str(struct json_object *o, const char *key, const char *s)
{
	if (*s != '\0')
		json_object_object_add(o, key, json_object_new_string(s));
}

static void
put_int(struct json_object *o, const char *key, int64_t n)
{
	if (n != 0)
		json_object_object_add(o, key, json_object_new_int64(n));
}

static void
put_bool(struct json_object *o, const char *key, int b)
{
	if (b)
		json_object_object_add(o, key, json_object_new_boolean(1));
}

static void
put_stamp(struct json_object *o, const char *key, struct json_object *t)
{
	struct json_object	*v;

	if (t == NULL)
		return;
	v = json_object_new_object();
	put_int(v, "seconds", geti(t, "seconds"));
	put_int(v, "nanos", geti(t, "nanos"));
	json_object_object_add(o, key, v);
}

static void
put_list(struct json_object *o, const char *key, struct json_object *arr)
{
	if (arr != NULL && json_object_array_length(arr) > 0)
		json_object_object_add(o, key, json_object_get(arr));
}

static struct json_object *
user_out(struct json_object *u)
{
	struct json_object	*o = json_object_new_object();

	put_int(o, "id", geti(u, "id"));
	put_str(o, "name", gets_(u, "name"));
	put_stamp(o, "created_at", getm(u, "created_at"));
	put_str(o, "display_name", gets_(u, "display_name"));
	put_str(o, "email", gets_(u, "email"));
	put_str(o, "profile_pic_url", gets_(u, "picture_url"));
	return o;
}

/* The owner headscale shows for nodes that belong to tags, not a user. */
static struct json_object *
tagged_user_out(void)
{
	struct json_object	*o = json_object_new_object(), *t;

	put_int(o, "id", TAGGED_USER_ID);
	put_str(o, "name", "tagged-devices");
	t = json_object_new_object();
	put_int(t, "seconds", GO_ZERO_TIME);
	json_object_object_add(o, "created_at", t);
	put_str(o, "display_name", "Tagged Devices");
	return o;
}

/* A key as listed (masked) or, with full, as created. */
static struct json_object *
key_out(struct json_object *state, struct json_object *k, const char *full)
{
	struct json_object	*o = json_object_new_object(), *u;
	char			 masked[64];

	u = find_id(list(state, "users"), geti(k, "user_id"), NULL);
	if (geti(k, "user_id") != 0 && u != NULL)
		json_object_object_add(o, "user", user_out(u));
	put_int(o, "id", geti(k, "id"));
	snprintf(masked, sizeof masked, KEY_PREFIX "%s-***", gets_(k, "prefix"));
	put_str(o, "key", full != NULL ? full : masked);
	put_bool(o, "reusable", json_object_get_boolean(getm(k, "reusable")));
	put_bool(o, "ephemeral", json_object_get_boolean(getm(k, "ephemeral")));
	put_bool(o, "used", json_object_get_boolean(getm(k, "used")));
	put_stamp(o, "expiration", getm(k, "expiration"));
	put_stamp(o, "created_at", getm(k, "created_at"));
	put_list(o, "acl_tags", getm(k, "tags"));
	return o;
}

static struct json_object *
node_out(struct json_object *state, struct json_object *n)
{
	struct json_object	*o = json_object_new_object(), *ips, *u, *k;
	struct json_object	*tags = getm(n, "tags");

	put_int(o, "id", geti(n, "id"));
	put_str(o, "machine_key", gets_(n, "machine_key"));
	put_str(o, "node_key", gets_(n, "node_key"));
	put_str(o, "disco_key", gets_(n, "disco_key"));
	ips = json_object_new_array();
	json_object_array_add(ips, json_object_new_string(gets_(n, "ipv4")));
	json_object_array_add(ips, json_object_new_string(gets_(n, "ipv6")));
	json_object_object_add(o, "ip_addresses", ips);
	put_str(o, "name", gets_(n, "name"));
	u = find_id(list(state, "users"), geti(n, "user_id"), NULL);
	if (tags != NULL && json_object_array_length(tags) > 0)
		json_object_object_add(o, "user", tagged_user_out());
	else if (u != NULL)
		json_object_object_add(o, "user", user_out(u));
	put_stamp(o, "last_seen", getm(n, "last_seen"));
	put_stamp(o, "expiry", getm(n, "expiry"));
	k = find_id(list(state, "keys"), geti(n, "key_id"), NULL);
	if (geti(n, "key_id") != 0 && k != NULL)
		json_object_object_add(o, "pre_auth_key",
		    key_out(state, k, NULL));
	put_stamp(o, "created_at", getm(n, "created_at"));
	put_int(o, "register_method", geti(n, "register_method"));
	put_str(o, "given_name", gets_(n, "given_name"));
	/* Connected nodes only: "online": false is omitted like every zero. */
	put_bool(o, "online", json_object_get_boolean(getm(n, "online")));
	put_list(o, "approved_routes", getm(n, "approved_routes"));
	put_list(o, "available_routes", getm(n, "available_routes"));
	put_list(o, "subnet_routes", getm(n, "subnet_routes"));
	put_list(o, "tags", tags);
	return o;
}

/* Reaching the server: faults first, then the state under the lock. */

/*
 * cli.timeout as viper reads HEADSCALE_CLI_TIMEOUT: a Go duration ("2s",
 * "500ms", "0.5s"), a bare number meaning nanoseconds, 0 when invalid.
 */
static double
cli_timeout(void)
{
	static const struct {
		const char	*unit;
		double		 secs;
	} units[] = {
		{ "ns", 1e-9 }, { "us", 1e-6 }, { "\xc2\xb5s", 1e-6 },
		{ "\xce\xbcs", 1e-6 }, { "ms", 1e-3 }, { "s", 1 }, { "m", 60 },
		{ "h", 3600 }
	};
	const char	*s = getenv("HEADSCALE_CLI_TIMEOUT");
	double		 total = 0, v, scale;
	size_t		 i, n;
	int		 digits, neg = 0;

	if (s == NULL || *s == '\0')
		return 5;
	if (strspn(s, "+-.0123456789") == strlen(s))
		return strtod(s, NULL) > 0 ? strtod(s, NULL) * 1e-9 : 0;
	if (*s == '+' || *s == '-')
		neg = *s++ == '-';
	while (*s != '\0') {
		for (v = 0, digits = 0; isdigit((unsigned char)*s); s++, digits++)
			v = v * 10 + (*s - '0');
		if (*s == '.')
			for (s++, scale = 0.1; isdigit((unsigned char)*s);
			    s++, digits++, scale /= 10)
				v += (*s - '0') * scale;
		n = strcspn(s, "0123456789.");
		if (digits == 0 || n == 0)
			return 0;
		for (i = 0; i < sizeof units / sizeof units[0]; i++)
			if (strlen(units[i].unit) == n &&
			    strncmp(s, units[i].unit, n) == 0)
				break;
		if (i == sizeof units / sizeof units[0])
			return 0;
		total += v * units[i].secs;
		s += n;
	}
	return neg ? 0 : total;
}

/* Prints 10 MiB of never-ending JSON-looking text. */
static void
huge(void)
{
	static const char	chunk[] = "{\"id\": 1, \"name\": \"x\"},\n";
	size_t			left = 10 * 1024 * 1024, n;

	while (left > 0) {
		n = left < sizeof chunk - 1 ? left : sizeof chunk - 1;
		if (fwrite(chunk, 1, n, stdout) != n)
			break;
		left -= n;
	}
}

static struct json_object *
dial(int exclusive)
{
	struct fault	f;

	if (!store_present()) {
		/* The default socket does not exist: the dial times out. */
		store_nap(cli_timeout());
		fatal_connect();
	}
	f = store_fault(cli.path[1]->name,
	    cli.depth > 2 ? cli.path[2]->name : "");
	switch (f.kind) {
	case FAULT_NONE:
		break;
	case FAULT_FAIL:
		rpc_failure("Internal", "injected failure", "Error: ");
	case FAULT_HANG:
		store_nap(3600);
		fatal_connect();
	case FAULT_GARBAGE:
		fputs("garbage <html> this is not JSON {\"id\": \n", stdout);
		store_exit(0);
	case FAULT_HUGE:
		huge();
		store_exit(0);
	case FAULT_SLOW:
		store_nap(f.secs);
		break;
	case FAULT_DOWN:
		store_nap(f.secs >= 0 ? f.secs : cli_timeout());
		fatal_connect();
	case FAULT_EXIT:
		store_exit(f.code);
	case FAULT_NULL:
		fputs("null\n", stdout);
		store_exit(0);
	case FAULT_BAD:
		fprintf(stderr, "headscale stand-in: fault file not "
		    "understood\n");
		store_exit(1);
	}
	return store_open(exclusive);
}

/* util.YesNo: the question on stderr, yes only for y, yes or sure. */
static int
confirm(const char *question)
{
	char	line[64];
	size_t	i;

	fprintf(stderr, "%s [y/n] ", question);
	fflush(stderr);
	if (fgets(line, sizeof line, stdin) == NULL)
		return 0;
	line[strcspn(line, "\r\n")] = '\0';
	for (i = 0; line[i] != '\0'; i++)
		line[i] = (char)tolower((unsigned char)line[i]);
	return strcmp(line, "y") == 0 || strcmp(line, "yes") == 0 ||
	    strcmp(line, "sure") == 0;
}

static void
random_text(char *dst, size_t n, const char *alphabet, unsigned mask)
{
	unsigned char	buf[128];
	size_t		got = 0, i;
	ssize_t		r;

	if (n > sizeof buf)
		abort();
	while (got < n) {
		r = getrandom(buf + got, n - got, 0);
		if (r < 0 && errno != EINTR)
			abort();
		if (r > 0)
			got += (size_t)r;
	}
	for (i = 0; i < n; i++)
		dst[i] = alphabet[buf[i] & mask];
	dst[n] = '\0';
	explicit_bzero(buf, sizeof buf);
}

static char *
hex_key(const char *prefix)
{
	char	hex[65], *s;

	random_text(hex, 64, "0123456789abcdef", 15);
	if (asprintf(&s, "%s%s", prefix, hex) < 0)
		abort();
	return s;
}

static void
fmt_time(char *buf, size_t len, struct json_object *t)
{
	time_t		sec = (time_t)geti(t, "seconds");
	struct tm	tm;

	if (t == NULL || gmtime_r(&sec, &tm) == NULL)
		snprintf(buf, len, "N/A");
	else
		strftime(buf, len, "%Y-%m-%d %H:%M:%S", &tm);
}

/* Commands. Each ends the process through success() or failure(). */

static _Noreturn void
run_version(void)
{
	struct json_object	*o = json_object_new_object(), *go;

	json_object_object_add(o, "version", json_object_new_string(HS_VERSION));
	json_object_object_add(o, "commit", json_object_new_string("standin"));
	json_object_object_add(o, "buildTime",
	    json_object_new_string("1970-01-01T00:00:00Z"));
	go = json_object_new_object();
	json_object_object_add(go, "version", json_object_new_string("go1.25"));
	json_object_object_add(go, "os", json_object_new_string("linux"));
	json_object_object_add(go, "arch", json_object_new_string("amd64"));
	json_object_object_add(o, "go", go);
	json_object_object_add(o, "dirty", json_object_new_boolean(0));
	/* VersionInfo.String(): four lines, each ending in a newline. */
	success(o, "headscale version " HS_VERSION "\ncommit: standin\n"
	    "build time: 1970-01-01T00:00:00Z\nbuilt with: go1.25 linux/amd64\n");
}

static _Noreturn void
run_health(void)
{
	struct json_object	*o = json_object_new_object();

	(void)dial(0);
	json_object_object_add(o, "database_connectivity",
	    json_object_new_boolean(1));
	success(o, "Database connectivity: OK");
}

/* The stand-in has no server config to validate; it checks readability. */
static _Noreturn void
run_configtest(const char *config)
{
	FILE	*f;

	if (config == NULL || *config == '\0')
		config = "/etc/headscale/config.yaml";
	if ((f = fopen(config, "re")) == NULL) {
		log_line("FTL", "cmd/headscale/cli/configtest.go:18 > Error "
		    "initializing error=\"open %s: %s\"", config,
		    strerror(errno));
		store_exit(1);
	}
	fclose(f);
	store_exit(0);
}

static _Noreturn void
users_create(void)
{
	struct json_object	*state, *u;
	const char		*name = cli.pos[0];

	state = dial(1);
	if (find_str(list(state, "users"), "name", name) != NULL)
		rpc_failure("Internal", "failed to create user: creating user: "
		    "constraint failed: UNIQUE constraint failed: users.name "
		    "(2067)", "Cannot create user: ");
	u = json_object_new_object();
	json_object_object_add(u, "id",
	    json_object_new_int64(next_id(state, "next_user_id")));
	json_object_object_add(u, "name", json_object_new_string(name));
	json_object_object_add(u, "display_name",
	    json_object_new_string(cli_str(&cli, "display-name")));
	json_object_object_add(u, "email",
	    json_object_new_string(cli_str(&cli, "email")));
	json_object_object_add(u, "picture_url",
	    json_object_new_string(cli_str(&cli, "picture-url")));
	json_object_object_add(u, "created_at", stamp_now());
	json_object_array_add(list(state, "users"), u);
	store_save();
	success(user_out(u), "User created");
}

static _Noreturn void
users_list(void)
{
	struct json_object	*state, *users, *u, *out = NULL;
	struct table		 t = { .cols = 5 };
	int64_t			 id = cli_i64(&cli, "identifier");
	const char		*name = cli_str(&cli, "name");
	const char		*email = cli_str(&cli, "email");
	char			 when[32];
	size_t			 i;

	state = dial(0);
	users = list(state, "users");
	cell(&t, "ID");
	cell(&t, "Name");
	cell(&t, "Username");
	cell(&t, "Email");
	cell(&t, "Created");
	for (i = 0; i < json_object_array_length(users); i++) {
		u = json_object_array_get_idx(users, i);
		if (id > 0 ? geti(u, "id") != id :
		    *name != '\0' ? strcmp(gets_(u, "name"), name) != 0 :
		    *email != '\0' && strcmp(gets_(u, "email"), email) != 0)
			continue;
		if (out == NULL)
			out = json_object_new_array();
		json_object_array_add(out, user_out(u));
		fmt_time(when, sizeof when, getm(u, "created_at"));
		cell(&t, "%lld", (long long)geti(u, "id"));
		cell(&t, "%s", gets_(u, "display_name"));
		cell(&t, "%s", gets_(u, "name"));
		cell(&t, "%s", gets_(u, "email"));
		cell(&t, "%s", when);
	}
	if (machine())
		success(out, "");
	print_table(&t);
}

/*
 * The user named by -n, else by -i, as the CLI asks the server before a
 * destroy or rename; fails unless exactly one matches.
 */
static struct json_object *
pick_user(struct json_object *state, const char *verb)
{
	struct json_object	*users = list(state, "users"), *u, *hit = NULL;
	int64_t			 id = cli_i64(&cli, "identifier");
	const char		*name = cli_str(&cli, "name");
	char			 msg[128];
	size_t			 i, n = 0;

	for (i = 0; i < json_object_array_length(users); i++) {
		u = json_object_array_get_idx(users, i);
		if (*name != '\0' ? strcmp(gets_(u, "name"), name) == 0 :
		    id == 0 || geti(u, "id") == id) {
			hit = u;
			n++;
		}
	}
	if (n != 1) {
		snprintf(msg, sizeof msg, "Unable to determine user to %s, "
		    "query returned multiple users, use ID", verb);
		failure(msg, msg);
	}
	return hit;
}

static void
need_user_flag(void)
{
	/* Printed as text whatever -o says, with the word from rename. */
	if (cli_i64(&cli, "identifier") < 0 && *cli_str(&cli, "name") == '\0') {
		fprintf(stderr, "Cannot rename user: --name or --identifier "
		    "flag is required\n");
		store_exit(1);
	}
}

static _Noreturn void
users_destroy(void)
{
	struct json_object	*state, *u, *nodes, *o;
	char			 q[160], qn[96];
	int64_t			 id;
	size_t			 i, idx;

	need_user_flag();
	state = dial(0);
	u = pick_user(state, "delete");
	id = geti(u, "id");
	snprintf(q, sizeof q, "Do you want to remove the user %s (%lld) and "
	    "any associated preauthkeys?", cli_quote(qn, sizeof qn,
	    gets_(u, "name")), (long long)id);
	store_close();
	if (!cli_bool(&cli, "force") && !confirm(q)) {
		o = json_object_new_object();
		json_object_object_add(o, "Result",
		    json_object_new_string("User not destroyed"));
		success(o, "User not destroyed");
	}
	state = store_open(1);
	if (find_id(list(state, "users"), id, &idx) == NULL)
		rpc_failure("Unknown", "user not found", "Cannot destroy user: ");
	nodes = list(state, "nodes");
	for (i = 0; i < json_object_array_length(nodes); i++)
		if (geti(json_object_array_get_idx(nodes, i), "user_id") == id)
			rpc_failure("Unknown", "user not empty: node(s) found",
			    "Cannot destroy user: ");
	/* The 0.28 bug: every user's pre-auth keys go, not just this one's. */
	json_object_object_add(state, "keys", json_object_new_array());
	for (i = 0; i < json_object_array_length(nodes); i++)
		json_object_object_add(json_object_array_get_idx(nodes, i),
		    "key_id", json_object_new_int64(0));
	json_object_array_del_idx(list(state, "users"), idx, 1);
	store_save();
	success(json_object_new_object(), "User destroyed");
}

static _Noreturn void
users_rename(void)
{
	struct json_object	*state, *u, *other;
	const char		*to = cli_str(&cli, "new-name");
	int64_t			 id = cli_i64(&cli, "identifier");

	need_user_flag();
	state = dial(1);
	(void)pick_user(state, "rename");
	/* The request carries only the id; by name alone it is -1 (0.28 bug). */
	u = id >= 0 ? find_id(list(state, "users"), id, NULL) : NULL;
	if (u == NULL)
		rpc_failure("Unknown", "user not found", "Cannot rename user: ");
	other = find_str(list(state, "users"), "name", to);
	if (other != NULL && other != u)
		rpc_failure("Internal", "failed to rename user: constraint "
		    "failed: UNIQUE constraint failed: users.name (2067)",
		    "Cannot rename user: ");
	json_object_object_add(u, "name", json_object_new_string(to));
	store_save();
	success(user_out(u), "User renamed");
}

/*
 * model.ParseDuration from prometheus/common, which -e goes through:
 * integers with units y w d h m s ms, largest first, or "0". Returns
 * milliseconds, or -1 with Go's message in err.
 */
static int64_t
key_lifetime(const char *s, char *err, size_t errlen)
{
	static const struct {
		const char	*unit;
		uint64_t	 ns;
	} units[] = {
		{ "y", 365ULL * 86400 * 1000000000 },
		{ "w", 7ULL * 86400 * 1000000000 },
		{ "d", 86400ULL * 1000000000 }, { "h", 3600ULL * 1000000000 },
		{ "m", 60ULL * 1000000000 }, { "s", 1000000000ULL },
		{ "ms", 1000000ULL }
	};
	const char	*p = s;
	char		 q[96], qu[64], unit[16];
	uint64_t	 total = 0, v;
	size_t		 i, n, last = 0;

	if (strcmp(s, "0") == 0)
		return 0;
	if (*s == '\0') {
		snprintf(err, errlen, "empty duration string");
		return -1;
	}
	while (*p != '\0') {
		if (!isdigit((unsigned char)*p))
			goto invalid;
		for (v = 0, n = 0; isdigit((unsigned char)p[n]); n++) {
			if (v > (UINT64_MAX - 9) / 10)
				goto invalid;
			v = v * 10 + (uint64_t)(p[n] - '0');
		}
		p += n;
		for (n = 0; p[n] != '\0' && !isdigit((unsigned char)p[n]); n++)
			;
		if (n == 0)
			goto invalid;
		snprintf(unit, sizeof unit, "%.*s", (int)n, p);
		p += n;
		for (i = 0; i < sizeof units / sizeof units[0]; i++)
			if (strcmp(units[i].unit, unit) == 0)
				break;
		if (i == sizeof units / sizeof units[0]) {
			snprintf(err, errlen, "unknown unit %s in duration %s",
			    cli_quote(qu, sizeof qu, unit),
			    cli_quote(q, sizeof q, s));
			return -1;
		}
		if (i + 1 <= last)
			goto invalid;
		last = i + 1;
		if (v > (1ULL << 63) / units[i].ns)
			goto range;
		total += v * units[i].ns;
		if (total > (uint64_t)INT64_MAX)
			goto range;
	}
	return (int64_t)(total / 1000000);
invalid:
	snprintf(err, errlen, "not a valid duration string: %s",
	    cli_quote(q, sizeof q, s));
	return -1;
range:
	snprintf(err, errlen, "duration out of range");
	return -1;
}

static int
cmp_str(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* --tags: each "tag:" and lowercase without spaces; sorted, deduplicated. */
static struct json_object *
key_tags(void)
{
	const struct flag_value	*v = cli_flag(&cli, "tags");
	const char		*tags[CLI_MAX_LIST];
	struct json_object	*arr = json_object_new_array();
	char			 msg[256], q[128];
	size_t			 i, n = v->nlist;

	memcpy(tags, v->list, n * sizeof tags[0]);
	qsort(tags, n, sizeof tags[0], cmp_str);
	for (i = 0; i < n; i++) {
		const char *t = tags[i], *c;

		for (c = t; *c != '\0'; c++)
			if (isupper((unsigned char)*c) ||
			    isspace((unsigned char)*c))
				break;
		if (strncmp(t, "tag:", 4) != 0 || t[4] == '\0' || *c != '\0') {
			snprintf(msg, sizeof msg, "invalid tag %s: tags start "
			    "with \"tag:\" and are lowercase without spaces",
			    cli_quote(q, sizeof q, t));
			rpc_failure("InvalidArgument", msg,
			    "Cannot create Pre Auth Key: ");
		}
		if (i == 0 || strcmp(tags[i - 1], t) != 0)
			json_object_array_add(arr, json_object_new_string(t));
	}
	return arr;
}

static _Noreturn void
keys_create(void)
{
	struct json_object	*state, *k, *tags;
	uint64_t		 user = cli_u64(&cli, "user");
	char			 err[160], human[200];
	char			 prefix[KEY_PREFIX_LEN + 1];
	char			 secret[KEY_SECRET_LEN + 1];
	char			 hash[SHA256_HEX_LEN + 1];
	char			 full[sizeof KEY_PREFIX + KEY_PREFIX_LEN +
				    KEY_SECRET_LEN + 1];
	static const char	 b64url[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
				    "abcdefghijklmnopqrstuvwxyz0123456789-_";
	int64_t			 ms, sec;
	int32_t			 nsec;

	if ((ms = key_lifetime(cli_str(&cli, "expiration"), err,
	    sizeof err)) < 0) {
		snprintf(human, sizeof human, "Could not parse duration: %s\n",
		    err);
		failure(err, human);
	}
	state = dial(1);
	if (user != 0 && find_id(list(state, "users"), (int64_t)user,
	    NULL) == NULL)
		rpc_failure("Unknown", "user not found",
		    "Cannot create Pre Auth Key: ");
	tags = key_tags();
	if (user == 0 && json_object_array_length(tags) == 0)
		rpc_failure("Unknown", "auth-key must be either tagged or "
		    "owned by user", "Cannot create Pre Auth Key: ");

	random_text(prefix, KEY_PREFIX_LEN, b64url, 63);
	random_text(secret, KEY_SECRET_LEN, b64url, 63);
	snprintf(full, sizeof full, KEY_PREFIX "%s-%s", prefix, secret);
	sha256_hex(full, strlen(full), hash);
	store_now(&sec, &nsec);
	k = json_object_new_object();
	json_object_object_add(k, "id",
	    json_object_new_int64(next_id(state, "next_key_id")));
	json_object_object_add(k, "user_id",
	    json_object_new_int64((int64_t)user));
	json_object_object_add(k, "prefix", json_object_new_string(prefix));
	json_object_object_add(k, "hash", json_object_new_string(hash));
	json_object_object_add(k, "reusable",
	    json_object_new_boolean(cli_bool(&cli, "reusable")));
	json_object_object_add(k, "ephemeral",
	    json_object_new_boolean(cli_bool(&cli, "ephemeral")));
	json_object_object_add(k, "used", json_object_new_boolean(0));
	json_object_object_add(k, "expiration", stamp(sec + ms / 1000 +
	    (nsec + ms % 1000 * 1000000) / 1000000000,
	    (int32_t)((nsec + ms % 1000 * 1000000) % 1000000000)));
	json_object_object_add(k, "created_at", stamp(sec, nsec));
	json_object_object_add(k, "tags", tags);
	json_object_array_add(list(state, "keys"), k);
	store_save();
	explicit_bzero(secret, sizeof secret);
	if (machine()) {
		struct json_object *o = key_out(state, k, full);

		explicit_bzero(full, sizeof full);
		success(o, "");
	}
	printf("%s\n", full);
	explicit_bzero(full, sizeof full);
	store_exit(0);
}

static _Noreturn void
keys_list(void)
{
	struct json_object	*state, *keys, *k, *u, *tags, *out = NULL;
	struct table		 t = { .cols = 8 };
	char			 exp[32], made[32], owner[256];
	size_t			 i, j, off;

	state = dial(0);
	keys = list(state, "keys");
	cell(&t, "ID");
	cell(&t, "Key/Prefix");
	cell(&t, "Reusable");
	cell(&t, "Ephemeral");
	cell(&t, "Used");
	cell(&t, "Expiration");
	cell(&t, "Created");
	cell(&t, "Owner");
	for (i = 0; i < json_object_array_length(keys); i++) {
		k = json_object_array_get_idx(keys, i);
		if (out == NULL)
			out = json_object_new_array();
		json_object_array_add(out, key_out(state, k, NULL));
		tags = getm(k, "tags");
		u = find_id(list(state, "users"), geti(k, "user_id"), NULL);
		/* Owner: the tags if any, else the user, else "-". */
		snprintf(owner, sizeof owner, "%s", u != NULL ?
		    gets_(u, "name") : "-");
		for (j = 0, off = 0; tags != NULL &&
		    j < json_object_array_length(tags) && off < sizeof owner; j++)
			off += (size_t)snprintf(owner + off, sizeof owner - off,
			    "%s%s", j > 0 ? "," : "", json_object_get_string(
			    json_object_array_get_idx(tags, j)));
		fmt_time(exp, sizeof exp, getm(k, "expiration"));
		fmt_time(made, sizeof made, getm(k, "created_at"));
		cell(&t, "%lld", (long long)geti(k, "id"));
		cell(&t, KEY_PREFIX "%s-***", gets_(k, "prefix"));
		cell(&t, "%s", json_object_get_boolean(getm(k, "reusable")) ?
		    "true" : "false");
		cell(&t, "%s", json_object_get_boolean(getm(k, "ephemeral")) ?
		    "true" : "false");
		cell(&t, "%s", json_object_get_boolean(getm(k, "used")) ?
		    "true" : "false");
		cell(&t, "%s", exp);
		cell(&t, "%s", made);
		cell(&t, "%s", owner);
	}
	if (machine())
		success(out, "");
	print_table(&t);
}

/* expire and delete: -i ID; an id that does not exist still succeeds. */
static _Noreturn void
keys_expire_or_delete(int delete)
{
	struct json_object	*state, *nodes, *n;
	uint64_t		 id = cli_u64(&cli, "id");
	size_t			 idx, i;

	if (id == 0)
		failure("missing parameters", "Error: missing --id parameter");
	state = dial(1);
	if (find_id(list(state, "keys"), (int64_t)id, &idx) != NULL) {
		if (!delete)
			json_object_object_add(json_object_array_get_idx(
			    list(state, "keys"), idx), "expiration",
			    stamp_now());
		else {
			json_object_array_del_idx(list(state, "keys"), idx, 1);
			nodes = list(state, "nodes");
			for (i = 0; i < json_object_array_length(nodes); i++) {
				n = json_object_array_get_idx(nodes, i);
				if (geti(n, "key_id") == (int64_t)id)
					json_object_object_add(n, "key_id",
					    json_object_new_int64(0));
			}
		}
		store_save();
	}
	success(json_object_new_object(), delete ? "Key deleted" :
	    "Key expired");
}

static _Noreturn void
nodes_list(void)
{
	struct json_object	*state, *nodes, *n, *u = NULL, *out = NULL;
	struct json_object	*tags;
	struct table		 t = { .cols = 7 };
	const char		*user = cli_str(&cli, "user");
	char			 seen[32];
	size_t			 i;

	state = dial(0);
	if (*user != '\0' &&
	    (u = find_str(list(state, "users"), "name", user)) == NULL)
		rpc_failure("Unknown", "user not found", "Cannot get nodes: ");
	nodes = list(state, "nodes");
	cell(&t, "ID");
	cell(&t, "Hostname");
	cell(&t, "Name");
	cell(&t, "User");
	cell(&t, "Tags");
	cell(&t, "IP addresses");
	cell(&t, "Last seen");
	for (i = 0; i < json_object_array_length(nodes); i++) {
		n = json_object_array_get_idx(nodes, i);
		if (u != NULL && geti(n, "user_id") != geti(u, "id"))
			continue;
		if (out == NULL)
			out = json_object_new_array();
		json_object_array_add(out, node_out(state, n));
		tags = getm(n, "tags");
		fmt_time(seen, sizeof seen, getm(n, "last_seen"));
		cell(&t, "%lld", (long long)geti(n, "id"));
		cell(&t, "%s", gets_(n, "name"));
		cell(&t, "%s", gets_(n, "given_name"));
		cell(&t, "%s", tags != NULL && json_object_array_length(tags) ?
		    "tagged-devices" : gets_(find_id(list(state, "users"),
		    geti(n, "user_id"), NULL), "name"));
		cell(&t, "%s", tags != NULL && json_object_array_length(tags) ?
		    json_object_get_string(json_object_array_get_idx(tags, 0)) :
		    "");
		cell(&t, "%s, %s", gets_(n, "ipv4"), gets_(n, "ipv6"));
		cell(&t, "%s", seen);
	}
	if (machine())
		success(out, "");
	print_table(&t);
}

/*
 * Registers the node waiting under a registration id, as a client that
 * ran "tailscale up" without a key leaves it (the tailscale stand-in adds
 * it to "pending"). A machine key seen before updates its node.
 */
static _Noreturn void
nodes_register(void)
{
	struct json_object	*state, *u, *p = NULL, *n, *pending;
	const char		*regid = cli_str(&cli, "key");
	char			*host, *lower, msg[160];
	int64_t			 id;
	size_t			 i;

	state = dial(1);
	if (strlen(regid) != 24)
		rpc_failure("Unknown", "registration ID must be 24 characters "
		    "long", "Cannot register node: ");
	if ((u = find_str(list(state, "users"), "name",
	    cli_str(&cli, "user"))) == NULL)
		rpc_failure("Unknown", "looking up user: user not found",
		    "Cannot register node: ");
	pending = list(state, "pending");
	for (i = 0; i < json_object_array_length(pending); i++)
		if (strcmp(gets_(json_object_array_get_idx(pending, i), "id"),
		    regid) == 0)
			break;
	if (i == json_object_array_length(pending))
		rpc_failure("Unknown", "node not found in registration cache",
		    "Cannot register node: ");
	p = json_object_get(json_object_array_get_idx(pending, i));
	json_object_array_del_idx(pending, i, 1);

	n = find_str(list(state, "nodes"), "machine_key",
	    gets_(p, "machine_key"));
	if (n == NULL || *gets_(p, "machine_key") == '\0') {
		n = json_object_new_object();
		id = next_id(state, "next_node_id");
		json_object_object_add(n, "id", json_object_new_int64(id));
		json_object_object_add(n, "machine_key", json_object_new_string(
		    *gets_(p, "machine_key") != '\0' ? gets_(p, "machine_key") :
		    hex_key("mkey:")));
		json_object_object_add(n, "node_key",
		    json_object_new_string(hex_key("nodekey:")));
		json_object_object_add(n, "disco_key",
		    json_object_new_string(hex_key("discokey:")));
		snprintf(msg, sizeof msg, "100.64.%lld.%lld",
		    (long long)(id / 256), (long long)(id % 256));
		json_object_object_add(n, "ipv4", json_object_new_string(msg));
		snprintf(msg, sizeof msg, "fd7a:115c:a1e0::%llx", (long long)id);
		json_object_object_add(n, "ipv6", json_object_new_string(msg));
		json_object_object_add(n, "created_at", stamp_now());
		json_object_array_add(list(state, "nodes"), n);
	}
	host = strdup(*gets_(p, "hostname") != '\0' ? gets_(p, "hostname") :
	    "node");
	if ((lower = strdup(host)) == NULL)
		abort();
	for (i = 0; lower[i] != '\0'; i++)
		lower[i] = (char)tolower((unsigned char)lower[i]);
	json_object_object_add(n, "name", json_object_new_string(host));
	json_object_object_add(n, "given_name", json_object_new_string(lower));
	json_object_object_add(n, "user_id",
	    json_object_new_int64(geti(u, "id")));
	json_object_object_add(n, "key_id", json_object_new_int64(0));
	json_object_object_add(n, "register_method", json_object_new_int(2));
	json_object_object_add(n, "registration_id",
	    json_object_new_string(regid));
	json_object_object_add(n, "last_seen", stamp_now());
	json_object_object_add(n, "tags", json_object_new_array());
	json_object_put(p);
	store_save();
	snprintf(msg, sizeof msg, "Node %s registered", lower);
	success(node_out(state, n), msg);
}

static _Noreturn void
nodes_delete(void)
{
	struct json_object	*state, *n, *o;
	uint64_t		 id = cli_u64(&cli, "identifier");
	char			 q[160];
	size_t			 idx;

	state = dial(0);
	if ((n = find_id(list(state, "nodes"), (int64_t)id, NULL)) == NULL)
		rpc_failure("NotFound", "node not found",
		    "Error getting node node: ");
	snprintf(q, sizeof q, "Do you want to remove the node %s?",
	    gets_(n, "name"));
	store_close();
	if (!cli_bool(&cli, "force") && !confirm(q)) {
		o = json_object_new_object();
		json_object_object_add(o, "Result",
		    json_object_new_string("Node not deleted"));
		success(o, "Node not deleted");
	}
	state = store_open(1);
	if (find_id(list(state, "nodes"), (int64_t)id, &idx) == NULL) {
		/* 0.28 leaves the delete's error unchecked on the JSON path. */
		if (machine())
			success(NULL, "");
		fprintf(stderr, "Error deleting node: node not found\n");
		store_exit(1);
	}
	json_object_array_del_idx(list(state, "nodes"), idx, 1);
	store_save();
	success(json_object_new_object(), "Node deleted");
}

/* An RFC 3339 time ("2006-01-02T15:04:05Z07:00", fraction optional). */
static int
parse_rfc3339(const char *s, int64_t *sec, int32_t *nsec)
{
	struct tm	tm;
	int		off_h = 0, off_m = 0, used = 0, n;
	char		sign = 'Z';
	long		frac = 0, scale = 1000000000;

	memset(&tm, 0, sizeof tm);
	if (sscanf(s, "%4d-%2d-%2dT%2d:%2d:%2d%n", &tm.tm_year, &tm.tm_mon,
	    &tm.tm_mday, &tm.tm_hour, &tm.tm_min, &tm.tm_sec, &used) != 6 ||
	    used != 19)
		return -1;
	s += used;
	if (*s == '.') {
		for (s++, n = 0; isdigit((unsigned char)*s); s++, n++)
			if (n < 9)
				frac += (*s - '0') * (scale /= 10);
		if (n == 0)
			return -1;
	}
	if (*s == '+' || *s == '-') {
		sign = *s;
		if (sscanf(s + 1, "%2d:%2d%n", &off_h, &off_m, &used) != 2 ||
		    used != 5 || s[6] != '\0')
			return -1;
	} else if (strcmp(s, "Z") != 0)
		return -1;
	tm.tm_year -= 1900;
	tm.tm_mon -= 1;
	*sec = (int64_t)timegm(&tm) - (sign == '-' ? -1 : 1) *
	    (sign == 'Z' ? 0 : (off_h * 3600 + off_m * 60));
	*nsec = (int32_t)frac;
	return 0;
}

static _Noreturn void
nodes_expire(void)
{
	struct json_object	*state, *n;
	uint64_t		 id = cli_u64(&cli, "identifier");
	const char		*when = cli_str(&cli, "expiry");
	char			 err[320], human[400], q[96];
	int64_t			 sec, now_sec;
	int32_t			 nsec, now_nsec;

	store_now(&now_sec, &now_nsec);
	sec = now_sec;
	nsec = now_nsec;
	if (*when != '\0' && parse_rfc3339(when, &sec, &nsec) != 0) {
		cli_quote(q, sizeof q, when);
		snprintf(err, sizeof err, "parsing time %s as "
		    "\"2006-01-02T15:04:05Z07:00\": cannot parse %s as "
		    "\"2006\"", q, q);
		snprintf(human, sizeof human, "Error converting expiry to "
		    "string: %s", err);
		failure(err, human);
	}
	state = dial(1);
	if ((n = find_id(list(state, "nodes"), (int64_t)id, NULL)) == NULL) {
		snprintf(err, sizeof err, "node no longer exists in NodeStore: "
		    "%llu", (unsigned long long)id);
		rpc_failure("Unknown", err, "Cannot expire node: ");
	}
	json_object_object_add(n, "expiry", stamp(sec, nsec));
	store_save();
	success(node_out(state, n), sec > now_sec ? "Node expiration updated" :
	    "Node expired");
}

static _Noreturn void
nodes_rename(void)
{
	struct json_object	*state, *n;
	uint64_t		 id = cli_u64(&cli, "identifier");
	const char		*to = cli.npos > 0 ? cli.pos[0] : "";
	char			 msg[160], q[96];
	size_t			 len = strlen(to);

	state = dial(1);
	if ((n = find_id(list(state, "nodes"), (int64_t)id, NULL)) == NULL)
		rpc_failure("Unknown", "node not found", "Cannot rename node: ");
	if (len < 2 || len > 63 || strspn(to, "abcdefghijklmnopqrstuvwxyz"
	    "0123456789-") != len || to[0] == '-' || to[len - 1] == '-') {
		snprintf(msg, sizeof msg, "renaming node: invalid name %s: a "
		    "lowercase DNS label of 2 to 63 characters is required",
		    cli_quote(q, sizeof q, to));
		rpc_failure("InvalidArgument", msg, "Cannot rename node: ");
	}
	json_object_object_add(n, "given_name", json_object_new_string(to));
	store_save();
	success(node_out(state, n), "Node renamed");
}

/* The config file as cobra will see it: the last -c, else the environment. */
static const char *
config_path(int argc, char **argv)
{
	const char	*v = NULL, *a;
	int		 i;

	for (i = 1; i < argc; i++) {
		a = argv[i];
		if (strcmp(a, "--") == 0)
			break;
		if ((strcmp(a, "-c") == 0 || strcmp(a, "--config") == 0) &&
		    i + 1 < argc)
			v = argv[++i];
		else if (strncmp(a, "--config=", 9) == 0)
			v = a + 9;
		else if (strncmp(a, "-c", 2) == 0 && a[2] != '\0')
			v = a + (a[2] == '=' ? 3 : 2);
	}
	if (v == NULL || *v == '\0')
		v = getenv("HEADSCALE_CONFIG");
	return v;
}

int
main(int argc, char **argv)
{
	enum cli_result	r;
	const char	*config = config_path(argc, argv);
	char		why[128];
	int		i, word = 0;

	/* A closed stdout must not kill the process before it logs. */
	signal(SIGPIPE, SIG_IGN);
	store_begin(argc, argv, config);
	r = cli_parse(&cli, &root, global_flags, argc, argv);
	if (r != CLI_RUN) {
		cli_report(&cli, r);
		store_exit(r == CLI_HELP ? 0 : 1);
	}
	output = cli_str(&cli, "output");
	/*
	 * The real CLI skips its update check (which may log to stderr) only
	 * when an argument is exactly json, json-line or yaml; mark calls that
	 * asked for machine output some other way, e.g. --output=json.
	 */
	for (i = 1; i < argc; i++)
		if (strcmp(argv[i], "json") == 0 ||
		    strcmp(argv[i], "json-line") == 0 ||
		    strcmp(argv[i], "yaml") == 0)
			word = 1;
	if ((machine() || strcmp(output, "yaml") == 0) && !word)
		store_mark_update_check();
	if (strcmp(output, "yaml") == 0) {
		fprintf(stderr, "headscale stand-in: -o yaml is not "
		    "supported\n");
		store_exit(1);
	}
	if (!store_present() && !(argc > 1 && strcmp(argv[1], "version") == 0))
		log_line("WRN", "No config file found, using defaults");
	/*
	 * initConfig (cmd/headscale/cli/root.go:51 at v0.28.0) runs after
	 * the flags parse and before required flags are checked; a config
	 * file that is named but cannot be read is fatal. "version" skips it.
	 */
	if (config != NULL && *config != '\0' &&
	    !(argc > 1 && strcmp(argv[1], "version") == 0) &&
	    access(config, R_OK) == -1) {
		/* Go spells errno texts in lower case. */
		snprintf(why, sizeof why, "%s", strerror(errno));
		why[0] = (char)tolower((unsigned char)why[0]);
		log_line("FTL", "cmd/headscale/cli/root.go:51 > Error loading "
		    "config file %s error=\"fatal error reading config file: "
		    "open %s: %s\"", config, config, why);
		store_exit(1);
	}
	if ((r = cli_check(&cli)) != CLI_RUN) {
		cli_report(&cli, r);
		store_exit(1);
	}
	switch (cli.path[cli.depth - 1]->id) {
	case CMD_VERSION:
		run_version();
	case CMD_HEALTH:
		run_health();
	case CMD_CONFIGTEST:
		run_configtest(config);
	case CMD_USERS_CREATE:
		users_create();
	case CMD_USERS_LIST:
		users_list();
	case CMD_USERS_DESTROY:
		users_destroy();
	case CMD_USERS_RENAME:
		users_rename();
	case CMD_KEYS_CREATE:
		keys_create();
	case CMD_KEYS_LIST:
		keys_list();
	case CMD_KEYS_EXPIRE:
		keys_expire_or_delete(0);
	case CMD_KEYS_DELETE:
		keys_expire_or_delete(1);
	case CMD_NODES_LIST:
		nodes_list();
	case CMD_NODES_REGISTER:
		nodes_register();
	case CMD_NODES_DELETE:
		nodes_delete();
	case CMD_NODES_EXPIRE:
		nodes_expire();
	case CMD_NODES_RENAME:
		nodes_rename();
	}
	store_exit(1);
}
