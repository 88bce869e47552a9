/*
 * resp.c: response headers, JSON bodies and the error mapping.
 *
 * Headers follow the CGI response form (RFC 3875 section 6.3): a "Status"
 * header carries the code, lines end in CRLF, a blank line ends them. The
 * reason phrase is ours; Caddy replaces it with its own anyway.
 */
#include "config.h"

#include <json-c/json.h>

#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "resp.h"

#define RESP_JSON_FLAGS	(JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE)

/* What to send when not even the error object can be allocated. */
static const char	resp_nomem[] = "{\"error\":\"out of memory\"}";

const char *
resp_reason(int status)
{
	switch (status) {
	case 200:
		return "OK";
	case 400:
		return "Bad Request";
	case 401:
		return "Unauthorized";
	case 404:
		return "Not Found";
	case 405:
		return "Method Not Allowed";
	case 413:
		return "Content Too Large";
	case 429:
		return "Too Many Requests";
	case 500:
		return "Internal Server Error";
	case 502:
		return "Bad Gateway";
	case 503:
		return "Service Unavailable";
	case 504:
		return "Gateway Timeout";
	default:
		return "Unknown";
	}
}

/* Writes to the client; after one failure, every later write fails too. */
static int
resp_out(struct req *r, const char *buf, size_t len)
{
	if (r->out_failed)
		return -1;
	if (len > 0 && r->io->write(r->io->ctx, buf, len) == -1) {
		r->out_failed = 1;
		return -1;
	}
	return 0;
}

/* RFC 9110 section 5.6.2: tchar. */
static int
is_tchar(unsigned char c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') ||
	    (c >= 'A' && c <= 'Z') || (c != '\0' && strchr("!#$%&'*+-.^_`|~",
	    c) != NULL);
}

int
resp_header(struct req *r, const char *name, const char *value)
{
	const char	*p;

	if (r->status == 0 || r->headers_ended || *name == '\0')
		return -1;
	for (p = name; *p != '\0'; p++)
		if (!is_tchar((unsigned char)*p))
			return -1;
	/* CR or LF would end the header early; no control byte belongs. */
	for (p = value; *p != '\0'; p++)
		if (((unsigned char)*p < 0x20 && *p != '\t') || *p == 0x7f)
			return -1;
	if (resp_out(r, name, strlen(name)) == -1 ||
	    resp_out(r, ": ", 2) == -1 ||
	    resp_out(r, value, strlen(value)) == -1 ||
	    resp_out(r, "\r\n", 2) == -1)
		return -1;
	return 0;
}

/* Appends the text s at *at, refusing (-1) to go past end. */
static int
append(char **at, const char *end, const char *s)
{
	size_t	len = strlen(s);

	if (len > (size_t)(end - *at))
		return -1;
	memcpy(*at, s, len);
	*at += len;
	return 0;
}

/* Appends v in decimal, as append() does. */
static int
append_decimal(char **at, const char *end, uint64_t v)
{
	char	digits[21], *p = digits + sizeof digits;	/* 2^64: 20 */

	*--p = '\0';
	do
		*--p = (char)('0' + v % 10);
	while ((v /= 10) != 0);
	return append(at, end, p);
}

/*
 * The header block is assembled in one buffer and written at once, with
 * no printf: every response sends it, and formatting and writing it line
 * by line cost more than the rest of a small answer. The reason phrases
 * are ours, so nothing here needs resp_header()'s checks.
 */
int
resp_begin(struct req *r, int status, long long length)
{
	return resp_begin_as(r, status, length, "application/json");
}

int
resp_begin_as(struct req *r, int status, long long length, const char *type)
{
	char		 head[256], *at = head;
	const char	*end = head + sizeof head;

	if (r->status != 0 || status < 100 || status > 999)
		return -1;
	r->status = status;
	if (append(&at, end, "Status: ") == -1 ||
	    append_decimal(&at, end, (uint64_t)status) == -1 ||
	    append(&at, end, " ") == -1 ||
	    append(&at, end, resp_reason(status)) == -1 ||
	    append(&at, end, "\r\nContent-Type: ") == -1 ||
	    append(&at, end, type) == -1 ||
	    append(&at, end, "\r\nCache-Control: no-store\r\n") == -1)
		return -1;
	if (length >= 0 && (append(&at, end, "Content-Length: ") == -1 ||
	    append_decimal(&at, end, (uint64_t)length) == -1 ||
	    append(&at, end, "\r\n") == -1))
		return -1;
	return resp_out(r, head, (size_t)(at - head));
}

