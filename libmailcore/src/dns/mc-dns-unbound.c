/* mc-dns-unbound: the libunbound backend of mc-dns. One ub_ctx serves
 * every thread: queries go to libunbound's background thread with
 * ub_resolve_async, and whichever waiting thread holds the "poller" role
 * reads answers off ub_fd() and runs ub_process(), so each lookup can
 * give up at its own deadline (ub_resolve has none) and cancel. */
#include "mc-dns-private.h"

#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unbound.h>
#include <unistd.h>

#include "mailcore/mc-error.h"
#include "mailcore/mc-pool.h"

#define RCODE_NXDOMAIN 3

struct ub_dns {
	struct mc_dns dns; /* first */
	struct ub_ctx *ctx;
	pthread_mutex_t lock; /* guards the fields below and every job */
	pthread_cond_t cond;  /* broadcast on answers and poller changes */
	bool polling;	      /* a thread is in poll()/ub_process() */
	bool broken;	      /* the pipe to the background worker failed */
};

/* One lookup in flight; freed by its thread, or by the callback once the
 * thread has given up on it. */
struct job {
	struct ub_dns *u;
	struct ub_result *res;
	int err;
	bool done, abandoned;
};

/* ub_resolve_async callback (runs in the poller's ub_process). */
static void on_answer(void *arg, int err, struct ub_result *res)
{
	struct job *job = arg;
	struct ub_dns *u = job->u;

	pthread_mutex_lock(&u->lock);
	if (job->abandoned) {
		pthread_mutex_unlock(&u->lock);
		ub_resolve_free(res);
		free(job);
		return;
	}
	job->err = err;
	job->res = res;
	job->done = true;
	pthread_cond_broadcast(&u->cond);
	pthread_mutex_unlock(&u->lock);
}

/* Waits for answers on ub_fd for up to ms and delivers them. */
static void pump(struct ub_dns *u, int64_t ms)
{
	struct pollfd pfd = {.fd = ub_fd(u->ctx), .events = POLLIN};
	int r = poll(&pfd, 1, ms > INT_MAX ? INT_MAX : (int)ms);

	if (r > 0 && ub_process(u->ctx) != 0) {
		pthread_mutex_lock(&u->lock);
		u->broken = true;
		pthread_mutex_unlock(&u->lock);
	}
}

/* Waits on the condition until deadline (CLOCK_MONOTONIC ms). */
static void cond_wait_until(struct ub_dns *u, int64_t deadline)
{
	struct timespec ts = {.tv_sec = deadline / 1000,
			      .tv_nsec = (deadline % 1000) * 1000000};

	pthread_cond_timedwait(&u->cond, &u->lock, &ts);
}

/* Waits until job is answered (true) or deadline passes (false: the job
 * is then marked abandoned). */
static bool job_wait(struct ub_dns *u, struct job *job, int64_t deadline)
{
	bool done;

	pthread_mutex_lock(&u->lock);
	while (!job->done && !u->broken) {
		int64_t left = deadline - mc_dns_now_ms();
		if (left <= 0)
			break;
		if (u->polling) {
			cond_wait_until(u, deadline);
			continue;
		}
		u->polling = true;
		pthread_mutex_unlock(&u->lock);
		pump(u, left);
		pthread_mutex_lock(&u->lock);
		u->polling = false;
		pthread_cond_broadcast(&u->cond); /* another may poll now */
	}
	done = job->done;
	job->abandoned = !done;
	pthread_mutex_unlock(&u->lock);
	return done;
}

/* Copies the rdata of an answer into rr (pool). */
static void copy_rdata(struct mc_pool *pool, const struct ub_result *res,
		       struct mc_dns_rrset *rr)
{
	size_t n = 0;

	while (res->havedata && res->data[n] != NULL)
		n++;
	const uint8_t **rdata = mc_palloc_array(pool, n + 1, sizeof(*rdata));
	size_t *len = mc_palloc_array(pool, n + 1, sizeof(*len));
	for (size_t i = 0; i < n; i++) {
		len[i] = res->len[i] > 0 ? (size_t)res->len[i] : 0;
		rdata[i] = mc_pmemdup(pool, res->data[i], len[i]);
	}
	rr->rdata = rdata;
	rr->len = len;
	rr->count = n;
}

