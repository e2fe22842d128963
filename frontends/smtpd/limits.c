/* limits: the sending limits (mc-ratelimit) of mail submitted for
 * outbound delivery, on worker threads. cmd-mail.c checks messages and
 * daily volume for an authenticated sender at MAIL; cmd-rcpt.c checks
 * recipients at each RCPT, and for a relaying client (no AUTH) starts
 * counting at its first remote recipient; data.c records the accepted
 * message. Redis being down lets mail through (logged), never a 4xx. */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "smtpd.h"

/* The subject counted for ls. */
static void subject_of(const struct limits_state *ls,
		       struct mc_ratelimit_subject *subj)
{
	*subj = (struct mc_ratelimit_subject){
		.tenant_id = ls->tenant_id,
		.user_id = ls->user_id,
		.domain_id = ls->domain_id,
		.ip = ls->ip,
		.user = ls->user,
		.domain = ls->domain,
	};
}

/* What reporting needs on this worker. */
static struct mc_ratelimit_report_ctx report_ctx(struct mc_worker *worker,
						 struct smtpd *d)
{
	return (struct mc_ratelimit_report_ctx){
		.pg = mc_service_worker_pg(worker),
		.redis = mc_service_worker_redis(worker),
		.blobs = d->blobs,
		.events = d->events,
		.set = &d->limits,
		.hostname = d->hostname,
	};
}

void limits_for_user(struct mc_worker *worker, struct smtpd *d,
		     struct limits_state *ls)
{
	struct mc_error err = {0};
	if (mc_ratelimit_limits_for(mc_service_worker_pg(worker),
				    mc_service_worker_redis(worker), &d->limits,
				    ls->domain_id, &ls->lim, ls->domain,
				    sizeof(ls->domain), &err) < 0)
		mc_log_warning("sending limits of domain %lld: %s (server "
			       "limits apply)",
			       (long long)ls->domain_id, err.msg);
	ls->on = true;
}

void limits_for_relay(struct mc_worker *worker, struct smtpd *d,
		      struct limits_state *ls, const char *sender_domain,
		      int64_t queue_tenant)
{
	struct mc_error err = {0};
	int64_t tenant = 0;
	if (mc_ratelimit_limits_by_name(mc_service_worker_pg(worker),
					mc_service_worker_redis(worker),
					&d->limits, sender_domain, &tenant,
					&ls->domain_id, &ls->lim, &err) < 0)
		mc_log_warning("sending limits of %s: %s (server limits "
			       "apply)",
			       sender_domain, err.msg);
	snprintf(ls->domain, sizeof(ls->domain), "%s",
		 ls->domain_id > 0 ? sender_domain : "");
	ls->tenant_id = queue_tenant;
	ls->user_id = 0;
	ls->on = true;
}

/* Reports a refusal (once per window: mc_ratelimit_report decides). */
static void report(struct mc_worker *worker, struct smtpd *d,
		   const struct mc_ratelimit_subject *subj,
		   const struct mc_ratelimit_verdict *v)
{
	struct mc_ratelimit_report_ctx ctx = report_ctx(worker, d);
	struct mc_error err = {0};
	int r = mc_ratelimit_report(&ctx, subj, v, time(NULL), &err);
	if (r < 0)
		mc_log_warning("sending limit %s %s: report: %s",
			       mc_ratelimit_scope_name(v->scope),
			       mc_ratelimit_kind_name(v->kind), err.msg);
	else if (r > 0)
		mc_log_notice("sending limit %s %s (%llu) reached by tenant "
			      "%lld: reported",
			      mc_ratelimit_scope_name(v->scope),
			      mc_ratelimit_kind_name(v->kind),
			      (unsigned long long)v->limit,
			      (long long)subj->tenant_id);
}

unsigned limits_check(struct mc_worker *worker, struct smtpd *d,
		      const struct limits_state *ls,
		      const struct mc_ratelimit_amount *amount,
		      const char **enh_r, const char **text_r)
{
	struct mc_ratelimit_subject subj;
	struct mc_ratelimit_verdict v;
	struct mc_error err = {0};
	subject_of(ls, &subj);
	if (mc_ratelimit_check(mc_service_worker_redis(worker), &d->limits,
			       &ls->lim, &subj, time(NULL), amount, &v,
			       &err) < 0) {
		mc_log_warning("sending limits not enforced: %s", err.msg);
		return 0;
	}
	if (!v.over)
		return 0;
	report(worker, d, &subj, &v);
	return mc_ratelimit_reply(&v, enh_r, text_r);
}

void limits_deferred(struct mc_worker *worker, struct smtpd *d,
		     struct limits_state *ls)
{
	struct mc_ratelimit_report_ctx ctx = report_ctx(worker, d);
	struct mc_error err = {0};
	uint64_t count;
	int r = mc_ratelimit_deferred(&ctx, ls->tenant_id, &count, &err);
	if (r < 0)
		mc_log_warning("deferred queue of tenant %lld: %s",
			       (long long)ls->tenant_id, err.msg);
	ls->hold = r > 0 && d->limits.deferred_hold;
}

bool limits_record(struct mc_worker *worker, struct smtpd *d,
		   const struct limits_state *ls, uint64_t size,
		   struct mc_error *err)
{
	struct mc_ratelimit_subject subj;
	struct mc_ratelimit_amount amount = {1, ls->rcpts, size};
	subject_of(ls, &subj);
	return mc_ratelimit_record(mc_service_worker_redis(worker), &d->limits,
				   &ls->lim, &subj, time(NULL), &amount,
				   err) == 0;
}
