/*
 * headscale-server.c: the stand-in for "headscale serve", as far as the
 * CLI sees it: a process running as the headscale user that listens on
 * headscale's unix socket with the configured mode and answers commands
 * against the state it alone owns.
 *
 *	headscale-server SOCKET MODE CLI STATE_CONFIG
 *
 * Each connection carries one command (see remote.c for the format). It
 * is run by executing CLI with the caller's arguments, standard streams
 * and REMOTE_STATE_ENV=STATE_CONFIG, so the stand-in keeps one
 * implementation of the 0.28 contract and its state sits next to
 * STATE_CONFIG, owned by this user. A caller that hangs up (a timeout
 * killed it) gets its command ended with SIGTERM, as a cancelled RPC.
 */
#include "config.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "remote.h"

#define MAX_ARGS	256

static char		*cli;
static const char	*state;

static _Noreturn void
die(const char *what)
{
	fprintf(stderr, "headscale-server: %s: %s\n", what, strerror(errno));
	exit(1);
}

static int
read_full(int fd, void *buf, size_t len)
{
	char	*p = buf;
	ssize_t	 n;

	while (len > 0) {
		if ((n = read(fd, p, len)) == -1 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

/*
 * Receives the length with the caller's three fds, then the arguments.
 * Returns argc (argv[0] is CLI), or -1 on a malformed request.
 */
static int
receive(int conn, int fds[3], char **argv, char *payload)
{
	union remote_fds	 ctl;
	struct msghdr		 msg = { 0 };
	struct cmsghdr		*c;
	struct iovec		 iov;
	uint32_t		 len;
	char			*p;
	int			 argc = 0;

	iov.iov_base = &len;
	iov.iov_len = 4;
	msg.msg_iov = &iov;
	msg.msg_iovlen = 1;
	msg.msg_control = ctl.buf;
	msg.msg_controllen = sizeof ctl.buf;
	if (recvmsg(conn, &msg, MSG_WAITALL | MSG_CMSG_CLOEXEC) != 4 ||
	    (c = CMSG_FIRSTHDR(&msg)) == NULL || c->cmsg_type != SCM_RIGHTS ||
	    c->cmsg_len != CMSG_LEN(3 * sizeof(int)))
		return -1;
	memcpy(fds, CMSG_DATA(c), 3 * sizeof(int));
	if (len > REMOTE_MAX_PAYLOAD || read_full(conn, payload, len) == -1 ||
	    (len > 0 && payload[len - 1] != '\0'))
		return -1;
	argv[argc++] = cli;
	for (p = payload; p < payload + len; p += strlen(p) + 1) {
		if (argc == MAX_ARGS)
			return -1;
		argv[argc++] = p;
	}
	argv[argc] = NULL;
	return argc;
}

/* One connection: run the command, report its status, end it on hang-up. */
static _Noreturn void
serve(int conn)
{
	static char	 payload[REMOTE_MAX_PAYLOAD];
	char		*argv[MAX_ARGS + 1];
	struct pollfd	 p = { .fd = conn, .events = POLLIN };
	unsigned char	 status;
	pid_t		 pid;
	int		 fds[3], i, ws;

	signal(SIGCHLD, SIG_DFL);
	if (receive(conn, fds, argv, payload) == -1)
		_exit(1);
	if ((pid = fork()) == -1)
		_exit(1);
	if (pid == 0) {
		for (i = 0; i < 3; i++)
			if (dup2(fds[i], i) == -1)
				_exit(127);
		setenv(REMOTE_STATE_ENV, state, 1);
		execv(cli, argv);
		fprintf(stderr, "headscale-server: %s: %s\n", cli,
		    strerror(errno));
		_exit(127);
	}
	for (i = 0; i < 3; i++)
		close(fds[i]);
	for (;;) {
		if (waitpid(pid, &ws, WNOHANG) == pid)
			break;
		if (poll(&p, 1, 100) == 1 && p.revents != 0) {
			/* Anything but silence from the caller is a hang-up. */
			kill(pid, SIGTERM);
			p.fd = -1;
		}
	}
	status = WIFEXITED(ws) ? WEXITSTATUS(ws) : 128 + WTERMSIG(ws);
	_exit(write(conn, &status, 1) == 1 ? 0 : 1);
}

int
main(int argc, char **argv)
{
	struct sockaddr_un	 sun = { .sun_family = AF_UNIX };
	char			*end;
	long			 mode;
	int			 fd, conn;

	if (argc != 5 || strlen(argv[1]) >= sizeof sun.sun_path ||
	    (mode = strtol(argv[2], &end, 8), *end != '\0') || mode < 0 ||
	    mode > 0777) {
		fprintf(stderr, "usage: headscale-server SOCKET MODE CLI "
		    "STATE_CONFIG\n");
		return 2;
	}
	cli = argv[3];
	state = argv[4];
	/* Handlers are reaped by the kernel; each waits for its own child. */
	signal(SIGCHLD, SIG_IGN);
	signal(SIGPIPE, SIG_IGN);
	memcpy(sun.sun_path, argv[1], strlen(argv[1]) + 1);
	/* As headscale does: a stale socket from a crash is replaced. */
	if (unlink(argv[1]) == -1 && errno != ENOENT)
		die("unlink");
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1 ||
	    bind(fd, (struct sockaddr *)&sun, sizeof sun) == -1 ||
	    chmod(argv[1], (mode_t)mode) == -1 || listen(fd, 64) == -1)
		die(argv[1]);
	fprintf(stderr, "headscale-server: listening on %s, mode %04lo\n",
	    argv[1], mode);
	for (;;) {
		if ((conn = accept4(fd, NULL, NULL, SOCK_CLOEXEC)) == -1) {
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			die("accept");
		}
		switch (fork()) {
		case -1:
			close(conn);
			break;
		case 0:
			close(fd);
			serve(conn);
		default:
			close(conn);
		}
	}
}
