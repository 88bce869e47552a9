/*
 * test-auth.c: the Authorization header parser on well-formed and hostile
 * values, and the token file on disk: loading, rotation by rename and by
 * rewrite, and each way the file can be unusable, which must refuse every
 * request.
 */
#include "config.h"

#include <sys/stat.h>

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "auth.h"
#include "scratch.h"
#include "tap.h"

static char	dir[200];
static char	path[256];

/* Writes text to the token file by rename, as the bootstrap rotates it. */
static void
put_token(const char *text, size_t len)
{
	char	tmp[300];
	int	fd;

	(void)snprintf(tmp, sizeof tmp, "%s/new", dir);
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	if (fd == -1 || write(fd, text, len) != (ssize_t)len || close(fd) == -1)
		perror(tmp);
	if (rename(tmp, path) == -1)
		perror("rename");
}

#define PUT(s)	put_token((s), strlen(s))

/* Whether header parses, and to exactly want when want is not NULL. */
static int
parses(const char *header, const char *want)
{
	const char	*tok;
	size_t		 len;

	if (auth_bearer(header, &tok, &len) == -1)
		return 0;
	return want == NULL || (len == strlen(want) &&
	    memcmp(tok, want, len) == 0);
}

static void
test_parse(void)
{
	char	big[10 * 1024 + 1];
	size_t	n;

	ok(parses("Bearer abc", "abc"), "Bearer");
	ok(parses("bearer abc", "abc"), "lower-case scheme");
	ok(parses("BEARER abc", "abc"), "upper-case scheme");
	ok(parses("bEaReR abc", "abc"), "mixed-case scheme");
	ok(parses("Bearer   abc", "abc"), "several spaces");
	ok(parses("Bearer\tabc", "abc"), "tab");
	ok(parses("Bearer \t abc", "abc"), "mixed run of spaces and tabs");
	ok(parses("Bearer a.b-c_d~e+f/g=", "a.b-c_d~e+f/g="), "token68 characters");

	ok(!parses(NULL, NULL), "no header");
	ok(!parses("", NULL), "empty header");
	ok(!parses("Bearer", NULL), "scheme alone");
	ok(!parses("Bearer ", NULL), "scheme and space");
	ok(!parses("Bearerabc", NULL), "no space after the scheme");
	ok(!parses("Basic YWJjOmRlZg==", NULL), "Basic");
	ok(!parses("Bearer: abc", NULL), "colon after the scheme");
	ok(!parses(" Bearer abc", NULL), "leading space");
	ok(!parses("xBearer abc", NULL), "prefix before the scheme");
	ok(!parses("Xearer abc", NULL) && !parses("Bearex abc", NULL),
	    "every letter of the scheme counts, the first and the last");
	ok(!parses("Bearer abc ", NULL), "trailing space");
	ok(!parses("Bearer abc\r\n", NULL), "trailing CRLF");
	ok(!parses("Bearer a bc", NULL), "space inside the token");
	ok(!parses("Bearer a\tbc", NULL), "tab inside the token");
	ok(!parses("Bearer a\x01", NULL), "control character");
	ok(!parses("Bearer a\x7f", NULL), "DEL");
	ok(!parses("Bearer \xc3\xa9t\xc3\xa9", NULL), "non-ASCII token");
	ok(!parses("abc", NULL), "bare token, no scheme");

	memcpy(big, "Bearer ", 7);
	memset(big + 7, 'a', sizeof big - 8);
	big[sizeof big - 1] = '\0';
	ok(!parses(big, NULL), "10 KB header");
	big[PROV_MAX_AUTH_HEADER] = '\0';
	n = strlen(big);
	ok(n == PROV_MAX_AUTH_HEADER && parses(big, NULL),
	    "header of exactly PROV_MAX_AUTH_HEADER bytes");
	big[PROV_MAX_AUTH_HEADER] = 'a';
	big[PROV_MAX_AUTH_HEADER + 1] = '\0';
	ok(!parses(big, NULL), "one byte over PROV_MAX_AUTH_HEADER");
}

/*
 * Sends stderr, where auth logs, to a fresh file named into logpath;
 * returns the descriptor log_back() restores it from.
 */
