/*
 * cobra.c: argv parsing with cobra's and pflag's rules and error texts.
 *
 * Finding the command follows cobra: the first argument that does not look
 * like a flag (or a flag's value) names a subcommand, wherever it stands.
 * A flag not known at that level is assumed to take a value, so, as with
 * the real CLI, "preauthkeys --reusable create" swallows "create". The
 * remaining arguments are then parsed against the command's own flags plus
 * the root's global ones; anything else is a positional argument.
 */
#include "config.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cobra.h"

static const struct flag_def	help_flag = { "help", 'h', FLAG_BOOL, NULL,
	NULL, 0 };

const char *
cli_quote(char *dst, size_t len, const char *s)
{
	size_t	o = 0;

	if (len < 3)
		return "";
	dst[o++] = '"';
	for (; *s != '\0' && o + 6 < len; s++) {
		unsigned char c = (unsigned char)*s;

		if (c == '"' || c == '\\') {
			dst[o++] = '\\';
			dst[o++] = (char)c;
		} else if (c < 0x20 || c == 0x7f)
			o += (size_t)snprintf(dst + o, len - o, "\\x%02x", c);
		else
			dst[o++] = (char)c;
	}
	dst[o++] = '"';
	dst[o] = '\0';
	return dst;
}

static int
has_alias(const struct command *c, const char *word)
{
	const char	*a = c->aliases;
	size_t		 n = strlen(word);

	if (strcmp(c->name, word) == 0)
		return 1;
	while (a != NULL && *a != '\0') {
		size_t len = strcspn(a, " ");

		if (len == n && strncmp(a, word, n) == 0)
			return 1;
		a += len;
		a += strspn(a, " ");
	}
	return 0;
}

static const struct command *
find_sub(const struct command *c, const char *word)
{
	const struct command	*s;

	for (s = c->subs; s != NULL && s->name != NULL; s++)
		if (has_alias(s, word))
			return s;
	return NULL;
}

/* The flag definition of c (or a global one) by long name or shorthand. */
static const struct flag_def *
lookup_def(const struct command *c, const struct flag_def *persistent,
    const char *name, size_t len, char shorthand)
{
	const struct flag_def	*sets[3] = { c->flags, persistent, NULL };
	const struct flag_def	*d;
	size_t			 i;

	for (i = 0; i < 2; i++)
		for (d = sets[i]; d != NULL && d->name != NULL; d++)
			if (shorthand != 0 ? d->shorthand == shorthand :
			    strlen(d->name) == len &&
			    strncmp(d->name, name, len) == 0)
				return d;
	if (shorthand != 0 ? shorthand == 'h' :
	    len == 4 && strncmp(name, "help", 4) == 0)
		return &help_flag;
	return NULL;
}

/*
 * Index in args of the first argument that is not a flag or a flag's
 * value, judged with the flags known at command c; -1 when none.
 */
static int
first_word(const struct command *c, const struct flag_def *persistent,
    char **args, size_t n)
{
	const struct flag_def	*d;
	size_t			 i;

	for (i = 0; i < n; i++) {
		const char *s = args[i];

		if (strcmp(s, "--") == 0)
			return -1;
		if (s[0] != '-')
			return (int)i;
		if (strchr(s, '=') != NULL)
			continue;
		if (s[1] == '-') {
			d = lookup_def(c, persistent, s + 2, strlen(s + 2), 0);
			if (d == NULL || d->type != FLAG_BOOL)
				i++;
		} else if (strlen(s) == 2) {
			d = lookup_def(c, persistent, NULL, 0, s[1]);
			if (d == NULL || d->type != FLAG_BOOL)
				i++;
		}
	}
	return -1;
}

static void
add_flags(struct cli *cli, const struct flag_def *defs)
{
	for (; defs != NULL && defs->name != NULL; defs++) {
		struct flag_value *v;

		if (cli->nflags == CLI_MAX_FLAGS)
			abort();
		v = &cli->flags[cli->nflags++];
		memset(v, 0, sizeof *v);
		v->def = defs;
		v->text = defs->defval != NULL ? defs->defval : "";
		if (defs->type == FLAG_INT64 && defs->defval != NULL)
			v->i = strtoll(defs->defval, NULL, 10);
		if (defs->type == FLAG_UINT64 && defs->defval != NULL)
			v->u = strtoull(defs->defval, NULL, 10);
	}
}

