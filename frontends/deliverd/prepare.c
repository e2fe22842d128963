/* prepare: on a service worker, claims due mail and groups it into
 * batches by destination: the relay route that applies (recipient domain
 * rules first, then sender domain, tenant, provider-wide, then [delivery]
 * relay; else the recipient domain's MX hosts), the sender domain's
 * active DKIM keys (only keys of the sending tenant's own domains) and
 * the cached MTA-STS policy of the recipient domain. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "deliverd.h"
#include "mailcore/mc-pg.h"
#include "mailcore/mc-str.h"

/* Jobs one connection carries at most. */
#define BATCH_MAX_JOBS 50

static const char route_sql[] =
	"SELECT host, port, auth_user, auth_password, tls FROM relay_routes "
	"WHERE tenant_id IN (0, $1) AND ("
	" (kind = 'recipient_domain' AND match = $2) OR"
	" (kind = 'sender_domain' AND match = $3) OR"
	" (kind = 'tenant' AND tenant_id = $1) OR (kind = 'all')) "
	"ORDER BY CASE kind WHEN 'recipient_domain' THEN 0"
	" WHEN 'sender_domain' THEN 1 WHEN 'tenant' THEN 2 ELSE 3 END,"
	" tenant_id DESC, priority, id LIMIT 1";

static const char keys_sql[] =
	"SELECT d.name, k.selector, k.algorithm, k.private_key "
	"FROM dkim_keys k JOIN domains d"
	" ON d.tenant_id = k.tenant_id AND d.id = k.domain_id "
	"WHERE k.tenant_id = $1 AND d.name = $2 AND k.status = 'active' "
	"ORDER BY k.algorithm DESC";

static const char from_sql[] =
	"SELECT from_addr FROM messages WHERE tenant_id = $1 AND id = $2";

static const char sts_sql[] =
	"SELECT policy_id, mode, array_to_string(mx, ' '), max_age "
	"FROM mta_sts_policies "
	"WHERE domain = $1 AND expires_at > now()";

/* A copy of s in pool (NULL stays NULL). */
static const char *dup(struct mc_pool *pool, const char *s)
{
	return s != NULL ? mc_pstrdup(pool, s) : NULL;
}

/* Copies job into pool (the claim's pool goes away). */
static struct mc_queue_job *job_copy(struct mc_pool *pool,
				     const struct mc_queue_job *j)
{
	struct mc_queue_job *c = mc_palloc(pool, sizeof(*c));
	*c = *j;
	c->queue_id = dup(pool, j->queue_id);
	c->sender = dup(pool, j->sender);
	c->envid = dup(pool, j->envid);
	c->ret = dup(pool, j->ret);
	c->auth_user = dup(pool, j->auth_user);
	c->client_ip = dup(pool, j->client_ip);
	c->sha256 = dup(pool, j->sha256);
	c->domain = dup(pool, j->domain);
	c->rcpts = mc_palloc_array(pool, j->rcpts_count + 1, sizeof(*c->rcpts));
	for (size_t i = 0; i < j->rcpts_count; i++) {
		c->rcpts[i] = j->rcpts[i];
		c->rcpts[i].address = dup(pool, j->rcpts[i].address);
		c->rcpts[i].orcpt = dup(pool, j->rcpts[i].orcpt);
		c->rcpts[i].last_error = dup(pool, j->rcpts[i].last_error);
	}
	return c;
}

/* The domain of an address or of the first address of a From list
 * ("Name <a@b>, c@d"), lower case; NULL if none. */
static const char *domain_of(struct mc_pool *pool, const char *s)
{
	if (s == NULL || *s == '\0')
		return NULL;
	const char *lt = strchr(s, '<');
	const char *start = lt != NULL ? lt + 1 : s;
	size_t len = strcspn(start, lt != NULL ? ">" : ", \t");
	char *addr = mc_pstrndup(pool, start, len);
	char *at = strrchr(addr, '@');
	if (at == NULL || at[1] == '\0')
		return NULL;
	return mc_str_lower(at + 1);
}

/* A text column or NULL. */
static const char *col(struct mc_pool *pool, PGresult *r, int row, int c)
{
	return PQgetisnull(r, row, c) ? NULL
				      : mc_pstrdup(pool, PQgetvalue(r, row, c));
}

