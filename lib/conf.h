/*
 * conf.h: the programs' configuration, read from the environment once at
 * start, before the first request.
 *
 * Every value is validated when read; a bad value stops the program with a
 * message naming the variable, so a typo never becomes a runtime surprise.
 */
#ifndef PROV_CONF_H
#define PROV_CONF_H

#include <limits.h>
#include <stddef.h>

#include "bounds.h"

struct conf {
	char		 data_dir[PATH_MAX];	/* PROVISIONER_DATA_DIR */
	char		 token_path[PATH_MAX];	/* <data_dir>/enroll-token */
	char		 admin_token_path[PATH_MAX];	/* <data_dir>/admin-token */
	char		 db_path[PATH_MAX];	/* <data_dir>/provisioner.db */
	char		 headscale_bin[PATH_MAX];	/* HEADSCALE_BIN, absolute */
	char		 headscale_config[PATH_MAX];	/* HEADSCALE_CONFIG or "" */
	char		 headscale_user[64];	/* HEADSCALE_USER */
	char		 headscale_url[512];	/* HEADSCALE_URL or "" */
	char		 key_expiry[32];	/* KEY_EXPIRY, e.g. "1h" */
	unsigned int	 rate_limit_max;	/* RATE_LIMIT_MAX */
	unsigned int	 rate_limit_window;	/* RATE_LIMIT_WINDOW, seconds */
	unsigned int	 headscale_timeout;	/* HEADSCALE_TIMEOUT, seconds */
};

/* Flags for conf_load(): what the calling program cannot run without. */
#define CONF_NEED_URL		0x01	/* HEADSCALE_URL must be set */

/*
 * Fills cfg from the environment, applying defaults. Returns 0 on success;
 * on a bad value returns -1 and writes a message naming the variable into
 * err (errlen bytes).
 */
int	conf_load(struct conf *cfg, unsigned int need,
	    char *err, size_t errlen);

#endif /* PROV_CONF_H */
