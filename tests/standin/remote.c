/*
 * remote.c: the CLI side of the stand-in reached through a unix socket.
 *
 * What the real 0.28.0 CLI does before any RPC (cmd/headscale/cli/utils.go,
 * newHeadscaleCLIWithConfig, read at tag v0.28.0): it opens the socket
 * named by unix_socket write-only; a permission error there is fatal at
 * once ("Unable to read/write to headscale socket, ..."), any other error
 * is ignored and the gRPC dial then blocks until cli.timeout. So reaching
 * the server takes exactly what the real one takes: search permission on
 * the directory and write permission on the socket (the headscale group
 * with unix_socket_permission "0770").
 *
 * The wire format to headscale-server.c is ours, not gRPC: one message of
 * a 4-byte length and the arguments, each ended by a NUL, carrying the
 * caller's standard input, output and error as SCM_RIGHTS; the server
 * answers with one byte, the command's exit status. So stdout and stderr
 * reach the caller unmixed, exactly as the server's CLI wrote them.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "remote.h"

#define DEFAULT_CONFIG	"/etc/headscale/config.yaml"

static int	  nargs;
static char	**args;
static char	  sock[sizeof(((struct sockaddr_un *)0)->sun_path)];

/*
 * The top-level "unix_socket:" of a YAML file, quotes and a trailing
 * comment removed, into sock. 0 when found.
 */
static int
socket_of(const char *path)
{
	FILE	*f;
	char	 line[1024], *v, *end;
	int	 found = -1;

	if (path == NULL || *path == '\0' || (f = fopen(path, "r")) == NULL)
		return -1;
	while (found != 0 && fgets(line, sizeof line, f) != NULL) {
		if (strncmp(line, "unix_socket:", 12) != 0)
			continue;
		v = line + 12 + strspn(line + 12, " \t");
		if (*v == '"' || *v == '\'') {
			end = strchr(v + 1, *v);
			v++;
		} else
			end = v + strcspn(v, " \t#\r\n");
		if (end == NULL || end == v || (size_t)(end - v) >= sizeof sock)
			continue;
		memcpy(sock, v, (size_t)(end - v));
		sock[end - v] = '\0';
		found = 0;
	}
	fclose(f);
	return found;
}

const char *
remote_begin(int argc, char **argv, const char *config)
{
	const char	*served = getenv(REMOTE_STATE_ENV);

	if (served != NULL && *served != '\0')
		return served;
	nargs = argc;
	args = argv;
	if (config != NULL && *config != '\0')
		(void)socket_of(config);
	else if (socket_of(DEFAULT_CONFIG) == 0)
		config = DEFAULT_CONFIG;
	return config;
}

/* zerolog's console line for the fatal permission error. */
static _Noreturn void
fatal_permission(int err)
{
	char		stamp[32];
	time_t		now = time(NULL);
	struct tm	tm;

	gmtime_r(&now, &tm);
	strftime(stamp, sizeof stamp, "%Y-%m-%dT%H:%M:%SZ", &tm);
	fprintf(stderr, "%s FTL Unable to read/write to headscale socket, do "
	    "you have the correct permissions? error=\"open %s: %s\" "
	    "socket=%s\n", stamp, sock, err == EPERM ?
	    "operation not permitted" : "permission denied", sock);
	fflush(stdout);
	_exit(1);
}

/* The caller's fds 0-2, with /dev/null standing in for a closed one. */
static void
standard_fds(int fds[3])
{
	int	i;

	for (i = 0; i < 3; i++) {
		fds[i] = i;
		if (fcntl(i, F_GETFD) == -1)
			fds[i] = open("/dev/null", i == 0 ? O_RDONLY : O_WRONLY);
	}
}

int
remote_dial(void)
{
	struct sockaddr_un	 sun = { .sun_family = AF_UNIX };
	union remote_fds	 ctl;
	struct msghdr		 msg = { 0 };
	struct cmsghdr		*c;
	struct iovec		 iov;
	char			*payload;
	uint32_t		 len = 0;
	size_t			 off;
	unsigned char		 status;
	int			 fd, i, fds[3];

	if (sock[0] == '\0')
		return 0;
	if ((fd = open(sock, O_WRONLY | O_CLOEXEC)) == -1 &&
	    (errno == EACCES || errno == EPERM))
		fatal_permission(errno);
	if (fd != -1)
		close(fd);
	memcpy(sun.sun_path, sock, strlen(sock) + 1);
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1 ||
	    connect(fd, (struct sockaddr *)&sun, sizeof sun) == -1)
		return -1;

	for (i = 1; i < nargs; i++)
		len += (uint32_t)strlen(args[i]) + 1;
	if (len > REMOTE_MAX_PAYLOAD || (payload = malloc(4 + len)) == NULL) {
		fprintf(stderr, "headscale stand-in: arguments too long\n");
		_exit(1);
	}
	memcpy(payload, &len, 4);
	for (off = 4, i = 1; i < nargs; i++) {
		memcpy(payload + off, args[i], strlen(args[i]) + 1);
		off += strlen(args[i]) + 1;
	}

	fflush(stdout);
	fflush(stderr);
	standard_fds(fds);
	iov.iov_base = payload;
	iov.iov_len = off;
	msg.msg_iov = &iov;
	msg.msg_iovlen = 1;
	msg.msg_control = ctl.buf;
	msg.msg_controllen = sizeof ctl.buf;
	c = CMSG_FIRSTHDR(&msg);
	c->cmsg_level = SOL_SOCKET;
	c->cmsg_type = SCM_RIGHTS;
	c->cmsg_len = CMSG_LEN(sizeof fds);
	memcpy(CMSG_DATA(c), fds, sizeof fds);
	/* The fds ride on the first byte; the rest follows as a stream. */
	while (iov.iov_len > 0) {
		ssize_t	n = sendmsg(fd, &msg, MSG_NOSIGNAL);

		if (n == -1 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		iov.iov_base = (char *)iov.iov_base + n;
		iov.iov_len -= (size_t)n;
		msg.msg_control = NULL;
		msg.msg_controllen = 0;
	}
	/* The server's CLI writes straight to our fds; wait for its status. */
	for (;;) {
		ssize_t	n = read(fd, &status, 1);

		if (n == 1)
			_exit(status);
		if (n == -1 && errno == EINTR)
			continue;
		_exit(1);
	}
}
