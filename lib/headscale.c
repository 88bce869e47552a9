/*
 * headscale.c: running the headscale CLI, and the three commands the
 * programs and the bootstrap use.
 *
 * The CLI is the only way to get a pre-auth key from headscale 0.28, so
 * it is run the careful way: fork and execve with a fixed argv and a fixed
 * environment (no shell, nothing from the request), stdin from /dev/null,
 * every other descriptor closed, the child in its own process group so a
 * timeout kills whatever it started, and a cap on what is read back. Its
 * stderr is read only to keep it from blocking and then thrown away: it is
 * free-form text that could, in principle, repeat a secret, so the log
 * gets the exit status and nothing of what it said.
 */
#include "config.h"

#include <sys/types.h>
#include <sys/wait.h>
#ifdef __linux__
#include <sys/prctl.h>
#endif

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "headscale.h"
#include "metrics.h"

/* Most argv elements hs_run() passes on; our commands use nine. */
#define HS_MAX_ARGS		16

/* Initial stdout buffer: a created key (about 600 bytes) fits unmoved. */
#define HS_OUT_INITIAL		4096

/* Where exec failure travels from the child to the parent. */
#define HS_ERRFD		3

/*
 * The child's whole environment (docs/design.md, "Running headscale"),
 * plus HEADSCALE_CONFIG when configured. The two HEADSCALE_ settings keep
 * stdout to the JSON document alone: no update check, no logs in JSON.
 */
static const char *const hs_env[] = {
	"PATH=/usr/sbin:/usr/bin:/sbin:/bin",
	"LANG=C.UTF-8",
	"HOME=/nonexistent",
	"NO_COLOR=1",
	"HEADSCALE_DISABLE_CHECK_UPDATES=true",
	"HEADSCALE_LOG_FORMAT=text",
};
#define HS_NENV		(sizeof(hs_env) / sizeof(hs_env[0]))

/* The user id found by hs_user_id(), for the life of the process. */
static struct {
	int		valid;
	char		name[sizeof(((struct conf *)0)->headscale_user)];
	uint64_t	id;
} user_cache;

static void	say(char *why, size_t len, const char *fmt, ...)
		    __attribute__((format(printf, 3, 4)));

/* Writes a reason for the log, when the caller gave room for one. */
static void
say(char *why, size_t len, const char *fmt, ...)
{
	va_list	ap;

	if (why == NULL || len == 0)
		return;
	va_start(ap, fmt);
	(void)vsnprintf(why, len, fmt, ap);
	va_end(ap);
}

