/*
 * gojson.c: a fixed-format JSON printer matching Go's encoding/json.
 *
 * json-c's own printer differs from Go in spacing, in escaping ("/" and
 * the HTML characters) and in empty containers, and clients of headscale
 * see Go's bytes, so the stand-in prints through this instead. Only the
 * value kinds headscale emits are handled: objects, arrays, strings,
 * integers, booleans and null.
 */
#include "config.h"

#include <stdint.h>
#include <string.h>

#include "gojson.h"

/*
 * Length of the valid UTF-8 sequence at s (at most len bytes), with its
 * code point in *cp; 0 when the bytes are not valid UTF-8 (overlong forms,
 * surrogates and values above U+10FFFF included), as Go decides.
 */
static size_t
utf8_seq(const unsigned char *s, size_t len, uint32_t *cp)
{
	unsigned char	lo = 0x80, hi = 0xbf;
	size_t		n, i;

	if (s[0] >= 0xc2 && s[0] <= 0xdf) {
		n = 2;
		*cp = s[0] & 0x1f;
	} else if (s[0] >= 0xe0 && s[0] <= 0xef) {
		n = 3;
		*cp = s[0] & 0x0f;
		if (s[0] == 0xe0)
			lo = 0xa0;
		else if (s[0] == 0xed)
			hi = 0x9f;
	} else if (s[0] >= 0xf0 && s[0] <= 0xf4) {
		n = 4;
		*cp = s[0] & 0x07;
		if (s[0] == 0xf0)
			lo = 0x90;
		else if (s[0] == 0xf4)
			hi = 0x8f;
	} else
		return 0;
	if (len < n || s[1] < lo || s[1] > hi)
		return 0;
	for (i = 1; i < n; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		*cp = (*cp << 6) | (s[i] & 0x3f);
	}
	return n;
}

static void
put_string(FILE *f, const char *str, size_t len)
{
	const unsigned char	*s = (const unsigned char *)str;
	size_t			 i = 0, n;
	uint32_t		 cp;

	putc('"', f);
	while (i < len) {
		if (s[i] < 0x80) {
			switch (s[i]) {
			case '"':
				fputs("\\\"", f);
				break;
			case '\\':
				fputs("\\\\", f);
				break;
			case '\n':
				fputs("\\n", f);
				break;
			case '\r':
				fputs("\\r", f);
				break;
			case '\t':
				fputs("\\t", f);
				break;
			case '\b':
				fputs("\\b", f);
				break;
			case '\f':
				fputs("\\f", f);
				break;
			case '<':
			case '>':
			case '&':
				fprintf(f, "\\u%04x", s[i]);
				break;
			default:
				if (s[i] < 0x20)
					fprintf(f, "\\u%04x", s[i]);
				else
					putc(s[i], f);
			}
			i++;
			continue;
		}
		n = utf8_seq(s + i, len - i, &cp);
		if (n == 0) {
			fputs("\\ufffd", f);
			i++;
		} else {
			/* Go escapes the two JavaScript line separators. */
			if (cp == 0x2028 || cp == 0x2029)
				fprintf(f, "\\u%04x", (unsigned)cp);
			else
				fwrite(s + i, 1, n, f);
			i += n;
		}
	}
	putc('"', f);
}

static void
newline(FILE *f, int indent, int depth)
{
	if (!indent)
		return;
	putc('\n', f);
	while (depth-- > 0)
		putc('\t', f);
}

static void
put_value(FILE *f, struct json_object *v, int indent, int depth)
{
	size_t	i, n;
	int	first = 1;

	switch (json_object_get_type(v)) {
	case json_type_null:
		fputs("null", f);
		break;
	case json_type_boolean:
		fputs(json_object_get_boolean(v) ? "true" : "false", f);
		break;
	case json_type_int:
		fprintf(f, "%lld", (long long)json_object_get_int64(v));
		break;
	case json_type_double:
		fprintf(f, "%.17g", json_object_get_double(v));
		break;
	case json_type_string:
		put_string(f, json_object_get_string(v),
		    (size_t)json_object_get_string_len(v));
		break;
	case json_type_array:
		n = json_object_array_length(v);
		if (n == 0) {
			fputs("[]", f);
			break;
		}
		putc('[', f);
		for (i = 0; i < n; i++) {
			if (i > 0)
				putc(',', f);
			newline(f, indent, depth + 1);
			put_value(f, json_object_array_get_idx(v, i), indent,
			    depth + 1);
		}
		newline(f, indent, depth);
		putc(']', f);
		break;
	case json_type_object:
		if (json_object_object_length(v) == 0) {
			fputs("{}", f);
			break;
		}
		putc('{', f);
		json_object_object_foreach(v, key, val) {
			if (!first)
				putc(',', f);
			first = 0;
			newline(f, indent, depth + 1);
			put_string(f, key, strlen(key));
			fputs(indent ? ": " : ":", f);
			put_value(f, val, indent, depth + 1);
		}
		newline(f, indent, depth);
		putc('}', f);
		break;
	}
}

void
gojson_write(FILE *f, struct json_object *v, int indent)
{
	put_value(f, v, indent, 0);
}
