/*
 * req.c: request variables, the body, and the /register body parser.
 *
 * CONTENT_LENGTH is a hint, never the truth: Caddy sends "-1" for chunked
 * bodies, and a declared length may be wrong. The body is always read to
 * end of input under the cap, and a declared length only serves to refuse
 * an oversized body early and to catch a body that does not match it.
 */
#include "config.h"

#include <json-c/json.h>

#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "req.h"

static const char	 msg_not_object[] = "request body must be a JSON object";

/* Whether s is a plausible client address (IPv4, IPv6 with a zone). */
static int
addr_ok(const char *s)
{
	size_t	i;

	for (i = 0; s[i] != '\0'; i++) {
		unsigned char c = (unsigned char)s[i];

		if (i + 1 >= PROV_MAX_ADDR)
			return 0;
		if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') ||
		    (c >= 'A' && c <= 'Z') || c == '.' || c == ':' ||
		    c == '%' || c == '_' || c == '-'))
			return 0;
	}
	return i > 0;
}

unsigned int
req_method(const char *name)
{
	if (name == NULL)
		return REQ_OTHER;
	if (strcmp(name, "GET") == 0)
		return REQ_GET;
	if (strcmp(name, "HEAD") == 0)
		return REQ_HEAD;
	if (strcmp(name, "POST") == 0)
		return REQ_POST;
	if (strcmp(name, "DELETE") == 0)
		return REQ_DELETE;
	return REQ_OTHER;
}

void
req_init(struct req *r, const struct req_io *io, const char *const *envp,
    const struct conf *cfg, struct db *db)
{
	const char	*addr;

	memset(r, 0, sizeof *r);
	r->io = io;
	r->envp = envp;
	r->cfg = cfg;
	r->db = db;
	(void)clock_gettime(CLOCK_MONOTONIC, &r->start);
	r->method = req_method(req_param(r, "REQUEST_METHOD"));
	/*
	 * REMOTE_ADDR is the TCP peer as Caddy saw it; anything odd (absent,
	 * too long, stray bytes) shares the one bucket "unknown" rather than
	 * reaching the rate limiter or the log as is.
	 */
	addr = req_param(r, "REMOTE_ADDR");
	if (addr == NULL || !addr_ok(addr))
		addr = "unknown";
	memcpy(r->addr, addr, strlen(addr) + 1);
}

const char *
req_param(const struct req *r, const char *name)
{
	const char *const *e;
	size_t		 len = strlen(name);

	if (r->envp == NULL)
		return NULL;
	for (e = r->envp; *e != NULL; e++)
		if (strncmp(*e, name, len) == 0 && (*e)[len] == '=')
			return *e + len + 1;
	return NULL;
}

/*
 * Parses a declared CONTENT_LENGTH: plain decimal digits only. Returns the
 * value (saturated just above max), -1 for "not declared" (absent, empty
 * or Caddy's "-1"), or -2 when malformed.
 */
static long long
content_length(const char *s, size_t max)
{
	unsigned long long	n = 0;
	const char		*p;

	if (s == NULL || *s == '\0' || strcmp(s, "-1") == 0)
		return -1;
	for (p = s; *p >= '0' && *p <= '9'; p++)
		if (n <= max)
			n = n * 10 + (unsigned long long)(*p - '0');
	if (p == s || *p != '\0')
		return -2;
	return n > max ? (long long)max + 1 : (long long)n;
}

enum prov_err
req_read_body(struct req *r, size_t max)
{
	long long	 declared;
	size_t		 got = 0;
	long		 n;
	char		*buf;

	declared = content_length(req_param(r, "CONTENT_LENGTH"), max);
	if (declared == -2) {
		r->errmsg = "Content-Length is not a number";
		return PROV_BADREQ;
	}
	if (declared > (long long)max)
		return PROV_TOOBIG;

	/* One byte past the cap tells "too big" from "exactly the cap". */
	if ((buf = malloc(max + 2)) == NULL)
		return PROV_ENOMEM;
	while (got < max + 1) {
		n = r->io->read(r->io->ctx, buf + got, max + 1 - got);
		if (n < 0) {
			free(buf);
			r->errmsg = "the request body could not be read";
			return PROV_BADREQ;
		}
		if (n == 0)
			break;
		got += (size_t)n;
	}
	if (got > max) {
		explicit_bzero(buf, got);
		free(buf);
		return PROV_TOOBIG;
	}
	if (declared >= 0 && (size_t)declared != got) {
		explicit_bzero(buf, got);
		free(buf);
		r->errmsg = "request body length does not match Content-Length";
		return PROV_BADREQ;
	}
	buf[got] = '\0';
	r->body = buf;
	r->bodylen = got;
	return PROV_OK;
}

void
req_why(struct req *r, const char *fmt, ...)
{
	va_list	ap;

	va_start(ap, fmt);
	(void)vsnprintf(r->why, sizeof r->why, fmt, ap);
	va_end(ap);
}

long
req_elapsed_ms(const struct req *r)
{
	struct timespec	now;

	(void)clock_gettime(CLOCK_MONOTONIC, &now);
	return (long)(now.tv_sec - r->start.tv_sec) * 1000 +
	    (now.tv_nsec - r->start.tv_nsec) / 1000000;
}

