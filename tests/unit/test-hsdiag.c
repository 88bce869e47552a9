/*
 * test-hsdiag.c: what of a failing headscale CLI's stderr reaches the
 * log: the error of its JSON document, its FTL line's message, cobra's
 * "Error:" line, else its last line; always one short line of printable
 * ASCII, and never anything shaped like a key or token.
 */
#include "config.h"

#include <stdio.h>
#include <string.h>

#include "hsdiag.h"
#include "tap.h"

static char	got[HSDIAG_MAX + 1];

/* The summary of s, in got. */
static const char *
sum(const char *s)
{
	hsdiag_summary(s, strlen(s), got, sizeof got);
	return got;
}

static int
is(const char *s, const char *want)
{
	if (strcmp(sum(s), want) == 0)
		return 1;
	printf("# got \"%s\"\n", got);
	return 0;
}

int
main(void)
{
	char	big[300];

	ok(is("{\n\t\"error\": \"rpc error: code = NotFound desc = user not "
	    "found\"\n}\n", "rpc error: code = NotFound desc = user not found"),
	    "the JSON error document: its \"error\"");
	ok(is("2026-02-04T12:00:05Z WRN No config file found, using defaults\n"
	    "{\n\t\"error\": \"boom\"\n}\n", "boom"),
	    "log lines before the document are skipped");
	ok(is("2026-02-04T12:00:05Z FTL cmd/headscale/cli/utils.go:124 > "
	    "Could not connect: context deadline exceeded\n",
	    "Could not connect: context deadline exceeded"),
	    "an FTL line: the message after the caller");
	ok(is("Error: unknown flag: --bogus\nUsage:\n  headscale [flags]\n",
	    "unknown flag: --bogus"), "cobra's Error: line");
	ok(is("something odd\nand then this\n\n", "and then this"),
	    "otherwise the last line with text");
	ok(is("", ""), "nothing said: empty");
	ok(is("{\"error\": \"a\\u0007b\\tc\\nd\"}", "ab c d"),
	    "control characters dropped, tabs and newlines as spaces");
	ok(is("{\"error\": \"caf\\u00e9\"}", "caf??"),
	    "bytes outside ASCII are '?'");
	ok(is("{\"error\": \"key hskey-auth-Q2x_aB3dE-fG-0123456789abcdef "
	    "is invalid\"}", "key [...] is invalid"), "a 0.28 key is hidden");
	ok(is("{\"error\": \"bad 0123456789abcdef0123456789abcdef0123\"}",
	    "bad [...]"), "a long hex word is hidden");
	ok(is("{\"error\": \"short hskey\"}", "short [...]"),
	    "anything saying hskey is hidden");
	ok(is("{\"error\": \"user sovran-deploy not found\"}",
	    "user sovran-deploy not found"), "ordinary words stay");
	memset(big, 'a', sizeof big);
	memcpy(big, "{\"error\": \"", 11);
	for (size_t i = 11; i + 3 < sizeof big; i += 4)
		memcpy(big + i, "ab c", 4);
	memcpy(big + sizeof big - 3, "\"}", 3);
	ok(strlen(sum(big)) == HSDIAG_MAX && strchr(got, '\n') == NULL,
	    "cut to %d bytes", HSDIAG_MAX);
	hsdiag_summary("abc", 3, got, 2);
	ok(strcmp(got, "a") == 0, "a small buffer is respected");
	return done_testing();
}
