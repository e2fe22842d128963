/* deliver: turns a finished transaction into one mc-store delivery: the
 * mailboxes of every accepted recipient (each user once, however many
 * addresses led to it) and the remote addresses for the outbound queue,
 * then the automatic BCC copies (bcc.c) of the same message in the same
 * transaction (a copy for a user or address the message reaches anyway
 * is not added), then the answer the client gets. Runs on a worker. */
#include <stdio.h>
#include <string.h>

#include "mailcore/mc-pg.h"
#include "mailcore/mc-quarantine.h"
#include "mailcore/mc-redis.h"
#include "mailcore/mc-store.h"
#include "smtpd.h"

/* True when user_id is among the first n locals. */
static bool has_user(const struct mc_store_local *l, size_t n, int64_t user)
{
	for (size_t i = 0; i < n; i++) {
		if (l[i].user_id == user)
			return true;
	}
	return false;
}

/* True when address is queued for tenant already. */
static bool has_remote(const struct mc_store_remote *r, size_t n,
		       int64_t tenant, const char *address)
{
	for (size_t i = 0; i < n; i++) {
		if (r[i].tenant_id == tenant &&
		    strcmp(r[i].address, address) == 0)
			return true;
	}
	return false;
}

/* The ORCPT of a target: the client's, else for an expansion (alias,
 * forward) the address the client gave, as RFC 3461 4.2 allows; DSNs
 * then name it, and deliverd signs forwarded mail for its domain. */
static const char *orcpt_of(struct mc_pool *pool, const char *address,
			    const struct rcpt *from)
{
	if (from->orcpt != NULL || strcmp(address, from->address) == 0)
		return from->orcpt;
	return mc_psprintf(pool, "rfc822;%s", from->address);
}

/* Adds a remote recipient unless present. */
static void add_remote(struct mc_store_delivery *d, struct mc_store_remote *r,
		       int64_t tenant, const char *address,
		       const struct rcpt *from)
{
	if (has_remote(r, d->remote_count, tenant, address))
		return;
	r[d->remote_count++] = (struct mc_store_remote){
		.tenant_id = tenant,
		.address = address,
		.orcpt = orcpt_of(from->pool, address, from),
		.notify = from->notify,
	};
}

/* Adds what one accepted recipient leads to. */
static void add_rcpt(struct mc_store_delivery *d, struct mc_store_local *l,
		     struct mc_store_remote *r, const struct rcpt *rc)
{
	if (rc->quarantine != NULL || rc->report != 0)
		return; /* held back, or a report (nothing to store) */
	if (rc->remote) {
		add_remote(d, r, rc->queue_tenant, rc->address, rc);
		return;
	}
	for (size_t i = 0; i < rc->res.mailboxes_count; i++) {
		const struct mc_directory_mailbox *m = &rc->res.mailboxes[i];
		if (has_user(l, d->local_count, m->user_id))
			continue;
		l[d->local_count++] = (struct mc_store_local){
			.tenant_id = m->tenant_id,
			.user_id = m->user_id,
			.domain_id = m->domain_id,
			.address = m->address,
			.mailbox = rc->junk ? "Junk" : NULL,
		};
	}
	for (size_t i = 0; i < rc->res.external_count; i++)
		add_remote(d, r, rc->res.tenant_id, rc->res.external[i], rc);
}

/* Adds the BCC copies to what the message reaches anyway. */
static void add_copies(struct mc_store_delivery *d, struct mc_store_local *l,
		       struct mc_store_remote *r, const struct bcc_copies *c)
{
	for (size_t i = 0; i < c->local_count; i++) {
		if (!has_user(l, d->local_count, c->local[i].user_id))
			l[d->local_count++] = c->local[i];
	}
	for (size_t i = 0; i < c->remote_count; i++) {
		bool seen = false;
		for (size_t j = 0; j < d->remote_count && !seen; j++)
			seen = strcmp(r[j].address, c->remote[i].address) == 0;
		if (!seen)
			r[d->remote_count++] = c->remote[i];
	}
}

/* Sizes the recipient arrays and fills the delivery from t and its
 * copies. */
