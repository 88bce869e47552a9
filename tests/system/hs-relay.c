/*
 * hs-relay.c: puts the headscale stand-in behind a unix socket, so that in
 * the system test the CLI needs what the real one needs: permission on
 * headscale's socket, which the headscale group gives.
 *
 * As "headscale" (installed as /usr/bin/headscale in the container) it is
 * the CLI: it checks the socket the way headscale 0.28 does before dialling
 * (cmd/headscale/cli/utils.go at v0.28.0 opens it for writing and, on a
 * permission error, logs the FTL line below and exits 1), then connects
 * and hands the server its arguments and its standard input, output and
 * error (SCM_RIGHTS), and exits with the status the server sends back.
 * A socket that is missing or refuses gives the stand-in's own "Could not
 * connect" FTL line, without its wait.
 *
 * As "hs-relay serve STANDIN CONFIG" it is the server, one process per
 * connection (a socket unit with Accept=yes, the connection on fd 0, run
 * as the headscale user): it runs STANDIN with the client's arguments and
 * descriptors, HEADSCALE_CONFIG=CONFIG, so the stand-in's state lives
 * beside CONFIG and belongs to headscale alone.
 *
 * The socket is HEADSCALE_UNIX_SOCKET (headscale's own variable for the
 * unix_socket setting), else /var/run/headscale/headscale.sock.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define DEFAULT_SOCKET	"/var/run/headscale/headscale.sock"
/* Arguments travel as one message: NUL-separated, this many bytes at most. */
#define ARGS_MAX	16384
#define ARGC_MAX	64

static char	 zero[1];
static char	 argv0[] = "headscale";

static void
ftl(const char *msg)
{
	char		stamp[32];
	time_t		now = time(NULL);
	struct tm	tm;

	gmtime_r(&now, &tm);
	strftime(stamp, sizeof stamp, "%Y-%m-%dT%H:%M:%SZ", &tm);
	fprintf(stderr, "%s FTL %s\n", stamp, msg);
	exit(1);
}

static int
client(int argc, char **argv)
{
	const char		*path = getenv("HEADSCALE_UNIX_SOCKET");
	char			 buf[ARGS_MAX], line[512];
	char			 cbuf[CMSG_SPACE(3 * sizeof(int))];
	struct sockaddr_un	 sun = { .sun_family = AF_UNIX };
	struct msghdr		 msg = { 0 };
	struct iovec		 iov;
	struct cmsghdr		*cm;
	size_t			 len = 0, n;
	int			 fd, i, fds[3] = { 0, 1, 2 };
	unsigned char		 status;

	if (path == NULL || *path == '\0')
		path = DEFAULT_SOCKET;
	if (strlen(path) >= sizeof sun.sun_path)
		ftl("socket path too long");
	/* What headscale 0.28 does first: open for writing, EACCES is fatal. */
	if ((fd = open(path, O_WRONLY)) == -1 && errno == EACCES) {
		snprintf(line, sizeof line, "Unable to read/write to headscale "
		    "socket, do you have the correct permissions? "
		    "error=\"open %s: permission denied\" socket=%s", path, path);
		ftl(line);
	}
	if (fd != -1)
		close(fd);

	for (i = 1; i < argc; i++) {
		n = strlen(argv[i]) + 1;
		if (len + n > sizeof buf)
			ftl("arguments too long");
		memcpy(buf + len, argv[i], n);
		len += n;
	}
	strcpy(sun.sun_path, path);
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1 ||
	    connect(fd, (struct sockaddr *)&sun, sizeof sun) == -1)
		ftl("cmd/headscale/cli/utils.go:124 > Could not connect: "
		    "context deadline exceeded error=\"context deadline exceeded\"");

	/* One message: the arguments (at least one byte) and fds 0, 1, 2. */
	iov.iov_base = len ? buf : zero;
	iov.iov_len = len ? len : 1;
	msg.msg_iov = &iov;
	msg.msg_iovlen = 1;
	msg.msg_control = cbuf;
	msg.msg_controllen = sizeof cbuf;
	cm = CMSG_FIRSTHDR(&msg);
	cm->cmsg_level = SOL_SOCKET;
	cm->cmsg_type = SCM_RIGHTS;
	cm->cmsg_len = CMSG_LEN(sizeof fds);
	memcpy(CMSG_DATA(cm), fds, sizeof fds);
	if (sendmsg(fd, &msg, MSG_NOSIGNAL) == -1)
		ftl("send to the headscale socket failed");
	shutdown(fd, SHUT_WR);
	if (read(fd, &status, 1) != 1)
		ftl("no exit status from the headscale socket");
	return status;
}

static int
serve(const char *standin, const char *config)
{
	char		 buf[ARGS_MAX + 1], *args[ARGC_MAX + 2];
	char		 cbuf[CMSG_SPACE(3 * sizeof(int))];
	struct msghdr	 msg = { 0 };
	struct iovec	 iov = { .iov_base = buf, .iov_len = ARGS_MAX };
	struct cmsghdr	*cm;
	ssize_t		 len;
	size_t		 off;
	int		 fds[3], argc = 0, st, i;
	unsigned char	 status = 1;
	pid_t		 pid;

	msg.msg_iov = &iov;
	msg.msg_iovlen = 1;
	msg.msg_control = cbuf;
	msg.msg_controllen = sizeof cbuf;
	if ((len = recvmsg(0, &msg, MSG_CMSG_CLOEXEC)) <= 0)
		return 1;
	cm = CMSG_FIRSTHDR(&msg);
	if (cm == NULL || cm->cmsg_type != SCM_RIGHTS ||
	    cm->cmsg_len != CMSG_LEN(sizeof fds) || (msg.msg_flags & MSG_CTRUNC))
		return 1;
	memcpy(fds, CMSG_DATA(cm), sizeof fds);
	buf[len] = '\0';

	args[argc++] = argv0;
	for (off = 0; off < (size_t)len && buf[off] != '\0';) {
		if (argc == ARGC_MAX + 1)
			return 1;
		args[argc++] = buf + off;
		off += strlen(buf + off) + 1;
	}
	args[argc] = NULL;

	if ((pid = fork()) == 0) {
		for (i = 0; i < 3; i++)
			if (dup2(fds[i], i) == -1)
				_exit(1);
		setenv("HEADSCALE_CONFIG", config, 1);
		execv(standin, args);
		_exit(127);
	}
	if (pid > 0 && waitpid(pid, &st, 0) == pid && WIFEXITED(st))
		status = (unsigned char)WEXITSTATUS(st);
	return write(0, &status, 1) == 1 ? 0 : 1;
}

int
main(int argc, char **argv)
{
	if (argc == 4 && strcmp(argv[1], "serve") == 0)
		return serve(argv[2], argv[3]);
	return client(argc, argv);
}
