/*
 * serve.c: the program around an endpoint.
 *
 * Three ways to run, picked at start:
 *
 *  - "--listen PATH": we create the unix socket ourselves (mode 0660),
 *    refusing to take over a socket another program still answers on,
 *    replacing a stale one, and removing it on a clean exit. libfcgi's
 *    FCGX_OpenSocket is not used: it unlinks whatever is at the path and
 *    calls exit() on errors.
 *  - fd 0 is a listening socket (systemd StandardInput=socket, spawn-fcgi):
 *    we serve FastCGI on it.
 *  - otherwise: one plain CGI request from the environment and stdin.
 *
 * With "--workers N" a supervisor forks N workers on the socket, starts a
 * new one when one dies (after a pause if it died young, so a broken
 * setup does not spin), and on SIGTERM passes the signal on, waits for
 * them, and exits 0. Each worker opens its own database handle after the
 * fork. SIGTERM lets the request in flight finish.
 *
 * This is the only file that includes libfcgi's header.
 */
#include "config.h"

#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/un.h>
#include <sys/wait.h>
#ifdef __linux__
#include <sys/prctl.h>
#endif

#include <errno.h>
#include <fastcgi.h>
#include <fcgiapp.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "metrics.h"
#include "ratelimit.h"
#include "resp.h"
#include "serve.h"

extern char	**environ;

/* Set by the SIGTERM handler; checked between requests. */
static volatile sig_atomic_t	 serve_stopping;
/* The socket being accepted on, and /dev/null to put in its place. */
static int			 serve_listen_fd = -1;
static int			 serve_null_fd = -1;
/* The signal mask the program started with, for workers to restore. */
static sigset_t			 serve_mask;

/*
 * SIGTERM and SIGINT in a process that serves requests. libfcgi checks its
 * shutdown flag just before accept(), which leaves a window: a signal
 * landing there would leave the process blocked until the next
 * connection. Putting /dev/null in place of the listening socket closes
 * the window, since accept() on it fails at once. dup2 is
 * async-signal-safe; the request in flight, if any, has its own fd.
 */
static void
serve_on_term(int sig)
{
	int	saved = errno;

	(void)sig;
	serve_stopping = 1;
	FCGX_ShutdownPending();
	if (serve_listen_fd >= 0 && serve_null_fd >= 0)
		(void)dup2(serve_null_fd, serve_listen_fd);
	errno = saved;
}

/*
 * Installs the handlers, without SA_RESTART so a blocked accept() returns,
 * then unblocks what the supervisor may have blocked. Called after
 * FCGX_Init(), which installs its own handlers only where none are set.
 */
static void
serve_signals(void)
{
	struct sigaction	sa;

	memset(&sa, 0, sizeof sa);
	sa.sa_handler = serve_on_term;
	sigemptyset(&sa.sa_mask);
	sa.sa_flags = 0;
	(void)sigaction(SIGTERM, &sa, NULL);
	(void)sigaction(SIGINT, &sa, NULL);
	(void)sigprocmask(SIG_SETMASK, &serve_mask, NULL);
}

/*
 * Makes sure fds 0-2 are open, so nothing opened later (the socket, the
 * database) becomes "stdout" by accident. Open ones, including an
 * inherited listening socket on fd 0, are left alone.
 */
static int
serve_std_fds(void)
{
	int	fd, nfd;

	for (fd = 0; fd <= 2; fd++) {
		if (fcntl(fd, F_GETFD) != -1 || errno != EBADF)
			continue;
		nfd = open("/dev/null", O_RDWR);
		if (nfd != fd) {
			if (nfd >= 0)
				close(nfd);
			return -1;
		}
	}
	return 0;
}

