/*
 * test-conf.c: configuration from the environment: the defaults, values
 * at their bounds, and every kind of bad value, each of which must stop
 * the load with a message naming its variable.
 */
#include "config.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conf.h"
#include "tap.h"

static const char *const vars[] = {
	"PROVISIONER_DATA_DIR", "HEADSCALE_BIN", "HEADSCALE_CONFIG",
	"HEADSCALE_USER", "HEADSCALE_URL", "KEY_EXPIRY", "RATE_LIMIT_MAX",
	"RATE_LIMIT_WINDOW", "HEADSCALE_TIMEOUT", "REQUEST_TIMEOUT",
	"REQUEST_BODY_TIMEOUT", "RESPONSE_TIMEOUT",
};

static void
clear_env(void)
{
	size_t	i;

	for (i = 0; i < sizeof vars / sizeof vars[0]; i++)
		unsetenv(vars[i]);
}

/* Loads with only var=value set; 0 or -1 as conf_load. */
static int
load_with(const char *var, const char *value, unsigned int need,
    struct conf *cfg, char *err, size_t errlen)
{
	clear_env();
	if (var != NULL)
		setenv(var, value, 1);
	err[0] = '\0';
	return conf_load(cfg, need, err, errlen);
}

/* var=value must fail, with var named in the message. */
static void
bad(const char *var, const char *value, const char *what)
{
	struct conf	cfg;
	char		err[256];
	int		rc;

	rc = load_with(var, value, 0, &cfg, err, sizeof err);
	ok(rc == -1 && strstr(err, var) != NULL, "%s: %s refused (%s)", var,
	    what, err);
}

/* var=value must load. */
static void
good(const char *var, const char *value, struct conf *cfg)
{
	char	err[256];

	ok(load_with(var, value, 0, cfg, err, sizeof err) == 0,
	    "%s=%s accepted %s", var, value, err);
}

static void
test_defaults(void)
{
	struct conf	cfg;
	char		err[256];

	ok(load_with(NULL, NULL, 0, &cfg, err, sizeof err) == 0,
	    "loads with nothing set");
	ok(strcmp(cfg.data_dir, "/var/lib/sovran-provisioner") == 0,
	    "default data dir");
	ok(strcmp(cfg.token_path,
	    "/var/lib/sovran-provisioner/enroll-token") == 0, "token path");
	ok(strcmp(cfg.db_path,
	    "/var/lib/sovran-provisioner/provisioner.db") == 0, "db path");
	ok(strcmp(cfg.headscale_bin, HEADSCALE_DEFAULT_BIN) == 0,
	    "headscale from configure");
	ok(cfg.headscale_config[0] == '\0', "no headscale config");
	ok(strcmp(cfg.headscale_user, "sovran-deploy") == 0, "default user");
	ok(cfg.headscale_url[0] == '\0', "no URL");
	ok(strcmp(cfg.key_expiry, "1h") == 0, "default expiry");
	ok(cfg.rate_limit_max == 10, "default rate limit");
	ok(cfg.rate_limit_window == 60, "default window");
	ok(cfg.headscale_timeout == 10, "default timeout");
	ok(cfg.request_timeout == 25 && cfg.request_body_timeout == 10 &&
	    cfg.response_timeout == 30, "default deadlines: 25, 10, 30 s");

	ok(load_with(NULL, NULL, CONF_NEED_URL, &cfg, err, sizeof err) == -1 &&
	    strstr(err, "HEADSCALE_URL") != NULL,
	    "register refuses to start without HEADSCALE_URL");
	ok(load_with("HEADSCALE_URL", "", CONF_NEED_URL, &cfg, err,
	    sizeof err) == -1, "an empty HEADSCALE_URL counts as unset");
	ok(load_with("HEADSCALE_URL", "https://hs.example.com", CONF_NEED_URL,
	    &cfg, err, sizeof err) == 0 &&
	    strcmp(cfg.headscale_url, "https://hs.example.com") == 0,
	    "HEADSCALE_URL kept");
	ok(load_with("RATE_LIMIT_MAX", "", 0, &cfg, err, sizeof err) == 0 &&
	    cfg.rate_limit_max == 10, "empty counts as unset");
}

static void
test_good(void)
{
	struct conf	cfg;

	good("PROVISIONER_DATA_DIR", "/srv/prov", &cfg);
	ok(strcmp(cfg.db_path, "/srv/prov/provisioner.db") == 0,
	    "db path follows the data dir");
	good("HEADSCALE_CONFIG", "/etc/headscale/config.yaml", &cfg);
	ok(strcmp(cfg.headscale_config, "/etc/headscale/config.yaml") == 0,
	    "headscale config kept");
	good("KEY_EXPIRY", "1d12h", &cfg);
	good("KEY_EXPIRY", "90m", &cfg);
	good("RATE_LIMIT_MAX", "1", &cfg);
	good("RATE_LIMIT_MAX", "1000000", &cfg);
	ok(cfg.rate_limit_max == 1000000, "upper bound kept");
	good("RATE_LIMIT_WINDOW", "86400", &cfg);
	good("HEADSCALE_TIMEOUT", "300", &cfg);
	ok(cfg.request_timeout == 305,
	    "unset, REQUEST_TIMEOUT leaves room for one headscale call");
	good("REQUEST_TIMEOUT", "12", &cfg);
	good("REQUEST_TIMEOUT", "3600", &cfg);
	good("REQUEST_BODY_TIMEOUT", "300", &cfg);
	good("RESPONSE_TIMEOUT", "1", &cfg);
	good("HEADSCALE_USER", "ops.team_1", &cfg);
}

