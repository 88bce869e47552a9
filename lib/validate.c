/*
 * validate.c: the validators declared in validate.h.
 *
 * Allow-lists only: each function says which bytes may appear where, so
 * anything unexpected (NUL, control characters, UTF-8, shell syntax) is
 * refused without having to be named.
 */
#include "config.h"

#include <stdint.h>
#include <string.h>

#include "bounds.h"
#include "validate.h"

static int
is_alnum(unsigned char c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') ||
	    (c >= 'A' && c <= 'Z');
}

/* Value of hex digit c, or -1. */
static int
hex_value(unsigned char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

int
validate_hostname(const char *s, size_t len)
{
	size_t	i;

	if (s == NULL || len == 0 || len > PROV_MAX_HOSTNAME)
		return 0;
	if (s[0] == '-' || s[len - 1] == '-')
		return 0;
	for (i = 0; i < len; i++)
		if (!is_alnum((unsigned char)s[i]) && s[i] != '-')
			return 0;
	return 1;
}

int
validate_mac(const char *s, size_t len, char *out)
{
	static const char	 digits[] = "0123456789abcdef";
	char			 norm[VALIDATE_MAC_LEN + 1];
	char			 sep;
	size_t			 i;
	int			 hi, lo;

	if (s == NULL || len != VALIDATE_MAC_LEN)
		return 0;
	sep = s[2];
	if (sep != ':' && sep != '-')
		return 0;
	for (i = 0; i < VALIDATE_MAC_LEN; i += 3) {
		hi = hex_value((unsigned char)s[i]);
		lo = hex_value((unsigned char)s[i + 1]);
		if (hi < 0 || lo < 0)
			return 0;
		if (i + 2 < VALIDATE_MAC_LEN && s[i + 2] != sep)
			return 0;
		norm[i] = digits[hi];
		norm[i + 1] = digits[lo];
		if (i + 2 < VALIDATE_MAC_LEN)
			norm[i + 2] = ':';
	}
	norm[VALIDATE_MAC_LEN] = '\0';
	memcpy(out, norm, sizeof norm);
	return 1;
}

int
validate_reg_mac(const char *s, size_t len, char *out)
{
	if (s == NULL || len == 0 ||
	    (len == 7 && memcmp(s, "unknown", 7) == 0)) {
		out[0] = '\0';
		return 1;
	}
	return validate_mac(s, len, out);
}

int
validate_name(const char *s, size_t len)
{
	size_t	i;

	if (s == NULL || len == 0 || len > 63 || !is_alnum((unsigned char)s[0]))
		return 0;
	for (i = 1; i < len; i++)
		if (!is_alnum((unsigned char)s[i]) && s[i] != '.' &&
		    s[i] != '_' && s[i] != '-')
			return 0;
	return 1;
}

int
validate_duration(const char *s, size_t len)
{
	/* Units in the only order headscale accepts, with their size in ms. */
	static const struct {
		const char	*name;
		uint64_t	 ms;
	} units[] = {
		{ "y", 365ULL * 24 * 3600 * 1000 },
		{ "w", 7ULL * 24 * 3600 * 1000 },
		{ "d", 24ULL * 3600 * 1000 },
		{ "h", 3600ULL * 1000 },
		{ "ms", 1 },		/* before "m", which is its prefix */
		{ "m", 60ULL * 1000 },
		{ "s", 1000 },
	};
	/* Rank of each entry above in largest-first order ("ms" is last). */
	static const int	 rank[] = { 0, 1, 2, 3, 6, 4, 5 };
	/* headscale keeps durations in int64 nanoseconds. */
	const uint64_t		 max_ms = INT64_MAX / 1000000;
	uint64_t		 total = 0, n;
	size_t			 pos = 0, u, ulen = 0;
	int			 last = -1;

	if (s == NULL || len == 0)
		return 0;
	while (pos < len) {
		if (s[pos] < '0' || s[pos] > '9')
			return 0;
		for (n = 0; pos < len && s[pos] >= '0' && s[pos] <= '9'; pos++) {
			n = n * 10 + (uint64_t)(s[pos] - '0');
			if (n > max_ms)
				return 0;
		}
		for (u = 0; u < sizeof units / sizeof units[0]; u++) {
			ulen = strlen(units[u].name);
			if (len - pos >= ulen &&
			    memcmp(s + pos, units[u].name, ulen) == 0)
				break;
		}
		if (u == sizeof units / sizeof units[0] || rank[u] <= last)
			return 0;
		last = rank[u];
		pos += ulen;
		if (n > (max_ms - total) / units[u].ms)
			return 0;
		total += n * units[u].ms;
	}
	return total > 0;
}

int
validate_url(const char *s, size_t len)
{
	size_t	i, skip;

	if (s == NULL)
		return 0;
	if (len > 7 && memcmp(s, "http://", 7) == 0)
		skip = 7;
	else if (len > 8 && memcmp(s, "https://", 8) == 0)
		skip = 8;
	else
		return 0;
	/* A host must follow the scheme, not a path. */
	if (s[skip] == '/')
		return 0;
	for (i = 0; i < len; i++)
		if ((unsigned char)s[i] <= 0x20 || (unsigned char)s[i] >= 0x7f)
			return 0;
	return 1;
}
