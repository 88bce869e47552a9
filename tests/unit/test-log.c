/*
 * test-log.c: what reaches the log. log_clean turns every byte outside
 * printable ASCII into '?' and always terminates; log_msg and log_request
 * write one line each, "program: message" and "endpoint address status
 * ms[ why]", cut to PROV_MAX_LOG_LINE bytes, and keep errno.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "bounds.h"
#include "log.h"
#include "scratch.h"
#include "tap.h"

static void
test_clean(void)
{
	char	out[16];
	size_t	n;

	n = log_clean(out, sizeof out, "plain text ~!");
	ok(n == 13 && strcmp(out, "plain text ~!") == 0,
	    "printable ASCII, space to '~', passes as is");
	n = log_clean(out, sizeof out, "a\nb\rc\td\x1b");
	ok(n == 8 && strcmp(out, "a?b?c?d?") == 0,
	    "newline, return, tab and escape become '?'");
	n = log_clean(out, sizeof out, "\x7f\x80\xff\xc3\xa9");
	ok(n == 5 && strcmp(out, "?????") == 0,
	    "DEL and every byte above it become '?' (%s)", out);
	n = log_clean(out, sizeof out, "0123456789abcdefghij");
	ok(n == sizeof out - 1 && out[sizeof out - 1] == '\0' &&
	    strncmp(out, "0123456789abcde", n) == 0,
	    "cut to the buffer, terminated");
	memset(out, 'z', sizeof out);
	ok(log_clean(out, 1, "abc") == 0 && out[0] == '\0' && out[1] == 'z',
	    "a one-byte buffer gets only the terminator");
	out[0] = 'z';
	ok(log_clean(out, 0, "abc") == 0 && out[0] == 'z',
	    "a zero-length buffer is not touched");
	ok(log_clean(out, sizeof out, NULL) == 0 && out[0] == '\0',
	    "NULL is the empty string");
}

/* Runs what() with stderr sent to a file, and reads the file into buf. */
static size_t
captured(void (*what)(void), char *buf, size_t len)
{
	char	path[512];
	int	saved, fd;
	ssize_t	n;

	scratch_path(path, sizeof path, "log");
	fflush(stderr);
	saved = dup(STDERR_FILENO);
	fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
	if (saved == -1 || fd == -1 || dup2(fd, STDERR_FILENO) == -1)
		return 0;
	what();
	(void)dup2(saved, STDERR_FILENO);
	close(saved);
	n = pread(fd, buf, len - 1, 0);
	close(fd);
	buf[n > 0 ? n : 0] = '\0';
	return n > 0 ? (size_t)n : 0;
}

static int	errno_kept;

static void
two_messages(void)
{
	log_init("prog");
	errno = EAGAIN;
	log_msg("first %d", 1);
	errno_kept = errno == EAGAIN;
	log_msg("second\nforged: line\x7f");
}

static void
requests(void)
{
	log_request("register", "192.0.2.7", 200, 12, "");
	log_request("health", NULL, 503, 0, "database does not answer");
}

static void
long_message(void)
{
	char	big[3 * PROV_MAX_LOG_LINE];

	memset(big, 'a', sizeof big - 1);
	big[sizeof big - 1] = '\0';
	log_msg("%s", big);
}

static void
test_lines(void)
{
	char	buf[4 * PROV_MAX_LOG_LINE];
	size_t	n;

	n = captured(two_messages, buf, sizeof buf);
	ok(n > 0 && strcmp(buf, "prog: first 1\nprog: second?forged: line?\n")
	    == 0, "\"program: message\", one line each, control bytes "
	    "cleaned");
	ok(errno_kept, "errno survives a log_msg");

	n = captured(requests, buf, sizeof buf);
	ok(n > 0 && strcmp(buf, "register 192.0.2.7 200 12ms\n"
	    "health unknown 503 0ms database does not answer\n") == 0,
	    "a request line: endpoint, address, status, time, why");

	n = captured(long_message, buf, sizeof buf);
	ok(n == PROV_MAX_LOG_LINE && buf[n - 1] == '\n' &&
	    strchr(buf, '\n') == buf + n - 1,
	    "an over-long message is one line of at most %d bytes (%zu)",
	    PROV_MAX_LOG_LINE, n);
}

int
main(void)
{
	if (scratch_make("log") == -1)
		return 1;
	test_clean();
	test_lines();
	scratch_remove();
	return done_testing();
}