static int64_t
serve_now_ms(void)
{
	struct timespec	ts;

	(void)clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int
serve_request(const struct endpoint *ep, const struct serve_ctx *ctx,
    const struct req_io *io, const char *const *envp)
{
	struct req	 r;
	enum prov_err	 e = PROV_OK;
	const char	*pi;
	int		 status;

	req_init(&r, io, envp, ctx->cfg, ctx->db);
	r.allow = ep->methods;

	/* No endpoint has sub-resources: /machines/42 is not a thing. */
	pi = req_param(&r, "PATH_INFO");
	if (pi != NULL && *pi != '\0' && !ep->subpaths)
		e = PROV_NOTFOUND;
	else if (!(r.method & ep->methods))
		e = PROV_METHOD;
	else if (ctx->db == NULL) {
		/* Only a plain CGI run gets this far without a database. */
		e = PROV_UNAVAIL;
		req_why(&r, "database could not be opened");
	}

	/* Counted before auth, so guessing the token is limited too. */
	if (e == PROV_OK && ep->ratelimited) {
		e = ratelimit_hit(ctx->db, r.addr, serve_now_ms(),
		    ctx->cfg->rate_limit_max, ctx->cfg->rate_limit_window,
		    &r.retry_after);
		if (e == PROV_UNAVAIL)
			req_why(&r, "rate limit: %s", db_errmsg(ctx->db));
	}
	if (e == PROV_OK && ep->auth == ENDPOINT_AUTH_ADMIN)
		e = auth_check_admin(ctx->admin, ctx->auth,
		    req_param(&r, "HTTP_AUTHORIZATION"));
	else if (e == PROV_OK && ep->auth)
		e = auth_check(ctx->auth, req_param(&r, "HTTP_AUTHORIZATION"));
	if (e == PROV_OK && r.method == REQ_POST)
		e = req_read_body(&r, PROV_MAX_BODY);
	if (e == PROV_OK)
		e = ep->handler(&r);

	if (e != PROV_OK)
		resp_error(&r, e);
	else if (r.status == 0) {
		req_why(&r, "handler sent no response");
		resp_error(&r, PROV_SYSTEM);
	}
	status = r.status != 0 ? r.status : prov_status(e);
	if (status >= 500 && r.why[0] == '\0')
		req_why(&r, "%s", prov_strerror(e));
	if (r.out_failed && r.why[0] == '\0')
		req_why(&r, "client went away");
	log_request(ep->name, r.addr, status, req_elapsed_ms(&r), r.why);
	metrics_request(ctx->cfg, ep->name, status);
	req_free(&r);
	return status;
}

/* libfcgi streams behind struct req_io. */
static long
fcgi_read(void *ctx, char *buf, size_t len)
{
	FCGX_Request	*fr = ctx;
	int		 n;

	n = FCGX_GetStr(buf, len > INT_MAX ? INT_MAX : (int)len, fr->in);
	if (n == 0 && FCGX_GetError(fr->in) != 0)
		return -1;
	return n;
}

static int
fcgi_write(void *ctx, const char *buf, size_t len)
{
	FCGX_Request	*fr = ctx;
	int		 n;

	while (len > 0) {
		n = len > INT_MAX ? INT_MAX : (int)len;
		if (FCGX_PutStr(buf, n, fr->out) != n)
			return -1;
		buf += n;
		len -= (size_t)n;
	}
	return 0;
}

static int
fcgi_flush(void *ctx)
{
	FCGX_Request	*fr = ctx;

	return FCGX_FFlush(fr->out) == 0 ? 0 : -1;
}

/* Plain CGI streams: stdin and stdout. */
static long
cgi_read(void *ctx, char *buf, size_t len)
{
	ssize_t	n;

	(void)ctx;
	do
		n = read(STDIN_FILENO, buf, len);
	while (n < 0 && errno == EINTR);
	return n < 0 ? -1 : (long)n;
}

static int
cgi_write(void *ctx, const char *buf, size_t len)
{
	(void)ctx;
	return fwrite(buf, 1, len, stdout) == len ? 0 : -1;
}

static int
cgi_flush(void *ctx)
{
	(void)ctx;
	return fflush(stdout) == 0 ? 0 : -1;
}

/*
 * Opens the database; in an existing data directory a missing file is
 * created, so a fresh install (or a test) needs no separate step. A data
 * directory that does not exist is still an error.
 */
static struct db *
serve_open_db(const struct conf *cfg)
{
	struct db	*db;

	if (db_open(&db, cfg->db_path, DB_CREATE) != PROV_OK) {
		log_msg("cannot open the database %s: %s", cfg->db_path,
		    db_errmsg(NULL));
		return NULL;
	}
	return db;
}

/*
 * Accepts and answers FastCGI requests on fd until SIGTERM. Returns the
 * exit status: 0 after SIGTERM, 1 when setup or accept() failed.
 */
static int
serve_fcgi(const struct endpoint *ep, const struct conf *cfg, int fd)
{
	FCGX_Request		 fr;
	struct auth		 auth, admin;
	struct serve_ctx	 ctx;
	struct req_io		 io = { fcgi_read, fcgi_write, fcgi_flush, &fr };
	int			 rc = 0, ar;

	if (FCGX_Init() != 0) {
		log_msg("cannot initialise libfcgi");
		return 1;
	}
	serve_listen_fd = fd;
	serve_signals();
	if (serve_stopping)
		return 0;
	memset(&ctx, 0, sizeof ctx);
	if ((ctx.db = serve_open_db(cfg)) == NULL)
		return 1;
	auth_init(&auth, cfg->token_path);
	auth_init(&admin, cfg->admin_token_path);
	ctx.cfg = cfg;
	ctx.auth = &auth;
	ctx.admin = &admin;
	if (FCGX_InitRequest(&fr, fd, 0) != 0) {
		log_msg("cannot set up a FastCGI request");
		rc = 1;
		goto out;
	}
	while (!serve_stopping) {
		if ((ar = FCGX_Accept_r(&fr)) < 0) {
			if (!serve_stopping) {
				log_msg("accept failed: %s", ar > -10000 ?
				    strerror(-ar) : "libfcgi error");
				rc = 1;
			}
			break;
		}
		(void)serve_request(ep, &ctx, &io,
		    (const char *const *)fr.envp);
		FCGX_Finish_r(&fr);
	}
	FCGX_Free(&fr, 1);
out:
	auth_clear(&auth);
	auth_clear(&admin);
	db_close(ctx.db);
	return rc;
}

/*
 * Answers the one plain CGI request this process was started for. Here a
 * database that cannot be opened is reported to the client (503) rather
 * than by exiting: starting and answering are the same act.
 */
static int
serve_cgi(const struct endpoint *ep, const struct conf *cfg)
{
	struct auth		 auth, admin;
	struct serve_ctx	 ctx;
	struct req_io		 io = { cgi_read, cgi_write, cgi_flush, NULL };

	memset(&ctx, 0, sizeof ctx);
	ctx.db = serve_open_db(cfg);
	auth_init(&auth, cfg->token_path);
	auth_init(&admin, cfg->admin_token_path);
	ctx.cfg = cfg;
	ctx.auth = &auth;
	ctx.admin = &admin;
	(void)serve_request(ep, &ctx, &io, (const char *const *)environ);
	(void)fflush(stdout);
	auth_clear(&auth);
	auth_clear(&admin);
	db_close(ctx.db);
	return 0;
}

/* Whether a program answers on the unix socket at path. */
static int
socket_live(const struct sockaddr_un *sun)
{
	int	fd, live;

	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1)
		return 1;
	live = connect(fd, (const struct sockaddr *)sun, sizeof *sun) == 0 ||
	    errno != ECONNREFUSED;
	close(fd);
	return live;
}

