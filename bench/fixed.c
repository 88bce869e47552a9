/*
 * fixed.c: the benchmark's yardstick, a FastCGI responder that answers every
 * request with {"status":"ok"} and does nothing else.
 *
 * Whatever rate Caddy reaches in front of this program is the ceiling of the
 * transport (Caddy's FastCGI client, a unix socket, libfcgi); bench/run
 * compares the real programs against it. It is shaped like them on purpose:
 * its own socket via --listen, the same number of pre-forked workers via
 * --workers, so the comparison isolates what a program does per request.
 *
 *	fixed --listen PATH [--workers N]
 *
 * Not installed and not hardened for production: it exists to be measured.
 */
#include "config.h"

#include <errno.h>
#include <fcgiapp.h>
#include <json.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bounds.h"

/* The whole response, built once: the loop below only copies bytes. */
static char	answer[256];
static int	answerlen;

static int
build_answer(void)
{
	struct json_object	*o;
	const char		*body;

	if ((o = json_object_new_object()) == NULL)
		return -1;
	if (json_object_object_add(o, "status",
	    json_object_new_string("ok")) != 0) {
		json_object_put(o);
		return -1;
	}
	body = json_object_to_json_string_ext(o,
	    JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE);
	answerlen = snprintf(answer, sizeof(answer),
	    "Status: 200 OK\r\n"
	    "Content-Type: application/json\r\n"
	    "Content-Length: %zu\r\n"
	    "\r\n"
	    "%s", strlen(body), body);
	json_object_put(o);
	return answerlen > 0 && (size_t)answerlen < sizeof(answer) ? 0 : -1;
}

/*
 * One worker: accept and answer until libfcgi reports shutdown. FCGX_Init
 * ran in the supervisor before fork, so its SIGTERM handler (which makes
 * FCGX_Accept_r return -1) is already in place here.
 */
static void
serve(int fd)
{
	FCGX_Request	r;

	if (FCGX_InitRequest(&r, fd, 0) != 0)
		_exit(1);
	while (FCGX_Accept_r(&r) >= 0) {
		FCGX_PutStr(answer, answerlen, r.out);
		FCGX_Finish_r(&r);
	}
	_exit(0);
}

static void
usage(void)
{
	fprintf(stderr, "usage: fixed --listen PATH [--workers N]\n");
	exit(2);
}

int
main(int argc, char *argv[])
{
	const char	*path = NULL;
	pid_t		 kids[PROV_MAX_WORKERS];
	sigset_t	 stop, old;
	long		 workers = 1;
	char		*end;
	int		 fd, i, sig, status = 0;

	for (i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--listen") == 0 && i + 1 < argc)
			path = argv[++i];
		else if (strcmp(argv[i], "--workers") == 0 && i + 1 < argc) {
			errno = 0;
			workers = strtol(argv[++i], &end, 10);
			if (errno != 0 || *end != '\0' || workers < 1 ||
			    workers > PROV_MAX_WORKERS)
				usage();
		} else
			usage();
	}
	if (path == NULL)
		usage();
	if (build_answer() != 0 || FCGX_Init() != 0) {
		fprintf(stderr, "fixed: cannot initialise\n");
		return 1;
	}

	/* Group read/write only, like the real programs' sockets. */
	umask(0117);
	if ((fd = FCGX_OpenSocket(path, 128)) < 0) {
		fprintf(stderr, "fixed: cannot listen on the socket\n");
		return 1;
	}

	/*
	 * The supervisor takes its signals synchronously: blocked here, then
	 * collected by sigwait, so none can slip in between a check and a
	 * blocking call. Workers get the old mask back.
	 */
	sigemptyset(&stop);
	sigaddset(&stop, SIGTERM);
	sigaddset(&stop, SIGINT);
	sigaddset(&stop, SIGCHLD);
	sigprocmask(SIG_BLOCK, &stop, &old);

	for (i = 0; i < workers; i++) {
		if ((kids[i] = fork()) == -1) {
			perror("fixed: fork");
			workers = i;
			status = 1;
			break;
		}
		if (kids[i] == 0) {
			sigprocmask(SIG_SETMASK, &old, NULL);
			serve(fd);
		}
	}

	/* A worker that dies ends the run: a benchmark must not hide it. */
	if (status == 0 && sigwait(&stop, &sig) == 0 && sig == SIGCHLD) {
		fprintf(stderr, "fixed: a worker died\n");
		status = 1;
	}
	for (i = 0; i < workers; i++)
		kill(kids[i], SIGTERM);
	while (wait(NULL) > 0 || errno == EINTR)
		continue;
	unlink(path);
	return status;
}