void
req_free(struct req *r)
{
	if (r->body != NULL) {
		explicit_bzero(r->body, r->bodylen);
		free(r->body);
	}
	r->body = NULL;
	r->bodylen = 0;
}

/*
 * Finds the string member name of obj. Returns PROV_OK with *s and *len
 * pointing into obj, or PROV_BADREQ with *msg saying what is wrong.
 */
static enum prov_err
reg_member(struct json_object *obj, const char *name, const char **s,
    size_t *len, const char *missing, const char *notstring,
    const char **msg)
{
	struct json_object	*v;
	int			 n;

	if (!json_object_object_get_ex(obj, name, &v)) {
		*msg = missing;
		return PROV_BADREQ;
	}
	/* A JSON null arrives as v == NULL, which is not a string either. */
	if (!json_object_is_type(v, json_type_string)) {
		*msg = notstring;
		return PROV_BADREQ;
	}
	*s = json_object_get_string(v);
	n = json_object_get_string_len(v);
	*len = n < 0 ? 0 : (size_t)n;
	return PROV_OK;
}

enum prov_err
req_parse_register(const char *body, size_t len, struct reg_body *out,
    const char **msg)
{
	struct json_tokener	*tok;
	struct json_object	*obj;
	enum json_tokener_error	 jerr;
	enum prov_err		 e = PROV_BADREQ;
	const char		*s;
	size_t			 slen, end;

	*msg = msg_not_object;
	if (body == NULL || len > INT_MAX)
		return PROV_BADREQ;
	if ((tok = json_tokener_new_ex(PROV_MAX_JSON_DEPTH)) == NULL)
		return PROV_ENOMEM;
	json_tokener_set_flags(tok,
	    JSON_TOKENER_STRICT | JSON_TOKENER_VALIDATE_UTF8);
	obj = json_tokener_parse_ex(tok, body, (int)len);
	jerr = json_tokener_get_error(tok);
	end = json_tokener_get_parse_end(tok);
	json_tokener_free(tok);

	/* json-c 0.16 reports running out of memory as a parse error. */
	if (obj == NULL || jerr != json_tokener_success) {
		json_object_put(obj);
		return PROV_BADREQ;
	}
	/* Only JSON whitespace may follow the object. */
	for (; end < len; end++)
		if (body[end] != ' ' && body[end] != '\t' &&
		    body[end] != '\n' && body[end] != '\r')
			goto out;
	if (!json_object_is_type(obj, json_type_object))
		goto out;

	if (reg_member(obj, "hostname", &s, &slen, "hostname is required",
	    "hostname must be a string", msg) != PROV_OK)
		goto out;
	if (!validate_hostname(s, slen)) {
		*msg = "hostname must be 1-63 letters, digits or '-', "
		    "not starting or ending with '-'";
		goto out;
	}
	memcpy(out->hostname, s, slen);
	out->hostname[slen] = '\0';

	/* An absent MAC is an unknown one: see validate_reg_mac(). */
	s = NULL;
	slen = 0;
	if (json_object_object_get_ex(obj, "mac", NULL) &&
	    reg_member(obj, "mac", &s, &slen, "mac is required",
	    "mac must be a string", msg) != PROV_OK)
		goto out;
	if (!validate_reg_mac(s, slen, out->mac)) {
		*msg = "mac must be six hex octets separated by ':' or '-', "
		    "or \"unknown\"";
		goto out;
	}
	*msg = NULL;
	e = PROV_OK;
out:
	json_object_put(obj);
	return e;
}

static long
mem_read(void *ctx, char *buf, size_t len)
{
	struct req_mem	*m = ctx;
	size_t		 n = m->inlen - m->inpos;

	if (n > len)
		n = len;
	if (m->chunk != 0 && n > m->chunk)
		n = m->chunk;
	if (n > 0)
		memcpy(buf, m->in + m->inpos, n);
	m->inpos += n;
	return (long)n;
}

static int
mem_write(void *ctx, const char *buf, size_t len)
{
	struct req_mem	*m = ctx;
	size_t		 cap;
	char		*p;

	if (len >= SIZE_MAX / 2 - m->outlen)
		return -1;
	if (m->outlen + len + 1 > m->outcap) {
		cap = m->outcap == 0 ? 256 : m->outcap;
		while (cap < m->outlen + len + 1)
			cap *= 2;
		if ((p = realloc(m->out, cap)) == NULL)
			return -1;
		m->out = p;
		m->outcap = cap;
	}
	memcpy(m->out + m->outlen, buf, len);
	m->outlen += len;
	m->out[m->outlen] = '\0';
	return 0;
}

static int
mem_flush(void *ctx)
{
	struct req_mem	*m = ctx;

	m->flushes++;
	return 0;
}

void
req_mem_io(struct req_io *io, struct req_mem *m)
{
	io->read = mem_read;
	io->write = mem_write;
	io->flush = mem_flush;
	io->ctx = m;
}

void
req_mem_free(struct req_mem *m)
{
	free(m->out);
	m->out = NULL;
	m->outlen = m->outcap = 0;
}
