/*
 * sovran-provisioner-bootstrap: puts the provisioner's state in place, on
 * every boot, before any endpoint serves.
 *
 * Run as root (sovran-provisioner-bootstrap.service). Each step looks at
 * what exists and only adds what is missing, so a second run changes
 * nothing and a run while the endpoints serve does not disturb them:
 *
 *   1. the data directory, mode 0750, owned by the service user;
 *   2. the enrollment token, created once: 32 bytes from getrandom(2) as 64
 *      lower-case hex digits and a newline, written to a fresh 0600 file,
 *      synced and linked into place; never printed;
 *   3. the database, created or migrated, handed to the service user;
 *   4. a bounded wait until headscale answers (BOOTSTRAP_WAIT seconds);
 *   5. the Headscale users HEADSCALE_USER and ADMIN_USER, each created only
 *      when "users list" lacks it.
 *
 * The data directory belongs to the service user, who could leave symlinks
 * or FIFOs in it; every file is therefore reached through the directory's
 * descriptor with O_NOFOLLOW and checked to be a regular file before root
 * changes its owner.
 *
 * Exit status (also documented in docs/deployment-notes.md):
 *   0  everything is in place
 *   2  bad configuration (environment, unknown service user)
 *   3  headscale missing or not executable
 *   4  headscale never answered within BOOTSTRAP_WAIT seconds
 *   5  permission or filesystem problem (not root, data directory, token,
 *      database)
 *   6  headscale refused to create a user
 */
#include "config.h"

#include <sys/random.h>
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "conf.h"
#include "db.h"
#include "headscale.h"
#include "import.h"
#include "log.h"
#include "validate.h"

#define EXIT_CONFIG	2
#define EXIT_NOHS	3
#define EXIT_HSDOWN	4
#define EXIT_FS		5
#define EXIT_HSREFUSED	6

#define TOKEN_BYTES	32
#define TOKEN_NAME	"enroll-token"
#define TOKEN_TMP	".enroll-token.new"
#define DB_NAME		"provisioner.db"

/* Longest BOOTSTRAP_WAIT accepted: an hour is already a broken boot. */
#define WAIT_MAX	3600
#define WAIT_DEFAULT	60

struct boot {
	struct conf	 cfg;
	const char	*admin_user;
	const char	*service_user;
	uid_t		 uid;
	gid_t		 gid;
	unsigned int	 wait;		/* seconds */
	int		 dirfd;		/* the data directory */
};

static void	die(int, const char *, ...)
		    __attribute__((format(printf, 2, 3), noreturn));

/* One line to stderr (the journal, under systemd), then exit. */
static void
die(int status, const char *fmt, ...)
{
	va_list	ap;

	va_start(ap, fmt);
	log_vmsg(fmt, ap);
	va_end(ap);
	exit(status);
}

/* getenv with a default for unset or empty variables. */
static const char *
env_or(const char *name, const char *dflt)
{
	const char	*v = getenv(name);

	return v != NULL && *v != '\0' ? v : dflt;
}

/*
 * Reads everything besides conf_load()'s variables and resolves the service
 * user. Exits with EXIT_CONFIG on a bad value, EXIT_FS when the caller may
 * not do the work.
 */
static void
boot_config(struct boot *b)
{
	char			 err[256];
	const char		*w;
	char			*end;
	unsigned long		 n;
	const struct passwd	*pw;

	if (conf_load(&b->cfg, 0, err, sizeof(err)) != 0)
		die(EXIT_CONFIG, "%s", err);

	b->admin_user = env_or("ADMIN_USER", "admin");
	if (!validate_name(b->admin_user, strlen(b->admin_user)))
		die(EXIT_CONFIG, "ADMIN_USER: not a usable Headscale user name");

	b->wait = WAIT_DEFAULT;
	if ((w = getenv("BOOTSTRAP_WAIT")) != NULL && *w != '\0') {
		errno = 0;
		n = strtoul(w, &end, 10);
		if (*w < '0' || *w > '9' || *end != '\0' || errno != 0 ||
		    n > WAIT_MAX)
			die(EXIT_CONFIG, "BOOTSTRAP_WAIT: want whole seconds, "
			    "0 to %d", WAIT_MAX);
		b->wait = (unsigned int)n;
	}

	b->service_user = env_or("PROVISIONER_USER", "sovran-provisioner");
	if ((pw = getpwnam(b->service_user)) == NULL)
		die(EXIT_CONFIG, "PROVISIONER_USER: no such user: %s",
		    b->service_user);
	b->uid = pw->pw_uid;
	b->gid = pw->pw_gid;

	/*
	 * Only root can hand files to another user. Running as the service
	 * user itself needs no chown, which is what lets the test suite run
	 * the real program without root.
	 */
	if (geteuid() != 0 && geteuid() != b->uid)
		die(EXIT_FS, "must run as root (or as PROVISIONER_USER %s)",
		    b->service_user);
}

