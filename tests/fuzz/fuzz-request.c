/*
 * fuzz-request.c: one /register request through the library, from the
 * CGI variables and the body stream to the bytes of the response.
 *
 * The input is "<CONTENT_LENGTH>\n<Authorization>\n<REMOTE_ADDR>\n<body>",
 * its first byte picking how many bytes each read of the body returns
 * (the stream comes in pieces under FastCGI). The steps are serve.c's for
 * an authenticated POST, without the database: the token (against a real
 * file), the body under the 64 KiB cap, the register body parser, then a
 * response, an error one or a success shaped like register's. Promised:
 * the client address is kept only when it is plausible; a body is taken
 * only when it is whole and matches a declared length; and whatever
 * happened, the response is a complete CGI response whose headers are
 * well formed and whose body is the JSON its Content-Length announces.
 */
#include "config.h"

#include <json-c/json.h>

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "auth.h"
#include "conf.h"
#include "err.h"
#include "bounds.h"
#include "req.h"
#include "resp.h"
#include "fuzz.h"

static struct auth	 fuzz_auth;
static struct conf	 fuzz_conf;

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	auth_init(&fuzz_auth, fuzz_token_file());
	(void)snprintf(fuzz_conf.headscale_url, sizeof fuzz_conf.headscale_url,
	    "https://hs.example.test");
	return 0;
}

/*
 * Splits off the next line of in (len bytes) into a "NAME=value" string
 * (a CGI variable cannot hold a NUL, so one ends it early). Returns the
 * bytes consumed.
 */
static size_t
take_line(const char *in, size_t len, const char *name, char **var)
{
	size_t	n = 0, nlen = strlen(name), vlen;

	while (n < len && in[n] != '\n')
		n++;
	vlen = strnlen(in, n);
	if ((*var = malloc(nlen + 1 + vlen + 1)) == NULL)
		abort();
	memcpy(*var, name, nlen);
	(*var)[nlen] = '=';
	memcpy(*var + nlen + 1, in, vlen);
	(*var)[nlen + 1 + vlen] = '\0';
	return n < len ? n + 1 : n;
}

/* Whether s is plain decimal digits. */
static int
digits(const char *s)
{
	if (*s == '\0')
		return 0;
	for (; *s != '\0'; s++)
		if (*s < '0' || *s > '9')
			return 0;
	return 1;
}

/*
 * Checks a whole CGI response: a Status line first, then well-formed
 * headers, a blank line, and a JSON object body as long as Content-Length
 * says. Returns the status.
 */
static int
check_response(const char *out, size_t outlen)
{
	struct json_object	*obj;
	const char		*p, *eol, *body = NULL, *colon;
	long			 clen = -1;
	int			 status = 0;

	FUZZ_CHECK(out != NULL && strlen(out) == outlen);
	FUZZ_CHECK(sscanf(out, "Status: %3d ", &status) == 1);
	FUZZ_CHECK(status >= 200 && status <= 599);
	for (p = out; body == NULL; p = eol + 2) {
		eol = strstr(p, "\r\n");
		FUZZ_CHECK(eol != NULL);
		if (eol == p) {
			body = eol + 2;
			break;
		}
		colon = memchr(p, ':', (size_t)(eol - p));
		FUZZ_CHECK(colon != NULL && colon > p && colon[1] == ' ');
		if (colon - p == 14 && strncmp(p, "Content-Length", 14) == 0)
			clen = strtol(colon + 2, NULL, 10);
		/* No line break or control byte inside a header. */
		for (; p < eol; p++)
			FUZZ_CHECK((unsigned char)*p >= 0x20 || *p == '\t');
	}
	FUZZ_CHECK(clen >= 0 && (size_t)clen == outlen - (size_t)(body - out));
	obj = json_tokener_parse(body);
	FUZZ_CHECK(obj != NULL && json_object_is_type(obj, json_type_object));
	if (status != 200)
		FUZZ_CHECK(json_object_object_length(obj) == 1 &&
		    json_object_object_get_ex(obj, "error", NULL));
	json_object_put(obj);
	return status;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct req		 r;
	struct req_mem		 m;
	struct req_io		 io;
	struct reg_body		 rb;
	struct json_object	*obj;
	const char		*env[5], *in, *cl;
	char			*vars[3], *copy;
	size_t			 pos = 1, bodylen;
	enum prov_err		 e;
	int			 status, i;

	if (size < 1 || size > PROV_MAX_BODY + 4096)
		return 0;
	copy = fuzz_copy(data, size);
	in = copy;
	pos += take_line(in + pos, size - pos, "CONTENT_LENGTH", &vars[0]);
	pos += take_line(in + pos, size - pos, "HTTP_AUTHORIZATION", &vars[1]);
	pos += take_line(in + pos, size - pos, "REMOTE_ADDR", &vars[2]);
	bodylen = size - pos;
	env[0] = "REQUEST_METHOD=POST";
	for (i = 0; i < 3; i++)
		env[i + 1] = vars[i];
	env[4] = NULL;

	memset(&m, 0, sizeof m);
	m.in = in + pos;
	m.inlen = bodylen;
	m.chunk = (unsigned char)data[0] % 64;	/* 0: all at once */
	req_mem_io(&io, &m);
	req_init(&r, &io, env, &fuzz_conf, NULL);

	/* A kept address is the one given, and one the log may print. */
	if (strcmp(r.addr, "unknown") != 0) {
		FUZZ_CHECK(strcmp(r.addr, vars[2] + strlen("REMOTE_ADDR=")) ==
		    0);
		FUZZ_CHECK(strspn(r.addr, "0123456789abcdefghijklmnopqrstuvwxyz"
		    "ABCDEFGHIJKLMNOPQRSTUVWXYZ.:%_-") == strlen(r.addr));
	}

	e = auth_check(&fuzz_auth, req_param(&r, "HTTP_AUTHORIZATION"));
	if (e == PROV_OK) {
		e = req_read_body(&r, PROV_MAX_BODY);
		cl = req_param(&r, "CONTENT_LENGTH");
		if (e == PROV_OK) {
			FUZZ_CHECK(r.bodylen == bodylen && r.bodylen <=
			    PROV_MAX_BODY && r.body[r.bodylen] == '\0' &&
			    memcmp(r.body, in + pos, bodylen) == 0);
			if (digits(cl))
				FUZZ_CHECK(strtoull(cl, NULL, 10) == bodylen);
		} else
			FUZZ_CHECK(r.body == NULL && (e == PROV_BADREQ ||
			    e == PROV_TOOBIG));
	}
	if (e == PROV_OK)
		e = req_parse_register(r.body, r.bodylen, &rb, &r.errmsg);
	if (e == PROV_OK) {
		obj = json_object_new_object();
		if (resp_set(obj, "headscale_key",
		    json_object_new_string("hskey-auth-fuzz")) ||
		    resp_set(obj, "hostname",
		    json_object_new_string(rb.hostname)))
			abort();
		e = resp_json(&r, 200, obj, RESP_SECRET);
		json_object_put(obj);
	}
	if (e != PROV_OK)
		resp_error(&r, e);

	status = check_response(m.out, m.outlen);
	FUZZ_CHECK(status == (e == PROV_OK ? 200 : prov_status(e)));
	FUZZ_CHECK(status < 500);

	req_free(&r);
	req_mem_free(&m);
	for (i = 0; i < 3; i++)
		free(vars[i]);
	free(copy);
	return 0;
}
