/*
 * stream.h: a request's streams (struct req_io) over libfcgi or plain
 * CGI, with the program's deadlines on them.
 *
 * Two deadlines hold on every stream, whatever front end is in place:
 *  - the body: all of it within REQUEST_BODY_TIMEOUT of the first read;
 *    a read past that returns REQ_IO_TIMEOUT.
 *  - the response: at most RESPONSE_TIMEOUT spent in all, over one
 *    request, blocked on a client that does not read (or reads slower
 *    than it is written); past it the connection is shut down and writes
 *    return REQ_IO_TIMEOUT.
 */
#ifndef PROV_STREAM_H
#define PROV_STREAM_H

#include <stdint.h>

#include "conf.h"
#include "req.h"

struct FCGX_Request;

struct stream {
	struct FCGX_Request	*fr;		/* NULL for plain CGI */
	int64_t			 body_ms;	/* REQUEST_BODY_TIMEOUT */
	int64_t			 wait_ms;	/* RESPONSE_TIMEOUT */
	int64_t			 body_by;	/* 0 until the first read */
	int64_t			 waited;	/* ms blocked writing so far */
};

/* Points io at libfcgi's streams of fr, deadlines from cfg. */
void	stream_fcgi(struct stream *s, struct req_io *io,
	    struct FCGX_Request *fr, const struct conf *cfg);

/* Points io at stdin and stdout, deadlines from cfg. */
void	stream_cgi(struct stream *s, struct req_io *io,
	    const struct conf *cfg);

/* Resets the deadlines for the next request on the same streams. */
void	stream_begin(struct stream *s);

/*
 * Ends a FastCGI request (FCGX_Finish_r) without waiting on the front end
 * past what is left of RESPONSE_TIMEOUT; what is left of a body the
 * request did not read is dropped within REQUEST_BODY_TIMEOUT.
 */
void	stream_fcgi_finish(struct stream *s);

#endif /* PROV_STREAM_H */