int
resp_end_headers(struct req *r)
{
	if (r->status == 0 || r->headers_ended)
		return -1;
	r->headers_ended = 1;
	return resp_out(r, "\r\n", 2);
}

int
resp_write(struct req *r, const char *buf, size_t len)
{
	if (!r->headers_ended)
		return -1;
	if (r->method == REQ_HEAD)
		return r->out_failed ? -1 : 0;
	return resp_out(r, buf, len);
}

int
resp_flush(struct req *r)
{
	if (r->out_failed)
		return -1;
	if (r->io->flush != NULL && r->io->flush(r->io->ctx) == -1) {
		r->out_failed = 1;
		return -1;
	}
	return 0;
}

int
resp_set(struct json_object *obj, const char *key, struct json_object *val)
{
	if (obj == NULL || val == NULL ||
	    json_object_object_add(obj, key, val) != 0) {
		json_object_put(val);
		return -1;
	}
	return 0;
}

void
resp_wipe_string(struct json_object *s)
{
	const char	*p = json_object_get_string(s);
	int		 len = json_object_get_string_len(s);

	/* json-c hands out const text it owns; wiping it is ours to do. */
	if (p != NULL && len > 0)
		explicit_bzero((char *)(uintptr_t)p, (size_t)len);
}

enum prov_err
resp_json(struct req *r, int status, struct json_object *obj,
    unsigned int flags)
{
	const char	*text;
	size_t		 len;
	enum prov_err	 e = PROV_OK;

	text = json_object_to_json_string_length(obj, RESP_JSON_FLAGS, &len);
	if (text == NULL)
		return PROV_ENOMEM;
	if (resp_begin(r, status, (long long)len) == -1 ||
	    resp_end_headers(r) == -1 || resp_write(r, text, len) == -1)
		e = PROV_SYSTEM;
	if (flags & RESP_SECRET)
		explicit_bzero((char *)(uintptr_t)text, len);
	return e;
}

int
resp_write_json(struct req *r, struct json_object *obj)
{
	const char	*text;
	size_t		 len;

	text = json_object_to_json_string_length(obj, RESP_JSON_FLAGS, &len);
	if (text == NULL)
		return -1;
	return resp_write(r, text, len);
}

/* "GET, HEAD" and the like, for the Allow header of a 405. */
static void
allow_list(unsigned int methods, char *buf, size_t len)
{
	static const struct {
		unsigned int	 bit;
		const char	*name;
	} m[] = { { REQ_GET, "GET" }, { REQ_HEAD, "HEAD" }, { REQ_POST, "POST" },
	    { REQ_DELETE, "DELETE" } };
	size_t	i;

	buf[0] = '\0';
	for (i = 0; i < sizeof m / sizeof m[0]; i++) {
		if (!(methods & m[i].bit))
			continue;
		if (buf[0] != '\0')
			(void)strncat(buf, ", ", len - strlen(buf) - 1);
		(void)strncat(buf, m[i].name, len - strlen(buf) - 1);
	}
}

void
resp_error(struct req *r, enum prov_err e)
{
	struct json_object	*obj, *msg;
	const char		*text;
	size_t			 len = 0;
	char			 buf[32];
	int			 status = prov_status(e);

	if (r->status != 0)
		return;
	text = NULL;
	obj = json_object_new_object();
	msg = json_object_new_string(r->errmsg != NULL ? r->errmsg :
	    prov_strerror(e));
	if (obj != NULL && msg != NULL &&
	    json_object_object_add(obj, "error", msg) == 0) {
		msg = NULL;	/* obj owns it now */
		text = json_object_to_json_string_length(obj, RESP_JSON_FLAGS,
		    &len);
	}
	json_object_put(msg);
	if (text == NULL) {
		status = 500;
		text = resp_nomem;
		len = sizeof resp_nomem - 1;
	}

	if (resp_begin(r, status, (long long)len) == 0) {
		if (status == 401)
			(void)resp_header(r, "WWW-Authenticate", "Bearer");
		if (status == 405) {
			allow_list(r->allow, buf, sizeof buf);
			(void)resp_header(r, "Allow", buf);
		}
		if (status == 429) {
			(void)snprintf(buf, sizeof buf, "%u",
			    r->retry_after > 0 ? r->retry_after : 1);
			(void)resp_header(r, "Retry-After", buf);
		}
		if (resp_end_headers(r) == 0)
			(void)resp_write(r, text, len);
	}
	json_object_put(obj);
}

int
resp_time(int64_t t, char *buf, size_t len)
{
	struct tm	tm;
	time_t		tt = (time_t)t;

	if ((int64_t)tt != t || gmtime_r(&tt, &tm) == NULL ||
	    strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
		return -1;
	return 0;
}
