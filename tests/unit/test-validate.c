/*
 * test-validate.c: the validators on edge cases: lengths at and past the
 * limits, embedded NUL, UTF-8, shell metacharacters, separators, case, and
 * the normal form of MAC addresses.
 */
#include "config.h"

#include <string.h>

#include "bounds.h"
#include "tap.h"
#include "validate.h"

/* Validates a C string (no embedded NUL). */
#define HOST(s)		validate_hostname((s), strlen(s))
#define NAME(s)		validate_name((s), strlen(s))
#define DUR(s)		validate_duration((s), strlen(s))
#define URL(s)		validate_url((s), strlen(s))

static void
test_hostname(void)
{
	char	long63[PROV_MAX_HOSTNAME + 2];

	ok(HOST("a"), "one letter");
	ok(HOST("sovran-deploy-0123456789abcdef"), "the ISO's generated name");
	ok(HOST("Node-7"), "upper case and digits");
	ok(HOST("7"), "a lone digit");
	ok(!HOST(""), "empty");
	ok(!HOST("-a"), "leading '-'");
	ok(!HOST("a-"), "trailing '-'");
	ok(!HOST("-"), "just '-'");
	ok(!HOST("a_b"), "underscore");
	ok(!HOST("a.b"), "dot (a name, not a label)");
	ok(!HOST("a b"), "space");
	ok(!HOST("a;rm -rf /"), "shell metacharacters");
	ok(!HOST("$(id)"), "command substitution");
	ok(!HOST("a\n"), "newline");
	ok(!HOST("h\xc3\xa9llo"), "UTF-8 letter");
	ok(!validate_hostname("ab\0c", 4), "embedded NUL");
	ok(!validate_hostname(NULL, 0), "NULL");

	memset(long63, 'a', sizeof long63);
	ok(validate_hostname(long63, PROV_MAX_HOSTNAME), "63 bytes");
	ok(!validate_hostname(long63, PROV_MAX_HOSTNAME + 1), "64 bytes");
}

static void
test_mac(void)
{
	char	out[VALIDATE_MAC_LEN + 1];

	ok(validate_mac("aa:bb:cc:dd:ee:ff", 17, out) &&
	    strcmp(out, "aa:bb:cc:dd:ee:ff") == 0, "lower-case colons kept");
	ok(validate_mac("AA-BB-CC-DD-EE-0F", 17, out) &&
	    strcmp(out, "aa:bb:cc:dd:ee:0f") == 0, "dashes and upper case normalised");
	ok(validate_mac("0a:1B:2c:3D:4e:5F", 17, out) &&
	    strcmp(out, "0a:1b:2c:3d:4e:5f") == 0, "mixed case normalised");

	strcpy(out, "untouched");
	ok(!validate_mac("aa:bb-cc:dd:ee:ff", 17, out), "mixed separators");
	ok(strcmp(out, "untouched") == 0, "output untouched on failure");
	ok(!validate_mac("aa:bb:cc:dd:ee", 14, out), "five octets");
	ok(!validate_mac("aa:bb:cc:dd:ee:ff:", 18, out), "trailing separator");
	ok(!validate_mac("aa:bb:cc:dd:ee:ff:00", 20, out), "seven octets");
	ok(!validate_mac("aabb.ccdd.eeff", 14, out), "Cisco dots");
	ok(!validate_mac("aabbccddeeff", 12, out), "no separators");
	ok(!validate_mac("gg:bb:cc:dd:ee:ff", 17, out), "not hex");
	ok(!validate_mac("GG:bb:cc:dd:ee:ff", 17, out),
	    "upper-case non-hex in the first octet");
	ok(!validate_mac("aa:bb:cc:dd:ee:ZZ", 17, out),
	    "upper-case non-hex in the last octet");
	ok(!validate_mac("aa:bb:cc:dd:ee:fG", 17, out) &&
	    !validate_mac("aa-bb-Gc-dd-ee-ff", 17, out),
	    "'G', the first upper-case letter past 'F', in any digit");
	ok(!validate_mac("aa:bb:cc:dd:ee:f@", 17, out) &&
	    !validate_mac("aa:bb:cc:dd:ee:f`", 17, out) &&
	    !validate_mac("aa:bb:cc:dd:ee:f/", 17, out) &&
	    !validate_mac("aa:bb:cc:dd:ee:f:", 17, out),
	    "the bytes just before 'A', 'a' and '0', and ':' as a digit");
	ok(!validate_mac("aa bb cc dd ee ff", 17, out), "spaces");
	ok(!validate_mac("a:bb:cc:dd:ee:fff", 17, out), "misplaced separator");
	ok(!validate_mac("aa:bb:cc:dd:ee:f\0", 17, out), "embedded NUL");
	ok(!validate_mac("", 0, out), "empty");
	ok(!validate_mac("aa;bb;cc;dd;ee;ff", 17, out), "shell separators");

	strcpy(out, "x");
	ok(validate_reg_mac("unknown", 7, out) && out[0] == '\0',
	    "registration: \"unknown\" is unknown");
	strcpy(out, "x");
	ok(validate_reg_mac("", 0, out) && out[0] == '\0',
	    "registration: empty is unknown");
	strcpy(out, "x");
	ok(validate_reg_mac(NULL, 0, out) && out[0] == '\0',
	    "registration: absent is unknown");
	ok(validate_reg_mac("AA-BB-CC-DD-EE-0F", 17, out) &&
	    strcmp(out, "aa:bb:cc:dd:ee:0f") == 0, "registration: a MAC");
	ok(!validate_reg_mac("unknown\0", 8, out), "registration: "
	    "\"unknown\" and a NUL");
	ok(!validate_reg_mac("UNKNOWN", 7, out), "registration: \"UNKNOWN\"");
	ok(!validate_reg_mac("unknow", 6, out), "registration: \"unknow\"");
	ok(!validate_reg_mac("aa:bb:cc:dd:ee", 14, out),
	    "registration: a bad MAC");
}

