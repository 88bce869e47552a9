/*
 * listen.h: the unix socket a program serves FastCGI on with --listen.
 */
#ifndef PROV_LISTEN_H
#define PROV_LISTEN_H

#include <sys/stat.h>

/*
 * Creates the listening socket at path, mode 0660, refusing to take over a
 * socket another program still answers on and replacing a stale one.
 * Records the file's identity in *st for listen_unlink(). Returns the fd,
 * or -1 after logging why.
 */
int	listen_unix(const char *path, struct stat *st);

/* Removes the socket at path if it is still the one listen_unix() made. */
void	listen_unlink(const char *path, const struct stat *mine);

#endif /* PROV_LISTEN_H */