static void build(struct mc_pool *pool, const struct trans *t,
		  const struct bcc_copies *copies, struct mc_store_delivery *d)
{
	size_t locals = copies->local_count, remotes = copies->remote_count;
	for (const struct rcpt *rc = t->rcpts; rc != NULL; rc = rc->next) {
		locals += rc->res.mailboxes_count;
		remotes += rc->res.external_count + 1;
	}
	struct mc_store_local *l =
		mc_palloc_array(pool, locals + 1, sizeof(*l));
	struct mc_store_remote *r =
		mc_palloc_array(pool, remotes + 1, sizeof(*r));
	for (const struct rcpt *rc = t->rcpts; rc != NULL; rc = rc->next)
		add_rcpt(d, l, r, rc);
	add_copies(d, l, r, copies);
	d->local = l;
	d->remote = r;
}

/* Logs the copies the store could not take (quota): they are dropped,
 * the message itself is delivered. */
static void log_dropped(const struct trans *t,
			const struct mc_store_delivery *d,
			const struct mc_store_local_result *res)
{
	for (size_t i = 0; i < d->local_count; i++) {
		if (d->local[i].copy && res[i].status != MC_STORE_DELIVERED)
			mc_log_warning("message %s: BCC copy for %s dropped "
				       "(status %d)",
				       t->id, d->local[i].address,
				       (int)res[i].status);
	}
}

/* Sets the outcome. */
static void outcome(struct delivery_outcome *out, unsigned code,
		    const char *enh, const char *text)
{
	out->code = code;
	out->enh = enh;
	out->text = text;
}

/* The answer when no local recipient could take the message. */
static void refused(const struct trans *t, struct delivery_outcome *out)
{
	bool perm = false;
	for (const struct rcpt *rc = t->rcpts; rc != NULL; rc = rc->next) {
		for (size_t i = 0; i < rc->res.mailboxes_count; i++)
			perm |= rc->res.mailboxes[i].quota_permanent;
	}
	if (perm)
		outcome(out, 552, "5.2.2", "Mailbox full, over storage quota");
	else
		outcome(out, 452, "4.2.2", "Mailbox full, over storage quota");
}

/* True when a cached lookup of rc carries usage a quota check reads. */
static bool has_quota(const struct rcpt *rc)
{
	for (size_t i = 0; i < rc->res.mailboxes_count; i++) {
		const struct mc_directory_mailbox *m = &rc->res.mailboxes[i];
		if (m->quota > 0 || m->domain_quota > 0)
			return true;
	}
	return false;
}

/* Drops the cached lookups whose usage this delivery made stale (only
 * where a quota reads it: unlimited mailboxes keep their cache). */
static void forget_usage(struct mc_redis *redis, struct mc_pool *pool,
			 const struct trans *t)
{
	const char **addrs =
		mc_palloc_array(pool, t->rcpts_count + 1, sizeof(*addrs));
	size_t n = 0;
	for (const struct rcpt *rc = t->rcpts; rc != NULL; rc = rc->next) {
		if (!rc->remote && has_quota(rc))
			addrs[n++] = rc->address;
	}
	mc_directory_forget(redis, addrs, n);
}

/* A quarantined recipient's request (its mailboxes). */
static struct mc_quarantine_add quarantine_of(struct mc_pool *pool,
					      const struct trans *t,
					      const struct rcpt *rc,
					      const struct mc_store_delivery *d)
{
	struct mc_quarantine_rcpt *q = mc_palloc_array(
		pool, rc->res.mailboxes_count + 1, sizeof(*q));
	for (size_t i = 0; i < rc->res.mailboxes_count; i++) {
		const struct mc_directory_mailbox *m = &rc->res.mailboxes[i];
		q[i] = (struct mc_quarantine_rcpt){m->user_id, m->domain_id,
						   m->address};
	}
	enum mc_quarantine_category cat = MC_QUARANTINE_POLICY;
	(void)mc_quarantine_category_parse(rc->quarantine_category, &cat);
	return (struct mc_quarantine_add){
		.tenant_id = rc->res.mailboxes[0].tenant_id,
		.sha256 = d->sha256,
		.info = d->info,
		.sender = t->sender,
		.rcpts = q,
		.rcpts_count = rc->res.mailboxes_count,
		.reason = rc->quarantine,
		.category = cat,
	};
}

