/*
 * test-headscale.c: running the headscale CLI, against small shell
 * scripts written at test time that stand in for it and misbehave on
 * purpose: exit 1, hang, print garbage or too much, die by a signal,
 * cannot be executed, leave a grandchild holding the pipe. One script
 * records its environment, argv, stdin and open descriptors, so the
 * child's surroundings are checked as the child saw them.
 *
 * The tests that mean to hit the timeout set it to 1 s and take about a
 * second each; the others allow 20 s, so a busy machine cannot turn a
 * slow start into a false timeout.
 */
#include "config.h"

#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "headscale.h"
#include "scratch.h"
#include "tap.h"

#define PATIENT		20	/* s, for runs that should finish */
#define IMPATIENT	1	/* s, for runs meant to time out */

static struct conf	cfg;

/*
 * Writes scratch_dir/name as a /bin/sh script (mode 0755) whose body may use
 * "$D" for the directory, and points cfg at it.
 */
static void
script(const char *name, const char *body)
{
	char	path[512];
	FILE	*f;

	scratch_path(path, sizeof(path), name);
	if ((f = fopen(path, "w")) == NULL) {
		printf("Bail out! cannot write %s\n", path);
		exit(1);
	}
	fprintf(f, "#!/bin/sh\nD='%s'\n%s\n", scratch_dir, body);
	fclose(f);
	(void)chmod(path, 0755);
	(void)snprintf(cfg.headscale_bin, sizeof(cfg.headscale_bin), "%s",
	    path);
}

/* Reads scratch_dir/name into buf (NUL-terminated): its length, or -1. */
static ssize_t
slurp(const char *name, char *buf, size_t len)
{
	char	path[512];
	ssize_t	n;
	int	fd;

	scratch_path(path, sizeof(path), name);
	if ((fd = open(path, O_RDONLY)) == -1)
		return -1;
	n = read(fd, buf, len - 1);
	close(fd);
	buf[n > 0 ? n : 0] = '\0';
	return n;
}

/* Lines in scratch_dir/name: how many times a counting script ran. */
static int
lines(const char *name)
{
	char	buf[4096], *p;
	int	n = 0;

	if (slurp(name, buf, sizeof(buf)) < 0)
		return 0;
	for (p = buf; *p != '\0'; p++)
		n += *p == '\n';
	return n;
}