/* The route of job: a relay_routes row, [delivery] relay, or MX. */
static int find_route(struct deliverd *d, struct mc_pg *pg,
		      struct mc_pool *pool, const struct mc_queue_job *job,
		      const char *sender_domain, struct route *r_out,
		      struct mc_error *err)
{
	char tenant[24];
	snprintf(tenant, sizeof(tenant), "%lld", (long long)job->tenant_id);
	const char *p[] = {tenant, job->domain,
			   sender_domain != NULL ? sender_domain : ""};
	PGresult *r = mc_pg_query(pg, route_sql, 3, p, err);
	if (r == NULL)
		return -1;
	*r_out = d->relay;
	if (PQntuples(r) == 1) {
		*r_out = (struct route){
			.host = col(pool, r, 0, 0),
			.port = atoi(PQgetvalue(r, 0, 1)),
			.user = col(pool, r, 0, 2),
			.password = col(pool, r, 0, 3),
			.tls = deliverd_tls_mode(PQgetvalue(r, 0, 4)),
		};
	}
	PQclear(r);
	return 0;
}

/* The active keys of domain if it is one of tenant's domains. */
static int domain_keys(struct mc_pg *pg, struct mc_pool *pool,
		       int64_t tenant_id, const char *domain,
		       struct job_plan *plan, struct mc_error *err)
{
	char tenant[24];
	snprintf(tenant, sizeof(tenant), "%lld", (long long)tenant_id);
	const char *p[] = {tenant, domain};
	PGresult *r = mc_pg_query(pg, keys_sql, 2, p, err);
	if (r == NULL)
		return -1;
	int n = PQntuples(r);
	struct mc_dkim_key *k = mc_palloc_array(pool, (size_t)n + 1, sizeof(*k));
	for (int i = 0; i < n; i++) {
		k[i] = (struct mc_dkim_key){
			.domain = col(pool, r, i, 0),
			.selector = col(pool, r, i, 1),
			.algorithm = col(pool, r, i, 2),
			.private_key = col(pool, r, i, 3),
		};
	}
	plan->keys = k;
	plan->keys_count = (size_t)n;
	PQclear(r);
	return 0;
}

/* The From header's domain of the job's message. */
static const char *header_from_domain(struct mc_pg *pg, struct mc_pool *pool,
				      const struct mc_queue_job *job,
				      struct mc_error *err)
{
	char tenant[24], id[24];
	snprintf(tenant, sizeof(tenant), "%lld", (long long)job->tenant_id);
	snprintf(id, sizeof(id), "%lld", (long long)job->message_id);
	const char *p[] = {tenant, id};
	PGresult *r = mc_pg_query(pg, from_sql, 2, p, err);
	if (r == NULL)
		return NULL;
	const char *dom = PQntuples(r) == 1
				  ? domain_of(pool, PQgetvalue(r, 0, 0))
				  : NULL;
	PQclear(r);
	return dom;
}

/* Forwarded mail (From and sender foreign): the keys of the domain that
 * forwarded it, the one of the original recipient (ORCPT, which smtpd
 * sets for expansions). */
static int forwarder_keys(struct mc_pg *pg, struct mc_pool *pool,
			  struct job_plan *plan, struct mc_error *err)
{
	for (size_t i = 0; i < plan->job->rcpts_count && plan->keys_count == 0;
	     i++) {
		const char *o = plan->job->rcpts[i].orcpt;
		if (o == NULL || strncasecmp(o, "rfc822;", 7) != 0)
			continue;
		const char *dom = domain_of(pool, o + 7);
		if (dom != NULL && domain_keys(pg, pool, plan->job->tenant_id,
					       dom, plan, err) < 0)
			return -1;
	}
	return 0;
}

/* Signing keys: those of the From domain, else of the envelope sender's
 * domain, else of the forwarding domain, when it is one of the sending
 * tenant's domains. */
static int plan_keys(struct deliverd *d, struct mc_pg *pg,
		     struct mc_pool *pool, struct job_plan *plan,
		     const char *sender_domain, struct mc_error *err)
{
	if (!d->dkim_on)
		return 0;
	const char *from = header_from_domain(pg, pool, plan->job, err);
	if (err->cls != MC_ERR_NONE)
		return -1;
	if (from != NULL &&
	    domain_keys(pg, pool, plan->job->tenant_id, from, plan, err) < 0)
		return -1;
	if (plan->keys_count == 0 && sender_domain != NULL &&
	    (from == NULL || strcmp(from, sender_domain) != 0) &&
	    domain_keys(pg, pool, plan->job->tenant_id, sender_domain, plan,
			err) < 0)
		return -1;
	return forwarder_keys(pg, pool, plan, err);
}

