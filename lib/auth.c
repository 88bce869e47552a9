/*
 * auth.c: loading the enrollment token and comparing against it.
 *
 * The file is stat(2)ed on every check and read again only when its
 * device, inode, size, mtime or ctime changed: cheap, and a rotation by
 * rename or by rewrite is seen at the next request. (A rewrite that keeps
 * size and both timestamps to the nanosecond would go unnoticed; editors
 * and the bootstrap always change at least one of them.)
 *
 * Every copy of the secret is wiped with explicit_bzero when done with, and
 * nothing here logs it: log lines name the file and its state only.
 */
#include "config.h"

#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#include "auth.h"
#include "log.h"

void
auth_init(struct auth *a, const char *path)
{
	memset(a, 0, sizeof *a);
	if (strlen(path) < sizeof a->path)
		memcpy(a->path, path, strlen(path) + 1);
	/* An over-long path stays "" and is reported missing at first use. */
}

enum auth_state
auth_state(const struct auth *a)
{
	return a->state;
}

void
auth_clear(struct auth *a)
{
	explicit_bzero(a->token, sizeof a->token);
	a->len = 0;
	a->have_id = 0;
	a->state = AUTH_UNKNOWN;
}

static int
same_time(const struct timespec *x, const struct timespec *y)
{
	return x->tv_sec == y->tv_sec && x->tv_nsec == y->tv_nsec;
}

/* Moves to state s, dropping any loaded token, and logs a change once. */
static void
auth_set_state(struct auth *a, enum auth_state s)
{
	static const char *const why[] = {
		[AUTH_MISSING] = "is missing",
		[AUTH_UNREADABLE] = "cannot be read",
		[AUTH_EMPTY] = "is empty",
		[AUTH_TOOLONG] = "is too long",
		[AUTH_BADCHARS] = "holds spaces or control characters",
	};

	if (s != AUTH_READY) {
		explicit_bzero(a->token, sizeof a->token);
		a->len = 0;
	}
	a->state = s;
	if (s == AUTH_READY || s == a->logged)
		return;
	a->logged = s;
	log_msg("token file %s %s: every authenticated request is refused",
	    a->path, why[s]);
}

/* Reads the token file behind the already open fd into a. */
static void
auth_load(struct auth *a, int fd)
{
	/* One byte more than allowed, to tell "too long" from "just fits". */
	unsigned char	buf[PROV_MAX_TOKEN + 1];
	struct stat	st;
	size_t		len = 0, i;
	ssize_t		n;
	enum auth_state	s = AUTH_READY;

	if (fstat(fd, &st) == -1 || !S_ISREG(st.st_mode)) {
		a->have_id = 0;
		auth_set_state(a, AUTH_UNREADABLE);
		return;
	}
	while (len < sizeof buf) {
		n = read(fd, buf + len, sizeof buf - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			s = AUTH_UNREADABLE;
			break;
		}
		if (n == 0)
			break;
		len += (size_t)n;
	}
	if (s == AUTH_READY && len > PROV_MAX_TOKEN)
		s = AUTH_TOOLONG;
	if (s == AUTH_READY && len > 0 && buf[len - 1] == '\n')
		len--;
	if (s == AUTH_READY && len == 0)
		s = AUTH_EMPTY;
	for (i = 0; s == AUTH_READY && i < len; i++)
		if (buf[i] <= 0x20 || buf[i] >= 0x7f)
			s = AUTH_BADCHARS;

	if (s == AUTH_READY) {
		/*
		 * Said only when it is news: a token replacing another, or
		 * one ending a problem already logged. A first load is
		 * silent, since a CGI process makes one per request.
		 */
		if (a->len > 0 ||
		    (a->logged != AUTH_UNKNOWN && a->logged != AUTH_READY))
			log_msg("token %s from %s", a->len > 0 ? "reloaded" :
			    "loaded", a->path);
		memset(a->token, 0, sizeof a->token);
		memcpy(a->token, buf, len);
		a->len = len;
		a->logged = AUTH_READY;
	}
	explicit_bzero(buf, sizeof buf);
	auth_set_state(a, s);

	/* Remember what was read, so an unchanged file is not read again. */
	a->have_id = 1;
	a->dev = st.st_dev;
	a->ino = st.st_ino;
	a->size = st.st_size;
	a->mtime = st.st_mtim;
	a->ctime = st.st_ctim;
}

