/*
 * fuzz-preauthkey.c: the parser of "headscale preauthkeys create -o json"
 * output, the one place a secret comes into the programs.
 *
 * The input is what the CLI printed, as hs_run() hands it over. Promised:
 * PROV_OK or PROV_UPSTREAM; an accepted key is 1..PROV_MAX_KEY printable,
 * space-free ASCII bytes, NUL-terminated, with an id in [1, 2^53] and an
 * expiry after the epoch (so it is safe to return and to put on a command
 * line); a refusal leaves the whole struct zeroed, so no half-read key
 * lingers.
 */
#include "config.h"

#include <limits.h>
#include <string.h>

#include "err.h"
#include "hsjson.h"
#include "bounds.h"
#include "fuzz.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const struct hs_key	 zero;
	struct hs_key			 k;
	char				*buf;
	size_t				 i, len;
	enum prov_err			 e;

	if (size > PROV_MAX_CLI_OUTPUT)
		return 0;
	buf = fuzz_copy(data, size);
	memset(&k, 0x5a, sizeof k);
	e = hsjson_preauthkey(buf, size, &k);
	FUZZ_CHECK(e == PROV_OK || e == PROV_UPSTREAM);
	if (e == PROV_OK) {
		len = strnlen(k.key, sizeof k.key);
		FUZZ_CHECK(len >= 1 && len <= PROV_MAX_KEY);
		for (i = 0; i < len; i++)
			FUZZ_CHECK(k.key[i] > ' ' && k.key[i] <= '~');
		FUZZ_CHECK(k.id >= 1 && k.id <= (UINT64_C(1) << 53));
		FUZZ_CHECK(k.expires_at > 0);
	} else
		FUZZ_CHECK(memcmp(&k, &zero, sizeof k) == 0);
	explicit_bzero(&k, sizeof k);
	free(buf);
	return 0;
}
