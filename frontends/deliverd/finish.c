/* finish: on a service worker, the end of a batch. Deferred recipients
 * past their entry's lifetime fail; failed ones get their DSN (RFC 3464)
 * unless the sender is null or asked for none (NOTIFY); long-deferred
 * ones get one delay warning when configured; then every outcome goes
 * into the queue, and a fetched MTA-STS policy into its cache. */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "deliverd.h"
#include "mailcore/mc-pg.h"
#include "mailcore/mc-smtp-server.h"

static const char sts_store_sql[] =
	"INSERT INTO mta_sts_policies (domain, policy_id, mode, mx, max_age,"
	" fetched_at, expires_at) "
	"VALUES ($1, $2, $3, string_to_array($4, ' '), $5::int, now(),"
	" now() + make_interval(secs => $5::int)) "
	"ON CONFLICT (domain) DO UPDATE SET policy_id = EXCLUDED.policy_id,"
	" mode = EXCLUDED.mode, mx = EXCLUDED.mx, max_age = EXCLUDED.max_age,"
	" fetched_at = now(), expires_at = EXCLUDED.expires_at";

/* Caches the policy transfer fetched. */
static void store_sts(struct mc_pg *pg, struct batch *b)
{
	char mx[4096] = "", age[16];
	for (size_t i = 0; i < b->sts.mx_count; i++) {
		size_t len = strlen(mx);
		snprintf(mx + len, sizeof(mx) - len, "%s%s", i > 0 ? " " : "",
			 b->sts.mx[i]);
	}
	snprintf(age, sizeof(age), "%u", b->sts.max_age);
	const char *p[] = {b->domain, b->sts.id, b->sts.mode, mx, age};
	struct mc_error err = {0};
	if (mc_pg_exec(pg, sts_store_sql, 5, p, &err) < 0)
		mc_log_warning("MTA-STS %s: policy not cached: %s", b->domain,
			       err.msg);
}

/* Whether recipient r wants a report of failure (RFC 3461: no NOTIFY
 * means FAILURE). */
static bool wants_failure(const struct mc_queue_job *job,
			  const struct mc_queue_rcpt *r)
{
	if (job->sender[0] == '\0' || (r->notify & MC_SMTP_NOTIFY_NEVER))
		return false;
	return r->notify == 0 || (r->notify & MC_SMTP_NOTIFY_FAILURE);
}

/* Whether recipient i is due a delay warning now. */
static bool wants_delay(const struct deliverd *d, const struct job_plan *p,
			size_t i, time_t now)
{
	const struct mc_queue_rcpt *r = &p->job->rcpts[i];
	if (d->delay_warning_s == 0 || r->delay_warned ||
	    p->job->sender[0] == '\0' || (r->notify & MC_SMTP_NOTIFY_NEVER))
		return false;
	if (r->notify != 0 && !(r->notify & MC_SMTP_NOTIFY_DELAY))
		return false;
	return now - p->job->created_at >= (time_t)d->delay_warning_s;
}

/* Deferred recipients of an expired entry fail (status X.4.7). */
static void expire(struct batch *b, struct job_plan *p, time_t now)
{
	if (now < p->job->expires_at)
		return;
	for (size_t i = 0; i < p->job->rcpts_count; i++) {
		struct mc_queue_result *r = &p->results[i];
		if (r->address == NULL || r->outcome != MC_QUEUE_DEFERRED)
			continue;
		r->outcome = MC_QUEUE_FAILED;
		r->status = "4.4.7";
		r->error = mc_psprintf(b->pool,
				       "delivery time expired; last error: %s",
				       r->error != NULL ? r->error : "none");
	}
}

/* Failed recipients: bounced once their DSN is in the store (or when
 * none is wanted); left failed (retried later) when it could not be. */
static void bounce(struct mc_worker *worker, struct batch *b,
		   struct job_plan *p)
{
	bool any = false;
	for (size_t i = 0; i < p->job->rcpts_count; i++) {
		struct mc_queue_result *r = &p->results[i];
		if (r->address == NULL || r->outcome != MC_QUEUE_FAILED)
			continue;
		if (!wants_failure(p->job, &p->job->rcpts[i]))
			r->outcome = MC_QUEUE_BOUNCED;
		else
			any = true;
	}
	if (!any || !bounce_send(b->d, worker, b->pool, p, REPORT_FAILED))
		return;
	for (size_t i = 0; i < p->job->rcpts_count; i++) {
		if (p->results[i].outcome == MC_QUEUE_FAILED)
			p->results[i].outcome = MC_QUEUE_BOUNCED;
	}
}

