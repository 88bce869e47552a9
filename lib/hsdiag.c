/*
 * hsdiag.c: the error text of a failed headscale CLI run, for the log.
 *
 * What headscale 0.28.0 prints on failure (cmd/headscale/cli/utils.go,
 * read at v0.28.0): ErrorOutput() writes {"error": "<message>"} to stderr
 * with -o json and exits 1; a CLI that cannot reach or start talking to
 * the server logs one zerolog line at FTL level ("<time> FTL <caller> >
 * <message> error=...") and exits 1; cobra's own errors are plain
 * "Error: <message>". Log lines of lower levels may come first.
 *
 * stderr is free text and could, in principle, repeat a secret, so what
 * is kept is one short line with anything key-shaped taken out.
 */
#include "config.h"

#include <json-c/json.h>

#include <string.h>

#include "hsdiag.h"

/* The text of the "error" member of the first JSON object in err. */
static int
json_error(const char *err, size_t len, char *dst, size_t dstlen)
{
	struct json_tokener	*tok;
	struct json_object	*obj, *v;
	const char		*p;
	int			 found = 0;

	for (p = err; (p = memchr(p, '{', len - (size_t)(p - err))) != NULL;
	    p++) {
		/* The document starts a line. */
		if (p != err && p[-1] != '\n')
			continue;
		if ((tok = json_tokener_new()) == NULL)
			return 0;
		obj = json_tokener_parse_ex(tok, p, (int)(len - (size_t)(p -
		    err)));
		json_tokener_free(tok);
		if (obj != NULL && json_object_is_type(obj, json_type_object) &&
		    json_object_object_get_ex(obj, "error", &v) &&
		    json_object_is_type(v, json_type_string)) {
			(void)strncpy(dst, json_object_get_string(v),
			    dstlen - 1);
			dst[dstlen - 1] = '\0';
			found = 1;
		}
		json_object_put(obj);
		if (found)
			return 1;
	}
	return 0;
}

/*
 * Copies the rest of the first line holding marker, from just after it
 * (or after "> " following it, which ends zerolog's caller field).
 */
static int
line_after(const char *err, size_t len, const char *marker, char *dst,
    size_t dstlen)
{
	const char	*p, *end, *e = err + len;
	size_t		 mlen = strlen(marker), n;

	for (p = err; p < e; p = end + 1) {
		if ((end = memchr(p, '\n', (size_t)(e - p))) == NULL)
			end = e;
		for (const char *q = p; q + mlen <= end; q++) {
			if (memcmp(q, marker, mlen) != 0)
				continue;
			q += mlen;
			for (const char *c = q; c + 2 <= end; c++)
				if (c[0] == '>' && c[1] == ' ') {
					q = c + 2;
					break;
				}
			n = (size_t)(end - q);
			if (n >= dstlen)
				n = dstlen - 1;
			memcpy(dst, q, n);
			dst[n] = '\0';
			return 1;
		}
	}
	return 0;
}

/* The last line with anything on it. */
static void
last_line(const char *err, size_t len, char *dst, size_t dstlen)
{
	const char	*end = err + len, *start;
	size_t		 n;

	while (end > err && (end[-1] == '\n' || end[-1] == '\r' ||
	    end[-1] == ' '))
		end--;
	for (start = end; start > err && start[-1] != '\n'; start--)
		continue;
	n = (size_t)(end - start);
	if (n >= dstlen)
		n = dstlen - 1;
	memcpy(dst, start, n);
	dst[n] = '\0';
}

static int
wordch(unsigned char c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') ||
	    (c >= 'A' && c <= 'Z') || c == '-' || c == '_' || c == '+' ||
	    c == '=' || c == '/';
}

/* Cleans raw into dst as hsdiag_summary() describes. */
static void
clean(const char *raw, char *dst, size_t dstlen)
{
	static const char	 hidden[] = "[...]";
	size_t			 i, j, n = 0, max;
	const char		*w;

	max = dstlen - 1 < HSDIAG_MAX ? dstlen - 1 : HSDIAG_MAX;
	for (i = 0; raw[i] != '\0' && n < max; ) {
		unsigned char c = (unsigned char)raw[i];

		if (wordch(c)) {
			for (j = i; wordch((unsigned char)raw[j]); j++)
				continue;
			w = raw + i;
			if (j - i >= 20 || memmem(w, j - i, "hskey", 5) != NULL) {
				for (size_t k = 0; hidden[k] != '\0' && n < max;
				    k++)
					dst[n++] = hidden[k];
			} else
				for (; i < j && n < max; i++)
					dst[n++] = raw[i];
			i = j;
			continue;
		}
		i++;
		if (c < 0x20 || c == 0x7f) {
			/* Tabs and newlines separate words; the rest goes. */
			if (c == '\t' || c == '\n' || c == '\r')
				c = ' ';
			else
				continue;
		}
		if (c >= 0x80)
			c = '?';
		if (c == ' ' && (n == 0 || dst[n - 1] == ' '))
			continue;
		dst[n++] = (char)c;
	}
	while (n > 0 && dst[n - 1] == ' ')
		n--;
	dst[n] = '\0';
}

void
hsdiag_summary(const char *err, size_t len, char *dst, size_t dstlen)
{
	char	raw[512];

	if (dstlen == 0)
		return;
	dst[0] = '\0';
	raw[0] = '\0';
	if (err == NULL || len == 0)
		return;
	if (!json_error(err, len, raw, sizeof(raw)) &&
	    !line_after(err, len, " FTL ", raw, sizeof(raw)) &&
	    !line_after(err, len, "Error: ", raw, sizeof(raw)))
		last_line(err, len, raw, sizeof(raw));
	clean(raw, dst, dstlen);
	explicit_bzero(raw, sizeof(raw));
}