static int64_t
now_ms(void)
{
	struct timespec	ts;

	/* Monotonic: a clock step must not stretch or cut the timeout. */
	(void)clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/*
 * Moves fd above 2 (keeping close-on-exec). If this process runs with
 * stdin, stdout or stderr closed, a new pipe can land on 0-2, and the
 * child's dup2 onto 0-2 would then clobber one pipe with another.
 */
static int
above_stdio(int fd)
{
	int	nfd;

	if (fd > STDERR_FILENO)
		return fd;
	nfd = fcntl(fd, F_DUPFD_CLOEXEC, STDERR_FILENO + 1);
	(void)close(fd);
	return nfd;
}

static int
make_pipe(int p[2])
{
	if (pipe2(p, O_CLOEXEC) == -1)
		return -1;
	p[0] = above_stdio(p[0]);
	p[1] = above_stdio(p[1]);
	return p[0] == -1 || p[1] == -1 ? -1 : 0;
}

static void
close_fd(int *fd)
{
	if (*fd != -1)
		(void)close(*fd);
	*fd = -1;
}

/* waitpid() that survives signals. Returns 0, or -1 (errno set). */
static int
reap(pid_t pid, int *status)
{
	while (waitpid(pid, status, 0) == -1)
		if (errno != EINTR)
			return -1;
	return 0;
}

/*
 * Kills the child's process group (the child and anything it started) and
 * reaps the child. The child's pid stays reserved until it is reaped, so
 * the group id cannot have been reused.
 */
static void
kill_and_reap(pid_t pid)
{
	int	status;

	(void)kill(-pid, SIGKILL);
	(void)kill(pid, SIGKILL);
	(void)reap(pid, &status);
}

/*
 * The child: runs with every signal blocked (see hs_run()). Anything that
 * fails before execve reports errno on HS_ERRFD and exits 127.
 */
static void __attribute__((noreturn))
child(const char *path, char *const argv[], char *const envp[], int devnull,
    int outfd, int errfd, int reportfd, pid_t parent)
{
	struct sigaction	sa;
	sigset_t		none;
	int			sig, e;

	/*
	 * Handlers do not survive execve, but ignored signals do: a server
	 * that ignores SIGPIPE would otherwise hand that on. Start the CLI
	 * with every signal at its default and none blocked.
	 */
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = SIG_DFL;
	(void)sigemptyset(&sa.sa_mask);
	for (sig = 1; sig < NSIG; sig++)
		(void)sigaction(sig, &sa, NULL);
	(void)sigemptyset(&none);

#ifdef __linux__
	/*
	 * It dies with the process that asked for it: a worker killed
	 * outright must not leave the CLI behind, hanging on or minting a
	 * key that nobody records, returns or expires. (The setting survives
	 * execve; a parent gone already is caught by the check.)
	 */
	if (prctl(PR_SET_PDEATHSIG, SIGKILL) == -1)
		goto fail;
	if (getppid() != parent)
		_exit(127);
#else
	(void)parent;
#endif
	/* Its own group, so a timeout can kill it and its children. */
	if (setpgid(0, 0) == -1 ||
	    sigprocmask(SIG_SETMASK, &none, NULL) == -1 ||
	    dup2(devnull, STDIN_FILENO) == -1 ||
	    dup2(outfd, STDOUT_FILENO) == -1 ||
	    dup2(errfd, STDERR_FILENO) == -1 ||
	    dup2(reportfd, HS_ERRFD) == -1 ||
	    fcntl(HS_ERRFD, F_SETFD, FD_CLOEXEC) == -1)
		goto fail;
	/* Nothing else leaks: not the FastCGI socket, not the database. */
	closefrom(HS_ERRFD + 1);
	execve(path, argv, envp);
fail:
	e = errno;
	if (write(HS_ERRFD, &e, sizeof(e)) != (ssize_t)sizeof(e)) {
		/* Nothing left to tell: the 127 says enough. */
	}
	_exit(127);
}

/* A growing stdout buffer, wiped whenever it moves: it may hold a key. */
struct outbuf {
	char	*p;
	size_t	 len;
	size_t	 cap;		/* bytes for data; one more holds the NUL */
};

static int
outbuf_grow(struct outbuf *b)
{
	size_t	 cap = b->cap == 0 ? HS_OUT_INITIAL : b->cap * 2;
	char	*p;

	/* One byte past the cap, so overflow is seen rather than cut. */
	if (cap > PROV_MAX_CLI_OUTPUT + 1)
		cap = PROV_MAX_CLI_OUTPUT + 1;
	if ((p = malloc(cap + 1)) == NULL)
		return -1;
	if (b->p != NULL) {
		memcpy(p, b->p, b->len);
		explicit_bzero(b->p, b->cap + 1);
		free(b->p);
	}
	b->p = p;
	b->cap = cap;
	return 0;
}

static void
outbuf_free(struct outbuf *b)
{
	if (b->p != NULL) {
		explicit_bzero(b->p, b->cap + 1);
		free(b->p);
	}
	memset(b, 0, sizeof(*b));
}

/*
 * Reads what is ready on fd into b (or, with b NULL, into a scratch buffer
 * that is wiped and forgotten). Returns 1 while open, 0 at end of file, -1
 * on a read error, -2 when b would grow past PROV_MAX_CLI_OUTPUT, -3 when
 * memory ran out.
 */
static int
drain(int fd, struct outbuf *b)
{
	char	scratch[4096];
	ssize_t	n;

	if (b == NULL) {
		n = read(fd, scratch, sizeof(scratch));
		explicit_bzero(scratch, sizeof(scratch));
	} else {
		if (b->len == b->cap) {
			if (b->cap == PROV_MAX_CLI_OUTPUT + 1)
				return -2;
			if (outbuf_grow(b) == -1)
				return -3;
		}
		n = read(fd, b->p + b->len, b->cap - b->len);
		if (n > 0)
			b->len += (size_t)n;
	}
	if (n == -1)
		return errno == EINTR || errno == EAGAIN ? 1 : -1;
	if (b != NULL && b->len > PROV_MAX_CLI_OUTPUT)
		return -2;
	return n > 0 ? 1 : 0;
}

/* Describes how the child ended, for the log. */
static enum prov_err
judge(int status, int exec_errno, char *why, size_t whylen)
{
	if (exec_errno != 0) {
		say(why, whylen, "cannot execute headscale: %s",
		    strerror(exec_errno));
		return PROV_UPSTREAM;
	}
	if (WIFEXITED(status)) {
		if (WEXITSTATUS(status) == 0)
			return PROV_OK;
		say(why, whylen, "headscale exited %d", WEXITSTATUS(status));
	} else if (WIFSIGNALED(status))
		say(why, whylen, "headscale killed by signal %d",
		    WTERMSIG(status));
	else
		say(why, whylen, "headscale ended oddly (status %d)", status);
	return PROV_UPSTREAM;
}

enum prov_err
hs_run(const struct conf *cfg, const char *const argv[], char **out,
    size_t *outlen, char *why, size_t whylen)
{
	char		*av[HS_MAX_ARGS + 1], *envp[HS_NENV + 2];
	char		 cfgenv[sizeof("HEADSCALE_CONFIG=") + PATH_MAX];
	int		 outp[2] = { -1, -1 }, errp[2] = { -1, -1 };
	int		 rep[2] = { -1, -1 }, devnull = -1;
	int		 status = 0, exec_errno = 0, r, e;
	struct pollfd	 pfd[2];
	struct outbuf	 buf = { NULL, 0, 0 };
	sigset_t	 all, old;
	int64_t		 deadline, left;
	size_t		 i;
	pid_t		 pid, parent;
	enum prov_err	 rc;
	struct timespec	 nap;

	int64_t		 started = now_ms();

	*out = NULL;
	*outlen = 0;
	say(why, whylen, "%s", "");

	if (argv == NULL || argv[0] == NULL) {
		say(why, whylen, "headscale: no arguments");
		return PROV_UPSTREAM;
	}
	/* execve wants char *const[]; the strings are not written to. */
	for (i = 0; argv[i] != NULL; i++) {
		if (i == HS_MAX_ARGS) {
			say(why, whylen, "headscale: too many arguments");
			return PROV_UPSTREAM;
		}
		av[i] = (char *)(uintptr_t)argv[i];
	}
	av[i] = NULL;
	for (i = 0; i < HS_NENV; i++)
		envp[i] = (char *)(uintptr_t)hs_env[i];
	if (cfg->headscale_config[0] != '\0') {
		r = snprintf(cfgenv, sizeof(cfgenv), "HEADSCALE_CONFIG=%s",
		    cfg->headscale_config);
		if (r < 0 || (size_t)r >= sizeof(cfgenv)) {
			say(why, whylen, "headscale: config path too long");
			return PROV_UPSTREAM;
		}
		envp[i++] = cfgenv;
	}
	envp[i] = NULL;

	if (outbuf_grow(&buf) == -1) {
		say(why, whylen, "headscale: out of memory");
		return PROV_ENOMEM;
	}
	if (make_pipe(outp) == -1 || make_pipe(errp) == -1 ||
	    make_pipe(rep) == -1 ||
	    (devnull = open("/dev/null", O_RDONLY | O_CLOEXEC)) == -1 ||
	    (devnull = above_stdio(devnull)) == -1) {
		say(why, whylen, "headscale: %s", strerror(errno));
		rc = PROV_SYSTEM;
		goto out;
	}

	/*
	 * Blocked across fork, so none of this process's handlers can run
	 * in the child before child() has reset them.
	 */
	(void)sigfillset(&all);
	(void)sigprocmask(SIG_SETMASK, &all, &old);
	parent = getpid();
	pid = fork();
	if (pid == 0)
		child(cfg->headscale_bin, av, envp, devnull, outp[1], errp[1],
		    rep[1], parent);
	e = errno;
	(void)sigprocmask(SIG_SETMASK, &old, NULL);
	if (pid == -1) {
		say(why, whylen, "headscale: fork: %s", strerror(e));
		rc = PROV_SYSTEM;
		goto out;
	}
	/* Also here, so a kill of the group cannot race the child's own. */
	(void)setpgid(pid, pid);
	close_fd(&outp[1]);
	close_fd(&errp[1]);
	close_fd(&rep[1]);
	close_fd(&devnull);

	deadline = now_ms() + (int64_t)cfg->headscale_timeout * 1000;
	pfd[0].fd = outp[0];
	pfd[1].fd = errp[0];
	pfd[0].events = pfd[1].events = POLLIN;
	rc = PROV_OK;
	while (rc == PROV_OK && (pfd[0].fd != -1 || pfd[1].fd != -1)) {
		if ((left = deadline - now_ms()) <= 0) {
			rc = PROV_TIMEOUT;
			break;
		}
		r = poll(pfd, 2, left > INT_MAX ? INT_MAX : (int)left);
		if (r == -1 && errno != EINTR) {
			say(why, whylen, "headscale: poll: %s",
			    strerror(errno));
			rc = PROV_SYSTEM;
		}
		for (i = 0; r > 0 && rc == PROV_OK && i < 2; i++) {
			if (pfd[i].fd == -1 || pfd[i].revents == 0)
				continue;
			switch (drain(pfd[i].fd, i == 0 ? &buf : NULL)) {
			case 1:
				break;
			case 0:
				pfd[i].fd = -1;
				break;
			case -2:
				say(why, whylen, "headscale: output too large");
				rc = PROV_UPSTREAM;
				break;
			case -3:
				say(why, whylen, "headscale: out of memory");
				rc = PROV_ENOMEM;
				break;
			default:
				say(why, whylen, "headscale: read: %s",
				    strerror(errno));
				rc = PROV_SYSTEM;
				break;
			}
		}
	}

	/*
	 * Output closed; the child may still be on its way out (or may have
	 * closed its output and carried on). Wait for it within the same
	 * deadline. A child closes its pipes a moment before it can be
	 * reaped, so the naps start short and double up to 10 ms: a flat
	 * 10 ms nap made about a third of all registrations 10 ms slower.
	 */
	nap.tv_sec = 0;
	nap.tv_nsec = 50 * 1000;
	while (rc == PROV_OK) {
		r = waitpid(pid, &status, WNOHANG);
		if (r == pid)
			break;
		if (r == -1 && errno != EINTR) {
			say(why, whylen, "headscale: waitpid: %s",
			    strerror(errno));
			rc = PROV_SYSTEM;
		} else if (now_ms() >= deadline)
			rc = PROV_TIMEOUT;
		else {
			(void)nanosleep(&nap, NULL);
			if ((nap.tv_nsec *= 2) > 10 * 1000 * 1000)
				nap.tv_nsec = 10 * 1000 * 1000;
		}
	}
	if (rc != PROV_OK) {
		kill_and_reap(pid);
		if (rc == PROV_TIMEOUT)
			say(why, whylen, "headscale timed out after %us",
			    cfg->headscale_timeout);
		goto out;
	}

	/* The child and its exec are over: the report pipe is closed. */
	if (read(rep[0], &exec_errno, sizeof(exec_errno)) !=
	    (ssize_t)sizeof(exec_errno))
		exec_errno = 0;
	if ((rc = judge(status, exec_errno, why, whylen)) != PROV_OK)
		goto out;

	buf.p[buf.len] = '\0';
	*out = buf.p;
	*outlen = buf.len;
	buf.p = NULL;
out:
	metrics_headscale(cfg, argv, rc, now_ms() - started);
	outbuf_free(&buf);
	close_fd(&outp[0]);
	close_fd(&outp[1]);
	close_fd(&errp[0]);
	close_fd(&errp[1]);
	close_fd(&rep[0]);
	close_fd(&rep[1]);
	close_fd(&devnull);
	return rc;
}

/* Frees CLI output, wiping it first (it may have held a key). */
static void
free_output(char *out, size_t len)
{
	if (out != NULL) {
		explicit_bzero(out, len);
		free(out);
	}
}

/* Runs "users list -o json" and looks for name in it. */
static enum prov_err
list_users(const struct conf *cfg, const char *name, uint64_t *id,
    int *found, char *why, size_t whylen)
{
	const char *const argv[] = {
		cfg->headscale_bin, "users", "list", "-o", "json", NULL
	};
	char		*out;
	size_t		 len;
	enum prov_err	 rc;

	*found = 0;
	if ((rc = hs_run(cfg, argv, &out, &len, why, whylen)) != PROV_OK)
		return rc;
	if ((rc = hsjson_user_id(out, len, name, id, found)) != PROV_OK)
		say(why, whylen, "headscale users list: unexpected output");
	free_output(out, len);
	return rc;
}

/*
 * The id is looked up once per process: users are not renamed or
 * recreated under a running service, and when one is, the next failed
 * create drops the cache (see hs_create_key()).
 */
enum prov_err
hs_user_id(const struct conf *cfg, uint64_t *id, char *why, size_t whylen)
{
	enum prov_err	rc;
	int		found;

	if (user_cache.valid &&
	    strcmp(user_cache.name, cfg->headscale_user) == 0) {
		*id = user_cache.id;
		return PROV_OK;
	}
	hs_forget_user();
	rc = list_users(cfg, cfg->headscale_user, id, &found, why, whylen);
	if (rc != PROV_OK)
		return rc;
	if (!found) {
		say(why, whylen, "headscale user %s not found",
		    cfg->headscale_user);
		return PROV_UPSTREAM;
	}
	(void)snprintf(user_cache.name, sizeof(user_cache.name), "%s",
	    cfg->headscale_user);
	user_cache.id = *id;
	user_cache.valid = 1;
	return PROV_OK;
}

void
hs_forget_user(void)
{
	memset(&user_cache, 0, sizeof(user_cache));
}

/*
 * Keys are ephemeral: a live ISO keeps its tailscale state in memory, so
 * every boot is a new node, and headscale removes an ephemeral node once
 * it has been offline for ephemeral_node_inactivity_timeout instead of
 * leaving one stale entry per boot.
 *
 * stderr is discarded, so a failed create cannot tell "user gone" from
 * any other failure. Dropping the cached user id on every PROV_UPSTREAM
 * costs one extra "users list" on the next request and heals the case
 * where the user was deleted and recreated with a new id.
 */
enum prov_err
hs_create_key(const struct conf *cfg, uint64_t user_id, struct hs_key *k,
    char *why, size_t whylen)
{
	char		 idbuf[24];
	const char *const argv[] = {
		cfg->headscale_bin, "preauthkeys", "create", "-u", idbuf,
		"-e", cfg->key_expiry, "--ephemeral", "-o", "json", NULL
	};
	char		*out;
	size_t		 len;
	enum prov_err	 rc;

	memset(k, 0, sizeof(*k));
	(void)snprintf(idbuf, sizeof(idbuf), "%" PRIu64, user_id);
	rc = hs_run(cfg, argv, &out, &len, why, whylen);
	if (rc == PROV_OK) {
		if ((rc = hsjson_preauthkey(out, len, k)) != PROV_OK)
			say(why, whylen,
			    "headscale preauthkeys create: unexpected output");
		free_output(out, len);
	}
	if (rc == PROV_UPSTREAM)
		hs_forget_user();
	return rc;
}

enum prov_err
hs_expire_key(const struct conf *cfg, uint64_t key_id, char *why,
    size_t whylen)
{
	char		 idbuf[24];
	const char *const argv[] = {
		cfg->headscale_bin, "preauthkeys", "expire", "--id", idbuf,
		"-o", "json", NULL
	};
	char		*out;
	size_t		 len;
	enum prov_err	 rc;

	(void)snprintf(idbuf, sizeof(idbuf), "%" PRIu64, key_id);
	if ((rc = hs_run(cfg, argv, &out, &len, why, whylen)) == PROV_OK)
		free_output(out, len);
	return rc;
}

/*
 * A name we are willing to put on headscale's command line: 1..63
 * printable ASCII bytes without spaces, not starting with '-' (which the
 * CLI would read as a flag).
 */
static int
user_name_ok(const char *name)
{
	size_t	i, len;

	len = strnlen(name, 64);
	if (len == 0 || len == 64 || name[0] == '-')
		return 0;
	for (i = 0; i < len; i++)
		if (name[i] < '!' || name[i] > '~')
			return 0;
	return 1;
}

enum prov_err
hs_user_ensure(const struct conf *cfg, const char *name, int *created,
    char *why, size_t whylen)
{
	const char *const argv[] = {
		cfg->headscale_bin, "users", "create", name, "-o", "json", NULL
	};
	char		*out, create_why[128];
	size_t		 len;
	uint64_t	 id;
	int		 found;
	enum prov_err	 rc, create_rc;

	*created = 0;
	if (name == NULL || !user_name_ok(name)) {
		say(why, whylen, "invalid headscale user name");
		return PROV_BADREQ;
	}
	if ((rc = list_users(cfg, name, &id, &found, why, whylen)) != PROV_OK)
		return rc;
	if (found)
		return PROV_OK;

	create_why[0] = '\0';
	create_rc = hs_run(cfg, argv, &out, &len, create_why,
	    sizeof(create_why));
	if (create_rc == PROV_OK)
		free_output(out, len);
	/*
	 * Listed again either way: after an error the user may exist all
	 * the same (created concurrently, or headscale failed after saving
	 * it), and after success this confirms it.
	 */
	if ((rc = list_users(cfg, name, &id, &found, why, whylen)) != PROV_OK)
		return rc;
	if (found) {
		*created = create_rc == PROV_OK;
		return PROV_OK;
	}
	if (create_rc != PROV_OK) {
		say(why, whylen, "%s", create_why);
		return create_rc;
	}
	say(why, whylen, "headscale user %s missing after create", name);
	return PROV_UPSTREAM;
}

enum prov_err
hs_ping(const struct conf *cfg, char *why, size_t whylen)
{
	uint64_t	id;
	int		found;

	return list_users(cfg, cfg->headscale_user, &id, &found, why, whylen);
}
