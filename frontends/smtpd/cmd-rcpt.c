/* cmd-rcpt: RCPT TO (and VRFY, when enabled). The directory says where
 * the address leads; then the relay rules (remote recipients only for
 * authenticated clients, the provider's relay networks, or a tenant's own
 * networks sending as that tenant's domains), the quota (452 4.2.2, or
 * 552 5.2.2 where the domain asks) and the domain's size limit against MAIL
 * SIZE=. A sender whose policy is internal_only may only reach its own
 * tenant's domains (550 5.7.1). A lookup that cannot be made is 451
 * 4.3.0: never a bounce. Accepted recipients count toward the sending
 * limits (limits.c): all of an authenticated sender's, the remote ones
 * of a relaying client, whose first also counts the message. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "smtpd.h"

struct rcpt_job {
	struct rcpt *r;
	struct smtpd *d;
	const char *ip, *sender_domain;
	bool authed, relay_net;
	bool internal_only; /* the sender's policy */
	int64_t user_tenant;
	uint64_t size_hint;
	struct limits_state ls; /* the transaction's, updated when counted */
	bool counted;
	const struct mc_spf_answer *spf; /* checked mail: SPF at MAIL */
	const char *sender;
	const char *conn_ip; /* [connections] apply to this client */
	/* the answer */
	unsigned code;
	const char *enh, *text;
	struct mc_error err;
};

/* Sets the job's answer. */
static void answer(struct rcpt_job *j, unsigned code, const char *enh,
		   const char *text)
{
	j->code = code;
	j->enh = enh;
	j->text = mc_psprintf(j->r->pool, "<%s>: %s", j->r->address, text);
}

/* The tenant a relayed message is queued under when the sender's domain
 * is one of ours, else 0 (the provider). */
static int64_t sender_tenant(struct mc_pg *pg, const char *domain)
{
	int64_t tenant = 0;
	if (domain != NULL && domain[0] != '\0' &&
	    mc_directory_local_domain(pg, domain, &tenant, NULL) <= 0)
		tenant = 0;
	return tenant;
}

/* A recipient outside our domains: relay or refuse. -1 on outage. */
static int decide_remote(struct mc_pg *pg, struct rcpt_job *j)
{
	struct rcpt *r = j->r;
	int64_t tenant = 0;
	r->remote = true;
	if (j->authed) {
		r->queue_tenant = j->user_tenant;
	} else if (j->relay_net) {
		r->queue_tenant = sender_tenant(pg, j->sender_domain);
	} else {
		int ok = mc_directory_relay_network(pg, j->ip, j->sender_domain,
						    &tenant, &j->err);
		if (ok < 0)
			return -1;
		if (ok == 0) {
			r->remote = false;
			answer(j, 554, "5.7.1", "Relay access denied");
			return 0;
		}
		r->queue_tenant = tenant;
	}
	answer(j, 250, "2.1.5", "Recipient OK");
	return 0;
}

/* True when mailbox m cannot take size more bytes. */
static bool over_quota(const struct mc_directory_mailbox *m, uint64_t size)
{
	int64_t add = size > 0 ? (int64_t)size : 1;
	return (m->quota > 0 && m->used + add > m->quota) ||
	       (m->domain_quota > 0 && m->domain_used + add > m->domain_quota);
}

/* A local recipient: quota and the domain's size limit. */
static void decide_local(struct rcpt_job *j)
{
	const struct mc_directory_result *res = &j->r->res;
	size_t full = 0;
	for (size_t i = 0; i < res->mailboxes_count; i++) {
		const struct mc_directory_mailbox *m = &res->mailboxes[i];
		if (m->max_message_size > 0 &&
		    j->size_hint > (uint64_t)m->max_message_size) {
			answer(j, 552, "5.3.4",
			       "Message size exceeds the recipient's limit");
			return;
		}
		full += over_quota(m, j->size_hint);
	}
	if (res->external_count == 0 && full == res->mailboxes_count) {
		bool perm = res->mailboxes[0].quota_permanent;
		answer(j, perm ? 552 : 452, perm ? "5.2.2" : "4.2.2",
		       "Mailbox full, over storage quota");
		return;
	}
	answer(j, 250, "2.1.5", "Recipient OK");
}

/* The reply for a directory status other than OK and NOT_LOCAL. */
static void decide_refused(struct rcpt_job *j)
{
	const struct mc_directory_result *res = &j->r->res;
	switch (res->status) {
	case MC_DIR_LOOP:
		answer(j, 554, "5.4.6", res->text);
		return;
	case MC_DIR_UNKNOWN:
		answer(j, 550, "5.1.1",
		       "Recipient address rejected: no such user here");
		return;
	default:
		answer(j, 550, "5.2.1", res->text);
	}
}

