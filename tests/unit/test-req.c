/*
 * test-req.c: request variables, reading the body (declared lengths,
 * Caddy's chunked "-1", the cap and one byte past it, lengths that lie),
 * and the /register body parser on good and malformed JSON.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "req.h"
#include "tap.h"

/* A request over in-memory streams. */
struct fixture {
	struct req_mem	mem;
	struct req_io	io;
	struct req	r;
};

static void
start(struct fixture *f, const char *const *envp, const char *body, size_t len,
    size_t chunk)
{
	memset(f, 0, sizeof *f);
	f->mem.in = body;
	f->mem.inlen = len;
	f->mem.chunk = chunk;
	req_mem_io(&f->io, &f->mem);
	req_init(&f->r, &f->io, envp, NULL, NULL);
}

static void
finish(struct fixture *f)
{
	req_free(&f->r);
	req_mem_free(&f->mem);
}

static void
test_params(void)
{
	struct fixture	 f;
	const char	*env1[] = { "REQUEST_METHOD=POST", "REMOTE_ADDR=127.0.0.2",
	    "CONTENT_LENGTH_X=1", "CONTENT_LENGTH=7", "EMPTY=", NULL };
	const char	*env2[] = { "REQUEST_METHOD=PUT",
	    "REMOTE_ADDR=127.0.0.1\nforged 200", NULL };
	const char	*env3[] = { "REQUEST_METHOD=get", "REMOTE_ADDR=", NULL };
	const char	*env4[] = { "REMOTE_ADDR=fe80::1%eth0", NULL };
	char		 longaddr[PROV_MAX_ADDR + 20];
	const char	*env5[] = { longaddr, NULL };

	start(&f, env1, NULL, 0, 0);
	ok(f.r.method == REQ_POST, "POST");
	ok(strcmp(f.r.addr, "127.0.0.2") == 0, "client address");
	ok(strcmp(req_param(&f.r, "CONTENT_LENGTH"), "7") == 0,
	    "a name is not matched by a longer one");
	ok(strcmp(req_param(&f.r, "EMPTY"), "") == 0, "empty value");
	ok(req_param(&f.r, "MISSING") == NULL, "absent variable");
	ok(req_param(&f.r, "CONTENT") == NULL, "a prefix is not a name");
	finish(&f);

	start(&f, env2, NULL, 0, 0);
	ok(f.r.method == REQ_OTHER, "PUT is another method");
	ok(strcmp(f.r.addr, "unknown") == 0,
	    "an address with a newline becomes \"unknown\"");
	finish(&f);

	start(&f, env3, NULL, 0, 0);
	ok(f.r.method == REQ_OTHER, "methods are case-sensitive");
	ok(strcmp(f.r.addr, "unknown") == 0, "empty address");
	finish(&f);

	start(&f, env4, NULL, 0, 0);
	ok(f.r.method == REQ_OTHER, "no REQUEST_METHOD");
	ok(strcmp(f.r.addr, "fe80::1%eth0") == 0, "IPv6 with a zone kept");
	finish(&f);

	(void)snprintf(longaddr, sizeof longaddr, "REMOTE_ADDR=%0*d",
	    PROV_MAX_ADDR, 0);
	start(&f, env5, NULL, 0, 0);
	ok(strcmp(f.r.addr, "unknown") == 0, "over-long address");
	finish(&f);

	ok(req_method("DELETE") == REQ_DELETE, "DELETE");
	ok(req_method("GET") == REQ_GET && req_method("HEAD") == REQ_HEAD &&
	    req_method(NULL) == REQ_OTHER, "req_method");
}

/* Reads body (len bytes) with CONTENT_LENGTH cl (NULL: unset), cap max. */
static enum prov_err
read_body(const char *cl, const char *body, size_t len, size_t chunk,
    size_t max, struct fixture *f)
{
	static char	 clvar[64];
	static const char *env[] = { "REQUEST_METHOD=POST", clvar, NULL };

	if (cl != NULL)
		(void)snprintf(clvar, sizeof clvar, "CONTENT_LENGTH=%s", cl);
	else
		(void)snprintf(clvar, sizeof clvar, "NO_CONTENT_LENGTH=");
	start(f, env, body, len, chunk);
	return req_read_body(&f->r, max);
}

