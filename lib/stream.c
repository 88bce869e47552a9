/*
 * stream.c: libfcgi's streams and plain CGI's behind struct req_io, with
 * the body and response deadlines (stream.h).
 *
 * libfcgi does its own blocking reads and writes; deadline.c explains why
 * its calls are bounded by a timer that shuts the socket down rather than
 * by poll(). Body reads shut down only the reading side, so the 408 can
 * still be written; a write past RESPONSE_TIMEOUT shuts down both.
 *
 * The timer is armed only for a call that may block: FCGX_PutStr() of
 * bytes that fit in the stream's buffer just copies them, so streaming a
 * long listing costs no system call per row.
 *
 * Plain CGI has no socket to shut down: the body is read with poll() on
 * stdin, and stdout is the web server's pipe, which it manages.
 */
#include "config.h"

#include <sys/socket.h>

#include <errno.h>
#include <fcgiapp.h>
#include <limits.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "deadline.h"
#include "stream.h"

#ifndef POLLRDHUP
#define POLLRDHUP	0
#endif

/* At most this much per FCGX_PutStr(): one stream buffer's worth. */
#define STREAM_PIECE	4096

/* Most of an unread body dropped before reading is shut down instead. */
#define STREAM_DRAIN_MAX	(1024 * 1024)

/*
 * When the body must be complete by: set at the first read. Returns the
 * milliseconds left, 0 or less once it has passed.
 */
static int64_t
body_left(struct stream *s)
{
	int64_t	now = deadline_now_ms();

	if (s->body_by == 0)
		s->body_by = now + s->body_ms;
	return s->body_by - now;
}

/* Whether fd's peer has closed its end (or the connection failed). */
static int
peer_gone(int fd, short events)
{
	struct pollfd	pfd;

	pfd.fd = fd;
	pfd.events = events;
	pfd.revents = 0;
	if (poll(&pfd, 1, 0) != 1)
		return 0;
	return (pfd.revents & (POLLRDHUP | POLLHUP | POLLERR)) != 0;
}

static long
fcgi_read(void *ctx, char *buf, size_t len)
{
	struct stream	*s = ctx;
	FCGX_Request	*fr = s->fr;
	int64_t		 left;
	int		 n, fired;

	if ((left = body_left(s)) <= 0)
		return REQ_IO_TIMEOUT;
	deadline_arm(fr->ipcFd, SHUT_RD, left);
	n = FCGX_GetStr(buf, len > INT_MAX ? INT_MAX : (int)len, fr->in);
	fired = deadline_disarm();
	if (fired)
		return REQ_IO_TIMEOUT;
	if (n == 0 && FCGX_GetError(fr->in) != 0)
		return -1;
	return n;
}

/*
 * Runs one call that may block writing to the front end, within what is
 * left of the response's waiting time. Returns 0, -1 when it failed, or
 * REQ_IO_TIMEOUT when the time ran out (the socket is then shut down).
 */
static int
fcgi_bounded(struct stream *s, int (*call)(void *), void *arg)
{
	int64_t	start, left;
	int	rc, fired;

	if ((left = s->wait_ms - s->waited) <= 0)
		return REQ_IO_TIMEOUT;
	start = deadline_now_ms();
	deadline_arm(s->fr->ipcFd, SHUT_RDWR, left);
	rc = call(arg);
	fired = deadline_disarm();
	s->waited += deadline_now_ms() - start;
	if (fired)
		return REQ_IO_TIMEOUT;
	return rc;
}

struct piece {
	FCGX_Stream	*out;
	const char	*buf;
	int		 len;
};

static int
put_piece(void *arg)
{
	struct piece	*p = arg;

	return FCGX_PutStr(p->buf, p->len, p->out) == p->len ? 0 : -1;
}

static int
fcgi_write(void *ctx, const char *buf, size_t len)
{
	struct stream	*s = ctx;
	struct piece	 p;
	int		 rc;

	p.out = s->fr->out;
	while (len > 0) {
		p.buf = buf;
		p.len = len > STREAM_PIECE ? STREAM_PIECE : (int)len;
		if (p.out->stop - p.out->wrNext >= p.len)
			rc = put_piece(&p);
		else
			rc = fcgi_bounded(s, put_piece, &p);
		if (rc != 0)
			return rc;
		buf += p.len;
		len -= (size_t)p.len;
	}
	return 0;
}