/*
 * Creates the listening socket at path, mode 0660. Records the file's
 * identity in *st, so that only this socket is removed at exit even if
 * another instance replaced it meanwhile. Returns the fd or -1.
 */
static int
listen_unix(const char *path, struct stat *st)
{
	struct sockaddr_un	sun;
	struct stat		old;
	mode_t			mask;
	int			fd, rc;

	memset(&sun, 0, sizeof sun);
	sun.sun_family = AF_UNIX;
	if (strlen(path) >= sizeof sun.sun_path) {
		log_msg("socket path is too long (at most %zu bytes)",
		    sizeof sun.sun_path - 1);
		return -1;
	}
	memcpy(sun.sun_path, path, strlen(path) + 1);
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1) {
		log_msg("socket: %s", strerror(errno));
		return -1;
	}

	/* The socket file is born 0660: Caddy's group may connect. */
	mask = umask(0117);
	rc = bind(fd, (struct sockaddr *)&sun, sizeof sun);
	if (rc == -1 && errno == EADDRINUSE) {
		if (lstat(path, &old) == -1 || !S_ISSOCK(old.st_mode))
			log_msg("%s exists and is not a socket", path);
		else if (socket_live(&sun))
			log_msg("%s is in use by a running program", path);
		else if (unlink(path) == -1)
			log_msg("cannot remove stale socket %s: %s", path,
			    strerror(errno));
		else
			rc = bind(fd, (struct sockaddr *)&sun, sizeof sun);
		if (rc == -1 && errno == EADDRINUSE)
			errno = 0;
	}
	umask(mask);
	if (rc == -1) {
		if (errno != 0)
			log_msg("bind %s: %s", path, strerror(errno));
		close(fd);
		return -1;
	}
	if (chmod(path, 0660) == -1 || listen(fd, SOMAXCONN) == -1 ||
	    lstat(path, st) == -1) {
		log_msg("listen %s: %s", path, strerror(errno));
		(void)unlink(path);
		close(fd);
		return -1;
	}
	return fd;
}

