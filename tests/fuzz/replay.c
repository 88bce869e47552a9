/*
 * replay.c: runs a fuzz target over files instead of under libFuzzer, so
 * an ordinary build (gcc, the sanitizer build, valgrind) keeps checking the
 * seed corpus and any input a fuzzer once found.
 *
 *	fuzz-NAME		every file in $TOP_SRCDIR/tests/fuzz/corpus/NAME,
 *				as one TAP case (what "make check" runs)
 *	fuzz-NAME FILE|DIR...	those files, or the files in those
 *				directories: to reproduce a crash
 *
 * A target that crashes or breaks a promise aborts, which the harness
 * reports as an error; an empty or missing corpus is a failure, so the
 * case cannot pass by finding nothing to run.
 */
#include "config.h"

#include <sys/stat.h>

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"

/* Largest input replayed: the biggest any target reads, plus one. */
#define REPLAY_MAX	(1024 * 1024 + 1)

/* Not every target needs setup; a weak reference is NULL without one. */
int	LLVMFuzzerInitialize(int *argc, char ***argv) __attribute__((weak));

/* Feeds one file to the target. Returns 0, or -1 when it cannot be read. */
static int
replay_file(const char *path)
{
	FILE	*f;
	uint8_t	*buf;
	size_t	 n;

	if ((f = fopen(path, "rb")) == NULL) {
		fprintf(stderr, "%s: %s\n", path, strerror(errno));
		return -1;
	}
	if ((buf = malloc(REPLAY_MAX)) == NULL)
		abort();
	n = fread(buf, 1, REPLAY_MAX, f);
	if (ferror(f)) {
		fprintf(stderr, "%s: read error\n", path);
		fclose(f);
		free(buf);
		return -1;
	}
	fclose(f);
	/* An exact-size copy, so reads past the end are caught. */
	if (n < REPLAY_MAX) {
		uint8_t	*exact = malloc(n > 0 ? n : 1);

		if (exact == NULL)
			abort();
		memcpy(exact, buf, n);
		free(buf);
		buf = exact;
	}
	(void)LLVMFuzzerTestOneInput(buf, n);
	free(buf);
	return 0;
}

/*
 * Feeds path to the target, or every regular file in it when it is a
 * directory. Adds the number of inputs run to *count. Returns 0 or -1.
 */
static int
replay_path(const char *path, unsigned long *count)
{
	struct stat	 st;
	struct dirent	*de;
	DIR		*d;
	char		 p[PATH_MAX];
	int		 rc = 0;

	if (stat(path, &st) == -1) {
		fprintf(stderr, "%s: %s\n", path, strerror(errno));
		return -1;
	}
	if (!S_ISDIR(st.st_mode)) {
		if (replay_file(path) == -1)
			return -1;
		(*count)++;
		return 0;
	}
	if ((d = opendir(path)) == NULL) {
		fprintf(stderr, "%s: %s\n", path, strerror(errno));
		return -1;
	}
	while (rc == 0 && (de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.')
			continue;
		if ((size_t)snprintf(p, sizeof p, "%s/%s", path, de->d_name) >=
		    sizeof p || stat(p, &st) == -1) {
			rc = -1;
			break;
		}
		if (!S_ISREG(st.st_mode))
			continue;
		if (replay_file(p) == -1)
			rc = -1;
		else
			(*count)++;
	}
	closedir(d);
	return rc;
}

int
main(int argc, char *argv[])
{
	char		 dir[PATH_MAX];
	const char	*name, *top;
	unsigned long	 count = 0;
	int		 i, rc = 0;

	if (LLVMFuzzerInitialize != NULL)
		(void)LLVMFuzzerInitialize(&argc, &argv);

	if (argc > 1) {
		for (i = 1; i < argc && rc == 0; i++)
			rc = replay_path(argv[i], &count);
		printf("%lu inputs replayed\n", count);
		return rc == 0 ? 0 : 1;
	}

	/* "tests/fuzz/fuzz-users" replays tests/fuzz/corpus/users. */
	name = strrchr(argv[0], '/');
	name = name != NULL ? name + 1 : argv[0];
	if (strncmp(name, "fuzz-", 5) == 0)
		name += 5;
	if ((top = getenv("TOP_SRCDIR")) == NULL)
		top = ".";
	if ((size_t)snprintf(dir, sizeof dir, "%s/tests/fuzz/corpus/%s", top,
	    name) >= sizeof dir)
		rc = -1;
	else
		rc = replay_path(dir, &count);
	printf("%s 1 - corpus/%s: %lu inputs, no crash, no broken promise\n",
	    rc == 0 && count > 0 ? "ok" : "not ok", name, count);
	printf("1..1\n");
	return rc == 0 && count > 0 ? 0 : 1;
}