static struct flag_value *
value_of(struct cli *cli, const struct flag_def *d)
{
	size_t	i;

	for (i = 0; i < cli->nflags; i++)
		if (cli->flags[i].def == d)
			return &cli->flags[i];
	return NULL;
}

/*
 * strconv.ParseUint/ParseInt with base 0, as pflag calls them: an optional
 * 0x, 0o, 0b or leading-0 prefix picks the base. Returns NULL or Go's
 * reason ("invalid syntax", "value out of range").
 */
static const char *
parse_int(const char *s, int is_signed, uint64_t *mag, int *neg)
{
	unsigned	base = 10, d;
	uint64_t	v = 0;
	int		digits = 0, range = 0;

	*neg = 0;
	if (is_signed && (*s == '+' || *s == '-'))
		*neg = *s++ == '-';
	if (s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
		base = 16;
		s += 2;
	} else if (s[0] == '0' && (s[1] == 'o' || s[1] == 'O')) {
		base = 8;
		s += 2;
	} else if (s[0] == '0' && (s[1] == 'b' || s[1] == 'B')) {
		base = 2;
		s += 2;
	} else if (s[0] == '0' && s[1] != '\0') {
		base = 8;
		s++;
	}
	for (; *s != '\0'; s++, digits++) {
		if (*s >= '0' && *s <= '9')
			d = (unsigned)(*s - '0');
		else if (*s >= 'a' && *s <= 'z')
			d = (unsigned)(*s - 'a' + 10);
		else if (*s >= 'A' && *s <= 'Z')
			d = (unsigned)(*s - 'A' + 10);
		else
			return "invalid syntax";
		if (d >= base)
			return "invalid syntax";
		if (v > (UINT64_MAX - d) / base)
			range = 1;
		v = v * base + d;
	}
	if (digits == 0)
		return "invalid syntax";
	if (range)
		return "value out of range";
	*mag = v;
	return NULL;
}

/* Stores text into v as its type says; 0, or -1 with cli->err set. */
static int
set_value(struct cli *cli, struct flag_value *v, const char *text)
{
	const struct flag_def	*d = v->def;
	const char		*why = NULL, *fn = NULL;
	char			 qv[160], qn[80], shown[80];
	uint64_t		 mag = 0;
	int			 neg;

	switch (d->type) {
	case FLAG_BOOL:
		if (strcmp(text, "1") == 0 || strcmp(text, "t") == 0 ||
		    strcmp(text, "T") == 0 || strcmp(text, "true") == 0 ||
		    strcmp(text, "TRUE") == 0 || strcmp(text, "True") == 0)
			v->b = 1;
		else if (strcmp(text, "0") == 0 || strcmp(text, "f") == 0 ||
		    strcmp(text, "F") == 0 || strcmp(text, "false") == 0 ||
		    strcmp(text, "FALSE") == 0 || strcmp(text, "False") == 0)
			v->b = 0;
		else {
			fn = "strconv.ParseBool";
			why = "invalid syntax";
		}
		break;
	case FLAG_UINT64:
		fn = "strconv.ParseUint";
		why = parse_int(text, 0, &mag, &neg);
		v->u = mag;
		break;
	case FLAG_INT64:
		fn = "strconv.ParseInt";
		why = parse_int(text, 1, &mag, &neg);
		if (why == NULL && mag > (uint64_t)INT64_MAX + (neg ? 1 : 0))
			why = "value out of range";
		if (why == NULL)
			v->i = neg ? (int64_t)(0 - mag) : (int64_t)mag;
		break;
	case FLAG_STRINGS: {
		char *copy, *part, *save = NULL;

		if (!v->changed)
			v->nlist = 0;
		if ((copy = strdup(text)) == NULL)
			abort();
		for (part = strtok_r(copy, ",", &save); part != NULL;
		    part = strtok_r(NULL, ",", &save))
			if (v->nlist < CLI_MAX_LIST)
				v->list[v->nlist++] = part;
		break;
	}
	case FLAG_STRING:
		break;
	}
	if (why != NULL) {
		if (d->shorthand != 0)
			snprintf(shown, sizeof shown, "-%c, --%s", d->shorthand,
			    d->name);
		else
			snprintf(shown, sizeof shown, "--%s", d->name);
		snprintf(cli->err, sizeof cli->err,
		    "invalid argument %s for %s flag: %s: parsing %s: %s",
		    cli_quote(qv, sizeof qv, text),
		    cli_quote(qn, sizeof qn, shown), fn, qv, why);
		return -1;
	}
	v->changed = 1;
	v->text = text;
	return 0;
}