/*
 * Gives the open file fd to the service user with mode, unless it already
 * is so; what is fixed and named is only logged when it changed.
 */
static void
own(const struct boot *b, int fd, mode_t mode, const char *name)
{
	struct stat	st;

	if (fstat(fd, &st) != 0)
		die(EXIT_FS, "%s: %s", name, strerror(errno));
	if ((st.st_uid != b->uid || st.st_gid != b->gid) &&
	    fchown(fd, b->uid, b->gid) != 0)
		die(EXIT_FS, "%s: chown to %s: %s", name, b->service_user,
		    strerror(errno));
	if ((st.st_mode & 07777) != mode && fchmod(fd, mode) != 0)
		die(EXIT_FS, "%s: chmod: %s", name, strerror(errno));
}

/*
 * Opens name in the data directory without following a symlink and
 * without blocking on a FIFO, and insists on a regular file. Returns the
 * descriptor, or -1 with errno ENOENT when there is no such file.
 */
static int
open_regular(const struct boot *b, const char *name, int flags)
{
	struct stat	st;
	int		fd;

	fd = openat(b->dirfd, name,
	    flags | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
	if (fd == -1) {
		if (errno == ENOENT)
			return -1;
		die(EXIT_FS, "%s/%s: %s%s", b->cfg.data_dir, name,
		    strerror(errno), errno == ELOOP ? " (a symlink)" : "");
	}
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode))
		die(EXIT_FS, "%s/%s: not a regular file", b->cfg.data_dir,
		    name);
	return fd;
}

/* Step 1: the data directory, 0750, the service user's. */
static void
data_dir(struct boot *b)
{
	if (mkdir(b->cfg.data_dir, 0750) == 0)
		log_msg("created %s", b->cfg.data_dir);
	else if (errno != EEXIST)
		die(EXIT_FS, "%s: %s", b->cfg.data_dir, strerror(errno));

	b->dirfd = open(b->cfg.data_dir,
	    O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (b->dirfd == -1)
		die(EXIT_FS, "%s: %s", b->cfg.data_dir, errno == ENOTDIR ||
		    errno == ELOOP ? "not a directory" : strerror(errno));
	own(b, b->dirfd, 0750, b->cfg.data_dir);
}

/* Writes all of buf to fd. Returns 0, or -1 with errno set. */
static int
write_all(int fd, const char *buf, size_t len)
{
	ssize_t	n;

	while (len > 0) {
		if ((n = write(fd, buf, len)) == -1) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		buf += n;
		len -= (size_t)n;
	}
	return 0;
}

/* Fills buf with len bytes from the kernel's CSPRNG. */
static void
random_bytes(unsigned char *buf, size_t len)
{
	ssize_t	n;

	while (len > 0) {
		if ((n = getrandom(buf, len, 0)) == -1) {
			if (errno == EINTR)
				continue;
			die(EXIT_FS, "getrandom: %s", strerror(errno));
		}
		buf += n;
		len -= (size_t)n;
	}
}

/*
 * Step 2: the enrollment token. An existing non-empty token is kept as it
 * is (an operator may have rotated it); only its owner and mode are fixed.
 * A new one is written to a temporary file and linked into place, which
 * fails rather than replaces if a token appeared meanwhile.
 */
static void
token(const struct boot *b)
{
	static const char	 hex[] = "0123456789abcdef";
	unsigned char		 raw[TOKEN_BYTES];
	char			 text[2 * TOKEN_BYTES + 1];
	struct stat		 st;
	size_t			 i;
	int			 fd;

	if ((fd = open_regular(b, TOKEN_NAME, O_RDONLY)) != -1) {
		if (fstat(fd, &st) == 0 && st.st_size > 0) {
			own(b, fd, 0600, TOKEN_NAME);
			close(fd);
			return;
		}
		close(fd);
		log_msg("%s is empty; writing a new one", TOKEN_NAME);
	}

	/* Left behind by a run that died half-way: it was never in use. */
	if (unlinkat(b->dirfd, TOKEN_TMP, 0) != 0 && errno != ENOENT)
		die(EXIT_FS, "%s/%s: %s", b->cfg.data_dir, TOKEN_TMP,
		    strerror(errno));
	fd = openat(b->dirfd, TOKEN_TMP,
	    O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd == -1)
		die(EXIT_FS, "%s/%s: %s", b->cfg.data_dir, TOKEN_TMP,
		    strerror(errno));

	random_bytes(raw, sizeof(raw));
	for (i = 0; i < sizeof(raw); i++) {
		text[2 * i] = hex[raw[i] >> 4];
		text[2 * i + 1] = hex[raw[i] & 0x0f];
	}
	text[2 * TOKEN_BYTES] = '\n';
	if (write_all(fd, text, sizeof(text)) != 0 || fsync(fd) != 0)
		die(EXIT_FS, "%s/%s: %s", b->cfg.data_dir, TOKEN_TMP,
		    strerror(errno));
	explicit_bzero(raw, sizeof(raw));
	explicit_bzero(text, sizeof(text));
	own(b, fd, 0600, TOKEN_TMP);
	close(fd);

	if (linkat(b->dirfd, TOKEN_TMP, b->dirfd, TOKEN_NAME, 0) != 0) {
		if (errno != EEXIST)
			die(EXIT_FS, "%s/%s: %s", b->cfg.data_dir, TOKEN_NAME,
			    strerror(errno));
		log_msg("%s appeared meanwhile; keeping it", TOKEN_NAME);
	} else
		log_msg("created %s/%s", b->cfg.data_dir, TOKEN_NAME);
	if (unlinkat(b->dirfd, TOKEN_TMP, 0) != 0 || fsync(b->dirfd) != 0)
		die(EXIT_FS, "%s: %s", b->cfg.data_dir, strerror(errno));
}

/*
 * Step 3: the database, created or migrated by db_open(), then it and the
 * WAL files sqlite may leave beside it handed to the service user.
 */
static void
database(const struct boot *b)
{
	static const char	*const names[] = {
		DB_NAME, DB_NAME "-wal", DB_NAME "-shm",
	};
	struct db		*db;
	size_t			 i;
	int			 fd;

	if (db_open(&db, b->cfg.db_path, DB_CREATE) != PROV_OK)
		die(EXIT_FS, "%s: cannot create or migrate the database",
		    b->cfg.db_path);
	db_close(db);

	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		if ((fd = open_regular(b, names[i], O_RDONLY)) == -1)
			continue;
		own(b, fd, 0600, names[i]);
		close(fd);
	}
}