/* Brings a up to date with the file, reading it only if it changed. */
static void
auth_refresh(struct auth *a)
{
	struct stat	st;
	int		fd;

	if (a->path[0] == '\0' || stat(a->path, &st) == -1) {
		a->have_id = 0;
		auth_set_state(a, a->path[0] == '\0' || errno == ENOENT ||
		    errno == ENOTDIR ? AUTH_MISSING : AUTH_UNREADABLE);
		return;
	}
	if (a->have_id && a->dev == st.st_dev && a->ino == st.st_ino &&
	    a->size == st.st_size && same_time(&a->mtime, &st.st_mtim) &&
	    same_time(&a->ctime, &st.st_ctim))
		return;
	fd = open(a->path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (fd == -1) {
		a->have_id = 0;
		auth_set_state(a, errno == ENOENT ? AUTH_MISSING :
		    AUTH_UNREADABLE);
		return;
	}
	auth_load(a, fd);
	close(fd);
}

int
auth_bearer(const char *header, const char **token, size_t *len)
{
	static const char	 scheme[] = "bearer";
	size_t			 hlen, i;
	const char		*p;

	if (header == NULL)
		return -1;
	hlen = strnlen(header, PROV_MAX_AUTH_HEADER + 1);
	if (hlen > PROV_MAX_AUTH_HEADER || hlen < sizeof scheme)
		return -1;
	/* ASCII case folding by hand: the locale must not matter here. */
	for (i = 0; i < sizeof scheme - 1; i++)
		if ((header[i] | 0x20) != scheme[i])
			return -1;
	p = header + sizeof scheme - 1;
	if (*p != ' ' && *p != '\t')
		return -1;
	while (*p == ' ' || *p == '\t')
		p++;
	if (*p == '\0')
		return -1;
	for (i = 0; p[i] != '\0'; i++)
		if ((unsigned char)p[i] <= 0x20 || (unsigned char)p[i] >= 0x7f)
			return -1;
	*token = p;
	*len = i;
	return 0;
}

/*
 * Compares the presented token with the loaded one. The loop runs over the
 * presented length only and always reads the zero-padded buffer, so its
 * time depends on what the client sent, never on the secret.
 */
static int
auth_equal(const struct auth *a, const char *tok, size_t len)
{
	volatile unsigned char	diff = 0;
	size_t			i;

	if (len > sizeof a->token)
		return 0;
	for (i = 0; i < len; i++)
		diff |= (unsigned char)tok[i] ^ a->token[i];
	return (diff == 0) & (len == a->len);
}

enum prov_err
auth_check_admin(struct auth *admin, struct auth *enroll, const char *header)
{
	const char	*tok;
	size_t		 len;
	int		 is_enroll, is_admin;

	auth_refresh(admin);
	auth_refresh(enroll);
	if (auth_bearer(header, &tok, &len) == -1)
		return PROV_UNAUTH;
	/* Both compared every time, so timing tells neither apart. */
	is_enroll = enroll->state == AUTH_READY && auth_equal(enroll, tok, len);
	is_admin = admin->state == AUTH_READY && auth_equal(admin, tok, len);
	if (is_enroll)
		return PROV_FORBIDDEN;
	return is_admin ? PROV_OK : PROV_UNAUTH;
}

enum prov_err
auth_check(struct auth *a, const char *header)
{
	const char	*tok;
	size_t		 len;

	auth_refresh(a);
	if (auth_bearer(header, &tok, &len) == -1)
		return PROV_UNAUTH;
	if (a->state != AUTH_READY)
		return PROV_UNAUTH;
	return auth_equal(a, tok, len) ? PROV_OK : PROV_UNAUTH;
}
