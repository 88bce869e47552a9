/*
 * conf.c: the environment, read once, checked completely.
 *
 * An empty variable counts as unset (systemd's "Environment=VAR=" clears a
 * value that way). Each failure message names the variable and what it
 * must look like, never more of the bad value than is needed to fix it.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conf.h"
#include "validate.h"

#ifndef HEADSCALE_DEFAULT_BIN
#define HEADSCALE_DEFAULT_BIN	"/usr/bin/headscale"
#endif

#define CONF_DEFAULT_DATA_DIR	"/var/lib/sovran-provisioner"
#define CONF_DEFAULT_USER	"sovran-deploy"
#define CONF_DEFAULT_EXPIRY	"1h"

/* The value of name, or NULL when unset or empty. */
static const char *
conf_get(const char *name)
{
	const char	*v = getenv(name);

	return (v == NULL || *v == '\0') ? NULL : v;
}

/* Whether s holds any byte outside printable ASCII. */
static int
has_control(const char *s)
{
	for (; *s != '\0'; s++)
		if ((unsigned char)*s < 0x20 || (unsigned char)*s == 0x7f)
			return 1;
	return 0;
}

/*
 * Copies an absolute path from name (or def when unset) into dst. Returns
 * 0, or -1 with a message in err.
 */
static int
conf_path(const char *name, const char *def, char *dst, size_t dstlen,
    char *err, size_t errlen)
{
	const char	*v = conf_get(name);

	if (v == NULL)
		v = def;
	if (v[0] != '/' || has_control(v)) {
		snprintf(err, errlen, "%s must be an absolute path without "
		    "control characters", name);
		return -1;
	}
	if (strlen(v) >= dstlen) {
		snprintf(err, errlen, "%s is too long (at most %zu bytes)",
		    name, dstlen - 1);
		return -1;
	}
	memcpy(dst, v, strlen(v) + 1);
	return 0;
}

/*
 * Reads name as a whole decimal number within [min, max], or def when
 * unset. Signs, spaces, hex and trailing junk are refused; strtoul would
 * quietly accept most of them.
 */
static int
conf_uint(const char *name, unsigned int def, unsigned int min,
    unsigned int max, unsigned int *out, char *err, size_t errlen)
{
	const char		*v = conf_get(name), *p;
	unsigned long long	 n = 0;

	if (v == NULL) {
		*out = def;
		return 0;
	}
	for (p = v; *p >= '0' && *p <= '9' && n <= max; p++)
		n = n * 10 + (unsigned long long)(*p - '0');
	if (p == v || *p != '\0' || n < min || n > max) {
		snprintf(err, errlen, "%s must be a whole number from %u to %u",
		    name, min, max);
		return -1;
	}
	*out = (unsigned int)n;
	return 0;
}

/* Copies name (or def) into dst after check() accepts it. */
static int
conf_string(const char *name, const char *def,
    int (*check)(const char *, size_t), const char *what,
    char *dst, size_t dstlen, char *err, size_t errlen)
{
	const char	*v = conf_get(name);
	size_t		 len;

	if (v == NULL)
		v = def;
	len = strlen(v);
	if (len >= dstlen || !check(v, len)) {
		snprintf(err, errlen, "%s must be %s", name, what);
		return -1;
	}
	memcpy(dst, v, len + 1);
	return 0;
}

int
conf_load(struct conf *cfg, unsigned int need, char *err, size_t errlen)
{
	int	n;

	memset(cfg, 0, sizeof *cfg);
	if (conf_path("PROVISIONER_DATA_DIR", CONF_DEFAULT_DATA_DIR,
	    cfg->data_dir, sizeof cfg->data_dir, err, errlen) == -1)
		return -1;
	n = snprintf(cfg->token_path, sizeof cfg->token_path,
	    "%s/enroll-token", cfg->data_dir);
	if (n < 0 || (size_t)n >= sizeof cfg->token_path ||
	    (n = snprintf(cfg->db_path, sizeof cfg->db_path,
	    "%s/provisioner.db", cfg->data_dir)) < 0 ||
	    (size_t)n >= sizeof cfg->db_path ||
	    (n = snprintf(cfg->admin_token_path, sizeof cfg->admin_token_path,
	    "%s/admin-token", cfg->data_dir)) < 0 ||
	    (size_t)n >= sizeof cfg->admin_token_path) {
		snprintf(err, errlen, "PROVISIONER_DATA_DIR is too long");
		return -1;
	}

	if (conf_path("HEADSCALE_BIN", HEADSCALE_DEFAULT_BIN,
	    cfg->headscale_bin, sizeof cfg->headscale_bin, err, errlen) == -1)
		return -1;
	if (conf_get("HEADSCALE_CONFIG") != NULL &&
	    conf_path("HEADSCALE_CONFIG", "", cfg->headscale_config,
	    sizeof cfg->headscale_config, err, errlen) == -1)
		return -1;

	if (conf_string("HEADSCALE_USER", CONF_DEFAULT_USER, validate_name,
	    "1-63 letters, digits, '.', '_' or '-', starting with a letter "
	    "or digit", cfg->headscale_user, sizeof cfg->headscale_user,
	    err, errlen) == -1)
		return -1;

	if (conf_get("HEADSCALE_URL") != NULL) {
		if (conf_string("HEADSCALE_URL", "", validate_url,
		    "an http:// or https:// URL without spaces",
		    cfg->headscale_url, sizeof cfg->headscale_url,
		    err, errlen) == -1)
			return -1;
	} else if (need & CONF_NEED_URL) {
		snprintf(err, errlen, "HEADSCALE_URL must be set to the login "
		    "server URL clients are sent to");
		return -1;
	}

	if (conf_string("KEY_EXPIRY", CONF_DEFAULT_EXPIRY, validate_duration,
	    "a headscale duration such as 30m, 1h or 1d12h",
	    cfg->key_expiry, sizeof cfg->key_expiry, err, errlen) == -1)
		return -1;

	if (conf_uint("RATE_LIMIT_MAX", 10, 1, 1000000,
	    &cfg->rate_limit_max, err, errlen) == -1 ||
	    conf_uint("RATE_LIMIT_WINDOW", 60, 1, 86400,
	    &cfg->rate_limit_window, err, errlen) == -1 ||
	    conf_uint("HEADSCALE_TIMEOUT", 10, 1, 300,
	    &cfg->headscale_timeout, err, errlen) == -1)
		return -1;
	return 0;
}