/* Worker: the sending limits of an accepted recipient. */
static void rcpt_limits(struct mc_worker *worker, struct rcpt_job *j)
{
	struct limits_state *ls = &j->ls;
	struct mc_ratelimit_amount amount = {0, ls->rcpts + 1, 0};
	const char *enh, *text;
	if (j->authed ? !ls->on : !j->r->remote)
		return;
	if (!ls->on) {
		limits_for_relay(worker, j->d, ls, j->sender_domain,
				 j->r->queue_tenant);
		amount.messages = 1;
		amount.bytes = j->size_hint > 0 ? j->size_hint : 1;
	}
	unsigned code = limits_check(worker, j->d, ls, &amount, &enh, &text);
	if (code != 0) {
		answer(j, code, enh, text);
		return;
	}
	if (amount.messages > 0)
		limits_deferred(worker, j->d, ls);
	j->counted = true;
}

/* Worker: a local recipient of checked mail: its domain's policy and
 * what SPF means for it (550 5.7.23). */
static void rcpt_filter(struct mc_worker *worker, struct rcpt_job *j)
{
	struct mc_filter_reply reply;
	if (filter_rcpt(worker, j->d, j->spf, j->ip, j->sender, j->r, &reply,
			&j->err) < 0)
		answer(j, 451, "4.3.0", SMTPD_TEMPFAIL_TEXT);
	else if (reply.code != 0)
		answer(j, reply.code, reply.enh, reply.text);
}

/* Worker: an authenticated user's report address at one of its tenant's
 * domains (true: answered). -1 on outage. */
static int report_rcpt(struct mc_pg *pg, struct rcpt_job *j)
{
	int kind = j->authed ? report_kind(j->d, j->r->address) : 0;
	const char *at = strrchr(j->r->address, '@');
	int64_t tenant = 0;
	if (kind == 0 || j->d->bayes == NULL)
		return 0;
	int local = mc_directory_local_domain(pg, at + 1, &tenant, &j->err);
	if (local < 0)
		return -1;
	if (local == 0 || tenant != j->user_tenant)
		return 0;
	j->r->report = kind;
	j->r->res.tenant_id = tenant;
	answer(j, 250, "2.1.5",
	       kind > 0 ? "Spam report address" : "Not-spam report address");
	return 1;
}

/* Worker: resolve and decide. */
static void rcpt_work(struct mc_worker *worker, void *ctx)
{
	struct rcpt_job *j = ctx;
	struct mc_pg *pg = mc_service_worker_pg(worker);
	struct mc_redis *redis = mc_service_worker_redis(worker);
	int rep = report_rcpt(pg, j);
	if (rep != 0) {
		if (rep < 0)
			answer(j, 451, "4.3.0", SMTPD_TEMPFAIL_TEXT);
		return;
	}
	if (j->conn_ip != NULL &&
	    conn_limits_blocked(worker, j->d, j->conn_ip)) {
		answer(j, 450, "4.7.1",
		       "Your host is temporarily blocked (too many unknown "
		       "recipients), try again later");
		return;
	}
	int r = mc_directory_resolve(pg, redis, &j->d->dir, j->r->pool,
				     j->r->address, &j->r->res, &j->err);
	if (r == 0 && j->internal_only && j->r->res.tenant_id != j->user_tenant)
		answer(j, 550, "5.7.1",
		       "this account may only send to internal recipients");
	else if (r == 0 && j->r->res.status == MC_DIR_NOT_LOCAL)
		r = decide_remote(pg, j);
	else if (r == 0 && j->r->res.status == MC_DIR_OK)
		decide_local(j);
	else if (r == 0)
		decide_refused(j);
	if (r == 0 && j->conn_ip != NULL && j->r->res.status == MC_DIR_UNKNOWN)
		conn_limits_unknown(worker, j->d, j->conn_ip);
	if (r < 0)
		answer(j, 451, "4.3.0", SMTPD_TEMPFAIL_TEXT);
	else if (j->code == 250 && j->spf != NULL && !j->r->remote)
		rcpt_filter(worker, j);
	if (j->code == 250)
		rcpt_limits(worker, j);
}

/* Loop: answer RCPT, keeping an accepted recipient. */
static void rcpt_done(struct session *s, void *ctx)
{
	struct rcpt_job *j = ctx;
	struct rcpt *r = j->r;
	if (s != NULL && j->code == 451)
		mc_logc(&s->log, MC_LOG_WARNING, "lookup of %s failed: %s",
			r->address, j->err.msg);
	else if (s != NULL && j->code >= 400)
		mc_logc(&s->log, MC_LOG_INFO, "RCPT %s: %u %s %s", r->address,
			j->code, j->enh, j->text);
	bool keep = s != NULL && j->code < 300 && s->trans != NULL;
	if (keep) {
		*s->trans->rcpts_tail = r;
		s->trans->rcpts_tail = &r->next;
		s->trans->rcpts_count++;
		if (j->counted) {
			s->trans->limits = j->ls;
			s->trans->limits.rcpts++;
		}
	}
	if (s != NULL) {
		mc_smtp_server_reply(s->smtp, j->code, j->enh, j->text);
		session_pump(s);
	}
	if (!keep)
		mc_pool_destroy(&r->pool);
	free(j);
}

/* The address RCPT names: postmaster without a domain goes to the
 * configured postmaster. NULL when there is none. */
