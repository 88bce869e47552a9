/*
 * validate.h: pure validators for the few values that come from outside:
 * what a client registers (hostname, MAC address) and what the operator
 * configures (headscale user name, key expiry, login server URL).
 *
 * Every validator sees a byte string with its length, so an embedded NUL is
 * just another byte to reject. Each returns 1 when the value is acceptable
 * and 0 when it is not; none allocates or keeps state, so all are safe to
 * fuzz.
 */
#ifndef PROV_VALIDATE_H
#define PROV_VALIDATE_H

#include <stddef.h>

/* Length of a MAC address in its normal form "aa:bb:cc:dd:ee:ff". */
#define VALIDATE_MAC_LEN	17

/*
 * A DNS label (RFC 1035 section 2.3.1, as tailscale takes --hostname):
 * 1 to PROV_MAX_HOSTNAME letters, digits and '-', not starting or ending
 * with '-'. Case is kept as given.
 */
int	validate_hostname(const char *s, size_t len);

/*
 * Six hex octets separated all by ':' or all by '-', in either case. On
 * success writes the lower-case, colon-separated form and a NUL into out
 * (VALIDATE_MAC_LEN + 1 bytes); out is untouched otherwise.
 */
int	validate_mac(const char *s, size_t len, char *out);

/*
 * A MAC as a registration may give it: what validate_mac() accepts, or one
 * the client could not tell, which is written as "" into out. A client
 * cannot tell when the member is absent (s NULL), empty, or exactly
 * "unknown": the ISOs built for the Flask provisioner send that, their
 * MAC pipeline needing an awk they do not carry. Anything else is refused.
 */
int	validate_reg_mac(const char *s, size_t len, char *out);

/*
 * A headscale user name we are willing to put on a command line: 1 to 63
 * letters, digits, '.', '_' or '-', starting with a letter or digit (so it
 * can never be read as an option).
 */
int	validate_name(const char *s, size_t len);

/*
 * A key lifetime in the syntax headscale's -e/--expiration accepts: whole
 * numbers each followed by a unit, units from largest to smallest and each
 * at most once, out of y, w, d, h, m, s and ms ("1h", "1d12h", "90m").
 * No fractions, signs or spaces. Zero and lifetimes headscale would
 * overflow on (over 2^63 ns) are refused.
 */
int	validate_duration(const char *s, size_t len);

/*
 * A login server URL handed to clients: "http://" or "https://", then at
 * least a host, in printable ASCII without spaces.
 */
int	validate_url(const char *s, size_t len);

#endif /* PROV_VALIDATE_H */