/* Parses args against the flags of the found command (pflag's loop). */
static enum cli_result
parse_flags(struct cli *cli, char **args, size_t n)
{
	const struct command	*c = cli->path[cli->depth - 1];
	const struct flag_def	*d;
	size_t			 i;

	for (i = 0; i < n; i++) {
		const char	*s = args[i], *eq, *value;

		if (s[0] != '-' || s[1] == '\0') {
			cli->pos[cli->npos++] = args[i];
			continue;
		}
		if (strcmp(s, "--") == 0) {
			for (i++; i < n; i++)
				cli->pos[cli->npos++] = args[i];
			break;
		}
		if (s[1] == '-') {
			eq = strchr(s + 2, '=');
			d = lookup_def(c, cli->persistent, s + 2,
			    eq != NULL ? (size_t)(eq - s - 2) : strlen(s + 2), 0);
			if (d == NULL) {
				snprintf(cli->err, sizeof cli->err,
				    "unknown flag: --%.*s", eq != NULL ?
				    (int)(eq - s - 2) : (int)strlen(s + 2), s + 2);
				return CLI_ERROR;
			}
			if (d == &help_flag)
				return CLI_HELP;
			if (eq != NULL)
				value = eq + 1;
			else if (d->type == FLAG_BOOL)
				value = "true";
			else if (i + 1 < n)
				value = args[++i];
			else {
				snprintf(cli->err, sizeof cli->err,
				    "flag needs an argument: %s", s);
				return CLI_ERROR;
			}
			if (set_value(cli, value_of(cli, d), value) != 0)
				return CLI_ERROR;
			continue;
		}
		/* One or more shorthands; a valued one takes the rest. */
		for (s++; *s != '\0';) {
			d = lookup_def(c, cli->persistent, NULL, 0, *s);
			if (d == NULL) {
				snprintf(cli->err, sizeof cli->err,
				    "unknown shorthand flag: '%c' in -%s", *s, s);
				return CLI_ERROR;
			}
			if (d == &help_flag)
				return CLI_HELP;
			if (d->type == FLAG_BOOL) {
				if (s[1] == '=') {
					value = s + 2;
					s += strlen(s);
				} else {
					value = "true";
					s++;
				}
			} else if (s[1] == '=' && s[2] != '\0') {
				value = s + 2;
				s += strlen(s);
			} else if (s[1] != '\0') {
				value = s + 1;
				s += strlen(s);
			} else if (i + 1 < n) {
				value = args[++i];
				s++;
			} else {
				snprintf(cli->err, sizeof cli->err,
				    "flag needs an argument: '%c' in -%s", *s, s);
				return CLI_ERROR;
			}
			if (set_value(cli, value_of(cli, d), value) != 0)
				return CLI_ERROR;
		}
	}
	return CLI_RUN;
}