/* Monotonic seconds, for the wait deadline. */
static time_t
now(void)
{
	struct timespec	ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec;
}

/*
 * Step 4: headscale must be there and answer. "Started" is not
 * "answering": the server may still be opening its database, so this
 * polls "users list" until BOOTSTRAP_WAIT runs out, saying how long is
 * left now and then.
 */
static void
wait_for_headscale(const struct boot *b)
{
	char		why[256];
	time_t		deadline, left, told = 0;
	unsigned int	tries = 0;

	if (access(b->cfg.headscale_bin, X_OK) != 0)
		die(EXIT_NOHS, "headscale not found or not executable: %s "
		    "(set HEADSCALE_BIN): %s", b->cfg.headscale_bin,
		    strerror(errno));

	deadline = now() + (time_t)b->wait;
	for (;;) {
		why[0] = '\0';
		tries++;
		if (hs_ping(&b->cfg, why, sizeof(why)) == PROV_OK)
			break;
		left = deadline - now();
		if (left <= 0)
			die(EXIT_HSDOWN, "headscale did not answer within %u s "
			    "(%u tries; last: %s); is headscale.service "
			    "running, and its socket reachable?", b->wait,
			    tries, why[0] != '\0' ? why : "no reason given");
		if (told == 0 || told - left >= 5) {
			log_msg("waiting for headscale (%lld s left): %s",
			    (long long)left, why[0] != '\0' ? why : "no answer");
			told = left;
		}
		sleep(1);
	}
	if (tries > 1)
		log_msg("headscale answers");
}

/* Step 5: one Headscale user, created only when missing. */
static void
ensure_user(const struct boot *b, const char *name, const char *var)
{
	char		why[256] = "";
	int		created = 0;
	enum prov_err	e;

	e = hs_user_ensure(&b->cfg, name, &created, why, sizeof(why));
	if (e == PROV_BADREQ)
		die(EXIT_CONFIG, "%s: not a usable Headscale user name", var);
	if (e != PROV_OK)
		die(EXIT_HSREFUSED, "cannot create Headscale user %s: %s",
		    name, why[0] != '\0' ? why : prov_strerror(e));
	log_msg(created ? "created Headscale user %s" :
	    "Headscale user %s exists", name);
}

int
main(int argc, char *argv[])
{
	struct boot	b;

	log_init("sovran-provisioner-bootstrap");
	if (argc > 1)
		die(EXIT_CONFIG, "takes no arguments; configure it through "
		    "the environment");
	memset(&b, 0, sizeof(b));
	b.dirfd = -1;
	/* Whatever is created here is private until handed over. */
	umask(077);

	boot_config(&b);
	data_dir(&b);
	token(&b);
	database(&b);
	import_machines(&b.cfg, b.dirfd);	/* the Flask service's history */
	wait_for_headscale(&b);
	ensure_user(&b, b.cfg.headscale_user, "HEADSCALE_USER");
	if (strcmp(b.admin_user, b.cfg.headscale_user) != 0)
		ensure_user(&b, b.admin_user, "ADMIN_USER");

	close(b.dirfd);
	log_msg("ready: %s", b.cfg.data_dir);
	return 0;
}
