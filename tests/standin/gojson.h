/*
 * gojson.h: printing json-c values byte for byte as Go's encoding/json
 * prints them, which is what headscale's "-o json" and "-o json-line"
 * produce and what our parsers must accept.
 */
#ifndef STANDIN_GOJSON_H
#define STANDIN_GOJSON_H

#include <stdio.h>

#include <json-c/json.h>

/*
 * Writes v to f without a trailing newline. With indent, the layout of
 * json.MarshalIndent(v, "", "\t"): one member per line, tabs, "key": value.
 * Without, the compact layout of json.Marshal. Object members keep their
 * insertion order; strings are escaped as Go does (<, > and & as \u003c,
 * \u003e, \u0026; invalid UTF-8 as \ufffd).
 */
void	gojson_write(FILE *f, struct json_object *v, int indent);

#endif /* STANDIN_GOJSON_H */