enum cli_result
cli_parse(struct cli *cli, const struct command *root,
    const struct flag_def *persistent, int argc, char **argv)
{
	const struct command	*c = root, *sub;
	char			**args;
	size_t			 n = argc > 1 ? (size_t)argc - 1 : 0;
	int			 w;
	char			 q[160], qr[80];

	memset(cli, 0, sizeof *cli);
	cli->persistent = persistent;
	cli->path[cli->depth++] = root;
	if ((args = calloc(n + 1, sizeof *args)) == NULL ||
	    (cli->pos = calloc(n + 1, sizeof *cli->pos)) == NULL)
		abort();
	if (n > 0)
		memcpy(args, argv + 1, n * sizeof *args);
	while (c->subs != NULL && cli->depth < CLI_MAX_DEPTH) {
		if ((w = first_word(c, persistent, args, n)) < 0)
			break;
		if ((sub = find_sub(c, args[w])) == NULL) {
			if (c != root)
				break;
			snprintf(cli->err, sizeof cli->err,
			    "unknown command %s for %s",
			    cli_quote(q, sizeof q, args[w]),
			    cli_quote(qr, sizeof qr, root->name));
			return CLI_ERROR_FIND;
		}
		memmove(args + w, args + w + 1, (n - (size_t)w) * sizeof *args);
		n--;
		cli->path[cli->depth++] = c = sub;
	}
	add_flags(cli, c->flags);
	add_flags(cli, persistent);
	switch (parse_flags(cli, args, n)) {
	case CLI_HELP:
		return CLI_HELP;
	case CLI_RUN:
		break;
	default:
		return CLI_ERROR;
	}
	/* A group without a subcommand only shows its help, as cobra does. */
	return c->id == 0 ? CLI_HELP : CLI_RUN;
}

