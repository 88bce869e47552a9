/*
 * test-resp.c: the error mapping for every enum value, the headers each
 * error carries, the exact bytes of the header block, header injection
 * refused, control characters escaped in JSON, HEAD without a body, and the
 * timestamp format.
 */
#include "config.h"

#include <json-c/json.h>

#include <stdio.h>
#include <string.h>

#include "resp.h"
#include "tap.h"

struct fixture {
	struct req_mem	mem;
	struct req_io	io;
	struct req	r;
};

static void
start(struct fixture *f, const char *method)
{
	static char		 var[64];
	static const char	*env[] = { var, NULL };

	(void)snprintf(var, sizeof var, "REQUEST_METHOD=%s", method);
	memset(f, 0, sizeof *f);
	req_mem_io(&f->io, &f->mem);
	req_init(&f->r, &f->io, env, NULL, NULL);
}

static void
finish(struct fixture *f)
{
	req_free(&f->r);
	req_mem_free(&f->mem);
}

/* The body: what follows the blank line, or NULL. */
static const char *
body_of(const struct fixture *f)
{
	const char	*p;

	if (f->mem.out == NULL || (p = strstr(f->mem.out, "\r\n\r\n")) == NULL)
		return NULL;
	return p + 4;
}

/* Whether the headers hold the line "name: value". */
static int
has_header(const struct fixture *f, const char *line)
{
	const char	*p, *end;
	size_t		 len = strlen(line);

	if (f->mem.out == NULL || (end = strstr(f->mem.out, "\r\n\r\n")) == NULL)
		return 0;
	for (p = f->mem.out; p < end; p = strstr(p, "\r\n") + 2)
		if (strncmp(p, line, len) == 0 && p[len] == '\r')
			return 1;
	return 0;
}

/* The "error" text of a JSON error body, in buf; 0 or -1. */
static int
error_text(const char *body, char *buf, size_t len)
{
	struct json_object	*obj, *v;
	int			 rc = -1;

	if (body == NULL || (obj = json_tokener_parse(body)) == NULL)
		return -1;
	if (json_object_is_type(obj, json_type_object) &&
	    json_object_object_length(obj) == 1 &&
	    json_object_object_get_ex(obj, "error", &v) &&
	    json_object_is_type(v, json_type_string)) {
		(void)snprintf(buf, len, "%s", json_object_get_string(v));
		rc = 0;
	}
	json_object_put(obj);
	return rc;
}

static void
test_mapping(void)
{
	static const int	 want[PROV_ERR__MAX] = {
		[PROV_OK] = 200, [PROV_BADREQ] = 400, [PROV_UNAUTH] = 401,
		[PROV_FORBIDDEN] = 403,
		[PROV_NOTFOUND] = 404, [PROV_METHOD] = 405,
		[PROV_TOOBIG] = 413, [PROV_LIMITED] = 429,
		[PROV_ENOMEM] = 500, [PROV_SYSTEM] = 500,
		[PROV_UPSTREAM] = 502, [PROV_UNAVAIL] = 503,
		[PROV_TIMEOUT] = 504,
	};
	struct fixture	 f;
	char		 status[64], text[128];
	int		 e;

	for (e = 0; e < PROV_ERR__MAX; e++) {
		ok(prov_status((enum prov_err)e) == want[e] &&
		    *prov_strerror((enum prov_err)e) != '\0',
		    "%d maps to %d \"%s\"", e, want[e],
		    prov_strerror((enum prov_err)e));
		if (e == PROV_OK)
			continue;
		start(&f, "GET");
		resp_error(&f.r, (enum prov_err)e);
		(void)snprintf(status, sizeof status, "Status: %d %s", want[e],
		    resp_reason(want[e]));
		ok(f.r.status == want[e] && has_header(&f, status) &&
		    has_header(&f, "Content-Type: application/json") &&
		    has_header(&f, "Cache-Control: no-store") &&
		    error_text(body_of(&f), text, sizeof text) == 0 &&
		    strcmp(text, prov_strerror((enum prov_err)e)) == 0,
		    "error response for %d: %s", e, status);
		finish(&f);
	}
	ok(prov_status(PROV_ERR__MAX) == 500 && prov_status((enum prov_err)-1) ==
	    500, "out-of-range values are internal errors");
	ok(strcmp(prov_strerror(PROV_ERR__MAX), prov_strerror(PROV_SYSTEM)) == 0,
	    "out-of-range text");
}