/* Turns a libunbound answer into rr, or a temporary error. */
static int convert(struct mc_pool *pool, const char *name, int err,
		   const struct ub_result *res, struct mc_dns_rrset *rr,
		   struct mc_error *e)
{
	if (err != 0 || res == NULL) {
		mc_error_set(e, MC_ERR_TEMPORARY, "DNS lookup of %s failed: %s",
			     name, ub_strerror(err));
		return -1;
	}
	if (res->bogus) {
		rr->bogus = true;
		mc_error_set(e, MC_ERR_TEMPORARY,
			     "DNSSEC validation of %s failed: %s", name,
			     res->why_bogus != NULL ? res->why_bogus : "bogus");
		return -1;
	}
	if (res->rcode != 0 && res->rcode != RCODE_NXDOMAIN) {
		mc_error_set(e, MC_ERR_TEMPORARY,
			     "DNS lookup of %s failed: rcode %d", name,
			     res->rcode);
		return -1;
	}
	rr->nxdomain = res->rcode == RCODE_NXDOMAIN || res->nxdomain;
	rr->secure = res->secure != 0;
	copy_rdata(pool, res, rr);
	return 0;
}

/* Gives up on a lookup: cancels it, freeing the job unless the callback
 * is already on its way (then the callback frees it). */
static void give_up(struct ub_dns *u, struct job *job, int id)
{
	if (ub_cancel(u->ctx, id) == 0)
		free(job);
}

/* The vtable query: one asynchronous lookup waited for until deadline. */
static int ub_query(struct mc_dns *dns, struct mc_pool *pool, const char *name,
		    uint16_t type, int64_t deadline_ms,
		    struct mc_dns_rrset *rr_r, struct mc_error *err)
{
	struct ub_dns *u = (struct ub_dns *)dns;
	struct job *job = mc_calloc(1, sizeof(*job));
	int id = 0, r, ret;

	job->u = u;
	r = ub_resolve_async(u->ctx, name, type, 1, job, on_answer, &id);
	if (r != 0) {
		free(job);
		mc_error_set(err, MC_ERR_TEMPORARY,
			     "DNS lookup of %s failed: %s", name,
			     ub_strerror(r));
		return -1;
	}
	if (!job_wait(u, job, deadline_ms)) {
		give_up(u, job, id);
		mc_error_set(err, MC_ERR_TEMPORARY,
			     "DNS lookup of %s timed out", name);
		return -1;
	}
	ret = convert(pool, name, job->err, job->res, rr_r, err);
	ub_resolve_free(job->res);
	free(job);
	return ret;
}

/* The vtable destroy. */
static void ub_destroy(struct mc_dns *dns)
{
	struct ub_dns *u = (struct ub_dns *)dns;

	ub_ctx_delete(u->ctx);
	pthread_cond_destroy(&u->cond);
	pthread_mutex_destroy(&u->lock);
	free(u);
}

static const struct mc_dns_vfuncs ub_vfuncs = {
	.query = ub_query,
	.destroy = ub_destroy,
};

/* "HOST:PORT", "HOST", "[V6]:PORT" or "V6" as libunbound's "HOST@PORT". */
static bool fwd_addr(const char *up, char *buf, size_t size)
{
	const char *host = up, *port = "53", *end;
	size_t hlen = strlen(up);

	if (up[0] == '[') {
		end = strchr(up, ']');
		if (end == NULL || (end[1] != '\0' && end[1] != ':'))
			return false;
		host = up + 1;
		hlen = (size_t)(end - host);
		if (end[1] == ':')
			port = end + 2;
	} else if ((end = strchr(up, ':')) != NULL && !strchr(end + 1, ':')) {
		hlen = (size_t)(end - up);
		port = end + 1;
	}
	char *stop;
	unsigned long p = strtoul(port, &stop, 10);
	if (hlen == 0 || *port == '\0' || *stop != '\0' || p == 0 || p > 65535)
		return false;
	return snprintf(buf, size, "%.*s@%lu", (int)hlen, host, p) < (int)size;
}

