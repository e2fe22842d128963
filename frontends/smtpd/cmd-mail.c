/* cmd-mail: MAIL FROM starts a transaction. An authenticated client may
 * only use an envelope sender it owns or was granted (553 5.7.1); the
 * null sender is allowed (MDNs, vacation notices). Its effective policy
 * (mc-policy) is resolved here for the whole transaction: the daily
 * sending limits and the message size are checked now, internal_only at
 * RCPT, attachments at the end of DATA.
 *
 * A reached daily limit is 451 4.7.1, not 550 5.7.1: the condition ends
 * by itself at the next UTC midnight, so the message is not undeliverable
 * and must not bounce; a client relaying through us (a queueing MTA or an
 * MUA's outbox) keeps it and retries, and the check is one Redis read.
 * The installation's sending limits ([limits], limits.c) are checked
 * next: per minute 451 4.7.1, their daily caps 550 5.7.1 as the issue
 * asks of them; and a tenant over its deferred threshold may have its
 * new mail held. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "mailcore/mc-redis.h"
#include "smtpd.h"

enum mail_verdict {
	MAIL_OK = 0,
	MAIL_NOT_OWNER, /* 553 5.7.1 */
	MAIL_TEMPFAIL,	/* 451 4.3.0 */
	MAIL_DAILY,	/* daily sending limit reached: 451 4.7.1 */
	MAIL_TOO_BIG,	/* SIZE= over the account's message size: 552 */
	MAIL_LIMIT,	/* a sending limit ([limits]): 451 or 550 */
};

struct mail_job {
	struct trans *t;
	int64_t tenant_id, user_id;
	const struct mc_policy_settings *set;
	enum mail_verdict verdict;
	struct mc_policy policy;
	bool counters_down; /* Redis failed: sent anyway (fail open) */
	struct mc_error err;
	struct smtpd *d;
	struct limits_state ls;
	unsigned lim_code;
	const char *lim_enh, *lim_text;
};

/* A new transaction for MAIL. */
static struct trans *trans_new(struct session *s,
			       const struct mc_smtp_server_mail *mail)
{
	static unsigned counter;
	struct mc_pool *pool = mc_pool_create("smtp-trans", 4096);
	struct trans *t = mc_palloc(pool, sizeof(*t));
	t->pool = pool;
	unsigned n = __atomic_add_fetch(&counter, 1, __ATOMIC_RELAXED);
	snprintf(t->id, sizeof(t->id), "%.12s%04X", s->id, n & 0xffffu);
	char *sender = mc_pstrdup(pool, mail->from.address);
	char *at = strrchr(sender, '@');
	if (at != NULL)
		mc_str_lower(at); /* domains are case-insensitive */
	t->sender = sender;
	t->envid = mail->envid != NULL ? mc_pstrdup(pool, mail->envid) : NULL;
	t->ret = mail->ret == MC_SMTP_RET_FULL	 ? "full"
		 : mail->ret == MC_SMTP_RET_HDRS ? "hdrs"
						 : NULL;
	t->size_hint = mail->has_size ? mail->size : 0;
	t->rcpts_tail = &t->rcpts;
	return t;
}

void trans_free(struct trans **tp)
{
	struct trans *t = *tp;
	if (t == NULL)
		return;
	*tp = NULL;
	spool_free(&t->spool);
	for (struct rcpt *r = t->rcpts, *next; r != NULL; r = next) {
		next = r->next;
		mc_pool_destroy(&r->pool);
	}
	mc_pool_destroy(&t->pool);
}

/* Worker: the size and daily limits of the resolved policy. A Redis
 * outage lets the message through (logged): it must neither block
 * sending nor bounce. */
static enum mail_verdict check_limits(struct mc_redis *redis,
				      struct mail_job *j)
{
	const struct mc_policy *p = &j->policy;
	uint64_t sent, bytes;
	if (p->message_bytes > 0 && j->t->size_hint > p->message_bytes)
		return MAIL_TOO_BIG;
	if (p->daily_send_count == 0 && p->daily_send_bytes == 0)
		return MAIL_OK;
	if (mc_policy_send_usage(redis, j->tenant_id, j->user_id, time(NULL),
				 &sent, &bytes, &j->err) < 0) {
		j->counters_down = true;
		return MAIL_OK;
	}
	return mc_policy_send_exhausted(p, sent, bytes) ? MAIL_DAILY : MAIL_OK;
}

/* Worker: the sending limits of the user, its domain and its IP:
 * messages and daily volume now, then the tenant's deferred queue. */
static void sending_limits(struct mc_worker *worker, struct mail_job *j)
{
	struct limits_state *ls = &j->ls;
	uint64_t size = j->t->size_hint > 0 ? j->t->size_hint : 1;
	struct mc_ratelimit_amount amount = {1, 0, size};
	ls->domain_id = j->policy.domain_id;
	limits_for_user(worker, j->d, ls);
	j->lim_code = limits_check(worker, j->d, ls, &amount, &j->lim_enh,
				   &j->lim_text);
	if (j->lim_code != 0)
		j->verdict = MAIL_LIMIT;
	else
		limits_deferred(worker, j->d, ls);
}