static void
test_error_headers(void)
{
	struct fixture	f;
	char		text[128];
	char		want[64];
	const char	*body;

	start(&f, "GET");
	resp_error(&f.r, PROV_UNAUTH);
	ok(has_header(&f, "WWW-Authenticate: Bearer"), "401 asks for Bearer");
	finish(&f);

	start(&f, "PUT");
	f.r.allow = REQ_GET | REQ_HEAD;
	resp_error(&f.r, PROV_METHOD);
	ok(has_header(&f, "Allow: GET, HEAD"), "405 lists GET, HEAD");
	finish(&f);

	start(&f, "GET");
	f.r.allow = REQ_POST;
	resp_error(&f.r, PROV_METHOD);
	ok(has_header(&f, "Allow: POST"), "405 lists POST");
	finish(&f);

	start(&f, "POST");
	f.r.retry_after = 17;
	resp_error(&f.r, PROV_LIMITED);
	ok(has_header(&f, "Retry-After: 17"), "429 says when to retry");
	finish(&f);

	start(&f, "POST");
	resp_error(&f.r, PROV_LIMITED);
	ok(has_header(&f, "Retry-After: 1"), "Retry-After is at least 1");
	finish(&f);

	start(&f, "POST");
	f.r.errmsg = "mac is required";
	resp_error(&f.r, PROV_BADREQ);
	ok(error_text(body_of(&f), text, sizeof text) == 0 &&
	    strcmp(text, "mac is required") == 0, "a specific message");
	finish(&f);

	start(&f, "HEAD");
	resp_error(&f.r, PROV_NOTFOUND);
	body = body_of(&f);
	(void)snprintf(want, sizeof want, "Content-Length: %zu",
	    strlen("{\"error\":\"not found\"}"));
	ok(body != NULL && *body == '\0' && has_header(&f, want),
	    "HEAD: headers with the length, no body");
	finish(&f);

	start(&f, "GET");
	resp_error(&f.r, PROV_BADREQ);
	resp_error(&f.r, PROV_UPSTREAM);
	ok(f.r.status == 400 && strstr(f.mem.out, "502") == NULL,
	    "a second error after a response is ignored");
	finish(&f);
}

static void
test_headers(void)
{
	struct fixture	f;
	size_t		before;

	start(&f, "GET");
	ok(resp_header(&f.r, "X-Early", "1") == -1 && f.mem.outlen == 0,
	    "no header before the status");
	ok(resp_begin(&f.r, 200, 2) == 0, "begin");
	ok(resp_begin(&f.r, 500, -1) == -1, "only one status");
	before = f.mem.outlen;
	ok(resp_header(&f.r, "X-Test", "a\r\nSet-Cookie: x=1") == -1,
	    "CRLF in a value refused");
	ok(resp_header(&f.r, "X-Test", "a\nb") == -1, "LF refused");
	ok(resp_header(&f.r, "X-Test", "a\rb") == -1, "CR refused");
	ok(resp_header(&f.r, "X-Test", "a\x01" "b") == -1, "control byte refused");
	ok(resp_header(&f.r, "X-Test: y\r\nX", "b") == -1,
	    "CRLF in a name refused");
	ok(resp_header(&f.r, "X Test", "b") == -1, "space in a name refused");
	ok(resp_header(&f.r, "", "b") == -1, "empty name refused");
	ok(f.mem.outlen == before, "nothing written by refused headers");
	ok(resp_header(&f.r, "X-Test", "tab\tis fine") == 0,
	    "a tab in a value is allowed");
	ok(resp_end_headers(&f.r) == 0 && resp_write(&f.r, "{}", 2) == 0,
	    "body");
	ok(resp_header(&f.r, "X-Late", "1") == -1, "no header after the body");
	ok(strcmp(f.mem.out, "Status: 200 OK\r\n"
	    "Content-Type: application/json\r\n"
	    "Cache-Control: no-store\r\n"
	    "Content-Length: 2\r\n"
	    "X-Test: tab\tis fine\r\n"
	    "\r\n{}") == 0, "exact response bytes");
	finish(&f);

	start(&f, "GET");
	ok(resp_begin(&f.r, 200, -1) == 0 && resp_end_headers(&f.r) == 0 &&
	    strcmp(f.mem.out, "Status: 200 OK\r\n"
	    "Content-Type: application/json\r\n"
	    "Cache-Control: no-store\r\n"
	    "\r\n") == 0, "streamed: no Content-Length");
	finish(&f);

	start(&f, "GET");
	ok(resp_begin(&f.r, 299, 9223372036854775807LL) == 0 &&
	    strcmp(f.mem.out, "Status: 299 Unknown\r\n"
	    "Content-Type: application/json\r\n"
	    "Cache-Control: no-store\r\n"
	    "Content-Length: 9223372036854775807\r\n") == 0,
	    "an unknown status and the largest length");
	finish(&f);

	start(&f, "GET");
	ok(resp_begin(&f.r, 200, 0) == 0 &&
	    strstr(f.mem.out, "\r\nContent-Length: 0\r\n") != NULL,
	    "length 0 is sent");
	finish(&f);

	start(&f, "GET");
	ok(resp_begin(&f.r, 99, 0) == -1 && resp_begin(&f.r, 1000, 0) == -1 &&
	    f.r.status == 0 && f.mem.outlen == 0,
	    "a status outside 100-999 is refused, nothing written");
	finish(&f);

	start(&f, "DELETE");
	f.r.allow = REQ_GET | REQ_HEAD;
	resp_error(&f.r, PROV_METHOD);
	ok(strcmp(f.mem.out, "Status: 405 Method Not Allowed\r\n"
	    "Content-Type: application/json\r\n"
	    "Cache-Control: no-store\r\n"
	    "Content-Length: 30\r\n"
	    "Allow: GET, HEAD\r\n"
	    "\r\n{\"error\":\"method not allowed\"}") == 0,
	    "exact bytes of an error response");
	finish(&f);
}

