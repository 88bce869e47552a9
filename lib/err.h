/*
 * err.h: the one error type every library call returns.
 *
 * A library function either succeeds (PROV_OK) or says which kind of failure
 * happened; resp.c is the only place that turns a kind into an HTTP status
 * and a JSON body, so the mapping cannot drift between endpoints.
 */
#ifndef PROV_ERR_H
#define PROV_ERR_H

enum prov_err {
	PROV_OK = 0,
	PROV_BADREQ,		/* 400: the request is malformed */
	PROV_UNAUTH,		/* 401: missing or wrong bearer token */
	PROV_FORBIDDEN,		/* 403: a valid token, not for this endpoint */
	PROV_NOTFOUND,		/* 404: no such resource */
	PROV_METHOD,		/* 405: method not allowed for this endpoint */
	PROV_TOOBIG,		/* 413: request body over the limit */
	PROV_LIMITED,		/* 429: rate limit reached */
	PROV_ENOMEM,		/* 500: allocation failed */
	PROV_SYSTEM,		/* 500: a system call failed */
	PROV_UPSTREAM,		/* 502: headscale failed or answered garbage */
	PROV_UNAVAIL,		/* 503: the database cannot be used */
	PROV_TIMEOUT,		/* 504: headscale did not answer in time */
	PROV_ERR__MAX
};

/* Returns a short, fixed, client-safe description of e. */
const char	*prov_strerror(enum prov_err e);

/* Returns the HTTP status code for e (200 for PROV_OK). */
int		 prov_status(enum prov_err e);

#endif /* PROV_ERR_H */
