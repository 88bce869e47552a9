/*
 * metrics.c: the shared counters behind /metrics (see metrics.h for why a
 * mapped file). Layout: a header naming the layout version, then fixed
 * arrays of 64-bit counters, indexed by small tables of the label values
 * that can occur; anything outside a table counts as "other".
 */
#include "config.h"

#include <sys/mman.h>
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "metrics.h"

#define MX_MAGIC	UINT64_C(0x31525445564f5353)	/* "SSOVETR1" */

static const char *const mx_endpoints[] = {
	"health", "register", "machines", "metrics", "other"
};
static const int mx_codes[] = {
	200, 400, 401, 403, 404, 405, 408, 413, 429, 500, 502, 503, 504, 0
};
static const char *const mx_commands[] = {
	"users list", "users create", "preauthkeys create",
	"preauthkeys expire", "preauthkeys list", "nodes list",
	"nodes delete", "version", "other"
};
static const char *const mx_outcomes[] = { "ok", "error", "timeout" };
/* Upper bounds in milliseconds; the last bucket is +Inf. */
static const int64_t mx_bounds_ms[] = {
	10, 50, 100, 250, 500, 1000, 2500, 5000, 10000
};

#define NELEM(a)	(sizeof(a) / sizeof((a)[0]))
#define MX_NEP		NELEM(mx_endpoints)
#define MX_NCODE	NELEM(mx_codes)
#define MX_NCMD		NELEM(mx_commands)
#define MX_NOUT		NELEM(mx_outcomes)
#define MX_NBUCKET	(NELEM(mx_bounds_ms) + 1)

struct mx_file {
	uint64_t	magic;
	uint64_t	requests[MX_NEP][MX_NCODE];
	uint64_t	hs_calls[MX_NCMD][MX_NOUT];
	uint64_t	hs_bucket[MX_NBUCKET];	/* not cumulative */
	uint64_t	hs_sum_ms;
};

static struct mx_file	*mx;
static int		 mx_tried;

