/*
 * bounds.h: every bound the programs enforce, named once.
 *
 * Caddy caps request bodies too, but that is defence in depth: each limit
 * here is enforced in C so the programs are safe behind any front end and
 * when run as plain CGI.
 */
#ifndef PROV_BOUNDS_H
#define PROV_BOUNDS_H

/* Largest request body accepted; a registration is two short strings. */
#define PROV_MAX_BODY		(64 * 1024)

/* json-c's default nesting limit is 32; our bodies are flat objects. */
#define PROV_MAX_JSON_DEPTH	8

/* Longest Authorization header considered; a token is 64 hex digits. */
#define PROV_MAX_AUTH_HEADER	1024

/* Longest token file read; the bootstrap writes 64 hex digits. */
#define PROV_MAX_TOKEN		512

/* A DNS label: what tailscale accepts as --hostname. */
#define PROV_MAX_HOSTNAME	63

/* Longest client address kept (an IPv6 text form with a zone fits). */
#define PROV_MAX_ADDR		64

/*
 * Most headscale output read before giving up on the child: a users list
 * for a few thousand users fits; a runaway process does not fill memory.
 */
#define PROV_MAX_CLI_OUTPUT	(1024 * 1024)

/* Longest pre-auth key accepted from headscale (0.28 keys are 88 bytes). */
#define PROV_MAX_KEY		256

/* Longest reason a request's log line carries ("headscale exited 1"). */
#define PROV_MAX_REASON		128

/* Longest log line; anything beyond is cut, never split across lines. */
#define PROV_MAX_LOG_LINE	1024

/* Workers one program may pre-fork with --workers. */
#define PROV_MAX_WORKERS	64

#endif /* PROV_BOUNDS_H */
