/*
 * req.h: one request, as the handlers see it.
 *
 * A request is its CGI variables (an environ-style array: the process
 * environment for plain CGI, libfcgi's parameters for FastCGI), a body
 * stream and an output stream behind struct req_io, so the same code runs
 * under FastCGI, as plain CGI, and in the unit tests and fuzzers (which use
 * the in-memory streams of struct req_mem).
 *
 * Everything a request allocates hangs off struct req and is released by
 * req_free(); nothing about a request outlives it.
 */
#ifndef PROV_REQ_H
#define PROV_REQ_H

#include <stddef.h>
#include <time.h>

#include "conf.h"
#include "db.h"
#include "err.h"
#include "bounds.h"
#include "validate.h"

/* Request methods, as bits so an endpoint can allow several. */
#define REQ_GET		0x01
#define REQ_HEAD	0x02
#define REQ_POST	0x04
#define REQ_OTHER	0x08	/* anything else, never allowed */
#define REQ_DELETE	0x10

/* The streams of one request. */
struct req_io {
	/* Reads up to len body bytes; returns the count, 0 at end, -1. */
	long	(*read)(void *ctx, char *buf, size_t len);
	/* Writes all len bytes; returns 0, or -1 when the client is gone. */
	int	(*write)(void *ctx, const char *buf, size_t len);
	/* Pushes buffered output out now; returns 0 or -1. */
	int	(*flush)(void *ctx);
	void	*ctx;
};

struct req {
	const struct req_io	*io;
	const char *const	*envp;		/* NULL-terminated "NAME=value" */
	const struct conf	*cfg;		/* borrowed, process-wide */
	struct db		*db;		/* borrowed, process-wide */
	unsigned int		 method;	/* one REQ_* bit */
	char			 addr[PROV_MAX_ADDR];	/* REMOTE_ADDR or "unknown" */
	struct timespec		 start;		/* CLOCK_MONOTONIC */

	/* Filled by req_read_body(): NUL-terminated, owned, wiped on free. */
	char			*body;
	size_t			 bodylen;

	/* Response state, kept by resp.c. */
	int			 status;	/* non-zero once headers are out */
	int			 headers_ended;	/* the blank line is written */
	int			 out_failed;	/* a write failed: client gone */

	/* Details for an error response, set before returning an error. */
	unsigned int		 allow;		/* REQ_* bits, for 405's Allow */
	unsigned int		 retry_after;	/* seconds, for 429 */
	const char		*errmsg;	/* static text replacing
						   prov_strerror() in the body */
	char			 why[PROV_MAX_REASON];	/* for the log line */
};

/*
 * Starts a request: method and client address from envp, the clock.
 * io, envp, cfg and db are borrowed and must outlive r.
 */
void		req_init(struct req *r, const struct req_io *io,
		    const char *const *envp, const struct conf *cfg,
		    struct db *db);

/* The CGI variable name, or NULL when absent. Borrowed from envp. */
const char	*req_param(const struct req *r, const char *name);

/* The REQ_* bit for a REQUEST_METHOD value (NULL gives REQ_OTHER). */
unsigned int	req_method(const char *name);

/*
 * Reads the whole body (at most max bytes) into r->body. A declared
 * CONTENT_LENGTH over max is PROV_TOOBIG at once, without reading; "-1"
 * or no CONTENT_LENGTH (a chunked body) is read to end of input, and more
 * than max bytes is PROV_TOOBIG too. A body whose length differs from a
 * declared CONTENT_LENGTH, or a malformed CONTENT_LENGTH, is PROV_BADREQ.
 */
enum prov_err	req_read_body(struct req *r, size_t max);

/* Sets the short reason logged with the request (never secrets). */
void		req_why(struct req *r, const char *fmt, ...)
		    __attribute__((format(printf, 2, 3)));

/* Milliseconds since req_init(). */
long		req_elapsed_ms(const struct req *r);

/* Releases (and wipes) what r holds; r may be reused after req_init(). */
void		req_free(struct req *r);

/* A parsed, validated /register body. */
struct reg_body {
	char	hostname[PROV_MAX_HOSTNAME + 1];
	char	mac[VALIDATE_MAC_LEN + 1];	/* "aa:bb:cc:dd:ee:ff" or "" */
};

/*
 * Parses a /register body: exactly one JSON object (RFC 8259, strict, valid
 * UTF-8, nesting at most PROV_MAX_JSON_DEPTH, nothing after it but
 * whitespace) with a string member "hostname" that passes
 * validate_hostname() and a "mac" that validate_reg_mac() takes (absent
 * for unknown, or a string). Other members are ignored; when
 * a member appears twice, the last one counts (json-c keeps one value per
 * key). Returns PROV_OK with out filled, PROV_ENOMEM, or PROV_BADREQ with
 * *msg set to a fixed client-safe explanation that never quotes the input.
 */
enum prov_err	req_parse_register(const char *body, size_t len,
		    struct reg_body *out, const char **msg);

/*
 * In-memory streams for tests and fuzzers: the body comes from in (at
 * most chunk bytes per read when chunk is non-zero, to mimic a stream);
 * output accumulates in out, NUL-terminated, grown with realloc.
 */
struct req_mem {
	const char	*in;
	size_t		 inlen;
	size_t		 inpos;
	size_t		 chunk;
	char		*out;		/* caller frees, with req_mem_free() */
	size_t		 outlen;
	size_t		 outcap;
	unsigned int	 flushes;	/* how many times flush was called */
};

/* Points io at m's streams. */
void		req_mem_io(struct req_io *io, struct req_mem *m);

/* Frees m's output. */
void		req_mem_free(struct req_mem *m);

#endif /* PROV_REQ_H */