/* Worker: may the user send as this address, and send at all today? */
static void mail_work(struct mc_worker *worker, void *ctx)
{
	struct mail_job *j = ctx;
	struct mc_pg *pg = mc_service_worker_pg(worker);
	struct mc_redis *redis = mc_service_worker_redis(worker);
	int owned =
		j->t->sender[0] == '\0'
			? 1
			: mc_directory_may_send_as(pg, j->tenant_id, j->user_id,
						   j->t->sender, &j->err);
	if (owned <= 0) {
		j->verdict = owned < 0 ? MAIL_TEMPFAIL : MAIL_NOT_OWNER;
		return;
	}
	int found = mc_policy_resolve(pg, redis, j->set, j->tenant_id,
				      j->user_id, &j->policy, &j->err);
	if (found == 0)
		mc_error_set(&j->err, MC_ERR_TEMPORARY, "the user is gone");
	j->verdict = found <= 0 ? MAIL_TEMPFAIL : check_limits(redis, j);
	if (j->verdict == MAIL_OK)
		sending_limits(worker, j);
}

/* Loop: the refusal of MAIL, which ends the transaction. */
static void mail_refuse(struct session *s, struct mail_job *j)
{
	if (j->verdict == MAIL_NOT_OWNER) {
		mc_logc(&s->log, MC_LOG_NOTICE, "sender %s not owned by %s",
			j->t->sender, s->user.address);
		mc_smtp_server_reply(s->smtp, 553, "5.7.1",
				     "Sender address rejected: not owned by "
				     "the authenticated user");
	} else if (j->verdict == MAIL_DAILY) {
		mc_logc(&s->log, MC_LOG_NOTICE, "daily sending limit of %s",
			s->user.address);
		mc_smtp_server_reply(s->smtp, 451, "4.7.1",
				     "daily sending limit reached, try "
				     "tomorrow");
	} else if (j->verdict == MAIL_LIMIT) {
		mc_logc(&s->log, MC_LOG_NOTICE, "sending limit of %s: %s",
			s->user.address, j->lim_text);
		mc_smtp_server_reply(s->smtp, j->lim_code, j->lim_enh,
				     j->lim_text);
	} else if (j->verdict == MAIL_TOO_BIG) {
		mc_smtp_server_reply(s->smtp, 552, "5.3.4",
				     "Message size exceeds this account's "
				     "limit");
	} else {
		mc_logc(&s->log, MC_LOG_WARNING, "sender checks: %s",
			j->err.msg);
		mc_smtp_server_reply(s->smtp, 451, "4.3.0",
				     SMTPD_TEMPFAIL_TEXT);
	}
	trans_free(&s->trans);
}

/* Loop: answer MAIL. */
static void mail_done(struct session *s, void *ctx)
{
	struct mail_job *j = ctx;
	if (s != NULL) {
		if (j->counters_down)
			mc_logc(&s->log, MC_LOG_WARNING,
				"daily counters unavailable, not enforced: %s",
				j->err.msg);
		if (j->verdict == MAIL_OK) {
			s->trans->policed = true;
			s->trans->policy = j->policy;
			s->trans->limits = j->ls;
			mc_smtp_server_accept(s->smtp);
		} else {
			mail_refuse(s, j);
		}
		session_pump(s);
	}
	free(j);
}

void cmd_mail_unauth(struct session *s)
{
	if (filter_wanted(s))
		filter_mail(s); /* SPF, then 250 */
	else
		mc_smtp_server_accept(s->smtp);
}

void cmd_mail(void *ctx, struct mc_smtp_server *smtp,
	      const struct mc_smtp_server_mail *mail)
{
	struct session *s = ctx;
	trans_free(&s->trans);
	s->trans = trans_new(s, mail);
	if (!s->user.ok) {
		if (!conn_limits_mail(s)) /* else it calls cmd_mail_unauth */
			cmd_mail_unauth(s);
		return;
	}
	struct mail_job *j = mc_calloc(1, sizeof(*j));
	j->t = s->trans;
	j->tenant_id = s->user.tenant_id;
	j->user_id = s->user.user_id;
	j->set = &s->d->policy;
	j->d = s->d;
	j->ls.tenant_id = s->user.tenant_id;
	j->ls.user_id = s->user.user_id;
	snprintf(j->ls.ip, sizeof(j->ls.ip), "%s", s->ip);
	snprintf(j->ls.user, sizeof(j->ls.user), "%s", s->user.address);
	if (!job_submit(s, mail_work, mail_done, j)) {
		free(j);
		mc_smtp_server_reply(smtp, 451, "4.3.0", SMTPD_TEMPFAIL_TEXT);
		trans_free(&s->trans);
	}
}
