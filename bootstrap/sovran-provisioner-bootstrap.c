/*
 * sovran-provisioner-bootstrap: puts the provisioner's state in place, on
 * every boot, before any endpoint serves.
 *
 * Run as root (sovran-provisioner-bootstrap.service). Each step looks at
 * what exists and only adds what is missing, so a second run changes
 * nothing and a run while the endpoints serve does not disturb them:
 *
 *   1. the data directory, mode 0750, owned by the service user;
 *   2. the enrollment token, created once (or when it holds nothing but
 *      white space): 32 bytes from getrandom(2) as 64 lower-case hex digits
 *      and a newline, written to a fresh 0600 file, synced and linked into
 *      place; never printed; the same for the operator's admin token;
 *   3. the database, created or migrated, handed to the service user,
 *      and the Flask service's machines.json imported into it once
 *      (import.c);
 *   4. a look at "headscale version": anything but 0.28.x is warned about;
 *   5. a bounded wait until headscale answers (BOOTSTRAP_WAIT seconds);
 *   6. the Headscale users HEADSCALE_USER and ADMIN_USER, each created only
 *      when "users list" lacks it.
 *
 * The data directory belongs to the service user, who could leave symlinks,
 * FIFOs or hard links to other files in it. Before anything is changed,
 * every file this program writes or hands over is looked at through the
 * directory's descriptor with O_NOFOLLOW: a symlink, anything but a
 * regular file, or a file with a second hard link (which could be a root
 * file linked in) stops the run with EXIT_FS and nothing touched. sqlite
 * then opens the database with SQLITE_OPEN_NOFOLLOW (DB_NOFOLLOW). The
 * import only reads machines.json, with its own checks, and skips a file
 * it refuses rather than stopping the boot.
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

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "bounds.h"
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
#define ADMIN_TOKEN_NAME	"admin-token"	/* the operator's: /machines */
#define DB_NAME		"provisioner.db"

/*
 * Every name in the data directory this program opens, and so checks
 * first (inspect()). A step that handles another file adds its name here.
 */
static const char *const data_files[] = {
	TOKEN_NAME, ADMIN_TOKEN_NAME,
	DB_NAME, DB_NAME "-wal", DB_NAME "-shm", DB_NAME "-journal",
};

/* The release series this build speaks to (docs/design.md). */
#define HS_SERIES	"0.28."

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
 * without blocking on a FIFO, and insists on a regular file with one link:
 * a second link could be a file of root's that the service user linked in,
 * which root must neither change nor hand over. Returns the descriptor, or
 * -1 with errno ENOENT when there is no such file.
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
		die(EXIT_FS, "%s/%s: %s%s; refusing to touch it",
		    b->cfg.data_dir, name, strerror(errno),
		    errno == ELOOP ? " (a symlink)" : "");
	}
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode))
		die(EXIT_FS, "%s/%s: not a regular file; refusing to touch it",
		    b->cfg.data_dir, name);
	if (st.st_nlink != 1)
		die(EXIT_FS, "%s/%s: has %ju hard links (another name for the "
		    "same file); refusing to touch it", b->cfg.data_dir, name,
		    (uintmax_t)st.st_nlink);
	return fd;
}

/*
 * Checks every file of data_files[] that exists before any step changes
 * one, so a planted file stops the run with nothing written, chowned or
 * replaced, the token included.
 */
