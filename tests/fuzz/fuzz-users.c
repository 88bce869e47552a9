/*
 * fuzz-users.c: the parser of "headscale users list -o json" output.
 *
 * The input is what the CLI printed, as hs_run() hands it over (a
 * NUL-terminated buffer and its length; at most PROV_MAX_CLI_OUTPUT). Two
 * names are looked up, one that the seeds hold and one that they do not.
 * Promised: the answer is PROV_OK or PROV_UPSTREAM; a found id lies in
 * [1, 2^53]; a refusal reports nothing found and id 0; and the same input
 * always gives the same answer.
 */
#include "config.h"

#include <limits.h>
#include <string.h>

#include "err.h"
#include "hsjson.h"
#include "bounds.h"
#include "fuzz.h"

static void
lookup(const char *buf, size_t len, const char *name)
{
	uint64_t	id = 99, id2 = 99;
	int		found = 7, found2 = 7;
	enum prov_err	e, e2;

	e = hsjson_user_id(buf, len, name, &id, &found);
	FUZZ_CHECK(e == PROV_OK || e == PROV_UPSTREAM);
	FUZZ_CHECK(found == 0 || found == 1);
	if (e != PROV_OK || !found)
		FUZZ_CHECK(id == 0 && found == 0);
	else
		FUZZ_CHECK(id >= 1 && id <= (UINT64_C(1) << 53));

	e2 = hsjson_user_id(buf, len, name, &id2, &found2);
	FUZZ_CHECK(e2 == e && id2 == id && found2 == found);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char	*buf;

	if (size > PROV_MAX_CLI_OUTPUT)
		return 0;
	buf = fuzz_copy(data, size);
	lookup(buf, size, "sovran-deploy");
	lookup(buf, size, "admin");
	free(buf);
	return 0;
}
