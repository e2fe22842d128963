/* bcc: the automatic copies of a finished transaction (mc-bcc rules).
 * Every local recipient is matched as given and as each mailbox it
 * resolved to ("in"), an authenticated sender by its envelope sender
 * ("out"); each target is then resolved like a recipient (a local mailbox,
 * or the outbound queue) and marked a copy. Copies are not matched again:
 * a target under a rule of its own triggers nothing, so there are no
 * loops. Runs on a worker, before the delivery. */
#include <string.h>

#include "mailcore/mc-bcc.h"
#include "smtpd.h"

/* The addresses of t to match (from pool); *count_r of them. */
static struct mc_bcc_key *bcc_keys(struct mc_pool *pool, const struct trans *t,
				   bool authed, size_t *count_r)
{
	size_t n = 1;
	for (const struct rcpt *rc = t->rcpts; rc != NULL; rc = rc->next)
		n += 1 + rc->res.mailboxes_count;
	struct mc_bcc_key *k = mc_palloc_array(pool, n, sizeof(*k));
	n = 0;
	if (authed && t->sender[0] != '\0')
		k[n++] = (struct mc_bcc_key){MC_BCC_OUT, t->sender};
	for (const struct rcpt *rc = t->rcpts; rc != NULL; rc = rc->next) {
		if (rc->remote)
			continue;
		k[n++] = (struct mc_bcc_key){MC_BCC_IN, rc->address};
		for (size_t i = 0; i < rc->res.mailboxes_count; i++)
			k[n++] = (struct mc_bcc_key){
				MC_BCC_IN, rc->res.mailboxes[i].address};
	}
	*count_r = n;
	return k;
}

/* Grows the copies' arrays by what one resolved target adds. */
static void reserve(struct mc_pool *pool, struct bcc_copies *c,
		    const struct mc_directory_result *res)
{
	size_t nl = c->local_count + res->mailboxes_count;
	size_t nr = c->remote_count + res->external_count + 1;
	struct mc_store_local *l = mc_palloc_array(pool, nl + 1, sizeof(*l));
	struct mc_store_remote *r = mc_palloc_array(pool, nr + 1, sizeof(*r));
	const char **f = mc_palloc_array(pool, c->forget_count + 2, sizeof(*f));
	if (c->local_count > 0)
		memcpy(l, c->local, c->local_count * sizeof(*l));
	if (c->remote_count > 0)
		memcpy(r, c->remote, c->remote_count * sizeof(*r));
	if (c->forget_count > 0)
		memcpy(f, c->forget, c->forget_count * sizeof(*f));
	c->local = l, c->remote = r, c->forget = f;
}

/* A remote copy: no DSN ever goes back about it. */
static void add_remote(struct bcc_copies *c, int64_t tenant,
		       const char *address)
{
	c->remote[c->remote_count++] = (struct mc_store_remote){
		.tenant_id = tenant,
		.address = address,
		.notify = MC_SMTP_NOTIFY_NEVER,
		.copy = true,
	};
}

/* Adds what one resolved target leads to. */
static void add_target(struct mc_pool *pool, struct bcc_copies *c,
		       const struct mc_bcc_target *target,
		       const struct mc_directory_result *res)
{
	reserve(pool, c, res);
	if (res->status == MC_DIR_NOT_LOCAL) {
		add_remote(c, target->tenant_id, target->address);
		return;
	}
	bool quota = false;
	for (size_t i = 0; i < res->mailboxes_count; i++) {
		const struct mc_directory_mailbox *m = &res->mailboxes[i];
		c->local[c->local_count++] = (struct mc_store_local){
			.tenant_id = m->tenant_id,
			.user_id = m->user_id,
			.domain_id = m->domain_id,
			.address = m->address,
			.copy = true,
		};
		quota |= m->quota > 0 || m->domain_quota > 0;
	}
	for (size_t i = 0; i < res->external_count; i++)
		add_remote(c, res->tenant_id, res->external[i]);
	if (quota)
		c->forget[c->forget_count++] = target->address;
}

/* The targets plus the BCC addresses content rules added (a remote
 * copy is queued under the first recipient's tenant). */
static struct mc_bcc_target *with_filter_bcc(struct mc_pool *pool,
					     const struct trans *t,
					     struct mc_bcc_target *targets,
					     size_t *n)
{
	if (t->filter_bcc_count == 0)
		return targets;
	int64_t tenant = t->rcpts != NULL && t->rcpts->res.mailboxes_count > 0
				 ? t->rcpts->res.mailboxes[0].tenant_id
				 : 0;
	struct mc_bcc_target *all = mc_palloc_array(
		pool, *n + t->filter_bcc_count + 1, sizeof(*all));
	if (*n > 0)
		memcpy(all, targets, *n * sizeof(*all));
	for (size_t i = 0; i < t->filter_bcc_count; i++)
		all[(*n)++] = (struct mc_bcc_target){tenant, t->filter_bcc[i]};
	return all;
}

int bcc_copies(struct mc_worker *worker,
	       const struct mc_directory_settings *dir, struct mc_pool *pool,
	       const struct trans *t, bool authed, struct bcc_copies *copies_r,
	       struct mc_error *err)
{
	struct mc_pg *pg = mc_service_worker_pg(worker);
	struct mc_redis *redis = mc_service_worker_redis(worker);
	struct mc_bcc_target *targets;
	size_t nkeys, ntargets;
	struct mc_bcc_key *keys = bcc_keys(pool, t, authed, &nkeys);
	*copies_r = (struct bcc_copies){0};
	if (mc_bcc_match(pg, redis, dir, pool, keys, nkeys, &targets, &ntargets,
			 err) < 0)
		return -1;
	targets = with_filter_bcc(pool, t, targets, &ntargets);
	for (size_t i = 0; i < ntargets; i++) {
		struct mc_directory_result res;
		if (mc_directory_resolve(pg, redis, dir, pool,
					 targets[i].address, &res, err) < 0)
			return -1;
		if (res.status == MC_DIR_OK || res.status == MC_DIR_NOT_LOCAL)
			add_target(pool, copies_r, &targets[i], &res);
		else
			mc_log_warning("message %s: BCC target %s skipped: %s",
				       t->id, targets[i].address, res.text);
	}
	return 0;
}