/* The store and the quarantine in one transaction. */
struct commit {
	const struct trans *t;
	struct mc_pool *pool;
	const struct mc_store_delivery *d;
	struct mc_store_local_result *res;
	bool committed;
	size_t held;
};

/* mc_pg_txn_fn: the delivery, then each quarantined recipient's item. */
static int commit_txn(struct mc_pg *pg, void *ctx, struct mc_error *err)
{
	struct commit *c = ctx;
	c->committed = false;
	c->held = 0;
	if ((c->d->local_count > 0 || c->d->remote_count > 0) &&
	    mc_store_deliver_in(pg, c->d, c->res, &c->committed, err) < 0)
		return -1;
	for (const struct rcpt *rc = c->t->rcpts; rc != NULL; rc = rc->next) {
		if (rc->quarantine == NULL || rc->res.mailboxes_count == 0)
			continue;
		struct mc_quarantine_add q = quarantine_of(c->pool, c->t, rc, c->d);
		if (mc_quarantine_add(pg, &q, NULL, err) < 0)
			return -1;
		c->held += q.rcpts_count;
	}
	c->committed |= c->held > 0;
	return 0;
}

/* True when some recipient is quarantined. */
static bool any_quarantined(const struct trans *t)
{
	for (const struct rcpt *rc = t->rcpts; rc != NULL; rc = rc->next) {
		if (rc->quarantine != NULL)
			return true;
	}
	return false;
}

/* Stores d (and the quarantined copies): 0, or -1 with err. */
static int store(struct mc_pg *pg, struct mc_pool *pool, const struct trans *t,
		 const struct mc_store_delivery *d,
		 struct mc_store_local_result *res, bool *committed,
		 struct mc_error *err)
{
	if (d->local_count == 0 && d->remote_count == 0 &&
	    !any_quarantined(t)) {
		*committed = true; /* only report addresses: nothing to keep */
		return 0;
	}
	if (!any_quarantined(t))
		return mc_store_deliver(pg, d, res, committed, err);
	struct commit c = {t, pool, d, res, false, 0};
	if (mc_pg_transaction(pg, commit_txn, &c, err) < 0)
		return -1;
	*committed = c.committed;
	if (c.held > 0)
		mc_log_info("message %s: %zu cop%s quarantined", t->id, c.held,
			    c.held == 1 ? "y" : "ies");
	return 0;
}

void deliver_commit(struct mc_worker *worker, struct mc_pool *pool,
		    const struct trans *t,
		    const struct mc_directory_settings *dir,
		    const char *client_ip, const char *auth_user,
		    const char *hash, const struct mc_message_info *info,
		    struct delivery_outcome *out)
{
	struct mc_store_delivery d = {
		.sha256 = hash,
		.info = info,
		.queue_id = t->id,
		.sender = t->sender,
		.envid = t->envid,
		.ret = t->ret,
		.auth_user = auth_user,
		.client_ip = client_ip,
		.hold = t->limits.hold,
	};
	struct bcc_copies copies;
	struct mc_error err = {0};
	bool committed = false;
	out->size = info->size;
	bool authed = auth_user != NULL;
	if (bcc_copies(worker, dir, pool, t, authed, &copies, &err) < 0) {
		outcome(out, 451, "4.3.0", SMTPD_TEMPFAIL_TEXT);
		out->error = mc_psprintf(pool, "BCC rules: %s", err.msg);
		return;
	}
	build(pool, t, &copies, &d);
	out->local = d.local_count;
	out->remote = d.remote_count;
	struct mc_store_local_result *res =
		mc_palloc_array(pool, d.local_count + 1, sizeof(*res));
	if (store(mc_service_worker_pg(worker), pool, t, &d, res, &committed,
		  &err) < 0) {
		outcome(out, 451, "4.3.0", SMTPD_TEMPFAIL_TEXT);
		out->error = mc_pstrdup(pool, err.msg);
		return;
	}
	if (!committed) {
		refused(t, out);
		return;
	}
	struct mc_redis *redis = mc_service_worker_redis(worker);
	mc_store_notify(redis, &d, res);
	forget_usage(redis, pool, t);
	mc_directory_forget(redis, copies.forget, copies.forget_count);
	log_dropped(t, &d, res);
	outcome(out, 250, "2.0.0",
		mc_psprintf(pool, "OK: queued as %s", t->id));
}
