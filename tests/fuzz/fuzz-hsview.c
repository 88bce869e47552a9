/*
 * fuzz-hsview.c: the parsers of "headscale nodes list -o json" and
 * "headscale preauthkeys list -o json" output, which GET /machines joins
 * with its rows.
 *
 * The same input goes to both parsers. Promised: the answer is PROV_OK,
 * PROV_ENOMEM or PROV_UPSTREAM; on anything but PROV_OK nothing is handed
 * back; on PROV_OK the array is sorted (nodes by key id then id, keys by
 * id), every id is in [1, 2^53], every address is a NUL-terminated string
 * that fits, and the same input always gives the same answer.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "err.h"
#include "hsjson.h"
#include "bounds.h"
#include "fuzz.h"

#define MAX_ID	(UINT64_C(1) << 53)

static void
nodes(const char *buf, size_t len)
{
	struct hs_node	*n = NULL, *n2 = NULL;
	size_t		 count = 99, count2 = 99, i;
	enum prov_err	 e, e2;

	e = hsjson_nodes(buf, len, &n, &count);
	FUZZ_CHECK(e == PROV_OK || e == PROV_ENOMEM || e == PROV_UPSTREAM);
	if (e != PROV_OK) {
		FUZZ_CHECK(n == NULL && count == 0);
		return;
	}
	FUZZ_CHECK((n == NULL) == (count == 0));
	for (i = 0; i < count; i++) {
		FUZZ_CHECK(n[i].id >= 1 && n[i].id <= MAX_ID);
		FUZZ_CHECK(n[i].key_id <= MAX_ID);
		FUZZ_CHECK(memchr(n[i].ipv4, '\0', sizeof n[i].ipv4) != NULL);
		FUZZ_CHECK(memchr(n[i].ipv6, '\0', sizeof n[i].ipv6) != NULL);
		FUZZ_CHECK(memchr(n[i].name, '\0', sizeof n[i].name) != NULL);
		FUZZ_CHECK(n[i].online == 0 || n[i].online == 1);
		if (i > 0)
			FUZZ_CHECK(n[i - 1].key_id < n[i].key_id ||
			    (n[i - 1].key_id == n[i].key_id &&
			    n[i - 1].id <= n[i].id));
	}
	e2 = hsjson_nodes(buf, len, &n2, &count2);
	FUZZ_CHECK(e2 == e && count2 == count &&
	    (count == 0 || memcmp(n, n2, count * sizeof *n) == 0));
	free(n);
	free(n2);
}

static void
keys(const char *buf, size_t len)
{
	struct hs_keyinfo	*k = NULL;
	size_t			 count = 99, i;
	enum prov_err		 e;

	e = hsjson_keys(buf, len, &k, &count);
	FUZZ_CHECK(e == PROV_OK || e == PROV_ENOMEM || e == PROV_UPSTREAM);
	if (e != PROV_OK) {
		FUZZ_CHECK(k == NULL && count == 0);
		return;
	}
	for (i = 0; i < count; i++) {
		FUZZ_CHECK(k[i].id >= 1 && k[i].id <= MAX_ID);
		FUZZ_CHECK(k[i].used == 0 || k[i].used == 1);
		if (i > 0)
			FUZZ_CHECK(k[i - 1].id <= k[i].id);
	}
	free(k);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char	*buf;

	if (size > PROV_MAX_CLI_OUTPUT)
		return 0;
	buf = fuzz_copy(data, size);
	nodes(buf, size);
	keys(buf, size);
	free(buf);
	return 0;
}
