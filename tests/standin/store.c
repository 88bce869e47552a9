/*
 * store.c: the stand-in's directory, its lock, its call log and faults.
 *
 * Several stand-ins run at once when the programs serve concurrent
 * registrations, so state.json is only read and written under flock(2) on
 * a separate lock file (the tailscale stand-in takes the same lock), and
 * replaced by rename(2) so a reader never sees half a file. Each call
 * appends one line to calls.log with a single O_APPEND write when it ends,
 * which lets tests count calls and see which ones overlapped.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "store.h"

static struct {
	int			 argc;
	char			**argv;
	int64_t			 start_ns;
	char			 dir[PATH_MAX];
	int			 lockfd;
	struct json_object	*state;
	int			 marker;
	int			 logged;
} st = { .lockfd = -1 };

static int64_t
now_ns(clockid_t clock)
{
	struct timespec	ts;

	clock_gettime(clock, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

void
store_now(int64_t *sec, int32_t *nsec)
{
	struct timespec	ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	*sec = ts.tv_sec;
	*nsec = (int32_t)ts.tv_nsec;
}

void
store_begin(int argc, char **argv, const char *config)
{
	const char	*slash;

	st.start_ns = now_ns(CLOCK_REALTIME);
	st.argc = argc;
	st.argv = argv;
	if (config == NULL || *config == '\0')
		return;
	if ((slash = strrchr(config, '/')) == NULL)
		snprintf(st.dir, sizeof st.dir, "standin");
	else if (slash == config)
		snprintf(st.dir, sizeof st.dir, "/standin");
	else
		snprintf(st.dir, sizeof st.dir, "%.*s/standin",
		    (int)(slash - config), config);
}

int
store_present(void)
{
	return st.dir[0] != '\0';
}

void
store_mark_update_check(void)
{
	st.marker = 1;
}

static int
make_dir(void)
{
	return mkdir(st.dir, 0755) == 0 || errno == EEXIST ? 0 : -1;
}

/*
 * Appends "start_ns end_ns pid args..." to calls.log. Arguments are made
 * printable and space-free so the line splits on spaces; anything that
 * looks like a pre-auth key is replaced, so the log never holds one.
 */
static void
log_call(void)
{
	char	 path[PATH_MAX + 16], *line, *p;
	size_t	 cap = 96 + sizeof " output-equals\n", len;
	int	 i, fd;

	if (st.logged || !store_present() || make_dir() != 0)
		return;
	st.logged = 1;
	for (i = 1; i < st.argc; i++)
		cap += strlen(st.argv[i]) + 3;
	if ((line = malloc(cap)) == NULL)
		return;
	len = (size_t)snprintf(line, cap, "%lld %lld %ld",
	    (long long)st.start_ns, (long long)now_ns(CLOCK_REALTIME),
	    (long)getpid());
	for (i = 1; i < st.argc; i++) {
		const char *a = st.argv[i];

		line[len++] = ' ';
		if (*a == '\0') {
			memcpy(line + len, "\"\"", 2);
			len += 2;
			continue;
		}
		if (strstr(a, "hskey-") != NULL)
			a = "hskey-***";
		for (p = line + len; *a != '\0'; a++, p++)
			*p = (unsigned char)*a > 0x20 && *a != 0x7f ? *a : '?';
		len = (size_t)(p - line);
	}
	if (st.marker) {
		memcpy(line + len, " output-equals", 14);
		len += 14;
	}
	line[len++] = '\n';
	snprintf(path, sizeof path, "%s/calls.log", st.dir);
	fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
	if (fd >= 0) {
		(void)write(fd, line, len);
		close(fd);
	}
	free(line);
}

void
store_exit(int code)
{
	fflush(stdout);
	fflush(stderr);
	log_call();
	exit(code);
}

void
store_nap(double secs)
{
	sigset_t	set, old;
	struct timespec	ts;
	int64_t		end, left;
	int		sig;

	if (!(secs > 0))
		return;
	if (secs > 86400)
		secs = 86400;
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGHUP);
	sigprocmask(SIG_BLOCK, &set, &old);
	end = now_ns(CLOCK_MONOTONIC) + (int64_t)(secs * 1e9);
	while ((left = end - now_ns(CLOCK_MONOTONIC)) > 0) {
		ts.tv_sec = left / 1000000000;
		ts.tv_nsec = left % 1000000000;
		sig = sigtimedwait(&set, NULL, &ts);
		if (sig > 0) {
			/* Log, then die of the signal like any process. */
			fflush(stdout);
			fflush(stderr);
			log_call();
			signal(sig, SIG_DFL);
			sigprocmask(SIG_UNBLOCK, &set, NULL);
			raise(sig);
			_exit(128 + sig);
		}
		if (errno != EINTR)
			break;
	}
	sigprocmask(SIG_SETMASK, &old, NULL);
}

