/*
 * replay.c: an instantly answering headscale CLI for the benchmark.
 *
 * tests/standin/headscale keeps every key it mints in one JSON file that it
 * reads and rewrites on each call, so its cost grows with every
 * registration: fine for tests, but under a flood of registrations the
 * benchmark would measure that file instead of the programs. bench/run
 * therefore records one answer per command from the real stand-in, and
 * this program replays it: it prints <dir>/replay/<command>.<sub>.out or
 * else <dir>/replay/<command>.out, where dir
 * holds the file named by HEADSCALE_CONFIG and command is its first
 * argument, and logs the call as the stand-in does ("start_ns end_ns pid
 * argv..." appended to <dir>/replay/calls.log in one write), so the
 * benchmark can count invocations. A command with no recording fails with
 * exit 1, as an unknown command does.
 */
#include "config.h"

#include <fcntl.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/*
 * Most recorded answers are a few hundred bytes; the node and key lists
 * bench/run writes for GET /machines are up to the programs' own output
 * cap (PROV_MAX_CLI_OUTPUT, 1 MiB), and this leaves room past it.
 */
#define REPLAY_MAX_OUT	(2 * 1024 * 1024)

/* One log line: two times, a pid and the arguments, cut if longer. */
#define REPLAY_MAX_LOG	1024

static int64_t
now_ns(void)
{
	struct timespec	ts;

	(void)clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* Only lower-case words name a command file: no paths, no dots. */
static int
is_word(const char *s)
{
	size_t	n;

	for (n = 0; s[n] != '\0'; n++)
		if (s[n] < 'a' || s[n] > 'z' || n >= 32)
			return 0;
	return n > 0;
}

static void
log_call(const char *dir, int64_t start, int argc, char *argv[])
{
	char	path[PATH_MAX], line[REPLAY_MAX_LOG];
	int	fd, i, n, len;

	len = snprintf(line, sizeof(line), "%lld %lld %ld",
	    (long long)start, (long long)now_ns(), (long)getpid());
	for (i = 0; i < argc && len > 0 && (size_t)len < sizeof(line); i++) {
		n = snprintf(line + len, sizeof(line) - (size_t)len, " %s",
		    argv[i]);
		len = n < 0 ? -1 : len + n;
	}
	if (len < 0)
		return;
	if ((size_t)len >= sizeof(line) - 1)
		len = (int)sizeof(line) - 2;
	line[len++] = '\n';
	if (snprintf(path, sizeof(path), "%s/replay/calls.log", dir) >=
	    (int)sizeof(path))
		return;
	if ((fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC,
	    0644)) == -1)
		return;
	/* One write, so concurrent calls never interleave their lines. */
	if (write(fd, line, (size_t)len) != (ssize_t)len)
		fprintf(stderr, "replay: cannot log the call\n");
	(void)close(fd);
}

int
main(int argc, char *argv[])
{
	static char	 out[REPLAY_MAX_OUT];
	char		 dir[PATH_MAX], path[PATH_MAX], *slash;
	const char	*config;
	int64_t		 start = now_ns();
	ssize_t		 n;
	size_t		 len = 0;
	int		 fd;

	config = getenv("HEADSCALE_CONFIG");
	if (config == NULL || strlen(config) >= sizeof(dir) ||
	    (slash = strrchr(strcpy(dir, config), '/')) == NULL) {
		fprintf(stderr, "replay: HEADSCALE_CONFIG must name a file\n");
		return 1;
	}
	*slash = '\0';
	/* "<command>.<subcommand>.out" first ("nodes.list.out"), then
	 * "<command>.out". */
	fd = -1;
	if (argc > 2 && is_word(argv[1]) && is_word(argv[2]) &&
	    snprintf(path, sizeof(path), "%s/replay/%s.%s.out", dir, argv[1],
	    argv[2]) < (int)sizeof(path))
		fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd == -1 && (argc < 2 || !is_word(argv[1]) ||
	    snprintf(path, sizeof(path), "%s/replay/%s.out", dir,
	    argv[1]) >= (int)sizeof(path) ||
	    (fd = open(path, O_RDONLY | O_CLOEXEC)) == -1)) {
		fprintf(stderr, "replay: no recorded answer for this command\n");
		log_call(dir, start, argc - 1, argv + 1);
		return 1;
	}
	while (len < sizeof(out) &&
	    (n = read(fd, out + len, sizeof(out) - len)) > 0)
		len += (size_t)n;
	(void)close(fd);
	if (fwrite(out, 1, len, stdout) != len || fflush(stdout) != 0)
		return 1;
	log_call(dir, start, argc - 1, argv + 1);
	return 0;
}