/* Points ctx at the upstream, or at resolv.conf's servers. */
static int set_upstream(struct ub_ctx *ctx, const char *upstream,
			struct mc_error *err)
{
	char addr[128];
	int r;

	if (upstream == NULL || *upstream == '\0') {
		r = ub_ctx_resolvconf(ctx, NULL);
		if (r != 0)
			mc_error_set(err, MC_ERR_INVALID,
				     "DNS: cannot use /etc/resolv.conf: %s",
				     ub_strerror(r));
		return r == 0 ? 0 : -1;
	}
	if (!fwd_addr(upstream, addr, sizeof(addr)) ||
	    ub_ctx_set_fwd(ctx, addr) != 0) {
		mc_error_set(err, MC_ERR_INVALID,
			     "DNS: bad upstream \"%s\" (numeric HOST:PORT)",
			     upstream);
		return -1;
	}
	return 0;
}

/* Loads the trust anchor file (RFC 5011 auto-trust-anchor format). */
static int set_anchor(struct ub_ctx *ctx, const char *file,
		      struct mc_error *err)
{
	int r;

	if (file == NULL || *file == '\0')
		return 0;
	if (access(file, R_OK) != 0) {
		mc_error_set(err, MC_ERR_INVALID, "DNS: trust anchor %s: %s",
			     file, strerror(errno));
		return -1;
	}
	r = ub_ctx_add_ta_autr(ctx, file);
	if (r != 0) {
		mc_error_set(err, MC_ERR_INVALID, "DNS: trust anchor %s: %s",
			     file, ub_strerror(r));
		return -1;
	}
	return 0;
}

/* Applies the settings to a fresh context. */
static int configure(struct ub_ctx *ctx, const struct mc_dns_settings *set,
		     struct mc_error *err)
{
	/* A loopback upstream must be allowed, and "test." (RFC 6761),
	 * which libunbound answers NXDOMAIN itself by default, forwarded
	 * like any name ("nodefault" is mis-parsed by ub_ctx_set_option in
	 * 1.17; "transparent" without local data has the same effect). */
	if (ub_ctx_async(ctx, 1) != 0 ||
	    ub_ctx_set_option(ctx, "do-not-query-localhost:", "no") != 0 ||
	    ub_ctx_set_option(ctx, "local-zone:", "test. transparent") != 0) {
		mc_error_set(err, MC_ERR_INVALID, "DNS: cannot set options");
		return -1;
	}
	if (set_upstream(ctx, set->upstream, err) < 0)
		return -1;
	return set_anchor(ctx, set->trust_anchor_file, err);
}

/* The shared state around a configured context. */
static struct ub_dns *ub_dns_new(struct ub_ctx *ctx, unsigned timeout_ms)
{
	struct ub_dns *u = mc_calloc(1, sizeof(*u));
	pthread_condattr_t attr;

	u->dns.v = &ub_vfuncs;
	u->dns.timeout_ms = timeout_ms;
	u->ctx = ctx;
	pthread_mutex_init(&u->lock, NULL);
	pthread_condattr_init(&attr);
	pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
	pthread_cond_init(&u->cond, &attr);
	pthread_condattr_destroy(&attr);
	return u;
}

/* A libunbound resolver; NULL with err when the settings are unusable. */
struct mc_dns *mc_dns_create(const struct mc_dns_settings *set,
			     struct mc_error *err)
{
	static const struct mc_dns_settings defaults;
	struct ub_ctx *ctx = ub_ctx_create();

	if (set == NULL)
		set = &defaults;
	if (ctx == NULL) {
		mc_error_set(err, MC_ERR_TEMPORARY,
			     "DNS: ub_ctx_create failed");
		return NULL;
	}
	if (configure(ctx, set, err) < 0) {
		ub_ctx_delete(ctx);
		return NULL;
	}
	return &ub_dns_new(ctx, set->timeout_ms)->dns;
}