/* Removes the socket at path if it is still the one we made. */
static void
unlink_own(const char *path, const struct stat *mine)
{
	struct stat	st;

	if (lstat(path, &st) == 0 && st.st_dev == mine->st_dev &&
	    st.st_ino == mine->st_ino)
		(void)unlink(path);
}

/* Starts one worker; returns its pid, or -1. Never returns in the child. */
static pid_t
spawn_worker(const struct endpoint *ep, const struct conf *cfg, int fd)
{
	pid_t	pid, parent = getpid();

	if ((pid = fork()) != 0) {
		if (pid == -1)
			log_msg("fork: %s", strerror(errno));
		return pid;
	}
#ifdef __linux__
	/* A supervisor killed outright takes its workers with it. */
	(void)prctl(PR_SET_PDEATHSIG, SIGTERM);
	if (getppid() != parent)
		_exit(0);
#else
	(void)parent;
#endif
	_exit(serve_fcgi(ep, cfg, fd));
}

static double
elapsed_s(const struct timespec *since)
{
	struct timespec	now;

	(void)clock_gettime(CLOCK_MONOTONIC, &now);
	return (double)(now.tv_sec - since->tv_sec) +
	    (double)(now.tv_nsec - since->tv_nsec) / 1e9;
}

/*
 * The supervisor: keeps n workers running on fd until SIGTERM or SIGINT,
 * then passes SIGTERM on and waits for every worker. Signals are taken
 * synchronously with sigtimedwait, so none can slip between a check and a
 * wait. Returns the exit status.
 */
static int
serve_supervise(const struct endpoint *ep, const struct conf *cfg, int fd,
    unsigned int n)
{
	pid_t		 pid[PROV_MAX_WORKERS];
	struct timespec	 born[PROV_MAX_WORKERS];
	int		 young[PROV_MAX_WORKERS];
	struct timespec	 wait = { 1, 0 };
	sigset_t	 set;
	unsigned int	 i, live = 0;
	int		 stopping = 0, status;
	pid_t		 dead;

	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGCHLD);
	(void)sigprocmask(SIG_BLOCK, &set, NULL);
	memset(pid, 0, sizeof pid);
	memset(young, 0, sizeof young);
	log_msg("supervising %u workers", n);

	for (;;) {
		while ((dead = waitpid(-1, &status, WNOHANG)) > 0) {
			for (i = 0; i < n && pid[i] != dead; i++)
				continue;
			if (i == n)
				continue;
			pid[i] = 0;
			live--;
			if (stopping)
				continue;
			young[i] = elapsed_s(&born[i]) < 1.0;
			if (WIFSIGNALED(status))
				log_msg("worker %ld killed by signal %d",
				    (long)dead, WTERMSIG(status));
			else
				log_msg("worker %ld exited with status %d",
				    (long)dead, WEXITSTATUS(status));
		}
		if (stopping && live == 0)
			break;

		/*
		 * Refill empty slots. One that died young waits a round (about
		 * a second) first, so a worker that cannot start does not spin.
		 */
		for (i = 0; !stopping && i < n; i++) {
			if (pid[i] != 0)
				continue;
			if (young[i]) {
				young[i] = 0;
				continue;
			}
			(void)clock_gettime(CLOCK_MONOTONIC, &born[i]);
			if ((pid[i] = spawn_worker(ep, cfg, fd)) == -1)
				pid[i] = 0;
			else
				live++;
		}

		/* Wake up at least every second: refills, lost signals. */
		switch (sigtimedwait(&set, NULL, &wait)) {
		case SIGTERM:
		case SIGINT:
			if (stopping)
				break;
			stopping = 1;
			for (i = 0; i < n; i++)
				if (pid[i] != 0)
					(void)kill(pid[i], SIGTERM);
			break;
		default:
			break;
		}
	}
	(void)sigprocmask(SIG_SETMASK, &serve_mask, NULL);
	return 0;
}