static void
test_name(void)
{
	ok(NAME("sovran-deploy"), "default user");
	ok(NAME("ops.team_1"), "dots and underscores");
	ok(!NAME("-rf"), "leading '-' (an option)");
	ok(!NAME(".hidden"), "leading dot");
	ok(!NAME(""), "empty");
	ok(!NAME("a b"), "space");
	ok(!NAME("a@b"), "at sign");
	ok(NAME("a23456789012345678901234567890123456789012345678901234567890123"),
	    "63 bytes");
	ok(!NAME("a234567890123456789012345678901234567890123456789012345678901234"),
	    "64 bytes");
}

static void
test_duration(void)
{
	ok(DUR("1h"), "1h");
	ok(DUR("30m"), "30m");
	ok(DUR("1d12h"), "compound, largest first");
	ok(DUR("1y2w3d4h5m6s7ms"), "every unit once");
	ok(DUR("500ms"), "milliseconds");
	ok(DUR("1m500ms"), "m then ms");
	ok(DUR("290y"), "290 years fits in int64 nanoseconds");
	ok(!DUR("300y"), "300 years overflows");
	ok(!DUR("99999999999999999999s"), "huge number");
	ok(!DUR("0"), "zero");
	ok(!DUR("0h"), "zero hours");
	ok(!DUR(""), "empty");
	ok(!DUR("1"), "no unit");
	ok(!DUR("h"), "no number");
	ok(!DUR("1.5h"), "fraction");
	ok(!DUR("-1h"), "negative");
	ok(!DUR("+1h"), "sign");
	ok(!DUR("1m1h"), "smaller unit first");
	ok(!DUR("1h1h"), "unit twice");
	ok(!DUR("1ms1s"), "ms before s");
	ok(!DUR("1H"), "upper-case unit");
	ok(!DUR(" 1h"), "leading space");
	ok(!DUR("1h "), "trailing space");
	ok(!DUR("1x"), "unknown unit");
	ok(!validate_duration("1h\0", 3), "embedded NUL");
}

static void
test_url(void)
{
	ok(URL("https://hs.example.com"), "https host");
	ok(URL("http://127.0.0.1:8080/"), "http with port and path");
	ok(!URL("https://"), "scheme only");
	ok(!URL("https:///path"), "no host");
	ok(!URL("ftp://hs.example.com"), "other scheme");
	ok(!URL("hs.example.com"), "no scheme");
	ok(!URL("HTTPS://hs.example.com"), "upper-case scheme");
	ok(!URL("https://hs.example.com x"), "space");
	ok(!URL("https://hs.example.com\n"), "newline");
	ok(!URL("https://h\xc3\xa9.example.com"), "non-ASCII");
	ok(!validate_url("https://a\0b", 11), "embedded NUL");
}

int
main(void)
{
	test_hostname();
	test_mac();
	test_name();
	test_duration();
	test_url();
	return done_testing();
}
