/*
 * fuzz.h: what the fuzz targets share.
 *
 * Each target is one LLVMFuzzerTestOneInput(). Built with --enable-fuzzing
 * it links against libFuzzer, which calls it with generated inputs; in an
 * ordinary build it links against replay.c, which feeds it the seed corpus
 * under "make check", so every build keeps the corpus passing.
 *
 * A target does more than call a parser and hope for a crash: FUZZ_CHECK
 * states what the parser promises in its header (an accepted value is
 * well formed, a refusal leaves nothing behind) and aborts when a promise
 * is broken, which libFuzzer reports and keeps like any crash.
 */
#ifndef PROV_FUZZ_H
#define PROV_FUZZ_H

#include <limits.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

/* Called once per input; returns 0. */
int	LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Optional one-time setup, called before the first input. */
int	LLVMFuzzerInitialize(int *argc, char ***argv);

#define FUZZ_CHECK(expr) do {						\
	if (!(expr)) {							\
		fprintf(stderr, "%s:%d: broken promise: %s\n",		\
		    __FILE__, __LINE__, #expr);				\
		abort();						\
	}								\
} while (0)

/*
 * A NUL-terminated heap copy of data, as the programs hold their input
 * (a request body, headscale's output). Exactly size + 1 bytes, so the
 * sanitizer sees any read past the end. Aborts when out of memory.
 */
static inline char *
fuzz_copy(const uint8_t *data, size_t size)
{
	char	*p;
	size_t	 i;

	if ((p = malloc(size + 1)) == NULL)
		abort();
	for (i = 0; i < size; i++)
		p[i] = (char)data[i];
	p[size] = '\0';
	return p;
}

/* The enrollment token the targets that check tokens put in their file. */
#define FUZZ_TOKEN \
	"3f1c0a9e8d7b6a5f4e3d2c1b0a99887766554433221100ffeeddccbbaa998877"

/* Where fuzz_token_file() put it; unused by targets that need no token. */
static char	fuzz_tokdir[PATH_MAX] __attribute__((unused));
static char	fuzz_tokpath[PATH_MAX] __attribute__((unused));

static inline void
fuzz_token_cleanup(void)
{
	(void)unlink(fuzz_tokpath);
	(void)rmdir(fuzz_tokdir);
}

/*
 * Writes FUZZ_TOKEN, as the bootstrap would, to a token file in a new
 * directory under $TMPDIR (removed at exit) and returns its path. Aborts
 * when it cannot: a target without its file would test nothing.
 */
static inline const char *
fuzz_token_file(void)
{
	const char	*tmp = getenv("TMPDIR");
	FILE		*f;

	if (tmp == NULL || *tmp == '\0')
		tmp = "/tmp";
	if ((size_t)snprintf(fuzz_tokdir, sizeof fuzz_tokdir,
	    "%s/prov-fuzz.XXXXXX", tmp) >= sizeof fuzz_tokdir ||
	    mkdtemp(fuzz_tokdir) == NULL ||
	    (size_t)snprintf(fuzz_tokpath, sizeof fuzz_tokpath,
	    "%s/enroll-token", fuzz_tokdir) >= sizeof fuzz_tokpath)
		abort();
	if ((f = fopen(fuzz_tokpath, "w")) == NULL ||
	    fputs(FUZZ_TOKEN "\n", f) == EOF || fclose(f) == EOF)
		abort();
	atexit(fuzz_token_cleanup);
	return fuzz_tokpath;
}

#endif /* PROV_FUZZ_H */
