/*
 * test-serve.c: the request pipeline of serve_request() with a real token
 * file and a real sqlite database: which check answers first, that a
 * refused request never reaches the handler, that every attempt counts
 * against the client's rate limit before the token is looked at, and what
 * the log line holds (and never holds).
 */
#include "config.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <json-c/json.h>

#include "auth.h"
#include "db.h"
#include "resp.h"
#include "serve.h"
#include "scratch.h"
#include "tap.h"

#define TOKEN	"0123456789abcdef0123456789abcdef"

static char		 dir[200];
static int		 calls;		/* handler runs */
static size_t		 seen_body;	/* body length the handler saw */
static enum prov_err	 answer = PROV_OK;	/* what the handler returns */
static int		 silent;	/* handler writes nothing */

static enum prov_err
echo(struct req *r)
{
	struct json_object	*obj;
	enum prov_err		 e;

	calls++;
	seen_body = r->bodylen;
	if (answer != PROV_OK || silent)
		return answer;
	obj = json_object_new_object();
	if (resp_set(obj, "ok", json_object_new_boolean(1)) == -1)
		e = PROV_ENOMEM;
	else
		e = resp_json(r, 200, obj, 0);
	json_object_put(obj);
	return e;
}

static const struct endpoint ep_post = {
	.name = "test",
	.methods = REQ_POST,
	.auth = 1,
	.ratelimited = 1,
	.handler = echo,
};

static const struct endpoint ep_get = {
	.name = "open",
	.methods = REQ_GET | REQ_HEAD,
	.handler = echo,
};

static struct serve_ctx	 ctx;

/*
 * One request: method, client address, Authorization (NULL: none),
 * PATH_INFO and body. Returns the status; out gets the response.
 */
static int
run(const struct endpoint *ep, const char *method, const char *addr,
    const char *authz, const char *path_info, const char *body,
    struct req_mem *out)
{
	char		 v[5][256];
	const char	*env[6];
	struct req_io	 io;
	int		 n = 0, i, status;

	(void)snprintf(v[n++], sizeof v[0], "REQUEST_METHOD=%s", method);
	(void)snprintf(v[n++], sizeof v[0], "REMOTE_ADDR=%s", addr);
	(void)snprintf(v[n++], sizeof v[0], "CONTENT_LENGTH=%zu", strlen(body));
	if (authz != NULL)
		(void)snprintf(v[n++], sizeof v[0], "HTTP_AUTHORIZATION=%s",
		    authz);
	if (path_info != NULL)
		(void)snprintf(v[n++], sizeof v[0], "PATH_INFO=%s", path_info);
	for (i = 0; i < n; i++)
		env[i] = v[i];
	env[n] = NULL;

	memset(out, 0, sizeof *out);
	out->in = body;
	out->inlen = strlen(body);
	req_mem_io(&io, out);
	status = serve_request(ep, &ctx, &io, env);
	return status;
}

static int
has(const struct req_mem *m, const char *s)
{
	return m->out != NULL && strstr(m->out, s) != NULL;
}