static int
flush_out(void *arg)
{
	return FCGX_FFlush(arg) == 0 ? 0 : -1;
}

static int
fcgi_flush(void *ctx)
{
	struct stream	*s = ctx;

	return fcgi_bounded(s, flush_out, s->fr->out);
}

/* A closed connection shows as POLLRDHUP (or POLLHUP) on the socket. */
static int
fcgi_gone(void *ctx)
{
	struct stream	*s = ctx;

	return peer_gone(s->fr->ipcFd, POLLRDHUP);
}

static int
finish(void *arg)
{
	FCGX_Finish_r(arg);
	return 0;
}

/*
 * Reads and drops the rest of a body the request did not read to its end
 * (refused before reading, or too large), within what is left of
 * REQUEST_BODY_TIMEOUT and up to STREAM_DRAIN_MAX bytes: the front end
 * can then finish sending and read the answer, where a failed write would
 * make it answer 502 itself. Past either bound, reading is shut down, so
 * that libfcgi's close (OS_Close() reads until two quiet seconds) does not
 * drain it at the client's pace.
 */
static void
fcgi_drain(struct stream *s)
{
	char	buf[4096];
	size_t	total = 0;
	long	n;

	while ((n = fcgi_read(s, buf, sizeof buf)) > 0)
		if ((total += (size_t)n) > STREAM_DRAIN_MAX)
			break;
	if (n != 0)
		(void)shutdown(s->fr->ipcFd, SHUT_RD);
}

void
stream_fcgi_finish(struct stream *s)
{
	FCGX_Request	*fr = s->fr;

	if (fr->in != NULL && !FCGX_HasSeenEOF(fr->in))
		fcgi_drain(s);
	/* With no time left, nothing more is written; the request still ends. */
	if (s->wait_ms - s->waited > 0)
		(void)fcgi_bounded(s, finish, fr);
	else {
		(void)shutdown(fr->ipcFd, SHUT_RDWR);
		FCGX_Finish_r(fr);
	}
}

/* Sets s up for a request with cfg's deadlines; io gets ops, on s. */
static void
stream_init(struct stream *s, struct req_io *io, const struct req_io *ops,
    FCGX_Request *fr, const struct conf *cfg)
{
	memset(s, 0, sizeof *s);
	s->fr = fr;
	s->body_ms = (int64_t)cfg->request_body_timeout * 1000;
	s->wait_ms = (int64_t)cfg->response_timeout * 1000;
	*io = *ops;
	io->ctx = s;
}

void
stream_fcgi(struct stream *s, struct req_io *io, struct FCGX_Request *fr,
    const struct conf *cfg)
{
	static const struct req_io ops = {
		fcgi_read, fcgi_write, fcgi_flush, NULL, fcgi_gone
	};

	stream_init(s, io, &ops, fr, cfg);
}

void
stream_begin(struct stream *s)
{
	s->body_by = 0;
	s->waited = 0;
}

static long
cgi_read(void *ctx, char *buf, size_t len)
{
	struct stream	*s = ctx;
	struct pollfd	 pfd;
	int64_t		 left;
	ssize_t		 n;
	int		 r;

	for (;;) {
		if ((left = body_left(s)) <= 0)
			return REQ_IO_TIMEOUT;
		pfd.fd = STDIN_FILENO;
		pfd.events = POLLIN;
		r = poll(&pfd, 1, left > INT_MAX ? INT_MAX : (int)left);
		if (r == -1 && errno != EINTR)
			return -1;
		if (r < 1)
			continue;
		if ((n = read(STDIN_FILENO, buf, len)) >= 0)
			return (long)n;
		if (errno != EINTR && errno != EAGAIN)
			return -1;
	}
}

static int
cgi_write(void *ctx, const char *buf, size_t len)
{
	(void)ctx;
	return fwrite(buf, 1, len, stdout) == len ? 0 : -1;
}

static int
cgi_flush(void *ctx)
{
	(void)ctx;
	return fflush(stdout) == 0 ? 0 : -1;
}

/* The web server closed its end of our stdout. */
static int
cgi_gone(void *ctx)
{
	(void)ctx;
	return peer_gone(STDOUT_FILENO, 0);
}

void
stream_cgi(struct stream *s, struct req_io *io, const struct conf *cfg)
{
	static const struct req_io ops = {
		cgi_read, cgi_write, cgi_flush, NULL, cgi_gone
	};

	stream_init(s, io, &ops, NULL, cfg);
}
