/*
 * cobra.h: command-line parsing with the rules of the Go libraries
 * headscale is built on (cobra for commands, pflag for flags), so the
 * stand-in accepts and rejects exactly the argv the real CLI does and
 * fails with the same plain-text errors.
 *
 * What is imitated: subcommands and their aliases found anywhere among the
 * flags; flags after or before the subcommand name; "--name value",
 * "--name=value", "-x value", "-xvalue", "-x=value", grouped booleans;
 * "--" ending the flags; typed values with Go's strconv error texts;
 * required flags; "Error: ...", usage, message again on failure.
 */
#ifndef STANDIN_COBRA_H
#define STANDIN_COBRA_H

#include <stddef.h>
#include <stdint.h>

enum flag_type {
	FLAG_BOOL,
	FLAG_STRING,
	FLAG_UINT64,
	FLAG_INT64,
	FLAG_STRINGS		/* pflag's StringSlice: a,b and repeatable */
};

struct flag_def {
	const char	*name;
	char		 shorthand;	/* 0 for none */
	enum flag_type	 type;
	const char	*defval;	/* NULL for the type's zero value */
	const char	*usage;
	int		 required;
};

struct command {
	const char		*name;
	const char		*aliases;	/* space-separated, or NULL */
	const char		*args;		/* usage words after the name */
	const char		*brief;
	const struct flag_def	*flags;		/* ends with a NULL name */
	const struct command	*subs;		/* ends with a NULL name */
	int			 min_args;	/* else "missing parameters" */
	int			 id;		/* what to run; 0 for a group */
};

#define CLI_MAX_FLAGS	16
#define CLI_MAX_LIST	32
#define CLI_MAX_DEPTH	4

struct flag_value {
	const struct flag_def	*def;
	int			 changed;
	const char		*text;		/* last value as written */
	uint64_t		 u;
	int64_t			 i;
	int			 b;
	const char		*list[CLI_MAX_LIST];
	size_t			 nlist;
};

struct cli {
	const struct flag_def	*persistent;	/* the root's global flags */
	const struct command	*path[CLI_MAX_DEPTH];
	size_t			 depth;
	struct flag_value	 flags[CLI_MAX_FLAGS];
	size_t			 nflags;
	char			**pos;		/* positional arguments */
	size_t			 npos;
	char			 err[512];
};

enum cli_result {
	CLI_RUN,		/* path[depth - 1] is runnable, flags parsed */
	CLI_HELP,		/* print help on stdout, exit 0 */
	CLI_ERROR_FIND,		/* unknown command: short error */
	CLI_ERROR		/* flag or argument error: error and usage */
};

/*
 * Finds the command in argv[1..] under root and parses its flags into cli.
 * argv's strings are referenced, not copied. CLI_ERROR* leave the message
 * in cli->err.
 */
enum cli_result	cli_parse(struct cli *cli, const struct command *root,
		    const struct flag_def *persistent, int argc, char **argv);

/*
 * The checks cobra makes after the root's initialisation hook has run:
 * the number of positional arguments, then required flags.
 */
enum cli_result	cli_check(struct cli *cli);

/* Prints what cobra prints for result (help to stdout, errors to stderr). */
void		cli_report(const struct cli *cli, enum cli_result result);

/*
 * Go's %q for the short ASCII texts that reach messages: s in double
 * quotes, with quotes, backslashes and control bytes escaped, into dst.
 * Returns dst.
 */
const char	*cli_quote(char *dst, size_t len, const char *s);

/* The parsed flag called name; never NULL for a flag the command has. */
const struct flag_value	*cli_flag(const struct cli *cli, const char *name);

/* Shorthands for the value of flag name, its zero value when absent. */
const char	*cli_str(const struct cli *cli, const char *name);
uint64_t	 cli_u64(const struct cli *cli, const char *name);
int64_t		 cli_i64(const struct cli *cli, const char *name);
int		 cli_bool(const struct cli *cli, const char *name);

#endif /* STANDIN_COBRA_H */