static void
test_body(void)
{
	struct fixture	 f;
	char		*big;
	size_t		 max = PROV_MAX_BODY;

	if ((big = malloc(max + 10)) == NULL)
		return;
	memset(big, 'x', max + 10);

	ok(read_body("5", "hello", 5, 0, max, &f) == PROV_OK &&
	    f.r.bodylen == 5 && strcmp(f.r.body, "hello") == 0,
	    "exact declared length, NUL-terminated");
	finish(&f);

	ok(read_body("-1", big, 1000, 7, max, &f) == PROV_OK &&
	    f.r.bodylen == 1000 && f.mem.inpos == 1000,
	    "chunked (-1): read in pieces to end of input");
	finish(&f);

	ok(read_body(NULL, big, 300, 0, max, &f) == PROV_OK &&
	    f.r.bodylen == 300, "no CONTENT_LENGTH: read to end of input");
	finish(&f);

	ok(read_body("", "", 0, 0, max, &f) == PROV_OK && f.r.bodylen == 0 &&
	    f.r.body != NULL && f.r.body[0] == '\0', "empty body");
	finish(&f);

	ok(read_body("65536", big, max, 4096, max, &f) == PROV_OK &&
	    f.r.bodylen == max, "exactly the cap (64 KiB)");
	finish(&f);

	ok(read_body("-1", big, max, 0, max, &f) == PROV_OK &&
	    f.r.bodylen == max, "exactly the cap, chunked");
	finish(&f);

	ok(read_body("-1", big, max + 1, 1000, max, &f) == PROV_TOOBIG &&
	    f.r.body == NULL, "chunked, one byte over the cap: 413");
	finish(&f);

	ok(read_body(NULL, big, max + 10, 0, max, &f) == PROV_TOOBIG &&
	    f.mem.inpos == max + 1, "reading stops one byte past the cap");
	finish(&f);

	/*
	 * Reads that add up to exactly the cap before the last byte comes:
	 * the loop must ask once more, or the body is taken truncated.
	 */
	ok(read_body("-1", big, max + 1, 4096, max, &f) == PROV_TOOBIG &&
	    f.r.body == NULL && f.mem.inpos == max + 1,
	    "chunked, 64 KiB + 1 in 4 KiB reads that land on the cap: 413");
	finish(&f);
	ok(read_body(NULL, big, max + 1, 1, max, &f) == PROV_TOOBIG &&
	    f.mem.inpos == max + 1,
	    "no CONTENT_LENGTH, 64 KiB + 1 read a byte at a time: 413");
	finish(&f);
	ok(read_body("-1", big, max, 4096, max, &f) == PROV_OK &&
	    f.r.bodylen == max && f.mem.inpos == max,
	    "exactly the cap in reads that land on it: taken whole");
	finish(&f);

	ok(read_body("65537", big, max + 1, 0, max, &f) == PROV_TOOBIG &&
	    f.mem.inpos == 0, "declared over the cap: 413 without reading");
	finish(&f);

	ok(read_body("99999999999999999999999999", "", 0, 0, max, &f) ==
	    PROV_TOOBIG && f.mem.inpos == 0, "absurd declared length: 413");
	finish(&f);

	ok(read_body("5", big, max + 1, 0, max, &f) == PROV_TOOBIG,
	    "declared small but sent too much: 413");
	finish(&f);

	ok(read_body("10", "short", 5, 0, max, &f) == PROV_BADREQ &&
	    f.r.errmsg != NULL && f.r.body == NULL,
	    "shorter than declared: 400");
	finish(&f);

	ok(read_body("3", "longer", 6, 0, max, &f) == PROV_BADREQ,
	    "longer than declared: 400");
	finish(&f);

	ok(read_body("abc", "x", 1, 0, max, &f) == PROV_BADREQ &&
	    f.mem.inpos == 0, "CONTENT_LENGTH not a number: 400");
	finish(&f);
	ok(read_body("+5", "hello", 5, 0, max, &f) == PROV_BADREQ,
	    "CONTENT_LENGTH with a sign: 400");
	finish(&f);
	ok(read_body(" 5", "hello", 5, 0, max, &f) == PROV_BADREQ,
	    "CONTENT_LENGTH with a space: 400");
	finish(&f);
	ok(read_body("-2", "", 0, 0, max, &f) == PROV_BADREQ,
	    "negative CONTENT_LENGTH other than -1: 400");
	finish(&f);
	ok(read_body("5x", "hello", 5, 0, max, &f) == PROV_BADREQ &&
	    f.mem.inpos == 0, "CONTENT_LENGTH with trailing junk: 400");
	finish(&f);
	ok(read_body("5 ", "hello", 5, 0, max, &f) == PROV_BADREQ,
	    "CONTENT_LENGTH with a trailing space: 400");
	finish(&f);
	ok(read_body("0", "x", 1, 0, max, &f) == PROV_BADREQ &&
	    f.r.body == NULL, "a body where Content-Length says 0: 400");
	finish(&f);

	free(big);
}

