/*
 * remote.h: the headscale stand-in reached through a unix socket, as the
 * real CLI reaches "headscale serve". When the config file names a
 * unix_socket, the CLI hands its argv and standard streams to the
 * stand-in server listening there (headscale-server.c), which runs the
 * command against its own state as the headscale user. Without one the
 * CLI keeps its state next to the config file (store.h).
 */
#ifndef STANDIN_REMOTE_H
#define STANDIN_REMOTE_H

#include <sys/socket.h>

/* Set by the server for the CLI it runs: the config its state sits next to. */
#define REMOTE_STATE_ENV	"HEADSCALE_STANDIN_STATE"

/* The most argument bytes one request may carry. */
#define REMOTE_MAX_PAYLOAD	65536

/* Room for the control message carrying the caller's fds 0, 1 and 2. */
union remote_fds {
	struct cmsghdr	hdr;
	char		buf[CMSG_SPACE(3 * sizeof(int))];
};

/*
 * Remembers argv and which config applies (config, the -c value or
 * HEADSCALE_CONFIG; else /etc/headscale/config.yaml when that names a
 * unix_socket, as the real CLI reads it by default). Returns the config
 * the store should use: the server's under the server, else that one.
 */
const char	*remote_begin(int argc, char **argv, const char *config);

/*
 * Connects to the socket the config names and runs the command there,
 * then exits with its status. Returns 0 when the config names no socket
 * (the state is local), -1 when nothing answers on it (the caller then
 * times out as the real dial does). A socket the caller may not open
 * ends with the real CLI's fatal line and exit 1.
 */
int		 remote_dial(void);

#endif /* STANDIN_REMOTE_H */