static void
test_json(void)
{
	struct fixture		 f;
	struct json_object	*obj;
	const char		*body;
	size_t			 i;
	int			 raw = 0;

	start(&f, "GET");
	obj = json_object_new_object();
	ok(resp_set(obj, "text", json_object_new_string(
	    "bell\x07 nl\n cr\r esc\x1b quote\" slash/ back\\")) == 0, "set");
	ok(resp_json(&f.r, 200, obj, 0) == PROV_OK, "resp_json");
	json_object_put(obj);
	body = body_of(&f);
	for (i = 0; body != NULL && body[i] != '\0'; i++)
		if ((unsigned char)body[i] < 0x20)
			raw++;
	ok(body != NULL && raw == 0, "no raw control bytes in the body");
	ok(body != NULL && strstr(body, "\\u0007") != NULL &&
	    strstr(body, "\\n") != NULL && strstr(body, "\\r") != NULL &&
	    strstr(body, "\\u001b") != NULL && strstr(body, "\\\"") != NULL,
	    "control characters and quotes escaped: %s", body);
	ok(body != NULL && strstr(body, "slash/") != NULL,
	    "slashes not escaped");
	finish(&f);

	start(&f, "GET");
	f.r.errmsg = "line\nbreak\x01";
	resp_error(&f.r, PROV_BADREQ);
	body = body_of(&f);
	ok(body != NULL && strchr(body, '\n') == NULL &&
	    strchr(body, '\x01') == NULL, "error text escaped too");
	finish(&f);

	start(&f, "GET");
	ok(resp_set(NULL, "k", json_object_new_string("v")) == -1,
	    "resp_set on a failed object");
	obj = json_object_new_object();
	ok(resp_set(obj, "k", NULL) == -1, "resp_set with a failed value");
	json_object_put(obj);
	finish(&f);
}

static void
test_time(void)
{
	char	buf[RESP_TIME_LEN];

	ok(resp_time(0, buf, sizeof buf) == 0 &&
	    strcmp(buf, "1970-01-01T00:00:00Z") == 0, "epoch");
	ok(resp_time(1795694400, buf, sizeof buf) == 0 &&
	    strcmp(buf, "2026-11-26T12:00:00Z") == 0, "RFC 3339 UTC");
	ok(resp_time(1795694400, buf, 5) == -1, "buffer too small");
}

int
main(void)
{
	test_mapping();
	test_error_headers();
	test_headers();
	test_json();
	test_time();
	return done_testing();
}
