/*
 * log.h: the programs' only output besides responses: one line per request,
 * and the few messages about starting, stopping and configuration, all to
 * stderr (the journal under systemd).
 *
 * Nothing logged ever holds a token, a key, a request body or a raw header
 * value; every line is cleaned of control characters first, so input can
 * never forge or split a line.
 */
#ifndef PROV_LOG_H
#define PROV_LOG_H

#include <stdarg.h>
#include <stddef.h>

/* Names the program in messages ("register: ..."); call once, early. */
void	log_init(const char *prog);

/* One message line, "<prog>: <text>", cleaned as above. */
void	log_msg(const char *fmt, ...)
	    __attribute__((format(printf, 1, 2)));

/* log_msg for callers that already hold a va_list (fatal-error helpers). */
void	log_vmsg(const char *fmt, va_list ap)
	    __attribute__((format(printf, 1, 0)));

/*
 * The request line: "<endpoint> <addr> <status> <ms>ms", followed by
 * " <why>" when why is non-empty (the short reason of a 5xx).
 */
void	log_request(const char *endpoint, const char *addr, int status,
	    long ms, const char *why);

/*
 * Copies src into dst (dstlen bytes, NUL-terminated) with every byte that
 * is not printable ASCII replaced by '?'. Returns the length written.
 */
size_t	log_clean(char *dst, size_t dstlen, const char *src);

#endif /* PROV_LOG_H */
