/*
 * fuzz-auth.c: the Authorization header parser and the token check.
 *
 * The input is the value of HTTP_AUTHORIZATION as Caddy passes it: a C
 * string, so it ends at the first NUL. auth_bearer() must only ever point
 * at a non-empty run of printable, space-free ASCII ending the value, after
 * a case-insensitive "Bearer" and blanks. auth_check(), against a real
 * token file, must accept exactly the values a plain restatement of RFC
 * 6750's form accepts for that token, and nothing else: a prefix, a
 * suffix, another scheme or one byte changed is a refusal.
 */
#include "config.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "auth.h"
#include "err.h"
#include "bounds.h"
#include "fuzz.h"

static struct auth	 fuzz_auth;

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	auth_init(&fuzz_auth, fuzz_token_file());
	return 0;
}

/* "Bearer", any case, one or more blanks, then exactly the token. */
static int
reference_accepts(const char *h)
{
	const char	*p;
	size_t		 i;

	if (strlen(h) > PROV_MAX_AUTH_HEADER)
		return 0;
	for (i = 0; i < 6; i++)
		if (h[i] == '\0' || (h[i] | 0x20) != "bearer"[i])
			return 0;
	p = h + 6;
	if (*p != ' ' && *p != '\t')
		return 0;
	while (*p == ' ' || *p == '\t')
		p++;
	return strcmp(p, FUZZ_TOKEN) == 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char	*tok = NULL;
	char		*h;
	size_t		 len = 0, hlen, i;

	/* Caddy and the tests never send a header this long. */
	if (size > 4 * PROV_MAX_AUTH_HEADER)
		return 0;
	h = fuzz_copy(data, size);
	hlen = strlen(h);

	if (auth_bearer(h, &tok, &len) == 0) {
		FUZZ_CHECK(hlen <= PROV_MAX_AUTH_HEADER);
		FUZZ_CHECK(tok > h + 6 && tok < h + hlen && len >= 1);
		FUZZ_CHECK(tok + len == h + hlen);
		FUZZ_CHECK(tok[-1] == ' ' || tok[-1] == '\t');
		for (i = 0; i < len; i++)
			FUZZ_CHECK(tok[i] > ' ' && tok[i] <= '~');
	}

	FUZZ_CHECK((auth_check(&fuzz_auth, h) == PROV_OK) ==
	    reference_accepts(h));
	FUZZ_CHECK(auth_state(&fuzz_auth) == AUTH_READY);
	FUZZ_CHECK(auth_check(&fuzz_auth, NULL) == PROV_UNAUTH);
	free(h);
	return 0;
}