static int
log_to(char *logpath, size_t size)
{
	int	saved, fd;

	(void)snprintf(logpath, size, "%s/log", dir);
	saved = dup(STDERR_FILENO);
	fd = open(logpath, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	if (fd == -1 || dup2(fd, STDERR_FILENO) == -1)
		perror(logpath);
	close(fd);
	return saved;
}

static void
log_back(int saved)
{
	(void)dup2(saved, STDERR_FILENO);
	close(saved);
}

/* A process that finds a good token at once says nothing about it. */
static void
test_first_load_quiet(void)
{
	struct auth	a;
	struct stat	st;
	char		logpath[300];
	int		saved;

	PUT("quiet\n");
	saved = log_to(logpath, sizeof logpath);
	auth_init(&a, path);
	ok(auth_check(&a, "Bearer quiet") == PROV_OK, "first load");
	auth_clear(&a);
	log_back(saved);
	ok(stat(logpath, &st) == 0 && st.st_size == 0,
	    "logs nothing (%lld bytes)", (long long)st.st_size);
	(void)unlink(logpath);
	(void)unlink(path);
}

static void
test_file(void)
{
	struct auth	a;
	char		big[PROV_MAX_TOKEN + 2];
	char		logpath[300];
	int		saved;

	/* Keep what auth logs, to check it never holds a token. */
	saved = log_to(logpath, sizeof logpath);

	auth_init(&a, path);
	ok(auth_check(&a, "Bearer s3cret") == PROV_UNAUTH &&
	    auth_state(&a) == AUTH_MISSING, "missing file: refused");

	PUT("s3cret\n");
	ok(auth_check(&a, "Bearer s3cret") == PROV_OK &&
	    auth_state(&a) == AUTH_READY, "file appears: token accepted");
	ok(auth_check(&a, "bearer s3cret") == PROV_OK, "scheme in any case");
	ok(auth_check(&a, "Bearer s3cre") == PROV_UNAUTH, "prefix refused");
	ok(auth_check(&a, "Bearer s3cret2") == PROV_UNAUTH, "extension refused");
	ok(auth_check(&a, "Bearer S3CRET") == PROV_UNAUTH, "token is case-sensitive");
	ok(auth_check(&a, "Basic s3cret") == PROV_UNAUTH, "wrong scheme refused");
	ok(auth_check(&a, "s3cret") == PROV_UNAUTH, "bare token refused");
	ok(auth_check(&a, NULL) == PROV_UNAUTH, "no header refused");

	PUT("r0tated\n");
	ok(auth_check(&a, "Bearer s3cret") == PROV_UNAUTH,
	    "after rotation by rename: old token refused");
	ok(auth_check(&a, "Bearer r0tated") == PROV_OK,
	    "after rotation by rename: new token accepted");

	/* Rewrite in place, as "echo new > file" does. */
	{
		FILE	*f = fopen(path, "w");

		ok(f != NULL && fputs("rewritten-in-place\n", f) >= 0 &&
		    fclose(f) == 0, "rewrote the file in place");
	}
	ok(auth_check(&a, "Bearer rewritten-in-place") == PROV_OK &&
	    auth_check(&a, "Bearer r0tated") == PROV_UNAUTH,
	    "in-place rewrite noticed");

	PUT("notrailingnewline");
	ok(auth_check(&a, "Bearer notrailingnewline") == PROV_OK,
	    "file without a trailing newline");

	PUT("two\n\n");
	ok(auth_check(&a, "Bearer two") == PROV_UNAUTH &&
	    auth_state(&a) == AUTH_BADCHARS,
	    "only one trailing newline is trimmed");

	PUT("with space\n");
	ok(auth_check(&a, "Bearer with") == PROV_UNAUTH &&
	    auth_state(&a) == AUTH_BADCHARS, "token with a space refuses all");

	PUT("");
	ok(auth_check(&a, "Bearer x") == PROV_UNAUTH &&
	    auth_state(&a) == AUTH_EMPTY, "empty file refuses all");
	PUT("\n");
	ok(auth_check(&a, "Bearer x") == PROV_UNAUTH &&
	    auth_state(&a) == AUTH_EMPTY, "newline-only file refuses all");

	memset(big, 'k', sizeof big);
	put_token(big, PROV_MAX_TOKEN + 1);
	ok(auth_check(&a, "Bearer k") == PROV_UNAUTH &&
	    auth_state(&a) == AUTH_TOOLONG, "over-long file refuses all");
	put_token(big, PROV_MAX_TOKEN);
	big[PROV_MAX_TOKEN] = '\0';
	{
		char	hdr[PROV_MAX_TOKEN + 16];

		(void)snprintf(hdr, sizeof hdr, "Bearer %s", big);
		ok(auth_check(&a, hdr) == PROV_OK,
		    "token of exactly PROV_MAX_TOKEN bytes");
	}

	ok(unlink(path) == 0 && mkdir(path, 0700) == 0, "replaced by a directory");
	ok(auth_check(&a, "Bearer r0tated") == PROV_UNAUTH &&
	    auth_state(&a) == AUTH_UNREADABLE, "a directory refuses all");
	ok(rmdir(path) == 0, "directory removed");

	PUT("back\n");
	ok(auth_check(&a, "Bearer back") == PROV_OK, "usable again");
	ok(unlink(path) == 0 && auth_check(&a, "Bearer back") == PROV_UNAUTH &&
	    auth_state(&a) == AUTH_MISSING, "file removed: refused at once");

	auth_clear(&a);
	ok(auth_state(&a) == AUTH_UNKNOWN && a.len == 0, "cleared");

	log_back(saved);
	ok(file_has(logpath, "is missing") && file_has(logpath, "is empty") &&
	    file_has(logpath, "too long"), "each unusable state was logged");
	ok(file_has(logpath, "token loaded from") &&
	    file_has(logpath, "token reloaded from"),
	    "so were the token's return and its rotation");
	ok(!file_has(logpath, "s3cret") && !file_has(logpath, "r0tated") &&
	    !file_has(logpath, "rewritten") && !file_has(logpath, "kkkk"),
	    "no token in the log");
	(void)unlink(logpath);
}

/*
 * Writes text over the token file in place (same inode) and sets its
 * mtime to sec.nsec exactly.
 */
static int
rewrite_at(const char *text, time_t sec, long nsec)
{
	struct timespec	ts[2];
	size_t		len = strlen(text);
	int		fd, rc = 0;

	ts[0].tv_sec = ts[1].tv_sec = sec;
	ts[0].tv_nsec = ts[1].tv_nsec = nsec;
	if ((fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600)) == -1)
		return -1;
	if (write(fd, text, len) != (ssize_t)len || futimens(fd, ts) == -1)
		rc = -1;
	if (close(fd) == -1)
		rc = -1;
	return rc;
}