/* The cached MTA-STS policy of b's domain, if any. */
static int cached_sts(struct mc_pg *pg, struct batch *b, struct mc_error *err)
{
	const char *p[] = {b->domain};
	PGresult *r = mc_pg_query(pg, sts_sql, 1, p, err);
	if (r == NULL)
		return -1;
	if (PQntuples(r) == 1) {
		struct sts_policy *s = &b->sts;
		s->present = true;
		s->id = col(b->pool, r, 0, 0);
		s->mode = col(b->pool, r, 0, 1);
		s->enforce = strcmp(s->mode, "enforce") == 0;
		s->max_age = (unsigned)atoi(PQgetvalue(r, 0, 3));
		s->mx = (const char **)mc_str_split(
			b->pool, PQgetvalue(r, 0, 2), " ", &s->mx_count);
	}
	PQclear(r);
	return 0;
}

/* A new batch for key. */
static struct batch *batch_new(struct deliverd *d, const char *key,
			       const char *domain, const struct route *route)
{
	struct batch *b = mc_malloc(sizeof(*b));
	*b = (struct batch){.d = d, .route = *route};
	b->pool = mc_pool_create("delivery-batch", 8192);
	b->key = mc_pstrdup(b->pool, key);
	b->domain = mc_pstrdup(b->pool, domain);
	b->plans = mc_palloc_array(b->pool, BATCH_MAX_JOBS, sizeof(*b->plans));
	return b;
}

/* The open batch for key with room, or NULL. */
static struct batch *batch_find(struct batch *list, const char *key)
{
	for (struct batch *b = list; b != NULL; b = b->next) {
		if (!b->notify_only && strcmp(b->key, key) == 0 &&
		    b->count < BATCH_MAX_JOBS)
			return b;
	}
	return NULL;
}

/* Copies the route's strings into the batch's pool. */
static void route_own(struct batch *b)
{
	b->route.host = dup(b->pool, b->route.host);
	b->route.user = dup(b->pool, b->route.user);
	b->route.password = dup(b->pool, b->route.password);
}

/* Adds job to the batch of its destination (made on first use). */
static int add_job(struct claim_run *run, struct mc_pg *pg,
		   const struct mc_queue_job *job, struct mc_error *err)
{
	struct deliverd *d = run->d;
	const char *sdom = domain_of(run->pool, job->sender);
	struct route route;
	char key[600];
	if (job->kind == MC_QUEUE_NOTIFY) {
		route = (struct route){0};
		snprintf(key, sizeof(key), "dsn:%s", job->queue_id);
	} else if (find_route(d, pg, run->pool, job, sdom, &route, err) < 0) {
		return -1;
	} else if (route.host != NULL) {
		snprintf(key, sizeof(key), "relay:%.300s:%d", route.host,
			 route.port);
	} else {
		snprintf(key, sizeof(key), "mx:%.300s", job->domain);
	}
	struct batch *b = job->kind == MC_QUEUE_NOTIFY
				  ? NULL
				  : batch_find(run->batches, key);
	if (b == NULL) {
		b = batch_new(d, key, job->domain, &route);
		route_own(b);
		b->notify_only = job->kind == MC_QUEUE_NOTIFY;
		b->next = run->batches;
		run->batches = b;
		if (!b->notify_only && route.host == NULL && d->mta_sts &&
		    cached_sts(pg, b, err) < 0)
			return -1;
	}
	struct job_plan *plan = &b->plans[b->count++];
	plan->job = job_copy(b->pool, job);
	plan->results = mc_palloc_array(b->pool, job->rcpts_count + 1,
					sizeof(*plan->results));
	plan->relayed = mc_palloc_array(b->pool, job->rcpts_count + 1,
					sizeof(*plan->relayed));
	if (b->notify_only)
		return 0;
	return plan_keys(d, pg, b->pool, plan, sdom, err);
}

void prepare_claim(struct mc_worker *worker, void *ctx)
{
	struct claim_run *run = ctx;
	struct mc_pg *pg = mc_service_worker_pg(worker);
	run->pool = mc_pool_create("delivery-claim", 16384);
	if (mc_queue_claim(pg, run->pool, &run->d->claim, &run->jobs,
			   &run->count, &run->err) < 0) {
		mc_pool_destroy(&run->pool);
		return;
	}
	for (size_t i = 0; i < run->count; i++) {
		struct mc_error err = {0};
		if (add_job(run, pg, &run->jobs[i], &err) < 0)
			mc_log_warning("queue %s: preparing delivery: %s",
				       run->jobs[i].queue_id, err.msg);
	}
	mc_pool_destroy(&run->pool);
}