/* Maps <data_dir>/metrics, creating it; mx stays NULL on failure. */
static void
mx_open(const struct conf *cfg)
{
	char		path[PATH_MAX];
	struct stat	st;
	void		*p;
	uint64_t	zero = 0;
	int		fd, n;

	if (mx_tried)
		return;
	mx_tried = 1;
	/* Tests and fuzzers run without a data directory: nothing to map. */
	if (cfg == NULL || cfg->data_dir[0] != '/')
		return;
	n = snprintf(path, sizeof path, "%s/metrics", cfg->data_dir);
	if (n < 0 || (size_t)n >= sizeof path)
		return;
	fd = open(path, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd == -1 || fstat(fd, &st) == -1 || !S_ISREG(st.st_mode) ||
	    (st.st_size < (off_t)sizeof *mx &&
	    ftruncate(fd, (off_t)sizeof *mx) == -1)) {
		log_msg("metrics file %s unusable (%s): not counting", path,
		    strerror(errno));
		if (fd != -1)
			(void)close(fd);
		return;
	}
	p = mmap(NULL, sizeof *mx, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	(void)close(fd);
	if (p == MAP_FAILED) {
		log_msg("metrics file %s: mmap: %s: not counting", path,
		    strerror(errno));
		return;
	}
	/* A new file is all zeros: the first process to see it claims it. */
	(void)__atomic_compare_exchange_n(&((struct mx_file *)p)->magic, &zero,
	    MX_MAGIC, 0, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST);
	if (((struct mx_file *)p)->magic != MX_MAGIC) {
		log_msg("metrics file %s has another layout: not counting",
		    path);
		(void)munmap(p, sizeof *mx);
		return;
	}
	mx = p;
}

/* Index of endpoint in mx_endpoints, the last ("other") when unknown. */
static size_t
endpoint_index(const char *endpoint)
{
	size_t	e;

	for (e = 0; e < MX_NEP - 1; e++)
		if (strcmp(endpoint, mx_endpoints[e]) == 0)
			break;
	return e;
}

/* Index of status in mx_codes, the last ("other") when unknown. */
static size_t
code_index(int status)
{
	size_t	c;

	for (c = 0; c < MX_NCODE - 1; c++)
		if (status == mx_codes[c])
			break;
	return c;
}

static void
bump(uint64_t *c, uint64_t by)
{
	(void)__atomic_fetch_add(c, by, __ATOMIC_RELAXED);
}

static uint64_t
get(const uint64_t *c)
{
	return __atomic_load_n(c, __ATOMIC_RELAXED);
}

void
metrics_request(const struct conf *cfg, const char *endpoint, int status)
{
	mx_open(cfg);
	if (mx == NULL)
		return;
	bump(&mx->requests[endpoint_index(endpoint)][code_index(status)], 1);
}

void
metrics_headscale(const struct conf *cfg, const char *const argv[],
    enum prov_err rc, int64_t elapsed_ms)
{
	char	cmd[64];
	size_t	c, b;

	mx_open(cfg);
	if (mx == NULL || argv[0] == NULL || argv[1] == NULL)
		return;
	(void)snprintf(cmd, sizeof cmd, "%s %s", argv[1],
	    argv[2] != NULL ? argv[2] : "");
	for (c = 0; c < MX_NCMD - 1; c++)
		if (strcmp(cmd, mx_commands[c]) == 0 ||
		    strcmp(argv[1], mx_commands[c]) == 0)
			break;
	bump(&mx->hs_calls[c][rc == PROV_OK ? 0 : rc == PROV_TIMEOUT ? 2 : 1],
	    1);
	if (elapsed_ms < 0)
		elapsed_ms = 0;
	for (b = 0; b < MX_NBUCKET - 1; b++)
		if (elapsed_ms <= mx_bounds_ms[b])
			break;
	bump(&mx->hs_bucket[b], 1);
	bump(&mx->hs_sum_ms, (uint64_t)elapsed_ms);
}

struct out {
	char	*buf;
	size_t	 len, cap;
	int	 failed;
};

static void	put(struct out *o, const char *fmt, ...)
		    __attribute__((format(printf, 2, 3)));

static void
put(struct out *o, const char *fmt, ...)
{
	va_list	ap;
	char	*nb;
	int	 n;

	if (o->failed)
		return;
	for (;;) {
		va_start(ap, fmt);
		n = vsnprintf(o->buf + o->len, o->cap - o->len, fmt, ap);
		va_end(ap);
		if (n < 0) {
			o->failed = 1;
			return;
		}
		if ((size_t)n < o->cap - o->len) {
			o->len += (size_t)n;
			return;
		}
		if ((nb = realloc(o->buf, o->cap * 2 + (size_t)n)) == NULL) {
			o->failed = 1;
			return;
		}
		o->buf = nb;
		o->cap = o->cap * 2 + (size_t)n;
	}
}

int
metrics_render(const struct conf *cfg, const struct metrics_states *s,
    int have_states, char **buf, size_t *len)
{
	static const char *const states[] = {
		"pending", "joined", "expired", "gone", "revoked"
	};
	struct out	o = { NULL, 0, 4096, 0 };
	uint64_t	sum, cum, n;
	size_t		e, c, b;

	mx_open(cfg);
	if (mx == NULL || (o.buf = malloc(o.cap)) == NULL)
		return -1;
	o.buf[0] = '\0';

	put(&o, "# HELP sovran_provisioner_requests_total Requests answered, "
	    "by endpoint and status code.\n"
	    "# TYPE sovran_provisioner_requests_total counter\n");
	for (e = 0; e < MX_NEP; e++)
		for (c = 0; c < MX_NCODE; c++) {
			if ((n = get(&mx->requests[e][c])) == 0)
				continue;
			if (mx_codes[c] != 0)
				put(&o, "sovran_provisioner_requests_total{"
				    "endpoint=\"%s\",code=\"%d\"} %" PRIu64 "\n",
				    mx_endpoints[e], mx_codes[c], n);
			else
				put(&o, "sovran_provisioner_requests_total{"
				    "endpoint=\"%s\",code=\"other\"} %" PRIu64
				    "\n", mx_endpoints[e], n);
		}
	/* Views of the same counters, under the names operators look for. */
	put(&o, "# HELP sovran_provisioner_registrations_total Keys handed "
	    "out (POST /register answered 200).\n"
	    "# TYPE sovran_provisioner_registrations_total counter\n"
	    "sovran_provisioner_registrations_total %" PRIu64 "\n",
	    get(&mx->requests[endpoint_index("register")][code_index(200)]));
	put(&o, "# HELP sovran_provisioner_rate_limited_total Requests "
	    "refused by the rate limit (429).\n"
	    "# TYPE sovran_provisioner_rate_limited_total counter\n"
	    "sovran_provisioner_rate_limited_total %" PRIu64 "\n",
	    get(&mx->requests[endpoint_index("register")][code_index(429)]));

	put(&o, "# HELP sovran_provisioner_headscale_calls_total Runs of the "
	    "headscale CLI, by command and outcome.\n"
	    "# TYPE sovran_provisioner_headscale_calls_total counter\n");
	for (c = 0; c < MX_NCMD; c++)
		for (e = 0; e < MX_NOUT; e++)
			if ((n = get(&mx->hs_calls[c][e])) != 0)
				put(&o, "sovran_provisioner_headscale_calls_total{"
				    "command=\"%s\",outcome=\"%s\"} %" PRIu64
				    "\n", mx_commands[c], mx_outcomes[e], n);

	put(&o, "# HELP sovran_provisioner_headscale_duration_seconds How "
	    "long headscale CLI runs took.\n"
	    "# TYPE sovran_provisioner_headscale_duration_seconds histogram\n");
	for (b = 0, cum = 0; b < MX_NBUCKET; b++) {
		cum += get(&mx->hs_bucket[b]);
		if (b < MX_NBUCKET - 1)
			put(&o, "sovran_provisioner_headscale_duration_seconds_"
			    "bucket{le=\"%" PRId64 ".%03" PRId64 "\"} %" PRIu64
			    "\n", mx_bounds_ms[b] / 1000,
			    mx_bounds_ms[b] % 1000, cum);
		else
			put(&o, "sovran_provisioner_headscale_duration_seconds_"
			    "bucket{le=\"+Inf\"} %" PRIu64 "\n", cum);
	}
	sum = get(&mx->hs_sum_ms);
	put(&o, "sovran_provisioner_headscale_duration_seconds_sum %" PRIu64
	    ".%03" PRIu64 "\n"
	    "sovran_provisioner_headscale_duration_seconds_count %" PRIu64 "\n",
	    sum / 1000, sum % 1000, cum);

	if (have_states) {
		put(&o, "# HELP sovran_provisioner_machines Machines (newest "
		    "registration per MAC) by state.\n"
		    "# TYPE sovran_provisioner_machines gauge\n");
		for (c = 0; c < NELEM(states); c++)
			put(&o, "sovran_provisioner_machines{state=\"%s\"} %"
			    PRIu64 "\n", states[c], s->n[c]);
	}
	if (o.failed) {
		free(o.buf);
		return -1;
	}
	*buf = o.buf;
	*len = o.len;
	return 0;
}