static int
cmp_str(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

enum cli_result
cli_check(struct cli *cli)
{
	const struct command	*c = cli->path[cli->depth - 1];
	const char		*missing[CLI_MAX_FLAGS];
	size_t			 i, n = 0, off;

	if (cli->npos < (size_t)c->min_args) {
		snprintf(cli->err, sizeof cli->err, "missing parameters");
		return CLI_ERROR;
	}
	for (i = 0; i < cli->nflags; i++)
		if (cli->flags[i].def->required && !cli->flags[i].changed)
			missing[n++] = cli->flags[i].def->name;
	if (n == 0)
		return CLI_RUN;
	qsort(missing, n, sizeof missing[0], cmp_str);
	off = (size_t)snprintf(cli->err, sizeof cli->err, "required flag(s) ");
	for (i = 0; i < n && off < sizeof cli->err; i++)
		off += (size_t)snprintf(cli->err + off, sizeof cli->err - off,
		    "%s\"%s\"", i > 0 ? ", " : "", missing[i]);
	if (off < sizeof cli->err)
		snprintf(cli->err + off, sizeof cli->err - off, " not set");
	return CLI_ERROR;
}

static int
cmp_def(const void *a, const void *b)
{
	return strcmp((*(const struct flag_def *const *)a)->name,
	    (*(const struct flag_def *const *)b)->name);
}

/* pflag's FlagUsages: sorted, aligned, with non-zero defaults. */
static void
flag_usages(FILE *f, const struct flag_def *const *defs, size_t n,
    const char *cmdname)
{
	static const char	*types[] = { "", " string", " uint", " int",
	    " strings" };
	const struct flag_def	*sorted[CLI_MAX_FLAGS + 1];
	char			 left[CLI_MAX_FLAGS + 1][96];
	size_t			 i, width = 0;

	memcpy(sorted, defs, n * sizeof defs[0]);
	qsort(sorted, n, sizeof sorted[0], cmp_def);
	for (i = 0; i < n; i++) {
		const struct flag_def *d = sorted[i];

		if (d->shorthand != 0)
			snprintf(left[i], sizeof left[i], "  -%c, --%s%s",
			    d->shorthand, d->name, types[d->type]);
		else
			snprintf(left[i], sizeof left[i], "      --%s%s", d->name,
			    types[d->type]);
		if (strlen(left[i]) > width)
			width = strlen(left[i]);
	}
	for (i = 0; i < n; i++) {
		const struct flag_def *d = sorted[i];

		fprintf(f, "%s%*s", left[i],
		    (int)(width - strlen(left[i]) + 3), "");
		if (d == &help_flag)
			fprintf(f, "help for %s", cmdname);
		else
			fputs(d->usage, f);
		if (d->defval != NULL && d->type == FLAG_STRING)
			fprintf(f, " (default \"%s\")", d->defval);
		else if (d->defval != NULL)
			fprintf(f, " (default %s)", d->defval);
		putc('\n', f);
	}
}

/* cobra's default usage template, in the parts headscale's commands use. */
static void
usage(FILE *f, const struct cli *cli)
{
	const struct command	*c = cli->path[cli->depth - 1], *s;
	const struct flag_def	*local[CLI_MAX_FLAGS + 1];
	const struct flag_def	*global[CLI_MAX_FLAGS];
	const struct flag_def	*d;
	char			 path[128] = "";
	size_t			 i, nl = 0, ng = 0, off = 0;

	for (i = 0; i < cli->depth && off < sizeof path; i++)
		off += (size_t)snprintf(path + off, sizeof path - off, "%s%s",
		    i > 0 ? " " : "", cli->path[i]->name);
	for (d = c->flags; d != NULL && d->name != NULL; d++)
		local[nl++] = d;
	for (d = cli->persistent; d != NULL && d->name != NULL; d++) {
		if (cli->depth == 1)
			local[nl++] = d;
		else
			global[ng++] = d;
	}
	local[nl++] = &help_flag;

	fprintf(f, "Usage:\n");
	if (c->id != 0)
		fprintf(f, "  %s%s%s [flags]\n", path,
		    c->args != NULL ? " " : "", c->args != NULL ? c->args : "");
	if (c->subs != NULL)
		fprintf(f, "  %s [command]\n", path);
	if (c->aliases != NULL) {
		fprintf(f, "\nAliases:\n  %s, ", c->name);
		for (i = 0; c->aliases[i] != '\0'; i++)
			if (c->aliases[i] == ' ')
				fputs(", ", f);
			else
				putc(c->aliases[i], f);
		putc('\n', f);
	}
	if (c->subs != NULL) {
		fprintf(f, "\nAvailable Commands:\n");
		for (s = c->subs; s->name != NULL; s++)
			fprintf(f, "  %-11s %s\n", s->name, s->brief);
	}
	fprintf(f, "\nFlags:\n");
	flag_usages(f, local, nl, c->name);
	if (ng > 0) {
		fprintf(f, "\nGlobal Flags:\n");
		flag_usages(f, global, ng, c->name);
	}
	if (c->subs != NULL)
		fprintf(f, "\nUse \"%s [command] --help\" for more information "
		    "about a command.\n", path);
}

void
cli_report(const struct cli *cli, enum cli_result result)
{
	const struct command	*c = cli->path[cli->depth - 1];

	switch (result) {
	case CLI_HELP:
		printf("%s\n\n", c->brief);
		usage(stdout, cli);
		break;
	case CLI_ERROR_FIND:
		fprintf(stderr, "Error: %s\nRun '%s --help' for usage.\n%s\n",
		    cli->err, c->name, cli->err);
		break;
	case CLI_ERROR:
		fprintf(stderr, "Error: %s\n", cli->err);
		usage(stderr, cli);
		fprintf(stderr, "\n%s\n", cli->err);
		break;
	case CLI_RUN:
		break;
	}
}

const struct flag_value *
cli_flag(const struct cli *cli, const char *name)
{
	size_t	i;

	for (i = 0; i < cli->nflags; i++)
		if (strcmp(cli->flags[i].def->name, name) == 0)
			return &cli->flags[i];
	return NULL;
}

const char *
cli_str(const struct cli *cli, const char *name)
{
	const struct flag_value	*v = cli_flag(cli, name);

	return v != NULL ? v->text : "";
}

uint64_t
cli_u64(const struct cli *cli, const char *name)
{
	const struct flag_value	*v = cli_flag(cli, name);

	return v != NULL ? v->u : 0;
}

int64_t
cli_i64(const struct cli *cli, const char *name)
{
	const struct flag_value	*v = cli_flag(cli, name);

	return v != NULL ? v->i : 0;
}

int
cli_bool(const struct cli *cli, const char *name)
{
	const struct flag_value	*v = cli_flag(cli, name);

	return v != NULL && v->b;
}
