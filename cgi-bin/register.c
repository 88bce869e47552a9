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
 *
 * The request has a budget, REQUEST_TIMEOUT, which the front end's own
 * timeout is set above (docs/design.md, "Deadlines"): no headscale call
 * starts that could not end within it, and a key minted for a client
 * that can no longer get it (budget spent, front end gone, answer not
 * written) is expired and its row removed, so every live key is one a
 * client received.
 */
#include "config.h"

#include <json-c/json.h>

#include <sqlite3.h>

#include <stdint.h>
#include <string.h>
#include <time.h>

#include "headscale.h"
#include "log.h"
#include "resp.h"
#include "revoke.h"
#include "serve.h"

/*
 * Kept after a headscale call for recording the key and answering: a
 * sqlite write under its busy timeout and one small response.
 */
#define REGISTER_RESERVE_MS	1000

static const char	msg_out_of_time[] =
    "the request ran out of time; try again";

/*
 * Whether one more headscale call, which may take HEADSCALE_TIMEOUT, and
 * then recording and answering fit in what is left of the request's
 * budget. PROV_OK, or PROV_UNAVAIL with the reason set.
 */
static enum prov_err
call_fits(struct req *r, const char *call)
{
	if (req_budget_ms(r) >= (long)r->cfg->headscale_timeout * 1000 +
	    REGISTER_RESERVE_MS)
		return PROV_OK;
	req_why(r, "no time left for %s (REQUEST_TIMEOUT %us)", call,
	    r->cfg->request_timeout);
	r->errmsg = msg_out_of_time;
	return PROV_UNAVAIL;
}

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

	if ((e = call_fits(r, "the user lookup")) != PROV_OK ||
	    (e = hs_user_id(r->cfg, &uid, r->why, sizeof r->why)) != PROV_OK)
		return e;
	if ((e = call_fits(r, "minting")) != PROV_OK)
		return e;
	e = hs_create_key(r->cfg, uid, key, r->why, sizeof r->why);
	if (e != PROV_UPSTREAM)
		return e;
	hs_forget_user();
	/* The first failure stands when there is no time to look further. */
	if (req_budget_ms(r) < 2 * ((long)r->cfg->headscale_timeout * 1000 +
	    REGISTER_RESERVE_MS))
		return e;
	switch (hs_user_id(r->cfg, &again, why, sizeof why)) {
	case PROV_OK:
		if (again == uid || call_fits(r, "minting again") != PROV_OK)
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

/*
 * Takes back a key that will not reach its client: expires it and, once
 * that worked, removes its row (if it was recorded), so what is in the
 * registry is what is live. A key that cannot be expired keeps its row:
 * it is live, and the registry says so. Both reasons reach the log.
 */
static void
unmint(struct req *r, uint64_t key_id, int recorded, const char *what)
{
	char		 why[PROV_MAX_REASON] = "";
	sqlite3_stmt	*st;
	int		 expired, removed = 0;

	expired = hs_expire_key(r->cfg, key_id, why, sizeof why) == PROV_OK;
	if (!expired)
		log_msg("key %llu could not be expired: %s",
		    (unsigned long long)key_id, why);
	if (expired && recorded && (st = db_prepare(r->db,
	    "DELETE FROM machines WHERE key_id = ?1")) != NULL) {
		removed = sqlite3_bind_int64(st, 1, (sqlite3_int64)key_id) ==
		    SQLITE_OK && sqlite3_step(st) == SQLITE_DONE;
		if (!removed)
			db_set_error(r->db, "remove machine");
		sqlite3_reset(st);
		sqlite3_clear_bindings(st);
	}
	if (expired && recorded && !removed)
		log_msg("key %llu expired, its row not removed: %s",
		    (unsigned long long)key_id, db_errmsg(r->db));
	req_why(r, "key %llu %s, so not returned (%s)",
	    (unsigned long long)key_id, what, expired ? "expired" :
	    "not expired");
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

	/*
	 * The budget cannot see time spent queued before this worker took
	 * the request; a front end that gave up meanwhile (Caddy answers 504
	 * and closes the connection) shows here.
	 */
	memset(&key, 0, sizeof key);
	if (req_client_gone(r)) {
		req_why(r, "front end gone before minting");
		r->errmsg = msg_out_of_time;
		e = PROV_UNAVAIL;
		goto out;
	}
	/* One live key per machine: its earlier one dies before this exists. */
	if ((e = call_fits(r, "revoking earlier keys")) != PROV_OK ||
	    (e = revoke_previous_keys(r->cfg, r->db, rb.mac, r->why,
	    sizeof r->why)) != PROV_OK)
		goto out;
	if ((e = mint_key(r, &key)) != PROV_OK)
		goto out;
	if (resp_time(key.expires_at, expires, sizeof expires) == -1) {
		req_why(r, "headscale gave an expiry out of range");
		e = PROV_UPSTREAM;
		goto out;
	}
	if (req_budget_ms(r) <= 0 || req_client_gone(r)) {
		unmint(r, key.id, 0, req_budget_ms(r) <= 0 ?
		    "minted past REQUEST_TIMEOUT" : "minted for a front end "
		    "that is gone");
		r->errmsg = msg_out_of_time;
		e = PROV_UNAVAIL;
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
		/* Both reasons reach the log: each needs its own fix. */
		log_msg("key %llu not recorded: %s",
		    (unsigned long long)key.id, db_errmsg(r->db));
		unmint(r, key.id, 0, "not recorded");
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
	/* Written is not sent: the flush says whether the front end took it. */
	if (e == PROV_OK && resp_flush(r) == -1)
		e = PROV_SYSTEM;
	if (e == PROV_ENOMEM)
		req_why(r, "out of memory; key %llu recorded, not returned",
		    (unsigned long long)key.id);
	else if (e != PROV_OK && r->out_failed) {
		unmint(r, key.id, 1, "not delivered");
		e = PROV_OK;
	}
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