static void
inspect(const struct boot *b)
{
	size_t	i;
	int	fd;

	for (i = 0; i < sizeof(data_files) / sizeof(data_files[0]); i++)
		if ((fd = open_regular(b, data_files[i], O_RDONLY)) != -1)
			close(fd);
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
 * Whether fd (at offset 0) holds anything but white space in the bytes a
 * token may have (auth.c refuses a longer file anyway): one that does not
 * is no token. Returns 1, 0, or -1 with errno.
 */
static int
has_token(int fd)
{
	char	buf[PROV_MAX_TOKEN + 1];
	size_t	len = 0, i;
	ssize_t	n;

	while (len < sizeof(buf) &&
	    (n = read(fd, buf + len, sizeof(buf) - len)) != 0) {
		if (n == -1) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		len += (size_t)n;
	}
	for (i = 0; i < len; i++)
		if (!isspace((unsigned char)buf[i]))
			return 1;
	return 0;
}

/*
 * Step 2: a token file called name in the data directory: 32 random bytes
 * as hex and a newline, mode 0600, the service user's. An existing token is
 * kept as it is (an operator may have rotated it); only its owner and mode
 * are fixed. A new one is written to a temporary file, synced, and linked
 * into place, which fails rather than replaces if a token appeared
 * meanwhile; a file holding only white space is no token (every request
 * would be refused while the log said "ready") and is replaced by rename.
 * name must be in data_files[].
 */
static void
ensure_token(const struct boot *b, const char *name)
{
	static const char	 hex[] = "0123456789abcdef";
	unsigned char		 raw[TOKEN_BYTES];
	char			 text[2 * TOKEN_BYTES + 1], tmp[64];
	size_t			 i;
	int			 fd, found, blank = 0;

	if ((fd = open_regular(b, name, O_RDONLY)) != -1) {
		if ((found = has_token(fd)) == -1)
			die(EXIT_FS, "%s/%s: %s", b->cfg.data_dir, name,
			    strerror(errno));
		if (found) {
			own(b, fd, 0600, name);
			close(fd);
			return;
		}
		close(fd);
		blank = 1;
		log_msg("%s is empty or only white space: no client could "
		    "use it; replacing it with a new token", name);
	}

	/* Left behind by a run that died half-way: it was never in use. */
	if ((size_t)snprintf(tmp, sizeof(tmp), ".%s.new", name) >= sizeof(tmp))
		die(EXIT_FS, "%s: name too long", name);
	if (unlinkat(b->dirfd, tmp, 0) != 0 && errno != ENOENT)
		die(EXIT_FS, "%s/%s: %s", b->cfg.data_dir, tmp,
		    strerror(errno));
	fd = openat(b->dirfd, tmp,
	    O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd == -1)
		die(EXIT_FS, "%s/%s: %s", b->cfg.data_dir, tmp,
		    strerror(errno));

	random_bytes(raw, sizeof(raw));
	for (i = 0; i < sizeof(raw); i++) {
		text[2 * i] = hex[raw[i] >> 4];
		text[2 * i + 1] = hex[raw[i] & 0x0f];
	}
	text[2 * TOKEN_BYTES] = '\n';
	if (write_all(fd, text, sizeof(text)) != 0 || fsync(fd) != 0)
		die(EXIT_FS, "%s/%s: %s", b->cfg.data_dir, tmp,
		    strerror(errno));
	explicit_bzero(raw, sizeof(raw));
	explicit_bzero(text, sizeof(text));
	own(b, fd, 0600, tmp);
	close(fd);

	if (blank) {
		if (renameat(b->dirfd, tmp, b->dirfd, name) != 0)
			die(EXIT_FS, "%s/%s: %s", b->cfg.data_dir, name,
			    strerror(errno));
		log_msg("replaced %s/%s", b->cfg.data_dir, name);
	} else if (linkat(b->dirfd, tmp, b->dirfd, name, 0) != 0) {
		if (errno != EEXIST)
			die(EXIT_FS, "%s/%s: %s", b->cfg.data_dir, name,
			    strerror(errno));
		log_msg("%s appeared meanwhile; keeping it", name);
	} else
		log_msg("created %s/%s", b->cfg.data_dir, name);
	if ((!blank && unlinkat(b->dirfd, tmp, 0) != 0) ||
	    fsync(b->dirfd) != 0)
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

	if (db_open(&db, b->cfg.db_path, DB_CREATE | DB_NOFOLLOW) != PROV_OK)
		die(EXIT_FS, "cannot create or migrate the database: %s "
		    "(a symbolic link anywhere in its path is refused)",
		    db_errmsg(NULL));
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
 * Step 4: says in the log when headscale is not of the series this build
 * speaks to. Never fatal: the wait below decides whether headscale can be
 * used at all, and an operator mid-upgrade should still get a service.
 *
 * headscale 0.28.0's "version" (cmd/headscale/cli/version.go and
 * hscontrol/types/version.go at v0.28.0) needs neither config nor server
 * when it is argv[1] and prints several lines, the first
 * "headscale version v0.28.0"; older releases print the bare version. The
 * first line is read either way, with or without the words and the "v".
 */
static void
headscale_version(const struct boot *b)
{
	const char *const	 argv[] = {
		b->cfg.headscale_bin, "version", NULL
	};
	static const char	 words[] = "headscale version ";
	char			 why[256] = "";
	char			*out, *v;
	size_t			 len;

	if (hs_run(&b->cfg, argv, &out, &len, why, sizeof(why)) != PROV_OK) {
		log_msg("warning: cannot tell headscale's version (%s); this "
		    "build needs %sx", why[0] != '\0' ? why : "it did not run",
		    HS_SERIES);
		return;
	}
	/* The first line, and nothing the journal could misread. */
	for (v = out; isprint((unsigned char)*v); v++)
		;
	*v = '\0';
	v = out;
	if (strncmp(v, words, sizeof(words) - 1) == 0)
		v += sizeof(words) - 1;
	if (*v == 'v')
		v++;
	if (strncmp(v, HS_SERIES, sizeof(HS_SERIES) - 1) != 0)
		log_msg("warning: headscale version is \"%.40s\", not %sx: "
		    "this build is made for the headscale %sx command line; "
		    "see the upgrade section of the guide", v, HS_SERIES,
		    HS_SERIES);
	free(out);
}

/*
 * Step 5: headscale must be there and answer. "Started" is not
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

/* Step 6: one Headscale user, created only when missing. */
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
	inspect(&b);
	ensure_token(&b, TOKEN_NAME);
	ensure_token(&b, ADMIN_TOKEN_NAME);
	database(&b);
	import_machines(&b.cfg, b.dirfd);	/* the Flask service's history */
	headscale_version(&b);
	wait_for_headscale(&b);
	ensure_user(&b, b.cfg.headscale_user, "HEADSCALE_USER");
	if (strcmp(b.admin_user, b.cfg.headscale_user) != 0)
		ensure_user(&b, b.admin_user, "ADMIN_USER");

	close(b.dirfd);
	log_msg("ready: %s", b.cfg.data_dir);
	return 0;
}