/* Reads one fault file; 0 when it does not exist. */
static int
read_fault(const char *name, struct fault *f)
{
	char	 path[PATH_MAX + 32], buf[128], word[16], *end;
	FILE	*fp;
	size_t	 n;
	int	 used = 0;

	snprintf(path, sizeof path, "%s/%s", st.dir, name);
	if ((fp = fopen(path, "re")) == NULL)
		return 0;
	n = fread(buf, 1, sizeof buf - 1, fp);
	fclose(fp);
	buf[n] = '\0';
	f->kind = FAULT_BAD;
	f->secs = -1;
	f->code = 0;
	if (sscanf(buf, " %15s %n", word, &used) != 1) {
		f->kind = FAULT_NONE;
		return 1;
	}
	if (buf[used] != '\0') {
		errno = 0;
		f->secs = strtod(buf + used, &end);
		end += strspn(end, " \t\r\n");
		if (errno != 0 || *end != '\0' || !isfinite(f->secs) ||
		    f->secs < 0)
			return 1;
	}
	if (strcmp(word, "fail") == 0)
		f->kind = FAULT_FAIL;
	else if (strcmp(word, "hang") == 0)
		f->kind = FAULT_HANG;
	else if (strcmp(word, "garbage") == 0)
		f->kind = FAULT_GARBAGE;
	else if (strcmp(word, "huge") == 0)
		f->kind = FAULT_HUGE;
	else if (strcmp(word, "slow") == 0 && f->secs >= 0)
		f->kind = FAULT_SLOW;
	else if (strcmp(word, "null") == 0)
		f->kind = FAULT_NULL;
	else if (strcmp(word, "down") == 0)
		f->kind = FAULT_DOWN;
	else if (strcmp(word, "exit") == 0 && f->secs >= 0 && f->secs < 256 &&
	    f->secs == (double)(int)f->secs) {
		f->kind = FAULT_EXIT;
		f->code = (int)f->secs;
	}
	return 1;
}

struct fault
store_fault(const char *cmd, const char *sub)
{
	struct fault	f = { FAULT_NONE, -1, 0 };
	char		name[64], subname[128];

	if (!store_present())
		return f;
	snprintf(name, sizeof name, "fault.%s", cmd);
	snprintf(subname, sizeof subname, "fault.%s.%s", cmd, sub);
	if (!read_fault(subname, &f) && !read_fault(name, &f))
		(void)read_fault("fault", &f);
	return f;
}

static _Noreturn void
store_fail(const char *what, const char *path)
{
	fprintf(stderr, "headscale stand-in: %s %s: %s\n", what, path,
	    strerror(errno));
	store_exit(1);
}

struct json_object *
store_open(int exclusive)
{
	char			 path[PATH_MAX + 16];
	struct json_object	*state;

	if (make_dir() != 0)
		store_fail("cannot create", st.dir);
	snprintf(path, sizeof path, "%s/lock", st.dir);
	st.lockfd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (st.lockfd < 0)
		store_fail("cannot open", path);
	while (flock(st.lockfd, exclusive ? LOCK_EX : LOCK_SH) != 0)
		if (errno != EINTR)
			store_fail("cannot lock", path);
	snprintf(path, sizeof path, "%s/state.json", st.dir);
	if (access(path, F_OK) != 0 && errno == ENOENT)
		state = json_object_new_object();
	else if ((state = json_object_from_file(path)) == NULL ||
	    !json_object_is_type(state, json_type_object)) {
		errno = EINVAL;
		store_fail("unreadable state", path);
	}
	st.state = state;
	return state;
}

void
store_save(void)
{
	char	tmp[PATH_MAX + 32], path[PATH_MAX + 16];

	snprintf(path, sizeof path, "%s/state.json", st.dir);
	snprintf(tmp, sizeof tmp, "%s.tmp.%ld", path, (long)getpid());
	if (json_object_to_file_ext(tmp, st.state, JSON_C_TO_STRING_PRETTY |
	    JSON_C_TO_STRING_NOSLASHESCAPE) != 0)
		store_fail("cannot write", tmp);
	if (rename(tmp, path) != 0)
		store_fail("cannot rename", tmp);
}

void
store_close(void)
{
	if (st.state != NULL)
		json_object_put(st.state);
	st.state = NULL;
	if (st.lockfd >= 0)
		close(st.lockfd);
	st.lockfd = -1;
}
