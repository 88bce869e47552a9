/*
 * fuzz-register.c: the /register body parser and the validators behind it.
 *
 * The input is a request body, given to req_parse_register() exactly as
 * serve.c hands it over (a NUL-terminated copy with its length). The same
 * bytes also go straight to every validator in validate.h, whose promises
 * are checked against a plain restatement of the rules: what a validator
 * accepts is well formed, and what it refuses leaves its output alone.
 */
#include "config.h"

#include <limits.h>
#include <string.h>

#include "err.h"
#include "bounds.h"
#include "req.h"
#include "validate.h"
#include "fuzz.h"

static int
alnum(unsigned char c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') ||
	    (c >= 'A' && c <= 'Z');
}

static int
hex_lower(unsigned char c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
}

static unsigned char
lower(unsigned char c)
{
	return c >= 'A' && c <= 'Z' ? (unsigned char)(c + 32) : c;
}

/* A DNS label, restated. */
static int
hostname_shape(const char *s, size_t len)
{
	size_t	i;

	if (len < 1 || len > PROV_MAX_HOSTNAME || s[0] == '-' ||
	    s[len - 1] == '-')
		return 0;
	for (i = 0; i < len; i++)
		if (!alnum((unsigned char)s[i]) && s[i] != '-')
			return 0;
	return 1;
}

/* "aa:bb:cc:dd:ee:ff", lower case, NUL-terminated. */
static int
mac_normal(const char *m)
{
	size_t	i;

	for (i = 0; i < VALIDATE_MAC_LEN; i++)
		if (i % 3 == 2 ? m[i] != ':' : !hex_lower((unsigned char)m[i]))
			return 0;
	return m[VALIDATE_MAC_LEN] == '\0';
}

/* A client-safe message: short printable text that is not the input. */
static int
fixed_message(const char *msg, const char *in, size_t inlen)
{
	size_t	i;

	if (msg == NULL || (msg >= in && msg <= in + inlen))
		return 0;
	for (i = 0; msg[i] != '\0'; i++)
		if (i > 200 || msg[i] < ' ' || msg[i] > '~')
			return 0;
	return i > 0;
}

static void
check_validators(const char *s, size_t len)
{
	char	out[VALIDATE_MAC_LEN + 1], again[VALIDATE_MAC_LEN + 1];
	size_t	i;

	FUZZ_CHECK(validate_hostname(s, len) == hostname_shape(s, len));

	memset(out, 'X', sizeof out);
	if (validate_mac(s, len, out)) {
		FUZZ_CHECK(len == VALIDATE_MAC_LEN && mac_normal(out));
		for (i = 0; i < len; i++)
			FUZZ_CHECK(lower((unsigned char)s[i]) == out[i] ||
			    (i % 3 == 2 && s[i] == '-'));
		/* The normal form is accepted and stays as it is. */
		FUZZ_CHECK(validate_mac(out, VALIDATE_MAC_LEN, again) &&
		    memcmp(out, again, sizeof out) == 0);
	} else
		for (i = 0; i < sizeof out; i++)
			FUZZ_CHECK(out[i] == 'X');

	if (validate_name(s, len)) {
		FUZZ_CHECK(len >= 1 && len <= 63 && alnum((unsigned char)s[0]));
		for (i = 0; i < len; i++)
			FUZZ_CHECK(alnum((unsigned char)s[i]) ||
			    strchr("._-", s[i]) != NULL);
	}

	if (validate_duration(s, len)) {
		FUZZ_CHECK(s[0] >= '0' && s[0] <= '9');
		FUZZ_CHECK(strchr("ywdhms", s[len - 1]) != NULL);
		for (i = 0; i < len; i++)
			FUZZ_CHECK(s[i] != '\0' &&
			    strchr("0123456789ywdhms", s[i]) != NULL);
	}

	if (validate_url(s, len)) {
		FUZZ_CHECK((len > 7 && memcmp(s, "http://", 7) == 0) ||
		    (len > 8 && memcmp(s, "https://", 8) == 0));
		for (i = 0; i < len; i++)
			FUZZ_CHECK(s[i] > ' ' && s[i] <= '~');
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct reg_body	 rb;
	const char	*msg = NULL;
	char		*body;
	enum prov_err	 e;

	/* serve.c never passes on more than the body cap. */
	if (size > PROV_MAX_BODY)
		return 0;
	body = fuzz_copy(data, size);

	memset(&rb, 0, sizeof rb);
	e = req_parse_register(body, size, &rb, &msg);
	if (e == PROV_OK) {
		FUZZ_CHECK(msg == NULL);
		FUZZ_CHECK(hostname_shape(rb.hostname, strlen(rb.hostname)));
		/* "" is an unknown MAC (validate_reg_mac()). */
		FUZZ_CHECK(rb.mac[0] == '\0' || mac_normal(rb.mac));
	} else {
		FUZZ_CHECK(e == PROV_BADREQ || e == PROV_ENOMEM);
		FUZZ_CHECK(fixed_message(msg, body, size));
	}

	check_validators(body, size);
	free(body);
	return 0;
}
