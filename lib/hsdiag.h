/*
 * hsdiag.h: what headscale said when it failed, made fit for a log line.
 */
#ifndef PROV_HSDIAG_H
#define PROV_HSDIAG_H

#include <stddef.h>

/* Longest summary kept, without the NUL: short enough for a reason. */
#define HSDIAG_MAX	72

/*
 * Summarises the CLI's stderr (len bytes, not NUL-terminated) in dst
 * (dstlen bytes, at most HSDIAG_MAX + 1 used): the "error" member of its
 * JSON error document, else the message of its FTL line, else cobra's
 * "Error: " line, else its last non-empty line. One line of printable
 * ASCII: control characters dropped, other bytes as '?', runs of spaces
 * squeezed, cut to HSDIAG_MAX bytes, and every word that could be a key
 * or token (20 or more letters, digits, '-', '_', '+', '=' or '/') or
 * mentions "hskey" replaced by "[...]". Empty when there is nothing.
 */
void	hsdiag_summary(const char *err, size_t len, char *dst, size_t dstlen);

#endif /* PROV_HSDIAG_H */
