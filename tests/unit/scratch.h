/*
 * scratch.h: the temporary directory a unit test works in, and small file
 * checks the tests share. Header-only, like tap.h; every function is
 * static and may go unused in a given test.
 */
#ifndef PROV_SCRATCH_H
#define PROV_SCRATCH_H

#include <sys/stat.h>

#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SCRATCH_UNUSED	__attribute__((unused))

static char	scratch_dir[256];

/* Makes $TMPDIR/prov-test-<tag>.XXXXXX; -1 (and a TAP bail-out) on failure. */
static SCRATCH_UNUSED int
scratch_make(const char *tag)
{
	const char	*tmp = getenv("TMPDIR");

	(void)snprintf(scratch_dir, sizeof(scratch_dir),
	    "%s/prov-test-%s.XXXXXX", tmp != NULL && *tmp != '\0' ? tmp :
	    "/tmp", tag);
	if (mkdtemp(scratch_dir) == NULL) {
		printf("Bail out! cannot make a temporary directory\n");
		return -1;
	}
	return 0;
}

/* The path of name inside the scratch directory. */
static SCRATCH_UNUSED void
scratch_path(char *buf, size_t len, const char *name)
{
	(void)snprintf(buf, len, "%s/%s", scratch_dir, name);
}

static int
scratch_rm_one(const char *p, const struct stat *st, int flag,
    struct FTW *ftw)
{
	return remove(p);
}

/* Removes the scratch directory and everything in it. */
static SCRATCH_UNUSED void
scratch_remove(void)
{
	(void)nftw(scratch_dir, scratch_rm_one, 8, FTW_DEPTH | FTW_PHYS);
}

/* Whether the first 64 KiB of file p contain needle. */
static SCRATCH_UNUSED int
file_has(const char *p, const char *needle)
{
	static char	buf[65536];
	size_t		n;
	FILE		*f;

	if ((f = fopen(p, "r")) == NULL)
		return 0;
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	return strstr(buf, needle) != NULL;
}

#endif /* PROV_SCRATCH_H */