static void
serve_usage(const struct endpoint *ep, FILE *f)
{
	fprintf(f,
	    "usage: %s [--listen PATH] [--workers N]\n"
	    "\n"
	    "Serves /%s for sovran-provisioner over FastCGI: on the unix\n"
	    "socket PATH (created mode 0660, removed at exit) or on a\n"
	    "listening socket inherited as fd 0; with neither, answers one\n"
	    "plain CGI request. --workers runs N (1-%d) supervised processes.\n"
	    "\n"
	    "Environment: PROVISIONER_DATA_DIR, HEADSCALE_BIN, HEADSCALE_CONFIG,\n"
	    "HEADSCALE_USER, HEADSCALE_URL, KEY_EXPIRY, RATE_LIMIT_MAX,\n"
	    "RATE_LIMIT_WINDOW, HEADSCALE_TIMEOUT (see docs/design.md).\n"
	    "The database is created in PROVISIONER_DATA_DIR if absent.\n",
	    ep->name, ep->name, PROV_MAX_WORKERS);
}

/* Parses --workers' argument: 1..PROV_MAX_WORKERS, digits only. */
static int
parse_workers(const char *s, unsigned int *n)
{
	unsigned int	v = 0;
	const char	*p;

	for (p = s; *p >= '0' && *p <= '9' && v <= PROV_MAX_WORKERS; p++)
		v = v * 10 + (unsigned int)(*p - '0');
	if (p == s || *p != '\0' || v < 1 || v > PROV_MAX_WORKERS)
		return -1;
	*n = v;
	return 0;
}

int
serve_main(const struct endpoint *ep, int argc, char *argv[])
{
	static const struct option opts[] = {
		{ "listen", required_argument, NULL, 'l' },
		{ "workers", required_argument, NULL, 'w' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 }
	};
	struct conf	 cfg;
	struct stat	 sock_st;
	struct db	*db;
	const char	*listen_path = NULL;
	unsigned int	 workers = 0;
	char		 err[256];
	int		 c, fd, rc;

	if (serve_std_fds() == -1)
		return 1;
	log_init(ep->name);
	(void)sigprocmask(SIG_SETMASK, NULL, &serve_mask);
	/* A client gone mid-response must not kill the process. */
	(void)signal(SIGPIPE, SIG_IGN);

	while ((c = getopt_long(argc, argv, "l:w:hV", opts, NULL)) != -1) {
		switch (c) {
		case 'l':
			listen_path = optarg;
			break;
		case 'w':
			if (parse_workers(optarg, &workers) == -1) {
				log_msg("--workers must be a number from 1 to %d",
				    PROV_MAX_WORKERS);
				return 2;
			}
			break;
		case 'h':
			serve_usage(ep, stdout);
			return 0;
		case 'V':
			printf("%s (%s) %s\n", ep->name, PACKAGE_NAME,
			    PACKAGE_VERSION);
			return 0;
		default:
			serve_usage(ep, stderr);
			return 2;
		}
	}
	if (optind != argc) {
		serve_usage(ep, stderr);
		return 2;
	}

	if (conf_load(&cfg, ep->conf_needs, err, sizeof err) == -1) {
		log_msg("%s", err);
		return 1;
	}

	if (listen_path == NULL && FCGX_IsCGI()) {
		if (workers != 0) {
			log_msg("--workers needs a FastCGI socket "
			    "(--listen, or one on fd 0)");
			return 2;
		}
		return serve_cgi(ep, &cfg);
	}

	/*
	 * Open (and create or migrate) the database once before any socket
	 * or worker exists: a broken setup fails here, at start, and workers
	 * never race to create the schema.
	 */
	if ((db = serve_open_db(&cfg)) == NULL)
		return 1;
	db_close(db);

	serve_null_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
	fd = FCGI_LISTENSOCK_FILENO;
	if (listen_path != NULL && (fd = listen_unix(listen_path,
	    &sock_st)) == -1)
		return 1;
	log_msg("serving FastCGI%s%s", listen_path != NULL ? " on " : "",
	    listen_path != NULL ? listen_path : "");

	rc = workers > 0 ? serve_supervise(ep, &cfg, fd, workers) :
	    serve_fcgi(ep, &cfg, fd);
	if (listen_path != NULL)
		unlink_own(listen_path, &sock_st);
	log_msg("stopped");
	return rc;
}
