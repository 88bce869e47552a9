/*
 * serve.h: what makes a program out of an endpoint.
 *
 * An endpoint is a declaration: its name, the methods it answers, whether
 * it needs the bearer token and counts against the rate limit, what
 * configuration it cannot run without, and one handler. serve_main() does
 * everything else: options, configuration, the database, the FastCGI or
 * CGI plumbing, workers, signals, and the checks every request passes
 * before its handler runs (docs/design.md, "The request pipeline").
 */
#ifndef PROV_SERVE_H
#define PROV_SERVE_H

#include "auth.h"
#include "conf.h"
#include "db.h"
#include "err.h"
#include "req.h"

struct endpoint {
	const char	*name;		/* "register": messages and log lines */
	unsigned int	 methods;	/* REQ_* bits it answers */
	int		 auth;		/* needs "Authorization: Bearer": */
#define ENDPOINT_AUTH_ENROLL	1	/* the enrollment token */
#define ENDPOINT_AUTH_ADMIN	2	/* the admin token; enrollment: 403 */
	int		 subpaths;	/* takes PATH_INFO (/machines/42) */
	int		 ratelimited;	/* every attempt counts, before auth */
	unsigned int	 conf_needs;	/* CONF_NEED_* for conf_load() */
	/*
	 * Runs after every check passed, with the body read for POST.
	 * Writes its response through resp.c and returns PROV_OK, or
	 * returns an error without writing and serve answers for it.
	 */
	enum prov_err	(*handler)(struct req *);
};

/* The process-wide things a request borrows. */
struct serve_ctx {
	const struct conf	*cfg;
	struct db		*db;
	struct auth		*auth;
	struct auth		*admin;		/* the admin token */
};

/*
 * The whole program: parses argv (--listen PATH, --workers N, --help,
 * --version), reads the configuration, opens the database (creating it in
 * an existing data directory), then serves FastCGI on the socket it made
 * with --listen or inherited on fd 0, or else one plain CGI request.
 * Returns the exit status for main.
 */
int	serve_main(const struct endpoint *ep, int argc, char *argv[]);

/*
 * One request through the pipeline: PATH_INFO must be empty (else 404),
 * method (405), a database (503; ctx->db is NULL only for a plain CGI run
 * whose database would not open), rate limit (429), token (401), body
 * (413 or 400), then the handler; any error becomes its JSON response; then the log line. Needs
 * no libfcgi, so tests and fuzzers can drive it with struct req_mem.
 * Returns the status sent.
 */
int	serve_request(const struct endpoint *ep, const struct serve_ctx *ctx,
	    const struct req_io *io, const char *const *envp);

#endif /* PROV_SERVE_H */
