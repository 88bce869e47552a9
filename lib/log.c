/*
 * log.c: formatting and writing log lines.
 *
 * Each line is built in full, cleaned, and handed to one write(2), so lines
 * from several workers sharing a journal stream never interleave. Logging
 * must not fail a request: errors writing to stderr are ignored.
 */
#include "config.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "bounds.h"
#include "log.h"

static const char	*log_prog = "sovran-provisioner";

void
log_init(const char *prog)
{
	if (prog != NULL && *prog != '\0')
		log_prog = prog;
}

size_t
log_clean(char *dst, size_t dstlen, const char *src)
{
	size_t	i;

	if (dstlen == 0)
		return 0;
	for (i = 0; src != NULL && src[i] != '\0' && i + 1 < dstlen; i++) {
		unsigned char c = (unsigned char)src[i];

		dst[i] = (c >= 0x20 && c < 0x7f) ? (char)c : '?';
	}
	dst[i] = '\0';
	return i;
}

/* Cleans line in place (it may already be cut) and writes it with '\n'. */
static void
log_write(char *line)
{
	char	out[PROV_MAX_LOG_LINE + 1];
	size_t	len, off;
	ssize_t	n;

	len = log_clean(out, sizeof out - 1, line);
	out[len++] = '\n';
	for (off = 0; off < len; off += (size_t)n) {
		n = write(STDERR_FILENO, out + off, len - off);
		if (n < 0 && errno == EINTR) {
			n = 0;
			continue;
		}
		if (n <= 0)
			return;
	}
}

void
log_vmsg(const char *fmt, va_list ap)
{
	char	line[PROV_MAX_LOG_LINE];
	int	n;
	int	saved = errno;

	n = snprintf(line, sizeof line, "%s: ", log_prog);
	if (n < 0 || (size_t)n >= sizeof line)
		n = 0;
	(void)vsnprintf(line + n, sizeof line - (size_t)n, fmt, ap);
	log_write(line);
	errno = saved;
}

void
log_msg(const char *fmt, ...)
{
	va_list	ap;

	va_start(ap, fmt);
	log_vmsg(fmt, ap);
	va_end(ap);
}

void
log_request(const char *endpoint, const char *addr, int status, long ms,
    const char *why)
{
	char	line[PROV_MAX_LOG_LINE];
	int	saved = errno;

	(void)snprintf(line, sizeof line, "%s %s %d %ldms%s%s", endpoint,
	    addr != NULL && *addr != '\0' ? addr : "unknown", status, ms,
	    why != NULL && *why != '\0' ? " " : "", why != NULL ? why : "");
	log_write(line);
	errno = saved;
}
