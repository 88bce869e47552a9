/*
 * auth.h: the token checks: the enrollment token, and for the operator's
 * endpoints the admin token (the same rules, another file).
 *
 * The secret lives in a file (the bootstrap writes 64 hex digits and a
 * newline). It is loaded when first needed and again whenever the file
 * changes, so rotating the token needs no restart. A request passes only
 * with "Authorization: Bearer <token>" matching it exactly.
 */
#ifndef PROV_AUTH_H
#define PROV_AUTH_H

#include <sys/types.h>

#include <limits.h>
#include <stddef.h>
#include <time.h>

#include "err.h"
#include "bounds.h"

/* What the token file held at the last look. */
enum auth_state {
	AUTH_UNKNOWN = 0,	/* not looked at yet */
	AUTH_READY,		/* a usable token is loaded */
	AUTH_MISSING,		/* no such file */
	AUTH_UNREADABLE,	/* exists but cannot be read, or not a file */
	AUTH_EMPTY,		/* empty, or only a newline */
	AUTH_TOOLONG,		/* over PROV_MAX_TOKEN bytes */
	AUTH_BADCHARS		/* holds spaces or control characters */
};

/*
 * The loaded token and the identity of the file it came from. Process
 * state, not request state: one per process, reused across requests.
 */
struct auth {
	char			path[PATH_MAX];
	enum auth_state		state;
	enum auth_state		logged;		/* last state logged */
	int			have_id;	/* the fields below are valid */
	dev_t			dev;
	ino_t			ino;
	off_t			size;
	struct timespec		mtime;
	struct timespec		ctime;
	size_t			len;
	/*
	 * Zero-padded to the longest token a header can carry, so the
	 * comparison reads the same number of bytes whatever the secret is.
	 */
	unsigned char		token[PROV_MAX_AUTH_HEADER];
};

/* Prepares a for the token file at path; loads nothing yet. */
void		auth_init(struct auth *a, const char *path);

/*
 * Checks an Authorization header value (NULL when absent) against the
 * token, reloading the file first if it changed. PROV_OK or PROV_UNAUTH;
 * a missing, empty or unreadable file refuses everyone (and says why in
 * the log once per change of state).
 */
enum prov_err	auth_check(struct auth *a, const char *header);

/*
 * Parses "Bearer <token>" (RFC 6750 section 2.1; the scheme is
 * case-insensitive per RFC 7235 section 2.1) with one run of spaces or tabs
 * after the scheme. The token must be non-empty printable ASCII without
 * spaces; the whole value at most PROV_MAX_AUTH_HEADER bytes. Returns 0
 * and points *token (inside header) and *len at it, or -1.
 */
int		auth_bearer(const char *header, const char **token,
		    size_t *len);

/*
 * For the operator's endpoints, which take the admin token only: PROV_OK
 * when header carries the admin token (file admin, loaded like the
 * enrollment token); PROV_FORBIDDEN when it carries the enrollment token
 * (a valid credential, not for this), so a 403 tells an operator which
 * file they read; else PROV_UNAUTH. An admin token equal to the enrollment
 * token is never accepted: the one every ISO carries would open the list.
 */
enum prov_err	auth_check_admin(struct auth *admin, struct auth *enroll,
		    const char *header);

/* The state of the token file as of the last check. */
enum auth_state	auth_state(const struct auth *a);

/* Wipes the loaded token; a is ready for auth_init() again. */
void		auth_clear(struct auth *a);

#endif /* PROV_AUTH_H */