static void
test_bad(void)
{
	char	huge[PATH_MAX + 16];

	bad("PROVISIONER_DATA_DIR", "data", "relative");
	bad("PROVISIONER_DATA_DIR", "/var/lib/x\ny", "newline");
	memset(huge, 'a', sizeof huge - 1);
	huge[0] = '/';
	huge[sizeof huge - 1] = '\0';
	bad("PROVISIONER_DATA_DIR", huge, "longer than PATH_MAX");
	huge[PATH_MAX - 5] = '\0';
	bad("PROVISIONER_DATA_DIR", huge, "no room for the file names");

	bad("HEADSCALE_BIN", "/usr/bin/head\x7fscale", "DEL");
	bad("HEADSCALE_BIN", "/usr/bin/head\x1bscale", "escape");
	memset(huge, 'b', PATH_MAX);
	huge[0] = '/';
	huge[PATH_MAX] = '\0';
	bad("HEADSCALE_BIN", huge, "PATH_MAX bytes, no room for the NUL");
	huge[PATH_MAX - 1] = '\0';
	{
		struct conf	cfg;
		char		err[256];

		ok(load_with("HEADSCALE_BIN", huge, 0, &cfg, err,
		    sizeof err) == 0 &&
		    strlen(cfg.headscale_bin) == PATH_MAX - 1,
		    "HEADSCALE_BIN: the longest path that fits is kept whole");
	}
	bad("HEADSCALE_BIN", "headscale", "relative");
	bad("HEADSCALE_BIN", "./headscale", "relative with dot");
	bad("HEADSCALE_CONFIG", "config.yaml", "relative");

	bad("HEADSCALE_USER", "-rf", "an option");
	bad("HEADSCALE_USER", "a b", "space");
	bad("HEADSCALE_USER", "x;reboot", "shell syntax");
	bad("HEADSCALE_USER",
	    "a234567890123456789012345678901234567890123456789012345678901234",
	    "64 bytes");

	bad("HEADSCALE_URL", "ftp://hs.example.com", "other scheme");
	bad("HEADSCALE_URL", "hs.example.com", "no scheme");
	bad("HEADSCALE_URL", "https://", "no host");
	bad("HEADSCALE_URL", "https://hs.example.com/ x", "space");
	bad("HEADSCALE_URL", "https://hs.example.com\r\nX: y", "CRLF");

	bad("KEY_EXPIRY", "1.5h", "fraction");
	bad("KEY_EXPIRY", "-1h", "negative");
	bad("KEY_EXPIRY", "1", "no unit");
	bad("KEY_EXPIRY", "0", "zero");
	bad("KEY_EXPIRY", "1m1h", "units out of order");
	bad("KEY_EXPIRY", "300y", "overflow");
	bad("KEY_EXPIRY", "1 h", "space");

	bad("RATE_LIMIT_MAX", "0", "zero");
	bad("RATE_LIMIT_MAX", "1000001", "over the maximum");
	bad("RATE_LIMIT_MAX", "-1", "negative");
	bad("RATE_LIMIT_MAX", "+5", "sign");
	bad("RATE_LIMIT_MAX", " 5", "leading space");
	bad("RATE_LIMIT_MAX", "5 ", "trailing space");
	bad("RATE_LIMIT_MAX", "5x", "trailing junk");
	bad("RATE_LIMIT_MAX", "0x10", "hex");
	bad("RATE_LIMIT_MAX", "99999999999999999999999", "overflow");
	bad("RATE_LIMIT_WINDOW", "0", "zero");
	bad("RATE_LIMIT_WINDOW", "86401", "over a day");
	bad("HEADSCALE_TIMEOUT", "0", "zero");
	bad("HEADSCALE_TIMEOUT", "301", "over the maximum");
	bad("HEADSCALE_TIMEOUT", "10s", "with a unit");
	bad("REQUEST_TIMEOUT", "11", "under HEADSCALE_TIMEOUT + 2");
	bad("REQUEST_TIMEOUT", "3601", "over the maximum");
	bad("REQUEST_BODY_TIMEOUT", "0", "zero");
	bad("REQUEST_BODY_TIMEOUT", "301", "over the maximum");
	bad("RESPONSE_TIMEOUT", "0", "zero");
	bad("RESPONSE_TIMEOUT", "3601", "over the maximum");
}

int
main(void)
{
	test_defaults();
	test_good();
	test_bad();
	clear_env();
	return done_testing();
}