static const char *rcpt_address(struct session *s,
				const struct mc_smtp_server_rcpt *rcpt)
{
	if (rcpt->to.domain != NULL)
		return rcpt->to.address;
	return s->d->postmaster[0] != '\0' ? s->d->postmaster : NULL;
}

/* A new job for the recipient. */
static struct rcpt_job *rcpt_job_new(struct session *s, const char *address,
				     const struct mc_smtp_server_rcpt *rcpt)
{
	struct mc_pool *pool = mc_pool_create("smtp-rcpt", 2048);
	struct rcpt *r = mc_palloc(pool, sizeof(*r));
	r->pool = pool;
	r->address = mc_pstrdup(pool, address);
	r->notify = rcpt->notify;
	if (rcpt->orcpt != NULL)
		r->orcpt = mc_psprintf(
			pool, "%s;%s",
			rcpt->orcpt_type != NULL ? rcpt->orcpt_type : "rfc822",
			rcpt->orcpt);
	struct rcpt_job *j = mc_calloc(1, sizeof(*j));
	const char *at = strrchr(s->trans->sender, '@');
	*j = (struct rcpt_job){
		.r = r,
		.d = s->d,
		.ip = mc_pstrdup(pool, s->ip),
		.sender_domain = mc_pstrdup(pool, at != NULL ? at + 1 : ""),
		.authed = s->user.ok,
		.user_tenant = s->user.tenant_id,
		.internal_only = s->user.ok && s->trans->policed &&
				 s->trans->policy.internal_only,
		.relay_net = mc_cidr_list_match(
			s->d->relay_nets, s->d->relay_nets_count, &s->remote),
		.size_hint = s->trans->size_hint,
		.ls = s->trans->limits,
		.spf = s->trans->filtered ? &s->trans->spf : NULL,
		.sender = mc_pstrdup(pool, s->trans->sender),
		.conn_ip = conn_limits_wanted(s) &&
					   s->d->conn.unknown_recipients > 0
				   ? mc_pstrdup(pool, s->ip)
				   : NULL,
	};
	if (!j->ls.on)
		snprintf(j->ls.ip, sizeof(j->ls.ip), "%s", s->ip);
	return j;
}

void cmd_rcpt(void *ctx, struct mc_smtp_server *smtp,
	      const struct mc_smtp_server_rcpt *rcpt)
{
	struct session *s = ctx;
	const char *address = rcpt_address(s, rcpt);
	if (address == NULL || s->trans == NULL) {
		mc_smtp_server_reply(smtp, 550, "5.1.1",
				     "Recipient address rejected: no such "
				     "user here");
		return;
	}
	struct rcpt_job *j = rcpt_job_new(s, address, rcpt);
	if (!job_submit(s, rcpt_work, rcpt_done, j)) {
		mc_pool_destroy(&j->r->pool);
		free(j);
		mc_smtp_server_reply(smtp, 451, "4.3.0", SMTPD_TEMPFAIL_TEXT);
	}
}

struct vrfy_job {
	struct mc_pool *pool;
	struct smtpd *d;
	const char *address;
	struct mc_directory_result res;
	int r;
};

/* Worker: look the address up. */
static void vrfy_work(struct mc_worker *worker, void *ctx)
{
	struct vrfy_job *j = ctx;
	struct mc_error err = {0};
	j->r = mc_directory_resolve(mc_service_worker_pg(worker),
				    mc_service_worker_redis(worker), &j->d->dir,
				    j->pool, j->address, &j->res, &err);
}

/* Loop: 250 for a deliverable local address, 550 for an unknown one. */
static void vrfy_done(struct session *s, void *ctx)
{
	struct vrfy_job *j = ctx;
	if (s != NULL) {
		if (j->r < 0)
			mc_smtp_server_reply(s->smtp, 451, "4.3.0",
					     SMTPD_TEMPFAIL_TEXT);
		else if (j->res.status == MC_DIR_OK)
			mc_smtp_server_reply(
				s->smtp, 250, "2.1.5",
				mc_psprintf(j->pool, "<%s>", j->address));
		else if (j->res.status == MC_DIR_NOT_LOCAL)
			mc_smtp_server_accept(s->smtp); /* 252 */
		else
			mc_smtp_server_reply(s->smtp, 550, "5.1.1",
					     "No such user here");
		session_pump(s);
	}
	mc_pool_destroy(&j->pool);
}

void cmd_vrfy(void *ctx, struct mc_smtp_server *smtp, const char *arg)
{
	struct session *s = ctx;
	struct mc_pool *pool = mc_pool_create("smtp-vrfy", 1024);
	struct vrfy_job *j = mc_palloc(pool, sizeof(*j));
	char *addr = mc_pstrdup(pool, arg[0] == '<' ? arg + 1 : arg);
	char *end = strchr(addr, '>');
	if (end != NULL)
		*end = '\0';
	*j = (struct vrfy_job){.pool = pool, .d = s->d, .address = addr};
	if (strchr(addr, '@') == NULL ||
	    !job_submit(s, vrfy_work, vrfy_done, j)) {
		mc_pool_destroy(&pool);
		mc_smtp_server_accept(smtp); /* 252: cannot verify */
	}
}