/* Whether the file at p contains needle. */
int
main(void)
{
	struct conf	 cfg;
	struct auth	 auth;
	struct db	*db = NULL;
	struct req_mem	 m;
	char		 path[300], logpath[300], *big;
	int		 fd, saved, before, i;
	FILE		*f;

	(void)snprintf(dir, sizeof dir, "%s/test-serve.XXXXXX",
	    getenv("TMPDIR") != NULL ? getenv("TMPDIR") : "/tmp");
	if (mkdtemp(dir) == NULL) {
		perror("mkdtemp");
		return 1;
	}
	memset(&cfg, 0, sizeof cfg);
	cfg.rate_limit_max = 2;
	cfg.rate_limit_window = 3600;
	(void)snprintf(cfg.db_path, sizeof cfg.db_path, "%s/provisioner.db", dir);
	(void)snprintf(path, sizeof path, "%s/enroll-token", dir);
	if ((f = fopen(path, "w")) == NULL || fputs(TOKEN "\n", f) < 0 ||
	    fclose(f) != 0)
		perror(path);
	ok(db_open(&db, cfg.db_path, DB_CREATE) == PROV_OK, "database opened");
	auth_init(&auth, path);
	ctx.cfg = &cfg;
	ctx.db = db;
	ctx.auth = &auth;

	/* Everything the pipeline logs goes to a file we can read back. */
	(void)snprintf(logpath, sizeof logpath, "%s/log", dir);
	saved = dup(STDERR_FILENO);
	fd = open(logpath, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	if (fd == -1 || dup2(fd, STDERR_FILENO) == -1)
		perror(logpath);
	close(fd);

	ok(run(&ep_post, "POST", "127.0.0.1", "Bearer " TOKEN, NULL,
	    "{\"hostname\":\"n\"}", &m) == 200 && calls == 1 &&
	    seen_body == 16 && has(&m, "{\"ok\":true}"),
	    "authorised POST reaches the handler with its body");
	req_mem_free(&m);

	before = calls;
	ok(run(&ep_post, "GET", "127.0.0.1", "Bearer " TOKEN, NULL, "", &m) ==
	    405 && has(&m, "Allow: POST") && calls == before,
	    "wrong method: 405 before anything else");
	req_mem_free(&m);
	ok(run(&ep_post, "POST", "127.0.0.1", "Bearer " TOKEN, "/x", "", &m) ==
	    404 && has(&m, "\"error\"") && calls == before,
	    "non-empty PATH_INFO: 404");
	req_mem_free(&m);

	ok(run(&ep_post, "POST", "127.0.0.1", NULL, NULL, "{}", &m) == 401 &&
	    has(&m, "WWW-Authenticate: Bearer") && calls == before,
	    "no token: 401, handler not run");
	req_mem_free(&m);

	/* Two attempts so far from 127.0.0.1 (405 and 404 do not count). */
	ok(run(&ep_post, "POST", "127.0.0.1", "Bearer " TOKEN, NULL, "{}",
	    &m) == 429 && has(&m, "Retry-After: ") && calls == before,
	    "third attempt in the window: 429, even with the right token");
	req_mem_free(&m);
	ok(run(&ep_post, "POST", "127.0.0.1", "Bearer wrong", NULL, "{}",
	    &m) == 429, "limited before the token is looked at");
	req_mem_free(&m);

	ok(run(&ep_post, "POST", "127.0.0.2", "Bearer wrong", NULL, "{}",
	    &m) == 401, "another client is not limited by the first");
	req_mem_free(&m);
	ok(run(&ep_post, "POST", "127.0.0.2", "Bearer wrong", NULL, "{}",
	    &m) == 401, "a second wrong token");
	req_mem_free(&m);
	ok(run(&ep_post, "POST", "127.0.0.2", "Bearer " TOKEN, NULL, "{}",
	    &m) == 429, "wrong tokens used up the allowance");
	req_mem_free(&m);

	if ((big = malloc(PROV_MAX_BODY + 2)) != NULL) {
		memset(big, ' ', PROV_MAX_BODY + 1);
		big[PROV_MAX_BODY + 1] = '\0';
		before = calls;
		ok(run(&ep_post, "POST", "127.0.0.3", "Bearer " TOKEN, NULL,
		    big, &m) == 413 && calls == before,
		    "body over the cap: 413, handler not run");
		req_mem_free(&m);
		ok(run(&ep_post, "POST", "127.0.0.3", NULL, NULL, big, &m) ==
		    401, "token checked before the body is read");
		req_mem_free(&m);
		free(big);
	}

	answer = PROV_UPSTREAM;
	ok(run(&ep_post, "POST", "127.0.0.4", "Bearer " TOKEN, NULL, "{}",
	    &m) == 502 && has(&m, "{\"error\":\"headscale failed\"}"),
	    "handler error becomes its JSON response");
	req_mem_free(&m);
	answer = PROV_OK;
	silent = 1;
	ok(run(&ep_post, "POST", "127.0.0.4", "Bearer " TOKEN, NULL, "{}",
	    &m) == 500, "a handler that answers nothing gives 500");
	req_mem_free(&m);
	silent = 0;

	for (i = 0; i < 5; i++) {
		ok(run(&ep_get, "GET", "127.0.0.5", NULL, NULL, "", &m) == 200,
		    "open endpoint, request %d: no token, no limit", i + 1);
		req_mem_free(&m);
	}
	ok(run(&ep_get, "HEAD", "127.0.0.5", NULL, NULL, "", &m) == 200 &&
	    m.out != NULL && strstr(m.out, "\r\n\r\n")[4] == '\0',
	    "HEAD: no body");
	req_mem_free(&m);
	ok(run(&ep_get, "POST", "127.0.0.5", NULL, NULL, "", &m) == 405 &&
	    has(&m, "Allow: GET, HEAD"), "POST to a GET endpoint: 405");
	req_mem_free(&m);

	(void)dup2(saved, STDERR_FILENO);
	close(saved);
	ok(file_has(logpath, "test 127.0.0.1 200 ") &&
	    file_has(logpath, "test 127.0.0.1 429 ") &&
	    file_has(logpath, "open 127.0.0.5 405 "),
	    "one line per request: endpoint, address, status, duration");
	ok(file_has(logpath, "test 127.0.0.4 502 ") &&
	    file_has(logpath, "headscale failed") &&
	    file_has(logpath, "handler sent no response"), "5xx lines say why");
	ok(!file_has(logpath, TOKEN) && !file_has(logpath, "hostname") &&
	    !file_has(logpath, "Bearer"), "no token, header or body in the log");

	auth_clear(&auth);
	db_close(db);
	(void)unlink(logpath);
	(void)unlink(path);
	for (i = 0; i < 3; i++) {
		(void)snprintf(path, sizeof path, "%s/provisioner.db%s", dir,
		    (const char *[]){ "", "-wal", "-shm" }[i]);
		(void)unlink(path);
	}
	(void)rmdir(dir);
	return done_testing();
}