/* Deferred recipients due a delay warning get one. */
static void warn(struct mc_worker *worker, struct batch *b,
		 struct job_plan *p, time_t now)
{
	bool any = false;
	for (size_t i = 0; i < p->job->rcpts_count; i++) {
		struct mc_queue_result *r = &p->results[i];
		if (r->address != NULL && r->outcome == MC_QUEUE_DEFERRED &&
		    wants_delay(b->d, p, i, now)) {
			r->outcome = MC_QUEUE_WARNED;
			any = true;
		}
	}
	if (!any || bounce_send(b->d, worker, b->pool, p, REPORT_DELAYED))
		return;
	for (size_t i = 0; i < p->job->rcpts_count; i++) {
		if (p->results[i].outcome == MC_QUEUE_WARNED)
			p->results[i].outcome = MC_QUEUE_DEFERRED;
	}
}

/* Success reports the next hop cannot send: one attempt, best effort
 * (the mail itself is delivered whatever happens to the report). */
static void relayed(struct mc_worker *worker, struct batch *b,
		    struct job_plan *p)
{
	for (size_t i = 0; i < p->job->rcpts_count; i++) {
		if (p->relayed[i] && p->job->sender[0] != '\0') {
			bounce_send(b->d, worker, b->pool, p, REPORT_RELAYED);
			return;
		}
	}
}

/* A NOTIFY job: its recipients failed earlier and owe a DSN. */
static void notify_plan(struct batch *b, struct job_plan *p)
{
	for (size_t i = 0; i < p->job->rcpts_count; i++) {
		const struct mc_queue_rcpt *r = &p->job->rcpts[i];
		plan_set(p, i, MC_QUEUE_FAILED, NULL,
			 r->last_error != NULL
				 ? r->last_error
				 : mc_pstrdup(b->pool, "delivery failed"),
			 NULL);
	}
	p->done = true;
}

/* Logs each outcome, as an MTA's log lines read. */
static void log_results(const struct batch *b, const struct job_plan *p)
{
	static const char *const names[] = {"sent",    "deferred",
					    "failed",  "bounced",
					    "released", "deferred+warned"};
	for (size_t i = 0; i < p->job->rcpts_count; i++) {
		const struct mc_queue_result *r = &p->results[i];
		if (r->address == NULL)
			continue;
		mc_log_info("%s: to=<%s> relay=%s status=%s (%s%s%s)",
			    p->job->queue_id, r->address,
			    r->remote_mta != NULL ? r->remote_mta : b->key,
			    names[r->outcome], r->status != NULL ? r->status : "",
			    r->status != NULL ? " " : "",
			    r->error != NULL ? r->error : "");
	}
}

/* Records one job's results. */
static void record(struct mc_pg *pg, struct batch *b, struct job_plan *p)
{
	size_t n = 0;
	struct mc_queue_result *res = mc_palloc_array(
		b->pool, p->job->rcpts_count + 1, sizeof(*res));
	for (size_t i = 0; i < p->job->rcpts_count; i++) {
		if (p->results[i].address != NULL)
			res[n++] = p->results[i];
	}
	log_results(b, p);
	struct mc_error err = {0};
	if (mc_queue_complete(pg, p->job, b->d->owner, &b->d->backoff, res, n,
			      &err) < 0)
		mc_error_set(&b->err, err.cls, "%s", err.msg);
}

void finish_batch(struct mc_worker *worker, void *ctx)
{
	struct batch *b = ctx;
	struct mc_pg *pg = mc_service_worker_pg(worker);
	time_t now = time(NULL);
	if (b->sts.fresh)
		store_sts(pg, b);
	for (size_t j = 0; j < b->count; j++) {
		struct job_plan *p = &b->plans[j];
		if (b->notify_only)
			notify_plan(b, p);
		if (!p->done)
			continue; /* never tried: the claim lapses */
		expire(b, p, now);
		bounce(worker, b, p);
		warn(worker, b, p, now);
		relayed(worker, b, p);
		record(pg, b, p);
	}
}