/*
 * A same-length rewrite in place whose mtime and ctime fall in the same
 * second as the previous version's, differing only in nanoseconds, is
 * seen: the comparison must include tv_nsec. The ctime cannot be set, so
 * the step is retried in the rare case a second boundary fell between the
 * two writes.
 */
static void
test_same_second(void)
{
	struct auth	a;
	struct stat	st1, st2;
	time_t		sec;
	int		try, same = 0, seen = 0;

	for (try = 0; try < 20 && !same; try++) {
		sec = time(NULL) - 100;
		auth_init(&a, path);
		if (rewrite_at("first-token\n", sec, 100000000) == -1 ||
		    auth_check(&a, "Bearer first-token") != PROV_OK ||
		    stat(path, &st1) == -1 ||
		    rewrite_at("other-token\n", sec, 200000000) == -1 ||
		    stat(path, &st2) == -1) {
			auth_clear(&a);
			break;
		}
		same = st1.st_ino == st2.st_ino && st1.st_size == st2.st_size &&
		    st1.st_mtim.tv_sec == st2.st_mtim.tv_sec &&
		    st1.st_mtim.tv_nsec != st2.st_mtim.tv_nsec &&
		    st1.st_ctim.tv_sec == st2.st_ctim.tv_sec;
		if (same)
			seen = auth_check(&a, "Bearer other-token") == PROV_OK &&
			    auth_check(&a, "Bearer first-token") == PROV_UNAUTH;
		auth_clear(&a);
	}
	ok(same, "a same-length rewrite in place within one second of "
	    "mtime and ctime (try %d)", try);
	ok(seen, "is noticed by its nanoseconds");
	(void)unlink(path);
}

int
main(void)
{
	(void)snprintf(dir, sizeof dir, "%s/test-auth.XXXXXX",
	    getenv("TMPDIR") != NULL ? getenv("TMPDIR") : "/tmp");
	if (mkdtemp(dir) == NULL) {
		perror("mkdtemp");
		return 1;
	}
	(void)snprintf(path, sizeof path, "%s/enroll-token", dir);
	test_parse();
	test_first_load_quiet();
	test_file();
	test_same_second();
	(void)unlink(path);
	(void)rmdir(dir);
	return done_testing();
}
