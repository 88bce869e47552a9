/*
 * listen.c: the unix socket behind "--listen PATH".
 *
 * libfcgi's FCGX_OpenSocket is not used: it unlinks whatever is at the
 * path and calls exit() on errors. Here a socket another program still
 * answers on is left alone, a stale one is replaced, and at exit only the
 * socket this process made is removed, even if another instance replaced
 * it meanwhile.
 */
#include "config.h"

#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/un.h>

#include <errno.h>
#include <string.h>
#include <unistd.h>

#include "listen.h"
#include "log.h"

/* Whether a program answers on the unix socket at path. */
static int
socket_live(const struct sockaddr_un *sun)
{
	int	fd, live;

	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1)
		return 1;
	live = connect(fd, (const struct sockaddr *)sun, sizeof *sun) == 0 ||
	    errno != ECONNREFUSED;
	close(fd);
	return live;
}

int
listen_unix(const char *path, struct stat *st)
{
	struct sockaddr_un	sun;
	struct stat		old;
	mode_t			mask;
	int			fd, rc;

	memset(&sun, 0, sizeof sun);
	sun.sun_family = AF_UNIX;
	if (strlen(path) >= sizeof sun.sun_path) {
		log_msg("socket path is too long (at most %zu bytes)",
		    sizeof sun.sun_path - 1);
		return -1;
	}
	memcpy(sun.sun_path, path, strlen(path) + 1);
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1) {
		log_msg("socket: %s", strerror(errno));
		return -1;
	}

	/* The socket file is born 0660: Caddy's group may connect. */
	mask = umask(0117);
	rc = bind(fd, (struct sockaddr *)&sun, sizeof sun);
	if (rc == -1 && errno == EADDRINUSE) {
		if (lstat(path, &old) == -1 || !S_ISSOCK(old.st_mode))
			log_msg("%s exists and is not a socket", path);
		else if (socket_live(&sun))
			log_msg("%s is in use by a running program", path);
		else if (unlink(path) == -1)
			log_msg("cannot remove stale socket %s: %s", path,
			    strerror(errno));
		else
			rc = bind(fd, (struct sockaddr *)&sun, sizeof sun);
		if (rc == -1 && errno == EADDRINUSE)
			errno = 0;
	}
	umask(mask);
	if (rc == -1) {
		if (errno != 0)
			log_msg("bind %s: %s", path, strerror(errno));
		close(fd);
		return -1;
	}
	if (chmod(path, 0660) == -1 || listen(fd, SOMAXCONN) == -1 ||
	    lstat(path, st) == -1) {
		log_msg("listen %s: %s", path, strerror(errno));
		(void)unlink(path);
		close(fd);
		return -1;
	}
	return fd;
}

void
listen_unlink(const char *path, const struct stat *mine)
{
	struct stat	st;

	if (lstat(path, &st) == 0 && st.st_dev == mine->st_dev &&
	    st.st_ino == mine->st_ino)
		(void)unlink(path);
}
