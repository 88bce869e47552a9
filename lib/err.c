/*
 * err.c: the text and the HTTP status of every enum prov_err.
 *
 * Both tables are indexed by the enum and sized by PROV_ERR__MAX, so adding
 * a kind without describing it fails to compile rather than answering with
 * garbage. The texts go to clients: they are fixed, short and never carry
 * request data or anything learned from headscale.
 */
#include "config.h"

#include <stddef.h>

#include "err.h"

static const char *const err_text[PROV_ERR__MAX] = {
	[PROV_OK] = "ok",
	[PROV_BADREQ] = "bad request",
	[PROV_UNAUTH] = "unauthorized",
	[PROV_FORBIDDEN] = "this token is not for this endpoint",
	[PROV_NOTFOUND] = "not found",
	[PROV_METHOD] = "method not allowed",
	[PROV_TOOBIG] = "request body too large",
	[PROV_LIMITED] = "rate limit exceeded",
	[PROV_ENOMEM] = "out of memory",
	[PROV_SYSTEM] = "internal error",
	[PROV_UPSTREAM] = "headscale failed",
	[PROV_UNAVAIL] = "database unavailable",
	[PROV_TIMEOUT] = "headscale timed out",
};

static const int err_status[PROV_ERR__MAX] = {
	[PROV_OK] = 200,
	[PROV_BADREQ] = 400,
	[PROV_UNAUTH] = 401,
	[PROV_FORBIDDEN] = 403,
	[PROV_NOTFOUND] = 404,
	[PROV_METHOD] = 405,
	[PROV_TOOBIG] = 413,
	[PROV_LIMITED] = 429,
	[PROV_ENOMEM] = 500,
	[PROV_SYSTEM] = 500,
	[PROV_UPSTREAM] = 502,
	[PROV_UNAVAIL] = 503,
	[PROV_TIMEOUT] = 504,
};

/*
 * A value outside the enum (a bug, or memory gone bad) is reported as an
 * internal error instead of indexing past the tables.
 */
const char *
prov_strerror(enum prov_err e)
{
	if ((unsigned int)e >= PROV_ERR__MAX || err_text[e] == NULL)
		return err_text[PROV_SYSTEM];
	return err_text[e];
}

int
prov_status(enum prov_err e)
{
	if ((unsigned int)e >= PROV_ERR__MAX || err_status[e] == 0)
		return err_status[PROV_SYSTEM];
	return err_status[e];
}