static double
now(void)
{
	struct timespec	ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* Runs cfg's program with "users list -o json". */
static enum prov_err
run(char **out, size_t *len, char *why, size_t whylen)
{
	const char *const argv[] = {
		cfg.headscale_bin, "users", "list", "-o", "json", NULL
	};

	return hs_run(&cfg, argv, out, len, why, whylen);
}

/* Runs and expects failure: rc, no output, and why as given. */
static int
fails(enum prov_err want, const char *want_why)
{
	char		 untouched[] = "untouched", *out = untouched, why[128];
	size_t		 len = 99;
	enum prov_err	 rc;

	rc = run(&out, &len, why, sizeof(why));
	if (rc != want || out != NULL || len != 0 ||
	    strcmp(why, want_why) != 0) {
		printf("# got rc %d, why \"%s\"\n", rc, why);
		return 0;
	}
	return 1;
}

static void
test_run_results(void)
{
	char		*out, why[128], want[128];
	size_t		 len;
	enum prov_err	 rc;

	script("hs-ok", "printf 'null\\n'");
	rc = run(&out, &len, why, sizeof(why));
	ok(rc == PROV_OK && len == 5 && strcmp(out, "null\n") == 0 &&
	    why[0] == '\0', "exit 0: stdout returned, NUL-terminated");
	free(out);

	script("hs-empty", "exit 0");
	rc = run(&out, &len, why, sizeof(why));
	ok(rc == PROV_OK && len == 0 && out != NULL && out[0] == '\0',
	    "exit 0 without output: an empty string");
	free(out);

	script("hs-exit1", "echo '{\"error\": \"user not found\"}' >&2\n"
	    "echo '[]'\nexit 1");
	ok(fails(PROV_UPSTREAM, "headscale exited 1: user not found"),
	    "exit 1: PROV_UPSTREAM, output dropped, its error in why");

	script("hs-ftl", "echo '2026-02-04T12:00:05Z FTL cmd/headscale/cli/"
	    "utils.go:124 > Could not connect: context deadline exceeded' >&2"
	    "\nexit 1");
	ok(fails(PROV_UPSTREAM, "headscale exited 1: Could not connect: "
	    "context deadline exceeded"), "an FTL line: its message in why");

	script("hs-exit3", "exit 3");
	ok(fails(PROV_UPSTREAM, "headscale exited 3"), "exit 3");

	script("hs-big", "head -c 2097152 /dev/zero");
	ok(fails(PROV_UPSTREAM, "headscale: output too large"),
	    "2 MB on stdout: refused past the 1 MiB cap");

	script("hs-cap", "head -c 1048576 /dev/zero | tr '\\0' x");
	rc = run(&out, &len, why, sizeof(why));
	ok(rc == PROV_OK && len == PROV_MAX_CLI_OUTPUT,
	    "exactly 1 MiB is accepted");
	free(out);

	script("hs-bigerr", "head -c 2097152 /dev/zero >&2\nprintf 'null\\n'");
	rc = run(&out, &len, why, sizeof(why));
	ok(rc == PROV_OK && len == 5,
	    "2 MB on stderr is drained and discarded");
	free(out);

	script("hs-garbage", "echo 'Error: unknown flag: --output=json'");
	rc = run(&out, &len, why, sizeof(why));
	ok(rc == PROV_OK && len > 0, "garbage with exit 0 is hs_run's OK");
	free(out);

	script("hs-noexec", "exit 0");
	(void)chmod(cfg.headscale_bin, 0644);
	(void)snprintf(want, sizeof(want), "cannot execute headscale: %s",
	    strerror(EACCES));
	ok(fails(PROV_UPSTREAM, want), "not executable: %s", want);

	scratch_path(cfg.headscale_bin, sizeof(cfg.headscale_bin), "missing");
	(void)snprintf(want, sizeof(want), "cannot execute headscale: %s",
	    strerror(ENOENT));
	ok(fails(PROV_UPSTREAM, want), "missing: %s", want);

	(void)snprintf(cfg.headscale_bin, sizeof(cfg.headscale_bin), "%s",
	    scratch_dir);
	(void)snprintf(want, sizeof(want), "cannot execute headscale: %s",
	    strerror(EACCES));
	ok(fails(PROV_UPSTREAM, want), "a directory: %s", want);
}

/*
 * The caller's signal setup must not reach the CLI: with SIGTERM and
 * SIGPIPE ignored and blocked here, the script still dies of them.
 */
static void
test_signals(void)
{
	struct sigaction	ign, old_term, old_pipe;
	sigset_t		block, old_mask;

	memset(&ign, 0, sizeof(ign));
	ign.sa_handler = SIG_IGN;
	sigaction(SIGTERM, &ign, &old_term);
	sigaction(SIGPIPE, &ign, &old_pipe);
	sigemptyset(&block);
	sigaddset(&block, SIGTERM);
	sigaddset(&block, SIGPIPE);
	sigprocmask(SIG_BLOCK, &block, &old_mask);

	script("hs-term", "kill -TERM $$\nsleep 1\necho survived");
	ok(fails(PROV_UPSTREAM, "headscale killed by signal 15"),
	    "SIGTERM ignored and blocked here still kills the child");
	script("hs-pipe", "kill -PIPE $$\nsleep 1\necho survived");
	ok(fails(PROV_UPSTREAM, "headscale killed by signal 13"),
	    "and so does SIGPIPE");

	sigprocmask(SIG_SETMASK, &old_mask, NULL);
	sigaction(SIGTERM, &old_term, NULL);
	sigaction(SIGPIPE, &old_pipe, NULL);
}

/* Whether pid is gone (or only a zombie nobody has reaped yet). */
static int
dead(pid_t pid)
{
	char	path[64], buf[512], *p;
	ssize_t	n;
	int	fd;

	if (kill(pid, 0) == -1 && errno == ESRCH)
		return 1;
	(void)snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	if ((fd = open(path, O_RDONLY)) == -1)
		return 1;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	buf[n > 0 ? n : 0] = '\0';
	/* "pid (comm) S ...": the state follows the last ')'. */
	return (p = strrchr(buf, ')')) != NULL && p[1] == ' ' && p[2] == 'Z';
}

static void
test_timeouts(void)
{
	char	buf[64];
	double	t;
	pid_t	gc;
	int	i;

	cfg.headscale_timeout = IMPATIENT;
	script("hs-hang", "sleep 30");
	t = now();
	ok(fails(PROV_TIMEOUT, "headscale timed out after 1s"),
	    "a hanging child times out");
	ok(now() - t < 10, "and is killed, not waited for");

	script("hs-exec-hang", "exec sleep 30");
	t = now();
	ok(fails(PROV_TIMEOUT, "headscale timed out after 1s") &&
	    now() - t < 10, "also when it is the process itself that hangs");

	/*
	 * The child exits at once, but a grandchild keeps stdout open: the
	 * wait ends at the deadline and the kill of the process group takes
	 * the grandchild with it.
	 */
	script("hs-grandchild", "sleep 30 &\necho $! >\"$D/gc.pid\"\nexit 0");
	t = now();
	ok(fails(PROV_TIMEOUT, "headscale timed out after 1s") &&
	    now() - t < 10, "a grandchild holding the pipe times out");
	gc = slurp("gc.pid", buf, sizeof(buf)) > 0 ? (pid_t)atoi(buf) : 0;
	for (i = 0; gc > 0 && !dead(gc) && i < 100; i++)
		usleep(20000);
	ok(gc > 0 && dead(gc), "and the grandchild (%d) is killed too",
	    (int)gc);

	script("hs-slow-exit", "exec >/dev/null 2>&1\nsleep 30");
	t = now();
	ok(fails(PROV_TIMEOUT, "headscale timed out after 1s") &&
	    now() - t < 10, "a child that closes its output and lingers");
	cfg.headscale_timeout = PATIENT;
}

static void
test_environment(void)
{
	char		*out, why[128], buf[4096];
	size_t		 len;
	enum prov_err	 rc;
	int		 leak, saved_stdin, p[2] = { -1, -1 };
	const char	*want_env =
	    "PATH=/usr/sbin:/usr/bin:/sbin:/bin\n"
	    "LANG=C.UTF-8\n"
	    "HOME=/nonexistent\n"
	    "NO_COLOR=1\n"
	    "HEADSCALE_DISABLE_CHECK_UPDATES=true\n"
	    "HEADSCALE_LOG_FORMAT=text\n"
	    "HEADSCALE_CLI_TIMEOUT=22s\n";

	script("hs-env",
	    "tr '\\0' '\\n' </proc/$$/environ >\"$D/env\"\n"
	    "readlink /proc/$$/fd/0 >\"$D/stdin\"\n"
	    "ls /proc/$$/fd >\"$D/fds\"\n"
	    "printf '%s\\n' \"$0\" \"$@\" >\"$D/args\"\n"
	    "printf 'null\\n'");
	/*
	 * What the child must not inherit: the environment, a descriptor
	 * without close-on-exec, and stdin (here a pipe, as the FastCGI
	 * socket would be).
	 */
	setenv("PROVISIONER_SECRET_TEST", "must-not-leak", 1);
	leak = dup2(STDOUT_FILENO, 47);
	saved_stdin = dup(STDIN_FILENO);
	if (pipe(p) == 0) {
		dup2(p[0], STDIN_FILENO);
		close(p[0]);
	}

	rc = run(&out, &len, why, sizeof(why));
	if (saved_stdin != -1) {
		dup2(saved_stdin, STDIN_FILENO);
		close(saved_stdin);
		close(p[1]);
	}
	ok(rc == PROV_OK, "the recording script ran");
	free(out);
	ok(slurp("env", buf, sizeof(buf)) > 0 && strcmp(buf, want_env) == 0,
	    "the environment is the fixed six and the CLI timeout, ours + 2 s");
	if (strcmp(buf, want_env) != 0)
		printf("# got:\n%s", buf);
	ok(slurp("stdin", buf, sizeof(buf)) > 0 &&
	    strcmp(buf, "/dev/null\n") == 0, "stdin is /dev/null");
	ok(slurp("args", buf, sizeof(buf)) > 0 &&
	    strstr(buf, "\nusers\nlist\n-o\njson\n") != NULL,
	    "argv passed as given");
	ok(leak == 47 && slurp("fds", buf, sizeof(buf)) > 0 &&
	    strstr(buf, "\n47\n") == NULL && strstr(buf, "\n3\n") == NULL,
	    "no descriptor leaks into the child");

	(void)snprintf(cfg.headscale_config, sizeof(cfg.headscale_config),
	    "%s/config.yaml", scratch_dir);
	script("hs-env", "tr '\\0' '\\n' </proc/$$/environ >\"$D/env\"\n"
	    "printf 'null\\n'");
	rc = run(&out, &len, why, sizeof(why));
	free(out);
	ok(rc == PROV_OK && slurp("env", buf, sizeof(buf)) > 0 &&
	    strncmp(buf, want_env, strlen(want_env)) == 0 &&
	    strncmp(buf + strlen(want_env), "HEADSCALE_CONFIG=", 17) == 0 &&
	    strstr(buf, "/config.yaml\n") != NULL,
	    "HEADSCALE_CONFIG is added when configured");
	cfg.headscale_config[0] = '\0';
	if (leak != -1)
		close(leak);
	unsetenv("PROVISIONER_SECRET_TEST");
}

#define USERS_JSON \
	"[\\n\\t{\\n\\t\\t\"id\": 1,\\n" \
	"\\t\\t\"name\": \"someone\"\\n\\t},\\n" \
	"\\t{\\n\\t\\t\"id\": 42,\\n" \
	"\\t\\t\"name\": \"sovran-deploy\"\\n\\t}\\n]\\n"

#define KEY_JSON \
	"{\\n\\t\"id\": 7,\\n\\t\"key\": \"hskey-auth-Q2x_aB3dE-fG-" \
	"0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ-_\"" \
	",\\n\\t\"expiration\": {\\n\\t\\t\"seconds\": 1770326400\\n\\t}\\n}\\n"

static void
test_commands(void)
{
	char		why[128], buf[4096];
	uint64_t	id = 0;
	struct hs_key	k;
	enum prov_err	rc;

	/* One script answers both commands and counts its runs. */
	script("hs-cli",
	    "printf '%s\\n' \"$*\" >>\"$D/calls\"\n"
	    "case \"$1\" in\n"
	    "users) printf '" USERS_JSON "' ;;\n"
	    "preauthkeys) [ -e \"$D/fail-key\" ] && exit 1\n"
	    "\tprintf '" KEY_JSON "' ;;\n"
	    "esac");
	ok(hs_user_id(&cfg, &id, why, sizeof(why)) == PROV_OK && id == 42,
	    "hs_user_id finds sovran-deploy: %llu", (unsigned long long)id);
	ok(hs_user_id(&cfg, &id, why, sizeof(why)) == PROV_OK && id == 42 &&
	    lines("calls") == 1, "the second lookup is cached");
	hs_forget_user();
	ok(hs_user_id(&cfg, &id, why, sizeof(why)) == PROV_OK &&
	    lines("calls") == 2, "hs_forget_user makes it list again");
	ok(slurp("calls", buf, sizeof(buf)) > 0 &&
	    strcmp(buf, "users list -o json\nusers list -o json\n") == 0,
	    "argv: users list -o json");

	rc = hs_create_key(&cfg, 42, &k, why, sizeof(why));
	ok(rc == PROV_OK && k.id == 7 && k.expires_at == 1770326400 &&
	    strlen(k.key) == 88, "hs_create_key returns the key");
	ok(slurp("calls", buf, sizeof(buf)) > 0 && strstr(buf,
	    "\npreauthkeys create -u 42 -e 1h --ephemeral -o json\n") != NULL,
	    "argv: preauthkeys create -u 42 -e 1h --ephemeral -o json");
	ok(hs_user_id(&cfg, &id, why, sizeof(why)) == PROV_OK &&
	    lines("calls") == 3, "a good create keeps the cached user");

	scratch_path(buf, sizeof(buf), "fail-key");
	close(open(buf, O_WRONLY | O_CREAT, 0644));
	rc = hs_create_key(&cfg, 42, &k, why, sizeof(why));
	ok(rc == PROV_UPSTREAM && strcmp(why, "headscale exited 1") == 0 &&
	    k.key[0] == '\0', "a failed create: PROV_UPSTREAM, no key");
	ok(hs_user_id(&cfg, &id, why, sizeof(why)) == PROV_OK &&
	    lines("calls") == 5, "and the user is listed afresh after it");

	(void)snprintf(cfg.headscale_user, sizeof(cfg.headscale_user),
	    "nobody-here");
	rc = hs_user_id(&cfg, &id, why, sizeof(why));
	ok(rc == PROV_UPSTREAM &&
	    strcmp(why, "headscale user nobody-here not found") == 0,
	    "an absent user: %s", why);
	(void)snprintf(cfg.headscale_user, sizeof(cfg.headscale_user),
	    "sovran-deploy");

	ok(hs_ping(&cfg, why, sizeof(why)) == PROV_OK, "hs_ping answers");

	script("hs-garbage", "echo 'Error: unknown flag'");
	hs_forget_user();
	ok(hs_user_id(&cfg, &id, why, sizeof(why)) == PROV_UPSTREAM &&
	    strcmp(why, "headscale users list: unexpected output") == 0,
	    "garbage from users list: %s", why);
	ok(hs_ping(&cfg, why, sizeof(why)) == PROV_UPSTREAM,
	    "hs_ping refuses garbage");
	ok(hs_create_key(&cfg, 42, &k, why, sizeof(why)) == PROV_UPSTREAM &&
	    strcmp(why, "headscale preauthkeys create: unexpected output") == 0,
	    "garbage from preauthkeys create: %s", why);

	script("hs-hang", "sleep 30");
	cfg.headscale_timeout = IMPATIENT;
	ok(hs_ping(&cfg, why, sizeof(why)) == PROV_TIMEOUT,
	    "hs_ping times out like hs_run");
	cfg.headscale_timeout = PATIENT;
}

static void
test_ensure(void)
{
	char	why[128], path[512];
	int	created = -1;

	/*
	 * A tiny stateful headscale: the user exists once "exists" does;
	 * "create-fails" makes users create exit 1 (after creating it, as
	 * when another process won the race), "create-noop" makes it exit 1
	 * without creating anything.
	 */
	script("hs-ensure",
	    "printf '%s\\n' \"$*\" >>\"$D/ensure.calls\"\n"
	    "case \"$1 $2\" in\n"
	    "'users list') if [ -e \"$D/exists\" ]; then\n"
	    "\tprintf '[{\"id\": 9, \"name\": \"admin\"}]\\n'\n"
	    "\telse printf 'null\\n'; fi ;;\n"
	    "'users create') [ -e \"$D/create-noop\" ] && exit 1\n"
	    "\t: >\"$D/exists\"\n"
	    "\t[ -e \"$D/create-fails\" ] && exit 1\n"
	    "\tprintf '{\"id\": 9, \"name\": \"%s\"}\\n' \"$3\" ;;\n"
	    "esac");
	ok(hs_user_ensure(&cfg, "admin", &created, why, sizeof(why)) ==
	    PROV_OK && created == 1, "creates an absent user");
	ok(lines("ensure.calls") == 3, "list, create, list");
	ok(hs_user_ensure(&cfg, "admin", &created, why, sizeof(why)) ==
	    PROV_OK && created == 0 && lines("ensure.calls") == 4,
	    "an existing user: one list, nothing created");

	scratch_path(path, sizeof(path), "exists");
	unlink(path);
	scratch_path(path, sizeof(path), "create-fails");
	close(open(path, O_WRONLY | O_CREAT, 0644));
	ok(hs_user_ensure(&cfg, "admin", &created, why, sizeof(why)) ==
	    PROV_OK && created == 0,
	    "a create that fails but leaves the user is success");

	scratch_path(path, sizeof(path), "exists");
	unlink(path);
	scratch_path(path, sizeof(path), "create-noop");
	close(open(path, O_WRONLY | O_CREAT, 0644));
	ok(hs_user_ensure(&cfg, "admin", &created, why, sizeof(why)) ==
	    PROV_UPSTREAM && created == 0 &&
	    strcmp(why, "headscale exited 1") == 0,
	    "a create that fails outright: %s", why);

	ok(hs_user_ensure(&cfg, "-rf", &created, why, sizeof(why)) ==
	    PROV_BADREQ && hs_user_ensure(&cfg, "a b", &created, why,
	    sizeof(why)) == PROV_BADREQ && hs_user_ensure(&cfg, "", &created,
	    why, sizeof(why)) == PROV_BADREQ,
	    "names that are flags, hold spaces or are empty are refused");
}

static void
test_arguments(void)
{
	const char *const many[] = {
		cfg.headscale_bin, "1", "2", "3", "4", "5", "6", "7", "8", "9",
		"10", "11", "12", "13", "14", "15", "16", NULL
	};
	char	*out, why[128];
	size_t	 len;

	ok(hs_run(&cfg, many, &out, &len, why, sizeof(why)) == PROV_UPSTREAM &&
	    out == NULL, "too many arguments are refused");
}

int
main(void)
{

	if (scratch_make("hs") == -1)
		return 1;
	(void)snprintf(cfg.headscale_user, sizeof(cfg.headscale_user),
	    "sovran-deploy");
	(void)snprintf(cfg.key_expiry, sizeof(cfg.key_expiry), "1h");
	cfg.headscale_timeout = PATIENT;

	test_run_results();
	test_signals();
	test_timeouts();
	test_environment();
	test_commands();
	test_ensure();
	test_arguments();
	scratch_remove();
	return done_testing();
}
