/*
 * resp.h: writing responses.
 *
 * This is the only place that writes response headers, and the only place
 * that turns an enum prov_err into a status and an {"error": "..."} body,
 * so every endpoint answers alike. Every response is JSON (but /metrics'
 * Prometheus text) and carries "Cache-Control: no-store" (bodies may hold
 * keys or the machine list).
 *
 * Output goes through the request's stream and is not flushed until the
 * request ends (libfcgi buffers it), except by resp_flush() while streaming:
 * a program that dies halfway then gives a clean 502, not half a 200.
 * For HEAD requests the headers are written and the body is dropped.
 */
#ifndef PROV_RESP_H
#define PROV_RESP_H

#include <stddef.h>
#include <stdint.h>

#include "err.h"
#include "req.h"

struct json_object;

/* The body holds a secret: wipe the serialised copy after writing it. */
#define RESP_SECRET	0x01

/* Room for an RFC 3339 UTC timestamp, "2026-11-26T12:00:00Z" and NUL. */
#define RESP_TIME_LEN	32

/* The reason phrase for status ("Not Found"), or "Unknown". */
const char	*resp_reason(int status);

/*
 * Starts a response: "Status: NNN Reason", the content type, no-store, and
 * Content-Length when length is not negative. Returns 0, or -1 when
 * headers were already sent or the client is gone.
 */
int		resp_begin(struct req *r, int status, long long length);

/* The same with another Content-Type (a fixed string, not input). */
int		resp_begin_as(struct req *r, int status, long long length,
		    const char *type);

/*
 * Adds one header. Refuses (-1, nothing written) a name that is not an
 * RFC 9110 token or a value holding CR, LF or other control characters,
 * so no input can split the response.
 */
int		resp_header(struct req *r, const char *name, const char *value);

/* Ends the headers. */
int		resp_end_headers(struct req *r);

/* Writes body bytes (nothing for HEAD). 0, or -1 when the client is gone. */
int		resp_write(struct req *r, const char *buf, size_t len);

/* Pushes what was written so far to the client (streaming only). */
int		resp_flush(struct req *r);

/*
 * A complete response: status, Content-Length and obj serialised by json-c
 * (plain, no slash escaping). With RESP_SECRET the serialised text is
 * wiped once written. obj stays the caller's. PROV_OK, PROV_ENOMEM (nothing
 * written), or PROV_SYSTEM when the client went away.
 */
enum prov_err	resp_json(struct req *r, int status,
		    struct json_object *obj, unsigned int flags);

/*
 * Serialises obj as resp_json() does and writes it as part of a body being
 * streamed. 0, or -1 when out of memory or the client is gone.
 */
int		resp_write_json(struct req *r, struct json_object *obj);

/*
 * The error response for e: prov_status(e) and {"error": text}, where text
 * is r->errmsg when set, else prov_strerror(e). Adds WWW-Authenticate for
 * 401, Allow (from r->allow) for 405 and Retry-After (r->retry_after) for
 * 429. Does nothing when a response was already started.
 */
void		resp_error(struct req *r, enum prov_err e);

/* Formats unix time t as RFC 3339 UTC into buf (RESP_TIME_LEN bytes). */
int		resp_time(int64_t t, char *buf, size_t len);

/*
 * Adds key: val to the JSON object obj, taking ownership of val (which may
 * be NULL, from a failed json_object_new_*). Returns 0, or -1 when out of
 * memory, with val freed; so calls can be chained with ||.
 */
int		resp_set(struct json_object *obj, const char *key,
		    struct json_object *val);

/* Wipes the text of a json-c string object holding a secret. */
void		resp_wipe_string(struct json_object *s);

#endif /* PROV_RESP_H */