/* Parses a C-string body. */
static enum prov_err
parse(const char *body, struct reg_body *rb, const char **msg)
{
	return req_parse_register(body, strlen(body), rb, msg);
}

/* body must be refused, with a message containing want. */
static void
refuse(const char *body, size_t len, const char *want, const char *what)
{
	struct reg_body	 rb;
	const char	*msg = NULL;

	ok(req_parse_register(body, len, &rb, &msg) == PROV_BADREQ &&
	    msg != NULL && strstr(msg, want) != NULL, "%s: \"%s\"", what,
	    msg != NULL ? msg : "(none)");
}

#define REFUSE(s, want, what)	refuse((s), strlen(s), (want), (what))

static void
test_register(void)
{
	struct reg_body	 rb;
	const char	*msg;
	char		 deep[64];

	ok(parse("{\"hostname\":\"node-1\",\"mac\":\"AA-BB-CC-DD-EE-FF\"}",
	    &rb, &msg) == PROV_OK && strcmp(rb.hostname, "node-1") == 0 &&
	    strcmp(rb.mac, "aa:bb:cc:dd:ee:ff") == 0 && msg == NULL,
	    "valid body, MAC normalised");
	ok(parse(" \n{\"mac\": \"aa:bb:cc:dd:ee:ff\", \"hostname\": \"n\", "
	    "\"extra\": [1, {\"x\": null}], \"os\": \"nixos\"}\r\n\t ",
	    &rb, &msg) == PROV_OK && strcmp(rb.hostname, "n") == 0,
	    "unknown members ignored, whitespace around allowed");
	ok(parse("{\"hostname\":\"first\",\"mac\":\"aa:bb:cc:dd:ee:ff\","
	    "\"hostname\":\"last\"}", &rb, &msg) == PROV_OK &&
	    strcmp(rb.hostname, "last") == 0, "duplicate member: last wins");
	/* What the Flask provisioner's ISO client sends, byte for byte. */
	strcpy(rb.mac, "x");
	ok(parse("{\"hostname\": \"sovran-deploy-0123456789abcdef\", "
	    "\"mac\": \"unknown\"}", &rb, &msg) == PROV_OK &&
	    strcmp(rb.hostname, "sovran-deploy-0123456789abcdef") == 0 &&
	    rb.mac[0] == '\0', "legacy client: mac \"unknown\" is unknown");
	strcpy(rb.mac, "x");
	ok(parse("{\"hostname\":\"node\"}", &rb, &msg) == PROV_OK &&
	    rb.mac[0] == '\0', "no mac: unknown");
	strcpy(rb.mac, "x");
	ok(parse("{\"hostname\":\"node\",\"mac\":\"\"}", &rb, &msg) ==
	    PROV_OK && rb.mac[0] == '\0', "empty mac (the old ISO without awk "
	    "or a NIC): unknown");
	ok(parse("{\"hostname\":\"h\\u0061\",\"mac\":\"aa:bb:cc:dd:ee:ff\"}",
	    &rb, &msg) == PROV_OK && strcmp(rb.hostname, "ha") == 0,
	    "escapes decoded before validation");

	REFUSE("", "JSON object", "empty body");
	REFUSE("[]", "JSON object", "array");
	REFUSE("\"node\"", "JSON object", "string");
	REFUSE("42", "JSON object", "number");
	REFUSE("null", "JSON object", "null");
	REFUSE("{", "JSON object", "truncated");
	REFUSE("{}{}", "JSON object", "two objects");
	REFUSE("{} x", "JSON object", "trailing garbage");
	REFUSE("{'hostname':'a'}", "JSON object", "single quotes (not strict)");
	REFUSE("{\"hostname\":\"a\",\"mac\":\"aa:bb:cc:dd:ee:ff\",}",
	    "JSON object", "trailing comma (not strict)");
	REFUSE("/* c */{}", "JSON object", "comment (not strict)");
	refuse("{\"hostname\":\"a\",\"mac\":\"aa:bb:cc:dd:ee:ff\"}\0", 43,
	    "JSON object", "NUL after the object");
	REFUSE("{\"x\":\"\xff\xfe\",\"hostname\":\"a\",\"mac\":\"aa:bb:cc:dd:ee:ff\"}",
	    "JSON object", "invalid UTF-8, even in an ignored member");
	/* json-c checks UTF-8 structure only; the validators do the rest. */
	REFUSE("{\"hostname\":\"\xc0\xaf\",\"mac\":\"aa:bb:cc:dd:ee:ff\"}",
	    "hostname must be 1-63", "overlong UTF-8 in the hostname");

	(void)snprintf(deep, sizeof deep,
	    "{\"x\":[[[[[[[[[[1]]]]]]]]]],\"hostname\":\"a\"}");
	REFUSE(deep, "JSON object", "nesting deeper than the limit");

	REFUSE("{}", "hostname is required", "empty object");
	REFUSE("{\"mac\":\"aa:bb:cc:dd:ee:ff\"}", "hostname is required",
	    "no hostname");
	REFUSE("{\"hostname\":null,\"mac\":\"aa:bb:cc:dd:ee:ff\"}",
	    "hostname must be a string", "null hostname");
	REFUSE("{\"hostname\":42,\"mac\":\"aa:bb:cc:dd:ee:ff\"}",
	    "hostname must be a string", "number hostname");
	REFUSE("{\"hostname\":[\"a\"],\"mac\":\"aa:bb:cc:dd:ee:ff\"}",
	    "hostname must be a string", "array hostname");
	REFUSE("{\"hostname\":true,\"mac\":\"aa:bb:cc:dd:ee:ff\"}",
	    "hostname must be a string", "boolean hostname");
	REFUSE("{\"hostname\":\"\",\"mac\":\"aa:bb:cc:dd:ee:ff\"}",
	    "hostname must be 1-63", "empty hostname");
	REFUSE("{\"hostname\":\"a;reboot\",\"mac\":\"aa:bb:cc:dd:ee:ff\"}",
	    "hostname must be 1-63", "shell metacharacters");
	REFUSE("{\"hostname\":\"a\\u0000b\",\"mac\":\"aa:bb:cc:dd:ee:ff\"}",
	    "hostname must be 1-63", "escaped NUL inside the hostname");
	REFUSE("{\"hostname\":\"h\xc3\xa9\",\"mac\":\"aa:bb:cc:dd:ee:ff\"}",
	    "hostname must be 1-63", "UTF-8 hostname");
	REFUSE("{\"hostname\":\"node\",\"mac\":null}", "mac must be a string",
	    "null mac");
	REFUSE("{\"hostname\":\"node\",\"mac\":{}}", "mac must be a string",
	    "object mac");
	REFUSE("{\"hostname\":\"node\",\"mac\":\"Unknown\"}",
	    "six hex octets", "\"unknown\" in another case");
	REFUSE("{\"hostname\":\"node\",\"mac\":\" unknown\"}",
	    "six hex octets", "\"unknown\" with a space");
	REFUSE("{\"hostname\":\"node\",\"mac\":\"aa:bb:cc:dd:ee:gg\"}",
	    "six hex octets", "bad mac");

	ok(parse("{\"hostname\":\"evil-$(id)\",\"mac\":\"x\"}", &rb, &msg) ==
	    PROV_BADREQ && strstr(msg, "$(id)") == NULL,
	    "messages never quote the input");
}

