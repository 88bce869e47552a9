/*
 * register: POST /register, where a freshly booted machine trades the
 * enrollment token for a one-use headscale pre-auth key.
 *
 * Before this handler runs, serve.c has counted the attempt against the
 * client's rate limit, checked the token and read the body. Here: the body
 * is validated, a key is minted for the configured headscale user, the
 * registration is recorded (never the key), and the key is returned once.
 * If the record cannot be written the key is not handed out but expired
 * at once, so every usable key given out is accounted for.
 */
#include "config.h"

#include <json-c/json.h>

#include <stdint.h>
#include <string.h>
#include <time.h>

#include "headscale.h"
#include "log.h"
#include "resp.h"
#include "revoke.h"
#include "serve.h"

/*
 * Mints a key for cfg->headscale_user. The user's id is cached per
 * process; when creating the key fails, the user may have been deleted
 * (and perhaps made again) since, so the id is looked up afresh, and only
 * a different id is worth a second attempt: a headscale that is simply
 * failing costs one extra lookup, not a second key.
 */
static enum prov_err
mint_key(struct req *r, struct hs_key *key)
{
	char		why[PROV_MAX_REASON] = "";
	uint64_t	uid, again;
	enum prov_err	e;

	if ((e = hs_user_id(r->cfg, &uid, r->why, sizeof r->why)) != PROV_OK)
		return e;
	e = hs_create_key(r->cfg, uid, key, r->why, sizeof r->why);
	if (e != PROV_UPSTREAM)
		return e;
	hs_forget_user();
	switch (hs_user_id(r->cfg, &again, why, sizeof why)) {
	case PROV_OK:
		if (again == uid)
			return e;
		return hs_create_key(r->cfg, again, key, r->why, sizeof r->why);
	case PROV_UPSTREAM:
		/* Most likely "no such user": say so rather than the first. */
		memcpy(r->why, why, sizeof r->why);
		return e;
	default:
		return e;
	}
}

static enum prov_err
register_machine(struct req *r)
{
	struct reg_body		 rb;
	struct hs_key		 key;
	struct machine		 m;
	struct json_object	*obj, *k;
	char			 expires[RESP_TIME_LEN];
	enum prov_err		 e;

	e = req_parse_register(r->body, r->bodylen, &rb, &r->errmsg);
	if (e != PROV_OK)
		return e;

	memset(&key, 0, sizeof key);
	/* One live key per machine: its earlier one dies before this exists. */
	if ((e = revoke_previous_keys(r->cfg, r->db, rb.mac, r->why,
	    sizeof r->why)) != PROV_OK)
		goto out;
	if ((e = mint_key(r, &key)) != PROV_OK)
		goto out;
	if (resp_time(key.expires_at, expires, sizeof expires) == -1) {
		req_why(r, "headscale gave an expiry out of range");
		e = PROV_UPSTREAM;
		goto out;
	}

	memset(&m, 0, sizeof m);
	memcpy(m.hostname, rb.hostname, sizeof m.hostname);
	memcpy(m.mac, rb.mac, sizeof m.mac);
	memcpy(m.ip, r->addr, sizeof m.ip);
	m.registered_at = (int64_t)time(NULL);
	m.key_id = key.id;
	m.key_expires_at = key.expires_at;
	if (db_machine_add(r->db, &m) != PROV_OK) {
		char	why[PROV_MAX_REASON] = "";
		int	expired;

		/* Both reasons reach the log: each needs its own fix. */
		expired = hs_expire_key(r->cfg, key.id, why, sizeof why) ==
		    PROV_OK;
		if (!expired)
			log_msg("key %llu could not be expired: %s",
			    (unsigned long long)key.id, why);
		req_why(r, "key %llu not recorded, so not returned (%s): %s",
		    (unsigned long long)key.id, expired ? "expired" :
		    "not expired", db_errmsg(r->db));
		e = PROV_UNAVAIL;
		goto out;
	}

	obj = json_object_new_object();
	if (resp_set(obj, "headscale_key", json_object_new_string(key.key)) ||
	    resp_set(obj, "login_server",
	    json_object_new_string(r->cfg->headscale_url)) ||
	    resp_set(obj, "hostname", json_object_new_string(rb.hostname)) ||
	    resp_set(obj, "expires_at", json_object_new_string(expires)))
		e = PROV_ENOMEM;
	else
		e = resp_json(r, 200, obj, RESP_SECRET);
	if (obj != NULL && json_object_object_get_ex(obj, "headscale_key", &k))
		resp_wipe_string(k);
	json_object_put(obj);
	if (e == PROV_ENOMEM)
		req_why(r, "out of memory; key %llu recorded, not returned",
		    (unsigned long long)key.id);
	/* The log says which registrations came without a MAC. */
	if (e == PROV_OK && m.mac[0] == '\0' && r->why[0] == '\0')
		req_why(r, "mac unknown");
out:
	explicit_bzero(&key, sizeof key);
	return e;
}

static const struct endpoint ep_register = {
	.name = "register",
	.methods = REQ_POST,
	.auth = 1,
	.ratelimited = 1,
	.conf_needs = CONF_NEED_URL,
	.handler = register_machine,
};

int
main(int argc, char *argv[])
{
	return serve_main(&ep_register, argc, argv);
}
