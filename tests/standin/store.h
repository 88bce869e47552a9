/*
 * store.h: what the headscale stand-in keeps between runs, in the
 * "standin/" directory next to its config file: the state (users, keys,
 * nodes) under a lock, the log of calls, and the fault switches tests use.
 */
#ifndef STANDIN_STORE_H
#define STANDIN_STORE_H

#include <stdint.h>

#include <json-c/json.h>

enum fault_kind {
	FAULT_NONE,
	FAULT_FAIL,		/* an RPC error, exit 1 */
	FAULT_HANG,		/* never answers */
	FAULT_GARBAGE,		/* non-JSON on stdout, exit 0 */
	FAULT_HUGE,		/* 10 MiB on stdout, exit 0 */
	FAULT_SLOW,		/* answers after secs */
	FAULT_DOWN,		/* unreachable server: FTL after secs */
	FAULT_EXIT,		/* exits with status code, prints nothing */
	FAULT_NULL,		/* "null" on stdout, exit 0, nothing changed:
				   what 0.28's "nodes delete -o json" prints
				   when the delete itself fails */
	FAULT_BAD		/* the fault file could not be understood */
};

struct fault {
	enum fault_kind	kind;
	double		secs;		/* < 0 when no number was given */
	int		code;
};

/*
 * Records the start time and argv for the call log and picks the state
 * directory from config (the -c value, else HEADSCALE_CONFIG; NULL or ""
 * when there is none). Call first.
 */
void		store_begin(int argc, char **argv, const char *config);

/* 1 when there is a state directory (a config file was named). */
int		store_present(void);

/* Marks this call's log line with "output-equals". */
void		store_mark_update_check(void);

/*
 * Flushes stdout and stderr, appends this call's line to calls.log and
 * exits with code.
 */
_Noreturn void	store_exit(int code);

/*
 * Sleeps secs. SIGTERM, SIGINT or SIGHUP during the sleep ends the
 * process by that signal, after logging the call.
 */
void		store_nap(double secs);

/*
 * The fault for command cmd sub ("nodes", "delete"): "fault.<cmd>.<sub>"
 * first, then "fault.<cmd>", then "fault".
 */
struct fault	store_fault(const char *cmd, const char *sub);

/*
 * Takes the lock (exclusive to write) and loads state.json, an empty state
 * when it does not exist yet. Exits through store_exit(1) with a message
 * when the directory or file is unusable.
 */
struct json_object *store_open(int exclusive);

/* Writes the state atomically (temporary file, then rename). */
void		store_save(void);

/* Drops the lock and the loaded state (before waiting on a prompt). */
void		store_close(void);

/* CLOCK_REALTIME as seconds and nanoseconds. */
void		store_now(int64_t *sec, int32_t *nsec);

#endif /* STANDIN_STORE_H */