/*
 * A stream that gives up on the body (the deadline) is 408, whatever came
 * before; the budget counts down from req_init(); "gone" is the stream's.
 */
static void
test_deadlines(void)
{
	static const char *env[] = { "REQUEST_METHOD=POST",
	    "CONTENT_LENGTH=-1", NULL };
	struct fixture	 f;
	struct conf	 cfg;

	start(&f, env, "{\"hostname\"", 11, 4);
	f.mem.stall = 1;
	ok(req_read_body(&f.r, PROV_MAX_BODY) == PROV_SLOWBODY &&
	    f.r.body == NULL && prov_status(PROV_SLOWBODY) == 408 &&
	    strstr(f.r.why, "REQUEST_BODY_TIMEOUT") != NULL,
	    "a body cut short by its deadline: 408, the reason logged");
	finish(&f);

	memset(&cfg, 0, sizeof cfg);
	cfg.request_timeout = 25;
	start(&f, env, "", 0, 0);
	f.r.cfg = &cfg;
	ok(req_budget_ms(&f.r) > 24000 && req_budget_ms(&f.r) <= 25000,
	    "the budget starts at REQUEST_TIMEOUT");
	f.r.start.tv_sec -= 30;
	ok(req_budget_ms(&f.r) <= -5000, "and runs out");
	f.r.cfg = NULL;
	ok(req_budget_ms(&f.r) == 0, "no configuration, no budget");
	ok(!req_client_gone(&f.r), "a client still there");
	f.mem.gone = 1;
	ok(req_client_gone(&f.r), "a client gone, as its stream says");
	f.io.gone = NULL;
	ok(!req_client_gone(&f.r), "a stream that cannot tell: not gone");
	finish(&f);
}

int
main(void)
{
	test_params();
	test_body();
	test_register();
	test_deadlines();
	return done_testing();
}
